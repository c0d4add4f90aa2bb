import { INT32_MAX } from '../../common/limits';
import { ident, prepared, Schema, sql, SqlQuery } from '../../database/sql';
import type { EntryKind } from '../../model/claim';

// What the client, the dashboard, the CLI and replays read of runs and calls.

export interface RunRow {
  id: string;
  workflow_name: string;
  workflow_version: number;
  state: string;
  step_index: number;
  /** `null` for a run written before versions and not yet named. */
  step_name: string | null;
  input: string | null;
  output: string | null;
  error: { code: string; message: string; name?: string } | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  /** `null` while suspended on activity calls. */
  run_at: Date | null;
  concurrency_key: string | null;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  parent_run_id: string | null;
}

export function selectRun(schema: Schema, id: string): SqlQuery {
  return sql`
    select id, workflow_name, workflow_version, state, step_index, step_name, parent_run_id,
      input::text as input, output::text as output,
      error, attempt, max_attempts, priority,
      -- Suspended: due at the soonest deadline of its step's waits and sleeps, if any.
      case when r.run_at < 'infinity' then r.run_at else (
        select min(c.run_at) from ${ident(schema)}.activity_call c
        where c.run_id = r.id and c.step_index = r.step_index and c.state = 'waiting'
          and c.run_at < 'infinity') end as run_at,
      concurrency_key, idempotency_key, created_at, updated_at, started_at, completed_at
    from ${ident(schema)}.workflow_run r where id = ${id}`;
}

export interface RunStatusRow {
  state: string;
  output: string | null;
  error: { code: string; message: string } | null;
}

/** The state, and what `result()` needs once it is terminal. */
export function selectRunStatus(schema: Schema, id: string): SqlQuery {
  return prepared(
    sql`
    select state,
      case when state = 'succeeded' then output::text end as output,
      case when state in ('failed', 'cancelled') then error end as error
    from ${ident(schema)}.workflow_run where id = ${id}`,
    'run-status',
    schema,
  );
}

export interface AttemptRow {
  step_index: number;
  step_name: string | null;
  attempt: number;
  state: string;
  error: { code: string; message: string; name?: string } | null;
  worker: string | null;
  started_at: Date | null;
  completed_at: Date;
}

export function selectAttempts(schema: Schema, runId: string): SqlQuery {
  return sql`
    select step_index, step_name, attempt, state, error, worker, started_at, completed_at
    from ${ident(schema)}.step_attempt where run_id = ${runId}
    order by step_index, attempt`;
}

export interface RecordedCallRow {
  call_index: number;
  kind: EntryKind;
  name: string;
  args: string;
  state: string;
  result: string | null;
  error: { code: string; message: string; name?: string } | null;
  /** A child entry's run. */
  child_run_id?: string | null;
}

/** A replay asking for its step's recorded calls: those from `fromIndex` on, and `holes`. */
export interface RecordedCallsKey {
  readonly runId: string;
  readonly stepIndex: number;
  /** 0 for the whole record; past the calls this worker keeps (RecordedCallsCache). */
  readonly fromIndex: number;
  /** Calls below `fromIndex` to read too (kept ones that may still change). */
  readonly holes: readonly number[];
}

/**
 * The calls and emits that steps recorded, for their replays: for many steps
 * in one statement (`key` is each row's position in `keys`, from 0), each
 * from its `fromIndex` on, plus its `holes`. Each is a range of the primary
 * key (a hole is a range of one), so a replay reads only the rows it asks for.
 */
export function selectRecordedCalls(
  schema: Schema,
  keys: readonly RecordedCallsKey[],
): SqlQuery {
  const ranges: {
    key: number[];
    runId: string[];
    stepIndex: number[];
    from: number[];
    to: number[];
  } = { key: [], runId: [], stepIndex: [], from: [], to: [] };
  const range = (
    key: number,
    k: RecordedCallsKey,
    from: number,
    to: number,
  ) => {
    ranges.key.push(key);
    ranges.runId.push(k.runId);
    ranges.stepIndex.push(k.stepIndex);
    ranges.from.push(from);
    ranges.to.push(to);
  };
  keys.forEach((k, key) => {
    for (const hole of k.holes) {
      range(key, k, hole, hole);
    }
    range(key, k, k.fromIndex, INT32_MAX);
  });
  return prepared(
    sql`
    select r.key, c.call_index, c.kind, c.name, c.args::text as args, c.state,
      c.result::text as result, c.error, c.child_run_id
    from unnest(${ranges.key}::int[], ${ranges.runId}::uuid[], ${ranges.stepIndex}::int[],
      ${ranges.from}::int[], ${ranges.to}::int[]) as r(key, run_id, step_index, from_index, to_index)
    join ${ident(schema)}.activity_call c
      on c.run_id = r.run_id and c.step_index = r.step_index
        and c.call_index between r.from_index and r.to_index
    order by r.key, c.call_index`,
    'recorded-calls',
    schema,
  );
}

export interface ActivityCallRow {
  step_index: number;
  call_index: number;
  kind: 'call' | 'emit';
  name: string;
  state: string;
  attempt: number;
  max_attempts: number;
  error: { code: string; message: string; name?: string } | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  attempts: {
    attempt: number;
    state: string;
    error: { code: string; message: string; name?: string } | null;
    worker: string | null;
    started_at: string | null;
    completed_at: string;
  }[];
}

/** Every call and emit of a run, each with its finished attempts, for `getRun()`. */
export function selectActivityCalls(schema: Schema, runId: string): SqlQuery {
  return sql`
    select c.step_index, c.call_index, c.kind, c.name, c.state, c.attempt, c.max_attempts,
      c.error, c.created_at, c.started_at, c.completed_at,
      coalesce((
        select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'state', a.state,
            'error', a.error, 'worker', a.worker, 'started_at', a.started_at,
            'completed_at', a.completed_at) order by a.attempt)
        from ${ident(schema)}.activity_attempt a
        where a.run_id = c.run_id and a.step_index = c.step_index and a.call_index = c.call_index
      ), '[]'::jsonb) as attempts
    from ${ident(schema)}.activity_call c
    where c.run_id = ${runId} and c.kind in ('call', 'emit')
    order by c.step_index, c.call_index`;
}

export interface RunTemplateRow {
  workflow_name: string;
  workflow_version: number;
  /** Its first step's durable name; `null` if written before versions. */
  step_name: string | null;
  max_attempts: number;
  lease_ms: number;
  priority: number;
  run_priority: number;
  ttl_ms: string;
  dead_letter: string | null;
}

/**
 * For each workflow, the newest retained run still at its first step: the
 * first step's attempts, lease and priority as the app's code last wrote
 * them (the CLI has no workflow code to read them from).
 */
export function firstStepTemplates(
  schema: Schema,
  workflows: readonly string[],
): SqlQuery {
  return sql`
    select distinct on (workflow_name) workflow_name, workflow_version, step_name, max_attempts,
      lease_ms, priority, run_priority, ttl_ms::text as ttl_ms, dead_letter
    from ${ident(schema)}.workflow_run
    where workflow_name = any(${workflows}::text[]) and step_index = 0
    order by workflow_name, id desc`;
}

export interface ChildRow {
  id: string;
  workflow_name: string;
  state: string;
}

/** A run's children (the first `limit`, in enqueue order), for `getRun()`. */
export function selectChildren(
  schema: Schema,
  runId: string,
  limit: number,
): SqlQuery {
  return sql`
    select id, workflow_name, state from ${ident(schema)}.workflow_run
    where parent_run_id = ${runId}
    order by id
    limit ${limit}`;
}
