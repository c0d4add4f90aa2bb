import {
  fragment,
  ident,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../database/sql';
import { OPEN_WAITS_SHOWN, WAIT_NAMES_SHOWN } from './page-bounds';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';

/*
 * The reads of a run's page, each bounded, through the primary keys that
 * start with the run id: the run itself here; its timeline's steps, counted
 * and listed, in run-timeline.sql.ts; its signals in signals.sql.ts; its
 * children in children.sql.ts.
 */

/** A wait's first `WAIT_NAMES_SHOWN` signal names (`waitForAny` may take many). */
export function waitNames(args: SqlFragment): SqlFragment {
  return fragment`jsonb_path_query_array(${args}, ${`$[0 to ${WAIT_NAMES_SHOWN - 1}]`}::jsonpath)`;
}

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
  /** The waits and sleeps its current step is in, in call order (the first `OPEN_WAITS_SHOWN`). */
  open_waits: OpenWaitJson[];
  /** A child's parent run, the entry that started it, and what the parent's end does to it. */
  parent_run_id: string | null;
  parent_step_index: number | null;
  parent_call_index: number | null;
  parent_close: 'cancel' | 'abandon' | null;
  /** The parent's workflow and state (`null`: no longer retained), and its entry's step name and kind. */
  parent_workflow: string | null;
  parent_state: string | null;
  parent_step_name: string | null;
  parent_entry_kind: 'child' | 'start' | null;
}

/** A wait or a sleep not ended yet. */
export interface OpenWaitJson {
  call_index: number;
  kind: 'wait' | 'sleep';
  /** The signal names a wait takes, the first `WAIT_NAMES_SHOWN` (`null` for a sleep), and their count. */
  names: string[] | null;
  name_count: number | null;
  /** When it times out (a sleep: ends); `null`: no timeout. */
  deadline: string | null;
}

/**
 * The run itself, the start of its payloads (`null`: not read), its
 * dead-letter entry, and, for a child, its parent and the parent's entry
 * for it (by their primary keys).
 */
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
      d.queue as dead_letter, d.redriven_at, d.redriven_run_id,
      r.parent_run_id, r.parent_step_index, r.parent_call_index, r.parent_close,
      p.workflow_name as parent_workflow, p.state as parent_state,
      pc.step_name as parent_step_name, pc.kind as parent_entry_kind,
      coalesce((
        select jsonb_agg(to_jsonb(w) order by w.call_index) from (
          select c.call_index, c.kind, case when c.kind = 'wait' then ${waitNames(fragment`c.args`)} end as names,
            case when c.kind = 'wait' then jsonb_array_length(c.args) end as name_count,
            case when c.run_at < 'infinity' then c.run_at end as deadline
          from ${ident(schema)}.activity_call c
          where r.state = 'waiting' and c.run_id = r.id and c.step_index = r.step_index
            and c.state = 'waiting' and c.kind in ('wait', 'sleep')
          order by c.call_index
          limit ${OPEN_WAITS_SHOWN}
        ) w
      ), '[]'::jsonb) as open_waits
    from ${ident(schema)}.workflow_run r
    left join ${ident(schema)}.dead_letter d on d.run_id = r.id
    left join ${ident(schema)}.workflow_run p on p.id = r.parent_run_id
    left join ${ident(schema)}.activity_call pc on pc.run_id = r.parent_run_id
      and pc.step_index = r.parent_step_index and pc.call_index = r.parent_call_index
    where r.id = ${runId}`;
}
