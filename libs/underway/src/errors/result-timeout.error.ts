import { UnderwayError } from './underway.error';

/**
 * `run.result({ timeout })` gave up waiting; the run itself goes on.
 *
 * @publicApi
 */
export class ResultTimeoutError extends UnderwayError {
  readonly code = 'result_timeout';

  constructor(
    readonly runId: string,
    readonly timeoutMs: number,
  ) {
    super(
      `Workflow run ${runId} did not finish within ${timeoutMs}ms. The run goes on; call result() again to keep waiting.`,
    );
  }
}
