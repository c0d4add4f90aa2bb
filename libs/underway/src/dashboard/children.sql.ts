import {
  fragment,
  ident,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../database/sql';
import { PageCursor, readsBackwards } from './keyset';

/*
 * A run's children on its page. Listed through its own entries, a range of
 * activity_call's primary key (run_id, step_index, call_index) in the order
 * they were started, each with its run by id: a fan-out of 10,000 children
 * is listed a page at a time. The entries of other kinds are skipped on the
 * way, at most the run's entries, as its steps' counts read them. Counted
 * by state through workflow_run_parent_idx.
 */

/** A child's place among its parent's entries: the page's key. */
export interface ChildKey {
  readonly stepIndex: number;
  readonly callIndex: number;
}

export interface ChildPageRow {
  /** The entry that started it: its step and position, and `child` (awaited) or `start`. */
  step_index: number;
  call_index: number;
  kind: 'child' | 'start';
  workflow_name: string;
  run_id: string;
  /** Its run's state now (`null`: no longer retained); else as its entry recorded it. */
  state: string | null;
  entry_state: string;
  entry_error_state: string | null;
  created_at: Date;
  completed_at: Date | null;
}

/**
 * A page of a run's children in the order they were started: `limit` rows
 * after or before `cursor` (before and last: read in descending order),
 * then each one's run.
 *
 * A cursor reads two ranges of the primary key, each with the limit: the
 * rest of its step, then, if that falls short, the steps beyond it. One row
 * comparison, `(step_index, call_index) < (1, 5000)`, would read the same
 * rows, but PostgreSQL estimates it by its first column alone
 * (`step_index < 1`: a few rows), and so read a page half-way through a
 * fan-out of 10,000 children as a bitmap of 6,000 entries, sorted (12 ms
 * instead of 0.1).
 */
export function selectChildrenPage(
  schema: Schema,
  runId: string,
  cursor: PageCursor<ChildKey>,
  limit: number,
): SqlQuery {
  const backwards = readsBackwards(cursor);
  const order = backwards
    ? fragment`order by step_index desc, call_index desc`
    : fragment`order by step_index, call_index`;
  // The same, after the join (a run has a step_index too).
  const joinedOrder = backwards
    ? fragment`order by c.step_index desc, c.call_index desc`
    : fragment`order by c.step_index, c.call_index`;
  const entries = (range: SqlFragment, rangeOrder: SqlFragment) => fragment`(
      select c.step_index, c.call_index, c.kind, c.name as workflow_name,
        c.child_run_id as run_id, c.state as entry_state,
        c.error ->> 'state' as entry_error_state, c.created_at, c.completed_at
      from ${ident(schema)}.activity_call c
      where c.run_id = ${runId} and c.kind in ('child', 'start') ${range}
      ${rangeOrder}
      limit ${limit})`;
  let page: SqlFragment;
  if (cursor.kind === 'first' || cursor.kind === 'last') {
    page = entries(fragment``, order);
  } else {
    const { stepIndex, callIndex } = cursor.key;
    const [sameStep, stepsBeyond] =
      cursor.kind === 'after'
        ? [
            fragment`and c.step_index = ${stepIndex}::int and c.call_index > ${callIndex}::int`,
            fragment`and c.step_index > ${stepIndex}::int`,
          ]
        : [
            fragment`and c.step_index = ${stepIndex}::int and c.call_index < ${callIndex}::int`,
            fragment`and c.step_index < ${stepIndex}::int`,
          ];
    // The steps beyond are read only when the cursor's step falls short.
    page = fragment`(
      with same_step as ${entries(sameStep, backwards ? fragment`order by c.call_index desc` : fragment`order by c.call_index`)}
      select * from same_step
      union all ${entries(fragment`${stepsBeyond} and (select count(*) from same_step) < ${limit}`, order)}
      ${order}
      limit ${limit})`;
  }
  return sql`
    select c.step_index, c.call_index, c.kind, c.workflow_name, c.run_id, r.state,
      c.entry_state, c.entry_error_state,
      coalesce(r.created_at, c.created_at) as created_at,
      coalesce(r.completed_at, c.completed_at) as completed_at
    from ${page} c
    left join ${ident(schema)}.workflow_run r on r.id = c.run_id
    ${joinedOrder}`;
}

export interface ChildCountsRow {
  total: number;
  pending: number;
  running: number;
  waiting: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** How many children a run started, by their runs' states. */
export function selectChildCounts(schema: Schema, runId: string): SqlQuery {
  return sql`
    select count(*)::int as total,
      (count(*) filter (where state = 'pending'))::int as pending,
      (count(*) filter (where state = 'running'))::int as running,
      (count(*) filter (where state = 'waiting'))::int as waiting,
      (count(*) filter (where state = 'succeeded'))::int as succeeded,
      (count(*) filter (where state = 'failed'))::int as failed,
      (count(*) filter (where state = 'cancelled'))::int as cancelled
    from ${ident(schema)}.workflow_run
    where parent_run_id = ${runId}`;
}
