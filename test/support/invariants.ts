import type { QueryResultRow } from 'pg';
import { effectsTable } from '../fault-worker/protocol';

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
  return report;
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
  /^Run (\S+) \S+ step (\d+) attempt (\d+): outcome discarded, this worker no longer holds the run/;

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
