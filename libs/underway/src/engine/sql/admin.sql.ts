import {
  fragment,
  ident,
  notificationChannel,
  prepared,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../../database/sql';
import { CANCEL_PREFIX } from '../../model/wake-signal';
import type { NewRunRow } from '../../model/claim';
import { stepKey } from '../../model/claim-scope';
import { notifyDue, releaseSlots, settleChildren } from './fragments.sql';

/** One run to insert, as the client prepared it. */
export type NewRun = NewRunRow;

/** The run's `step_key` (model/claim-scope.ts), `null` while unnamed. */
function keyOf(run: NewRun): string | null {
  return run.stepName === null
    ? null
    : stepKey(run.workflowName, run.workflowVersion, run.stepName);
}

/**
 * `slots`, `woken`: what follows an insert of runs (a CTE `inserted` with
 * `run_at` and `concurrency_key`): each new concurrency key gets its slot,
 * and waiting workers are woken (model/wake-signal.ts).
 */
function afterInsert(schema: Schema): SqlFragment {
  return fragment`
    slots as (
      insert into ${ident(schema)}.concurrency_slot (key)
      select distinct concurrency_key from inserted where concurrency_key is not null
      on conflict (key) do nothing
    ), woken as (
      select ${notifyDue(schema)} from inserted having count(*) > 0
    )`;
}

/**
 * Inserts one run (step 0 pending) and wakes the workers, both inside the
 * caller's transaction. With an idempotency key already used by this workflow,
 * inserts nothing and returns no row.
 * @param traceContext the enqueue's trace context, JSON text (`null`: none)
 */
export function insertRun(
  schema: Schema,
  run: NewRun,
  traceContext: string | null = null,
): SqlQuery {
  return prepared(
    sql`
    with inserted as (
      insert into ${ident(schema)}.workflow_run (
        id, workflow_name, workflow_version, step_name, step_key, input, max_attempts, lease_ms,
        priority, run_priority, run_at, concurrency_key, idempotency_key, dead_letter, ttl_ms,
        trace_context)
      values (
        ${run.id}, ${run.workflowName}, ${run.workflowVersion}, ${run.stepName}, ${keyOf(run)},
        ${run.input}::jsonb, ${run.maxAttempts}, ${run.leaseMs},
        ${run.priority}, ${run.runPriority},
        coalesce(${run.runAt}::timestamptz, now() + ${run.delayMs}::bigint * interval '1 millisecond'),
        ${run.concurrencyKey}, ${run.idempotencyKey}, ${run.deadLetter}, ${run.ttlMs},
        ${traceContext}::jsonb)
      on conflict (workflow_name, idempotency_key) where idempotency_key is not null do nothing
      returning id, run_at, concurrency_key
    ), ${afterInsert(schema)}
    select id, (select count(*) from woken) as woken from inserted`,
    'insert-run',
    schema,
  );
}

/**
 * Inserts many runs in one statement: all or nothing.
 * @param traceContext the trace context of the enqueue that writes them all,
 *   JSON text (`null`: none)
 */
export function insertRuns(
  schema: Schema,
  runs: readonly NewRun[],
  traceContext: string | null = null,
): SqlQuery {
  return prepared(
    sql`
    with inserted as (
      insert into ${ident(schema)}.workflow_run (
        id, workflow_name, workflow_version, step_name, step_key, input, max_attempts, lease_ms,
        priority, run_priority, run_at, concurrency_key, dead_letter, ttl_ms, trace_context)
      select r.id, r.workflow_name, r.workflow_version, r.step_name, r.step_key, r.input::jsonb, r.max_attempts, r.lease_ms, r.priority, r.run_priority,
        coalesce(r.run_at, now() + r.delay_ms * interval '1 millisecond'), r.concurrency_key,
        r.dead_letter, r.ttl_ms, ${traceContext}::jsonb
      from unnest(
        ${runs.map((r) => r.id)}::uuid[], ${runs.map((r) => r.workflowName)}::text[],
        ${runs.map((r) => r.workflowVersion)}::int[], ${runs.map((r) => r.stepName)}::text[],
        ${runs.map(keyOf)}::text[],
        ${runs.map((r) => r.input)}::text[], ${runs.map((r) => r.maxAttempts)}::int[],
        ${runs.map((r) => r.leaseMs)}::int[], ${runs.map((r) => r.priority)}::int[],
        ${runs.map((r) => r.runPriority)}::int[], ${runs.map((r) => r.runAt)}::timestamptz[],
        ${runs.map((r) => r.delayMs)}::bigint[], ${runs.map((r) => r.concurrencyKey)}::text[],
        ${runs.map((r) => r.deadLetter)}::text[], ${runs.map((r) => r.ttlMs)}::bigint[]
      ) with ordinality as r(id, workflow_name, workflow_version, step_name, step_key, input, max_attempts, lease_ms, priority, run_priority,
        run_at, delay_ms, concurrency_key, dead_letter, ttl_ms, ord)
      order by r.ord
      returning id, run_at, concurrency_key
    ), ${afterInsert(schema)}
    select id, (select count(*) from woken) as woken from inserted`,
    'insert-runs',
    schema,
  );
}

/** The run that already holds an idempotency key. */
export function findByIdempotencyKey(
  schema: Schema,
  workflowName: string,
  idempotencyKey: string,
): SqlQuery {
  return sql`
    select id from ${ident(schema)}.workflow_run
    where workflow_name = ${workflowName} and idempotency_key = ${idempotencyKey}`;
}

/**
 * Cancels a run that has not finished: pending or waiting runs stop at once; a
 * running run's claim is fenced off (`fence + 1`, so its outcome changes
 * nothing) and its worker is told to abort `ctx.signal`. Its unfinished
 * activity calls and emits are cancelled too (a running one's outcome is
 * fenced off by its state, and its worker told to abort its signal). Frees
 * the run's concurrency key. Returns the state the run was in, or no row when it had
 * already finished.
 */
export function cancelRun(schema: Schema, id: string): SqlQuery {
  return sql`
    with recursive tree as (
      select r.id, 0 as depth from ${ident(schema)}.workflow_run r
      where r.id = ${id} and r.state in ('pending', 'running', 'waiting')
      union all
      -- Its unfinished children that end with it (parentClose: 'cancel'), recursively.
      select c.id, t.depth + 1 from ${ident(schema)}.workflow_run c
      join tree t on c.parent_run_id = t.id
      where c.parent_close = 'cancel' and c.state in ('pending', 'running', 'waiting')
    ), target as (
      select r.id, r.state, r.concurrency_key, r.workflow_name, r.parent_run_id,
        r.parent_step_index, r.parent_call_index, t.depth
      from ${ident(schema)}.workflow_run r join tree t on t.id = r.id
      where r.state in ('pending', 'running', 'waiting')
      for update of r
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = 'cancelled', fence = r.fence + 1, completed_at = now(), updated_at = now(),
        lease_expires_at = null, lease_owner = null,
        expires_at = now() + r.ttl_ms * interval '1 millisecond',
        error = case when t.depth = 0
          then jsonb_build_object('code', 'cancelled', 'message', 'The run was cancelled.', 'name', 'Cancelled')
          else jsonb_build_object('code', 'parent_closed', 'name', 'Cancelled',
            'message', 'The run was cancelled with its parent run (parentClose: cancel).') end
      from target t
      where r.id = t.id
      returning r.id, r.error
    ), calls as (
      update ${ident(schema)}.activity_call c
      set state = 'cancelled', completed_at = now(), updated_at = now(),
        lease_expires_at = null, lease_owner = null
      from target t
      where c.run_id = t.id and c.state in ('pending', 'running', 'waiting')
    ), finished_run as (
      select id, concurrency_key from target
    ), finished_child as (
      -- The cancelled run's own parent (outside the tree) learns it ended.
      select t.id, t.parent_run_id, t.parent_step_index, t.parent_call_index,
        'cancelled'::text as state, null::jsonb as output, u.error
      from target t join updated u on u.id = t.id
      where t.depth = 0 and t.parent_run_id is not null
    ), ${settleChildren(schema)}, ${releaseSlots(schema)}, woken as (
      -- A busy worker must hear a cancel: pg_notify, not notify_workers.
      select pg_notify(${notificationChannel(schema)}, ${CANCEL_PREFIX} || t.id::text) from target t
      where t.state = 'running' or exists (
        select 1 from ${ident(schema)}.activity_call c where c.run_id = t.id and c.state = 'running')
      union all
      select pg_notify(${notificationChannel(schema)}, '') from released
    )
    select t.state as previous_state, t.workflow_name, t.depth, t.id,
      (select count(*) from woken) + (select count(*) from child_woken) as woken
    from target t join updated u on u.id = t.id
    order by t.depth`;
}

export interface DeadLetterRow {
  id: string;
  queue: string;
  run_id: string;
  workflow_name: string;
  input: string | null;
  error: { code: string; message: string; name?: string } | null;
  failed_at: Date;
  redriven_at: Date | null;
  redriven_run_id: string | null;
}

/** Dead-lettered runs of a queue, oldest first; locked when `forRedrive`. */
export function selectDeadLetters(
  schema: Schema,
  queue: string,
  options: {
    runIds: readonly string[] | null;
    limit: number;
    forRedrive: boolean;
  },
): SqlQuery {
  const base = sql`
    select id::text as id, queue, run_id, workflow_name, input::text as input, error, failed_at,
      redriven_at, redriven_run_id
    from ${ident(schema)}.dead_letter
    where queue = ${queue}
      and (${options.runIds}::uuid[] is null or run_id = any(${options.runIds}::uuid[]))
      and (redriven_at is null or not ${options.forRedrive}::boolean)
    order by id
    limit ${options.limit}`;
  return options.forRedrive
    ? { text: `${base.text} for update skip locked`, values: base.values }
    : base;
}

/** Marks dead-letter entries as redriven, each with the run that replaced it. */
export function markRedriven(
  schema: Schema,
  entries: readonly { id: string; runId: string }[],
): SqlQuery {
  return sql`
    update ${ident(schema)}.dead_letter d
    set redriven_at = now(), redriven_run_id = e.run_id
    from unnest(${entries.map((e) => e.id)}::bigint[], ${entries.map((e) => e.runId)}::uuid[])
      as e(id, run_id)
    where d.id = e.id`;
}
