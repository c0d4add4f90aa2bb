import { UnderwayError } from './underway.error';

/**
 * A call reached Underway after its application closed (`app.close()`, or a
 * shutdown signal with `app.enableShutdownHooks()`): its connections are gone,
 * so nothing was read or written. `operation` names the refused call.
 *
 * @publicApi
 */
export class UnderwayClosedError extends UnderwayError {
  readonly code = 'underway_closed';

  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Underway was closed (the application shut down): ${operation} cannot run after close. ` +
        'Make the call while the application runs, before app.close().',
      options,
    );
  }
}
