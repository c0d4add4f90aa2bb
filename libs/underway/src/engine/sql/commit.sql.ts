// Over 300 lines on purpose: the two fenced outcome statements (steps, activity
// calls) and the rescuer's read that feeds them; each statement is one CTE
// chain that reads best whole.
import {
  fragment,
  ident,
  prepared,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../../database/sql';
import { stepKeySql } from './claim.sql';
import type {
  ActivityOutcome,
  CallClaimRef,
  NewChild,
  Rescue,
  RunOutcome,
  StepClaimRef,
} from '../../model/claim';
import {
  deadLetters,
  notifyDue,
  releaseSlots,
  settleChildren,
  wakeParents,
} from './fragments.sql';
import { stepKey } from '../../model/claim-scope';

/**
 * What every outcome row carries, whatever its task: the claim's fence and
 * attempt, how the attempt ended (its error and retry delay, for a failure),
 * and, for the rescuer's verdicts, the worker whose lease lapsed. Fields that
 * do not apply are left out (null in the record set), which keeps the
 * batch's one JSON parameter, and its parsing, small.
 */
function attemptFields(
  run: {
    readonly fence: string;
    readonly attempt: number;
    readonly claimedAt: string;
  },
  outcome: RunOutcome | ActivityOutcome,
  rescue: Rescue | undefined,
): Record<string, unknown> {
  const row: Record<string, unknown> = {
    fence: run.fence,
    kind: outcome.kind,
    attempt: run.attempt,
    started_at: run.claimedAt,
  };
  if (rescue) {
    row.rescued = true;
    row.worker = rescue.leaseOwner;
  }
  if (outcome.kind === 'retry' || outcome.kind === 'fail') {
    row.attempt_state = outcome.attemptState;
    row.error = outcome.error;
    if (outcome.kind === 'retry') {
      row.delay_ms = outcome.delayMs;
    }
  }
  return row;
}

/** A step outcome to commit, with the claim it belongs to. */
export interface StepOutcome {
  readonly run: StepClaimRef;
  readonly outcome: RunOutcome;
  readonly rescue?: Rescue;
}

/**
 * Commits a batch of step outcomes in one statement. Each row is fenced by
 * `(id, fence, state = 'running')`: the outcome of a worker that lost its claim
 * changes nothing and its id is missing from the result. The finished attempt
 * is recorded in the same statement, the attempt's activity calls and emits
 * are written only if its outcome is, and waiting workers are woken for next
 * steps and new calls (`notify_workers`: this worker wakes itself).
 *
 * A suspension (`suspend`) adds its new calls to the run's `open_calls` on
 * the row's latest version, so a call finishing meanwhile is never missed:
 * the run waits (`run_at = 'infinity'`) while any is open, and its attempt
 * is given back (it resumes as the same attempt, RELIABILITY I4).
 */
export function commitOutcomes(
  schema: Schema,
  outcomes: readonly StepOutcome[],
  worker: string,
): SqlQuery {
  const calls: Record<string, unknown>[] = [];
  const children: Record<string, unknown>[] = [];
  const rows = outcomes.map(({ run, outcome, rescue }) => {
    const row = attemptFields(run, outcome, rescue);
    row.id = run.id;
    row.step_index = run.stepIndex;
    row.step_name = run.stepName;
    switch (outcome.kind) {
      case 'next':
        row.next_step = outcome.stepName;
        row.attempt_state = 'succeeded';
        row.payload = outcome.input;
        row.delay_ms = outcome.delayMs;
        row.max_attempts = outcome.maxAttempts;
        row.lease_ms = outcome.leaseMs;
        row.priority = outcome.priority;
        break;
      case 'complete':
        row.attempt_state = 'succeeded';
        row.payload = outcome.output;
        break;
      case 'suspend':
        // Calls, waits and sleeps wake the run when they end; emits do not.
        // Calls, waits, sleeps and awaited children wake the run when they
        // end; emits and children not awaited (`start`) do not.
        row.opened = outcome.calls.filter(
          (c) => c.kind !== 'emit' && c.kind !== 'start',
        ).length;
        break;
    }
    if (
      (outcome.kind === 'next' ||
        outcome.kind === 'complete' ||
        outcome.kind === 'suspend') &&
      outcome.calls &&
      outcome.calls.length > 0
    ) {
      row.recorded = outcome.calls.length;
      for (const call of outcome.calls) {
        calls.push({
          run_id: run.id,
          step_index: run.stepIndex,
          step_name: run.stepName,
          call_index: call.callIndex,
          kind: call.kind,
          name: call.name,
          args: call.args,
          max_attempts: call.maxAttempts,
          lease_ms: call.leaseMs,
          delay_ms: call.delayMs ?? null,
          child_run_id: call.child?.run.id ?? null,
        });
        if (call.child) {
          children.push(
            childRow(call.child, run.id, run.stepIndex, call.callIndex),
          );
        }
      }
    }
    return row;
  });
  return prepared(
    sql`
    with o as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as o(
        id uuid, fence bigint, kind text, step_index int, step_name text, next_step text,
        attempt int, started_at timestamptz,
        attempt_state text, error jsonb, payload text, delay_ms bigint, max_attempts int,
        lease_ms int, priority int, opened int, recorded int, rescued boolean, worker text)
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = case o.kind
            when 'complete' then 'succeeded'
            when 'fail' then 'failed'
            when 'next' then case when coalesce(o.delay_ms, 0) > 0 then 'waiting' else 'pending' end
            when 'suspend' then case when r.open_calls + o.opened > 0 then 'waiting' else 'pending' end
            else 'pending' end,
        step_index = case when o.kind = 'next' then r.step_index + 1 else r.step_index end,
        step_name = case when o.kind = 'next' then o.next_step else r.step_name end,
        step_key = case when o.kind = 'next'
            then ${stepKeySql(fragment`r.workflow_version`, fragment`o.next_step`, fragment`r.workflow_name`)}
            else r.step_key end,
        step_input = case when o.kind = 'next' then o.payload::jsonb else r.step_input end,
        output = case when o.kind = 'complete' then o.payload::jsonb else r.output end,
        attempt = case o.kind when 'next' then 0 when 'release' then r.attempt - 1
            when 'suspend' then r.attempt - 1 else r.attempt end,
        max_attempts = case when o.kind = 'next' then o.max_attempts else r.max_attempts end,
        lease_ms = case when o.kind = 'next' then o.lease_ms else r.lease_ms end,
        priority = case when o.kind = 'next' then coalesce(o.priority, r.run_priority) else r.priority end,
        error = case o.kind when 'retry' then o.error when 'fail' then o.error
            when 'release' then r.error else null end,
        run_at = case o.kind when 'release' then now()
            when 'next' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            when 'retry' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            when 'suspend' then case when r.open_calls + o.opened > 0 then 'infinity' else now() end
            else r.run_at end,
        open_calls = case o.kind when 'next' then 0 when 'suspend' then r.open_calls + o.opened
            else r.open_calls end,
        recorded_calls = case when o.kind = 'next' then 0
            else r.recorded_calls + coalesce(o.recorded, 0) end,
        lease_expires_at = null, lease_owner = null, updated_at = now(),
        completed_at = case when o.kind in ('complete', 'fail') then now() end,
        expires_at = case when o.kind in ('complete', 'fail')
            then now() + r.ttl_ms * interval '1 millisecond' end
      from o
      where r.id = o.id and r.fence = o.fence and r.state = 'running'
        -- The rescuer's verdict holds only while the lease is still lapsed.
        and (o.rescued is not true or r.lease_expires_at < now())
      returning r.id, r.run_at, r.state, r.concurrency_key, r.workflow_name, r.workflow_version,
        r.run_priority, r.parent_run_id, r.parent_step_index, r.parent_call_index
    ), ${children.length > 0 ? spawnChildren(schema, children) : fragment`spawned as (select null::timestamptz as run_at where false)`}, called as (
      insert into ${ident(schema)}.activity_call
        (run_id, step_index, step_name, call_index, kind, workflow_name, workflow_version, workflow_key,
          name, args, max_attempts, lease_ms, priority, state, run_at, child_run_id)
      select c.run_id, c.step_index, c.step_name, c.call_index, c.kind, u.workflow_name,
        u.workflow_version, u.workflow_version::text || ':' || u.workflow_name, c.name, c.args::jsonb,
        c.max_attempts, c.lease_ms, u.run_priority,
        -- A wait, a sleep or a child is not work: it waits until its deadline,
        -- a signal, or its child's end.
        case when c.kind in ('call', 'emit') then 'pending' else 'waiting' end,
        case when c.kind in ('call', 'emit') then now()
          when c.delay_ms is null then 'infinity'
          else now() + c.delay_ms * interval '1 millisecond' end,
        c.child_run_id
      from jsonb_to_recordset(${JSON.stringify(calls)}::jsonb) as c(
        run_id uuid, step_index int, step_name text, call_index int, kind text, name text, args text,
        max_attempts int, lease_ms int, delay_ms bigint, child_run_id uuid)
      join updated u on u.id = c.run_id
      on conflict do nothing
      returning run_at
    ), finished_run as (
      select id, concurrency_key from updated where state in ('succeeded', 'failed')
    ), finished_child as (
      select u.id, u.parent_run_id, u.parent_step_index, u.parent_call_index, u.state,
        case when u.state = 'succeeded' then o.payload::jsonb end as output, o.error
      from updated u join o on o.id = u.id
      where u.parent_run_id is not null and u.state in ('succeeded', 'failed')
    ), ${settleChildren(schema)}, ${releaseSlots(schema)}, failed_run as (
      select u.id, o.error from updated u join o on o.id = u.id where u.state = 'failed'
    ), ${deadLetters(schema)}, recorded as (
      insert into ${ident(schema)}.step_attempt
        (run_id, step_index, step_name, attempt, state, error, worker, started_at)
      select o.id, o.step_index, o.step_name, o.attempt, o.attempt_state, o.error,
        case when o.rescued then o.worker else ${worker} end, o.started_at
      from o join updated u on u.id = o.id
      where o.kind not in ('release', 'suspend')
    ), woken as (
      select ${notifyDue(schema)}
      from (
        select run_at from updated where state in ('pending', 'waiting') and run_at < 'infinity'
        union all
        select now() from released
        union all
        -- new calls are due now; a wait's or a sleep's deadline sets the workers' timers
        select run_at from called where run_at < 'infinity'
        union all
        select run_at from spawned
      ) due
      having count(*) > 0
    )
    -- A CTE that only selects runs only if read: reading child_woken is
    -- what sends the wake-up of a parent whose last child just ended.
    select id, state,
      (select count(*) from woken) + (select count(*) from child_woken) as woken
    from updated`,
    children.length > 0 ? 'commit-children' : 'commit',
    schema,
  );
}

/** A child run's row for `spawnChildren`, pointing back at its parent's entry. */
function childRow(
  child: NewChild,
  parentRunId: string,
  parentStepIndex: number,
  parentCallIndex: number,
): Record<string, unknown> {
  const { run } = child;
  return {
    id: run.id,
    workflow_name: run.workflowName,
    workflow_version: run.workflowVersion,
    step_name: run.stepName,
    step_key:
      run.stepName === null
        ? null
        : stepKey(run.workflowName, run.workflowVersion, run.stepName),
    input: run.input,
    max_attempts: run.maxAttempts,
    lease_ms: run.leaseMs,
    priority: run.priority,
    run_priority: run.runPriority,
    delay_ms: run.delayMs,
    concurrency_key: run.concurrencyKey,
    dead_letter: run.deadLetter,
    ttl_ms: run.ttlMs,
    trace_context: child.traceContext,
    parent_run_id: parentRunId,
    parent_step_index: parentStepIndex,
    parent_call_index: parentCallIndex,
    parent_close: child.parentClose,
  };
}

/**
 * `spawned`, `spawned_slots`: inserts the child runs of the outcomes applied
 * (a stale outcome's children are not written), and their concurrency keys'
 * slots. Only in the statements that have children.
 */
function spawnChildren(
  schema: Schema,
  children: readonly Record<string, unknown>[],
): SqlFragment {
  return fragment`spawned as (
      insert into ${ident(schema)}.workflow_run (
        id, workflow_name, workflow_version, step_name, step_key, input, max_attempts, lease_ms,
        priority, run_priority, run_at, concurrency_key, dead_letter, ttl_ms, trace_context,
        parent_run_id, parent_step_index, parent_call_index, parent_close)
      select k.id, k.workflow_name, k.workflow_version, k.step_name, k.step_key, k.input::jsonb,
        k.max_attempts, k.lease_ms, k.priority, k.run_priority,
        now() + k.delay_ms * interval '1 millisecond', k.concurrency_key, k.dead_letter, k.ttl_ms,
        k.trace_context, k.parent_run_id, k.parent_step_index, k.parent_call_index, k.parent_close
      from jsonb_to_recordset(${JSON.stringify(children)}::jsonb) as k(
        id uuid, workflow_name text, workflow_version int, step_name text, step_key text,
        input text, max_attempts int, lease_ms int, priority int, run_priority int,
        delay_ms bigint, concurrency_key text, dead_letter text, ttl_ms bigint, trace_context jsonb,
        parent_run_id uuid, parent_step_index int, parent_call_index int, parent_close text)
      join updated u on u.id = k.parent_run_id
      on conflict do nothing
      returning id, run_at, concurrency_key
    ), spawned_slots as (
      insert into ${ident(schema)}.concurrency_slot (key)
      select distinct concurrency_key from spawned where concurrency_key is not null
      on conflict (key) do nothing
    )`;
}

export interface ActivityCommitRow {
  run_id: string;
  step_index: number;
  call_index: number;
  state: string;
}

/** An activity outcome to commit, with the claim it belongs to. */
export interface CallOutcome {
  readonly run: CallClaimRef;
  readonly outcome: ActivityOutcome;
  readonly rescue?: Rescue;
}

/**
 * Commits a batch of activity outcomes in one statement, each fenced by
 * `(call, fence, state = 'running')` like a step's: a stale worker's outcome
 * changes nothing and is missing from the result. The finished attempt is
 * recorded, and the parents of the last open calls are woken, in the same
 * statement.
 */
export function commitCallOutcomes(
  schema: Schema,
  outcomes: readonly CallOutcome[],
  worker: string,
): SqlQuery {
  const rows = outcomes.map(({ run, outcome, rescue }) => {
    const row = attemptFields(run, outcome, rescue);
    row.run_id = run.runId;
    row.step_index = run.stepIndex;
    row.call_index = run.callIndex;
    if (outcome.kind === 'succeed') {
      row.attempt_state = 'succeeded';
      row.result = outcome.result;
    }
    return row;
  });
  return prepared(
    sql`
    with o as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as o(
        run_id uuid, step_index int, call_index int, fence bigint, kind text, attempt int,
        started_at timestamptz, attempt_state text, error jsonb, result text, delay_ms bigint,
        rescued boolean, worker text)
    ), finished as (
      update ${ident(schema)}.activity_call c
      set state = case o.kind when 'succeed' then 'succeeded' when 'fail' then 'failed'
            else 'pending' end,
        result = case when o.kind = 'succeed' then o.result::jsonb else c.result end,
        error = case o.kind when 'release' then c.error when 'succeed' then null else o.error end,
        attempt = case when o.kind = 'release' then c.attempt - 1 else c.attempt end,
        run_at = case o.kind when 'release' then now()
            when 'retry' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            else c.run_at end,
        lease_expires_at = null, lease_owner = null, updated_at = now(),
        completed_at = case when o.kind in ('succeed', 'fail') then now() end
      from o
      where c.run_id = o.run_id and c.step_index = o.step_index and c.call_index = o.call_index
        and c.fence = o.fence and c.state = 'running'
        -- The rescuer's verdict holds only while the lease is still lapsed.
        and (o.rescued is not true or c.lease_expires_at < now())
      returning c.run_id, c.step_index, c.call_index, c.kind, c.state, c.run_at
    ), recorded as (
      insert into ${ident(schema)}.activity_attempt
        (run_id, step_index, call_index, attempt, state, error, worker, started_at)
      select o.run_id, o.step_index, o.call_index, o.attempt, o.attempt_state, o.error,
        case when o.rescued then o.worker else ${worker} end, o.started_at
      from o join finished f
        on f.run_id = o.run_id and f.step_index = o.step_index and f.call_index = o.call_index
      where o.kind <> 'release'
    ), ${wakeParents(schema)}
    select run_id, step_index, call_index, state from finished`,
    'commit-calls',
    schema,
  );
}

export interface ExpiredTaskRow {
  kind: 'step' | 'activity';
  run_id: string;
  workflow_name: string;
  workflow_version: number;
  step_index: number;
  /** The step's durable name (of the call's step); `null` if written before versions. */
  step_name: string | null;
  /** Activity calls only. */
  call_index: number | null;
  name: string | null;
  attempt: number;
  max_attempts: number;
  fence: string;
  lease_owner: string | null;
  attempt_started_at: string;
}

/**
 * Runs and activity calls whose lease lapsed (their worker died or stalled),
 * oldest lapse first, for the lease rescuer: a plain read, nothing locked.
 * The rescuer decides each one's retry as a thrown error would be decided,
 * and commits it through the outcome statements, which re-check that the
 * lease is still lapsed.
 */
export function selectExpiredTasks(schema: Schema, limit: number): SqlQuery {
  return prepared(
    sql`
    (select 'step' as kind, id as run_id, workflow_name, workflow_version, step_index, step_name,
      null::int as call_index, null::text as name, attempt, max_attempts, fence, lease_owner,
      attempt_started_at::text as attempt_started_at
    from ${ident(schema)}.workflow_run
    where state = 'running' and lease_expires_at < now()
    order by lease_expires_at
    limit ${limit})
    union all
    (select 'activity', run_id, workflow_name, workflow_version, step_index, step_name, call_index, name,
      attempt, max_attempts,
      fence, lease_owner, attempt_started_at::text
    from ${ident(schema)}.activity_call
    where state = 'running' and lease_expires_at < now()
    order by lease_expires_at
    limit ${limit})`,
    'expired',
    schema,
  );
}
