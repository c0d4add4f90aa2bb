import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { EntityManagerExecutor, SqlExecutor } from '../database/sql-executor';
import { TransactionClosedError } from '../errors/transaction-closed.error';

/** How long a rollback may take before its connection is destroyed instead. */
const ROLLBACK_TIMEOUT_MS = 5_000;

/** Cancels whatever the given backend is running (a query of the attempt). */
export type CancelBackend = (pid: number) => Promise<void>;

/**
 * The transaction of one attempt of a transactional step or activity, on the
 * app's DataSource: what the attempt writes through `manager`, and its
 * outcome, commit together in {@link commitWith}, or not at all.
 *
 * The attempt holds one connection of the app's pool from {@link open} to
 * the end. An attempt that is abandoned (timeout, lost lease, cancel,
 * shutdown) may still have a query running on it: the rollback first cancels
 * it, and a rollback that does not finish in time destroys the connection
 * (PostgreSQL rolls back a transaction whose connection is gone).
 */
export class AttemptTransaction {
  private static readonly logger = new Logger('AttemptTransaction');
  private closed = false;
  /** What the attempt's code sees: the manager, refusing use once closed. */
  readonly manager: EntityManager;

  private constructor(
    private readonly runner: QueryRunner,
    private readonly cancelBackend: CancelBackend,
    task: string,
  ) {
    const raw = runner.manager;
    this.manager = new Proxy(raw, {
      get: (target, property, receiver) => {
        if (this.closed) {
          throw new TransactionClosedError(task);
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
    });
  }

  /** Takes a connection of the app's pool and begins. */
  static async open(
    dataSource: DataSource,
    cancelBackend: CancelBackend,
    task: string,
  ): Promise<AttemptTransaction> {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.startTransaction();
    } catch (err) {
      await runner.release().catch(() => undefined);
      throw err;
    }
    return new AttemptTransaction(runner, cancelBackend, task);
  }

  /**
   * Runs the attempt's fenced outcome statement in the transaction, then
   * commits when it applied (`applied` true), or rolls back when the claim
   * was gone (nothing of the attempt survives).
   * @returns what `write` returned
   */
  async commitWith<T>(
    write: (executor: SqlExecutor) => Promise<{ applied: boolean; value: T }>,
  ): Promise<T> {
    this.closed = true;
    try {
      const { applied, value } = await write(
        new EntityManagerExecutor(this.runner.manager),
      );
      if (applied) {
        await this.runner.commitTransaction();
      } else {
        await this.runner.rollbackTransaction();
      }
      await this.runner.release();
      return value;
    } catch (err) {
      await this.rollback(false);
      throw err;
    }
  }

  /**
   * Rolls back and gives the connection back.
   * @param abandoned the attempt's code may still be running a query on it
   */
  async rollback(abandoned: boolean): Promise<void> {
    this.closed = true;
    if (this.runner.isReleased) {
      return;
    }
    // Once released the pid may serve another request: read it first.
    const connection = (
      this.runner as unknown as {
        databaseConnection?: { processID?: number };
      }
    ).databaseConnection;
    const pid = connection?.processID;
    try {
      if (abandoned && pid !== undefined) {
        await this.cancelBackend(pid);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.runner.isTransactionActive
          ? this.runner.rollbackTransaction()
          : Promise.resolve(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('the rollback did not finish in time')),
            ROLLBACK_TIMEOUT_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      await this.runner.release();
    } catch (err) {
      AttemptTransaction.logger.warn(
        `Could not roll back an attempt's transaction cleanly (${(err as Error).message}); closing its connection`,
      );
      // An error given to the pool destroys the connection, and PostgreSQL
      // rolls back what it held.
      const destroy = (
        this.runner as unknown as {
          releasePostgresConnection?: (err?: Error) => Promise<void>;
        }
      ).releasePostgresConnection;
      try {
        await (typeof destroy === 'function'
          ? destroy.call(this.runner, err as Error)
          : this.runner.release());
      } catch {
        // the connection is gone already
      }
    }
  }
}

/** Opens the transactions of transactional attempts (the worker's one). */
export interface TransactionOpener {
  open(task: string): Promise<AttemptTransaction>;
}

/** The opener over the app's DataSource; `cancelBackend` runs on the library's own pool. */
export function transactionOpener(
  dataSource: () => DataSource,
  cancelBackend: CancelBackend,
): TransactionOpener {
  return {
    open: (task) => AttemptTransaction.open(dataSource(), cancelBackend, task),
  };
}

/**
 * Runs an attempt in a new transaction from `opener`: its outcome, with the
 * transaction still open for the runner to commit with it or roll back; or,
 * when no transaction could be opened (no connection in the app's pool, say),
 * the outcome `unopened` makes of the error, with none.
 */
export async function attemptInTransaction<O>(
  opener: TransactionOpener,
  task: string,
  attempt: (manager: EntityManager) => Promise<O | undefined>,
  unopened: (err: unknown) => O,
): Promise<{ outcome: O | undefined; transaction?: AttemptTransaction }> {
  let transaction: AttemptTransaction;
  try {
    transaction = await opener.open(task);
  } catch (err) {
    return { outcome: unopened(err) };
  }
  return { outcome: await attempt(transaction.manager), transaction };
}
