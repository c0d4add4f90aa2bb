import type { EntityManager } from 'typeorm';
import type { Duration } from '../common/duration';

/**
 * Options of `WorkflowClient.enqueue()` and `enqueueMany()`. Like the options
 * of every client call, an unknown key (a misspelling) or a value out of its
 * bounds is an `InvalidOptionsError` naming it, and nothing is written.
 *
 * @publicApi
 */
export interface EnqueueOptions {
  /**
   * A TypeORM `EntityManager` inside a transaction (from
   * `dataSource.transaction(async (manager) => …)`): the run is written in that
   * transaction, so it exists, and runs, only if the transaction commits.
   */
  manager?: EntityManager;
  /**
   * Start the first step after this delay (replaces the first step's own
   * `delay`): from 0 to 100 years.
   */
  delay?: Duration;
  /**
   * Start the first step at this time, from 1970-01-01T00:00:00.000Z to
   * 9999-12-31T23:59:59.999Z. Not together with `delay`.
   */
  runAt?: Date;
  /**
   * Claim priority of the run, a 32-bit integer (-2147483648 to 2147483647):
   * higher runs first. @default the workflow's priority (0)
   */
  priority?: number;
  /**
   * Runs with the same key execute one at a time, in enqueue order: at most
   * one of them is `running` or `waiting` (from its first step to its end);
   * the others stay `pending` until it finishes. A second enqueue waits its
   * turn, it is not rejected. 1 to 255 characters (UTF-16 code units: an
   * emoji counts two), without `\u0000` or a lone surrogate.
   */
  concurrencyKey?: string;
  /**
   * A second enqueue with the same key (for the same workflow) returns the
   * existing run instead of creating one, for as long as that run is kept.
   * Not with `enqueueMany`. The same rules as `concurrencyKey`.
   */
  idempotencyKey?: string;
}

/**
 * Options of `WorkflowClient.cancel()`.
 *
 * @publicApi
 */
export interface CancelOptions {
  /** Cancel inside this transaction. */
  manager?: EntityManager;
}

/**
 * Options of `client.retry()`.
 *
 * @publicApi
 */
export interface RetryOptions {
  /** Retry inside this transaction: rolled back, the run stays failed. */
  manager?: EntityManager;
}

/**
 * Options of `WorkflowRun.result()`.
 *
 * @publicApi
 */
export interface ResultOptions {
  /** Give up waiting after this long, 0 to 100 years (the run goes on). @default no limit */
  timeout?: Duration;
}

/**
 * Options of `WorkflowClient.signal()`.
 *
 * @publicApi
 */
export interface SignalOptions {
  /**
   * Send inside this transaction (`dataSource.transaction(async (manager) => …)`):
   * the signal exists, and wakes the run, only if it commits.
   */
  manager?: EntityManager;
  /**
   * Stores the signal once per run: a resend with the same key (a webhook
   * retried) stores nothing and resolves with the first one's `signalId`
   * and `duplicate: true`, consumed or not, for as long as the run is
   * retained (even once it has finished).
   */
  idempotencyKey?: string;
}

/**
 * Options of `WorkflowClient.signalWithStart()`: an enqueue's, with its
 * `idempotencyKey` required (the run to start, or to signal if it exists).
 *
 * @publicApi
 */
export interface SignalWithStartOptions extends Omit<
  EnqueueOptions,
  'idempotencyKey'
> {
  idempotencyKey: string;
  /** The signal's own idempotency key (`SignalOptions.idempotencyKey`). */
  signalIdempotencyKey?: string;
}
