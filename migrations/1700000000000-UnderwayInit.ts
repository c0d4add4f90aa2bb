import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 1: runs (which are their own queue entries: one row write per claim
 * and per step transition, instead of a run row plus a task row), the history
 * of step attempts, concurrency-key slots, the dead-letter queue, and the
 * schema version table.
 *
 * A run row carries the state of its current step: `step_index`, `attempt`
 * (attempts made at this step), `fence` (bumped on every claim; every write of
 * a worker is conditioned on it), `lease_expires_at`, `run_at`.
 */
export const UnderwayInit: UnderwayMigrationDefinition = {
  version: 1,
  timestamp: 1700000000000,
  name: 'UnderwayInit',
  up: (s) => [
    `create schema if not exists ${s}`,
    `create table ${s}.migration (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`,
    `create table ${s}.workflow_run (
      id uuid primary key,
      workflow_name text not null,
      state text not null default 'pending'
        check (state in ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
      step_index integer not null default 0 check (step_index >= 0),
      input jsonb,
      step_input jsonb,
      output jsonb,
      error jsonb,
      attempt integer not null default 0 check (attempt >= 0),
      max_attempts integer not null check (max_attempts >= 1),
      fence bigint not null default 0,
      priority integer not null default 0,
      run_priority integer not null default 0,
      run_at timestamptz not null default now(),
      lease_ms integer not null check (lease_ms > 0),
      lease_expires_at timestamptz,
      lease_owner text,
      concurrency_key text,
      idempotency_key text,
      dead_letter text,
      ttl_ms bigint not null check (ttl_ms >= 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      attempt_started_at timestamptz,
      completed_at timestamptz,
      expires_at timestamptz
    )`,
    // Claim order: priority, then due time, then enqueue order (ids are UUIDv7).
    `create index workflow_run_claim_idx on ${s}.workflow_run
      (priority desc, run_at, id) where state in ('pending', 'waiting')`,
    `create index workflow_run_lease_idx on ${s}.workflow_run
      (lease_expires_at) where state = 'running'`,
    `create unique index workflow_run_idempotency_idx on ${s}.workflow_run
      (workflow_name, idempotency_key) where idempotency_key is not null`,
    `create index workflow_run_concurrency_idx on ${s}.workflow_run
      (concurrency_key, id) where concurrency_key is not null and state in ('pending', 'running', 'waiting')`,
    `create index workflow_run_expires_idx on ${s}.workflow_run
      (expires_at) where expires_at is not null`,
    // No foreign key to workflow_run: its check costs a lookup and a row lock per
    // attempt on the hottest path (about 15% of throughput); the attempts of a
    // run are deleted with it by retention, in the same statement.
    `create table ${s}.step_attempt (
      run_id uuid not null,
      step_index integer not null,
      attempt integer not null check (attempt >= 1),
      state text not null
        check (state in ('succeeded', 'failed', 'timed_out', 'lease_expired', 'cancelled')),
      error jsonb,
      worker text,
      started_at timestamptz,
      completed_at timestamptz not null default now(),
      primary key (run_id, step_index, attempt)
    )`,
    // The run holding each concurrency key (null: free). Claims lock the key's
    // row, so two workers can never both start a run of one key.
    `create table ${s}.concurrency_slot (
      key text primary key,
      run_id uuid,
      updated_at timestamptz not null default now()
    )`,
    // Runs that failed for good in a workflow with a dead-letter queue: a copy
    // of what is needed to redrive them, kept apart from the run's retention.
    `create table ${s}.dead_letter (
      id bigint generated always as identity primary key,
      queue text not null,
      run_id uuid not null unique,
      workflow_name text not null,
      input jsonb,
      error jsonb,
      failed_at timestamptz not null default now(),
      redriven_at timestamptz,
      redriven_run_id uuid
    )`,
    `create index dead_letter_queue_idx on ${s}.dead_letter (queue, id) where redriven_at is null`,
  ],
  down: (s) => [
    `drop table if exists ${s}.dead_letter`,
    `drop table if exists ${s}.concurrency_slot`,
    `drop table if exists ${s}.step_attempt`,
    `drop table if exists ${s}.workflow_run`,
    `drop table if exists ${s}.migration`,
  ],
};
