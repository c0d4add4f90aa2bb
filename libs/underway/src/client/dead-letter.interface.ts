import type { EntityManager } from 'typeorm';
import type { RecordedError } from '../model/recorded-error';

/**
 * A run recorded in a dead-letter queue (`@Workflow({ deadLetter })`).
 *
 * @publicApi
 */
export interface DeadLetterEntry {
  /** The queue: the workflow's `deadLetter` name. */
  readonly queue: string;
  /** The run that failed. */
  readonly runId: string;
  readonly workflowName: string;
  /** The failed run's input, kept for redriving. */
  readonly input: unknown;
  /** The error that failed the run. */
  readonly error: RecordedError | undefined;
  readonly failedAt: Date;
  /** When it was redriven, and the run that redrove it. */
  readonly redrivenAt: Date | undefined;
  readonly redrivenRunId: string | undefined;
}

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
