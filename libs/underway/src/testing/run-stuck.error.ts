import type { RunState } from '../model/run-state';
import { UnderwayError } from '../errors/underway.error';

/**
 * `runToCompletion()` / `finish()` stopped: the run is unfinished and
 * neither draining nor moving the clock can finish it (it waits for a
 * signal with no timeout, say). `waitingFor` says what it waits for.
 *
 * @publicApi
 */
export class RunStuckError extends UnderwayError {
  readonly code = 'run_stuck';

  constructor(
    readonly runId: string,
    readonly workflowName: string,
    readonly state: RunState,
    /** What the run waits for, in words: `the signal "approval" (no timeout), at step "decide"`. */
    readonly waitingFor: string,
  ) {
    super(
      `Workflow run ${runId} (${workflowName}) is ${state} and cannot finish by draining or moving the clock: ` +
        `it waits for ${waitingFor}.`,
    );
  }
}
