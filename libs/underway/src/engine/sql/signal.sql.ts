import {
  ident,
  notificationChannel,
  prepared,
  Schema,
  sql,
  SqlQuery,
} from '../../database/sql';

// Signals, waits and sleeps: the statements around the functions of
// migration 7 (UnderwaySignals), which order every match of a signal to a
// wait after a lock on the run's row.

export interface SendSignalRow {
  result: {
    outcome: 'stored' | 'duplicate' | 'finished' | 'not_found';
    signalId?: string;
    state?: string;
    delivered?: number;
  };
}

/**
 * Stores a signal for a run and gives it to a wait of the run's current
 * step if one takes it, in the executor's transaction: `send_signal` locks
 * the run's row first, and reads after the lock.
 */
export function sendSignal(
  schema: Schema,
  signal: {
    readonly runId: string;
    readonly id: string;
    readonly name: string;
    /** JSON text (`null`: no payload). */
    readonly payload: string | null;
    readonly idempotencyKey: string | null;
    readonly traceContext: Record<string, string> | null;
  },
): SqlQuery {
  return prepared(
    sql`
    select ${ident(schema)}.send_signal(${signal.runId}::uuid, ${signal.id}::uuid, ${signal.name},
      ${signal.payload}::jsonb, ${signal.idempotencyKey}::text,
      ${signal.traceContext === null ? null : JSON.stringify(signal.traceContext)}::jsonb,
      ${notificationChannel(schema)}) as result`,
    'send-signal',
    schema,
  );
}

/**
 * After a step suspended on waits, in the same transaction: gives the waits
 * the signals already sent (the suspension's statement holds the runs' row
 * locks, so this statement reads after them).
 */
export function deliverAfterWait(
  schema: Schema,
  runIds: readonly string[],
): SqlQuery {
  return prepared(
    sql`select ${ident(schema)}.deliver_after_wait(${runIds}::uuid[], ${notificationChannel(schema)}) as delivered`,
    'deliver-after-wait',
    schema,
  );
}

/**
 * Ends the waits and sleeps (of the given workflows' versions) whose
 * deadline passed, up to `limit`, and wakes their runs.
 */
export function expireWaits(
  schema: Schema,
  names: readonly string[],
  workflowKeys: readonly string[],
  limit: number,
): SqlQuery {
  return prepared(
    sql`select ${ident(schema)}.expire_waits(${names}::text[], ${workflowKeys}::text[], ${limit}::int,
      ${notificationChannel(schema)}) as expired`,
    'expire-waits',
    schema,
  );
}

export interface WaitRow {
  step_index: number;
  step_name: string | null;
  call_index: number;
  kind: 'wait' | 'sleep';
  args: string[];
  state: string;
  deadline: Date | null;
  created_at: Date;
  completed_at: Date | null;
  signal_id: string | null;
}

/** A run's waits and sleeps (the latest `limit`), for `getRun()`. */
export function selectWaits(
  schema: Schema,
  runId: string,
  limit: number,
): SqlQuery {
  return sql`
    select * from (
      select step_index, step_name, call_index, kind, args, state,
        case when run_at < 'infinity' then run_at end as deadline, created_at, completed_at,
        result ->> 'signalId' as signal_id
      from ${ident(schema)}.activity_call
      where run_id = ${runId} and kind in ('wait', 'sleep')
      order by step_index desc, call_index desc
      limit ${limit}) w
    order by step_index, call_index`;
}

export interface SignalRow {
  id: string;
  name: string;
  state: 'pending' | 'consumed';
  idempotency_key: string | null;
  step_index: number | null;
  step_name: string | null;
  call_index: number | null;
  created_at: Date;
  consumed_at: Date | null;
}

/** A run's signals (the latest `limit`), in send order, for `getRun()`. */
export function selectSignals(
  schema: Schema,
  runId: string,
  limit: number,
): SqlQuery {
  return sql`
    select * from (
      select id, name, state, idempotency_key, step_index, step_name, call_index, created_at,
        consumed_at, seq
      from ${ident(schema)}.signal
      where run_id = ${runId}
      order by seq desc
      limit ${limit}) g
    order by seq`;
}
