import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from 'typeorm';
import { UnderwayError } from '../errors/underway.error';

/**
 * What an activity's code can know about the attempt it runs in, through
 * {@link currentActivity}.
 *
 * @publicApi
 */
export interface ActivityContext {
  readonly runId: string;
  readonly workflowName: string;
  /** The durable `@Activity({ name })`. */
  readonly activityName: string;
  /** `call` (a step waits for it) or `emit` (fire-and-forget). */
  readonly kind: 'call' | 'emit';
  /** The step that called it, and the call's position in that step. */
  readonly stepIndex: number;
  readonly callIndex: number;
  /** 1 on the first attempt of this call. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * Aborts when the attempt times out, the worker loses its lease, the run is
   * cancelled or the process shuts down; `signal.reason` tells which.
   */
  readonly signal: AbortSignal;
  /**
   * In an `@Activity({ transactional: true })`: a TypeORM `EntityManager` in
   * a transaction on the app's DataSource, which the activity's result
   * commits. `undefined` in other activities. Guarded like a step's
   * `ctx.manager`: transaction control through it is refused
   * (`TransactionControlError`), and it refuses any use once the activity
   * ended (`TransactionClosedError`).
   */
  readonly manager: EntityManager | undefined;
}

/** Thrown by {@link currentActivity} outside an activity. */
export class OutsideActivityError extends UnderwayError {
  readonly code = 'outside_activity';

  constructor() {
    super(
      'currentActivity() was called outside an @Activity() method (or code it awaits); ' +
        'steps read the same through their ctx argument.',
    );
  }
}

const storage = new AsyncLocalStorage<ActivityContext>();

/**
 * The attempt of the activity whose code is running: its `signal` and
 * `attempt`. Works anywhere in the activity's async call tree (services it
 * calls included), like a Nest request-scoped value without the scope.
 *
 * ```ts
 * @Activity({ timeout: '10s' })
 * async fetchInvoice(id: string) {
 *   const { signal, attempt } = currentActivity();
 *   return this.http.get(`/invoices/${id}`, { signal, headers: { 'x-attempt': String(attempt) } });
 * }
 * ```
 *
 * @throws OutsideActivityError outside an activity
 * @publicApi
 */
export function currentActivity(): ActivityContext {
  const context = storage.getStore();
  if (!context) {
    throw new OutsideActivityError();
  }
  return context;
}

/** Runs `fn` as the activity of `context` (for the worker). */
export function runInActivity<T>(context: ActivityContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The activity whose code is running, or `undefined` (no throw: for the worker). */
export function activityInProgress(): ActivityContext | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` outside any activity: neither it nor the code it starts sees one,
 * whatever context the worker's loop was woken from (steps run this way).
 */
export function runOutsideActivity<T>(fn: () => T): T {
  return storage.exit(fn);
}
