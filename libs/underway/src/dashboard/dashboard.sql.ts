import {
  fragment,
  ident,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../database/sql';

/*
 * The dashboard's reads. None of them scans the whole run table: each one
 * walks an index for the rows it shows (see README "Dashboard": the EXPLAIN
 * of each on 1,000,000 runs, checked by test/e2e/dashboard-explain.e2e-spec.ts).
 */

export interface ActiveCountRow {
  workflow_name: string;
  state: 'pending' | 'running' | 'waiting';
  runs: number;
  /** Age of the oldest run due now and not yet started, in ms. */
  oldest_due_ms: number | null;
}

/**
 * Unfinished runs per workflow and state, with the age of the oldest due
 * one: exact, through the partial indexes of the claim (`pending`,
 * `waiting`) and of the leases (`running`), whose size is the unfinished
 * runs, not the table.
 */
export function selectActiveCounts(schema: Schema): SqlQuery {
  return sql`
    select workflow_name, state, count(*)::int as runs,
      (extract(epoch from now() - min(run_at) filter (where run_at <= now())) * 1000)::bigint::float8
        as oldest_due_ms
    from ${ident(schema)}.workflow_run
    where state in ('pending', 'waiting')
    group by workflow_name, state
    union all
    select workflow_name, 'running', count(*)::int, null
    from ${ident(schema)}.workflow_run
    where state = 'running'
    group by workflow_name`;
}

export interface FinishedCountRow {
  workflow_name: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  runs: number;
}

/**
 * Runs finished in the last `windowMs`, per workflow and final state. A
 * finished run's `expires_at` is its `completed_at` plus its `ttl_ms`, and is
 * indexed for retention: for each retention in use (`ttlsMs`: those of the
 * registered workflows and the default, plus those of unfinished runs), the
 * runs finished in the window are one range of that index. So the cost is
 * the runs counted, not the table. A run whose `ttl_ms` is in none of these
 * (a workflow neither registered here nor running, whose retention changed)
 * is not counted.
 */
export function selectFinishedCounts(
  schema: Schema,
  ttlsMs: readonly number[],
  windowMs: number,
): SqlQuery {
  return sql`
    with ttl as (
      select unnest(${ttlsMs}::bigint[]) as ttl_ms
      union
      select distinct ttl_ms from ${ident(schema)}.workflow_run where state in ('pending', 'waiting')
      union
      select distinct ttl_ms from ${ident(schema)}.workflow_run where state = 'running'
    )
    select r.workflow_name, r.state, count(*)::int as runs
    from ttl t
    -- One index range per retention (offset 0 keeps the planner from
    -- flattening this into a hash join over the whole table).
    cross join lateral (
      select workflow_name, state from ${ident(schema)}.workflow_run
      where ttl_ms = t.ttl_ms
        and expires_at > now() + (t.ttl_ms - ${windowMs}::bigint) * interval '1 millisecond'
        and expires_at <= now() + t.ttl_ms * interval '1 millisecond'
        and state in ('succeeded', 'failed', 'cancelled')
      offset 0
    ) r
    group by r.workflow_name, r.state`;
}

/** Which runs a page of the runs list shows. */
export interface RunsPageQuery {
  readonly workflow: string | undefined;
  readonly state: string | undefined;
  /** Time filter, as UUIDv7 bounds: `id >= fromId` and `id < toId`. */
  readonly fromId: string | undefined;
  readonly toId: string | undefined;
  /** Keyset cursor: older than `before` (newest first), or newer than `after`. */
  readonly before: string | undefined;
  readonly after: string | undefined;
  /** Rows to return (one more than a page, to know whether there is more). */
  readonly limit: number;
  /**
   * `undefined`: every run in range is a candidate (the filters are served by
   * an index). Otherwise at most this many runs, walked in id order, are
   * looked at (`scanned`, `frontier` say how far it went), so that a filter
   * matching few runs costs a bounded walk per page, never a table scan.
   */
  readonly window: number | undefined;
}

export interface RunListRow {
  id: string;
  workflow_name: string;
  state: string;
  step_index: number;
  attempt: number;
  max_attempts: number;
  error: { code: string; message: string; name?: string } | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface RunsPageRow {
  runs: RunListRow[];
  /** With a window: the runs looked at, and the last of them in walk order. */
  scanned: number | null;
  frontier: string | null;
}

/**
 * One page of the runs list, keyset-paginated on the primary key (run ids
 * are UUIDv7: their order is enqueue order, and a time range is an id
 * range). Newest first; with `after`, the page just newer than the cursor
 * (returned newest first too).
 */
export function selectRunsPage(schema: Schema, q: RunsPageQuery): SqlQuery {
  const range: SqlFragment[] = [];
  if (q.fromId !== undefined) {
    range.push(fragment`id >= ${q.fromId}::uuid`);
  }
  if (q.toId !== undefined) {
    range.push(fragment`id < ${q.toId}::uuid`);
  }
  if (q.before !== undefined) {
    range.push(fragment`id < ${q.before}::uuid`);
  }
  if (q.after !== undefined) {
    range.push(fragment`id > ${q.after}::uuid`);
  }
  const filters: SqlFragment[] = [];
  if (q.workflow !== undefined) {
    filters.push(fragment`workflow_name = ${q.workflow}`);
  }
  if (q.state !== undefined) {
    filters.push(fragment`state = ${q.state}`);
  }
  const newestFirst = q.after === undefined;
  const order = newestFirst
    ? fragment`order by id desc`
    : fragment`order by id asc`;
  const columns = fragment`id, workflow_name, state, step_index, attempt, max_attempts, error,
    created_at, updated_at, completed_at`;
  const rowJson = fragment`jsonb_build_object('id', id, 'workflow_name', workflow_name,
    'state', state, 'step_index', step_index, 'attempt', attempt, 'max_attempts', max_attempts,
    'error', error, 'created_at', created_at, 'updated_at', updated_at, 'completed_at', completed_at)`;
  if (q.window === undefined) {
    return sql`
      with page as (
        select ${columns} from ${ident(schema)}.workflow_run
        ${where([...range, ...filters])}
        ${order}
        limit ${q.limit}
      )
      select coalesce(jsonb_agg(${rowJson} order by id desc), '[]'::jsonb) as runs,
        null::int as scanned, null::text as frontier
      from page`;
  }
  return sql`
    with scanned as materialized (
      select id, workflow_name, state from ${ident(schema)}.workflow_run
      ${where(range)}
      ${order}
      limit ${q.window}
    ), matched as (
      select id from scanned
      ${where(filters)}
      ${order}
      limit ${q.limit}
    ), page as (
      select ${columns} from ${ident(schema)}.workflow_run
      where id in (select id from matched)
    )
    select coalesce((select jsonb_agg(${rowJson} order by id desc) from page), '[]'::jsonb) as runs,
      (select count(*) from scanned)::int as scanned,
      (select ${newestFirst ? fragment`min` : fragment`max`}(id::text) from scanned) as frontier`;
}

function where(conditions: readonly SqlFragment[]): SqlFragment {
  if (conditions.length === 0) {
    return fragment``;
  }
  let clause = fragment`where ${conditions[0]}`;
  for (const condition of conditions.slice(1)) {
    clause = fragment`${clause} and ${condition}`;
  }
  return clause;
}
