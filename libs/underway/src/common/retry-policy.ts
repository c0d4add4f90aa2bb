import { InvalidOptionsError } from '../errors/invalid-options.error';
import { describeNumberValue } from '../errors/describe-value';
import { Duration, parseDuration } from './duration';
import { MAX_ATTEMPTS } from './limits';

/**
 * How often and how fast a failed step (or activity) is retried.
 * Policies merge field by field: step over workflow over module `defaults`
 * over these built-in defaults.
 *
 * @publicApi
 */
export interface RetryPolicy {
  /** Total number of attempts, the first included. @default 5 */
  maxAttempts?: number;
  /** Delay after the first failed attempt. @default '1s' */
  initialInterval?: Duration;
  /** Upper bound of the delay between attempts. @default '60s' */
  maxInterval?: Duration;
  /** Each delay is the previous one times this factor. @default 2.0 */
  backoffCoefficient?: number;
  /** Share of the delay that is randomized (0 = none, 1 = all of it). @default 0.5 */
  jitterFactor?: number;
}

/** A fully specified retry policy, durations in milliseconds. */
export interface ResolvedRetryPolicy {
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly jitterFactor: number;
}

const RETRY_KEYS: ReadonlySet<string> = new Set([
  'maxAttempts',
  'initialInterval',
  'maxInterval',
  'backoffCoefficient',
  'jitterFactor',
]);

export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = Object.freeze({
  maxAttempts: 5,
  initialIntervalMs: 1_000,
  maxIntervalMs: 60_000,
  backoffCoefficient: 2,
  jitterFactor: 0.5,
});

/**
 * Applies `override` over `base`, field by field, validating every field it sets.
 *
 * @param path where `override` came from, for error messages (`'SignupWorkflow.retry'`).
 */
export function mergeRetryPolicy(
  base: ResolvedRetryPolicy,
  override: RetryPolicy | undefined,
  path: string,
): ResolvedRetryPolicy {
  if (override === undefined) {
    return base;
  }
  if (override === null || typeof override !== 'object') {
    throw new InvalidOptionsError(path, 'must be an object');
  }
  for (const key of Object.keys(override)) {
    if (!RETRY_KEYS.has(key)) {
      throw new InvalidOptionsError(
        `${path}.${key}`,
        `is not a retry policy field (known: ${[...RETRY_KEYS].join(', ')})`,
      );
    }
  }
  const merged: ResolvedRetryPolicy = {
    maxAttempts: override.maxAttempts ?? base.maxAttempts,
    initialIntervalMs:
      override.initialInterval === undefined
        ? base.initialIntervalMs
        : parseDuration(override.initialInterval, `${path}.initialInterval`),
    maxIntervalMs:
      override.maxInterval === undefined
        ? base.maxIntervalMs
        : parseDuration(override.maxInterval, `${path}.maxInterval`),
    backoffCoefficient: override.backoffCoefficient ?? base.backoffCoefficient,
    jitterFactor: override.jitterFactor ?? base.jitterFactor,
  };
  if (
    !Number.isInteger(merged.maxAttempts) ||
    merged.maxAttempts < 1 ||
    merged.maxAttempts > MAX_ATTEMPTS
  ) {
    throw new InvalidOptionsError(
      `${path}.maxAttempts`,
      `must be an integer from 1 to ${MAX_ATTEMPTS}, got ${describeNumberValue(merged.maxAttempts)}`,
    );
  }
  if (
    !Number.isFinite(merged.backoffCoefficient) ||
    merged.backoffCoefficient < 1
  ) {
    throw new InvalidOptionsError(
      `${path}.backoffCoefficient`,
      `must be a number of at least 1, got ${describeNumberValue(merged.backoffCoefficient)}`,
    );
  }
  if (
    !Number.isFinite(merged.jitterFactor) ||
    merged.jitterFactor < 0 ||
    merged.jitterFactor > 1
  ) {
    throw new InvalidOptionsError(
      `${path}.jitterFactor`,
      `must be between 0 and 1, got ${describeNumberValue(merged.jitterFactor)}`,
    );
  }
  if (merged.maxIntervalMs < merged.initialIntervalMs) {
    throw new InvalidOptionsError(
      `${path}.maxInterval`,
      `must not be shorter than initialInterval (${merged.initialIntervalMs}ms), got ${merged.maxIntervalMs}ms`,
    );
  }
  return Object.freeze(merged);
}
