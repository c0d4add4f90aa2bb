import {
  fragment,
  ident,
  notificationChannel,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../database/sql';
import { SCHEDULES_CHANGED } from '../model/wake-signal';

export interface ScheduleRow {
  workflow_name: string;
  key: string;
  cron: string;
  timezone: string;
  input: string | null;
  overlap: 'allow' | 'skip';
  source: 'decorator' | 'client';
  next_fire_at: Date;
  last_fire_at: Date | null;
  last_run_id: string | null;
  skipped: number;
}

export interface NewSchedule {
  readonly workflowName: string;
  readonly key: string;
  readonly cron: string;
  readonly timezone: string;
  /** JSON text, or `null` for no input. */
  readonly input: string | null;
  readonly overlap: 'allow' | 'skip';
  readonly source: 'decorator' | 'client';
  readonly nextFireAt: Date;
}

/** The database clock, which every fire time is computed for. */
export function databaseNow(): SqlQuery {
  return sql`select now() as now`;
}

/**
 * Creates or replaces the schedule (workflow, key), and tells every
 * scheduler to re-arm; inside the caller's transaction.
 */
export function upsertSchedule(schema: Schema, s: NewSchedule): SqlQuery {
  return sql`
    with upserted as (
      insert into ${ident(schema)}.schedule
        (workflow_name, key, cron, timezone, input, overlap, source, next_fire_at)
      values (${s.workflowName}, ${s.key}, ${s.cron}, ${s.timezone}, ${s.input}::jsonb,
        ${s.overlap}, ${s.source}, ${s.nextFireAt})
      on conflict (workflow_name, key) do update set
        cron = excluded.cron, timezone = excluded.timezone, input = excluded.input,
        overlap = excluded.overlap, source = excluded.source,
        next_fire_at = excluded.next_fire_at, updated_at = now()
      returning workflow_name, key, cron, timezone, input::text as input, overlap, source,
        next_fire_at, last_fire_at, last_run_id, skipped
    ), woken as (
      select pg_notify(${notificationChannel(schema)}, ${SCHEDULES_CHANGED}) from upserted
    )
    select * from upserted, (select count(*) from woken) w`;
}

/** Removes one schedule; returns its row if there was one. */
export function deleteSchedule(
  schema: Schema,
  workflowName: string,
  key: string,
): SqlQuery {
  return sql`
    with deleted as (
      delete from ${ident(schema)}.schedule
      where workflow_name = ${workflowName} and key = ${key}
      returning workflow_name
    ), woken as (
      select pg_notify(${notificationChannel(schema)}, ${SCHEDULES_CHANGED}) from deleted
    )
    select workflow_name, (select count(*) from woken) as woken from deleted`;
}

/** Every schedule, or those of one workflow, by workflow and key. */
export function listSchedules(
  schema: Schema,
  workflowName: string | null,
): SqlQuery {
  return sql`
    select workflow_name, key, cron, timezone, input::text as input, overlap, source,
        next_fire_at, last_fire_at, last_run_id, skipped
    from ${ident(schema)}.schedule
    where ${workflowName}::text is null or workflow_name = ${workflowName}
    order by workflow_name, key`;
}

export interface DueScheduleRow extends ScheduleRow {
  /** The state of the run of its last fire, if that run is still kept. */
  last_run_state: string | null;
  db_now: Date;
}

/**
 * Schedules that could not fire, left out of claims until their re-check: each
 * as it was (cron and zone), so that a row changed since is looked at again.
 */
export interface SetAsideSchedules {
  readonly workflowNames: readonly string[];
  readonly keys: readonly string[];
  readonly crons: readonly string[];
  readonly timezones: readonly string[];
}

/** The condition "schedule `s` is not set aside". */
function notSetAside(setAside: SetAsideSchedules): SqlFragment {
  return fragment`not exists (
      select 1 from unnest(${setAside.workflowNames}::text[], ${setAside.keys}::text[],
        ${setAside.crons}::text[], ${setAside.timezones}::text[]) as a(workflow_name, key, cron, timezone)
      where a.workflow_name = s.workflow_name and a.key = s.key
        and a.cron = s.cron and a.timezone = s.timezone)`;
}

/**
 * Claims due schedules of these workflows for this transaction: a schedule
 * that another instance is firing is skipped, not waited for, and once that
 * instance commits, its advanced `next_fire_at` is no longer due.
 */
export function claimDueSchedules(
  schema: Schema,
  workflowNames: readonly string[],
  limit: number,
  setAside: SetAsideSchedules,
): SqlQuery {
  return sql`
    select s.workflow_name, s.key, s.cron, s.timezone, s.input::text as input, s.overlap, s.source,
      s.next_fire_at, s.last_fire_at, s.last_run_id, s.skipped,
      (select r.state from ${ident(schema)}.workflow_run r where r.id = s.last_run_id) as last_run_state,
      now() as db_now
    from ${ident(schema)}.schedule s
    where s.next_fire_at <= now() and s.workflow_name = any(${workflowNames}::text[])
      and ${notSetAside(setAside)}
    order by s.next_fire_at
    limit ${limit}
    for update of s skip locked`;
}

/**
 * Marks where one schedule's fire starts: a failure rolls back to here, and
 * the schedules fired before it in the transaction stay fired.
 */
export function beforeScheduleFire(): SqlQuery {
  return sql`savepoint underway_schedule_fire`;
}

export function undoScheduleFire(): SqlQuery {
  return sql`rollback to savepoint underway_schedule_fire`;
}

/** Records a tick (fired or skipped) and moves the schedule to its next one. */
export function advanceSchedule(
  schema: Schema,
  advance: {
    readonly workflowName: string;
    readonly key: string;
    readonly nextFireAt: Date;
    /** `undefined`: the tick was skipped (overlap). */
    readonly fired: { readonly at: Date; readonly runId: string } | undefined;
  },
): SqlQuery {
  const fired = advance.fired;
  return sql`
    update ${ident(schema)}.schedule set
      next_fire_at = ${advance.nextFireAt},
      last_fire_at = coalesce(${fired?.at ?? null}::timestamptz, last_fire_at),
      last_run_id = coalesce(${fired?.runId ?? null}::uuid, last_run_id),
      skipped = skipped + ${fired ? 0 : 1},
      updated_at = now()
    where workflow_name = ${advance.workflowName} and key = ${advance.key}`;
}

/**
 * In how many ms the earliest schedule of these workflows that is not set
 * aside is due (`null`: none).
 */
export function nextDueInMs(
  schema: Schema,
  workflowNames: readonly string[],
  setAside: SetAsideSchedules,
): SqlQuery {
  return sql`
    select ceil(extract(epoch from (min(s.next_fire_at) - now())) * 1000)::float8 as ms
    from ${ident(schema)}.schedule s
    where s.workflow_name = any(${workflowNames}::text[]) and ${notSetAside(setAside)}`;
}
