import { Injectable } from '@nestjs/common';
import type { RecordedError } from '../model/recorded-error';
import type {
  AttemptEventTask,
  AttemptOutcome,
  RunEnqueueSource,
} from './underway-event-map';

/**
 * A W3C-style propagation carrier (`traceparent`, `tracestate`, `baggage`…)
 * stored with a run as its `trace_context`, and handed back to every attempt
 * of it, in whichever process claims it.
 */
export type PropagationCarrier = Readonly<Record<string, string>>;

/** What is about to be inserted: one run, or a batch of runs of one workflow. @publicApi */
export interface EnqueueRequest {
  readonly workflowName: string;
  readonly source: RunEnqueueSource;
  /** How many runs the insert writes. */
  readonly count: number;
  /** The dead-letter queue, for `source: 'redrive'`. */
  readonly queue?: string;
  /** The schedule's key and tick, for `source: 'schedule'`. */
  readonly schedule?: { readonly key: string; readonly fireAt: Date };
  /**
   * Stored with the runs (replace it with `next({ ...request, carrier })`);
   * `null`: nothing. At most 4 KiB of JSON, string values only.
   */
  readonly carrier: PropagationCarrier | null;
}

/** What the insert did. @publicApi */
export interface EnqueueResult {
  /** The runs' ids, in input order (for an idempotent enqueue: the existing run). */
  readonly runIds: readonly string[];
}

/** The attempt about to run. @publicApi */
export type AttemptTask = AttemptEventTask & {
  readonly stepIndex: number;
  /** The call's position among its step's `ctx.call`s and `ctx.emit`s (activity attempts). */
  readonly callIndex?: number;
  readonly callKind?: 'call' | 'emit';
  /** What the run's enqueue stored (`EnqueueRequest.carrier`), or `null`. */
  readonly carrier: PropagationCarrier | null;
};

/**
 * How an attempt ended: its outcome once committed, or `lost` when its claim
 * was taken back first (nothing it did was kept). @publicApi
 */
export interface AttemptSettlement {
  readonly outcome: AttemptOutcome | 'lost';
  /** Why it failed, for `retry` and `failed`. */
  readonly error?: RecordedError;
}

/**
 * The one seam around what Underway does for the app: every insert of runs
 * (`enqueue`, `enqueueMany`, a schedule's fire, a redrive) and every attempt
 * (the user's step or activity code, then the commit of its outcome). The
 * base class passes everything through; extend it, override either method,
 * call `next` (exactly once), and provide the class in any module. Every
 * provider that extends `UnderwayInterceptor` is used, outermost first in
 * the order Nest lists providers, inside Underway's own OpenTelemetry tracing
 * (itself an interceptor):
 *
 * ```ts
 * @Injectable()
 * export class TenantInterceptor extends UnderwayInterceptor {
 *   constructor(private readonly cls: ClsService) { super(); }
 *
 *   override attempt(task: AttemptTask, next: () => Promise<AttemptSettlement>) {
 *     return this.cls.run(() => next());   // user code runs inside
 *   }
 * }
 * ```
 *
 * A throw from `enqueue` before `next` rejects the enqueue (nothing is
 * written). A throw from `attempt` before `next` is the attempt's error
 * (recorded, retried per its policy); after `next`, it is logged.
 *
 * @publicApi
 */
@Injectable()
export class UnderwayInterceptor {
  /** Around an insert of runs; `next` writes them (in the caller's transaction, if any). */
  enqueue(
    request: EnqueueRequest,
    next: (request: EnqueueRequest) => Promise<EnqueueResult>,
  ): Promise<EnqueueResult> {
    return next(request);
  }

  /** Around an attempt: `next` runs the user's code and commits its outcome. */
  attempt(
    task: AttemptTask,
    next: () => Promise<AttemptSettlement>,
  ): Promise<AttemptSettlement> {
    return next();
  }
}
