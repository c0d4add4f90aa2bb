import { UnderwayError } from './underway.error';

/**
 * `ctx.manager` (or `currentActivity().manager`) was used after its
 * transactional step or activity ended: its transaction is committed or
 * rolled back, and its connection given back to the pool.
 *
 * @publicApi
 */
export class TransactionClosedError extends UnderwayError {
  readonly code = 'transaction_closed';

  constructor(readonly task: string) {
    super(
      `The transaction of ${task} is over (committed or rolled back when the attempt ended), so ctx.manager ` +
        'cannot be used any more. Await every query before the step (or activity) returns.',
    );
  }
}
