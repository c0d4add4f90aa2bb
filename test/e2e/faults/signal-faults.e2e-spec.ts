import { setTimeout as sleep } from 'node:timers/promises';
import {
  FaultPing,
  SignalFaultInput,
  SignalFaultWorkflow,
} from '../../fault-worker/fault.workflows';
import {
  cleanupFaults,
  FaultEnv,
  prepareFaultEnv,
} from '../../support/fault-env';
import { createPgCluster } from '../../support/pg-cluster';
import { waitFor } from '../../support/wait-for';
import type { WorkerProcess } from '../../support/worker-process';

/**
 * RELIABILITY.md scenario 20: a signal, a timed wait and a `ctx.sleep`
 * deadline survive a PostgreSQL restart and a graceful shutdown exactly like
 * steps do: every run ends once, with what it waited for; no signal is lost
 * or taken twice; a wait that timed out across the outage ends `null`.
 */

const RECONNECT = { reconnectInitialMs: 50, reconnectMaxMs: 500 };
const PER_MODE = 8;

function inputs(ms: number): SignalFaultInput[] {
  return [
    ...Array.from({ length: PER_MODE }, () => ({ mode: 'wait' as const })),
    ...Array.from({ length: PER_MODE }, () => ({
      mode: 'timeout' as const,
      ms,
    })),
    ...Array.from({ length: PER_MODE }, () => ({ mode: 'sleep' as const, ms })),
  ];
}

async function parked(env: FaultEnv): Promise<number> {
  const [row] = await env.query<{ n: number }>(
    `select count(*)::int as n from ${env.schema}.workflow_run
     where state = 'waiting' and run_at = 'infinity' and open_calls = 1`,
  );
  return row?.n ?? 0;
}

async function unfinished(env: FaultEnv): Promise<number> {
  const [row] = await env.query<{ n: number }>(
    `select count(*)::int as n from ${env.schema}.workflow_run
     where state not in ('succeeded', 'failed', 'cancelled')`,
  );
  return row?.n ?? 0;
}

/** Every run succeeded with what it waited for; each signal stored and taken once. */
async function expectEveryRunEnded(
  env: FaultEnv,
  runIds: readonly string[],
  workers: readonly WorkerProcess[],
): Promise<void> {
  await waitFor(async () => (await unfinished(env)) === 0, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: `runs left unfinished\n${workers.map((w) => w.output()).join('\n')}`,
  });
  const outputs = await env.query<{
    id: string;
    state: string;
    output: unknown;
  }>(
    `select id, state, output from ${env.schema}.workflow_run where id = any($1::uuid[])`,
    [runIds],
  );
  const byId = new Map(outputs.map((row) => [row.id, row]));
  runIds.forEach((id, i) => {
    const expected =
      i < PER_MODE
        ? { got: i }
        : i < 2 * PER_MODE
          ? { got: null }
          : { slept: true };
    expect({ i, ...byId.get(id) }).toEqual({
      i,
      id,
      state: 'succeeded',
      output: expected,
    });
  });
  const [signals] = await env.query<{ stored: number; consumed: number }>(
    `select count(*)::int as stored, count(*) filter (where state = 'consumed')::int as consumed
     from ${env.schema}.signal`,
  );
  expect(signals).toEqual({ stored: PER_MODE, consumed: PER_MODE });
  // One attempt per run: suspensions and the outage cost none that succeeded twice.
  const [attempts] = await env.query<{ runs: number; succeeded: number }>(
    `select count(distinct run_id)::int as runs,
       count(*) filter (where state = 'succeeded')::int as succeeded
     from ${env.schema}.step_attempt where run_id = any($1::uuid[])`,
    [runIds],
  );
  expect(attempts).toEqual({ runs: runIds.length, succeeded: runIds.length });
}

describe('scenario 20: signals, waits and sleeps across faults', () => {
  afterEach(cleanupFaults);

  it('PostgreSQL restarted while runs wait: signals sent before and after, timeouts and sleeps that fell in the outage all come through once', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const env = await prepareFaultEnv({ url: cluster.url, leaseMs: 1_000 });
    const workers = ['sig-a', 'sig-b'].map((instance) =>
      env.startWorker({
        instance,
        workflows: ['fault-signal'],
        concurrency: 4,
        pollMs: 200,
        stepEvents: false,
        ...RECONNECT,
      }),
    );
    await Promise.all(workers.map((w) => w.ready()));
    const runs = await env.client.enqueueMany(
      SignalFaultWorkflow,
      inputs(1_500),
    );
    await waitFor(async () => (await parked(env)) === runs.length, {
      timeoutMs: 30_000,
    });
    // Half the signals before the outage (taken at once), half after.
    for (let i = 0; i < PER_MODE / 2; i++) {
      await env.client.signal(runs[i]!.id, FaultPing, { n: i });
    }
    await cluster.stop('fast');
    await sleep(1_500); // the outage outlasts the timeouts and the sleeps
    await cluster.start();
    for (let i = PER_MODE / 2; i < PER_MODE; i++) {
      await waitFor(
        () =>
          env.client.signal(
            runs[i]!.id,
            FaultPing,
            { n: i },
            {
              idempotencyKey: `after-${i}`,
            },
          ),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
    }
    await expectEveryRunEnded(
      env,
      runs.map((r) => r.id),
      workers,
    );
    for (const worker of workers) {
      expect(worker.alive).toBe(true);
    }
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
    await Promise.all(workers.map((w) => w.stop()));
  }, 120_000);

  it('graceful shutdown while runs wait: nothing is left running, and a new worker resumes every run with the signals sent meanwhile', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const first = env.startWorker({
      instance: 'sig-term',
      workflows: ['fault-signal'],
      concurrency: 4,
      pollMs: 200,
      stepEvents: false,
    });
    await first.ready();
    const runs = await env.client.enqueueMany(SignalFaultWorkflow, inputs(500));
    // The runs that wait for a signal are parked (the others may be done already).
    const waiters = runs.slice(0, PER_MODE).map((r) => r.id);
    await waitFor(
      async () => {
        const [row] = await env.query<{ n: number }>(
          `select count(*)::int as n from ${env.schema}.workflow_run
           where id = any($1::uuid[]) and state = 'waiting' and open_calls = 1`,
          [waiters],
        );
        return row?.n === PER_MODE;
      },
      { timeoutMs: 30_000 },
    );
    first.kill('SIGTERM');
    await first.exitWithin(20_000);
    const [running] = await env.query<{ n: number }>(
      `select count(*)::int as n from ${env.schema}.workflow_run where state = 'running'`,
    );
    expect(running?.n).toBe(0);
    // No worker runs: the signals are buffered, the timeouts and sleeps come due.
    for (let i = 0; i < PER_MODE; i++) {
      await env.client.signal(runs[i]!.id, FaultPing, { n: i });
    }
    const second = env.startWorker({
      instance: 'sig-next',
      workflows: ['fault-signal'],
      concurrency: 4,
      pollMs: 200,
      stepEvents: false,
    });
    await second.ready();
    await expectEveryRunEnded(
      env,
      runs.map((r) => r.id),
      [second],
    );
    await second.stop();
  }, 90_000);
});
