import {
  ident,
  notificationChannel,
  Schema,
  sql,
  SqlQuery,
} from '../../database/sql';

export interface RetryTargetRow {
  state: string;
  workflow_name: string;
  workflow_version: number;
  step_index: number;
  step_name: string | null;
}

/**
 * The run to retry, locked: a retention pass that locked it first deletes it
 * (this then finds nothing), one that comes later skips it.
 */
export function lockRunForRetry(schema: Schema, runId: string): SqlQuery {
  return sql`
    select state, workflow_name, workflow_version, step_index, step_name
    from ${ident(schema)}.workflow_run
    where id = ${runId}
    for update`;
}

export interface RetryDeadLetterRow {
  queue: string;
  redriven_run_id: string | null;
}

/**
 * The run's dead-letter entry, locked: a redrive that holds it is waited for
 * (and seen redriven afterwards); a later one skips it (`SKIP LOCKED`). So a
 * run is never both retried in place and redriven as a new run.
 */
export function lockDeadLetterForRetry(
  schema: Schema,
  runId: string,
): SqlQuery {
  return sql`
    select queue, redriven_run_id from ${ident(schema)}.dead_letter
    where run_id = ${runId}
    for update`;
}

/** The attempt budgets the retried run gets, from its workflow's definition. */
export interface RetryBudgets {
  /** By durable step name: its `maxAttempts`. */
  readonly steps: Readonly<Record<string, number>>;
  /** By durable activity name: its `maxAttempts`. */
  readonly activities: Readonly<Record<string, number>>;
}

/**
 * Gives a failed run (locked by `lockRunForRetry`) a fresh attempt budget at
 * the step that failed, in one statement:
 *
 * - The run's attempts go on from where they stopped (attempt numbers stay
 *   unique in `step_attempt`): `max_attempts = attempt + the step's maxAttempts`.
 * - That step's failed `ctx.call`s (`kind = 'call'`) go back to `pending`
 *   with a fresh budget of their own, and the run waits on them (`waiting`,
 *   `run_at = 'infinity'`, `open_calls`) exactly as a suspended step does:
 *   their commit wakes it and the step replays with their new results, not
 *   the recorded failure. Without failed calls the run is due now.
 * - Finished steps, succeeded calls and emits are left as they are.
 * - Its dead-letter entry (not redriven: checked by the caller) is removed:
 *   the run is no longer dead, and should it fail again it is recorded again.
 * - Its concurrency key's slot is re-created if retention removed it, and
 *   the workers are woken.
 */
export function retryFailedRun(
  schema: Schema,
  runId: string,
  budgets: RetryBudgets,
): SqlQuery {
  return sql`
    with target as (
      select id, step_index, concurrency_key from ${ident(schema)}.workflow_run
      where id = ${runId} and state = 'failed'
    ), reset_calls as (
      update ${ident(schema)}.activity_call c
      set state = 'pending', error = null, fence = c.fence + 1,
        max_attempts = c.attempt + coalesce((${JSON.stringify(budgets.activities)}::jsonb ->> c.name)::int,
          c.max_attempts),
        run_at = now(), completed_at = null, lease_expires_at = null, lease_owner = null,
        updated_at = now()
      from target t
      where c.run_id = t.id and c.step_index = t.step_index and c.kind = 'call'
        and c.state = 'failed'
      returning c.run_id
    ), updated as (
      update ${ident(schema)}.workflow_run r
      set state = case when exists (select 1 from reset_calls) then 'waiting' else 'pending' end,
        run_at = case when exists (select 1 from reset_calls) then 'infinity' else now() end,
        open_calls = r.open_calls + (select count(*) from reset_calls)::int,
        max_attempts = r.attempt + coalesce((${JSON.stringify(budgets.steps)}::jsonb ->> r.step_name)::int,
          r.max_attempts),
        fence = r.fence + 1, error = null, completed_at = null, expires_at = null,
        lease_expires_at = null, lease_owner = null, updated_at = now()
      from target t
      where r.id = t.id
      returning r.id, r.state, r.concurrency_key
    ), revived as (
      delete from ${ident(schema)}.dead_letter d
      using updated u
      where d.run_id = u.id and d.redriven_at is null
    ), slot as (
      insert into ${ident(schema)}.concurrency_slot (key)
      select concurrency_key from updated where concurrency_key is not null
      on conflict (key) do nothing
    ), woken as (
      -- One wake-up: the run, or its calls, are due now.
      select pg_notify(${notificationChannel(schema)}, '') from updated
    )
    select u.state, (select count(*) from reset_calls)::int as reset_calls,
      (select count(*) from woken) as woken
    from updated u`;
}
