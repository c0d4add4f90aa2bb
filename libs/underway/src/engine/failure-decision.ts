import { nextRetryDelayMs } from '../common/backoff';
import type { ResolvedRetryPolicy } from '../common/retry-policy';
import type { ErrorRecord } from '../errors/classify-error';

/** What a failed attempt leads to. */
export type FailureDecision =
  | { readonly kind: 'retry'; readonly delayMs: number }
  | {
      readonly kind: 'fail';
      /** Attempts remained, but the error is not retryable. */
      readonly fatal: boolean;
    };

/**
 * The one rule for a failed attempt of a step or an activity call, thrown or lapsed (the lease rescuer asks it too):
 * retry after the policy's backoff while the error is retryable and attempts
 * remain, fail otherwise. Pure: `random` is injected so tests can pin it.
 *
 * @param attempt the attempt that failed, 1-based
 * @param retriable `false` when nothing could be retried (no step definition)
 */
export function decideFailure(
  policy: ResolvedRetryPolicy,
  attempt: number,
  maxAttempts: number,
  error: ErrorRecord,
  retriable = true,
  random: () => number = Math.random,
): FailureDecision {
  if (!error.retryable || !retriable) {
    return { kind: 'fail', fatal: true };
  }
  if (attempt >= maxAttempts) {
    return { kind: 'fail', fatal: false };
  }
  return { kind: 'retry', delayMs: nextRetryDelayMs(policy, attempt, random) };
}
