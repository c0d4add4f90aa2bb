import { Injectable } from '@nestjs/common';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type {
  AttemptSettlement,
  AttemptTask,
  EnqueueRequest,
  EnqueueResult,
  PropagationCarrier,
  UnderwayInterceptor,
} from './underway.interceptor';

/** The largest carrier stored with a run, as JSON. */
export const MAX_CARRIER_BYTES = 4_096;

/**
 * The interceptors in force, outermost first: Underway's tracing (when an
 * OpenTelemetry SDK is installed), then the app's (`UnderwayInterceptor`
 * providers, found at boot). With none, each call goes straight to `next`.
 */
@Injectable()
export class InterceptorChain {
  private interceptors: readonly UnderwayInterceptor[] = [];

  /** Sets the chain (at boot). */
  use(interceptors: readonly UnderwayInterceptor[]): void {
    this.interceptors = [...interceptors];
  }

  /** Whether any interceptor is in force (build a task only then). */
  get active(): boolean {
    return this.interceptors.length > 0;
  }

  /**
   * Runs `write` (the insert) through the chain; `write` gets the carrier the
   * interceptors settled on, checked.
   */
  enqueue(
    request: EnqueueRequest,
    write: (carrier: string | null) => Promise<EnqueueResult>,
  ): Promise<EnqueueResult> {
    const last = (final: EnqueueRequest): Promise<EnqueueResult> =>
      write(storableCarrier(final.carrier));
    return this.interceptors.reduceRight<
      (request: EnqueueRequest) => Promise<EnqueueResult>
    >(
      (next, interceptor) => (current) =>
        Promise.resolve(interceptor.enqueue(current, once(next, 'enqueue'))),
      last,
    )(request);
  }

  /** Runs `attempt` (the user's code, then the commit) through the chain. */
  attempt(
    task: AttemptTask,
    attempt: () => Promise<AttemptSettlement>,
  ): Promise<AttemptSettlement> {
    return this.interceptors.reduceRight<() => Promise<AttemptSettlement>>(
      (next, interceptor) => () =>
        Promise.resolve(interceptor.attempt(task, once(next, 'attempt'))),
      attempt,
    )();
  }
}

/** `next`, refusing a second call (the insert or the attempt would run twice). */
function once<A extends unknown[], R>(
  next: (...args: A) => Promise<R>,
  method: string,
): (...args: A) => Promise<R> {
  let called = false;
  return (...args) => {
    if (called) {
      return Promise.reject(
        new Error(
          `An UnderwayInterceptor's ${method}() called next() twice; it must call it exactly once`,
        ),
      );
    }
    called = true;
    return next(...args);
  };
}

/** The carrier as stored (JSON text, `null` for none), checked. */
function storableCarrier(carrier: PropagationCarrier | null): string | null {
  if (carrier === null || carrier === undefined) {
    return null;
  }
  if (typeof carrier !== 'object' || Array.isArray(carrier)) {
    throw new InvalidOptionsError(
      'EnqueueRequest.carrier',
      'must be an object of strings, or null',
    );
  }
  const entries = Object.entries(carrier);
  if (entries.length === 0) {
    return null;
  }
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new InvalidOptionsError(
        `EnqueueRequest.carrier.${key}`,
        'must be a string',
      );
    }
  }
  const json = JSON.stringify(Object.fromEntries(entries));
  if (Buffer.byteLength(json) > MAX_CARRIER_BYTES || json.includes('\\u0000')) {
    throw new InvalidOptionsError(
      'EnqueueRequest.carrier',
      `must be at most ${MAX_CARRIER_BYTES} bytes of JSON, without \\u0000`,
    );
  }
  return json;
}
