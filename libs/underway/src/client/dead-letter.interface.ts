import type { EntityManager } from 'typeorm';

/**
 * Options of `WorkflowClient.redrive()` and `getDeadLetters()`.
 *
 * @publicApi
 */
export interface DeadLetterOptions {
  /** Only these failed runs (their ids, UUIDs). @default all */
  runIds?: string[];
  /** At most this many, oldest first: 1 to 10,000. @default 100 */
  limit?: number;
  /** Redrive inside this transaction. */
  manager?: EntityManager;
}
