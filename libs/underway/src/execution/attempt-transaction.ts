// Over 300 lines on purpose: one class, the life of an attempt's transaction
// (open, guard, check, commit or roll back, give back), whose guards share its
// state (closed, ended, the first failure); split, that state would be handed
// around.
import { Logger } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { storableText } from '../errors/storable-text';
import {
  isDefiniteServerError,
  isInFailedTransaction,
} from '../database/pg-errors';
import type { SqlQuery } from '../database/sql';
import { EntityManagerExecutor, SqlExecutor } from '../database/sql-executor';
import { classifyError, ErrorRecord } from '../errors/classify-error';
import { TransactionClosedError } from '../errors/transaction-closed.error';
import { TransactionControlError } from '../errors/transaction-control.error';
import type { Claim } from '../model/claim';
import { registerAttempt } from './attempt-owner';
import { findTransactionControl } from './transaction-control';
import {
  currentTransaction,
  CurrentTransactionRow,
  OpenedTransactionRow,
  openedTransaction,
  rollbackAny,
} from './transaction.sql';

/** How long a rollback may take before its connection is destroyed instead. */
const ROLLBACK_TIMEOUT_MS = 5_000;

const logger = new Logger('AttemptTransaction');

/** Cancels whatever the given backend is running (a query of the attempt). */
export type CancelBackend = (pid: number) => Promise<void>;

/** The connection behind a transactional attempt, as the lease keeper sees it. */
export interface AttemptBackend {
  readonly pid: number;
  /** `run <id> <workflow>#<step>`, or its activity. */
  readonly task: string;
  /** True while the attempt's code runs (its outcome not yet being committed). */
  readonly running: boolean;
}

/**
 * The statements an attempt's transaction sends for Underway itself (its
 * check, outcome, commit and rollback) run in this context, and pass the
 * guards that refuse them to the attempt's code: an `AsyncLocalStorage`
 * follows Underway's own call chain only, never a promise the step left
 * running.
 */
const underwayCalls = new AsyncLocalStorage<AttemptTransaction>();

/** The query runner methods that could end, leave or outlive the transaction. */
const GUARDED = [
  'query',
  'stream',
  'startTransaction',
  'commitTransaction',
  'rollbackTransaction',
  'release',
] as const;
type Guarded = (typeof GUARDED)[number];
type RunnerMethod = (...args: unknown[]) => Promise<unknown>;

/** The query runner internals read here (TypeORM's Postgres runner). */
interface RunnerInternals {
  transactionDepth?: number;
  databaseConnection?: { getTransactionStatus?: () => string | null };
  releasePostgresConnection?: (err?: Error) => Promise<void>;
}

/**
 * The attempt's own writes failed, not its outcome: a deferred constraint
 * refused at COMMIT, or a statement error the step caught, which left the
 * transaction aborted. Recorded as the attempt's error (the statement's own
 * message) and retried per the step's policy, like an error it threw.
 */
export class AttemptWritesFailedError extends Error {
  constructor(
    readonly failure: unknown,
    readonly when: 'aborted' | 'commit',
  ) {
    super(failure instanceof Error ? failure.message : String(failure), {
      cause: failure,
    });
  }

  /** The attempt's error, with the statement's message and what it did. */
  record(): ErrorRecord {
    const base = classifyError(this.failure);
    const note =
      this.when === 'aborted'
        ? ' (this statement failed in the transaction, which aborted it: nothing the attempt wrote can commit)'
        : ' (refused when the transaction committed: nothing the attempt wrote was kept)';
    return { ...base, message: storableText(base.message + note, 2_000) };
  }
}

/**
 * The transaction of one attempt of a transactional step or activity, on the
 * app's DataSource: what the attempt writes through `manager`, and its
 * outcome, commit together in {@link commitWith}, or not at all.
 *
 * The attempt holds one connection of the app's pool from {@link open} to
 * the end. The transaction is Underway's to end: its query runner refuses,
 * to the attempt's code, every statement and method that would end it,
 * begin another, or give the connection back (savepoints stay allowed), and
 * before the outcome is written the connection must still be in the very
 * transaction that was opened (a transaction ended where no guard sees it,
 * through a subscriber's raw connection say, fails the attempt). Everything
 * reached through `manager` (its query runner, repositories, query builders)
 * refuses with `TransactionClosedError` once the attempt ended.
 *
 * An attempt that is abandoned (timeout, lost lease, cancel, shutdown) may
 * still have a query running on it: the rollback first cancels it, and a
 * rollback that does not finish in time destroys the connection (PostgreSQL
 * rolls back a transaction whose connection is gone). A connection goes back
 * to the pool only outside any transaction.
 */
export class AttemptTransaction implements AttemptBackend {
  private closed = false;
  private committed = false;
  private ended = false;
  /** Settles once the transaction ended and its connection was given back. */
  private readonly given: Promise<void>;
  private markGiven!: () => void;
  /** The first statement error since the last success (what aborted the transaction). */
  private firstFailure: { error: unknown } | undefined;
  /** What the attempt's code sees: the manager, refusing use once closed. */
  readonly manager: EntityManager;
  /** What `manager.queryRunner` gives the attempt's code. */
  private readonly guardedRunner: QueryRunner;

  private constructor(
    private readonly runner: QueryRunner,
    private readonly cancelBackend: CancelBackend,
    readonly task: string,
    runId: string,
    /** The transaction opened for the attempt. */
    private readonly xact: string,
    readonly pid: number,
  ) {
    this.given = new Promise<void>((resolve) => {
      this.markGiven = resolve;
    });
    const raw = runner.manager;
    // Repositories made through the manager hold it (and its query runner):
    // kept apart from the raw manager's, so that they refuse once closed too.
    const repositories = new Map<unknown, unknown>();
    const treeRepositories: unknown[] = [];
    this.manager = new Proxy(raw, {
      get: (target, property, receiver) => {
        if (this.closed) {
          throw new TransactionClosedError(task);
        }
        switch (property) {
          case 'queryRunner':
            return this.guardedRunner;
          case 'repositories':
            return repositories;
          case 'treeRepositories':
            return treeRepositories;
        }
        const value: unknown = Reflect.get(target, property, receiver);
        // Bound to the proxy: what a method builds (a repository, a query
        // builder, a nested manager.transaction()'s manager) holds the
        // guarded manager and query runner, never the raw ones.
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(receiver)
          : value;
      },
    });
    this.guardedRunner = new Proxy(runner, {
      get: (target, property) => {
        if (this.closed) {
          throw new TransactionClosedError(task);
        }
        switch (property) {
          case 'manager':
            return this.manager;
          case 'connect':
            return () =>
              Promise.reject(
                new TransactionControlError(task, 'queryRunner.connect()'),
              );
          case 'databaseConnection':
            throw new TransactionControlError(
              task,
              'queryRunner.databaseConnection',
            );
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
    });
    this.guard();
    registerAttempt([this.manager, this.guardedRunner, raw, runner], {
      runId,
      task,
      running: () => !this.closed,
    });
  }

  /** Takes a connection of the app's pool and begins. */
  static async open(
    dataSource: DataSource,
    cancelBackend: CancelBackend,
    task: string,
    runId: string,
  ): Promise<AttemptTransaction> {
    const runner = dataSource.createQueryRunner();
    let connected = false;
    try {
      await runner.connect();
      connected = true;
      await runner.startTransaction();
      const [opened] = (await run(runner, openedTransaction())) as [
        OpenedTransactionRow,
      ];
      return new AttemptTransaction(
        runner,
        cancelBackend,
        task,
        runId,
        opened.xact,
        opened.pid,
      );
    } catch (err) {
      // Without a connection there is nothing to roll back (nor to wait for
      // again): just give the query runner up.
      await giveBack(runner, async () => {
        if (connected) {
          await run(runner, rollbackAny());
        }
      });
      throw err;
    }
  }

  /** While the attempt's code runs (the lease keeper's question). */
  get running(): boolean {
    return !this.closed;
  }

  /**
   * Checks that the connection is still in the attempt's transaction, runs
   * the fenced outcome statement in it, then commits when it applied
   * (`applied` true), or rolls back when the claim was gone (nothing of the
   * attempt survives).
   *
   * @returns what `write` returned
   * @throws TransactionControlError when the transaction was ended or
   *   replaced while the attempt ran (nothing is committed)
   * @throws AttemptWritesFailedError when the attempt's own writes failed
   *   (its transaction aborted, or refused at COMMIT)
   */
  async commitWith<T>(
    write: (executor: SqlExecutor) => Promise<{ applied: boolean; value: T }>,
  ): Promise<T> {
    this.closed = true;
    return underwayCalls.run(this, async () => {
      try {
        await this.check();
        const { applied, value } = await write(
          new EntityManagerExecutor(this.runner.manager),
        );
        if (!applied) {
          await this.end();
          return value;
        }
        try {
          await this.runner.commitTransaction();
          this.committed = true;
        } catch (err) {
          // A deferred constraint, say: PostgreSQL rolled back.
          throw isDefiniteServerError(err)
            ? new AttemptWritesFailedError(err, 'commit')
            : err;
        }
        await this.end();
        return value;
      } catch (err) {
        await this.rollback(false);
        throw err;
      }
    });
  }

  /**
   * Rolls back and gives the connection back.
   * @param abandoned the attempt's code may still be running a query on it
   */
  async rollback(abandoned: boolean): Promise<void> {
    this.closed = true;
    if (this.ended) {
      return;
    }
    await underwayCalls.run(this, async () => {
      if (abandoned) {
        try {
          await this.cancelBackend(this.pid);
        } catch {
          // the rollback below (or its timeout) decides
        }
      }
      await this.end();
    });
  }

  /**
   * The connection must still be in the transaction opened for the attempt,
   * and that transaction not aborted.
   */
  private async check(): Promise<void> {
    if (this.runner.isReleased) {
      // Only a connection error releases it (the attempt's code may not):
      // the attempt runs again once its lease lapses, as after a crash.
      throw new Error(
        `the connection of the transaction of ${this.task} was closed`,
      );
    }
    const depth = (this.runner as RunnerInternals).transactionDepth;
    if (depth !== undefined && depth > 1) {
      throw new TransactionControlError(
        this.task,
        'a nested manager.transaction() or savepoint of it was still open',
        true,
      );
    }
    let current: CurrentTransactionRow | undefined;
    try {
      [current] = (await run(this.runner, currentTransaction())) as [
        CurrentTransactionRow,
      ];
    } catch (err) {
      if (isInFailedTransaction(err)) {
        throw new AttemptWritesFailedError(
          this.firstFailure?.error ?? err,
          'aborted',
        );
      }
      throw err;
    }
    if (current?.xact !== this.xact) {
      throw new TransactionControlError(
        this.task,
        current?.xact === null || current === undefined
          ? 'it was ended'
          : 'it was ended, and another one begun',
        true,
      );
    }
  }

  /**
   * Ends the transaction (a rollback unless it was just committed) and gives
   * the connection back; destroys it instead when it would go back inside a
   * transaction, or when the rollback fails or hangs.
   */
  private async end(): Promise<void> {
    if (this.ended) {
      return;
    }
    this.ended = true;
    try {
      await this.giveBack();
    } finally {
      this.markGiven();
    }
  }

  private async giveBack(): Promise<void> {
    if (this.runner.isReleased) {
      return; // destroyed with its connection error
    }
    const runner = this.runner as QueryRunner & RunnerInternals;
    await giveBack(runner, async () => {
      const status = this.transactionStatus();
      if (this.committed && (status === 'I' || status === undefined)) {
        return; // committed: nothing to roll back
      }
      // Otherwise a rollback, even where the transaction looks ended: it
      // also waits for a query the attempt may have left running.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        (async () => {
          if (runner.isTransactionActive && runner.transactionDepth === 1) {
            await runner.rollbackTransaction(); // with TypeORM's events
          } else {
            // TypeORM's view of it is off: end whatever the connection is in.
            await run(runner, rollbackAny());
            (runner as { isTransactionActive: boolean }).isTransactionActive =
              false;
            runner.transactionDepth = 0;
          }
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('the rollback did not finish in time')),
            ROLLBACK_TIMEOUT_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const after = this.transactionStatus();
      if (after !== undefined && after !== 'I') {
        throw new Error(
          `the connection was still in a transaction after its rollback (status ${after})`,
        );
      }
    });
  }

  /**
   * The connection's transaction status as of its last answer (`'I'` idle,
   * `'T'` in a transaction, `'E'` in an aborted one), or `undefined` where
   * `pg` does not tell (before 8.16, and its native client).
   */
  private transactionStatus(): string | undefined {
    const connection = (this.runner as RunnerInternals).databaseConnection;
    const status =
      typeof connection?.getTransactionStatus === 'function'
        ? connection.getTransactionStatus()
        : null;
    return status ?? undefined;
  }

  /**
   * Installs the guards on the attempt's query runner itself, so that they
   * hold whichever way its methods are reached (the manager, a repository, a
   * query builder, TypeORM's own code).
   */
  private guard(): void {
    const runner = this.runner as unknown as Record<Guarded, RunnerMethod>;
    for (const name of GUARDED) {
      const original = runner[name];
      runner[name] = (...args: unknown[]): Promise<unknown> => {
        if (underwayCalls.getStore() === this) {
          return original.apply(this.runner, args);
        }
        if (name === 'release' && this.closed) {
          // TypeORM's own release of every connected query runner (when the
          // DataSource is destroyed): the attempt is over, and Underway is
          // ending its transaction; its connection is free once that is done.
          return this.given;
        }
        const refusal = this.refusal(name, args);
        if (refusal) {
          return Promise.reject(refusal);
        }
        const result = original.apply(this.runner, args);
        return name === 'query' ? this.remember(result) : result;
      };
    }
  }

  /** Why the attempt's code may not make this call now, if it may not. */
  private refusal(name: Guarded, args: readonly unknown[]): Error | undefined {
    if (this.closed) {
      return new TransactionClosedError(this.task);
    }
    const depth = (this.runner as RunnerInternals).transactionDepth ?? 0;
    switch (name) {
      case 'query':
      case 'stream': {
        const text = args[0];
        const found =
          typeof text === 'string' ? findTransactionControl(text) : undefined;
        return found === undefined
          ? undefined
          : new TransactionControlError(this.task, found);
      }
      case 'startTransaction':
        // Inside the attempt's transaction, TypeORM makes it a savepoint.
        return depth >= 1
          ? undefined
          : new TransactionControlError(
              this.task,
              'queryRunner.startTransaction()',
            );
      case 'commitTransaction':
      case 'rollbackTransaction':
        // Of a savepoint (a nested manager.transaction()), not of the attempt's.
        return depth > 1
          ? undefined
          : new TransactionControlError(this.task, `queryRunner.${name}()`);
      case 'release':
        return new TransactionControlError(this.task, 'queryRunner.release()');
    }
  }

  /**
   * Remembers the first statement that failed since the last one that
   * succeeded: the one that aborted the transaction, if it is found aborted.
   */
  private remember(result: Promise<unknown>): Promise<unknown> {
    return result.then(
      (value) => {
        this.firstFailure = undefined;
        return value;
      },
      (err: unknown) => {
        this.firstFailure ??= { error: err };
        throw err;
      },
    );
  }
}

/** Runs one of Underway's statements on a query runner (structured result). */
async function run(runner: QueryRunner, query: SqlQuery): Promise<unknown[]> {
  const result = (await runner.query(query.text, [...query.values], true)) as {
    records?: unknown[];
  };
  return Array.isArray(result.records) ? result.records : [];
}

/**
 * Gives the connection back to the pool once `end` has left it outside any
 * transaction; destroys it when `end` failed (PostgreSQL rolls back what a
 * closed connection held), so that no transaction ever reaches the pool.
 */
async function giveBack(
  runner: QueryRunner,
  end: () => Promise<unknown>,
): Promise<void> {
  if (runner.isReleased) {
    return;
  }
  try {
    await end();
    await runner.release();
  } catch (err) {
    logger.warn(
      `Could not roll back an attempt's transaction cleanly (${(err as Error).message}); closing its connection`,
    );
    // An error given to the pool destroys the connection.
    const destroy = (runner as RunnerInternals).releasePostgresConnection;
    try {
      await (typeof destroy === 'function'
        ? destroy.call(runner, err as Error)
        : runner.release());
    } catch {
      // the connection is gone already
    }
  }
}

/** Opens the transactions of transactional attempts (the worker's one). */
export interface TransactionOpener {
  open(claim: Claim, task: string): Promise<AttemptTransaction>;
}

/**
 * The opener over the app's DataSource; `cancelBackend` runs on the
 * library's own pool; `opened` learns of each transaction opened for a
 * claim (the lease keeper watches its locks).
 */
export function transactionOpener(
  dataSource: () => DataSource,
  cancelBackend: CancelBackend,
  opened: (claim: Claim, backend: AttemptBackend) => void = () => undefined,
): TransactionOpener {
  return {
    open: async (claim, task) => {
      const transaction = await AttemptTransaction.open(
        dataSource(),
        cancelBackend,
        task,
        claim.kind === 'step' ? claim.id : claim.runId,
      );
      opened(claim, transaction);
      return transaction;
    },
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
  claim: Claim,
  task: string,
  attempt: (manager: EntityManager) => Promise<O | undefined>,
  unopened: (err: unknown) => O,
): Promise<{ outcome: O | undefined; transaction?: AttemptTransaction }> {
  let transaction: AttemptTransaction;
  try {
    transaction = await opener.open(claim, task);
  } catch (err) {
    return { outcome: unopened(err) };
  }
  return { outcome: await attempt(transaction.manager), transaction };
}
