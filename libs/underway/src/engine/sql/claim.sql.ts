import {
  fragment,
  ident,
  prepared,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../../database/sql';
import type { ClaimScope } from '../../model/claim-scope';

export interface ClaimRow {
  /** `waits`: no task, but waits or sleeps of the scope are past their deadline. */
  kind: 'step' | 'activity' | 'waits';
  /** The run's id (for an activity call too). */
  id: string;
  workflow_name: string;
  workflow_version: number;
  step_index: number;
  /** The durable name of the run's current step, or of the step that made the call. */
  step_name: string | null;
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
  /** How long the task was due before this claim, in ms (`run_at` to now). */
  queue_wait_ms: number;
  /** The run's trace context, stored at enqueue (`null`: none). */
  trace_context: Record<string, string> | null;
  /** Steps only: the run's concurrency key. */
  concurrency_key: string | null;
}

/**
 * `stepKey()` (model/claim-scope.ts) in SQL, of a version, a step name and
 * a workflow name (null with a null step): what `workflow_run.step_key`
 * holds, written with `step_name`.
 */
export function stepKeySql(
  version: SqlFragment,
  step: SqlFragment,
  workflow: SqlFragment,
): SqlFragment {
  return fragment`(${version}::text || ':' || length(${step})::text || ':' || ${step} || ':' || ${workflow})`;
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
 *
 * A last row of kind `waits`, when there is one, says that waits or sleeps
 * of the scope are past their deadline (it claims nothing).
 *
 * Each claim returns its run's `trace_context`, so an attempt continues the
 * enqueue's trace in any process (an activity call reads its run's by key).
 *
 * Only what the claimer's code can run is claimed (`scope`): a run of a
 * version it registers, at a step its code has (by durable name); a call of
 * a run of a version it registers. Anything else stays due for an instance
 * that has it, untouched (no attempt used).
 */
export function claimRuns(
  schema: Schema,
  scope: ClaimScope,
  limit: number,
  owner: string,
): SqlQuery {
  return prepared(
    sql`
    with call_candidate as (
      select c.run_id, c.step_index, c.call_index from ${ident(schema)}.activity_call c
      where c.state = 'pending' and c.run_at <= now()
        and c.workflow_name = any(${scope.names}::text[])
        and c.workflow_key = any(${scope.workflowKeys}::text[])
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
      returning c.run_id, c.workflow_name, c.workflow_version, c.step_index, c.step_name, c.call_index,
        c.name, c.kind, c.attempt,
        c.fence, c.max_attempts, c.lease_ms, c.args::text as args, c.attempt_started_at::text as claimed_at,
        (extract(epoch from now() - c.run_at) * 1000)::float8 as queue_wait_ms,
        (select t.trace_context from ${ident(schema)}.workflow_run t where t.id = c.run_id) as trace_context
    ), candidate as (
      select r.id, r.concurrency_key, r.priority, r.run_at from ${ident(schema)}.workflow_run r
      where r.state in ('pending', 'waiting') and r.run_at <= now()
        and r.workflow_name = any(${scope.names}::text[])
        and r.step_key = any(${scope.stepKeys}::text[])
        and (r.concurrency_key is null or r.started_at is not null or not exists (
          select 1 from ${ident(schema)}.workflow_run o
          where o.concurrency_key = r.concurrency_key and o.id < r.id
            and o.state in ('pending', 'running', 'waiting')))
      order by r.priority desc, r.run_at, r.id
      limit ${limit}
      for update of r skip locked
    ), chosen as (
      -- What the calls leave of the limit. Cut here, from the rows locked
      -- above, rather than in their LIMIT: a computed limit there would cost
      -- the planner its index scan.
      select id, concurrency_key from candidate
      order by priority desc, run_at, id
      limit greatest(${limit}::int - (select count(*) from call_candidate), 0)
    ), slot as (
      select s.key, c.id as run_id from ${ident(schema)}.concurrency_slot s
      join chosen c on c.concurrency_key = s.key
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
      from chosen c
      where r.id = c.id
        and (c.concurrency_key is null or exists (select 1 from slot where slot.run_id = c.id))
      returning r.id, r.workflow_name, r.workflow_version, r.step_index, r.step_name, r.attempt, r.fence,
        r.max_attempts, r.lease_ms,
        (case when r.step_index = 0 then r.input else r.step_input end)::text as input,
        r.attempt_started_at::text as claimed_at, r.recorded_calls,
        (extract(epoch from now() - r.run_at) * 1000)::float8 as queue_wait_ms, r.trace_context,
        r.concurrency_key
    )
    select 'step' as kind, id, workflow_name, workflow_version, step_index, step_name,
      null::int as call_index, null::text as name, null::text as call_kind, attempt, fence,
      max_attempts, lease_ms, input, claimed_at, recorded_calls, queue_wait_ms, trace_context,
      concurrency_key
    from claimed
    union all
    select 'activity', run_id, workflow_name, workflow_version, step_index, step_name, call_index, name,
      kind, attempt, fence, max_attempts, lease_ms, args, claimed_at, 0, queue_wait_ms, trace_context,
      null
    from call_claimed
    union all
    -- A probe, not a claim: waits or sleeps past their deadline (expire_waits ends them).
    select 'waits', null, null, null, null, null, null, null, null, null, null, null, null, null,
      null, null, null, null, null
    from (select 1 from ${ident(schema)}.activity_call c
      where c.state = 'waiting' and c.run_at <= now() and c.run_at < 'infinity'
        and c.workflow_name = any(${scope.names}::text[])
        and c.workflow_key = any(${scope.workflowKeys}::text[])
      limit 1) due`,
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
  /**
   * Not renewed because another transaction holds a lock on the task's row
   * (the claim itself is still this worker's): tried again shortly.
   */
  busy: boolean;
  /** Busy, and the lock is held by the attempt's own transaction (`pid`). */
  own_lock: boolean;
}

/** A claim whose lease this worker holds, and its attempt's transaction. */
export interface LeaseToRenew {
  readonly id: string;
  readonly fence: string;
  /** The backend of a transactional attempt's transaction, while its code runs. */
  readonly pid: number | null;
}

/** An activity call whose lease this worker holds. */
export interface HeldCall extends LeaseToRenew {
  readonly runId: string;
  readonly stepIndex: number;
  readonly callIndex: number;
}

/**
 * Renews the leases of the runs and activity calls this worker holds, in one
 * statement. Returns every task asked for: `renewed` false means the claim is
 * gone (taken over, or the run cancelled: see `state`), or that its row is
 * locked by another transaction (`busy`).
 *
 * A locked row is skipped (`skip locked`), not waited for: one run whose row
 * stays locked (a transactional step that locked its own run through
 * `ctx.manager`, a caller's open transaction that cancels it) must not hold
 * back the renewal of every other lease of the worker. For such a row,
 * `own_lock` says whether the lock is held by the attempt's own transaction:
 * the row's locker (`xmax`: the transaction, or subtransaction, that locked
 * or updated it) is one of the transaction ids that backend holds.
 */
export function renewLeases(
  schema: Schema,
  runs: readonly LeaseToRenew[],
  calls: readonly HeldCall[] = [],
): SqlQuery {
  return prepared(
    sql`
    with held as (
      select * from unnest(${runs.map((r) => r.id)}::uuid[], ${runs.map((r) => r.fence)}::bigint[],
        ${runs.map((r) => r.pid)}::int[]) as h(id, fence, pid)
    ), lockable as (
      select r.id from ${ident(schema)}.workflow_run r
      join held h on r.id = h.id and r.fence = h.fence and r.state = 'running'
      for no key update of r skip locked
    ), renewed as (
      update ${ident(schema)}.workflow_run r
      set lease_expires_at = now() + r.lease_ms * interval '1 millisecond'
      from lockable l
      where r.id = l.id
      returning r.id, r.fence
    ), held_call as (
      select * from unnest(${calls.map((c) => c.runId)}::uuid[], ${calls.map((c) => c.stepIndex)}::int[],
        ${calls.map((c) => c.callIndex)}::int[], ${calls.map((c) => c.fence)}::bigint[],
        ${calls.map((c) => c.pid)}::int[])
        as h(run_id, step_index, call_index, fence, pid)
    ), lockable_call as (
      select c.run_id, c.step_index, c.call_index from ${ident(schema)}.activity_call c
      join held_call h on c.run_id = h.run_id and c.step_index = h.step_index
        and c.call_index = h.call_index and c.fence = h.fence and c.state = 'running'
      for no key update of c skip locked
    ), renewed_call as (
      update ${ident(schema)}.activity_call c
      set lease_expires_at = now() + c.lease_ms * interval '1 millisecond'
      from lockable_call l
      where c.run_id = l.run_id and c.step_index = l.step_index and c.call_index = l.call_index
      returning c.run_id, c.step_index, c.call_index, c.fence
    )
    select h.id::text as id, h.fence::text as fence, (n.id is not null) as renewed, r.state,
      coalesce(n.id is null and r.state = 'running' and r.fence = h.fence, false) as busy,
      case when n.id is null and r.state = 'running' and r.fence = h.fence and h.pid is not null
        then exists (select 1 from pg_locks l where l.locktype = 'transactionid'
          and l.transactionid = r.xmax and l.pid = h.pid and l.granted)
        else false end as own_lock
    from held h
    left join renewed n on n.id = h.id and n.fence = h.fence
    left join ${ident(schema)}.workflow_run r on r.id = h.id
    union all
    select h.run_id::text || '/' || h.step_index || '/' || h.call_index, h.fence::text,
      (n.run_id is not null), c.state,
      coalesce(n.run_id is null and c.state = 'running' and c.fence = h.fence, false),
      case when n.run_id is null and c.state = 'running' and c.fence = h.fence and h.pid is not null
        then exists (select 1 from pg_locks l where l.locktype = 'transactionid'
          and l.transactionid = c.xmax and l.pid = h.pid and l.granted)
        else false end
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
