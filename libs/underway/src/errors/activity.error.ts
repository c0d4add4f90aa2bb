import { UnderwayError } from './underway.error';

/**
 * Thrown by an activity to control its retries. Any other thrown value is
 * retried per the activity's policy.
 *
 * ```ts
 * throw ActivityError.fatal('missing_user', `No user ${userId}`); // ctx.call throws at once
 * ```
 *
 * @publicApi
 */
export class ActivityError extends UnderwayError {
  protected constructor(
    readonly code: string,
    message: string,
    /** `false`: the call fails at once, whatever attempts remain. */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Fails the call without retrying: the step's `ctx.call` throws `ActivityFailedError`. */
  static fatal(
    code: string,
    message: string,
    options?: { cause?: unknown },
  ): ActivityError {
    return new ActivityError(code, message, false, options);
  }

  /** Fails this attempt; the activity is retried while attempts remain. */
  static retryable(
    code: string,
    message: string,
    options?: { cause?: unknown },
  ): ActivityError {
    return new ActivityError(code, message, true, options);
  }
}
