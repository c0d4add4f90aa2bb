import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { MigrationRunner } from './database/migration.runner';
import { syncDeclaredSchedules } from './schedule/schedule-sync';
import { isTransientPgError } from './database/pg-errors';
import { retryTransient } from './database/transient-retry';
import { UnderwayDatabase } from './database/underway-database';
import { UnderwayExplorer } from './discovery/underway.explorer';
import { WorkflowRegistry } from './discovery/workflow.registry';
import { PoolExecutor } from './database/sql-executor';
import { TransitionWriter } from './engine/transition.writer';
import { DatabaseUnavailableError } from './errors/database-unavailable.error';
import type { ResolvedOptions } from './options/resolved-options';
import { UNDERWAY_OPTIONS } from './underway.constants';

/** How long a client call waits for a schema that is not ready yet. */
const READY_WAIT_MS = 10_000;

/**
 * Boot, in order: register the workflows (typed errors for bad decorators),
 * then migrate the schema (or check its version when `migrationsRun` is false),
 * sync the declared schedules, and name the runs from before versions.
 *
 * A database that cannot be reached at boot does not fail the boot: the app
 * starts, Underway retries in the background with a log line per attempt, and
 * the worker starts once the schema is ready. Any other error (a newer schema,
 * bad credentials) fails the boot.
 */
@Injectable()
export class UnderwayBootstrap implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(UnderwayBootstrap.name);
  private readonly stopSignal = new AbortController();
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private isReady = false;
  private lastError: unknown;
  private retrying: Promise<void> | undefined;

  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly explorer: UnderwayExplorer,
    private readonly registry: WorkflowRegistry,
    private readonly database: UnderwayDatabase,
    private readonly writer: TransitionWriter,
  ) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined);
  }

  /** Resolves once the schema is ready; rejects if it never can be. */
  get ready(): Promise<void> {
    return this.readyPromise;
  }

  async onModuleInit(): Promise<void> {
    this.explorer.explore();
    if (this.options.runtime) {
      // Checked before any connection is opened: a bad list fails the boot at once.
      this.registry.namesToRun(this.options.runtime.workflows);
    }
    // So is a DataSource that is not initialized, or was destroyed.
    this.database.assertDataSourceReady();
    try {
      await this.prepareSchema();
      this.markReady();
    } catch (err) {
      if (!isTransientPgError(err)) {
        // The boot fails, and Nest runs no shutdown hook after a failed init
        // (app.close() rethrows the init error): close the pools here, or
        // their idle connections keep the process alive for 30 s.
        await this.database.close();
        throw err;
      }
      this.lastError = err;
      this.logger.warn(
        `Cannot reach the database at boot (${(err as Error).message}). Starting anyway: ` +
          'Underway retries in the background and starts its worker once the database is back.',
      );
      this.retrying = this.retryInBackground();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopSignal.abort();
    await this.retrying;
  }

  /**
   * For client calls: returns at once when ready, otherwise waits a while.
   * @throws DatabaseUnavailableError when the schema is still not ready
   */
  async whenReady(): Promise<void> {
    if (this.isReady) {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      this.readyPromise.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), READY_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (!ready) {
      throw new DatabaseUnavailableError(READY_WAIT_MS, {
        cause: this.lastError,
      });
    }
  }

  private async retryInBackground(): Promise<void> {
    try {
      await retryTransient(() => this.prepareSchema(), {
        backoff: this.options.reconnectBackoff,
        signal: this.stopSignal.signal,
        onRetry: (err, attempt, delayMs) => {
          this.lastError = err;
          this.logger.warn(
            `Unable to reach the database (attempt ${attempt + 1}): ${err.message}. Retrying in ${delayMs}ms`,
          );
        },
      });
      this.logger.log('The database is reachable: schema ready, starting');
      this.markReady();
    } catch (err) {
      if (!this.stopSignal.signal.aborted) {
        this.logger.error(
          `Underway cannot start: ${(err as Error).message}`,
          (err as Error).stack,
        );
      }
      this.rejectReady(err);
    }
  }

  private async prepareSchema(): Promise<void> {
    const migrations = new MigrationRunner(
      this.database.migrations,
      this.options.schema,
    );
    try {
      if (this.options.migrationsRun) {
        await migrations.migrate();
      } else {
        await migrations.assertCurrent();
      }
      // On a bounded connection: a schedule row held by a stalled instance
      // is waited for only until the statement timeout, then retried.
      await syncDeclaredSchedules(
        this.database.pool,
        this.options.schema,
        this.registry.latest(),
      );
      await this.nameRunsFromBeforeVersions();
    } finally {
      // Its one connection is for boot only.
      await this.database.releaseMigrations();
    }
  }

  /**
   * Runs enqueued before versions have no step name: those of the workflows
   * registered here are named from this code, by position (once: a named
   * run is never renamed).
   */
  private async nameRunsFromBeforeVersions(): Promise<void> {
    const names = this.registry.names();
    if (names.length === 0) {
      return;
    }
    const named = await this.writer.nameRuns(
      new PoolExecutor(this.database.pool),
      this.registry.scopeOf(names),
      this.registry.stepNamesOf(names),
    );
    if (named > 0) {
      this.logger.log(
        `Named the current step of ${named} unfinished run(s) enqueued before workflow versions, from this code's step order`,
      );
    }
  }

  private markReady(): void {
    this.isReady = true;
    this.resolveReady();
  }
}
