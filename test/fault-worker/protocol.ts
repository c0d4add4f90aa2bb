/**
 * What the fault-test parent and its worker child processes share: the
 * environment variables that configure a child, the JSON lines it prints on
 * stdout, and the table where its steps record their side effects.
 *
 * Kept free of Nest and of the library, so both sides can import it cheaply.
 */

/** The child's configuration, one environment variable each. */
export const FAULT_ENV = {
  /** Connection string of the database (required). */
  databaseUrl: 'DATABASE_URL',
  /** Underway's schema; the effects table lives in it too (required). */
  schema: 'FAULT_SCHEMA',
  /** `runtime.instanceName`: in `application_name`, logs and `step_attempt.worker`. */
  instanceName: 'FAULT_INSTANCE',
  /** `defaults.heartbeat` (the lease), ms. */
  leaseMs: 'FAULT_HEARTBEAT_MS',
  /** `runtime.pollInterval`, ms. */
  pollMs: 'FAULT_POLL_MS',
  /** `runtime.concurrency`. */
  concurrency: 'FAULT_CONCURRENCY',
  /** `runtime.prefetch`: claimed runs waiting for a slot (default: the library's). */
  prefetch: 'FAULT_PREFETCH',
  /** `shutdownTimeout`, ms. */
  shutdownTimeoutMs: 'FAULT_SHUTDOWN_TIMEOUT_MS',
  /** `runtime.maintenanceInterval`, ms. */
  maintenanceMs: 'FAULT_MAINTENANCE_MS',
  /** `reconnectBackoff.initial` / `.max`, ms. */
  reconnectInitialMs: 'FAULT_RECONNECT_INITIAL_MS',
  reconnectMaxMs: 'FAULT_RECONNECT_MAX_MS',
  /**
   * Comma-separated workflow names this child registers (default: all but
   * `fault-ghost` and `fault-tx`). With `fault-tx` (transactional steps) the
   * child imports TypeOrmModule: Underway then connects through the app's
   * DataSource (and `underwayUrl` cannot be set).
   */
  workflows: 'FAULT_WORKFLOWS',
  /** `0`: do not print step-started/step-finished events (big runs). */
  stepEvents: 'FAULT_STEP_EVENTS',
  /** Default sleep of every step attempt, ms, when its input sets none. */
  stepSleepMs: 'FAULT_STEP_SLEEP_MS',
  /** Where Underway connects, when not `databaseUrl` (a proxy); effects use `databaseUrl`. */
  underwayUrl: 'FAULT_UNDERWAY_URL',
  /** `connections.statementTimeout`, ms (default: the library's). */
  statementTimeoutMs: 'FAULT_STATEMENT_TIMEOUT_MS',
  /** `1`: install an OpenTelemetry SDK that prints each finished span (`span` events). */
  traces: 'FAULT_TRACES',
} as const;

/**
 * What a step does, from the run's input (passed on unchanged from step to
 * step). Everything is optional: by default a step records its side effect
 * and moves on at once.
 */
export interface FaultInput {
  /** Each attempt sleeps this long (honouring `ctx.signal` unless `ignoreSignal`). */
  readonly sleepMs?: number;
  /** Sleep through `ctx.signal` (a step that hangs past its timeout or lost lease). */
  readonly ignoreSignal?: boolean;
  /** Throw this kind of value on every attempt (poison input). */
  readonly throw?: 'error' | 'string' | 'object' | 'undefined' | 'fatal';
  /** SIGKILL the worker process itself on every attempt (crash loop). */
  readonly crash?: boolean;
  /** One attempt misbehaves differently (see `OnceFault`). */
  readonly once?: OnceFault;
  /** Anything, to tell runs apart. */
  readonly tag?: string | number;
}

/** Attempt `attempt` (default 1) of step `step` (default 0) only. */
export interface OnceFault {
  readonly step?: number;
  readonly attempt?: number;
  /** Sleeps this long instead of `sleepMs`. */
  readonly sleepMs?: number;
  /**
   * Records the side effect, then stops its own process (SIGSTOP) until the
   * test resumes it (SIGCONT); then returns at once. Deterministic: the
   * process is stopped at a known point of the step, with its claim held.
   */
  readonly stopSelf?: boolean;
}

/**
 * The input of the `fault-tx` workflow (passed on to its second step): two
 * transactional steps (`@Step({ transactional: true })`), each inserting
 * `rows` app rows (`appRowsTable`) through `ctx.manager`, which commit with
 * the step's outcome, or not at all.
 */
export interface TxFaultInput {
  /** App rows each attempt of each step inserts (default 3). */
  readonly rows?: number;
  /** One attempt misbehaves in the middle of its transaction (see `TxOnceFault`). */
  readonly once?: TxOnceFault;
  /** Anything, to tell runs apart. */
  readonly tag?: string | number;
}

/**
 * Attempt `attempt` (default 1) of step `step` (default 0) writes
 * `afterRows` of its rows, prints a `tx-wrote` event (what its transaction
 * holds so far), then does `then`.
 */
export interface TxOnceFault {
  readonly step?: number;
  readonly attempt?: number;
  /**
   * `stop`: every row written and the side effect recorded, it stops its own
   * process (SIGSTOP) with its transaction open and its claim held; once
   * resumed (SIGCONT) it returns at once, writing nothing more. `sleep`: it
   * sleeps `sleepMs` between two writes (its transaction idle); `slowWrite`:
   * its next write is a statement that runs `sleepMs` (a write in flight).
   * Then it writes the rest.
   */
  readonly then: 'stop' | 'sleep' | 'slowWrite';
  /** Rows written before `then` (default: all of them for `stop`, 1 otherwise). */
  readonly afterRows?: number;
  /** For `sleep` and `slowWrite` (default 60 s). */
  readonly sleepMs?: number;
}

/**
 * One activity call of the `fault-activity` workflow: what its body does on
 * each attempt. By default it records itself in the ledger and returns.
 */
export interface CallSpec {
  /** Every attempt sleeps this long (honouring its signal). */
  readonly sleepMs?: number;
  /** Attempt `attempt` (default 1) sleeps `sleepMs` instead: a body to kill mid-flight. */
  readonly once?: { readonly attempt?: number; readonly sleepMs: number };
  /** Sleeps `sleepMs` when it runs on `instance` only: a body still running at shutdown. */
  readonly slowOn?: { readonly instance: string; readonly sleepMs: number };
  /** Made with the `fragile` activity (3 attempts) instead of `work` (10). */
  readonly fragile?: boolean;
  /** SIGKILL the worker process itself on every attempt (an activity crash loop). */
  readonly crash?: boolean;
}

/** The input of the `fault-activity` workflow (passed on to its second step). */
export interface ActivityFaultInput {
  /** Step 0 makes these calls in parallel (`Promise.all`). */
  readonly calls: readonly CallSpec[];
  /** Step 0 then emits `note` (fire-and-forget), written with its outcome. */
  readonly emit?: boolean;
  /** Step 1 makes this one call (default `{}`). */
  readonly then?: CallSpec;
  /** Anything, to tell runs apart. */
  readonly tag?: string | number;
}

/** What an activity body returns: who ran which attempt of which call. */
export interface CallResult {
  readonly by: string;
  readonly pid: number;
  readonly attempt: number;
  readonly callIndex: number;
}

/** The output of a run's last step: which worker completed it. */
export interface FaultOutput {
  readonly by: string;
  readonly pid: number;
  readonly attempt: number;
}

export type StepOutcome = 'next' | 'complete';

/** The output of `fault-activity`: what its steps' calls returned. */
export interface ActivityFaultOutput extends FaultOutput {
  /** Step 0's calls, in call order. */
  readonly results: readonly CallResult[];
  /** Step 1's call. */
  readonly last: CallResult;
}

/** A step attempt began (right after its claim) or finished its body. */
export interface StepEvent {
  event: 'step-started' | 'step-finished';
  instance: string;
  pid: number;
  runId: string;
  workflow: string;
  step: number;
  attempt: number;
  /** `Date.now()` in the child. */
  at: number;
}

/** A transactional step of `fault-tx` wrote part of its rows (`TxOnceFault`), uncommitted. */
export interface TxWroteEvent {
  event: 'tx-wrote';
  instance: string;
  pid: number;
  runId: string;
  step: number;
  attempt: number;
  /** The attempt's rows its own transaction sees (nobody else does yet). */
  rows: number;
  /** `pg_backend_pid()` of the connection holding the transaction. */
  backendPid: number;
  /** What it does next (`TxOnceFault.then`). */
  then: TxOnceFault['then'];
}

/** A finished span of the child (with `FAULT_TRACES=1`). */
export interface SpanEvent {
  event: 'span';
  instance: string;
  pid: number;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** The span ids it links to. */
  links: string[];
  attributes: Record<string, unknown>;
}

/** One JSON line of the child's stdout. */
export type FaultEvent =
  | { event: 'ready'; instance: string; pid: number }
  | SpanEvent
  | StepEvent
  | TxWroteEvent
  | {
      event: 'log';
      instance: string;
      pid: number;
      level: string;
      context: string | undefined;
      message: string;
    }
  | {
      event: 'uncaught';
      instance: string;
      pid: number;
      kind: string;
      message: string;
    }
  | { event: 'boot-failed'; instance: string; pid: number; message: string };

/** The table (in the test's schema) where steps record their side effects. */
export function effectsTable(schema: string): string {
  return `${schema}.fault_effect`;
}

/** The table (in the test's schema) where step and activity bodies log each execution. */
export function ledgerTable(schema: string): string {
  return `${schema}.fault_ledger`;
}

/**
 * The app table of `fault-tx` (in the test's schema, created by the test
 * with `createAppRowsTableSql`): rows its transactional steps insert
 * through `ctx.manager`, keyed by run id, each naming the step, attempt and
 * worker that wrote it. Nothing is unique across attempts, so that a stale
 * attempt's open transaction never blocks its successor's writes.
 */
export function appRowsTable(schema: string): string {
  return `${schema}.fault_app_row`;
}

export function createAppRowsTableSql(schema: string): string {
  return `
    create schema if not exists ${schema};
    create table if not exists ${appRowsTable(schema)} (
      id bigserial primary key,
      run_id uuid not null,
      step int not null,
      attempt int not null,
      instance text not null,
      pid int not null,
      item int not null,
      at timestamptz not null default clock_timestamp(),
      unique (run_id, step, attempt, item)
    );
    create index if not exists fault_app_row_run on ${appRowsTable(schema)} (run_id)`;
}

/** One line of the ledger: an execution of a body began, or reached its end. */
export interface LedgerEntry {
  /** Random, one per execution: a retried insert (unknown commit outcome) is harmless. */
  readonly token: string;
  readonly runId: string;
  readonly kind: 'step' | 'activity';
  readonly step: number;
  /** Activities only. */
  readonly callIndex: number | null;
  /** The step's method or the activity's durable name. */
  readonly name: string;
  readonly attempt: number;
  /**
   * `started`: the body began (recorded before it does anything else);
   * `done`: it reached its end (a step: all its calls answered, about to
   * return its transition; an activity: about to return its result).
   */
  readonly phase: 'started' | 'done';
}

/**
 * One row per executed step body that reached its side effect. `phase` is
 * `done` when the step body finished its work (just before returning its
 * transition). Unique per (run, step, attempt, instance, phase), so a retried
 * insert after an unknown commit outcome is harmless.
 *
 * Also creates the ledger (`LedgerEntry`): one row per execution of a body
 * of the `fault-activity` workflow, step or activity, replays included, so
 * that a test can count executions against `step_attempt` and
 * `activity_attempt`.
 */
export function createEffectsTableSql(schema: string): string {
  return `
    create schema if not exists ${schema};
    create table if not exists ${effectsTable(schema)} (
      id bigserial primary key,
      run_id uuid not null,
      step int not null,
      attempt int not null,
      instance text not null,
      pid int not null,
      phase text not null,
      at timestamptz not null default clock_timestamp(),
      unique (run_id, step, attempt, instance, phase)
    );
    create table if not exists ${ledgerTable(schema)} (
      id bigserial primary key,
      token uuid not null,
      run_id uuid not null,
      kind text not null check (kind in ('step', 'activity')),
      step int not null,
      call_index int,
      name text not null,
      attempt int not null,
      instance text not null,
      pid int not null,
      phase text not null check (phase in ('started', 'done')),
      at timestamptz not null default clock_timestamp(),
      unique (token, phase)
    )`;
}
