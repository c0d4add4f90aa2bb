import {
  fragment,
  ident,
  notificationChannel,
  Schema,
  SqlFragment,
} from '../../database/sql';

// The pieces every state-changing statement is built from, so that a run
// finishes, frees its key, is dead-lettered and wakes the workers the same
// way whichever statement does it. Each names the CTE it reads (a statement
// provides it under that name) and is spliced in as one or more CTEs.

/**
 * Wakes waiting workers for the rows it aggregates (a `from` with `run_at`):
 * the `notify_workers()` call, its payload `''` when one is due now, else
 * the ms until the soonest (model/wake-signal.ts). Use inside a `select`.
 */
export function notifyDue(schema: Schema): SqlFragment {
  return fragment`${ident(schema)}.notify_workers(${notificationChannel(schema)},
    case when min(run_at) <= now() then ''
      else ceil(extract(epoch from min(run_at) - now()) * 1000)::bigint::text end)`;
}

/**
 * `released`: frees the concurrency slots held by the runs of
 * `finished_run (id, concurrency_key)`, returning the keys freed (a run
 * waiting for one of them is due now).
 */
export function releaseSlots(schema: Schema): SqlFragment {
  return fragment`
    released as (
      update ${ident(schema)}.concurrency_slot s
      set run_id = null, updated_at = now()
      from finished_run f
      where s.key = f.concurrency_key and s.run_id = f.id
      returning s.key
    )`;
}

/**
 * `dead`: records the runs of `failed_run (id, error)` in their workflow's
 * dead-letter queue, where one is configured, once.
 */
export function deadLetters(schema: Schema): SqlFragment {
  return fragment`
    dead as (
      insert into ${ident(schema)}.dead_letter (queue, run_id, workflow_name, input, error)
      select r.dead_letter, r.id, r.workflow_name, r.input, f.error
      from failed_run f
      join ${ident(schema)}.workflow_run r on r.id = f.id
      where r.dead_letter is not null
      on conflict (run_id) do nothing
    )`;
}

/**
 * `closed`, `parent`, `woken`: the parents of the activity calls of
 * `finished (run_id, step_index, kind, state, run_at)`, woken when their last
 * open call is done: `open_calls` is decremented on the run row's latest
 * version, so two calls finishing at once in two transactions always leave
 * one of them seeing zero. An emit wakes nothing.
 */
export function wakeParents(schema: Schema): SqlFragment {
  return fragment`
    closed as (
      select run_id, step_index, count(*)::int as n from finished
      where kind = 'call' and state in ('succeeded', 'failed', 'cancelled')
      group by run_id, step_index
    ), parent as (
      update ${ident(schema)}.workflow_run r
      set open_calls = greatest(r.open_calls - k.n, 0),
        state = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then 'pending' else r.state end,
        -- Due since its step was claimed: it goes back to its place in line,
        -- ahead of runs enqueued while it waited, not behind them.
        run_at = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then least(coalesce(r.attempt_started_at, now()), now()) else r.run_at end,
        updated_at = now()
      from closed k
      where r.id = k.run_id and r.step_index = k.step_index
      returning r.id, r.state, r.run_at
    ), woken as (
      select ${ident(schema)}.notify_workers(${notificationChannel(schema)}, '')
      from (
        select 1 from parent where state = 'pending' and run_at <= now()
        union all
        select 1 from finished where state = 'pending' and run_at <= now()
      ) due
      having count(*) > 0
    )`;
}

/**
 * `child_entry`, `child_parent`, `child_woken`: the parents of the child runs
 * of `finished_child (id, parent_run_id, parent_step_index,
 * parent_call_index, state, output, error)` (runs that just finished, with a
 * parent): each parent's entry for the child gets its output, or its error
 * and final state, and a parent whose last open entry that was is woken, on
 * the parent row's latest version (as `wakeParents` does for calls). An entry
 * of `ctx.startChild` (`start`) is updated too, and wakes nothing.
 */
export function settleChildren(schema: Schema): SqlFragment {
  return fragment`
    child_entry as (
      update ${ident(schema)}.activity_call c
      set state = case when f.state = 'succeeded' then 'succeeded' else 'failed' end,
        result = case when f.state = 'succeeded' then f.output end,
        error = case when f.state = 'succeeded' then null
          else coalesce(f.error, '{}'::jsonb) || jsonb_build_object('state', f.state) end,
        completed_at = now(), updated_at = now()
      from finished_child f
      where c.run_id = f.parent_run_id and c.step_index = f.parent_step_index
        and c.call_index = f.parent_call_index and c.state = 'waiting'
      returning c.run_id, c.step_index, c.kind
    ), child_parent as (
      update ${ident(schema)}.workflow_run r
      set open_calls = greatest(r.open_calls - k.n, 0),
        state = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then 'pending' else r.state end,
        run_at = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then least(coalesce(r.attempt_started_at, now()), now()) else r.run_at end,
        updated_at = now()
      from (select run_id, step_index, count(*)::int as n from child_entry
        where kind = 'child' group by run_id, step_index) k
      where r.id = k.run_id and r.step_index = k.step_index
      returning r.state, r.run_at
    ), child_woken as (
      select ${ident(schema)}.notify_workers(${notificationChannel(schema)}, '')
      from child_parent where state = 'pending' and run_at <= now()
      having count(*) > 0
    )`;
}
