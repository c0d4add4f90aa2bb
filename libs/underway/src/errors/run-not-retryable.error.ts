import type { RunState } from '../model/run-state';
import { UnderwayError } from './underway.error';

/**
 * `client.retry()` of a run that cannot be retried: it is not `failed`
 * (still under way, succeeded or cancelled), or its dead-letter entry was
 * already redriven as another run (retrying it too would do the work twice).
 * Nothing was changed.
 *
 * @publicApi
 */
export class RunNotRetryableError extends UnderwayError {
  readonly code = 'run_not_retryable';

  constructor(
    readonly runId: string,
    /** The run's state when the retry was refused. */
    readonly state: RunState,
    /** The run that replaced it, when its dead-letter entry was redriven. */
    readonly redrivenRunId?: string,
  ) {
    super(
      redrivenRunId === undefined
        ? `Workflow run ${runId} is ${state}: only a failed run can be retried.`
        : `Workflow run ${runId} was redriven from its dead-letter queue as run ${redrivenRunId}: retry that run instead.`,
    );
  }
}
