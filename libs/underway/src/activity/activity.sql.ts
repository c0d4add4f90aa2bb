import {
  fragment,
  ident,
  notificationChannel,
  prepared,
  Schema,
  sql,
  SqlFragment,
  SqlQuery,
} from '../database/sql';
import { INT32_MAX } from '../common/limits';
import type { ActivityOutcome, ClaimedActivity } from '../queue/claimed-run';

/**
 * The parents of activity calls finished by the statement it is spliced into
 * (a CTE named `finished` with `run_id`, `step_index`, `kind` and `state`),
 * woken when their last open call is done: `open_calls` is decremented on the
 * run row's latest version, so two calls finishing at once in two
 * transactions always leave one of them seeing zero. An emit wakes nothing.
 */
function wakeParents(schema: Schema): SqlFragment {
  return fragment`
    closed as (
      select run_id, step_index, count(*)::int as n from finished
      where kind = 'call' and state in ('succeeded', 'failed', 'cancelled')
      group by run_id, step_index
    ), parent as (
      update ${ident(schema)}.workflow_run r
      set open_calls = greatest(r.open_calls - k.n, 0),
        state = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then 'pending' else r.state end,
        -- Due since its step was claimed: it goes back to its place in line,
        -- ahead of runs enqueued while it waited, not behind them.
        run_at = case when r.state = 'waiting' and r.run_at = 'infinity' and r.open_calls <= k.n
            then least(coalesce(r.attempt_started_at, now()), now()) else r.run_at end,
        updated_at = now()
      from closed k
      where r.id = k.run_id and r.step_index = k.step_index
      returning r.id, r.state, r.run_at
    ), woken as (
      select ${ident(schema)}.notify_workers(${notificationChannel(schema)}, '')
      from (
        select 1 from parent where state = 'pending' and run_at <= now()
        union all
        select 1 from finished where state = 'pending' and run_at <= now()
      ) due
      having count(*) > 0
    )`;
}

export interface ActivityCommitRow {
  run_id: string;
  step_index: number;
  call_index: number;
  state: string;
}

/** An activity outcome to commit, with the claim it belongs to. */
export interface CallOutcome {
  readonly run: ClaimedActivity;
  readonly outcome: ActivityOutcome;
}

/**
 * Commits a batch of activity outcomes in one statement, each fenced by
 * `(call, fence, state = 'running')` like a step's: a stale worker's outcome
 * changes nothing and is missing from the result. The finished attempt is
 * recorded, and the parents of the last open calls are woken, in the same
 * statement.
 */
export function commitActivityOutcomes(
  schema: Schema,
  outcomes: readonly CallOutcome[],
  worker: string,
): SqlQuery {
  const rows = outcomes.map(({ run, outcome }) => {
    const row: Record<string, unknown> = {
      run_id: run.runId,
      step_index: run.stepIndex,
      call_index: run.callIndex,
      fence: run.fence,
      kind: outcome.kind,
      attempt: run.attempt,
      started_at: run.claimedAt,
    };
    switch (outcome.kind) {
      case 'succeed':
        row.attempt_state = 'succeeded';
        row.result = outcome.result;
        break;
      case 'retry':
        row.attempt_state = outcome.attemptState;
        row.error = outcome.error;
        row.delay_ms = outcome.delayMs;
        break;
      case 'fail':
        row.attempt_state = outcome.attemptState;
        row.error = outcome.error;
        break;
      case 'release':
        break;
    }
    return row;
  });
  return prepared(
    sql`
    with o as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as o(
        run_id uuid, step_index int, call_index int, fence bigint, kind text, attempt int,
        started_at timestamptz, attempt_state text, error jsonb, result text, delay_ms bigint)
    ), finished as (
      update ${ident(schema)}.activity_call c
      set state = case o.kind when 'succeed' then 'succeeded' when 'fail' then 'failed'
            else 'pending' end,
        result = case when o.kind = 'succeed' then o.result::jsonb else c.result end,
        error = case o.kind when 'release' then c.error when 'succeed' then null else o.error end,
        attempt = case when o.kind = 'release' then c.attempt - 1 else c.attempt end,
        run_at = case o.kind when 'release' then now()
            when 'retry' then now() + coalesce(o.delay_ms, 0) * interval '1 millisecond'
            else c.run_at end,
        lease_expires_at = null, lease_owner = null, updated_at = now(),
        completed_at = case when o.kind in ('succeed', 'fail') then now() end
      from o
      where c.run_id = o.run_id and c.step_index = o.step_index and c.call_index = o.call_index
        and c.fence = o.fence and c.state = 'running'
      returning c.run_id, c.step_index, c.call_index, c.kind, c.state, c.run_at
    ), recorded as (
      insert into ${ident(schema)}.activity_attempt
        (run_id, step_index, call_index, attempt, state, error, worker, started_at)
      select o.run_id, o.step_index, o.call_index, o.attempt, o.attempt_state, o.error, ${worker},
        o.started_at
      from o join finished f
        on f.run_id = o.run_id and f.step_index = o.step_index and f.call_index = o.call_index
      where o.kind <> 'release'
    ), ${wakeParents(schema)}
    select run_id, step_index, call_index, state from finished`,
    'commit-calls',
    schema,
  );
}

export interface ReclaimedCallRow {
  run_id: string;
  workflow_name: string;
  step_index: number;
  call_index: number;
  name: string;
  attempt: number;
  max_attempts: number;
  state: 'pending' | 'failed';
}

/**
 * Takes back activity calls whose lease expired, as `reclaimExpiredLeases`
 * does runs: a new attempt, or `failed` when none remain (which wakes the
 * parent like any finished call). The lost attempt is recorded as
 * `lease_expired`; bumping `fence` keeps the old worker's writes out.
 */
export function reclaimExpiredCalls(schema: Schema, limit: number): SqlQuery {
  return prepared(
    sql`
    with expired as (
      select run_id, step_index, call_index, lease_owner from ${ident(schema)}.activity_call
      where state = 'running' and lease_expires_at < now()
      order by lease_expires_at
      limit ${limit}
      for update skip locked
    ), finished as (
      update ${ident(schema)}.activity_call c
      set state = case when c.attempt >= c.max_attempts then 'failed' else 'pending' end,
        fence = c.fence + 1, run_at = now(), lease_expires_at = null, lease_owner = null,
        updated_at = now(),
        error = jsonb_build_object(
          'code', 'lease_expired',
          'message', case when c.attempt >= c.max_attempts
            then format('The worker running attempt %s/%s of this activity stopped renewing its lease (it crashed or stalled), and no attempts remain.', c.attempt, c.max_attempts)
            else format('The worker running attempt %s/%s of this activity stopped renewing its lease (it crashed or stalled); the activity will be retried.', c.attempt, c.max_attempts) end,
          'name', 'LeaseExpired'),
        completed_at = case when c.attempt >= c.max_attempts then now() end
      from expired e
      where c.run_id = e.run_id and c.step_index = e.step_index and c.call_index = e.call_index
      returning c.run_id, c.workflow_name, c.step_index, c.call_index, c.name, c.kind, c.attempt,
        c.max_attempts, c.state, c.run_at, c.error, c.attempt_started_at, e.lease_owner
    ), recorded as (
      insert into ${ident(schema)}.activity_attempt
        (run_id, step_index, call_index, attempt, state, error, worker, started_at)
      select run_id, step_index, call_index, attempt, 'lease_expired', error, lease_owner,
        attempt_started_at
      from finished
      on conflict do nothing
    ), ${wakeParents(schema)}
    select run_id, workflow_name, step_index, call_index, name, attempt, max_attempts, state
    from finished`,
    'reclaim-calls',
    schema,
  );
}

export interface RecordedCallRow {
  call_index: number;
  kind: 'call' | 'emit';
  name: string;
  args: string;
  state: string;
  result: string | null;
  error: { code: string; message: string; name?: string } | null;
}

/** A replay asking for its step's recorded calls: those from `fromIndex` on, and `holes`. */
export interface RecordedCallsKey {
  readonly runId: string;
  readonly stepIndex: number;
  /** 0 for the whole record; past the calls this worker keeps (RecordedCallsCache). */
  readonly fromIndex: number;
  /** Calls below `fromIndex` to read too (kept ones that may still change). */
  readonly holes: readonly number[];
}

/**
 * The calls and emits that steps recorded, for their replays: for many steps
 * in one statement (`key` is each row's position in `keys`, from 0), each
 * from its `fromIndex` on, plus its `holes`. Each is a range of the primary
 * key (a hole is a range of one), so a replay reads only the rows it asks for.
 */
export function selectRecordedCalls(
  schema: Schema,
  keys: readonly RecordedCallsKey[],
): SqlQuery {
  const ranges: {
    key: number[];
    runId: string[];
    stepIndex: number[];
    from: number[];
    to: number[];
  } = { key: [], runId: [], stepIndex: [], from: [], to: [] };
  const range = (
    key: number,
    k: RecordedCallsKey,
    from: number,
    to: number,
  ) => {
    ranges.key.push(key);
    ranges.runId.push(k.runId);
    ranges.stepIndex.push(k.stepIndex);
    ranges.from.push(from);
    ranges.to.push(to);
  };
  keys.forEach((k, key) => {
    for (const hole of k.holes) {
      range(key, k, hole, hole);
    }
    range(key, k, k.fromIndex, INT32_MAX);
  });
  return prepared(
    sql`
    select r.key, c.call_index, c.kind, c.name, c.args::text as args, c.state,
      c.result::text as result, c.error
    from unnest(${ranges.key}::int[], ${ranges.runId}::uuid[], ${ranges.stepIndex}::int[],
      ${ranges.from}::int[], ${ranges.to}::int[]) as r(key, run_id, step_index, from_index, to_index)
    join ${ident(schema)}.activity_call c
      on c.run_id = r.run_id and c.step_index = r.step_index
        and c.call_index between r.from_index and r.to_index
    order by r.key, c.call_index`,
    'recorded-calls',
    schema,
  );
}

export interface ActivityCallRow {
  step_index: number;
  call_index: number;
  kind: 'call' | 'emit';
  name: string;
  state: string;
  attempt: number;
  max_attempts: number;
  error: { code: string; message: string; name?: string } | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  attempts: {
    attempt: number;
    state: string;
    error: { code: string; message: string; name?: string } | null;
    worker: string | null;
    started_at: string | null;
    completed_at: string;
  }[];
}

/** Every call and emit of a run, each with its finished attempts, for `getRun()`. */
export function selectActivityCalls(schema: Schema, runId: string): SqlQuery {
  return sql`
    select c.step_index, c.call_index, c.kind, c.name, c.state, c.attempt, c.max_attempts,
      c.error, c.created_at, c.started_at, c.completed_at,
      coalesce((
        select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'state', a.state,
            'error', a.error, 'worker', a.worker, 'started_at', a.started_at,
            'completed_at', a.completed_at) order by a.attempt)
        from ${ident(schema)}.activity_attempt a
        where a.run_id = c.run_id and a.step_index = c.step_index and a.call_index = c.call_index
      ), '[]'::jsonb) as attempts
    from ${ident(schema)}.activity_call c
    where c.run_id = ${runId}
    order by c.step_index, c.call_index`;
}
