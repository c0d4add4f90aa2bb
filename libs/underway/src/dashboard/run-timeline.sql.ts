import { fragment, ident, Schema, sql, SqlQuery } from '../database/sql';
import { WAIT_RESULT_MAX_STORED } from './page-bounds';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';
import { RecordedErrorJson, waitNames } from './run-page.sql';

/*
 * The reads of a run's timeline, each bounded, through the primary keys that
 * start with the run id (step_attempt, activity_call, activity_attempt):
 * a run with 10,000 activity calls is counted, never listed whole. A step's
 * waits and sleeps (`ctx.waitFor`, `waitForAny`, `sleep`) and its children
 * (`ctx.child`: kind `child`, `ctx.startChild`: `start`) are entries of
 * `activity_call` beside its calls, numbered with them: they are listed
 * and counted with them (its signals: signals.sql.ts; its children as a
 * list: children.sql.ts).
 */

export interface StepSummaryRow {
  step_index: number;
  /** The step's durable name, as its attempts or calls recorded it. */
  step_name: string | null;
  attempts: number;
  first_attempt: number | null;
  /** Its entries, calls, emits, waits, sleeps and children alike, as its timeline lists them. */
  calls: number;
  first_call: number | null;
  last_call: number | null;
  /** Of `calls`: its waits and sleeps, and those not ended. */
  waits: number;
  open_waits: number;
  /** Of `calls`: the children it started, and those of `ctx.child` not ended (it waits on them). */
  children: number;
  open_children: number;
  /** Its calls and emits by state. */
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/**
 * Per step that has any: its finished attempts, its activity calls by
 * state, its waits, and its children. It counts the run's rows (one range of each
 * primary key), and returns one small row per step.
 */
export function selectStepSummaries(schema: Schema, runId: string): SqlQuery {
  return sql`
    with a as (
      select step_index, count(*)::int as attempts, min(attempt) as first_attempt,
        max(step_name) as step_name
      from ${ident(schema)}.step_attempt where run_id = ${runId}
      group by step_index
    ), c as (
      select step_index, max(step_name) as step_name, count(*)::int as calls,
        min(call_index) as first_call,
        max(call_index) as last_call,
        count(*) filter (where kind in ('wait', 'sleep'))::int as waits,
        count(*) filter (where kind in ('wait', 'sleep') and state = 'waiting')::int as open_waits,
        count(*) filter (where kind in ('child', 'start'))::int as children,
        count(*) filter (where kind = 'child' and state = 'waiting')::int as open_children,
        count(*) filter (where kind in ('call', 'emit') and state = 'pending')::int as pending,
        count(*) filter (where kind in ('call', 'emit') and state = 'running')::int as running,
        count(*) filter (where kind in ('call', 'emit') and state = 'succeeded')::int as succeeded,
        count(*) filter (where kind in ('call', 'emit') and state = 'failed')::int as failed,
        count(*) filter (where kind in ('call', 'emit') and state = 'cancelled')::int as cancelled
      from ${ident(schema)}.activity_call where run_id = ${runId}
      group by step_index
    )
    select coalesce(a.step_index, c.step_index) as step_index,
      coalesce(a.step_name, c.step_name) as step_name,
      coalesce(a.attempts, 0) as attempts, a.first_attempt,
      coalesce(c.calls, 0) as calls, c.first_call, c.last_call,
      coalesce(c.waits, 0) as waits, coalesce(c.open_waits, 0) as open_waits,
      coalesce(c.children, 0) as children, coalesce(c.open_children, 0) as open_children,
      coalesce(c.pending, 0) as pending, coalesce(c.running, 0) as running,
      coalesce(c.succeeded, 0) as succeeded, coalesce(c.failed, 0) as failed,
      coalesce(c.cancelled, 0) as cancelled
    from a full join c on c.step_index = a.step_index
    order by 1`;
}

/** What to read of one step: its latest attempts before a number, its calls after an index. */
export interface StepSlice {
  readonly stepIndex: number;
  /** Attempts numbered below this (`2147483647`: the latest). */
  readonly attemptsBefore: number;
  readonly attempts: number;
  /** Calls indexed above this (`-1`: from the first). */
  readonly callsAfter: number;
  readonly calls: number;
}

export interface AttemptJson {
  attempt: number;
  state: string;
  error: RecordedErrorJson | null;
  worker: string | null;
  started_at: string | null;
  completed_at: string;
}

/**
 * An entry of a step: a call or emit, a wait or sleep (`names`, `deadline`,
 * `signal_*`), or a child (`child_*`; `name`: its workflow).
 */
export interface CallJson {
  call_index: number;
  kind: 'call' | 'emit' | 'wait' | 'sleep' | 'child' | 'start';
  name: string;
  /**
   * `waiting`, `succeeded` (a wait: took a signal), `timed_out` for a wait or
   * sleep; a child's: `waiting` while it runs, then `succeeded` or `failed`
   * (`error.state`: `failed` or `cancelled`).
   */
  state: string;
  attempt: number;
  max_attempts: number;
  error: RecordedErrorJson | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Its latest finished attempts, newest first. */
  attempts: AttemptJson[];
  /** A wait's signal names, the first `WAIT_NAMES_SHOWN`, and their count. */
  names: string[] | null;
  name_count: number | null;
  /** A wait's or sleep's deadline (`null`: none, or a call). */
  deadline: string | null;
  /** The signal a wait took (`null` too when its record is too big to read here). */
  signal_id: string | null;
  signal_name: string | null;
  /** A child's run, and its state now (`null`: no longer retained). */
  child_run_id: string | null;
  child_state: string | null;
  /** The start of a child's output as its entry recorded it, and its stored size (`showPayloads`: see payload.sql.ts). */
  child_output: string | null;
  child_output_bytes: number | null;
}

export interface StepDetailRow {
  step_index: number;
  /** Newest first. */
  attempts: AttemptJson[];
  /** In call order. */
  calls: CallJson[];
}

/**
 * For each slice: a step's attempts (newest first) and its calls (in order),
 * each call with its latest `callAttempts` attempts, each child with its
 * run's state (its output: `payloads`). Every list is a range of a primary
 * key with a limit.
 */
export function selectStepDetails(
  schema: Schema,
  runId: string,
  slices: readonly StepSlice[],
  callAttempts: number,
  payloads: PayloadRead | null,
): SqlQuery {
  // A child's output, as its entry recorded it when the child succeeded.
  const output = fragment`case when k.kind in ('child', 'start') then k.result end`;
  return sql`
    select s.step_index,
      coalesce((
        select jsonb_agg(to_jsonb(a) order by a.attempt desc) from (
          select attempt, state, error, worker, started_at, completed_at
          from ${ident(schema)}.step_attempt
          where run_id = ${runId} and step_index = s.step_index and attempt < s.attempts_before
          order by attempt desc
          limit s.attempts
        ) a
      ), '[]'::jsonb) as attempts,
      coalesce((
        select jsonb_agg(to_jsonb(c) order by c.call_index) from (
          select k.call_index, k.kind, k.name, k.state, k.attempt, k.max_attempts, k.error,
            k.created_at, k.started_at, k.completed_at,
            case when k.kind = 'wait' then ${waitNames(fragment`k.args`)} end as names,
            case when k.kind = 'wait' then jsonb_array_length(k.args) end as name_count,
            case when k.kind in ('wait', 'sleep') and k.run_at < 'infinity' then k.run_at end as deadline,
            -- What a wait took: its signal's id and name, never its payload (read
            -- only from a small record: a jsonb value is read whole).
            case when k.kind = 'wait' and pg_column_size(k.result) <= ${WAIT_RESULT_MAX_STORED}::int
              then k.result ->> 'signalId' end as signal_id,
            case when k.kind = 'wait' and pg_column_size(k.result) <= ${WAIT_RESULT_MAX_STORED}::int
              then k.result ->> 'name' end as signal_name,
            k.child_run_id,
            case when k.kind in ('child', 'start') then (
              select r.state from ${ident(schema)}.workflow_run r where r.id = k.child_run_id
            ) end as child_state,
            ${payloadText(output, payloads)} as child_output,
            ${payloadBytes(output, payloads)} as child_output_bytes,
            coalesce((
              select jsonb_agg(to_jsonb(x) order by x.attempt desc) from (
                select attempt, state, error, worker, started_at, completed_at
                from ${ident(schema)}.activity_attempt
                where run_id = ${runId} and step_index = k.step_index and call_index = k.call_index
                order by attempt desc
                limit ${callAttempts}
              ) x
            ), '[]'::jsonb) as attempts
          from ${ident(schema)}.activity_call k
          where k.run_id = ${runId} and k.step_index = s.step_index and k.call_index > s.calls_after
          order by k.call_index
          limit s.calls
        ) c
      ), '[]'::jsonb) as calls
    from unnest(
      ${slices.map((x) => x.stepIndex)}::int[],
      ${slices.map((x) => x.attemptsBefore)}::int[],
      ${slices.map((x) => x.attempts)}::int[],
      ${slices.map((x) => x.callsAfter)}::int[],
      ${slices.map((x) => x.calls)}::int[]
    ) as s(step_index, attempts_before, attempts, calls_after, calls)
    order by s.step_index`;
}
