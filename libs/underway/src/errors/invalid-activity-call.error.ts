import { UnderwayError } from './underway.error';

/**
 * `ctx.call` / `ctx.emit` named a method that is not an `@Activity` of the
 * workflow class (a `@Step`, a plain method, a misspelling through `as any`).
 * The run fails: the code must change.
 *
 * @publicApi
 */
export class InvalidActivityCallError extends UnderwayError {
  readonly code = 'invalid_activity_call';

  constructor(
    readonly className: string,
    readonly method: string,
    known: readonly string[],
  ) {
    super(
      `${className}.${method} is not an @Activity() method of ${className}, so ctx.call/ctx.emit cannot run it` +
        (known.length > 0
          ? ` (its activities: ${known.join(', ')}).`
          : ` (${className} declares no @Activity() method).`),
    );
  }
}
