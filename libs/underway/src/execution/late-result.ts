import { StepAbortedError } from '../errors/step-aborted.error';
import type { StepAbort } from './step-abort';

/**
 * How long an attempt's code took, when it finished after its timeout
 * without being stopped by it: code that blocks the event loop (a
 * synchronous loop, a sync crypto call) keeps the timeout's timer from
 * firing, and may even return before the timer's turn comes. Such a result
 * is late all the same, and is discarded. Measured on the monotonic clock,
 * from before the code was invoked to when it settled.
 *
 * @returns the time taken, in ms, or `undefined` when the attempt finished
 *   in time or was stopped for another reason (a lost lease, a cancel…)
 */
export function lateBy(
  controller: StepAbort,
  startedAt: number,
  timeoutMs: number,
): number | undefined {
  const elapsed = performance.now() - startedAt;
  if (elapsed <= timeoutMs) {
    return undefined;
  }
  const reason: unknown = controller.reason;
  // A suspension (a new ctx.call) made past the timeout is late too.
  return !controller.aborted ||
    (reason instanceof StepAbortedError && reason.code === 'suspended')
    ? elapsed
    : undefined;
}
