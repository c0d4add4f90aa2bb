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
  id: string;
  workflow_name: string;
  step_index: number;
  attempt: number;
  fence: string;
  max_attempts: number;
  lease_ms: number;
  input: string | null;
  claimed_at: string;
}

/**
 * Claims up to `limit` due runs of the given workflows, highest priority first,
 * then by due time and enqueue order, in one statement: `FOR UPDATE SKIP LOCKED`
 * lets any number of workers claim side by side. Each claim bumps `attempt` and
 * `fence` and starts a lease of the step's `lease_ms`.
 *
 * A run with a concurrency key is claimable only if it already holds its key,
 * or if it is the oldest unfinished run of that key and the key is free. The
 * key's `concurrency_slot` row is locked and re-read at its latest committed
 * version (not the statement's snapshot), so two workers can never both take a
 * key, even when their snapshots differ.
 */
export function claimRuns(
  schema: Schema,
  workflowNames: readonly string[],
  limit: number,
  owner: string,
): SqlQuery {
  return prepared(
    sql`
    with candidate as (
      select r.id, r.concurrency_key from ${ident(schema)}.workflow_run r
      where r.state in ('pending', 'waiting') and r.run_at <= now()
        and r.workflow_name = any(${workflowNames}::text[])
        and (r.concurrency_key is null or r.started_at is not null or not exists (
          select 1 from ${ident(schema)}.workflow_run o
          where o.concurrency_key = r.concurrency_key and o.id < r.id
            and o.state in ('pending', 'running', 'waiting')))
      order by r.priority desc, r.run_at, r.id
      limit ${limit}
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
    )
    update ${ident(schema)}.workflow_run r
    set state = 'running', attempt = r.attempt + 1, fence = r.fence + 1,
      lease_expires_at = now() + r.lease_ms * interval '1 millisecond', lease_owner = ${owner},
      started_at = coalesce(r.started_at, now()), attempt_started_at = now(), updated_at = now()
    from candidate c
    where r.id = c.id
      and (c.concurrency_key is null or exists (select 1 from slot where slot.run_id = c.id))
    returning r.id, r.workflow_name, r.step_index, r.attempt, r.fence, r.max_attempts, r.lease_ms,
      (case when r.step_index = 0 then r.input else r.step_input end)::text as input,
      r.attempt_started_at::text as claimed_at`,
    'claim',
    schema,
  );
}

export interface RenewRow {
  id: string;
  renewed: boolean;
  /** The run's state, for runs whose lease was not renewed. */
  state: string | null;
}

/**
 * Renews the leases of runs this worker holds. Returns every run asked for:
 * `renewed` false means the claim is gone (taken over, or the run cancelled:
 * see `state`).
 */
export function renewLeases(
  schema: Schema,
  runs: readonly { id: string; fence: string }[],
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
      returning r.id
    )
    select h.id, (n.id is not null) as renewed, r.state
    from held h
    left join renewed n on n.id = h.id
    left join ${ident(schema)}.workflow_run r on r.id = h.id`,
    'renew',
    schema,
  );
}

/** An outcome to commit, with the claim it belongs to. */
export interface FencedOutcome {
  readonly run: ClaimedRun;
  readonly outcome: RunOutcome;
}

/**
 * Commits a batch of step outcomes in one statement. Each row is fenced by
 * `(id, fence, state = 'running')`: the outcome of a worker that lost its claim
 * changes nothing and its id is missing from the result. The finished attempt
 * is recorded in the same statement, and workers are woken for next steps.
 */
export function commitOutcomes(
  schema: Schema,
  outcomes: readonly FencedOutcome[],
  worker: string,
): SqlQuery {
  // One JSON array for the whole batch; fields that do not apply are left out
  // (null in the record set), which keeps the parameter, and its parsing, small.
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
    return row;
  });
  return prepared(
    sql`
    with o as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as o(
        id uuid, fence bigint, kind text, step_index int, attempt int, started_at timestamptz,
        attempt_state text, error jsonb, payload text, delay_ms bigint, max_attempts int,
        lease_ms int, priority int)
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = case o.kind
            when 'complete' then 'succeeded'
            when 'fail' then 'failed'
            when 'next' then case when coalesce(o.delay_ms, 0) > 0 then 'waiting' else 'pending' end
            else 'pending' end,
        step_index = case when o.kind = 'next' then r.step_index + 1 else r.step_index end,
        step_input = case when o.kind = 'next' then o.payload::jsonb else r.step_input end,
        output = case when o.kind = 'complete' then o.payload::jsonb else r.output end,
        attempt = case o.kind when 'next' then 0 when 'release' then r.attempt - 1 else r.attempt end,
        max_attempts = case when o.kind = 'next' then o.max_attempts else r.max_attempts end,
        lease_ms = case when o.kind = 'next' then o.lease_ms else r.lease_ms end,
        priority = case when o.kind = 'next' then coalesce(o.priority, r.run_priority) else r.priority end,
        error = case o.kind when 'retry' then o.error when 'fail' then o.error
            when 'release' then r.error else null end,
        run_at = case o.kind when 'release' then now()
            when 'next' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            when 'retry' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            else r.run_at end,
        lease_expires_at = null, lease_owner = null, updated_at = now(),
        completed_at = case when o.kind in ('complete', 'fail') then now() end,
        expires_at = case when o.kind in ('complete', 'fail')
            then now() + r.ttl_ms * interval '1 millisecond' end
      from o
      where r.id = o.id and r.fence = o.fence and r.state = 'running'
      returning r.id, r.run_at, r.state, r.concurrency_key
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
      where o.kind <> 'release'
    ), woken as (
      select pg_notify(${notificationChannel(schema)},
        case when min(run_at) <= now() then '' else ceil(extract(epoch from min(run_at) - now()) * 1000)::bigint::text end)
      from (
        select run_at from updated where state in ('pending', 'waiting')
        union all
        select now() from released
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
