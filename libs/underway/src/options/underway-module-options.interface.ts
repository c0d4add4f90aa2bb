import type { DataSource, DataSourceOptions } from 'typeorm';
import type { Duration } from '../common/duration';
import type { RetryPolicy } from '../common/retry-policy';

/**
 * Policies applied to every workflow and step unless they set their own.
 *
 * @publicApi
 */
export interface WorkflowDefaults {
  /** Retry policy; merged field by field under workflow and step policies. */
  retry?: RetryPolicy;
  /** Longest a single step attempt may run before `ctx.signal` aborts it. @default '15m' */
  timeout?: Duration;
  /**
   * The lease of a claimed step: it lapses when no heartbeat renews it within
   * this interval, and another worker takes the step over. Workers renew three
   * times per interval. @default '30s'
   */
  heartbeat?: Duration;
  /** How long a finished run (succeeded, failed, cancelled) is kept. @default '14d' */
  ttl?: Duration;
}

/**
 * Options of the worker that runs steps in this process.
 *
 * @publicApi
 */
export interface RuntimeOptions {
  /** Steps running at once in this process. @default 10 */
  concurrency?: number;
  /**
   * Runs claimed ahead, beyond `concurrency`, that wait here for a free slot
   * (their leases are renewed meanwhile), so that short steps do not wait for
   * a claim round trip each time a slot frees. `'auto'`: as many as this
   * worker starts in about 50 ms at its current pace (none while it is idle
   * or its steps are slow), at most 1,000, and never more than it starts in
   * half its shortest lease. A number: exactly that many (0: none). The cost
   * of claiming ahead: those runs wait here rather than on another worker,
   * and if this process dies they wait for their lease to lapse.
   * @default 'auto'
   */
  prefetch?: number | 'auto';
  /** Fallback poll when no notification arrives. @default '1s' */
  pollInterval?: Duration;
  /** Run only these workflows here. @default all registered workflows */
  workflows?: string[];
  /** Names this process in `application_name` and logs. @default '<hostname>:<pid>' */
  instanceName?: string;
  /** Period of housekeeping (retention, concurrency-slot tidying, queue gauges); expired leases are swept on every poll. @default '1m' */
  maintenanceInterval?: Duration;
  /**
   * How long a run may wait, due, at a step that the code of its workflow
   * version here does not have (a rolling deploy, or a step removed) before
   * it fails with code `step_not_found` (dead-lettered where configured;
   * `client.retry` resumes it once code that has the step runs). Until then it
   * uses no attempt: an instance whose code has the step picks it up.
   * Checked every `maintenanceInterval`. @default '10m'
   */
  unknownStepGrace?: Duration;
}

/**
 * Bounds on the library's own connections (its worker pool, heartbeat,
 * listener and housekeeping connections; not the app's pool, nor calls made
 * with `manager`), so that a connection that stops answering without closing
 * (a half-open TCP connection: a network partition, a dropped NAT or firewall
 * entry) is detected in seconds, dropped and replaced.
 *
 * @publicApi
 */
export interface ConnectionOptions {
  /**
   * The longest a statement may run. PostgreSQL cancels it past this time
   * (`statement_timeout`, and `idle_in_transaction_session_timeout` for a
   * transaction left open), and the client drops a connection that has not
   * answered within half as long again (250 ms to 5 s more). Housekeeping
   * statements get three times as long; lease renewals at most a quarter of
   * the shortest lease they renew (250 ms at least); the `LISTEN` connection
   * is pinged this often; migrations are not bounded.
   * Between 100ms and 1h. @default '10s'
   */
  statementTimeout?: Duration;
  /**
   * The longest a new connection may take to be established (and to wait for
   * a free connection of the library's pool). Between 100ms and 10m.
   * @default the DataSource's `connectTimeoutMS`, else '10s'
   */
  connectTimeout?: Duration;
  /**
   * `false` for a transaction pooler without prepared-statement support
   * (PgBouncer before 1.21 in `pool_mode = transaction`, and most managed
   * poolers): every statement is sent unnamed (parsed and planned each time),
   * and the library's connections send no startup parameter (`options`),
   * which poolers refuse: their `statement_timeout` and `search_path` then
   * come from the role's settings, and the client-side bound
   * (`statementTimeout` × 1.5) still drops a connection that stops answering.
   * Pair it with `listenUrl`. @default true
   */
  preparedStatements?: boolean;
  /**
   * A direct connection URL (`postgres://…`, not through the pooler) for the
   * one connection each worker keeps for `LISTEN`: a transaction pooler does
   * not deliver notifications. Without it, such a worker is woken by its
   * `pollInterval` only. @default the DataSource's connection
   */
  listenUrl?: string;
}

/**
 * Options of `UnderwayModule.forRoot()` / `forRootAsync()`. All are optional.
 *
 * @publicApi
 */
export interface UnderwayModuleOptions {
  /**
   * The database: a TypeORM `DataSource` or its options. By default, the app's
   * DataSource registered by `TypeOrmModule.forRoot()` (see `dataSourceName`).
   */
  dataSource?: DataSource | DataSourceOptions;
  /**
   * The name of the app's DataSource, when it is not the default one: the
   * `name` given to `TypeOrmModule.forRoot({ name })`, which
   * `@InjectDataSource(name)` injects too.
   */
  dataSourceName?: string;
  /** The PostgreSQL schema holding Underway's tables. @default 'underway' */
  schema?: string;
  /** Apply `underwayMigrations` at boot, under an advisory lock. @default true */
  migrationsRun?: boolean;
  /**
   * The worker, or `false` for an instance that only enqueues and inspects,
   * or `'manual'` for tests: no background worker; the testing kit
   * (`@underway/nestjs/testing`) runs the due work in the test's process,
   * through the same claim, attempt and commit path, when the test calls
   * `drain()`. @default {}
   */
  runtime?: false | 'manual' | RuntimeOptions;
  /** Largest input or output, in bytes of JSON. @default 1048576 (1 MiB) */
  maxInputSize?: number;
  /** How long shutdown waits for in-flight steps before aborting them. @default '30s' */
  shutdownTimeout?: Duration;
  /** Policies for every workflow and step that does not set its own. */
  defaults?: WorkflowDefaults;
  /**
   * Waits between attempts at reaching the database when it is down (at boot,
   * for claims, outcomes, the listener): jittered, doubling from `initial` up
   * to `max`. @default { initial: '100ms', max: '5s' }
   */
  reconnectBackoff?: { initial?: Duration; max?: Duration };
  /** Timeouts of the library's own connections; see `ConnectionOptions`. */
  connections?: ConnectionOptions;
}

/**
 * A class that makes the module's options, for
 * `UnderwayModule.forRootAsync({ useClass })` (or `useExisting`), after the
 * Nest convention (`TypeOrmOptionsFactory`):
 *
 * ```ts
 * @Injectable()
 * export class UnderwayConfig implements UnderwayOptionsFactory {
 *   constructor(private readonly config: ConfigService) {}
 *   createUnderwayOptions(): UnderwayModuleOptions {
 *     return { runtime: { concurrency: Number(this.config.get('WORKER_CONCURRENCY') ?? 10) } };
 *   }
 * }
 * ```
 *
 * @publicApi
 */
export interface UnderwayOptionsFactory {
  createUnderwayOptions():
    UnderwayModuleOptions | Promise<UnderwayModuleOptions>;
}
