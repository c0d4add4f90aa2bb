import { UnderwayError } from './underway.error';

/**
 * Underway could not reach its database since the application booted, so its
 * schema is not ready yet. The call wrote nothing; retry it later.
 *
 * @publicApi
 */
export class DatabaseUnavailableError extends UnderwayError {
  readonly code = 'database_unavailable';

  constructor(waitedMs: number, options?: { cause?: unknown }) {
    super(
      `The database has been unreachable since boot; Underway is not ready (waited ${waitedMs}ms). ` +
        'It keeps retrying in the background: retry the call later.',
      options,
    );
  }
}
