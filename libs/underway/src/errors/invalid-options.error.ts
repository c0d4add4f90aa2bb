import { UnderwayError } from './underway.error';

/**
 * An option passed to `UnderwayModule`, a decorator or a client call is invalid.
 *
 * @publicApi
 */
export class InvalidOptionsError extends UnderwayError {
  readonly code = 'invalid_options';

  constructor(
    /** The option at fault, as a path: `'runtime.concurrency'`. */
    readonly path: string,
    problem: string,
  ) {
    super(`Invalid option ${path}: ${problem}.`);
  }
}
