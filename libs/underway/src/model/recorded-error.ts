/**
 * An error as Underway stores and reports it: with an attempt, a run, an
 * activity call, a dead-letter entry, or an `attempt:settled` event.
 *
 * @publicApi
 */
export interface RecordedError {
  /** `'timeout'`, `'lease_expired'`, a `StepError` code, or `'error'`. */
  readonly code: string;
  readonly message: string;
  /** The thrown value's class name (or `typeof` for non-Error values). */
  readonly name?: string;
}
