import type { RunState } from '../model/run-state';
import { UnderwayError } from './underway.error';

/**
 * `run.result()` rejects with this when the run ended `failed` or `cancelled`.
 *
 * @publicApi
 */
export class WorkflowRunFailedError extends UnderwayError {
  readonly code = 'run_failed';

  constructor(
    readonly runId: string,
    readonly state: Extract<RunState, 'failed' | 'cancelled'>,
    /** The code of the last error (`'timeout'`, `'missing_user'`…), if any. */
    readonly errorCode: string | undefined,
    /** The message of the last error, if any. */
    readonly errorMessage: string | undefined,
  ) {
    super(
      `Workflow run ${runId} ${state}` +
        (errorCode ? `: [${errorCode}] ${errorMessage ?? ''}`.trimEnd() : '.'),
    );
  }
}
