import { UnderwayError } from './underway.error';

/**
 * A transactional step (or activity) locked, or was about to lock, its own
 * run's row through its own manager: `client.cancel(ctx.runId, { manager:
 * ctx.manager })` (or `retry`), or a `select … for update` / `update` of
 * Underway's row. Its transaction would hold that row until the step ends,
 * while the worker must renew the attempt's lease on it: the lease would
 * lapse, and the attempt run again into the same lock. The call is refused;
 * a lock found at a lease renewal aborts the attempt (`ctx.signal.reason`).
 * Either way the run fails: a retry would do the same.
 *
 * @publicApi
 */
export class OwnRunLockError extends UnderwayError {
  readonly code = 'own_run_lock';

  constructor(
    readonly runId: string,
    /** The attempt: `run <id> <workflow>#<step>` or its activity. */
    readonly task: string,
    /** The refused client call (`'client.cancel()'`); none for a lock found. */
    readonly operation?: string,
  ) {
    super(
      operation
        ? `${operation} of run ${runId} through the manager of its own ${task} is refused: it would lock the ` +
            'run’s row until the step’s transaction ends, while Underway renews the attempt’s lease on that row. ' +
            'To end the run from its step, throw StepError.fatal(code, message) (its writes roll back) or return ' +
            'Transition.complete(output) (they commit); to cancel it at once, call client.cancel(runId) without manager.'
        : `The transaction of ${task} holds a lock on its own run’s row (taken through its manager), so the ` +
            'attempt’s lease could not be renewed; the attempt was aborted and its writes rolled back. ' +
            'Do not lock or change Underway’s tables through ctx.manager.',
    );
  }
}
