import { UnderwayError } from './underway.error';

/**
 * What `ctx.call` throws when the activity failed for good (`ActivityError.fatal`,
 * or its retries exhausted). Uncaught, it fails the run at once: retrying the
 * step would only replay the same failed call. Caught, the step may go on
 * (a compensation, another path).
 *
 * @publicApi
 */
export class ActivityFailedError extends UnderwayError {
  readonly code = 'activity_failed';

  constructor(
    /** The durable `@Activity({ name })`. */
    readonly activityName: string,
    /** The code of the activity's last error (`'timeout'`, an `ActivityError` code, `'error'`…). */
    readonly errorCode: string,
    readonly errorMessage: string,
  ) {
    super(`Activity "${activityName}" failed: [${errorCode}] ${errorMessage}`);
  }
}
