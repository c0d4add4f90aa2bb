import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 3: activities. One `activity_call` row per `ctx.call` / `ctx.emit`
 * of a step, identified by (run, step, call order). A call is claimable work
 * like a run: the same claim columns (`state`, `attempt`, `fence`, lease,
 * `run_at`, `priority`) with the same meaning. Its finished attempts go to
 * `activity_attempt`, as a step's go to `step_attempt`.
 *
 * On the run: `open_calls` counts the unfinished `call`s of its current step
 * (the commit that finishes the last one wakes the run, atomically, since
 * every change to the counter is an update of the run's row), and
 * `recorded_calls` how many calls and emits the current step has recorded (a
 * step with none replays nothing, so its claim needs no read of them). A run
 * suspended on calls is `waiting` with `run_at = 'infinity'`.
 */
export const UnderwayActivities: UnderwayMigrationDefinition = {
  version: 3,
  timestamp: 1700000000002,
  name: 'UnderwayActivities',
  up: (s) => [
    `alter table ${s}.workflow_run
      add column open_calls integer not null default 0 check (open_calls >= 0),
      add column recorded_calls integer not null default 0 check (recorded_calls >= 0)`,
    `create table ${s}.activity_call (
      run_id uuid not null,
      step_index integer not null,
      call_index integer not null check (call_index >= 0),
      kind text not null check (kind in ('call', 'emit')),
      workflow_name text not null,
      name text not null,
      args jsonb not null,
      result jsonb,
      error jsonb,
      state text not null default 'pending'
        check (state in ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
      attempt integer not null default 0 check (attempt >= 0),
      max_attempts integer not null check (max_attempts >= 1),
      fence bigint not null default 0,
      priority integer not null default 0,
      run_at timestamptz not null default now(),
      lease_ms integer not null check (lease_ms > 0),
      lease_expires_at timestamptz,
      lease_owner text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      attempt_started_at timestamptz,
      completed_at timestamptz,
      primary key (run_id, step_index, call_index)
    )`,
    `create index activity_call_claim_idx on ${s}.activity_call
      (priority desc, run_at, run_id, step_index, call_index) where state = 'pending'`,
    `create index activity_call_lease_idx on ${s}.activity_call
      (lease_expires_at) where state = 'running'`,
    `create table ${s}.activity_attempt (
      run_id uuid not null,
      step_index integer not null,
      call_index integer not null,
      attempt integer not null check (attempt >= 1),
      state text not null
        check (state in ('succeeded', 'failed', 'timed_out', 'lease_expired')),
      error jsonb,
      worker text,
      started_at timestamptz,
      completed_at timestamptz not null default now(),
      primary key (run_id, step_index, call_index, attempt)
    )`,
  ],
  down: (s) => [
    `drop table if exists ${s}.activity_attempt`,
    `drop table if exists ${s}.activity_call`,
    `alter table ${s}.workflow_run drop column if exists open_calls, drop column if exists recorded_calls`,
    `delete from ${s}.migration where version = 3`,
  ],
};
