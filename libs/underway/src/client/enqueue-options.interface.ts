import type { EntityManager } from 'typeorm';
import type { Duration } from '../common/duration';

/**
 * Options of `WorkflowClient.enqueue()` and `enqueueMany()`.
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
  /** Start the first step after this delay (replaces the first step's own `delay`). */
  delay?: Duration;
  /** Start the first step at this time. Not together with `delay`. */
  runAt?: Date;
  /** Claim priority of the run: higher runs first. @default the workflow's priority (0) */
  priority?: number;
  /**
   * Runs with the same key execute one at a time, in enqueue order: at most
   * one of them is `running` or `waiting` (from its first step to its end);
   * the others stay `pending` until it finishes. A second enqueue waits its
   * turn, it is not rejected.
   */
  concurrencyKey?: string;
  /**
   * A second enqueue with the same key (for the same workflow) returns the
   * existing run instead of creating one, for as long as that run is kept.
   * Not with `enqueueMany`.
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
 * Options of `WorkflowRun.result()`.
 *
 * @publicApi
 */
export interface ResultOptions {
  /** Give up waiting after this long (the run goes on). @default no limit */
  timeout?: Duration;
}
