import { ChainWorkflow } from '../../fault-worker/fault.workflows';
import { effectsTable } from '../../fault-worker/protocol';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import {
  checkEffects,
  expectInvariants,
  unfinishedRuns,
} from '../../support/invariants';

// RELIABILITY.md fault scenario 7: four worker processes race on 2,000 runs,
// with no fault. Exactly once here means it: with no fault, not even a step's
// side effect may run twice.

const RUNS = 2_000;
const WORKERS = 4;

describe('workers racing', () => {
  afterEach(cleanupFaults);

  it('scenario 7 (four worker processes race on 2,000 runs): every run completes exactly once', async () => {
    // A long lease: no fault is injected, so none may be imagined either (a
    // busy machine must not make a worker look dead).
    const env = await prepareFaultEnv({ leaseMs: 15_000 });
    const workers = Array.from({ length: WORKERS }, (_, i) =>
      env.startWorker({
        instance: `race-${i + 1}`,
        concurrency: 10,
        // Half of them claim ahead into a local queue (runtime.prefetch).
        prefetch: i % 2 === 1 ? 20 : 0,
        pollMs: 200,
        stepEvents: false,
      }),
    );
    await Promise.all(workers.map((w) => w.ready()));

    const started = Date.now();
    const runs = await env.client.enqueueMany(
      ChainWorkflow,
      Array.from({ length: RUNS }, (_, tag) => ({ tag })),
    );
    const deadline = Date.now() + 90_000;
    while ((await unfinishedRuns(env.query, env.schema)) > 0) {
      if (Date.now() > deadline) {
        throw new Error(
          `runs left unfinished\n${workers.map((w) => w.output()).join('\n')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const elapsedMs = Date.now() - started;

    const report = await expectInvariants(env.query, {
      schema: env.schema,
      runIds: runs.map((r) => r.id),
      final: true,
      stepCounts: { 'fault-chain': 3 },
    });
    expect(report.byState).toEqual({ succeeded: RUNS });
    // One attempt per step, all succeeded; one side effect per step.
    const [attempts] = await env.query<{ total: number; other: number }>(
      `select count(*)::int as total, count(*) filter (where state <> 'succeeded' or attempt <> 1)::int as other
       from ${env.schema}.step_attempt`,
    );
    expect(attempts).toEqual({ total: RUNS * 3, other: 0 });
    const [effects] = await env.query<{ total: number; distinct: number }>(
      `select count(*)::int as total, count(distinct (run_id, step))::int as distinct
       from ${effectsTable(env.schema)}`,
    );
    expect(effects).toEqual({ total: RUNS * 3, distinct: RUNS * 3 });
    expect(await checkEffects(env.query, env.schema)).toEqual({
      reexecuted: 0,
      successWithoutEffect: [],
    });
    // They did race: every worker ran some of it.
    const perWorker = await env.query<{ worker: string; steps: number }>(
      `select worker, count(*)::int as steps from ${env.schema}.step_attempt
       group by worker order by worker`,
    );
    expect(perWorker.map((w) => w.worker)).toEqual(
      workers.map((w) => w.instance),
    );
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
    console.log(
      `Scenario 7: ${RUNS} runs × 3 steps by ${WORKERS} worker processes in ${elapsedMs} ms ` +
        `(${perWorker.map((w) => `${w.worker}: ${w.steps}`).join(', ')})`,
    );
  }, 120_000);
});
