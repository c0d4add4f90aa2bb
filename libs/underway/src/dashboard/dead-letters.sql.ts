import { fragment, ident, Schema, sql, SqlQuery } from '../database/sql';
import { PageCursor, readsBackwards } from './keyset';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';

export interface DeadLetterQueueRow {
  queue: string;
  waiting: number;
  total: number;
  oldest_failed_at: Date | null;
  latest_failed_at: Date;
}

/**
 * A page of dead-letter queues in name order, with their entries to redrive
 * and in all: `limit` queues after or before `cursor` (before and last: in
 * descending order). Listing the queues groups the whole table, whose
 * entries are kept until deleted: only the entries to redrive have an index
 * by queue (`dead_letter_queue_idx`), and a queue whose entries were all
 * redriven is still listed.
 */
export function selectDeadLetterQueuesPage(
  schema: Schema,
  cursor: PageCursor<string>,
  limit: number,
): SqlQuery {
  const range =
    cursor.kind === 'after'
      ? fragment`where queue > ${cursor.key}::text`
      : cursor.kind === 'before'
        ? fragment`where queue < ${cursor.key}::text`
        : fragment``;
  const order = readsBackwards(cursor)
    ? fragment`order by queue desc`
    : fragment`order by queue`;
  return sql`
    select queue, count(*) filter (where redriven_at is null)::int as waiting, count(*)::int as total,
      min(failed_at) filter (where redriven_at is null) as oldest_failed_at,
      max(failed_at) as latest_failed_at
    from ${ident(schema)}.dead_letter
    ${range}
    group by queue
    ${order}
    limit ${limit}`;
}

/** The entries still to redrive, over every queue (the overview's count): the partial index. */
export function selectDeadLettersWaiting(schema: Schema): SqlQuery {
  return sql`
    select count(*)::int as waiting from ${ident(schema)}.dead_letter where redriven_at is null`;
}

export interface DeadLetterPageRow {
  id: string;
  run_id: string;
  workflow_name: string;
  /** The start of the input's JSON, and its stored size (`showPayloads`: see payload.sql.ts). */
  input: string | null;
  input_bytes: number | null;
  error: { code: string; message: string; name?: string } | null;
  failed_at: Date;
  redriven_at: Date | null;
  redriven_run_id: string | null;
}

/** A page of a queue's entries, newest first, keyset on the entry id. */
export function selectDeadLetterPage(
  schema: Schema,
  queue: string,
  options: {
    before: string | undefined;
    includeRedriven: boolean;
    limit: number;
    input: PayloadRead | null;
  },
): SqlQuery {
  const input = fragment`input`;
  return sql`
    select id::text as id, run_id, workflow_name,
      ${payloadText(input, options.input)} as input,
      ${payloadBytes(input, options.input)} as input_bytes,
      error, failed_at, redriven_at, redriven_run_id
    from ${ident(schema)}.dead_letter
    where queue = ${queue}
      ${options.includeRedriven ? fragment`` : fragment`and redriven_at is null`}
      ${options.before === undefined ? fragment`` : fragment`and id < ${options.before}::bigint`}
    order by id desc
    limit ${options.limit}`;
}
