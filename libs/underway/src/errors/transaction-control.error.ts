import { UnderwayError } from './underway.error';

/**
 * A transactional step (or activity) tried to control the transaction
 * Underway gave it (`ctx.manager`, `currentActivity().manager`): a
 * `COMMIT`, `ROLLBACK`, `BEGIN`, `SET TRANSACTION`… sent through it, or
 * `queryRunner.commitTransaction()`, `rollbackTransaction()`,
 * `startTransaction()` at the top level, `release()` or `connect()`. The call
 * is refused and changes nothing; uncaught, it fails the run (a retry would
 * do the same). Also recorded when the transaction was found ended (or
 * replaced) behind the manager's back when the step returned: its outcome is
 * then not committed.
 *
 * @publicApi
 */
export class TransactionControlError extends UnderwayError {
  readonly code = 'transaction_control';

  constructor(
    /** The attempt: `run <id> <workflow>#<step>` or its activity. */
    readonly task: string,
    /** What was refused (`'COMMIT'`, `'queryRunner.release()'`…) or found. */
    readonly operation: string,
    found = false,
  ) {
    super(
      found
        ? `When ${task} returned, its connection was not in the transaction it was given (${operation}), so ` +
            'its outcome is not committed with what it wrote. The transaction is Underway’s to end: return a ' +
            'Transition (the writes commit with it) or throw (they roll back).'
        : `${operation} through the manager of ${task} is refused: its transaction is Underway’s, which commits ` +
            'it with the step’s outcome. Return a Transition to commit the writes with it, or throw to roll them ' +
            'back; for a part that may fail on its own, use manager.transaction(cb) or a SAVEPOINT.',
    );
  }
}
