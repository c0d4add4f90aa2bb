// Over 300 lines on purpose: one job, the library's own connections: its pools
// and listener client, their roles, bounds and application names, and the app's
// DataSource lookup.
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Client, Pool, PoolConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import type { DatabaseOptions } from './database-options';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { connectionConfigFrom } from './connection-config';
import { applicationName, ConnectionRole } from './connection-role';
import {
  serverSettings,
  StatementBounds,
  statementBounds,
} from './statement-bounds';

/** Connections of the main pool: claims, outcomes, and client calls without `manager`. */
const MAIN_POOL_SIZE = 10;

/**
 * The library's own connections, separate from the app's TypeORM pool so that a
 * busy app cannot starve the workers: a main pool, a one-connection heartbeat
 * pool (a lease must be renewed even when the main pool is saturated), and
 * listener clients. Each sets `application_name` to `underway:<instance>:<role>`
 * and has an `'error'` listener, so a dropped connection never crashes the process.
 */
@Injectable()
export class UnderwayDatabase implements OnApplicationShutdown {
  private readonly logger = new Logger(UnderwayDatabase.name);
  private config: PoolConfig | undefined;
  private mainPool: Pool | undefined;
  private heartbeatPool: Pool | undefined;
  private maintenancePool: Pool | undefined;
  private migrationPool: Pool | undefined;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(
    @Inject(UNDERWAY_OPTIONS) private readonly options: DatabaseOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * Claims, outcomes, client calls.
   * @throws UnderwayClosedError after close(), instead of pg's "Cannot use a
   * pool after calling end on the pool" (and instead of opening a new pool
   * that nothing would ever close)
   */
  get pool(): Pool {
    this.assertOpen('claim');
    this.mainPool ??= this.createPool('claim', MAIN_POOL_SIZE);
    return this.mainPool;
  }

  /** Lease renewals (the connection of their own). @throws UnderwayClosedError after close() */
  get heartbeat(): Pool {
    this.assertOpen('heartbeat');
    this.heartbeatPool ??= this.createPool('heartbeat', 1);
    return this.heartbeatPool;
  }

  /** Retention and other housekeeping, off the claim and heartbeat paths. @throws UnderwayClosedError after close() */
  get maintenance(): Pool {
    this.assertOpen('maintenance');
    this.maintenancePool ??= this.createPool('maintenance', 1);
    return this.maintenancePool;
  }

  /**
   * Schema migrations and the version check at boot: one connection without
   * statement bounds (a migration may take long on a big table, and
   * instances booting together wait on its advisory lock); ended after boot.
   */
  get migrations(): Pool {
    this.assertOpen('exec');
    this.migrationPool ??= this.createPool('exec', 1, false);
    return this.migrationPool;
  }

  /** Ends the migration pool once boot no longer needs it. */
  async releaseMigrations(): Promise<void> {
    const pool = this.migrationPool;
    this.migrationPool = undefined;
    await pool?.end();
  }

  /** The statement bounds of the connections of `role` (`connections.statementTimeout`). */
  bounds(role: ConnectionRole): StatementBounds {
    return statementBounds(role, this.options.connections.statementTimeoutMs);
  }

  /** True from the moment close() begins (the application's shutdown). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Aborted when close() begins, before the pools end: wakes a pending `result()`. */
  get closedSignal(): AbortSignal {
    return this.closing.signal;
  }

  /**
   * A new, unconnected client for `LISTEN` (on `connections.listenUrl` when
   * set: a pooler does not deliver notifications); the caller owns it.
   */
  createClient(role: ConnectionRole): Client {
    const config = this.roleConfig(role, true);
    const { listenUrl } = this.options.connections;
    if (listenUrl === undefined) {
      return new Client(config);
    }
    const direct = connectionConfigFrom({ type: 'postgres', url: listenUrl });
    return new Client({
      ...config,
      ...direct,
      options:
        `${direct.options ?? ''} -c search_path=pg_catalog ${serverSettings(this.bounds(role))}`.trim(),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    // Marked before the pools end, synchronously: a call made while they end
    // gets UnderwayClosedError, never pg's message.
    this.closed = true;
    this.closing.abort();
    const pools = [
      this.mainPool,
      this.heartbeatPool,
      this.maintenancePool,
      this.migrationPool,
    ].filter((pool): pool is Pool => pool !== undefined);
    await Promise.all(pools.map((pool) => pool.end()));
  }

  private assertOpen(role: ConnectionRole): void {
    if (this.closed) {
      throw new UnderwayClosedError(`a statement on Underway's ${role} pool`);
    }
  }

  private createPool(role: ConnectionRole, max: number, bounded = true): Pool {
    const pool = new Pool({
      ...this.roleConfig(role, bounded),
      max,
      idleTimeoutMillis: 30_000,
      // Through a transaction pooler: no named statement outlives its
      // transaction's server connection, so none is named.
      ...(this.options.connections.preparedStatements
        ? {}
        : { Client: UnnamedStatementClient }),
    });
    pool.on('error', (err) => {
      // An idle client lost its connection (server restart, terminated backend):
      // the pool discards it and opens a new one on demand. After close(), a
      // connection still on its way out may see the server stop: not news.
      if (this.closed) {
        return;
      }
      this.logger.warn(`Idle ${role} connection dropped: ${err.message}`);
    });
    pool.on('connect', (client) => {
      // A checked-out client has no pool listener; without this one, a
      // connection that drops mid-query would raise an unhandled 'error' event.
      // The failing query itself rejects, and the caller decides.
      client.on('error', () => undefined);
    });
    return pool;
  }

  /**
   * The settings of a connection of `role`. Bounded: every statement has a
   * server-side `statement_timeout` and a client-side `query_timeout`, so a
   * connection that stops answering without closing is dropped in seconds
   * (see `statement-bounds.ts`); and so does connecting.
   */
  private roleConfig(role: ConnectionRole, bounded: boolean): PoolConfig {
    const config = this.connectionConfig();
    const connectTimeout =
      this.options.connections.connectTimeoutMs ??
      config.connectionTimeoutMillis;
    const pooled = !this.options.connections.preparedStatements;
    const base: PoolConfig = {
      ...config,
      connectionTimeoutMillis: connectTimeout,
      application_name: applicationName(this.options.instanceName, role),
      // A pooler refuses startup parameters (`options`).
      ...(pooled ? { options: undefined } : {}),
    };
    if (!bounded) {
      return base;
    }
    const bounds = this.bounds(role);
    if (pooled) {
      // The client-side bound only (the server's come from the role).
      return { ...base, query_timeout: bounds.clientMs };
    }
    return {
      ...base,
      options:
        `${config.options ?? ''} ${serverSettings(bounds)}${planSettings(role)}`.trim(),
      query_timeout: bounds.clientMs,
    };
  }

  private connectionConfig(): PoolConfig {
    if (!this.config) {
      const config = connectionConfigFrom(this.resolveDataSource());
      // Every statement is schema-qualified; pinning search_path keeps objects
      // of other schemas from ever shadowing the built-ins it calls.
      const pin = '-c search_path=pg_catalog';
      this.config = {
        ...config,
        options: config.options ? `${config.options} ${pin}` : pin,
      };
    }
    return this.config;
  }

  /**
   * The app's DataSource, for transactional steps and activities (their
   * writes go through its EntityManager).
   * @throws InvalidOptionsError when the module was given DataSourceOptions
   */
  appDataSource(): DataSource {
    const source = this.resolveDataSource();
    if (typeof (source as DataSource).createQueryRunner !== 'function') {
      throw new InvalidOptionsError(
        'dataSource',
        'is DataSourceOptions, but transactional steps and activities write through the app’s own DataSource: ' +
          'pass UnderwayModule.forRoot({ dataSource }) the DataSource instance, or use TypeOrmModule',
      );
    }
    return source as DataSource;
  }

  /**
   * Checks, at boot, that the DataSource Underway was given (or found) is
   * initialized. Underway reads through it (transactional steps and
   * activities) but does not own it, so it neither initializes it (which
   * would open a pool nobody closes, and make the app's own `initialize()`
   * throw) nor waits for it: a DataSource not initialized by then, or
   * destroyed, would otherwise boot and fail far later, at the first
   * transactional step, with TypeORM's "Driver not Connected".
   * DataSourceOptions need nothing: Underway opens its own pools from them.
   * @throws InvalidOptionsError naming the fix
   */
  assertDataSourceReady(): void {
    const source = this.resolveDataSource() as Partial<DataSource>;
    if (typeof source.isInitialized !== 'boolean' || source.isInitialized) {
      return;
    }
    if (this.options.dataSource) {
      throw new InvalidOptionsError(
        'dataSource',
        'is a DataSource that is not initialized (never, or destroyed since). Underway reads through it ' +
          '(transactional steps and activities) but does not own it: initialize it before the app boots ' +
          '(await dataSource.initialize(), for instance in the factory of UnderwayModule.forRootAsync), ' +
          'let TypeOrmModule create it, or pass its DataSourceOptions (dataSource.options) if Underway ' +
          'is only to connect to the same database',
      );
    }
    const name = this.options.dataSourceName;
    throw new InvalidOptionsError(
      'dataSource',
      `the app's DataSource${name ? ` "${name}"` : ''} is not initialized (TypeOrmModule's manualInitialization, ` +
        'or destroyed since): initialize it before the app boots, or pass UnderwayModule.forRoot({ dataSource }) ' +
        'its DataSourceOptions if Underway is only to connect to the same database',
    );
  }

  private resolveDataSource(): NonNullable<DatabaseOptions['dataSource']> {
    if (this.options.dataSource) {
      return this.options.dataSource;
    }
    const token = appDataSourceToken(this.options.dataSourceName);
    if (token === undefined) {
      throw new InvalidOptionsError(
        'dataSource',
        'no DataSource was given, and @nestjs/typeorm (through which Underway finds the app’s) is not installed. ' +
          'Pass UnderwayModule.forRoot({ dataSource }) (a DataSource or DataSourceOptions), or install @nestjs/typeorm',
      );
    }
    let dataSource: DataSource | undefined;
    try {
      dataSource = this.moduleRef.get<DataSource>(token, { strict: false });
    } catch {
      dataSource = undefined;
    }
    if (!dataSource) {
      throw new InvalidOptionsError(
        'dataSource',
        `no DataSource was given and none is registered${this.options.dataSourceName ? ` under the name "${this.options.dataSourceName}"` : ''}. ` +
          'Import TypeOrmModule.forRoot({ type: "postgres", … }) in your app, or pass UnderwayModule.forRoot({ dataSource })',
      );
    }
    return dataSource;
  }
}

type NestTypeOrm = typeof import('@nestjs/typeorm');

/**
 * `@nestjs/typeorm`'s token for the app's DataSource, or `undefined` when that
 * optional peer is not installed (an app that passes `dataSource` needs no
 * `@nestjs/typeorm`): loaded here, not imported at the top, for that reason.
 */
function appDataSourceToken(
  name: string | undefined,
): ReturnType<NestTypeOrm['getDataSourceToken']> | undefined {
  let nestTypeOrm: NestTypeOrm;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    nestTypeOrm = require('@nestjs/typeorm') as NestTypeOrm;
  } catch (err) {
    const missing =
      (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
      (err as Error).message.includes("'@nestjs/typeorm'");
    if (missing) {
      return undefined;
    }
    throw err;
  }
  return nestTypeOrm.getDataSourceToken(name);
}

/**
 * The claim statement's plan does not depend on its values (the index scan
 * is the same for any limit and workflow), yet PostgreSQL's plan cache,
 * weighing its CTEs, keeps planning it afresh on every execution: about
 * 0.5 ms of planning per claim, half of what an idle worker's claim costs.
 * The main pool's statements are the library's own, all planned once. A
 * generic plan assumes a tenth of the table for a LIMIT, an estimate that
 * crosses `jit_above_cost` on a large queue, and JIT compiling would then
 * cost tens of ms per claim: its short statements never gain from JIT.
 */
function planSettings(role: ConnectionRole): string {
  return role === 'claim'
    ? ' -c plan_cache_mode=force_generic_plan -c jit=off'
    : '';
}

/**
 * A `pg` client that sends every statement unnamed: `connections.
 * preparedStatements: false`, for a transaction pooler, where a statement
 * prepared on one server connection is missing (or already there) on the next.
 */
class UnnamedStatementClient extends Client {
  override query(...args: unknown[]): never {
    const [first] = args;
    if (
      typeof first === 'object' &&
      first !== null &&
      'name' in first &&
      (first as { name?: unknown }).name !== undefined
    ) {
      const { name: _name, ...unnamed } = first as Record<string, unknown>;
      void _name;
      args[0] = unnamed;
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}
