import { UnderwayError } from './underway.error';

/**
 * A signal was sent to a run that has finished (succeeded, failed or
 * cancelled): nothing was stored. (A resend with an idempotency key that the
 * run already took is not refused: it resolves with `duplicate: true`.)
 *
 * @publicApi
 */
export class RunFinishedError extends UnderwayError {
  readonly code = 'run_finished';

  constructor(
    readonly runId: string,
    /** The state the run finished in. */
    readonly state: string,
    what = 'signal',
  ) {
    super(
      `Workflow run ${runId} has finished (${state}), so the ${what} was not stored: a finished run waits for nothing.`,
    );
  }
}
