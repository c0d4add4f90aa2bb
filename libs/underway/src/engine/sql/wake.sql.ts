import { ident, prepared, Schema, sql, SqlQuery } from '../../database/sql';

/**
 * Marks a worker as waiting for work (or as busy, `waiting` false), with the
 * backend of its `LISTEN` connection. While any worker waits, enqueues of due
 * runs notify; otherwise they skip the `NOTIFY` (migration 5).
 */
export function markWaiting(
  schema: Schema,
  worker: string,
  listenerPid: number,
  waiting: boolean,
): SqlQuery {
  return prepared(
    sql`
    insert into ${ident(schema)}.waiting_worker (worker, listener_pid, waiting)
    values (${worker}, ${listenerPid}, ${waiting})
    on conflict (worker) do update
      set listener_pid = excluded.listener_pid, waiting = excluded.waiting, updated_at = now()`,
    'mark-waiting',
    schema,
  );
}

/**
 * Whether every enqueue that may have missed a worker's mark has ended: takes
 * the wake gate exclusively for the statement, without waiting for it. `true`:
 * a claim from now on sees the runs of all of them.
 */
export function wakeGateOpen(schema: Schema): SqlQuery {
  return prepared(
    sql`select ${ident(schema)}.wake_gate_open() as open`,
    'wake-gate',
    schema,
  );
}

/** Forgets a worker's mark (at shutdown). */
export function forgetWaiting(schema: Schema, worker: string): SqlQuery {
  return sql`delete from ${ident(schema)}.waiting_worker where worker = ${worker}`;
}

/**
 * Deletes the marks of workers whose `LISTEN` connection is gone (a worker
 * that died while waiting): enqueues would otherwise go on notifying for it.
 */
export function pruneStaleWaiting(schema: Schema): SqlQuery {
  return sql`
    delete from ${ident(schema)}.waiting_worker w
    where not exists (select 1 from pg_stat_activity a where a.pid = w.listener_pid)
    returning w.worker`;
}
