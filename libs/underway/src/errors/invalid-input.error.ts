import { UnderwayError } from './underway.error';

/**
 * A workflow input, step input or output cannot be stored as JSON: a function,
 * symbol, BigInt, circular reference, non-finite number, `\u0000` or lone
 * surrogate. Nothing was written.
 *
 * @publicApi
 */
export class InvalidInputError extends UnderwayError {
  readonly code = 'invalid_input';

  constructor(
    /** Where the value sits, as a JSON path: `$.user.createdAt`. */
    readonly path: string,
    problem: string,
    what = 'input',
  ) {
    super(
      `Invalid workflow ${what} at ${path}: ${problem}. Inputs and outputs must be JSON-serializable.`,
    );
  }
}
