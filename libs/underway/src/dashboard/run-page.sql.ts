import { fragment, ident, Schema, sql, SqlQuery } from '../database/sql';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';

/*
 * The reads of a run's page, each bounded, through the primary keys that
 * start with the run id (step_attempt, activity_call, activity_attempt):
 * a run with 10,000 activity calls is counted, never listed whole.
 */

export interface RecordedErrorJson {
  code: string;
  message: string;
  name?: string;
}

export interface RunPageRunRow {
  id: string;
  workflow_name: string;
  workflow_version: number;
  state: string;
  step_index: number;
  /** `null` for a run from before versions, not yet named. */
  step_name: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  run_at: Date | null;
  idempotency_key: string | null;
  concurrency_key: string | null;
  error: RecordedErrorJson | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  lease_owner: string | null;
  attempt_started_at: Date | null;
  open_calls: number;
  /** The start of each payload's JSON, and its stored size (`showPayloads`: see payload.sql.ts). */
  input: string | null;
  input_bytes: number | null;
  step_input: string | null;
  step_input_bytes: number | null;
  output: string | null;
  output_bytes: number | null;
  dead_letter: string | null;
  redriven_at: Date | null;
  redriven_run_id: string | null;
}

/** The run itself, the start of its payloads (`null`: not read), and its dead-letter entry. */
export function selectRunPageRun(
  schema: Schema,
  runId: string,
  payloads: PayloadRead | null,
): SqlQuery {
  const [input, stepInput, output] = [
    fragment`r.input`,
    fragment`r.step_input`,
    fragment`r.output`,
  ];
  return sql`
    select r.id, r.workflow_name, r.workflow_version, r.state, r.step_index, r.step_name,
      r.attempt, r.max_attempts, r.priority,
      case when r.run_at < 'infinity' then r.run_at end as run_at, r.idempotency_key,
      r.concurrency_key, r.error, r.created_at, r.started_at, r.completed_at, r.lease_owner,
      r.attempt_started_at, r.open_calls,
      ${payloadText(input, payloads)} as input, ${payloadBytes(input, payloads)} as input_bytes,
      ${payloadText(stepInput, payloads)} as step_input,
      ${payloadBytes(stepInput, payloads)} as step_input_bytes,
      ${payloadText(output, payloads)} as output, ${payloadBytes(output, payloads)} as output_bytes,
      d.queue as dead_letter, d.redriven_at, d.redriven_run_id
    from ${ident(schema)}.workflow_run r
    left join ${ident(schema)}.dead_letter d on d.run_id = r.id
    where r.id = ${runId}`;
}

export interface StepSummaryRow {
  step_index: number;
  /** The step's durable name, as its attempts or calls recorded it. */
  step_name: string | null;
  attempts: number;
  first_attempt: number | null;
  calls: number;
  first_call: number | null;
  last_call: number | null;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/**
 * Per step that has any: its finished attempts, and its activity calls by
 * state. It counts the run's rows (one range of each primary key), and
 * returns one small row per step.
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
        count(*) filter (where state = 'pending')::int as pending,
        count(*) filter (where state = 'running')::int as running,
        count(*) filter (where state = 'succeeded')::int as succeeded,
        count(*) filter (where state = 'failed')::int as failed,
        count(*) filter (where state = 'cancelled')::int as cancelled
      from ${ident(schema)}.activity_call where run_id = ${runId}
      group by step_index
    )
    select coalesce(a.step_index, c.step_index) as step_index,
      coalesce(a.step_name, c.step_name) as step_name,
      coalesce(a.attempts, 0) as attempts, a.first_attempt,
      coalesce(c.calls, 0) as calls, c.first_call, c.last_call,
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

export interface CallJson {
  call_index: number;
  kind: 'call' | 'emit';
  name: string;
  state: string;
  attempt: number;
  max_attempts: number;
  error: RecordedErrorJson | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Its latest finished attempts, newest first. */
  attempts: AttemptJson[];
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
 * each call with its latest `callAttempts` attempts. Every list is a range of
 * a primary key with a limit.
 */
export function selectStepDetails(
  schema: Schema,
  runId: string,
  slices: readonly StepSlice[],
  callAttempts: number,
): SqlQuery {
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
