import { UnderwayError } from '../errors/underway.error';

/**
 * A testing kit method that runs work was called before the application was
 * initialized (`await app.init()`), when Underway's schema is not ready.
 *
 * @publicApi
 */
export class TestKitNotStartedError extends UnderwayError {
  readonly code = 'test_kit_not_started';

  constructor(readonly operation: string) {
    super(
      `${operation} was called before the application was initialized: ` +
        'await app.init() (or moduleRef.init()) first, so that Underway prepares its schema.',
    );
  }
}
