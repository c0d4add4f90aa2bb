import type { QueryResultRow } from 'pg';
import {
  appRowsTable,
  effectsTable,
  ledgerTable,
} from '../fault-worker/protocol';

/**
 * The invariants of RELIABILITY.md, checked with SQL on the documented tables
 * (README "Schema"), after any scenario. Each check returns the offending
 * rows, so a failure says which run broke what.
 */

export type Query = <R extends QueryResultRow = Record<string, unknown>>(
  text: string,
  values?: unknown[],
) => Promise<R[]>;

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * Check when the workers are stopped or idle: while they run, a lease that
 * expired a moment ago (not yet swept) is normal, and would be reported as
 * `runningWithoutLease`.
 */
export interface InvariantOptions {
  readonly schema: string;
  /** The runs the test enqueued: none may be missing (I1). */
  readonly runIds?: readonly string[];
  /** Everything is over: every run must be terminal, none running. */
  readonly final?: boolean;
  /** Steps per workflow: a succeeded run has one succeeded attempt for each. */
  readonly stepCounts?: Readonly<Record<string, number>>;
}

export interface InvariantReport {
  readonly runs: number;
  readonly byState: Record<string, number>;
  /** I1: enqueued runs that no longer exist (none was expected to be pruned). */
  readonly missing: string[];
  /** I1: runs neither terminal nor claimable (only checked when `final`: all must be terminal). */
  readonly notTerminal: string[];
  /** A `running` run without a live lease (expired, or no owner): stuck. */
  readonly runningWithoutLease: string[];
  /** I2: more than one succeeded attempt for one (run, step). */
  readonly doubleSuccess: string[];
  /** I2: a step the run moved past (or completed) without exactly one succeeded attempt. */
  readonly unaccountedTransitions: string[];
  /** I3: an attempt recorded after the step's succeeded attempt (a stale or double write). */
  readonly attemptAfterSuccess: string[];
  /** I4: attempt numbers of a (run, step) not exactly 1..n. */
  readonly attemptGaps: string[];
  /** I4: more attempts recorded than `max_attempts`. */
  readonly attemptsOverMax: string[];
  /** A terminal run without `completed_at`/`expires_at`, or a failed one without an error. */
  readonly badTerminalRows: string[];
  /** I1: a run parked on activity calls (`waiting`, `run_at = 'infinity'`) that none of its step's open calls will wake. */
  readonly stuckWaiting: string[];
  /** A (non-cancelled) run whose `open_calls` is not the number of its current step's unfinished calls. */
  readonly openCallsMismatch: string[];
  /** I1: activity calls not terminal (only checked when `final`). */
  readonly callsNotTerminal: string[];
  /** A `running` activity call without a live lease: stuck. */
  readonly callsRunningWithoutLease: string[];
  /** I2: more than one succeeded attempt for one activity call. */
  readonly callDoubleSuccess: string[];
  /** I2: a succeeded call without exactly one succeeded attempt. */
  readonly callSuccessUnaccounted: string[];
  /** I3: an attempt recorded after the call's succeeded attempt. */
  readonly callAttemptAfterSuccess: string[];
  /** I4: attempt numbers of a call not exactly 1..n. */
  readonly callAttemptGaps: string[];
  /** I4: more attempts recorded than the call's `max_attempts`. */
  readonly callAttemptsOverMax: string[];
  /**
   * I4: attempts made (the call's `attempt` counter) ≠ attempts recorded:
   * a pending or finished call has one row per attempt made, a running one
   * has one more made than recorded (its open attempt).
   */
  readonly callAttemptsUnrecorded: string[];
}

interface RunRow {
  id: string;
  workflow_name: string;
  state: string;
  step_index: number;
  attempt: number;
  max_attempts: number;
  lease_live: boolean;
  lease_owner: string | null;
  completed_at: Date | null;
  expires_at: Date | null;
  error: unknown;
}

interface RunCallsRow {
  id: string;
  state: string;
  step_index: number;
  open_calls: number;
  parked: boolean;
  open: number;
}

interface CallRow {
  run_id: string;
  step_index: number;
  call_index: number;
  kind: string;
  name: string;
  state: string;
  attempt: number;
  max_attempts: number;
  lease_live: boolean;
  lease_owner: string | null;
  attempts: number[];
  states: string[];
}

interface AttemptGroup {
  run_id: string;
  step_index: number;
  attempts: number[];
  states: string[];
}

export async function checkInvariants(
  query: Query,
  options: InvariantOptions,
): Promise<InvariantReport> {
  const { schema } = options;
  const runs = await query<RunRow>(
    `select id, workflow_name, state, step_index, attempt, max_attempts,
       coalesce(lease_expires_at > now(), false) as lease_live, lease_owner,
       completed_at, expires_at, error
     from ${schema}.workflow_run`,
  );
  const groups = await query<AttemptGroup>(
    `select run_id, step_index, array_agg(attempt order by attempt) as attempts,
       array_agg(state order by attempt) as states
     from ${schema}.step_attempt group by run_id, step_index`,
  );
  const byRun = new Map<string, AttemptGroup[]>();
  for (const group of groups) {
    const list = byRun.get(group.run_id) ?? [];
    list.push(group);
    byRun.set(group.run_id, list);
  }
  const existing = new Set(runs.map((r) => r.id));
  const byState: Record<string, number> = {};
  const report = {
    runs: runs.length,
    byState,
    missing: (options.runIds ?? []).filter((id) => !existing.has(id)),
    notTerminal: [] as string[],
    runningWithoutLease: [] as string[],
    doubleSuccess: [] as string[],
    unaccountedTransitions: [] as string[],
    attemptAfterSuccess: [] as string[],
    attemptGaps: [] as string[],
    attemptsOverMax: [] as string[],
    badTerminalRows: [] as string[],
    stuckWaiting: [] as string[],
    openCallsMismatch: [] as string[],
    callsNotTerminal: [] as string[],
    callsRunningWithoutLease: [] as string[],
    callDoubleSuccess: [] as string[],
    callSuccessUnaccounted: [] as string[],
    callAttemptAfterSuccess: [] as string[],
    callAttemptGaps: [] as string[],
    callAttemptsOverMax: [] as string[],
    callAttemptsUnrecorded: [] as string[],
  };
  for (const run of runs) {
    byState[run.state] = (byState[run.state] ?? 0) + 1;
    const terminal = TERMINAL.includes(run.state);
    if (options.final && !terminal) {
      report.notTerminal.push(`${run.id} ${run.workflow_name} ${run.state}`);
    }
    if (run.state === 'running' && (!run.lease_live || !run.lease_owner)) {
      report.runningWithoutLease.push(
        `${run.id} ${run.workflow_name} (owner ${run.lease_owner ?? 'none'})`,
      );
    }
    if (
      terminal &&
      (!run.completed_at ||
        !run.expires_at ||
        (run.state === 'failed' && !run.error))
    ) {
      report.badTerminalRows.push(`${run.id} ${run.state}`);
    }
    const attempts = byRun.get(run.id) ?? [];
    const succeededSteps =
      run.state === 'succeeded'
        ? (options.stepCounts?.[run.workflow_name] ?? run.step_index + 1)
        : run.step_index;
    for (let step = 0; step < succeededSteps; step += 1) {
      const group = attempts.find((g) => g.step_index === step);
      const successes = group?.states.filter((s) => s === 'succeeded').length;
      if (successes !== 1) {
        report.unaccountedTransitions.push(
          `${run.id} step ${step}: ${successes ?? 0} succeeded attempt(s), run ${run.state} at step ${run.step_index}`,
        );
      }
    }
    for (const group of attempts) {
      const where = `${run.id} step ${group.step_index}`;
      const successes = group.states.filter((s) => s === 'succeeded').length;
      if (successes > 1) {
        report.doubleSuccess.push(`${where}: ${successes} succeeded attempts`);
      }
      const success = group.states.indexOf('succeeded');
      if (success >= 0 && success !== group.states.length - 1) {
        report.attemptAfterSuccess.push(
          `${where}: ${group.attempts.map((a, i) => `#${a} ${group.states[i]}`).join(', ')}`,
        );
      }
      if (group.attempts.some((a, i) => a !== i + 1)) {
        report.attemptGaps.push(
          `${where}: attempts ${group.attempts.join(',')}`,
        );
      }
      if (Math.max(...group.attempts) > run.max_attempts) {
        report.attemptsOverMax.push(
          `${where}: attempt ${Math.max(...group.attempts)} > max ${run.max_attempts}`,
        );
      }
    }
  }
  await checkActivityCalls(query, options, report);
  return report;
}

/** The activity-call part of `checkInvariants` (`activity_call`, `activity_attempt`). */
async function checkActivityCalls(
  query: Query,
  options: InvariantOptions,
  report: {
    -readonly [K in keyof InvariantReport]: InvariantReport[K];
  },
): Promise<void> {
  const { schema } = options;
  // One statement, one snapshot: open_calls and the calls' states change
  // together, in the statement that finishes a call.
  const runs = await query<RunCallsRow>(
    `select r.id, r.state, r.step_index, r.open_calls,
       (r.state = 'waiting' and r.run_at = 'infinity') as parked,
       (select count(*)::int from ${schema}.activity_call c
        where c.run_id = r.id and c.step_index = r.step_index
          -- what open_calls counts: calls, waits, sleeps and awaited children
          and c.kind in ('call', 'wait', 'sleep', 'child')
          and c.state in ('pending', 'running', 'waiting')) as open
     from ${schema}.workflow_run r`,
  );
  for (const run of runs) {
    if (run.parked && run.open === 0) {
      report.stuckWaiting.push(
        `${run.id} waiting at step ${run.step_index} with open_calls ${run.open_calls} and no open call`,
      );
    }
    if (run.state !== 'cancelled' && run.open_calls !== run.open) {
      report.openCallsMismatch.push(
        `${run.id} ${run.state} at step ${run.step_index}: open_calls ${run.open_calls}, ${run.open} call(s) open`,
      );
    }
  }
  const calls = await query<CallRow>(
    `select c.run_id, c.step_index, c.call_index, c.kind, c.name, c.state, c.attempt,
       c.max_attempts, coalesce(c.lease_expires_at > now(), false) as lease_live, c.lease_owner,
       coalesce(array_agg(a.attempt order by a.attempt) filter (where a.attempt is not null),
         '{}') as attempts,
       coalesce(array_agg(a.state order by a.attempt) filter (where a.attempt is not null),
         '{}') as states
     from ${schema}.activity_call c
     left join ${schema}.activity_attempt a
       on a.run_id = c.run_id and a.step_index = c.step_index and a.call_index = c.call_index
     -- waits, sleeps and children are not work: no attempts (their own checks are the runs')
     where c.kind in ('call', 'emit')
     group by c.run_id, c.step_index, c.call_index`,
  );
  for (const call of calls) {
    const where = `${call.run_id} step ${call.step_index} ${call.kind} ${call.call_index} (${call.name})`;
    const history = call.attempts
      .map((a, i) => `#${a} ${call.states[i]}`)
      .join(', ');
    if (options.final && !TERMINAL.includes(call.state)) {
      report.callsNotTerminal.push(`${where} ${call.state}`);
    }
    if (call.state === 'running' && (!call.lease_live || !call.lease_owner)) {
      report.callsRunningWithoutLease.push(
        `${where} (owner ${call.lease_owner ?? 'none'})`,
      );
    }
    const successes = call.states.filter((s) => s === 'succeeded').length;
    if (successes > 1) {
      report.callDoubleSuccess.push(
        `${where}: ${successes} succeeded attempts`,
      );
    }
    if (call.state === 'succeeded' && successes !== 1) {
      report.callSuccessUnaccounted.push(
        `${where}: succeeded with ${successes} succeeded attempt(s) (${history})`,
      );
    }
    const success = call.states.indexOf('succeeded');
    if (success >= 0 && success !== call.states.length - 1) {
      report.callAttemptAfterSuccess.push(`${where}: ${history}`);
    }
    if (call.attempts.some((a, i) => a !== i + 1)) {
      report.callAttemptGaps.push(
        `${where}: attempts ${call.attempts.join(',')}`,
      );
    }
    if (
      call.attempts.length > 0 &&
      Math.max(...call.attempts) > call.max_attempts
    ) {
      report.callAttemptsOverMax.push(
        `${where}: attempt ${Math.max(...call.attempts)} > max ${call.max_attempts}`,
      );
    }
    const open = call.state === 'running' ? 1 : 0;
    if (
      call.state !== 'cancelled' &&
      call.attempt !== call.attempts.length + open
    ) {
      report.callAttemptsUnrecorded.push(
        `${where} ${call.state}: ${call.attempt} attempt(s) made, ${call.attempts.length} recorded (${history})`,
      );
    }
  }
}

/** The broken invariants, one line each (empty when all hold). */
export function violations(report: InvariantReport): string[] {
  const lines: string[] = [];
  const add = (name: string, items: readonly string[]): void => {
    if (items.length > 0) {
      lines.push(
        `${name} (${items.length}): ${items.slice(0, 10).join(' | ')}${items.length > 10 ? ' …' : ''}`,
      );
    }
  };
  add('I1 missing runs', report.missing);
  add('I1 runs not terminal', report.notTerminal);
  add('running without a live lease', report.runningWithoutLease);
  add('I2 double success', report.doubleSuccess);
  add('I2 unaccounted transitions', report.unaccountedTransitions);
  add('I3 attempt after success', report.attemptAfterSuccess);
  add('I4 attempt gaps', report.attemptGaps);
  add('I4 attempts over max', report.attemptsOverMax);
  add('bad terminal rows', report.badTerminalRows);
  add('I1 runs waiting on no call', report.stuckWaiting);
  add('open_calls mismatch', report.openCallsMismatch);
  add('I1 activity calls not terminal', report.callsNotTerminal);
  add(
    'activity calls running without a live lease',
    report.callsRunningWithoutLease,
  );
  add('I2 activity call double success', report.callDoubleSuccess);
  add('I2 succeeded activity calls unaccounted', report.callSuccessUnaccounted);
  add('I3 activity attempt after success', report.callAttemptAfterSuccess);
  add('I4 activity attempt gaps', report.callAttemptGaps);
  add('I4 activity attempts over max', report.callAttemptsOverMax);
  add(
    'I4 activity attempts made but not recorded',
    report.callAttemptsUnrecorded,
  );
  return lines;
}

/** Checks every invariant and fails the test with the list of violations. */
export async function expectInvariants(
  query: Query,
  options: InvariantOptions,
): Promise<InvariantReport> {
  const report = await checkInvariants(query, options);
  expect(violations(report)).toEqual([]);
  return report;
}

/** Runs counted by state. */
export async function countByState(
  query: Query,
  schema: string,
): Promise<Record<string, number>> {
  const rows = await query<{ state: string; n: number }>(
    `select state, count(*)::int as n from ${schema}.workflow_run group by state`,
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** How many runs are not terminal yet. */
export async function unfinishedRuns(
  query: Query,
  schema: string,
): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from ${schema}.workflow_run
     where state not in ('succeeded', 'failed', 'cancelled')`,
  );
  return row?.n ?? 0;
}

export interface Claim {
  readonly runId: string;
  readonly step: number;
  readonly attempt: number;
  readonly instance: string;
}

export interface FencedOutcome extends Claim {
  readonly message: string;
}

/** A worker's warning that its outcome was discarded (fenced). */
const DISCARDED =
  /^Run (\S+) \S+ step (\d+)(?: \(.*\))? attempt (\d+): outcome discarded, this worker no longer holds the run/;

export function parseFencedOutcome(
  instance: string,
  message: string,
): FencedOutcome | undefined {
  const match = DISCARDED.exec(message);
  if (!match) {
    return undefined;
  }
  return {
    runId: match[1] as string,
    step: Number(match[2]),
    attempt: Number(match[3]),
    instance,
    message,
  };
}

export interface StaleWriteReport {
  /**
   * Outcomes written by a worker other than the one that claimed the attempt
   * (from the workers' step-started events): a stale worker's write.
   */
  readonly foreignWrites: string[];
  /** Discarded (fenced) outcomes that nevertheless left a row of their worker. */
  readonly fencedButWritten: string[];
  /** Succeeded runs whose output names a worker other than the one whose attempt succeeded. */
  readonly foreignOutputs: string[];
}

/**
 * I3 (fencing), from outside: compares who wrote each step outcome with who
 * held the claim. `claims` are the step-started events of every worker (an
 * attempt number is claimed once per step unless a shutdown gave it back);
 * `fenced` the outcomes workers reported as discarded.
 */
export async function checkStaleWrites(
  query: Query,
  schema: string,
  claims: readonly Claim[],
  fenced: readonly FencedOutcome[],
): Promise<StaleWriteReport> {
  const key = (c: { runId: string; step: number; attempt: number }): string =>
    `${c.runId}/${c.step}/${c.attempt}`;
  const claimers = new Map<string, Set<string>>();
  for (const claim of claims) {
    const set = claimers.get(key(claim)) ?? new Set<string>();
    set.add(claim.instance);
    claimers.set(key(claim), set);
  }
  const written = await query<{
    run_id: string;
    step_index: number;
    attempt: number;
    state: string;
    worker: string;
  }>(
    `select run_id, step_index, attempt, state, worker from ${schema}.step_attempt
     where state in ('succeeded', 'failed', 'timed_out')`,
  );
  const writers = new Map<string, { state: string; worker: string }>();
  const foreignWrites: string[] = [];
  for (const row of written) {
    const k = key({
      runId: row.run_id,
      step: row.step_index,
      attempt: row.attempt,
    });
    writers.set(k, row);
    const holders = claimers.get(k);
    if (holders && !holders.has(row.worker)) {
      foreignWrites.push(
        `${k} ${row.state} written by ${row.worker}, claimed by ${[...holders].join(',')}`,
      );
    }
  }
  const fencedButWritten = fenced
    .filter((f) => writers.get(key(f))?.worker === f.instance)
    .map((f) => `${key(f)} by ${f.instance}: ${f.message}`);
  const outputs = await query<{ id: string; by: string; worker: string }>(
    `select r.id, r.output->>'by' as by, a.worker
     from ${schema}.workflow_run r
     join ${schema}.step_attempt a on a.run_id = r.id and a.step_index = r.step_index
       and a.state = 'succeeded'
     where r.state = 'succeeded' and r.output ? 'by'`,
  );
  const foreignOutputs = outputs
    .filter((o) => o.by !== o.worker)
    .map((o) => `${o.id}: output by ${o.by}, attempt by ${o.worker}`);
  return { foreignWrites, fencedButWritten, foreignOutputs };
}

export interface EffectReport {
  /** (run, step) whose side effect ran more than once (allowed: steps are at-least-once). */
  readonly reexecuted: number;
  /** Succeeded attempts without the side effect of that very attempt. */
  readonly successWithoutEffect: string[];
}

/** Side effects (the `fault_effect` table) against the succeeded attempts. */
export async function checkEffects(
  query: Query,
  schema: string,
): Promise<EffectReport> {
  const [reexecuted] = await query<{ n: number }>(
    `select count(*)::int as n from (
       select 1 from ${effectsTable(schema)} where phase = 'done'
       group by run_id, step having count(*) > 1) d`,
  );
  const missing = await query<{ run_id: string; step_index: number }>(
    `select a.run_id, a.step_index from ${schema}.step_attempt a
     where a.state = 'succeeded' and not exists (
       select 1 from ${effectsTable(schema)} e
       where e.run_id = a.run_id and e.step = a.step_index and e.attempt = a.attempt
         and e.instance = a.worker and e.phase = 'done')`,
  );
  return {
    reexecuted: reexecuted?.n ?? 0,
    successWithoutEffect: missing.map(
      (m) => `${m.run_id} step ${m.step_index}`,
    ),
  };
}

export interface ActivityLedgerReport {
  /** Activity bodies started (`fault_ledger`) and attempts recorded (`activity_attempt`). */
  readonly bodies: number;
  readonly attempts: number;
  /** Calls whose body started more than once (allowed: activities are at-least-once). */
  readonly reexecuted: number;
  /**
   * A body that ran without an attempt row of its call, attempt and worker:
   * work the database does not account for. Only a claim given back at
   * shutdown (a release, which counts no attempt) may leave one.
   */
  readonly offBooks: string[];
  /** A finished attempt (not `lease_expired`) whose body never started on its worker: a foreign or invented write. */
  readonly unstarted: string[];
  /** `lease_expired` attempts whose body never started: claimed, then killed before it began (allowed). */
  readonly lostBeforeStart: string[];
  /** A succeeded attempt whose body did not reach its end on that worker. */
  readonly successWithoutDone: string[];
  /**
   * A body started once its call had succeeded, under a claim made after
   * that success or under the succeeded attempt itself: a finished call run
   * again (by a replay, say).
   */
  readonly ranAfterSuccess: string[];
  /**
   * A body started once its call had succeeded, under an older claim that
   * had already lapsed (recorded `lease_expired` on that very worker): a
   * worker stopped past its lease catching up on a claim it held. Its
   * outcome is fenced; the body ran once more all the same (at-least-once).
   */
  readonly staleAfterSuccess: string[];
  /** A succeeded call whose stored result names another worker or attempt than its succeeded attempt. */
  readonly foreignResults: string[];
}

/**
 * The activity bodies of `fault-activity` (the ledger) against the attempts
 * the database recorded: every execution of a body is accounted for by an
 * attempt of the same call, number and worker, and every finished attempt by
 * an execution. Check once every worker is stopped.
 */
export async function checkActivityLedger(
  query: Query,
  schema: string,
): Promise<ActivityLedgerReport> {
  const ledger = ledgerTable(schema);
  const call = (r: {
    run_id: string;
    step: number;
    call_index: number;
    attempt: number;
    worker: string | null;
  }): string =>
    `${r.run_id} step ${r.step} call ${r.call_index} attempt ${r.attempt} on ${r.worker ?? '?'}`;
  type Row = Parameters<typeof call>[0] & { state?: string };
  const [counts] = await query<{
    bodies: number;
    attempts: number;
    reexecuted: number;
  }>(
    `select
       (select count(*)::int from ${ledger} where kind = 'activity' and phase = 'started') as bodies,
       (select count(*)::int from ${schema}.activity_attempt) as attempts,
       (select count(*)::int from (
          select 1 from ${ledger} where kind = 'activity' and phase = 'started'
          group by run_id, step, call_index having count(*) > 1) d) as reexecuted`,
  );
  const offBooks = await query<Row>(
    `select l.run_id, l.step, l.call_index, l.attempt, l.instance as worker
     from ${ledger} l
     where l.kind = 'activity' and l.phase = 'started' and not exists (
       select 1 from ${schema}.activity_attempt a
       where a.run_id = l.run_id and a.step_index = l.step and a.call_index = l.call_index
         and a.attempt = l.attempt and a.worker = l.instance)
     order by l.id`,
  );
  const unstartedOrLost = await query<Row>(
    `select a.run_id, a.step_index as step, a.call_index, a.attempt, a.worker, a.state
     from ${schema}.activity_attempt a
     where not exists (
       select 1 from ${ledger} l
       where l.kind = 'activity' and l.phase = 'started' and l.run_id = a.run_id
         and l.step = a.step_index and l.call_index = a.call_index
         and l.attempt = a.attempt and l.instance = a.worker)`,
  );
  const successWithoutDone = await query<Row>(
    `select a.run_id, a.step_index as step, a.call_index, a.attempt, a.worker
     from ${schema}.activity_attempt a
     where a.state = 'succeeded' and not exists (
       select 1 from ${ledger} l
       where l.kind = 'activity' and l.phase = 'done' and l.run_id = a.run_id
         and l.step = a.step_index and l.call_index = a.call_index
         and l.attempt = a.attempt and l.instance = a.worker)`,
  );
  const afterSuccess = await query<Row & { stale: boolean }>(
    `select l.run_id, l.step, l.call_index, l.attempt, l.instance as worker,
       (l.attempt < c.attempt and exists (
         select 1 from ${schema}.activity_attempt a
         where a.run_id = l.run_id and a.step_index = l.step and a.call_index = l.call_index
           and a.attempt = l.attempt and a.worker = l.instance and a.state = 'lease_expired'))
         as stale
     from ${ledger} l
     join ${schema}.activity_call c
       on c.run_id = l.run_id and c.step_index = l.step and c.call_index = l.call_index
     where l.kind = 'activity' and l.phase = 'started' and c.state = 'succeeded'
       and (l.at > c.completed_at or exists (
         select 1 from ${schema}.activity_attempt a
         where a.run_id = c.run_id and a.step_index = c.step_index
           and a.call_index = c.call_index and a.state = 'succeeded' and a.attempt < l.attempt))
     order by l.id`,
  );
  const foreignResults = await query<
    Row & { by: string; result_attempt: number }
  >(
    `select c.run_id, c.step_index as step, c.call_index, a.attempt, a.worker,
       c.result->>'by' as by, (c.result->>'attempt')::int as result_attempt
     from ${schema}.activity_call c
     join ${schema}.activity_attempt a
       on a.run_id = c.run_id and a.step_index = c.step_index and a.call_index = c.call_index
         and a.state = 'succeeded'
     where c.state = 'succeeded' and c.result ? 'by'
       and (c.result->>'by' is distinct from a.worker
         or (c.result->>'attempt')::int is distinct from a.attempt)`,
  );
  return {
    bodies: counts?.bodies ?? 0,
    attempts: counts?.attempts ?? 0,
    reexecuted: counts?.reexecuted ?? 0,
    offBooks: offBooks.map(call),
    unstarted: unstartedOrLost
      .filter((r) => r.state !== 'lease_expired')
      .map((r) => `${call(r)} ${r.state}`),
    lostBeforeStart: unstartedOrLost
      .filter((r) => r.state === 'lease_expired')
      .map(call),
    successWithoutDone: successWithoutDone.map(call),
    ranAfterSuccess: afterSuccess.filter((r) => !r.stale).map(call),
    staleAfterSuccess: afterSuccess.filter((r) => r.stale).map(call),
    foreignResults: foreignResults.map(
      (r) => `${call(r)}: result by ${r.by} attempt ${r.result_attempt}`,
    ),
  };
}

export interface StepReplayReport {
  /** (run, step) pairs checked: the steps of succeeded runs of the given workflows. */
  readonly steps: number;
  /** Step bodies started (`fault_ledger`), replays included. */
  readonly executions: number;
  /** (run, step) that ran more than the expected executions (each extra one accounted for by a lost attempt). */
  readonly reexecuted: number;
  /**
   * A step that ran fewer times than expected, or more than expected plus
   * its lost attempts (`step_attempt` rows other than `succeeded`): a replay
   * too many (a suspended step woken twice), or one missing.
   */
  readonly unaccounted: string[];
  /** The step's succeeded attempt has no execution of that attempt and worker that reached its end. */
  readonly successWithoutDone: string[];
}

/**
 * Step executions of `fault-activity` (the ledger) against its attempts.
 * Without faults each step runs `executionsPerStep` times (for
 * `fault-activity`, 2: one suspends on its calls, one replays with their
 * results; a suspension gives its attempt back, so both run as the same
 * attempt). An execution the faults cost (its worker killed or paused past
 * its lease, its commit lost with the database) is recorded as a lost
 * attempt, so a step may run at most once more per lost attempt.
 */
export async function checkStepReplays(
  query: Query,
  schema: string,
  {
    workflows,
    executionsPerStep,
  }: { workflows: readonly string[]; executionsPerStep: number },
): Promise<StepReplayReport> {
  const ledger = ledgerTable(schema);
  const rows = await query<{
    run_id: string;
    step: number;
    started: number;
    done: number;
    lost: number;
    done_matches: boolean;
  }>(
    `with l as (
       select run_id, step, count(*) filter (where phase = 'started')::int as started,
         count(*) filter (where phase = 'done')::int as done
       from ${ledger} where kind = 'step' group by run_id, step
     ), a as (
       select run_id, step_index as step,
         count(*) filter (where state <> 'succeeded')::int as lost,
         max(attempt) filter (where state = 'succeeded') as ok_attempt,
         max(worker) filter (where state = 'succeeded') as ok_worker
       from ${schema}.step_attempt group by run_id, step_index
     )
     select r.id as run_id, g.step, coalesce(l.started, 0) as started,
       coalesce(l.done, 0) as done, coalesce(a.lost, 0) as lost,
       exists (select 1 from ${ledger} x
         where x.kind = 'step' and x.phase = 'done' and x.run_id = r.id and x.step = g.step
           and x.attempt = a.ok_attempt and x.instance = a.ok_worker) as done_matches
     from ${schema}.workflow_run r
     cross join lateral generate_series(0, r.step_index) as g(step)
     left join l on l.run_id = r.id and l.step = g.step
     left join a on a.run_id = r.id and a.step = g.step
     where r.workflow_name = any($1::text[]) and r.state = 'succeeded'
     order by r.id, g.step`,
    [workflows],
  );
  const where = (r: { run_id: string; step: number }): string =>
    `${r.run_id} step ${r.step}`;
  return {
    steps: rows.length,
    executions: rows.reduce((n, r) => n + r.started, 0),
    reexecuted: rows.filter((r) => r.started > executionsPerStep).length,
    unaccounted: rows
      .filter(
        (r) =>
          r.started < executionsPerStep ||
          r.started > executionsPerStep + r.lost ||
          r.done < 1 ||
          r.done > 1 + r.lost,
      )
      .map(
        (r) =>
          `${where(r)}: ${r.started} execution(s), ${r.done} to the end, ${r.lost} lost attempt(s); expected ${executionsPerStep}`,
      ),
    successWithoutDone: rows
      .filter((r) => !r.done_matches)
      .map((r) => where(r)),
  };
}

export interface AppRowsReport {
  /** App rows committed (`fault_app_row`), in all. */
  readonly rows: number;
  /**
   * Rows committed under an attempt that did not succeed on that worker
   * (lost, fenced out, failed, timed out): a transactional attempt's writes
   * that outlived its rollback.
   */
  readonly withoutSuccess: string[];
  /**
   * A succeeded attempt of a transactional step whose committed rows are not
   * exactly `rowsPerStep` (items 0..n-1): its writes and its outcome did not
   * commit together.
   */
  readonly successWithoutRows: string[];
}

/**
 * The app rows of `fault-tx` (written through `ctx.manager` by its
 * transactional steps) against `step_attempt`: exactly one committed set of
 * rows per (run, step), the one of its succeeded attempt and worker, and
 * none of any other attempt. With the invariants (one succeeded attempt per
 * step of a succeeded run), that is `steps × rowsPerStep` rows per run.
 */
export async function checkAppRows(
  query: Query,
  schema: string,
  { rowsPerStep }: { rowsPerStep: number },
): Promise<AppRowsReport> {
  const table = appRowsTable(schema);
  const [count] = await query<{ n: number }>(
    `select count(*)::int as n from ${table}`,
  );
  const orphans = await query<{
    run_id: string;
    step: number;
    attempt: number;
    instance: string;
    n: number;
    state: string | null;
  }>(
    `select w.run_id, w.step, w.attempt, w.instance, count(*)::int as n,
       (select a.state from ${schema}.step_attempt a
        where a.run_id = w.run_id and a.step_index = w.step and a.attempt = w.attempt) as state
     from ${table} w
     where not exists (
       select 1 from ${schema}.step_attempt a
       where a.run_id = w.run_id and a.step_index = w.step and a.attempt = w.attempt
         and a.worker = w.instance and a.state = 'succeeded')
     group by w.run_id, w.step, w.attempt, w.instance
     order by w.run_id, w.step, w.attempt`,
  );
  const succeeded = await query<{
    run_id: string;
    step_index: number;
    attempt: number;
    worker: string;
    items: number[];
  }>(
    `select a.run_id, a.step_index, a.attempt, a.worker,
       coalesce(array_agg(w.item order by w.item) filter (where w.item is not null), '{}') as items
     from ${schema}.step_attempt a
     join ${schema}.workflow_run r on r.id = a.run_id and r.workflow_name = 'fault-tx'
     left join ${table} w
       on w.run_id = a.run_id and w.step = a.step_index and w.attempt = a.attempt
         and w.instance = a.worker
     where a.state = 'succeeded'
     group by a.run_id, a.step_index, a.attempt, a.worker
     order by a.run_id, a.step_index`,
  );
  const expected = Array.from({ length: rowsPerStep }, (_, i) => i).join(',');
  return {
    rows: count?.n ?? 0,
    withoutSuccess: orphans.map(
      (o) =>
        `${o.run_id} step ${o.step} attempt ${o.attempt} on ${o.instance}: ${o.n} row(s) committed, attempt ${o.state ?? 'not recorded'}`,
    ),
    successWithoutRows: succeeded
      .filter((a) => a.items.join(',') !== expected)
      .map(
        (a) =>
          `${a.run_id} step ${a.step_index} attempt ${a.attempt} on ${a.worker}: items [${a.items.join(',')}], expected [${expected}]`,
      ),
  };
}
