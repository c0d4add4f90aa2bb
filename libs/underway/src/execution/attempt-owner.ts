import { OwnRunLockError } from '../errors/own-run-lock.error';

/** The attempt a transactional manager (or query runner) belongs to. */
export interface AttemptOwner {
  readonly runId: string;
  /** `run <id> <workflow>#<step>`, or its activity. */
  readonly task: string;
  /** While the attempt's code runs in its transaction. */
  running(): boolean;
}

/**
 * The managers and query runners of transactional attempts (the proxies
 * handed to user code, and what is behind them), with their attempt. Weak:
 * an attempt's objects go with it.
 */
const owners = new WeakMap<object, AttemptOwner>();

/** Records that `objects` belong to the attempt `owner`. */
export function registerAttempt(
  objects: readonly object[],
  owner: AttemptOwner,
): void {
  for (const object of objects) {
    owners.set(object, owner);
  }
}

/**
 * Refuses a client call that would lock run `runId`'s row through the
 * manager of an attempt of that very run (`client.cancel(ctx.runId, {
 * manager: ctx.manager })`): the attempt's transaction would hold the row
 * its lease is renewed on until the attempt ends.
 *
 * @throws OwnRunLockError
 */
export function refuseOwnRunLock(
  manager: object | undefined,
  runId: string,
  operation: string,
): void {
  const owner = manager && owners.get(manager);
  // Once the attempt ended, its manager refuses any use (TransactionClosedError).
  if (owner?.runId === runId && owner.running()) {
    throw new OwnRunLockError(runId, owner.task, operation);
  }
}
