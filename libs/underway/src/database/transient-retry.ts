import { jitteredBackoffMs, sleep } from '../common/timers';
import { isTransientPgError } from './pg-errors';

/** How long to wait between attempts at reaching the database. */
export interface ReconnectBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface RetryOptions {
  readonly backoff: ReconnectBackoff;
  /** Stops retrying (the last error is thrown). */
  readonly signal?: AbortSignal;
  /** Called before each wait, for a log line. */
  readonly onRetry?: (err: Error, attempt: number, delayMs: number) => void;
}

/**
 * The one place where transient database errors (connection refused or reset,
 * server restarting, serialization failure, deadlock…; see `pg-errors.ts`) are
 * retried: with jittered exponential backoff, until `fn` succeeds, fails for
 * another reason, or `signal` aborts.
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientPgError(err) || options.signal?.aborted) {
        throw err;
      }
      const delayMs = backoffDelayMs(options.backoff, attempt);
      options.onRetry?.(err as Error, attempt, delayMs);
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) {
        throw err;
      }
    }
  }
}

/** The wait before retry `attempt` (1-based): jittered, doubling up to the cap. */
export function backoffDelayMs(
  backoff: ReconnectBackoff,
  attempt: number,
): number {
  return jitteredBackoffMs(attempt, backoff.initialMs, backoff.maxMs);
}
