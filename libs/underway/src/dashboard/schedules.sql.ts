import { fragment, ident, Schema, sql, SqlQuery } from '../database/sql';
import { PageCursor, readsBackwards } from './keyset';
import { payloadBytes, PayloadRead, payloadText } from './payload.sql';

export interface ScheduleRow {
  workflow_name: string;
  key: string;
  cron: string;
  timezone: string;
  overlap: string;
  source: string;
  /** The start of the input's JSON, and its stored size (`showPayloads`: see payload.sql.ts). */
  input: string | null;
  input_bytes: number | null;
  next_fire_at: Date;
  last_fire_at: Date | null;
  last_run_id: string | null;
  last_run_state: string | null;
  skipped: number;
}

/** A schedule's place in the list: its primary key. */
export type ScheduleKey = readonly [workflowName: string, key: string];

/**
 * A page of schedules in (workflow, key) order, keyset-paginated on the
 * primary key: `limit` rows after or before `cursor` (before and last: in
 * descending order), each with the state of its last run (one primary-key
 * lookup each). With 100,000 schedules, any page reads `limit` of them.
 */
export function selectSchedulesPage(
  schema: Schema,
  cursor: PageCursor<ScheduleKey>,
  options: { limit: number; input: PayloadRead | null },
): SqlQuery {
  const range =
    cursor.kind === 'after'
      ? fragment`where (s.workflow_name, s.key) > (${cursor.key[0]}::text, ${cursor.key[1]}::text)`
      : cursor.kind === 'before'
        ? fragment`where (s.workflow_name, s.key) < (${cursor.key[0]}::text, ${cursor.key[1]}::text)`
        : fragment``;
  const order = readsBackwards(cursor)
    ? fragment`order by s.workflow_name desc, s.key desc`
    : fragment`order by s.workflow_name, s.key`;
  const input = fragment`s.input`;
  return sql`
    select s.workflow_name, s.key, s.cron, s.timezone, s.overlap, s.source,
      ${payloadText(input, options.input)} as input,
      ${payloadBytes(input, options.input)} as input_bytes,
      s.next_fire_at, s.last_fire_at, s.last_run_id, r.state as last_run_state, s.skipped
    from ${ident(schema)}.schedule s
    left join ${ident(schema)}.workflow_run r on r.id = s.last_run_id
    ${range}
    ${order}
    limit ${options.limit}`;
}
