import {
  ActivityWorkflow,
  ChainWorkflow,
  WITH_ACTIVITIES,
} from '../../fault-worker/fault.workflows';
import type {
  ActivityFaultInput,
  FaultInput,
} from '../../fault-worker/protocol';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import {
  checkActivityLedger,
  checkEffects,
  checkInvariants,
  checkStaleWrites,
  checkStepReplays,
  FencedOutcome,
  parseFencedOutcome,
  unfinishedRuns,
  violations,
} from '../../support/invariants';
import { sleep, waitFor } from '../../support/wait-for';
import { WorkerProcess } from '../../support/worker-process';

/**
 * Chaos: worker processes run thousands of three-step runs, and runs whose
 * steps wait on activities (`fault-activity`: two or three parallel calls,
 * an emit on every second run, then one more call), while the test SIGKILLs
 * random workers (and starts them again) and pauses some past their lease
 * (SIGSTOP … SIGCONT). At the end: no run lost, none completed twice, no
 * write by a fenced worker, and a bounded recovery after the last kill.
 *
 * Every second worker claims ahead an explicit `runtime.prefetch`
 * (CHAOS_PREFETCH, 20); the others set nothing and run with the library's
 * defaults (`prefetch: 'auto'`, an adaptive claim-ahead), so that the
 * guarantees are checked under what a user who sets nothing gets (#8).
 *
 * The `npm test` version is small. A longer run, for example:
 *
 *   CHAOS_RUNS=20000 CHAOS_KILLS=12 CHAOS_PAUSES=4 npx jest --config jest.config.js \
 *     test/e2e/faults/chaos --selectProjects e2e
 *
 * Settings (environment): CHAOS_RUNS (2000 three-step runs), CHAOS_ACTIVITY_RUNS
 * (activity runs besides them: CHAOS_RUNS / 20), CHAOS_WORKERS (4), CHAOS_KILLS
 * (4, the last one measured), CHAOS_PAUSES (1), CHAOS_CONCURRENCY (10),
 * CHAOS_PREFETCH (runtime.prefetch of every second worker: 20; the others
 * leave it unset, so they run with the library's default, 'auto'),
 * CHAOS_STEP_MS (each step and activity sleeps this long: 30), CHAOS_HEARTBEAT_MS (the
 * lease: 1000), CHAOS_POLL_MS (200), CHAOS_SEED (random; printed, to replay
 * the same fault schedule).
 *
 * What is counted, once every run is terminal and every worker stopped:
 * - runs lost: enqueued runs missing or not terminal (I1);
 * - double completions: a (run, step) with more than one succeeded attempt in
 *   `step_attempt`, or a step a run moved past (or completed) without exactly
 *   one (I2). Side effects (`fault_effect`) may run more than once (steps are
 *   at-least-once): that is reported, not failed; but every succeeded attempt
 *   must have the side effect of that very attempt and worker;
 * - activity calls: every call and emit terminal, its attempts numbered
 *   1..n within its max and all recorded, at most one succeeded (its last);
 *   every activity body that ran (the ledger, `fault_ledger`) accounted for
 *   by an attempt of that call, number and worker, every finished attempt by
 *   a body that ran there, no finished call claimed and run again (a paused
 *   worker's lapsed claim may still start its body once after SIGCONT: that
 *   is reported, and allowed on a paused worker only); and the step replays
 *   accounted for: each step of `fault-activity` ran twice (suspended, then
 *   replayed), plus at most once per attempt the faults cost it;
 * - stale writes: an outcome row written by a worker other than the one that
 *   claimed that attempt (per the workers' step-started events), a row left by
 *   an outcome its worker reported as discarded, a run output naming another
 *   worker than its succeeded last attempt, or an attempt recorded after a
 *   step's success (I3);
 * - recovery after the last kill: until every run and activity call the
 *   killed worker held has been taken back and claimed again (or finished);
 *   at most lease + poll interval + reconnect backoff cap + 1 s (I5). The last kill comes once at
 *   most 2 × workers × concurrency runs are left, so that no backlog of older
 *   runs stands in front of the recovered ones.
 */

function setting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') {
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`${name} must be a non-negative number, got "${value}"`);
  }
  return parsed;
}

const RUNS = setting('CHAOS_RUNS', 2_000);
const ACTIVITY_RUNS = setting('CHAOS_ACTIVITY_RUNS', Math.round(RUNS / 20));
const WORKERS = Math.max(2, setting('CHAOS_WORKERS', 4));
const KILLS = Math.max(1, setting('CHAOS_KILLS', 4));
const PAUSES = setting('CHAOS_PAUSES', 1);
const CONCURRENCY = Math.max(1, setting('CHAOS_CONCURRENCY', 10));
/** `runtime.prefetch` of every second worker (the others: unset, the default 'auto'). */
const PREFETCH = setting('CHAOS_PREFETCH', 20);
const STEP_MS = setting('CHAOS_STEP_MS', 30);
const HEARTBEAT_MS = setting('CHAOS_HEARTBEAT_MS', 1_000);
const POLL_MS = setting('CHAOS_POLL_MS', 200);
const SEED = setting('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31));
const RECONNECT_MAX_MS = 500;
/** I5: once a fault heals, claimable work is claimed within this. */
const RECOVERY_BOUND_MS = HEARTBEAT_MS + POLL_MS + RECONNECT_MAX_MS + 1_000;
/** The last kill comes once this few runs are left, so that no backlog hides the recovery. */
const FINAL_KILL_AT = 2 * WORKERS * CONCURRENCY;
const STEPS = 3;
const TIMEOUT_MS = 120_000 + (RUNS + ACTIVITY_RUNS) * 30;
const ALL_RUNS = RUNS + ACTIVITY_RUNS;
/** How long the first workers may take to boot. */
const BOOT_MS = 90_000;

/** mulberry32: a seeded PRNG, so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Slot {
  generation: number;
  worker: WorkerProcess;
  paused: boolean;
}

interface Kill {
  readonly instance: string;
  readonly at: number;
  readonly held: number;
}

describe('chaos', () => {
  afterEach(cleanupFaults);

  it(
    `loses no run, completes none twice and lets no fenced worker write, while workers are killed and paused at random (${RUNS} runs and ${ACTIVITY_RUNS} with activities, ${WORKERS} workers)`,
    async () => {
      const random = prng(SEED);
      const env = await prepareFaultEnv({ leaseMs: HEARTBEAT_MS });
      const everyWorker: WorkerProcess[] = [];
      const start = (index: number, generation: number): WorkerProcess => {
        const worker = env.startWorker({
          instance: `chaos-${index + 1}-g${generation}`,
          concurrency: CONCURRENCY,
          // Half with an explicit claim-ahead, half with the defaults.
          prefetch: index % 2 === 1 ? PREFETCH : undefined,
          pollMs: POLL_MS,
          reconnectInitialMs: 50,
          reconnectMaxMs: RECONNECT_MAX_MS,
          shutdownTimeoutMs: 10_000,
          workflows: WITH_ACTIVITIES,
        });
        everyWorker.push(worker);
        return worker;
      };
      const slots: Slot[] = Array.from({ length: WORKERS }, (_, i) => ({
        generation: 1,
        worker: start(i, 1),
        paused: false,
      }));
      // Booting four ts-node processes at once can take a while on a busy
      // machine; nothing is measured before they are all up.
      await Promise.all(slots.map((s) => s.worker.ready(BOOT_MS)));

      const began = Date.now();
      const runIds: string[] = [];
      // Activity runs first, so that their calls and replays go on among
      // the three-step runs all along.
      for (let offset = 0; offset < ACTIVITY_RUNS; offset += 2_000) {
        const inputs = Array.from(
          { length: Math.min(2_000, ACTIVITY_RUNS - offset) },
          (_, i): ActivityFaultInput => ({
            calls: Array.from({ length: 2 + ((offset + i) % 2) }, () => ({
              sleepMs: STEP_MS,
            })),
            emit: (offset + i) % 2 === 0,
            then: { sleepMs: STEP_MS },
            tag: offset + i,
          }),
        );
        const runs = await env.client.enqueueMany(ActivityWorkflow, inputs);
        runIds.push(...runs.map((r) => r.id));
      }
      for (let offset = 0; offset < RUNS; offset += 2_000) {
        const inputs = Array.from(
          { length: Math.min(2_000, RUNS - offset) },
          (_, i): FaultInput => ({ sleepMs: STEP_MS, tag: offset + i }),
        );
        const runs = await env.client.enqueueMany(ChainWorkflow, inputs);
        runIds.push(...runs.map((r) => r.id));
      }

      /** Runs and activity calls each worker holds. */
      const held = async (): Promise<Map<string, number>> => {
        const rows = await env.query<{ owner: string; n: number }>(
          `select owner, count(*)::int as n from (
             select lease_owner as owner from ${env.schema}.workflow_run where state = 'running'
             union all
             select lease_owner from ${env.schema}.activity_call where state = 'running') h
           group by owner`,
        );
        return new Map(rows.map((r) => [r.owner, r.n]));
      };
      /** A ready, running, unpaused worker, preferably one holding runs. */
      const pickVictim = async (): Promise<Slot | undefined> => {
        const leases = await held();
        const candidates = slots.filter(
          (s) => !s.paused && s.worker.alive && s.worker.isReady,
        );
        const holding = candidates.filter(
          (s) => (leases.get(s.worker.instance) ?? 0) > 0,
        );
        const pool = holding.length > 0 ? holding : candidates;
        return pool[Math.floor(random() * pool.length)];
      };
      const kills: Kill[] = [];
      const kill = async (slot: Slot): Promise<Kill> => {
        const victim = slot.worker;
        const holding = (await held()).get(victim.instance) ?? 0;
        victim.kill('SIGKILL');
        const record = {
          instance: victim.instance,
          at: Date.now(),
          held: holding,
        };
        kills.push(record);
        await victim.exited;
        slot.generation += 1;
        slot.worker = start(slots.indexOf(slot), slot.generation);
        return record;
      };
      let pauses = 0;
      const paused: string[] = [];
      const resumed: Promise<void>[] = [];
      const pause = (slot: Slot): void => {
        slot.paused = true;
        pauses += 1;
        paused.push(slot.worker.instance);
        slot.worker.kill('SIGSTOP');
        resumed.push(
          sleep(HEARTBEAT_MS + 300 + random() * 500).then(() => {
            slot.worker.kill('SIGCONT');
            slot.paused = false;
          }),
        );
      };

      // Faults at random intervals while the work goes on; the last kill once
      // the work is nearly done.
      const plan: ('kill' | 'pause')[] = [
        ...Array<'kill'>(KILLS - 1).fill('kill'),
        ...Array<'pause'>(PAUSES).fill('pause'),
      ].sort(() => random() - 0.5);
      faults: for (const fault of plan) {
        await sleep(300 + random() * 700);
        // A victim: wait while every worker is booting or paused.
        let slot: Slot | undefined;
        while (!slot) {
          if ((await unfinishedRuns(env.query, env.schema)) <= FINAL_KILL_AT) {
            break faults;
          }
          slot = await pickVictim();
          if (!slot) {
            await sleep(100);
          }
        }
        if (fault === 'kill') {
          await kill(slot);
        } else {
          pause(slot);
        }
      }
      await Promise.all(resumed);
      await waitFor(
        async () =>
          (await unfinishedRuns(env.query, env.schema)) <= FINAL_KILL_AT,
        { timeoutMs: TIMEOUT_MS / 2, intervalMs: 50 },
      );
      // The last victim holds runs: their recovery (and that of the
      // activity calls it holds, if any) is what is measured.
      const { finalSlot, victimRuns, victimCalls, dbNow } = await waitFor(
        async () => {
          const slot = await pickVictim();
          const [now] = await env.query<{ now: Date }>('select now() as now');
          const ids = (
            await env.query<{ id: string }>(
              `select id from ${env.schema}.workflow_run where state = 'running' and lease_owner = $1`,
              [slot?.worker.instance],
            )
          ).map((r) => r.id);
          const calls = await env.query<{ id: string }>(
            `select run_id || '/' || step_index || '/' || call_index as id
             from ${env.schema}.activity_call where state = 'running' and lease_owner = $1`,
            [slot?.worker.instance],
          );
          return slot && ids.length > 0
            ? {
                finalSlot: slot,
                victimRuns: ids,
                victimCalls: calls.map((c) => c.id),
                dbNow: now,
              }
            : undefined;
        },
      );
      const victim = finalSlot.worker.instance;
      const lastKill = await kill(finalSlot);

      // Recovery: the victim's runs are taken back (its leases lapse and a
      // sweep returns them), then claimed again by another worker.
      let reclaimedMs: number | undefined;
      await waitFor(
        async () => {
          const rows = await env.query<{ mine: boolean; moved: boolean }>(
            `select (state = 'running' and lease_owner = $2) as mine,
             (state in ('succeeded', 'failed', 'cancelled') or attempt_started_at > $3) as moved
           from ${env.schema}.workflow_run where id = any($1)
           union all
           select (state = 'running' and lease_owner = $2),
             (state in ('succeeded', 'failed', 'cancelled') or attempt_started_at > $3)
           from ${env.schema}.activity_call
           where run_id || '/' || step_index || '/' || call_index = any($4)`,
            [victimRuns, victim, dbNow?.now, victimCalls],
          );
          if (reclaimedMs === undefined && rows.every((r) => !r.mine)) {
            reclaimedMs = Date.now() - lastKill.at;
          }
          return rows.every((r) => r.moved);
        },
        {
          timeoutMs: 30_000,
          intervalMs: 20,
          message: 'no recovery after the last kill',
        },
      );
      const recoveredMs = Date.now() - lastKill.at;

      // Every run, and every activity call (an emit may outlive its run).
      const openCalls = async (): Promise<number> =>
        (
          await env.query<{ n: number }>(
            `select count(*)::int as n from ${env.schema}.activity_call
             where state not in ('succeeded', 'failed', 'cancelled')`,
          )
        )[0]?.n ?? 0;
      await waitFor(
        async () =>
          (await unfinishedRuns(env.query, env.schema)) === 0 &&
          (await openCalls()) === 0,
        {
          timeoutMs: TIMEOUT_MS / 2,
          intervalMs: 100,
          message: `runs or calls left unfinished\n${slots.map((s) => s.worker.output()).join('\n')}`,
        },
      );
      const elapsedMs = Date.now() - began;
      // Every worker stops (SIGTERM: drains): after this, nothing can write.
      await Promise.all(slots.map((s) => s.worker.stop()));

      const report = await checkInvariants(env.query, {
        schema: env.schema,
        runIds,
        final: true,
        stepCounts: { 'fault-chain': STEPS, 'fault-activity': 2 },
      });
      const claims = everyWorker.flatMap((w) =>
        w.steps().map((e) => ({ ...e, instance: w.instance })),
      );
      const fenced = everyWorker.flatMap((w) =>
        w
          .logs('warn')
          .map((m) => parseFencedOutcome(w.instance, m))
          .filter((f): f is FencedOutcome => f !== undefined),
      );
      const stale = await checkStaleWrites(
        env.query,
        env.schema,
        claims,
        fenced,
      );
      const effects = await checkEffects(env.query, env.schema);
      const ledger = await checkActivityLedger(env.query, env.schema);
      const replays = await checkStepReplays(env.query, env.schema, {
        workflows: ['fault-activity'],
        executionsPerStep: 2,
      });
      const callStates = await env.query<{ outcome: string; n: number }>(
        `select kind || ' ' || state as outcome, count(*)::int as n
         from ${env.schema}.activity_call group by 1 order by 2 desc`,
      );
      const callAttemptStates = await env.query<{ state: string; n: number }>(
        `select state, count(*)::int as n from ${env.schema}.activity_attempt
         group by 1 order by 2 desc`,
      );
      const faulted = new Set([...kills.map((k) => k.instance), ...paused]);
      const attemptStates = await env.query<{ outcome: string; n: number }>(
        `select state || coalesce(' (' || (error->>'code') || ')', '') as outcome, count(*)::int as n
         from ${env.schema}.step_attempt group by 1 order by 2 desc`,
      );
      // Steps here never fail on purpose: say why any attempt did.
      const failures = await env.query<{ why: string; n: number }>(
        `select workflow_name || ' step ' || a.step_index || ': ' || coalesce(a.error->>'name', '?') || ': ' ||
           left(coalesce(a.error->>'message', ''), 200) as why, count(*)::int as n
         from ${env.schema}.step_attempt a join ${env.schema}.workflow_run r on r.id = a.run_id
         where a.state in ('failed', 'timed_out') group by 1 order by 2 desc limit 5`,
      );
      const abandoned = everyWorker
        .flatMap((w) => w.logs('warn'))
        .filter((m) => m.endsWith('abandoning the attempt')).length;
      const crashes = everyWorker.flatMap((w) => w.crashes());
      // Claims that waited in a worker's local queue (claimed ahead) past
      // their lease, dropped instead of started: reported, not failed.
      const dropped = everyWorker
        .flatMap((w) => w.logs('warn'))
        .filter((m) =>
          m.endsWith(
            'its lease may have lapsed while it waited here to start; not starting it',
          ),
        ).length;

      const terminal =
        (report.byState.succeeded ?? 0) +
        (report.byState.failed ?? 0) +
        (report.byState.cancelled ?? 0);
      const lost =
        report.missing.length +
        (runIds.length - report.missing.length - terminal);
      const doubleCompletions =
        report.doubleSuccess.length +
        report.unaccountedTransitions.length +
        report.callDoubleSuccess.length +
        report.callSuccessUnaccounted.length;
      const staleWrites =
        stale.foreignWrites.length +
        stale.fencedButWritten.length +
        stale.foreignOutputs.length +
        report.attemptAfterSuccess.length +
        report.callAttemptAfterSuccess.length +
        ledger.unstarted.length +
        ledger.foreignResults.length;
      console.log(
        [
          `Chaos (seed ${SEED}): ${RUNS} runs × ${STEPS} steps and ${ACTIVITY_RUNS} runs × 2 steps waiting on 3–4 activity calls ` +
            `(an emit on every second one), ${WORKERS} workers × ${CONCURRENCY} (every second one with prefetch ${PREFETCH}, the others 'auto'), ` +
            `lease ${HEARTBEAT_MS} ms, poll ${POLL_MS} ms, steps ${STEP_MS} ms`,
          `  faults: ${kills.length}/${KILLS} SIGKILLs (each worker restarted), ${pauses}/${PAUSES} SIGSTOP pauses past the lease; ` +
            `done in ${elapsedMs} ms`,
          `  kills: ${kills.map((k) => `${k.instance} (${k.held} held) at +${k.at - began} ms`).join(', ')}`,
          `  runs lost: ${lost}; succeeded ${report.byState.succeeded ?? 0}, failed ${report.byState.failed ?? 0}`,
          `  double completions: ${doubleCompletions} (succeeded attempts per (run, step) > 1, or a step passed without one)`,
          `  stale writes: ${staleWrites}; fenced outcomes discarded: ${fenced.length}, attempts abandoned on a lost lease: ${abandoned}, ` +
            `claims dropped unstarted after waiting past their lease: ${dropped}`,
          `  attempts: ${attemptStates.map((a) => `${a.n} ${a.outcome}`).join(', ')}; ` +
            `side effects run more than once (at-least-once steps): ${effects.reexecuted}` +
            (failures.length > 0
              ? `; failed attempts: ${failures.map((f) => `${f.n} × ${f.why}`).join(' | ')}`
              : ''),
          `  activity calls: ${callStates.map((c) => `${c.n} ${c.outcome}`).join(', ')}; ` +
            `attempts: ${callAttemptStates.map((a) => `${a.n} ${a.state}`).join(', ')}; ` +
            `bodies run ${ledger.bodies} (${ledger.reexecuted} call(s) more than once, ${ledger.lostBeforeStart.length} claim(s) lost before their body began, ` +
            `${ledger.staleAfterSuccess.length} lapsed claim(s) of a paused worker run after their call had succeeded)`,
          `  step replays: ${replays.executions} executions of ${replays.steps} activity steps (2 each without faults; ${replays.reexecuted} ran again after a lost attempt)`,
          `  last kill: ${lastKill.instance} holding ${victimRuns.length} run(s) and ${victimCalls.length} call(s); leases taken back after ${reclaimedMs} ms, ` +
            `claimed again after ${recoveredMs} ms (bound: lease + poll + reconnect cap + 1 s = ${RECOVERY_BOUND_MS} ms)`,
        ].join('\n'),
      );

      expect(violations(report)).toEqual([]);
      expect(lost).toBe(0);
      expect(doubleCompletions).toBe(0);
      expect(stale).toEqual({
        foreignWrites: [],
        fencedButWritten: [],
        foreignOutputs: [],
      });
      expect(staleWrites).toBe(0);
      expect(effects.successWithoutEffect).toEqual([]);
      expect(ledger).toMatchObject({
        offBooks: [],
        unstarted: [],
        successWithoutDone: [],
        ranAfterSuccess: [],
        foreignResults: [],
      });
      const on = (instances: Iterable<string>) => (line: string) =>
        [...instances].some((instance) => line.endsWith(` on ${instance}`));
      // A claim lost before its body began: only on a killed or paused
      // worker; a lapsed claim run once its call had succeeded elsewhere:
      // only on a paused one, catching up after SIGCONT.
      expect(ledger.lostBeforeStart.filter((l) => !on(faulted)(l))).toEqual([]);
      expect(ledger.staleAfterSuccess.filter((l) => !on(paused)(l))).toEqual(
        [],
      );
      expect(replays).toMatchObject({
        steps: 2 * ACTIVITY_RUNS,
        unaccounted: [],
        successWithoutDone: [],
      });
      expect(report.byState).toEqual({ succeeded: ALL_RUNS });
      expect(crashes).toEqual([]);
      expect(kills.length).toBeGreaterThanOrEqual(
        RUNS >= 1_000 ? Math.min(KILLS, 2) : 1,
      );
      expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS);
    },
    TIMEOUT_MS + BOOT_MS,
  );
});
