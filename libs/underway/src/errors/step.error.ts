import { UnderwayError } from './underway.error';

/**
 * Thrown by a step to control retries. Any other thrown value is retried.
 *
 * ```ts
 * throw StepError.fatal('missing_user', `No user ${userId}`); // fails the run now
 * ```
 *
 * @publicApi
 */
export class StepError extends UnderwayError {
  protected constructor(
    readonly code: string,
    message: string,
    /** `false`: the run fails at once, whatever attempts remain. */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Fails the run without retrying. */
  static fatal(
    code: string,
    message: string,
    options?: { cause?: unknown },
  ): StepError {
    return new StepError(code, message, false, options);
  }

  /** Fails this attempt; the step is retried while attempts remain. */
  static retryable(
    code: string,
    message: string,
    options?: { cause?: unknown },
  ): StepError {
    return new StepError(code, message, true, options);
  }
}
