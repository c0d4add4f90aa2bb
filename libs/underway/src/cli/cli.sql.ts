import type { SqlExecutor } from '../database/sql-executor';
import { ident, Schema, sql, SqlQuery } from '../database/sql';

/** The version the schema's migrations reached (0: none, or no such schema). */
export async function schemaVersion(
  executor: SqlExecutor,
  schema: Schema,
): Promise<number> {
  const table = `${ident(schema).quoted}.migration`;
  const found = await executor.query<{ exists: boolean }>(
    sql`select to_regclass(${table}) is not null as exists`,
  );
  if (!found.rows[0]?.exists) {
    return 0;
  }
  const result = await executor.query<{ version: number }>(
    sql`select coalesce(max(version), 0)::int as version from ${ident(schema)}.migration`,
  );
  return result.rows[0]?.version ?? 0;
}

/** Whether the schema exists at all (migrated or not). */
export async function schemaExists(
  executor: SqlExecutor,
  schema: Schema,
): Promise<boolean> {
  const { rows } = await executor.query<{ exists: boolean }>(
    sql`select exists (select 1 from pg_catalog.pg_namespace where nspname = ${schema}) as exists`,
  );
  return rows[0]?.exists === true;
}

/**
 * The schemas of this database that hold Underway's tables (a `workflow_run`
 * table and a `migration` table), by name: where `--schema` should point.
 */
export async function underwaySchemas(
  executor: SqlExecutor,
): Promise<string[]> {
  const { rows } = await executor.query<{ schema: string }>(
    sql`
    select n.nspname as schema
    from pg_catalog.pg_namespace n
    where exists (
        select 1 from pg_catalog.pg_class c
        where c.relnamespace = n.oid and c.relname = 'workflow_run' and c.relkind in ('r', 'p'))
      and exists (
        select 1 from pg_catalog.pg_class c
        where c.relnamespace = n.oid and c.relname = 'migration' and c.relkind in ('r', 'p'))
    order by n.nspname`,
  );
  return rows.map((row) => row.schema);
}

export interface RunListRow {
  id: string;
  workflow_name: string;
  state: string;
  step_index: number;
  attempt: number;
  max_attempts: number;
  error_code: string | null;
  run_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The newest runs first (ids are UUIDv7: in enqueue order), filtered. */
export function listRuns(
  schema: Schema,
  filter: { workflow: string | null; state: string | null; limit: number },
): SqlQuery {
  return sql`
    select id, workflow_name, state, step_index, attempt, max_attempts,
      error->>'code' as error_code,
      case when run_at = 'infinity' then null else run_at end as run_at, created_at, updated_at
    from ${ident(schema)}.workflow_run
    where (${filter.workflow}::text is null or workflow_name = ${filter.workflow})
      and (${filter.state}::text is null or state = ${filter.state})
    order by id desc
    limit ${filter.limit}`;
}

export interface FinishedRow {
  workflow_name: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  count: number;
}

/** Runs finished in the last hour, by workflow and final state. */
export function finishedLastHour(schema: Schema): SqlQuery {
  return sql`
    select workflow_name, state, count(*)::int as count
    from ${ident(schema)}.workflow_run
    where state in ('succeeded', 'failed', 'cancelled')
      and completed_at > now() - interval '1 hour'
    group by workflow_name, state
    order by workflow_name, state`;
}

export interface DeadLetterCountRow {
  queue: string;
  waiting: number;
  redriven: number;
}

/** Entries of each dead-letter queue: still dead, and redriven. */
export function deadLetterCounts(schema: Schema): SqlQuery {
  return sql`
    select queue, (count(*) filter (where redriven_at is null))::int as waiting,
      (count(*) filter (where redriven_at is not null))::int as redriven
    from ${ident(schema)}.dead_letter
    group by queue
    order by queue`;
}

/** Whether a dead-letter queue has ever had an entry. */
export function deadLetterQueueExists(schema: Schema, queue: string): SqlQuery {
  return sql`select exists (select 1 from ${ident(schema)}.dead_letter where queue = ${queue}) as exists`;
}

export interface SentSignalRow {
  name: string;
  state: 'pending' | 'consumed';
  step_index: number | null;
  step_name: string | null;
  call_index: number | null;
}

/** A run's signal, by id: whether a wait took it, and which. */
export function selectSentSignal(
  schema: Schema,
  runId: string,
  signalId: string,
): SqlQuery {
  return sql`
    select name, state, step_index, step_name, call_index
    from ${ident(schema)}.signal
    where id = ${signalId} and run_id = ${runId}`;
}

export interface ParentLinkRow {
  parent_run_id: string;
  parent_step_index: number;
  parent_call_index: number;
  parent_close: 'cancel' | 'abandon';
  /** `null` once the parent is no longer retained. */
  parent_workflow: string | null;
  parent_state: string | null;
  /** The parent's entry that started the run: its step's name and its kind. */
  step_name: string | null;
  kind: 'child' | 'start' | null;
}

/** A child run's parent and the parent's entry that started it (none for a run without a parent). */
export function selectParentLink(schema: Schema, runId: string): SqlQuery {
  return sql`
    select r.parent_run_id, r.parent_step_index, r.parent_call_index, r.parent_close,
      p.workflow_name as parent_workflow, p.state as parent_state, c.step_name, c.kind
    from ${ident(schema)}.workflow_run r
    left join ${ident(schema)}.workflow_run p on p.id = r.parent_run_id
    left join ${ident(schema)}.activity_call c on c.run_id = r.parent_run_id
      and c.step_index = r.parent_step_index and c.call_index = r.parent_call_index
    where r.id = ${runId} and r.parent_run_id is not null`;
}

export interface ChildCountsRow {
  total: number;
  pending: number;
  running: number;
  waiting: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** How many children a run started, by their runs' states. */
export function selectChildCounts(schema: Schema, runId: string): SqlQuery {
  return sql`
    select count(*)::int as total,
      (count(*) filter (where state = 'pending'))::int as pending,
      (count(*) filter (where state = 'running'))::int as running,
      (count(*) filter (where state = 'waiting'))::int as waiting,
      (count(*) filter (where state = 'succeeded'))::int as succeeded,
      (count(*) filter (where state = 'failed'))::int as failed,
      (count(*) filter (where state = 'cancelled'))::int as cancelled
    from ${ident(schema)}.workflow_run
    where parent_run_id = ${runId}`;
}

export interface ChildRow {
  step_index: number;
  step_name: string | null;
  call_index: number;
  kind: 'child' | 'start';
  run_id: string;
  workflow_name: string;
  /** Its run's state; once no longer retained, as its entry recorded its end (`waiting` until then). */
  state: string;
  parent_close: 'cancel' | 'abandon' | null;
  created_at: Date;
  completed_at: Date | null;
}

/**
 * A run's first `limit` children in the order they were started: its own
 * entries (a range of activity_call's primary key), each with its run.
 */
export function listChildren(
  schema: Schema,
  runId: string,
  limit: number,
): SqlQuery {
  return sql`
    select c.step_index, c.step_name, c.call_index, c.kind, c.child_run_id as run_id,
      c.name as workflow_name,
      coalesce(r.state, case when c.state = 'failed' and c.error ->> 'state' = 'cancelled'
        then 'cancelled' else c.state end) as state,
      r.parent_close, coalesce(r.created_at, c.created_at) as created_at,
      coalesce(r.completed_at, c.completed_at) as completed_at
    from ${ident(schema)}.activity_call c
    left join ${ident(schema)}.workflow_run r on r.id = c.child_run_id
    where c.run_id = ${runId} and c.kind in ('child', 'start')
    order by c.step_index, c.call_index
    limit ${limit}`;
}
