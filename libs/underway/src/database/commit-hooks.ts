import type { DataSource, QueryRunner } from 'typeorm';

/**
 * Callbacks to run once the TypeORM transaction of a `QueryRunner` commits,
 * each with the transaction depth it was registered at (savepoints nest).
 */
const pending = new WeakMap<
  QueryRunner,
  { depth: number; run: () => void }[]
>();

/**
 * A TypeORM subscriber added to each DataSource that Underway writes through
 * (`{ manager }` calls): it runs the callbacks of a query runner when its
 * outermost transaction commits, drops them when it rolls back, and keeps
 * them with the enclosing level when a savepoint is released
 * (`manager.transaction()` nested inside another) or drops them when one is
 * rolled back to.
 *
 * TypeORM reports a COMMIT that PostgreSQL answered with ROLLBACK (the
 * transaction had failed, and the caller caught the error) as a commit: the
 * callbacks then run for writes that did not persist. Underway's own
 * transactions never do that.
 */
const subscriber = {
  afterTransactionCommit({ queryRunner }: { queryRunner: QueryRunner }): void {
    const list = pending.get(queryRunner);
    if (!list) {
      return;
    }
    if (queryRunner.isTransactionActive) {
      const depth = depthOf(queryRunner);
      for (const entry of list) {
        entry.depth = Math.min(entry.depth, depth);
      }
      return;
    }
    pending.delete(queryRunner);
    for (const entry of list) {
      entry.run();
    }
  },
  afterTransactionRollback({
    queryRunner,
  }: {
    queryRunner: QueryRunner;
  }): void {
    const list = pending.get(queryRunner);
    if (!list) {
      return;
    }
    if (!queryRunner.isTransactionActive) {
      pending.delete(queryRunner);
      return;
    }
    const depth = depthOf(queryRunner);
    const kept = list.filter((entry) => entry.depth <= depth);
    if (kept.length === 0) {
      pending.delete(queryRunner);
    } else {
      pending.set(queryRunner, kept);
    }
  },
};

/**
 * Runs `fn` once the transaction `queryRunner` is in commits (never if it
 * rolls back); at once when it is not in a transaction.
 */
export function afterQueryRunnerCommit(
  queryRunner: QueryRunner,
  fn: () => void,
): void {
  if (!queryRunner.isTransactionActive) {
    fn();
    return;
  }
  hook(queryRunner.connection);
  let list = pending.get(queryRunner);
  if (!list) {
    list = [];
    pending.set(queryRunner, list);
  }
  list.push({ depth: depthOf(queryRunner), run: fn });
}

/** Adds the subscriber to `dataSource` (again, if it rebuilt its list on re-initialization). */
function hook(dataSource: DataSource): void {
  const subscribers = dataSource.subscribers as unknown[];
  if (!subscribers.includes(subscriber)) {
    subscribers.push(subscriber);
  }
}

function depthOf(queryRunner: QueryRunner): number {
  const depth = (queryRunner as unknown as { transactionDepth?: unknown })
    .transactionDepth;
  return typeof depth === 'number' ? depth : 1;
}
