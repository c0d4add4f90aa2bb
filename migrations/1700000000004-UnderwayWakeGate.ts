import type { UnderwayMigrationDefinition } from './underway-migration';

/**
 * Version 5: wake-ups only for workers that wait. Every enqueue used to send
 * a `NOTIFY`, and PostgreSQL commits notifying transactions one at a time
 * (under a database-wide lock, fsync included), which bounded enqueues from
 * many callers. Now a worker that is about to wait for work says so in
 * `waiting_worker`, and an enqueue of a run due now notifies only while some
 * worker waits (a delayed run still always notifies: busy workers set its
 * timer).
 *
 * The gate that keeps this free of lost wake-ups is an advisory lock: an
 * enqueue takes it shared before it reads `waiting_worker` (in a statement of
 * its own, so with a snapshot taken after the lock), and holds it until its
 * transaction ends. A worker that has just marked itself waiting claims once
 * more only after `wake_gate_open()` took that lock exclusively for a moment:
 * by then every enqueue that read the table before the mark has committed or
 * rolled back, so the claim sees its runs, and every later one sees the mark
 * and notifies. A worker never waits on the lock (`pg_try_…`): while an
 * enqueue's transaction is open, it claims again a little later instead.
 *
 * Under REPEATABLE READ or SERIALIZABLE an enqueue reads with its
 * transaction's snapshot, which may predate a mark: it always notifies.
 */
export const UnderwayWakeGate: UnderwayMigrationDefinition = {
  version: 5,
  timestamp: 1700000000004,
  name: 'UnderwayWakeGate',
  up: (s) => [
    `create table ${s}.waiting_worker (
      worker text primary key,
      -- the backend of the worker's LISTEN connection: a mark whose backend is
      -- gone is stale (maintenance deletes it)
      listener_pid integer not null,
      waiting boolean not null,
      updated_at timestamptz not null default now()
    )`,
    `create function ${s}.notify_workers(channel text, payload text) returns integer
      language plpgsql volatile as $$
    begin
      if payload = '' and current_setting('transaction_isolation') = 'read committed' then
        perform pg_advisory_xact_lock_shared(hashtextextended('underway:wake:' || ${quoteLiteral(s)}, 0));
        if not exists (select 1 from ${s}.waiting_worker where waiting) then
          return 0;
        end if;
      end if;
      perform pg_notify(channel, payload);
      return 1;
    end $$`,
    `create function ${s}.wake_gate_open() returns boolean
      language sql volatile as $$
      select pg_try_advisory_xact_lock(hashtextextended('underway:wake:' || ${quoteLiteral(s)}, 0))
    $$`,
  ],
  down: (s) => [
    `drop function if exists ${s}.wake_gate_open()`,
    `drop function if exists ${s}.notify_workers(text, text)`,
    `drop table if exists ${s}.waiting_worker`,
    `delete from ${s}.migration where version = 5`,
  ],
};

/** `s` is a quoted identifier of a validated schema (no `'` in it). */
function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
