import { randomUUID } from 'node:crypto';
import {
  ActivityWorkflow,
  SingleWorkflow,
  WITH_ACTIVITIES,
} from '../../fault-worker/fault.workflows';
import {
  ActivityFaultInput,
  ActivityFaultOutput,
  ledgerTable,
} from '../../fault-worker/protocol';
import {
  cleanupFaults,
  FaultEnv,
  prepareFaultEnv,
} from '../../support/fault-env';
import {
  checkActivityLedger,
  checkInvariants,
  checkStepReplays,
  expectInvariants,
  violations,
} from '../../support/invariants';
import { createPgCluster } from '../../support/pg-cluster';
import { sleep, waitFor } from '../../support/wait-for';
import { WorkerProcess } from '../../support/worker-process';

// RELIABILITY.md fault scenarios 12 and 16 for activities, with workers as
// real child processes (test/fault-worker/main.ts) running the
// `fault-activity` workflow: step 0 makes two or three calls in parallel (and
// may emit), step 1 makes one more. Each body, step or activity, writes every
// execution of itself to the ledger (`fault_ledger`), which the tests hold
// against `step_attempt` and `activity_attempt`.

const POLL_MS = 100;
const RECONNECT = { reconnectInitialMs: 50, reconnectMaxMs: 500 };
/** Each step of `fault-activity` suspends once, then replays: two executions. */
const EXECUTIONS_PER_STEP = 2;
const STEP_COUNTS = { 'fault-activity': 2, 'fault-single': 1 };
const TICK_KEY = /^schedule:default:(.+)$/;

/** A worker child that runs `fault-activity` besides the default fault workflows. */
function startWorker(
  env: FaultEnv,
  options: Parameters<FaultEnv['startWorker']>[0],
): WorkerProcess {
  return env.startWorker({ workflows: WITH_ACTIVITIES, ...options });
}

interface LedgerRow {
  kind: 'step' | 'activity';
  step: number;
  call_index: number | null;
  attempt: number;
  instance: string;
  phase: 'started' | 'done';
  at: Date;
}

interface CallAttemptRow {
  step_index: number;
  call_index: number;
  attempt: number;
  state: string;
  worker: string | null;
  code: string | null;
}

function ledgerOf(env: FaultEnv, runId: string): Promise<LedgerRow[]> {
  return env.query<LedgerRow>(
    `select kind, step, call_index, attempt, instance, phase, at
     from ${ledgerTable(env.schema)} where run_id = $1 order by id`,
    [runId],
  );
}

function callAttemptsOf(
  env: FaultEnv,
  runId: string,
): Promise<CallAttemptRow[]> {
  return env.query<CallAttemptRow>(
    `select step_index, call_index, attempt, state, worker, error->>'code' as code
     from ${env.schema}.activity_attempt where run_id = $1
     order by step_index, call_index, attempt`,
    [runId],
  );
}

/** Activity calls not finished yet (emits run beside the next step, and may outlive their run). */
async function openCalls(env: FaultEnv): Promise<number> {
  const [row] = await env.query<{ n: number }>(
    `select count(*)::int as n from ${env.schema}.activity_call
     where state not in ('succeeded', 'failed', 'cancelled')`,
  );
  return row?.n ?? 0;
}

/** Runs, calls and emits not finished yet. */
async function unfinished(env: FaultEnv): Promise<number> {
  const [row] = await env.query<{ n: number }>(
    `select count(*)::int as n from ${env.schema}.workflow_run
     where state not in ('succeeded', 'failed', 'cancelled')`,
  );
  return (row?.n ?? 0) + (await openCalls(env));
}

function waitUntilAllFinished(
  env: FaultEnv,
  workers: readonly WorkerProcess[],
  timeoutMs = 60_000,
): Promise<boolean> {
  return waitFor(async () => (await unfinished(env)) === 0, {
    timeoutMs,
    intervalMs: 100,
    message: `work left unfinished\n${workers.map((w) => w.output()).join('\n')}`,
  });
}

/** The scheduled fires so far, as fire times (ms), and how many runs each made. */
async function ticks(env: FaultEnv): Promise<{ at: number; runs: number }[]> {
  const rows = await env.query<{ idempotency_key: string; runs: number }>(
    `select idempotency_key, count(*)::int as runs from ${env.schema}.workflow_run
     where workflow_name = 'fault-single' and idempotency_key like 'schedule:%'
     group by idempotency_key order by idempotency_key`,
  );
  return rows.map((row) => ({
    at: Date.parse(TICK_KEY.exec(row.idempotency_key)?.[1] ?? ''),
    runs: row.runs,
  }));
}

/**
 * Every tick of a 2 s schedule fired exactly once, and the only ticks missing
 * between the first and the last fell within `[from, to]` (an outage: its
 * missed ticks collapse into one catch-up fire).
 */
async function expectTicksOnce(
  env: FaultEnv,
  outage: { from: number; to: number },
): Promise<number[]> {
  const fired = await ticks(env);
  expect(fired.filter((t) => t.runs !== 1)).toEqual([]);
  const times = fired.map((t) => t.at);
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? 0;
  const missing: number[] = [];
  for (let at = first; at <= last; at += 2_000) {
    if (!times.includes(at)) {
      missing.push(at);
    }
  }
  expect(
    missing
      .filter((at) => at < outage.from || at > outage.to)
      .map((at) => new Date(at).toISOString()),
  ).toEqual([]);
  return times;
}

/** The ledger and step checks every test of this file makes, once its workers are stopped. */
async function activityReports(env: FaultEnv) {
  return {
    ledger: await checkActivityLedger(env.query, env.schema),
    steps: await checkStepReplays(env.query, env.schema, {
      workflows: ['fault-activity'],
      executionsPerStep: EXECUTIONS_PER_STEP,
    }),
  };
}

describe('activity faults', () => {
  afterEach(cleanupFaults);

  // The checks must be able to fail: each broken rule, written by hand into a
  // migrated schema, is reported.
  it('the activity invariant and ledger checks report every kind of violation', async () => {
    const env = await prepareFaultEnv();
    const s = env.schema;
    const ledger = ledgerTable(s);
    const run = async (
      state: string,
      parkedOn?: { openCalls: number },
    ): Promise<string> => {
      const id = randomUUID();
      const terminal = state === 'succeeded';
      await env.query(
        `insert into ${s}.workflow_run (id, workflow_name, state, step_index, max_attempts,
           lease_ms, ttl_ms, open_calls, run_at, completed_at, expires_at)
         values ($1, 'fault-activity', $2, 0, 3, 1000, 1000, $3,
           case when $4 then 'infinity'::timestamptz else now() end,
           case when $5 then now() end, case when $5 then now() end)`,
        [id, state, parkedOn?.openCalls ?? 0, parkedOn !== undefined, terminal],
      );
      return id;
    };
    const call = (
      runId: string,
      index: number,
      state: string,
      attempt: number,
      extra: { result?: unknown; leaseLive?: boolean } = {},
    ): Promise<unknown> =>
      env.query(
        `insert into ${s}.activity_call (run_id, step_index, call_index, kind, workflow_name,
           name, args, state, attempt, max_attempts, lease_ms, result, lease_owner,
           lease_expires_at, completed_at)
         values ($1, 0, $2, 'call', 'fault-activity', 'work', '[{}]', $3, $4, 2, 1000, $5,
           case when $3 = 'running' then 'w9' end,
           case when $3 = 'running' then now() + case when $6 then interval '1 minute'
             else interval '-1 minute' end end,
           case when $3 = 'succeeded' then now() - interval '1 minute' end)`,
        [
          runId,
          index,
          state,
          attempt,
          extra.result === undefined ? null : JSON.stringify(extra.result),
          extra.leaseLive ?? true,
        ],
      );
    const attempt = (
      runId: string,
      index: number,
      n: number,
      state: string,
      worker = 'w1',
    ): Promise<unknown> =>
      env.query(
        `insert into ${s}.activity_attempt (run_id, step_index, call_index, attempt, state, worker)
         values ($1, 0, $2, $3, $4, $5)`,
        [runId, index, n, state, worker],
      );
    /** A line of the ledger for an activity body, two minutes ago unless `now`. */
    const body = (
      runId: string,
      index: number,
      n: number,
      phase: 'started' | 'done',
      { worker = 'w1', now = false } = {},
    ): Promise<unknown> =>
      env.query(
        `insert into ${ledger} (token, run_id, kind, step, call_index, name, attempt, instance,
           pid, phase, at)
         values ($1, $2, 'activity', 0, $3, 'work', $4, $5, 1, $6,
           clock_timestamp() - case when $7 then interval '0' else interval '2 minutes' end)`,
        [randomUUID(), runId, index, n, worker, phase, now],
      );
    const result = (worker: string, n: number) => ({
      by: worker,
      pid: 1,
      attempt: n,
      callIndex: 0,
    });

    // A good call: one attempt, its body started and done, its result its own.
    const good = await run('succeeded');
    await call(good, 0, 'succeeded', 1, { result: result('w1', 1) });
    await attempt(good, 0, 1, 'succeeded');
    await body(good, 0, 1, 'started');
    await body(good, 0, 1, 'done');
    // Succeeded twice, attempts 1 and 3 (a gap, 3 over max 2), the result
    // naming another worker; attempt 3's body never reached its end, and
    // started after the call had succeeded.
    const bad = await run('succeeded');
    await call(bad, 0, 'succeeded', 3, { result: result('w7', 3) });
    await attempt(bad, 0, 1, 'succeeded');
    await attempt(bad, 0, 3, 'succeeded');
    await body(bad, 0, 1, 'started');
    await body(bad, 0, 1, 'done');
    await body(bad, 0, 3, 'started', { now: true });
    // Succeeded on attempt 2; attempt 1's worker, stopped past its lease,
    // started its body once the call had succeeded (a stale claim).
    const late = await run('succeeded');
    await call(late, 0, 'succeeded', 2, { result: result('w1', 2) });
    await attempt(late, 0, 1, 'lease_expired', 'w8');
    await attempt(late, 0, 2, 'succeeded');
    await body(late, 0, 2, 'started');
    await body(late, 0, 2, 'done');
    await body(late, 0, 1, 'started', { worker: 'w8', now: true });
    // Parked on two open calls: a pending one that made 2 attempts but
    // recorded 1, whose recorded attempt has no body; a running one without
    // a live lease, whose body has no attempt, and whose lease_expired
    // attempt never began.
    const open = await run('waiting', { openCalls: 2 });
    await call(open, 0, 'pending', 2);
    await attempt(open, 0, 1, 'failed', 'w2');
    await call(open, 1, 'running', 1, { leaseLive: false });
    await body(open, 1, 1, 'started', { worker: 'w3' });
    await attempt(open, 1, 2, 'lease_expired', 'w4');
    // Parked on calls, with none open.
    const stuck = await run('waiting', { openCalls: 1 });

    const report = await checkInvariants(env.query, {
      schema: s,
      final: true,
    });
    const runOf = (lines: readonly string[]) =>
      lines.map((l) => l.split(' ')[0] ?? l);
    const sorted = (lines: readonly string[]) => [...lines].sort();
    const at = (runId: string, index: number) =>
      `${runId} step 0 call ${index} (work)`;
    expect(report.stuckWaiting).toEqual([
      `${stuck} waiting at step 0 with open_calls 1 and no open call`,
    ]);
    expect(report.openCallsMismatch).toEqual([
      `${stuck} waiting at step 0: open_calls 1, 0 call(s) open`,
    ]);
    expect(sorted(report.callsNotTerminal)).toEqual(
      sorted([`${at(open, 0)} pending`, `${at(open, 1)} running`]),
    );
    expect(report.callsRunningWithoutLease).toEqual([
      `${at(open, 1)} (owner w9)`,
    ]);
    expect(report.callDoubleSuccess).toEqual([
      `${at(bad, 0)}: 2 succeeded attempts`,
    ]);
    expect(runOf(report.callSuccessUnaccounted)).toEqual([bad]);
    expect(report.callAttemptAfterSuccess).toEqual([
      `${at(bad, 0)}: #1 succeeded, #3 succeeded`,
    ]);
    expect(sorted(report.callAttemptGaps)).toEqual(
      sorted([`${at(bad, 0)}: attempts 1,3`, `${at(open, 1)}: attempts 2`]),
    );
    expect(report.callAttemptsOverMax).toEqual([
      `${at(bad, 0)}: attempt 3 > max 2`,
    ]);
    expect(sorted(report.callAttemptsUnrecorded)).toEqual(
      sorted([
        `${at(bad, 0)} succeeded: 3 attempt(s) made, 2 recorded (#1 succeeded, #3 succeeded)`,
        `${at(open, 0)} pending: 2 attempt(s) made, 1 recorded (#1 failed)`,
        `${at(open, 1)} running: 1 attempt(s) made, 1 recorded (#2 lease_expired)`,
      ]),
    );
    expect(violations(report).join('\n')).toMatch(/activity/);

    const checked = await checkActivityLedger(env.query, s);
    expect(checked).toEqual({
      bodies: 6,
      attempts: 7,
      reexecuted: 2,
      offBooks: [`${open} step 0 call 1 attempt 1 on w3`],
      unstarted: [`${open} step 0 call 0 attempt 1 on w2 failed`],
      lostBeforeStart: [`${open} step 0 call 1 attempt 2 on w4`],
      successWithoutDone: [`${bad} step 0 call 0 attempt 3 on w1`],
      ranAfterSuccess: [`${bad} step 0 call 0 attempt 3 on w1`],
      staleAfterSuccess: [`${late} step 0 call 0 attempt 1 on w8`],
      foreignResults: expect.arrayContaining([
        `${bad} step 0 call 0 attempt 1 on w1: result by w7 attempt 3`,
        `${bad} step 0 call 0 attempt 3 on w1: result by w7 attempt 3`,
      ]) as unknown,
    });

    // Step replays: the steps of `good` and `late` ran twice (suspended, replayed), that
    // of `bad` once, that of `thrice` three times with no lost attempt to
    // account for the third; `thin` replayed, but not on its succeeded
    // attempt's worker. `open` is not succeeded: not checked.
    const steps = async (
      runId: string,
      executions: number,
      done: number,
      worker = 'w1',
    ) => {
      for (let i = 0; i < executions; i += 1) {
        const token = randomUUID();
        for (const phase of i < done ? ['started', 'done'] : ['started']) {
          await env.query(
            `insert into ${ledger} (token, run_id, kind, step, call_index, name, attempt,
               instance, pid, phase)
             values ($1, $2, 'step', 0, null, 'fanOut', 1, $3, 1, $4)`,
            [token, runId, worker, phase],
          );
        }
      }
      await env.query(
        `insert into ${s}.step_attempt (run_id, step_index, attempt, state, worker)
         values ($1, 0, 1, 'succeeded', 'w1')`,
        [runId],
      );
    };
    const thrice = await run('succeeded');
    const thin = await run('succeeded');
    await steps(good, 2, 1);
    await steps(late, 2, 1);
    await steps(bad, 1, 1);
    await steps(thrice, 3, 1);
    await steps(thin, 2, 1, 'w5');
    await steps(open, 3, 2);
    const replays = await checkStepReplays(env.query, s, {
      workflows: ['fault-activity'],
      executionsPerStep: 2,
    });
    expect(replays.steps).toBe(5);
    expect(replays.executions).toBe(10);
    expect(replays.reexecuted).toBe(1);
    expect(sorted(runOf(replays.unaccounted))).toEqual(sorted([bad, thrice]));
    expect(replays.successWithoutDone).toEqual([`${thin} step 0`]);
  });

  it('scenario 12 (kill -9 while an activity runs): another worker takes the call back after its lease and retries it; the step resumes once and sees one result; finished calls never run again', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const workers = [
      startWorker(env, { instance: 'act-a', pollMs: POLL_MS }),
      startWorker(env, { instance: 'act-b', pollMs: POLL_MS }),
    ];
    await Promise.all(workers.map((w) => w.ready()));
    // Three calls in parallel; the first attempt of the middle one would run
    // a minute: whoever runs it is killed.
    const input: ActivityFaultInput = {
      calls: [{}, { once: { sleepMs: 60_000 } }, {}],
      emit: true,
    };
    const run = await env.client.enqueue(ActivityWorkflow, input);
    const body = await waitFor(async () =>
      (await ledgerOf(env, run.id)).find(
        (l) =>
          l.kind === 'activity' &&
          l.step === 0 &&
          l.call_index === 1 &&
          l.attempt === 1,
      ),
    );
    const victim = workers.find((w) => w.instance === body.instance)!;
    const survivor = workers.find((w) => w !== victim)!;
    // Its siblings have finished: the replay must not run them again.
    await waitFor(
      async () =>
        (
          await env.query(
            `select 1 from ${env.schema}.activity_call
             where run_id = $1 and step_index = 0 and call_index in (0, 2) and state = 'succeeded'`,
            [run.id],
          )
        ).length === 2,
    );
    expect((await env.runRow(run.id))?.state).toBe('waiting');

    victim.kill('SIGKILL');
    const [{ now: killedAt }] = (await env.query<{ now: Date }>(
      'select clock_timestamp() as now',
    )) as [{ now: Date }];
    expect((await victim.exited).signal).toBe('SIGKILL');

    const output = (await run.result({
      timeout: 15_000,
    })) as ActivityFaultOutput;
    await waitUntilAllFinished(env, [survivor]);
    await survivor.stop();

    // The step saw one result per call: the middle one from the retry.
    expect(output.results).toEqual([
      expect.objectContaining({ callIndex: 0, attempt: 1 }),
      { by: survivor.instance, pid: survivor.pid, attempt: 2, callIndex: 1 },
      expect.objectContaining({ callIndex: 2, attempt: 1 }),
    ]);
    expect(output).toMatchObject({
      by: survivor.instance,
      attempt: 1,
      last: { by: survivor.instance, attempt: 1, callIndex: 0 },
    });
    // The lost attempt is recorded lease_expired, on the dead worker.
    const attempts = await callAttemptsOf(env, run.id);
    expect(
      attempts.map((a) => [a.step_index, a.call_index, a.attempt, a.state]),
    ).toEqual([
      [0, 0, 1, 'succeeded'],
      [0, 1, 1, 'lease_expired'],
      [0, 1, 2, 'succeeded'],
      [0, 2, 1, 'succeeded'],
      [0, 3, 1, 'succeeded'], // the emit
      [1, 0, 1, 'succeeded'],
    ]);
    expect(attempts[1]).toMatchObject({
      worker: victim.instance,
      code: 'lease_expired',
    });
    expect(attempts[2]?.worker).toBe(survivor.instance);
    // Retried after the activity's own backoff, as a thrown error would be.
    expect(survivor.logs('warn')).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^Run ${run.id} fault-activity activity work \\(call 1 of step 0\\) attempt 1/10: lease expired, will be retried in \\d+ms$`,
        ),
      ),
    );

    // The ledger: each activity body ran exactly as often as its attempts
    // say, on the worker they name; the finished calls 0 and 2 once.
    const ledger = await ledgerOf(env, run.id);
    const key = (step: number, call: number | null, n: number, by: string) =>
      `step ${step} call ${call} #${n} on ${by}`;
    expect(
      ledger
        .filter((l) => l.kind === 'activity' && l.phase === 'started')
        .map((l) => key(l.step, l.call_index, l.attempt, l.instance))
        .sort(),
    ).toEqual(
      attempts
        .map((a) => key(a.step_index, a.call_index, a.attempt, a.worker!))
        .sort(),
    );
    expect(
      ledger
        .filter((l) => l.kind === 'activity' && l.phase === 'done')
        .map((l) => key(l.step, l.call_index, l.attempt, l.instance))
        .sort(),
    ).toEqual(
      attempts
        .filter((a) => a.state === 'succeeded')
        .map((a) => key(a.step_index, a.call_index, a.attempt, a.worker!))
        .sort(),
    );
    // Taken back within lease + poll interval + 1 s (I5).
    const retried = ledger.find(
      (l) => l.kind === 'activity' && l.call_index === 1 && l.attempt === 2,
    )!;
    expect(retried.at.getTime() - killedAt.getTime()).toBeLessThan(
      env.leaseMs + POLL_MS + 1_000,
    );

    // Each step ran twice: once to suspend, once, after its last call
    // finished, to replay; the lost activity attempt cost the step nothing.
    const steps = ledger.filter((l) => l.kind === 'step');
    for (const step of [0, 1]) {
      expect(
        steps.filter((l) => l.step === step).map((l) => [l.phase, l.attempt]),
      ).toEqual([
        ['started', 1],
        ['started', 1],
        ['done', 1],
      ]);
    }
    const [middle] = await env.query<{ completed_at: Date }>(
      `select completed_at from ${env.schema}.activity_call
       where run_id = $1 and step_index = 0 and call_index = 1`,
      [run.id],
    );
    const replay = steps.filter(
      (l) => l.step === 0 && l.phase === 'started',
    )[1]!;
    expect(replay.at.getTime()).toBeGreaterThan(middle!.completed_at.getTime());
    expect(replay.instance).toBe(survivor.instance);
    expect(
      (await env.attempts(run.id)).map((a) => [
        a.step_index,
        a.attempt,
        a.state,
        a.worker,
      ]),
    ).toEqual([
      [0, 1, 'succeeded', survivor.instance],
      [1, 1, 'succeeded', survivor.instance],
    ]);

    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [run.id],
      final: true,
      stepCounts: STEP_COUNTS,
    });
    const { ledger: books, steps: replays } = await activityReports(env);
    expect(books).toMatchObject({
      bodies: 6,
      attempts: 6,
      reexecuted: 1,
      offBooks: [],
      unstarted: [],
      lostBeforeStart: [],
      successWithoutDone: [],
      ranAfterSuccess: [],
      staleAfterSuccess: [],
      foreignResults: [],
    });
    expect(replays).toEqual({
      steps: 2,
      executions: 4,
      reexecuted: 0,
      unaccounted: [],
      successWithoutDone: [],
    });
    expect(survivor.crashes()).toEqual([]);
  }, 60_000);

  it('scenario 12, many runs (40 runs of two or three parallel calls, workers killed four times while activities run): every run succeeds, every body is accounted for by an attempt, every step resumes once per suspension', async () => {
    const RUNS = 40;
    const KILLS = 4;
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    let started = 0;
    const start = (): WorkerProcess =>
      startWorker(env, {
        instance: `many-${++started}`,
        concurrency: 3,
        pollMs: POLL_MS,
        stepEvents: false,
      });
    const workers = [start(), start(), start()];
    await Promise.all(workers.map((w) => w.ready()));
    const runs = await env.client.enqueueMany(
      ActivityWorkflow,
      Array.from({ length: RUNS }, (_, tag): ActivityFaultInput => ({
        calls: Array.from({ length: 2 + (tag % 2) }, (_, i) => ({
          sleepMs: 300 + ((tag * 7 + i * 3) % 5) * 100,
        })),
        emit: tag % 3 === 0,
        then: { sleepMs: 150 },
        tag,
      })),
    );

    // Each victim is a ready worker running an activity at that moment; a
    // new worker replaces it (a supervisor restarting a pod). Two ready
    // workers at least before each kill: one lives on to take calls back.
    const killed: string[] = [];
    for (let k = 0; k < KILLS; k += 1) {
      await sleep(500);
      await waitFor(
        () => workers.filter((w) => w.alive && w.isReady).length >= 2,
        { timeoutMs: 30_000, message: 'replacement workers did not boot' },
      );
      const victim = await waitFor(
        async () => {
          const owners = new Set(
            (
              await env.query<{ owner: string }>(
                `select distinct lease_owner as owner from ${env.schema}.activity_call
                 where state = 'running' and kind = 'call'`,
              )
            ).map((r) => r.owner),
          );
          const candidates = workers.filter(
            (w) => w.alive && w.isReady && owners.has(w.instance),
          );
          return candidates[k % Math.max(candidates.length, 1)];
        },
        { timeoutMs: 15_000, message: 'no worker is running an activity' },
      );
      victim.kill('SIGKILL');
      killed.push(victim.instance);
      await victim.exited;
      workers.push(start());
    }

    await waitUntilAllFinished(env, workers);
    await Promise.all(workers.filter((w) => w.alive).map((w) => w.stop()));

    const report = await checkInvariants(env.query, {
      schema: env.schema,
      runIds: runs.map((r) => r.id),
      final: true,
      stepCounts: STEP_COUNTS,
    });
    const { ledger, steps } = await activityReports(env);
    const lost = await env.query<{ worker: string; state: string; n: number }>(
      `select worker, state, count(*)::int as n from ${env.schema}.activity_attempt
       where state <> 'succeeded' group by worker, state order by worker`,
    );
    console.log(
      [
        `Activities under kill -9: ${RUNS} runs, ${killed.length} workers killed (${killed.join(', ')})`,
        `  activity bodies ${ledger.bodies}, attempts ${ledger.attempts}, calls run more than once ${ledger.reexecuted}; ` +
          `attempts lost: ${lost.map((l) => `${l.n} ${l.state} on ${l.worker}`).join(', ')}; claimed but killed before starting: ${ledger.lostBeforeStart.length}`,
        `  step executions ${steps.executions} for ${steps.steps} steps (${EXECUTIONS_PER_STEP} each without faults), ${steps.reexecuted} step(s) run again after a lost attempt`,
      ].join('\n'),
    );

    expect(violations(report)).toEqual([]);
    expect(report.byState).toEqual({ succeeded: RUNS });
    expect(killed).toHaveLength(KILLS);
    // Every kill cost at least one activity attempt, recorded lease_expired
    // on the dead worker; nothing else was lost.
    for (const instance of killed) {
      expect(lost).toContainEqual({
        worker: instance,
        state: 'lease_expired',
        n: expect.any(Number) as number,
      });
    }
    expect(lost.every((l) => killed.includes(l.worker))).toBe(true);
    expect(lost.every((l) => l.state === 'lease_expired')).toBe(true);
    // The ledger matches: no body ran without its attempt, no attempt was
    // recorded for a body that did not run there, except claims the kill
    // caught before their body began.
    expect(ledger).toMatchObject({
      offBooks: [],
      unstarted: [],
      successWithoutDone: [],
      ranAfterSuccess: [],
      staleAfterSuccess: [],
      foreignResults: [],
    });
    expect(
      ledger.lostBeforeStart.filter(
        (line) => !killed.some((instance) => line.endsWith(` on ${instance}`)),
      ),
    ).toEqual([]);
    expect(ledger.attempts - ledger.bodies).toBe(ledger.lostBeforeStart.length);
    expect(steps).toMatchObject({
      steps: 2 * RUNS,
      unaccounted: [],
      successWithoutDone: [],
    });
    // Each step saw one result per call, in call order.
    for (const [tag, run] of runs.entries()) {
      const output = (await run.result()) as ActivityFaultOutput;
      expect(output.results.map((r) => r.callIndex)).toEqual(
        tag % 2 === 0 ? [0, 1] : [0, 1, 2],
      );
    }
    // One emit per emitting run, written once.
    const [emits] = await env.query<{ n: number }>(
      `select count(*)::int as n from ${env.schema}.activity_call
       where kind = 'emit' and state = 'succeeded'`,
    );
    expect(emits?.n).toBe(Math.ceil(RUNS / 3));
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
  }, 120_000);

  it('activity crash loop (every attempt of a call kills its worker): the call ends failed with code lease_expired once its attempts run out, and the step fails the run with activity_failed', async () => {
    const env = await prepareFaultEnv({ leaseMs: 500 });
    // `fragile`: 3 attempts. A new worker is started each time one dies.
    const run = await env.client.enqueue(ActivityWorkflow, {
      calls: [{ fragile: true, crash: true }],
    });
    const generations: WorkerProcess[] = [];
    const startNext = (): void => {
      if (generations.length < 6) {
        generations.push(
          startWorker(env, {
            instance: `act-crash-${generations.length + 1}`,
            pollMs: POLL_MS,
          }),
        );
      }
    };
    startNext();
    await waitFor(
      async () => {
        if (!generations.at(-1)?.alive) {
          startNext();
        }
        return (await env.runRow(run.id))?.state === 'failed';
      },
      {
        timeoutMs: 45_000,
        intervalMs: 50,
        message: `run ${run.id} did not fail\n${generations.map((g) => g.output()).join('\n')}`,
      },
    );
    await Promise.all(generations.filter((g) => g.alive).map((g) => g.stop()));

    const row = await env.runRow(run.id);
    expect(row?.error).toMatchObject({ code: 'activity_failed' });
    expect(row?.error?.message).toMatch(
      /^Activity "fragile" failed: \[lease_expired\] .*no attempts remain/,
    );
    const dead = generations.filter((g) => g.exitStatus?.signal === 'SIGKILL');
    expect(dead).toHaveLength(3);
    expect(
      (await callAttemptsOf(env, run.id)).map((a) => [
        a.attempt,
        a.state,
        a.code,
        a.worker,
      ]),
    ).toEqual(
      dead.map((g, i) => [i + 1, 'lease_expired', 'lease_expired', g.instance]),
    );
    const [call] = await env.query<{ state: string; code: string }>(
      `select state, error->>'code' as code from ${env.schema}.activity_call where run_id = $1`,
      [run.id],
    );
    expect(call).toEqual({ state: 'failed', code: 'lease_expired' });
    // The step suspended once, then replayed once to meet the failure: one
    // failed attempt, not retried (the replay would meet it again).
    expect(
      (await env.attempts(run.id)).map((a) => [a.attempt, a.state, a.code]),
    ).toEqual([[1, 'failed', 'activity_failed']]);
    expect(
      (await ledgerOf(env, run.id))
        .filter((l) => l.kind === 'step')
        .map((l) => l.phase),
    ).toEqual(['started', 'started']);
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [run.id],
      final: true,
    });
    expect(await checkActivityLedger(env.query, env.schema)).toMatchObject({
      bodies: 3,
      attempts: 3,
      offBooks: [],
      unstarted: [],
      lostBeforeStart: [],
    });
  }, 60_000);

  it('scenario 16 (PostgreSQL restarted): runs suspended on activities, activities in flight, emits and a schedule all come through; nothing lost, nothing run again beyond the attempts the restart cost', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const env = await prepareFaultEnv({ url: cluster.url, leaseMs: 1_000 });
    const workers = ['pg-a', 'pg-b'].map((instance) =>
      startWorker(env, {
        instance,
        concurrency: 4,
        pollMs: 200,
        stepEvents: false,
        ...RECONNECT,
      }),
    );
    await Promise.all(workers.map((w) => w.ready()));
    await env.client.schedule(SingleWorkflow, '*/2 * * * * *', {});
    const RUNS = 24;
    const runs = await env.client.enqueueMany(
      ActivityWorkflow,
      Array.from({ length: RUNS }, (_, tag): ActivityFaultInput => ({
        calls: [
          { sleepMs: 200 + (tag % 4) * 100 },
          { sleepMs: tag % 3 === 0 ? 2_500 : 600 },
        ],
        emit: tag % 2 === 0,
        then: { sleepMs: 200 },
        tag,
      })),
    );
    // The restart comes when runs are parked on their calls, bodies run and
    // emits have been written.
    await waitFor(
      async () => {
        const [mix] = await env.query<{
          parked: number;
          running: number;
          emits: number;
        }>(
          `select
             (select count(*)::int from ${env.schema}.workflow_run
              where state = 'waiting' and run_at = 'infinity') as parked,
             (select count(*)::int from ${env.schema}.activity_call
              where state = 'running') as running,
             (select count(*)::int from ${env.schema}.activity_call
              where kind = 'emit') as emits`,
        );
        return mix && mix.parked >= 3 && mix.running >= 2 && mix.emits >= 1;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );

    const downAt = Date.now();
    await cluster.stop('fast');
    await sleep(1_000);
    await cluster.start();
    const upAt = Date.now();

    await waitUntilAllFinished(env, workers);
    // The schedule goes on after the restart.
    await waitFor(async () => (await ticks(env)).some((t) => t.at > upAt), {
      timeoutMs: 10_000,
    });
    await env.client.unschedule(SingleWorkflow);
    await waitUntilAllFinished(env, workers);
    for (const worker of workers) {
      expect(worker.alive).toBe(true);
    }
    await Promise.all(workers.map((w) => w.stop()));

    const report = await checkInvariants(env.query, {
      schema: env.schema,
      runIds: runs.map((r) => r.id),
      final: true,
      stepCounts: STEP_COUNTS,
    });
    expect(violations(report)).toEqual([]);
    expect(report.byState).toEqual({ succeeded: report.runs });
    await expectTicksOnce(env, { from: downAt - 2_000, to: upAt + 3_000 });

    const { ledger, steps } = await activityReports(env);
    expect(ledger).toMatchObject({
      offBooks: [],
      unstarted: [],
      successWithoutDone: [],
      ranAfterSuccess: [],
      staleAfterSuccess: [],
      foreignResults: [],
    });
    expect(steps).toMatchObject({
      steps: 2 * RUNS,
      unaccounted: [],
      successWithoutDone: [],
    });
    // Whatever ran again was in flight across the restart: every lost
    // attempt, of a step or an activity, began before the database was back.
    const lost = await env.query<{ what: string; started_at: Date | null }>(
      `select 'activity ' || state as what, started_at from ${env.schema}.activity_attempt
       where state <> 'succeeded'
       union all
       select 'step ' || state, started_at from ${env.schema}.step_attempt
       where state <> 'succeeded'`,
    );
    expect(
      lost.filter((l) => !l.started_at || l.started_at.getTime() > upAt),
    ).toEqual([]);
    // One emit per emitting run, written once, run to success.
    const [emits] = await env.query<{ n: number; ok: number }>(
      `select count(*)::int as n, count(*) filter (where state = 'succeeded')::int as ok
       from ${env.schema}.activity_call where kind = 'emit'`,
    );
    expect(emits).toEqual({ n: RUNS / 2, ok: RUNS / 2 });
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
    expect(workers.flatMap((w) => w.logs('warn')).join('\n')).toMatch(
      /Notification connection lost|Could not claim|Could not renew/,
    );
    console.log(
      `PostgreSQL restart: ${ledger.bodies} activity bodies for ${ledger.attempts} attempts ` +
        `(${ledger.reexecuted} call(s) run again, ${ledger.lostBeforeStart.length} claim(s) lost before their body began), ` +
        `${steps.executions} step executions for ${steps.steps} steps; lost attempts: ${lost.map((l) => l.what).join(', ') || 'none'}`,
    );
  }, 120_000);

  it('scenario 16 (SIGTERM): activities in flight finish before the worker exits, one still running at shutdownTimeout is given back without counting an attempt, and another worker resumes every suspended run and the schedule', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const shutdownTimeoutMs = 3_000;
    const first = startWorker(env, {
      instance: 'term-a',
      concurrency: 4,
      pollMs: POLL_MS,
      shutdownTimeoutMs,
      stepEvents: false,
    });
    await first.ready();
    await env.client.schedule(SingleWorkflow, '*/2 * * * * *', {});
    // Its one call runs a minute on term-a only (its signal honoured).
    const held = await env.client.enqueue(ActivityWorkflow, {
      calls: [{ slowOn: { instance: 'term-a', sleepMs: 60_000 } }],
      tag: 'held',
    });
    const RUNS = 12;
    const runs = await env.client.enqueueMany(
      ActivityWorkflow,
      Array.from({ length: RUNS }, (_, tag): ActivityFaultInput => ({
        calls: [{ sleepMs: 400 }, { sleepMs: 800 }],
        emit: tag % 2 === 0,
        then: { sleepMs: 200 },
        tag,
      })),
    );
    const runningBodies = async () =>
      env.query<{ run_id: string }>(
        `select s.run_id from ${ledgerTable(env.schema)} s
         where s.kind = 'activity' and s.phase = 'started' and not exists (
           select 1 from ${ledgerTable(env.schema)} d where d.token = s.token and d.phase = 'done')`,
      );
    await waitFor(
      async () => {
        const bodies = await runningBodies();
        const [parked] = await env.query<{ n: number }>(
          `select count(*)::int as n from ${env.schema}.workflow_run
           where state = 'waiting' and run_at = 'infinity'`,
        );
        return (
          bodies.some((b) => b.run_id === held.id) &&
          bodies.length >= 3 &&
          (parked?.n ?? 0) >= 3
        );
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );

    const termAt = Date.now();
    first.kill('SIGTERM');
    const exit = await first.exitWithin(20_000);
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(first.logs('warn')).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\d+ step\\(s\\) still running after ${shutdownTimeoutMs}ms; aborting them$`,
        ),
      ),
    );
    // Nothing is left running; nothing was abandoned to a lapsing lease.
    const [left] = await env.query<{ runs: number; calls: number }>(
      `select
         (select count(*)::int from ${env.schema}.workflow_run where state = 'running') as runs,
         (select count(*)::int from ${env.schema}.activity_call where state = 'running') as calls`,
    );
    expect(left).toEqual({ runs: 0, calls: 0 });
    // Every body term-a began, it finished and committed, but the held one:
    // given back, its attempt not counted.
    const afterShutdown = await checkActivityLedger(env.query, env.schema);
    expect(afterShutdown).toMatchObject({
      offBooks: [`${held.id} step 0 call 0 attempt 1 on term-a`],
      unstarted: [],
      lostBeforeStart: [],
      successWithoutDone: [],
    });
    const [heldCall] = await env.query<{
      state: string;
      attempt: number;
      lease_owner: string | null;
    }>(
      `select state, attempt, lease_owner from ${env.schema}.activity_call where run_id = $1`,
      [held.id],
    );
    expect(heldCall).toEqual({
      state: 'pending',
      attempt: 0,
      lease_owner: null,
    });
    expect(await callAttemptsOf(env, held.id)).toEqual([]);
    // Suspended runs wait in the database, untouched by the shutdown.
    const [parked] = await env.query<{ n: number }>(
      `select count(*)::int as n from ${env.schema}.workflow_run
       where state = 'waiting' and run_at = 'infinity'`,
    );
    expect(parked?.n).toBeGreaterThan(0);

    const second = startWorker(env, {
      instance: 'term-b',
      concurrency: 4,
      pollMs: POLL_MS,
      stepEvents: false,
    });
    await second.ready();
    const upAt = Date.now();
    await waitUntilAllFinished(env, [second]);
    await waitFor(async () => (await ticks(env)).some((t) => t.at > upAt), {
      timeoutMs: 10_000,
    });
    await env.client.unschedule(SingleWorkflow);
    await waitUntilAllFinished(env, [second]);
    await second.stop();

    const report = await checkInvariants(env.query, {
      schema: env.schema,
      runIds: [held.id, ...runs.map((r) => r.id)],
      final: true,
      stepCounts: STEP_COUNTS,
    });
    expect(violations(report)).toEqual([]);
    expect(report.byState).toEqual({ succeeded: report.runs });
    await expectTicksOnce(env, { from: termAt - 2_000, to: upAt + 3_000 });
    // The held call: one attempt, on term-b (and step 1's call after it).
    expect(
      (await callAttemptsOf(env, held.id)).map((a) => [
        a.step_index,
        a.call_index,
        a.attempt,
        a.state,
        a.worker,
      ]),
    ).toEqual([
      [0, 0, 1, 'succeeded', 'term-b'],
      [1, 0, 1, 'succeeded', 'term-b'],
    ]);
    await expect(held.result({ timeout: 1_000 })).resolves.toMatchObject({
      results: [{ by: 'term-b', attempt: 1, callIndex: 0 }],
    });
    // No fault but the shutdown: every body ran exactly as its attempts say
    // (the held one once more, given back), every step exactly twice, no
    // attempt lost.
    const { ledger, steps } = await activityReports(env);
    expect(ledger).toMatchObject({
      offBooks: [`${held.id} step 0 call 0 attempt 1 on term-a`],
      unstarted: [],
      lostBeforeStart: [],
      successWithoutDone: [],
      ranAfterSuccess: [],
      staleAfterSuccess: [],
      foreignResults: [],
      reexecuted: 1,
    });
    expect(ledger.bodies).toBe(ledger.attempts + 1);
    expect(steps).toEqual({
      steps: 2 * (RUNS + 1),
      executions: 4 * (RUNS + 1),
      reexecuted: 0,
      unaccounted: [],
      successWithoutDone: [],
    });
    const [lost] = await env.query<{ n: number }>(
      `select (select count(*)::int from ${env.schema}.activity_attempt where state <> 'succeeded')
         + (select count(*)::int from ${env.schema}.step_attempt where state <> 'succeeded') as n`,
    );
    expect(lost?.n).toBe(0);
    expect([...first.crashes(), ...second.crashes()]).toEqual([]);
  }, 90_000);
});
