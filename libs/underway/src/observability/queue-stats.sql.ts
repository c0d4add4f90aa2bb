import { ident, Schema, sql, SqlQuery } from '../database/sql';

/** The states of a run that is still in the queue (`underway.queue.depth`). */
export const QUEUED_STATES = ['pending', 'running', 'waiting'] as const;
export type QueuedState = (typeof QUEUED_STATES)[number];

/**
 * One row per (workflow, queued state) with its number of runs, and one row
 * per workflow with work due (`state = 'due'`): how many runs and activity
 * calls are due and not yet claimed, and how long the oldest of them has been
 * due, in ms, on the database clock.
 */
export interface QueueStatsRow {
  workflow_name: string;
  state: QueuedState | 'due';
  count: number;
  /** `due` rows only. */
  oldest_due_ms: number | null;
}

/**
 * What the queue gauges, `underway stats` and the health indicator read, in
 * one statement: the unfinished runs of `workflows` (`null`: every workflow)
 * by state, and the age of their oldest due work. Due means claimable now: a
 * pending or waiting run past its `run_at` (not one queued behind the holder
 * of its concurrency key: that one waits its turn, it is not late), or a
 * pending activity call past its own. A run suspended on its calls waits with
 * `run_at = 'infinity'` and is never due itself.
 *
 * Reads only unfinished rows (the claim, lease and concurrency indexes cover
 * them), so its cost follows the queue, not the retained history.
 */
export function queueStats(
  schema: Schema,
  workflows: readonly string[] | null,
): SqlQuery {
  return sql`
    with due as (
      select r.workflow_name, r.run_at from ${ident(schema)}.workflow_run r
      where r.state in ('pending', 'waiting') and r.run_at <= now()
        and (${workflows}::text[] is null or r.workflow_name = any(${workflows}::text[]))
        and (r.concurrency_key is null or r.started_at is not null or not exists (
          select 1 from ${ident(schema)}.concurrency_slot s
          where s.key = r.concurrency_key and s.run_id is not null and s.run_id <> r.id))
      union all
      select c.workflow_name, c.run_at from ${ident(schema)}.activity_call c
      where c.state = 'pending' and c.run_at <= now()
        and (${workflows}::text[] is null or c.workflow_name = any(${workflows}::text[]))
    )
    select r.workflow_name, r.state, count(*)::int as count, null::float8 as oldest_due_ms
    from ${ident(schema)}.workflow_run r
    where r.state in ('pending', 'running', 'waiting')
      and (${workflows}::text[] is null or r.workflow_name = any(${workflows}::text[]))
    group by r.workflow_name, r.state
    union all
    select workflow_name, 'due', count(*)::int,
      (extract(epoch from now() - min(run_at)) * 1000)::float8
    from due
    group by workflow_name
    order by 1, 2`;
}
