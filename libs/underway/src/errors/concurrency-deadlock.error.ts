import { UnderwayError } from './underway.error';

/**
 * `ctx.child` / `ctx.startChild` asked for the concurrency key its own run
 * holds: the child could never start while the parent waits for it. Nothing
 * was enqueued; the step may catch it and go on.
 *
 * @publicApi
 */
export class ConcurrencyDeadlockError extends UnderwayError {
  readonly code = 'concurrency_deadlock';

  constructor(
    readonly runId: string,
    readonly concurrencyKey: string,
    readonly workflowName: string,
  ) {
    super(
      `A child run of workflow "${workflowName}" with concurrency key "${concurrencyKey}" was refused: ` +
        `run ${runId} holds that key while it waits, so the child could never start. ` +
        'Give the child another key (or none); nothing was enqueued.',
    );
  }
}
