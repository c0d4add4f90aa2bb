import type { Pool, PoolClient, QueryConfig, QueryResultRow } from 'pg';
import type { EntityManager, QueryRunner } from 'typeorm';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { afterQueryRunnerCommit } from './commit-hooks';
import { isQueryTimeout } from './pg-errors';
import { checkout, giveBack } from './pool-checkout';
import type { SqlQuery } from './sql';

export interface SqlResult<R> {
  readonly rows: R[];
  /** Rows inserted, updated or deleted (or returned, for a `select`). */
  readonly rowCount: number;
}

/**
 * The port every repository runs its statements through. The caller picks the
 * implementation, and with it the transaction: the library's own pool, a client
 * inside `withTransaction`, or the user's TypeORM `EntityManager`.
 */
export interface SqlExecutor {
  query<R extends QueryResultRow = QueryResultRow>(
    query: SqlQuery,
  ): Promise<SqlResult<R>>;
  /**
   * Runs `fn` once what this executor wrote so far is committed: at once for
   * an autocommit executor, after the transaction's COMMIT otherwise, and
   * never when it rolls back. Events are emitted this way.
   */
  afterCommit(fn: () => void): void;
  /**
   * Runs `fn`'s statements in one transaction: this executor's own, or, for
   * an autocommit executor, a transaction of their own.
   */
  atomically<T>(fn: (executor: SqlExecutor) => Promise<T>): Promise<T>;
}

/** Runs each statement on its own pooled connection (autocommit). */
export class PoolExecutor implements SqlExecutor {
  constructor(
    private readonly pool: Pool,
    /** A client-side bound tighter than the pool's (`query_timeout`). */
    private readonly timeoutMs?: number,
  ) {}

  async query<R extends QueryResultRow>(
    query: SqlQuery,
  ): Promise<SqlResult<R>> {
    // pg reads a per-query `query_timeout` (its types do not declare it).
    const config: QueryConfig & { query_timeout?: number } = toPg(query);
    if (this.timeoutMs !== undefined) {
      config.query_timeout = this.timeoutMs;
    }
    const client = await checkout(this.pool);
    try {
      const result = await client.query<R>(config);
      giveBack(this.pool, client);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } catch (err) {
      giveBack(this.pool, client, err);
      throw err;
    }
  }

  /** Each statement committed when it returned. */
  afterCommit(fn: () => void): void {
    fn();
  }

  atomically<T>(fn: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, fn);
  }
}

/** Runs statements on one checked-out client, inside `withTransaction`. */
class ClientExecutor implements SqlExecutor {
  /** What runs once the transaction commits. */
  readonly committed: (() => void)[] = [];

  constructor(private readonly client: PoolClient) {}

  async query<R extends QueryResultRow>(
    query: SqlQuery,
  ): Promise<SqlResult<R>> {
    const result = await this.client.query<R>(toPg(query));
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  afterCommit(fn: () => void): void {
    this.committed.push(fn);
  }

  atomically<T>(fn: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

/**
 * Joins the caller's TypeORM transaction: statements run on the transaction's
 * `QueryRunner`, so they commit or roll back with the caller's own writes.
 *
 * Uses `queryRunner.query(text, values, true)`: on Postgres, `manager.query()`
 * returns `[rows, count]` for `UPDATE … RETURNING`, the structured form does not.
 */
export class EntityManagerExecutor implements SqlExecutor {
  private readonly queryRunner: QueryRunner;

  constructor(manager: EntityManager) {
    const queryRunner = (manager as { queryRunner?: QueryRunner } | undefined)
      ?.queryRunner;
    if (!queryRunner || !queryRunner.isTransactionActive) {
      throw new InvalidOptionsError(
        'manager',
        'is not inside a transaction, so the write would commit on its own. Pass the EntityManager that ' +
          'dataSource.transaction(async (manager) => …) gives you, or omit `manager`',
      );
    }
    this.queryRunner = queryRunner;
  }

  async query<R extends QueryResultRow>(
    query: SqlQuery,
  ): Promise<SqlResult<R>> {
    const result = await this.queryRunner.query(
      query.text,
      [...query.values],
      true,
    );
    const rows = (Array.isArray(result.records) ? result.records : []) as R[];
    return { rows, rowCount: result.affected ?? rows.length };
  }

  /** After the caller's transaction commits (TypeORM's own commit). */
  afterCommit(fn: () => void): void {
    afterQueryRunnerCommit(this.queryRunner, fn);
  }

  atomically<T>(fn: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

function toPg(query: SqlQuery): QueryConfig {
  return { text: query.text, values: [...query.values], name: query.name };
}

/**
 * Runs `fn` in a transaction on one client of `pool`: commit on success,
 * rollback on error. A client that failed mid-transaction is discarded.
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (executor: SqlExecutor) => Promise<T>,
): Promise<T> {
  const client = await checkout(pool);
  let broken: unknown;
  try {
    await client.query('begin');
    const executor = new ClientExecutor(client);
    const result = await fn(executor);
    await client.query('commit');
    for (const committed of executor.committed) {
      committed();
    }
    return result;
  } catch (err) {
    if (isQueryTimeout(err)) {
      // No answer: a rollback would wait as long again. Dropping the
      // connection rolls the transaction back on the server's side.
      broken = err;
      throw err;
    }
    try {
      await client.query('rollback');
    } catch (rollbackError) {
      broken = rollbackError;
    }
    throw err;
  } finally {
    giveBack(pool, client, broken);
  }
}
