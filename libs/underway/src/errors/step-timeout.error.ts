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
    /**
     * When the attempt's code finished after its timeout without the timer
     * getting a chance to fire (it blocked the event loop): how long it took.
     * Its result was discarded.
     */
    readonly finishedAfterMs?: number,
  ) {
    super(
      `${what} attempt timed out after ${timeoutMs}ms` +
        (finishedAfterMs === undefined
          ? '.'
          : ` (it finished after ${Math.round(finishedAfterMs)}ms, blocking the event loop past its timeout; ` +
            'its result was discarded).'),
    );
  }
}
