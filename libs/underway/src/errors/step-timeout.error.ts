import { UnderwayError } from './underway.error';

/**
 * The reason on `ctx.signal` when a step attempt ran past its `timeout`;
 * the attempt counts as failed (code `'timeout'`).
 *
 * @publicApi
 */
export class StepTimeoutError extends UnderwayError {
  readonly code = 'step_timeout';

  constructor(readonly timeoutMs: number) {
    super(`Step attempt timed out after ${timeoutMs}ms.`);
  }
}
