import { ident, Schema, sql, SqlQuery } from '../../database/sql';

/**
 * Deletes up to `limit` finished runs whose retention (`ttl`) has passed, with
 * their attempts, activity calls and signals (in the same statement: there is no
 * cascading foreign key). A run with an emitted activity still to run waits
 * for it. A tree of runs goes together: a child whose parent is still kept
 * waits for it, and a run's finished descendants are deleted with it (an
 * unfinished one, abandoned, stays, and goes on its own once finished).
 * Only terminal runs have an `expires_at`; the state is checked again anyway,
 * so an unfinished run is never deleted.
 */
export function pruneExpiredRuns(schema: Schema, limit: number): SqlQuery {
  return sql`
    with recursive doomed as (
      select r.id from ${ident(schema)}.workflow_run r
      where r.expires_at < now()
        and (r.parent_run_id is null or not exists (
          select 1 from ${ident(schema)}.workflow_run p where p.id = r.parent_run_id))
      order by r.expires_at
      limit ${limit}
      for update skip locked
    ), tree as (
      select id from doomed
      union
      select c.id from ${ident(schema)}.workflow_run c
      join tree t on c.parent_run_id = t.id
      where c.state in ('succeeded', 'failed', 'cancelled')
    ), deleted as (
      delete from ${ident(schema)}.workflow_run r
      using tree d
      where r.id = d.id and r.state in ('succeeded', 'failed', 'cancelled')
        -- an emitted activity still to run keeps its finished run
        and not exists (select 1 from ${ident(schema)}.activity_call c
          where c.run_id = r.id and c.state in ('pending', 'running'))
      returning r.id
    ), attempts as (
      delete from ${ident(schema)}.step_attempt a
      using deleted d
      where a.run_id = d.id
    ), calls as (
      delete from ${ident(schema)}.activity_call c
      using deleted d
      where c.run_id = d.id
    ), call_attempts as (
      delete from ${ident(schema)}.activity_attempt a
      using deleted d
      where a.run_id = d.id
    ), signals as (
      delete from ${ident(schema)}.signal g
      using deleted d
      where g.run_id = d.id
    )
    select count(*)::int as deleted from deleted`;
}

/**
 * Unfinished children (`parent_close = 'cancel'`) whose parent failed or was
 * cancelled, up to `limit`: cancelled next, with their own children. (A
 * cancel of the parent takes its tree at once; a failure leaves this to the
 * worker's sweep.)
 */
export function orphanedChildren(schema: Schema, limit: number): SqlQuery {
  return sql`
    select c.id from ${ident(schema)}.workflow_run c
    where c.parent_run_id is not null and c.parent_close = 'cancel'
      and c.state in ('pending', 'running', 'waiting')
      and exists (select 1 from ${ident(schema)}.workflow_run p
        where p.id = c.parent_run_id and p.state in ('failed', 'cancelled'))
    order by c.id
    limit ${limit}`;
}

export interface UnclaimableRow {
  workflow_name: string;
  /** `null`: no version of the workflow is run here. */
  workflow_version: number | null;
  runs: number;
}

/**
 * Workflows, and versions of the workflows run here, with runs due for
 * longer than `dueForMs` that this instance does not run: they are not
 * claimed by this instance, and someone should know.
 */
export function dueRunsOfOtherWorkflows(
  schema: Schema,
  registered: readonly string[],
  registeredKeys: readonly string[],
  dueForMs: number,
): SqlQuery {
  return sql`
    select workflow_name,
      case when workflow_name = any(${registered}::text[]) then workflow_version end
        as workflow_version,
      count(*)::int as runs
    from ${ident(schema)}.workflow_run
    where state in ('pending', 'waiting')
      and run_at <= now() - ${dueForMs}::bigint * interval '1 millisecond'
      and (workflow_version::text || ':' || workflow_name) <> all(${registeredKeys}::text[])
    group by 1, 2
    order by runs desc
    limit 20`;
}

/**
 * Concurrency slots: re-creates a missing slot for keys with waiting runs, and
 * removes free slots that no unfinished run has used for an hour.
 */
export function tidyConcurrencySlots(schema: Schema): SqlQuery {
  return sql`
    with repaired as (
      insert into ${ident(schema)}.concurrency_slot (key)
      select distinct r.concurrency_key from ${ident(schema)}.workflow_run r
      where r.concurrency_key is not null and r.state in ('pending', 'waiting')
        and not exists (select 1 from ${ident(schema)}.concurrency_slot s where s.key = r.concurrency_key)
      on conflict (key) do nothing
      returning key
    ), removed as (
      delete from ${ident(schema)}.concurrency_slot s
      where s.run_id is null and s.updated_at < now() - interval '1 hour'
        and not exists (
          select 1 from ${ident(schema)}.workflow_run r
          where r.concurrency_key = s.key and r.state in ('pending', 'running', 'waiting'))
      returning key
    )
    select (select count(*) from repaired)::int as repaired, (select count(*) from removed)::int as removed`;
}
