import { ident, Schema, sql, SqlQuery } from '../database/sql';

// The testing kit's statements. Its clock moves by moving the schema's stored
// due times back: the claim, the wait expiry, the scheduler and retention
// keep comparing to the database's `now()`, unchanged, so production pays
// nothing for a clock it does not use.

/**
 * Moves every due time of the schema back by `ms` (statements to run in one
 * transaction): runs that are pending or waiting (a delay,
 * `Transition.after`, a retry's backoff), activity calls and entries that
 * are pending or waiting (a call's backoff, a wait's timeout, a sleep's
 * end), schedules' next and last ticks, and finished runs' retention.
 * `infinity` (a step suspended on its calls, a wait with no timeout) stays.
 * Leases are left alone: nothing runs while the manual runtime's clock
 * moves. History (when runs were created, attempts made) is not moved.
 *
 * A schedule's run carries its tick in its idempotency key
 * (`schedule:<key>:<tick>`, what makes each tick fire once): that tick moves
 * too, or the same stored tick would come round again a period later, as a
 * duplicate. Moved in two steps (through a temporary prefix), since two
 * runs' keys may trade places and a unique index is checked row by row.
 */
export function shiftDueTimes(schema: Schema, ms: number): SqlQuery[] {
  return [
    sql`
    with shift as (select ${ms}::bigint * interval '1 millisecond' as by),
    runs as (
      update ${ident(schema)}.workflow_run r set run_at = r.run_at - shift.by
      from shift
      where r.state in ('pending', 'waiting') and r.run_at < 'infinity'
      returning 1
    ), retained as (
      update ${ident(schema)}.workflow_run r set expires_at = r.expires_at - shift.by
      from shift
      where r.state in ('succeeded', 'failed', 'cancelled') and r.expires_at is not null
      returning 1
    ), calls as (
      update ${ident(schema)}.activity_call c set run_at = c.run_at - shift.by
      from shift
      where c.state in ('pending', 'waiting') and c.run_at < 'infinity'
      returning 1
    ), ticks as (
      update ${ident(schema)}.schedule s
      set next_fire_at = s.next_fire_at - shift.by, last_fire_at = s.last_fire_at - shift.by
      from shift
      returning 1
    )
    select (select count(*) from runs)::int as runs, (select count(*) from retained)::int as retained,
      (select count(*) from calls)::int as calls, (select count(*) from ticks)::int as ticks`,
    sql`
    update ${ident(schema)}.workflow_run r
    set idempotency_key = chr(1) || left(r.idempotency_key, -24) ||
      to_char((right(r.idempotency_key, 24)::timestamptz - ${ms}::bigint * interval '1 millisecond')
        at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    where r.idempotency_key like 'schedule:%'
      and right(r.idempotency_key, 24) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$'
      and exists (select 1 from ${ident(schema)}.schedule s
        where s.workflow_name = r.workflow_name and left(r.idempotency_key, -25) = 'schedule:' || s.key)`,
    sql`
    update ${ident(schema)}.workflow_run r set idempotency_key = substr(r.idempotency_key, 2)
    where r.idempotency_key like chr(1) || '%'`,
  ];
}

export interface FutureScheduleRow {
  workflow_name: string;
  key: string;
  cron: string;
  timezone: string;
  next_fire_at: Date;
  last_fire_at: Date | null;
  db_now: Date;
}

/** The schedules whose next tick is not due yet, with the database's clock. */
export function futureSchedules(schema: Schema): SqlQuery {
  return sql`
    select workflow_name, key, cron, timezone, next_fire_at, last_fire_at, now() as db_now
    from ${ident(schema)}.schedule
    where next_fire_at > now()
    order by workflow_name, key`;
}

/** Sets one schedule's next tick, unless it changed since it was read. */
export function setNextFire(
  schema: Schema,
  row: {
    readonly workflowName: string;
    readonly key: string;
    readonly was: Date;
    readonly nextFireAt: Date;
  },
): SqlQuery {
  return sql`
    update ${ident(schema)}.schedule set next_fire_at = ${row.nextFireAt}
    where workflow_name = ${row.workflowName} and key = ${row.key} and next_fire_at = ${row.was}`;
}

export interface RunProgressRow {
  state: string | null;
  /**
   * In how many ms the run's own next piece of work is due (≤ 0: due now):
   * its step, or a call's retry, a wait's timeout, a sleep's end; `null`:
   * nothing of it is ever due by time alone.
   */
  own_due_in_ms: number | null;
  /** In how many ms anything of the schema is next due, later than now; `null`: nothing. */
  next_due_in_ms: number | null;
}

/** Where a run stands, for `runToCompletion`: its state and when its work is next due. */
export function runProgress(schema: Schema, runId: string): SqlQuery {
  return sql`
    select
      (select r.state from ${ident(schema)}.workflow_run r where r.id = ${runId}::uuid) as state,
      ceil(extract(epoch from least(
        (select r.run_at from ${ident(schema)}.workflow_run r
          where r.id = ${runId}::uuid and r.state in ('pending', 'waiting') and r.run_at < 'infinity'),
        (select min(c.run_at) from ${ident(schema)}.activity_call c
          where c.run_id = ${runId}::uuid and c.state in ('pending', 'waiting') and c.run_at < 'infinity')
      ) - now()) * 1000)::float8 as own_due_in_ms,
      ceil(extract(epoch from least(
        (select min(r.run_at) from ${ident(schema)}.workflow_run r
          where r.state in ('pending', 'waiting') and r.run_at > now() and r.run_at < 'infinity'),
        (select min(c.run_at) from ${ident(schema)}.activity_call c
          where c.state in ('pending', 'waiting') and c.run_at > now() and c.run_at < 'infinity')
      ) - now()) * 1000)::float8 as next_due_in_ms`;
}
