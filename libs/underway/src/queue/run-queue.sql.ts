import {
  ident,
  notificationChannel,
  prepared,
  Schema,
  sql,
  SqlQuery,
} from '../database/sql';
import type { ClaimedRun, RunOutcome } from './claimed-run';

export interface ClaimRow {
  kind: 'step' | 'activity';
  /** The run's id (for an activity call too). */
  id: string;
  workflow_name: string;
  step_index: number;
  /** Activity calls only: the call's position, its durable name and kind. */
  call_index: number | null;
  name: string | null;
  call_kind: 'call' | 'emit' | null;
  recorded_calls: number;
  attempt: number;
  fence: string;
  max_attempts: number;
  lease_ms: number;
  input: string | null;
  claimed_at: string;
}

/**
 * Claims up to `limit` due tasks of the given workflows in one statement:
 * activity calls first (they finish work already under way), then runs,
 * highest priority first, then by due time and enqueue order. `FOR UPDATE SKIP
 * LOCKED` lets any number of workers claim side by side. Each claim bumps
 * `attempt` and `fence` and starts a lease of the task's `lease_ms`.
 *
 * A run with a concurrency key is claimable only if it already holds its key,
 * or if it is the oldest unfinished run of that key and the key is free. The
 * key's `concurrency_slot` row is locked and re-read at its latest committed
 * version (not the statement's snapshot), so two workers can never both take a
 * key, even when their snapshots differ. A run suspended on activity calls
 * waits with `run_at = 'infinity'`: only the commit of its last call wakes it.
 */
export function claimRuns(
  schema: Schema,
  workflowNames: readonly string[],
  limit: number,
  owner: string,
): SqlQuery {
  return prepared(
    sql`
    with call_candidate as (
      select c.run_id, c.step_index, c.call_index from ${ident(schema)}.activity_call c
      where c.state = 'pending' and c.run_at <= now()
        and c.workflow_name = any(${workflowNames}::text[])
      order by c.priority desc, c.run_at, c.run_id, c.step_index, c.call_index
      limit ${limit}
      for update of c skip locked
    ), call_claimed as (
      update ${ident(schema)}.activity_call c
      set state = 'running', attempt = c.attempt + 1, fence = c.fence + 1,
        lease_expires_at = now() + c.lease_ms * interval '1 millisecond', lease_owner = ${owner},
        started_at = coalesce(c.started_at, now()), attempt_started_at = now(), updated_at = now()
      from call_candidate k
      where c.run_id = k.run_id and c.step_index = k.step_index and c.call_index = k.call_index
      returning c.run_id, c.workflow_name, c.step_index, c.call_index, c.name, c.kind, c.attempt,
        c.fence, c.max_attempts, c.lease_ms, c.args::text as args, c.attempt_started_at::text as claimed_at
    ), candidate as (
      select r.id, r.concurrency_key from ${ident(schema)}.workflow_run r
      where r.state in ('pending', 'waiting') and r.run_at <= now()
        and r.workflow_name = any(${workflowNames}::text[])
        and (r.concurrency_key is null or r.started_at is not null or not exists (
          select 1 from ${ident(schema)}.workflow_run o
          where o.concurrency_key = r.concurrency_key and o.id < r.id
            and o.state in ('pending', 'running', 'waiting')))
      order by r.priority desc, r.run_at, r.id
      limit greatest(${limit}::int - (select count(*) from call_candidate), 0)
      for update of r skip locked
    ), slot as (
      select s.key, c.id as run_id from ${ident(schema)}.concurrency_slot s
      join candidate c on c.concurrency_key = s.key
      where s.run_id is null or s.run_id = c.id
      for update of s skip locked
    ), taken as (
      update ${ident(schema)}.concurrency_slot s
      set run_id = slot.run_id, updated_at = now()
      from slot
      where s.key = slot.key and s.run_id is distinct from slot.run_id
    ), claimed as (
      update ${ident(schema)}.workflow_run r
      set state = 'running', attempt = r.attempt + 1, fence = r.fence + 1,
        lease_expires_at = now() + r.lease_ms * interval '1 millisecond', lease_owner = ${owner},
        started_at = coalesce(r.started_at, now()), attempt_started_at = now(), updated_at = now()
      from candidate c
      where r.id = c.id
        and (c.concurrency_key is null or exists (select 1 from slot where slot.run_id = c.id))
      returning r.id, r.workflow_name, r.step_index, r.attempt, r.fence, r.max_attempts, r.lease_ms,
        (case when r.step_index = 0 then r.input else r.step_input end)::text as input,
        r.attempt_started_at::text as claimed_at, r.recorded_calls
    )
    select 'step' as kind, id, workflow_name, step_index, null::int as call_index, null::text as name,
      null::text as call_kind, attempt, fence, max_attempts, lease_ms, input, claimed_at, recorded_calls
    from claimed
    union all
    select 'activity', run_id, workflow_name, step_index, call_index, name, kind, attempt, fence,
      max_attempts, lease_ms, args, claimed_at, 0
    from call_claimed`,
    'claim',
    schema,
  );
}

export interface RenewRow {
  /** The claim's id: a run id, or `<runId>/<stepIndex>/<callIndex>` for a call. */
  id: string;
  /** The fence the claim holds (as sent). */
  fence: string;
  renewed: boolean;
  /** The task's state, for tasks whose lease was not renewed. */
  state: string | null;
}

/** An activity call whose lease this worker holds. */
export interface HeldCall {
  readonly runId: string;
  readonly stepIndex: number;
  readonly callIndex: number;
  readonly fence: string;
}

/**
 * Renews the leases of the runs and activity calls this worker holds, in one
 * statement. Returns every task asked for: `renewed` false means the claim is
 * gone (taken over, or the run cancelled: see `state`).
 */
export function renewLeases(
  schema: Schema,
  runs: readonly { id: string; fence: string }[],
  calls: readonly HeldCall[] = [],
): SqlQuery {
  return prepared(
    sql`
    with held as (
      select * from unnest(${runs.map((r) => r.id)}::uuid[], ${runs.map((r) => r.fence)}::bigint[])
        as h(id, fence)
    ), renewed as (
      update ${ident(schema)}.workflow_run r
      set lease_expires_at = now() + r.lease_ms * interval '1 millisecond'
      from held h
      where r.id = h.id and r.fence = h.fence and r.state = 'running'
      returning r.id, r.fence
    ), held_call as (
      select * from unnest(${calls.map((c) => c.runId)}::uuid[], ${calls.map((c) => c.stepIndex)}::int[],
        ${calls.map((c) => c.callIndex)}::int[], ${calls.map((c) => c.fence)}::bigint[])
        as h(run_id, step_index, call_index, fence)
    ), renewed_call as (
      update ${ident(schema)}.activity_call c
      set lease_expires_at = now() + c.lease_ms * interval '1 millisecond'
      from held_call h
      where c.run_id = h.run_id and c.step_index = h.step_index and c.call_index = h.call_index
        and c.fence = h.fence and c.state = 'running'
      returning c.run_id, c.step_index, c.call_index, c.fence
    )
    select h.id::text as id, h.fence::text as fence, (n.id is not null) as renewed, r.state
    from held h
    left join renewed n on n.id = h.id and n.fence = h.fence
    left join ${ident(schema)}.workflow_run r on r.id = h.id
    union all
    select h.run_id::text || '/' || h.step_index || '/' || h.call_index, h.fence::text,
      (n.run_id is not null), c.state
    from held_call h
    left join renewed_call n
      on n.run_id = h.run_id and n.step_index = h.step_index and n.call_index = h.call_index
        and n.fence = h.fence
    left join ${ident(schema)}.activity_call c
      on c.run_id = h.run_id and c.step_index = h.step_index and c.call_index = h.call_index`,
    'renew',
    schema,
  );
}

/** A step outcome to commit, with the claim it belongs to. */
export interface StepOutcome {
  readonly run: ClaimedRun;
  readonly outcome: RunOutcome;
}

/**
 * Commits a batch of step outcomes in one statement. Each row is fenced by
 * `(id, fence, state = 'running')`: the outcome of a worker that lost its claim
 * changes nothing and its id is missing from the result. The finished attempt
 * is recorded in the same statement, the attempt's activity calls and emits
 * are written only if its outcome is, and workers are woken for next steps
 * and new calls.
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
  // One JSON array for the whole batch; fields that do not apply are left out
  // (null in the record set), which keeps the parameter, and its parsing, small.
  const calls: Record<string, unknown>[] = [];
  const rows = outcomes.map(({ run, outcome }) => {
    const row: Record<string, unknown> = {
      id: run.id,
      fence: run.fence,
      kind: outcome.kind,
      step_index: run.stepIndex,
      attempt: run.attempt,
      started_at: run.claimedAt,
    };
    switch (outcome.kind) {
      case 'next':
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
        row.opened = outcome.calls.filter((c) => c.kind === 'call').length;
        break;
      case 'retry':
        row.attempt_state = outcome.attemptState;
        row.error = outcome.error;
        row.delay_ms = outcome.delayMs;
        break;
      case 'fail':
        row.attempt_state = outcome.attemptState;
        row.error = outcome.error;
        break;
      case 'release':
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
          call_index: call.callIndex,
          kind: call.kind,
          name: call.name,
          args: call.args,
          max_attempts: call.maxAttempts,
          lease_ms: call.leaseMs,
        });
      }
    }
    return row;
  });
  return prepared(
    sql`
    with o as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as o(
        id uuid, fence bigint, kind text, step_index int, attempt int, started_at timestamptz,
        attempt_state text, error jsonb, payload text, delay_ms bigint, max_attempts int,
        lease_ms int, priority int, opened int, recorded int)
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = case o.kind
            when 'complete' then 'succeeded'
            when 'fail' then 'failed'
            when 'next' then case when coalesce(o.delay_ms, 0) > 0 then 'waiting' else 'pending' end
            when 'suspend' then case when r.open_calls + o.opened > 0 then 'waiting' else 'pending' end
            else 'pending' end,
        step_index = case when o.kind = 'next' then r.step_index + 1 else r.step_index end,
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
      returning r.id, r.run_at, r.state, r.concurrency_key, r.workflow_name, r.run_priority
    ), called as (
      insert into ${ident(schema)}.activity_call
        (run_id, step_index, call_index, kind, workflow_name, name, args, max_attempts, lease_ms, priority)
      select c.run_id, c.step_index, c.call_index, c.kind, u.workflow_name, c.name, c.args::jsonb,
        c.max_attempts, c.lease_ms, u.run_priority
      from jsonb_to_recordset(${JSON.stringify(calls)}::jsonb) as c(
        run_id uuid, step_index int, call_index int, kind text, name text, args text,
        max_attempts int, lease_ms int)
      join updated u on u.id = c.run_id
      on conflict do nothing
      returning 1
    ), released as (
      update ${ident(schema)}.concurrency_slot s
      set run_id = null, updated_at = now()
      from updated u
      where u.state in ('succeeded', 'failed') and s.key = u.concurrency_key and s.run_id = u.id
      returning s.key
    ), dead as (
      insert into ${ident(schema)}.dead_letter (queue, run_id, workflow_name, input, error)
      select r.dead_letter, r.id, r.workflow_name, r.input, o.error
      from updated u
      join o on o.id = u.id
      join ${ident(schema)}.workflow_run r on r.id = u.id
      where u.state = 'failed' and r.dead_letter is not null
      on conflict (run_id) do nothing
    ), recorded as (
      insert into ${ident(schema)}.step_attempt
        (run_id, step_index, attempt, state, error, worker, started_at)
      select o.id, o.step_index, o.attempt, o.attempt_state, o.error, ${worker}, o.started_at
      from o join updated u on u.id = o.id
      where o.kind not in ('release', 'suspend')
    ), woken as (
      select pg_notify(${notificationChannel(schema)},
        case when min(run_at) <= now() then '' else ceil(extract(epoch from min(run_at) - now()) * 1000)::bigint::text end)
      from (
        select run_at from updated where state in ('pending', 'waiting') and run_at < 'infinity'
        union all
        select now() from released
        union all
        select now() from called
      ) due
      having count(*) > 0
    )
    select id, state, (select count(*) from woken) as woken from updated`,
    'commit',
    schema,
  );
}

/**
 * Takes back runs whose lease expired (their worker died or stalled): each goes
 * back to `pending` as a new attempt, or to `failed` when its attempts are used
 * up. The lost attempt is recorded as `lease_expired`. Bumping `fence` keeps
 * the old worker's late writes out.
 */
export function reclaimExpiredLeases(schema: Schema, limit: number): SqlQuery {
  return prepared(
    sql`
    with expired as (
      select id, lease_owner from ${ident(schema)}.workflow_run
      where state = 'running' and lease_expires_at < now()
      order by lease_expires_at
      limit ${limit}
      for update skip locked
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = case when r.attempt >= r.max_attempts then 'failed' else 'pending' end,
        fence = r.fence + 1, run_at = now(), lease_expires_at = null, lease_owner = null,
        updated_at = now(),
        error = jsonb_build_object(
          'code', 'lease_expired',
          'message', case when r.attempt >= r.max_attempts
            then format('The worker running attempt %s/%s stopped renewing its lease (it crashed or stalled), and no attempts remain.', r.attempt, r.max_attempts)
            else format('The worker running attempt %s/%s stopped renewing its lease (it crashed or stalled); the step will be retried.', r.attempt, r.max_attempts) end,
          'name', 'LeaseExpired'),
        completed_at = case when r.attempt >= r.max_attempts then now() end,
        expires_at = case when r.attempt >= r.max_attempts
            then now() + r.ttl_ms * interval '1 millisecond' end
      from expired e
      where r.id = e.id
      returning r.id, r.workflow_name, r.step_index, r.attempt, r.max_attempts, r.state,
        r.attempt_started_at, r.error, r.concurrency_key, r.dead_letter, r.input, e.lease_owner
    ), released as (
      update ${ident(schema)}.concurrency_slot s
      set run_id = null, updated_at = now()
      from updated u
      where u.state = 'failed' and s.key = u.concurrency_key and s.run_id = u.id
    ), dead as (
      insert into ${ident(schema)}.dead_letter (queue, run_id, workflow_name, input, error)
      select dead_letter, id, workflow_name, input, error from updated
      where state = 'failed' and dead_letter is not null
      on conflict (run_id) do nothing
    ), recorded as (
      insert into ${ident(schema)}.step_attempt
        (run_id, step_index, attempt, state, error, worker, started_at)
      select id, step_index, attempt, 'lease_expired', error, lease_owner, attempt_started_at
      from updated
      on conflict do nothing
    ), woken as (
      select pg_notify(${notificationChannel(schema)}, '') from updated
      where state = 'pending' having count(*) > 0
    )
    select id, workflow_name, step_index, attempt, max_attempts, state,
      (select count(*) from woken) as woken
    from updated`,
    'reclaim',
    schema,
  );
}
