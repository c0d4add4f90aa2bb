import { UnderwayError } from './underway.error';

/**
 * The reason on `ctx.signal` (or `currentActivity().signal`) when a step or
 * activity attempt ran past its `timeout`;
 * the attempt counts as failed (code `'timeout'`).
 *
 * @publicApi
 */
export class StepTimeoutError extends UnderwayError {
  readonly code = 'step_timeout';

  constructor(
    readonly timeoutMs: number,
    what: 'Step' | 'Activity' = 'Step',
  ) {
    super(`${what} attempt timed out after ${timeoutMs}ms.`);
  }
}
