import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 2: schedules, one row per (workflow, key). `next_fire_at` is the
 * next tick, on the database clock; the scheduler of any instance that runs
 * the workflow claims a due row (`FOR UPDATE SKIP LOCKED`), enqueues its run
 * (idempotent on schedule and fire time) and advances the row, in one
 * transaction. `source` keeps the rows of `@Workflow({ schedule })` (synced at
 * boot) apart from those of `client.schedule()` (never touched by the sync).
 */
export const UnderwaySchedules: UnderwayMigrationDefinition = {
  version: 2,
  timestamp: 1700000000001,
  name: 'UnderwaySchedules',
  up: (s) => [
    `create table ${s}.schedule (
      workflow_name text not null,
      key text not null,
      cron text not null,
      timezone text not null,
      input jsonb,
      overlap text not null default 'allow' check (overlap in ('allow', 'skip')),
      source text not null check (source in ('decorator', 'client')),
      next_fire_at timestamptz not null,
      last_fire_at timestamptz,
      last_run_id uuid,
      skipped integer not null default 0 check (skipped >= 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (workflow_name, key)
    )`,
    `create index schedule_due on ${s}.schedule (next_fire_at)`,
  ],
  down: (s) => [
    `drop table if exists ${s}.schedule`,
    `delete from ${s}.migration where version = 2`,
  ],
};
