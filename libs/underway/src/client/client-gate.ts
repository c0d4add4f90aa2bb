import type { EntityManager } from 'typeorm';
import {
  EntityManagerExecutor,
  PoolExecutor,
  SqlExecutor,
  withTransaction,
} from '../database/sql-executor';
import type { UnderwayDatabase } from '../database/underway-database';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import type { UnderwayBootstrap } from '../underway.bootstrap';

/**
 * How every client call reaches the database: it waits for the schema to be
 * ready (after a boot with the database down), and refuses once Underway has
 * closed with `UnderwayClosedError` naming the call, before and during it (a
 * `getRun()` between its statements, a `result()` between two polls), where
 * pg would say "Cannot use a pool after calling end on the pool".
 */
export class ClientGate {
  constructor(
    private readonly database: UnderwayDatabase,
    private readonly bootstrap: UnderwayBootstrap,
  ) {}

  /** The pool's executor, or `manager`'s (joining its transaction), once ready. */
  async executor(
    operation: string,
    manager: EntityManager | undefined,
  ): Promise<SqlExecutor> {
    await this.ready(operation);
    return this.refuseOnceClosed(
      operation,
      manager
        ? new EntityManagerExecutor(manager)
        : new PoolExecutor(this.database.pool),
    );
  }

  /** Runs `fn` in `manager`'s transaction, or in one of its own, once ready. */
  async inTransaction<T>(
    operation: string,
    manager: EntityManager | undefined,
    fn: (executor: SqlExecutor) => Promise<T>,
  ): Promise<T> {
    await this.ready(operation);
    return manager
      ? fn(this.refuseOnceClosed(operation, new EntityManagerExecutor(manager)))
      : withTransaction(this.database.pool, (executor) =>
          fn(this.refuseOnceClosed(operation, executor)),
        );
  }

  /** @throws UnderwayClosedError once Underway has closed (the application shut down) */
  assertOpen(operation: string, cause?: unknown): void {
    if (this.database.isClosed) {
      throw new UnderwayClosedError(
        operation,
        cause === undefined ? undefined : { cause },
      );
    }
  }

  /** Fires once Underway closes. */
  get closedSignal(): AbortSignal {
    return this.database.closedSignal;
  }

  /** @throws UnderwayClosedError when Underway closed while waiting (or before) */
  private async ready(operation: string): Promise<void> {
    try {
      await this.bootstrap.whenReady();
    } catch (err) {
      // Closing during a boot with the database down ends the wait with the
      // error of the boot it aborted: say what happened, keeping that as the cause.
      this.assertOpen(operation, err);
      throw err;
    }
    this.assertOpen(operation);
  }

  private refuseOnceClosed(
    operation: string,
    executor: SqlExecutor,
  ): SqlExecutor {
    return {
      query: async (query) => {
        this.assertOpen(operation);
        return executor.query(query);
      },
      afterCommit: (fn) => executor.afterCommit(fn),
      atomically: (fn) =>
        executor.atomically((inner) =>
          fn(this.refuseOnceClosed(operation, inner)),
        ),
    };
  }
}
