import { fragment, ident, Schema, sql, SqlQuery } from '../database/sql';
import { PageCursor, readsBackwards } from './keyset';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';

/*
 * A run's signals on its page, through `signal_run_idx` (run_id, seq): a
 * run with 100,000 signals is counted, and listed a page at a time.
 */

export interface SignalPageRow {
  id: string;
  /** Its place in send order (a bigint, as text): the page's key. */
  seq: string;
  name: string;
  state: 'pending' | 'consumed';
  idempotency_key: string | null;
  /** The wait that took it: its step and position. */
  step_index: number | null;
  step_name: string | null;
  call_index: number | null;
  created_at: Date;
  consumed_at: Date | null;
  /** The start of its payload's JSON, and its stored size (`showPayloads`: see payload.sql.ts). */
  payload: string | null;
  payload_bytes: number | null;
}

/**
 * A page of a run's signals in send order: `limit` rows after or before
 * `cursor` (a `seq`; before and last: read in descending order).
 */
export function selectSignalsPage(
  schema: Schema,
  runId: string,
  cursor: PageCursor<string>,
  options: { limit: number; payload: PayloadRead | null },
): SqlQuery {
  const range =
    cursor.kind === 'after'
      ? fragment`and s.seq > ${cursor.key}::bigint`
      : cursor.kind === 'before'
        ? fragment`and s.seq < ${cursor.key}::bigint`
        : fragment``;
  const order = readsBackwards(cursor)
    ? fragment`order by s.seq desc`
    : fragment`order by s.seq`;
  const payload = fragment`s.payload`;
  return sql`
    select s.id, s.seq::text as seq, s.name, s.state, s.idempotency_key, s.step_index,
      s.step_name, s.call_index, s.created_at, s.consumed_at,
      ${payloadText(payload, options.payload)} as payload,
      ${payloadBytes(payload, options.payload)} as payload_bytes
    from ${ident(schema)}.signal s
    where s.run_id = ${runId} ${range}
    ${order}
    limit ${options.limit}`;
}

export interface SignalCountsRow {
  total: number;
  pending: number;
}

/** How many signals a run was sent, and how many no wait took yet. */
export function selectSignalCounts(schema: Schema, runId: string): SqlQuery {
  return sql`
    select count(*)::int as total,
      (count(*) filter (where state = 'pending'))::int as pending
    from ${ident(schema)}.signal
    where run_id = ${runId}`;
}
