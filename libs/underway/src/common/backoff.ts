import { ResolvedRetryPolicy } from './retry-policy';

/**
 * The delay before the next attempt, after attempt `failedAttempt` (1-based) failed:
 * `target = min(initial × coefficient^(n−1), max)`, of which `jitterFactor` is drawn
 * uniformly, so the delay lies in `[target × (1 − jitter), target]`.
 *
 * Pure: `random` is injected so tests can pin it.
 */
export function nextRetryDelayMs(
  policy: ResolvedRetryPolicy,
  failedAttempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const grown =
    policy.initialIntervalMs === 0
      ? 0
      : policy.initialIntervalMs *
        Math.pow(policy.backoffCoefficient, exponent);
  const target = Number.isFinite(grown)
    ? Math.min(grown, policy.maxIntervalMs)
    : policy.maxIntervalMs;
  const jitter = target * policy.jitterFactor;
  return Math.floor(target - jitter + random() * jitter);
}
