import {
  ChainWorkflow,
  SingleWorkflow,
} from '../../fault-worker/fault.workflows';
import type { FaultInput } from '../../fault-worker/protocol';
import {
  cleanupFaults,
  FaultEnv,
  prepareFaultEnv,
} from '../../support/fault-env';
import { expectInvariants, unfinishedRuns } from '../../support/invariants';
import { createPgCluster } from '../../support/pg-cluster';
import { currentTestSchema } from '../../support/test-schema';
import { sleep, waitFor } from '../../support/wait-for';
import { startWorker } from '../../support/worker-process';

// RELIABILITY.md fault scenarios 4, 5 and 6: the listener connection killed,
// PostgreSQL restarted mid-run, and the database down when the worker boots.
// Scenarios 5 and 6 stop and start a cluster of their own (pg-cluster.ts),
// never the shared server of DATABASE_URL.

const RECONNECT = { reconnectInitialMs: 50, reconnectMaxMs: 500 };

/** Enqueue-to-claim latency of a one-step run, on the database clock. */
async function claimLatencyMs(env: FaultEnv, runId: string): Promise<number> {
  const [row] = await env.query<{ ms: number }>(
    `select extract(epoch from (a.started_at - r.created_at)) * 1000 as ms
     from ${env.schema}.step_attempt a join ${env.schema}.workflow_run r on r.id = a.run_id
     where a.run_id = $1 and a.attempt = 1`,
    [runId],
  );
  return Number(row?.ms);
}

/**
 * The instance's listening backends: connected, and past their `LISTEN` (a
 * backend terminated between its connection and its `LISTEN` makes the next
 * reconnection count as a second failure in a row).
 */
async function listenBackends(env: FaultEnv, instance: string) {
  return env.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where application_name = $1 and (query ilike 'listen %' or query = 'select 1')`,
    [`underway:${instance}:listen`],
  );
}

describe('connection faults', () => {
  afterEach(cleanupFaults);

  it('scenario 4 (the LISTEN connection terminated): work continues, and notifications wake the worker again after it reconnects', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    // A 5 s poll: a claim within a few hundred ms can only come from a notification.
    const pollMs = 5_000;
    const worker = env.startWorker({
      instance: 'listen',
      pollMs,
      ...RECONNECT,
    });
    await worker.ready();
    const [before] = await waitFor(async () => {
      const rows = await listenBackends(env, 'listen');
      return rows.length === 1 ? rows : undefined;
    });
    const warm = await env.client.enqueue(SingleWorkflow, {});
    await warm.result({ timeout: 10_000 });

    const [terminated] = await env.query<{ ok: boolean }>(
      `select pg_terminate_backend($1) as ok`,
      [before?.pid],
    );
    expect(terminated?.ok).toBe(true);
    // Enqueued while the listener is down: found anyway.
    const during = await env.client.enqueue(SingleWorkflow, {});

    await worker.waitForLog(
      /^Notification connection lost \(.+\); reconnecting in \d+ms$/,
      {
        level: 'warn',
      },
    );
    const [after] = await waitFor(async () => {
      const rows = await listenBackends(env, 'listen');
      return rows.length === 1 && rows[0]?.pid !== before?.pid
        ? rows
        : undefined;
    });
    expect(after?.pid).not.toBe(before?.pid);
    await during.result({ timeout: pollMs + 5_000 });

    // Notifications work again: each run is claimed well under the poll interval.
    const latencies: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const run = await env.client.enqueue(SingleWorkflow, {});
      await run.result({ timeout: pollMs + 5_000 });
      latencies.push(await claimLatencyMs(env, run.id));
    }
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    expect(worker.alive).toBe(true);
    expect(worker.crashes()).toEqual([]);
    await expectInvariants(env.query, { schema: env.schema, final: true });
  }, 60_000);

  // Regression: the count of lost LISTEN connections used to grow over the
  // life of the process, so each later drop waited longer (up to
  // reconnectBackoff.max) although the database was reachable all along.
  it('scenario 4 (the LISTEN connection terminated again and again): each reconnection starts again from the initial backoff', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    const worker = env.startWorker({
      instance: 'relisten',
      pollMs: 5_000,
      reconnectInitialMs: 50,
      reconnectMaxMs: 2_000,
    });
    await worker.ready();
    const lost =
      /^Notification connection lost \(.+\); reconnecting in (\d+)ms$/;
    let previous: number | undefined;
    for (let drop = 1; drop <= 5; drop += 1) {
      const [backend] = await waitFor(async () => {
        const rows = await listenBackends(env, 'relisten');
        return rows.length === 1 && rows[0]?.pid !== previous
          ? rows
          : undefined;
      });
      previous = backend?.pid;
      await env.query('select pg_terminate_backend($1)', [previous]);
      await waitFor(
        () => worker.logs('warn').filter((m) => lost.test(m)).length === drop,
      );
    }
    const delays = worker
      .logs('warn')
      .map((m) => Number(lost.exec(m)?.[1]))
      .filter((ms) => !Number.isNaN(ms));
    // Each drop follows a connection that worked: [initial / 2, initial].
    expect(delays).toHaveLength(5);
    expect(Math.max(...delays)).toBeLessThanOrEqual(50);
  }, 60_000);

  it('scenario 5 (PostgreSQL restarted mid-run): the worker process survives, resumes, and nothing is lost', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const env = await prepareFaultEnv({ url: cluster.url, leaseMs: 1_000 });
    const worker = env.startWorker({
      instance: 'restart',
      concurrency: 4,
      pollMs: 200,
      ...RECONNECT,
    });
    await worker.ready();
    const runs = await env.client.enqueueMany(
      ChainWorkflow,
      Array.from({ length: 40 }, (_, tag): FaultInput => ({
        sleepMs: 50,
        tag,
      })),
    );
    await waitFor(async () => (await env.effects()).length >= 20, {
      timeoutMs: 20_000,
    });

    // Fast shutdown (every backend gets 57P01), a second down, then up again.
    await cluster.stop('fast');
    await sleep(1_000);
    await cluster.start();
    const upAt = Date.now();

    // Resumed: a step claimed after the restart has run to its end.
    const resumed = await worker.waitForEvent(
      (e) => (e.event === 'step-finished' && e.at >= upAt ? e : undefined),
      { timeoutMs: 10_000, what: 'a step claimed after the restart' },
    );
    const resumedAfterMs = resumed.at - upAt;
    await waitFor(
      async () => (await unfinishedRuns(env.query, env.schema)) === 0,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: `runs left unfinished after the restart\n${worker.output()}`,
      },
    );
    // New work after the restart runs too.
    const late = await env.client.enqueue(SingleWorkflow, {});
    await late.result({ timeout: 10_000 });

    expect(worker.alive).toBe(true);
    expect(worker.crashes()).toEqual([]);
    // It did notice the restart.
    expect(worker.logs('warn').join('\n')).toMatch(
      /Notification connection lost|Could not claim runs|Could not renew/,
    );
    const report = await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [...runs.map((r) => r.id), late.id],
      final: true,
      stepCounts: { 'fault-chain': 3 },
    });
    expect(report.byState).toEqual({ succeeded: 41 });
    // Lease (1 s) + poll (0.2 s) + reconnect cap (0.5 s) + 1 s (I5).
    expect(resumedAfterMs).toBeLessThan(2_700);
  }, 90_000);

  it('scenario 6 (the database down at boot): the worker logs a clear retry line and starts working once the database is up', async () => {
    const cluster = await createPgCluster(); // created, not started
    const schema = currentTestSchema();
    const leaseMs = 1_000;
    const worker = startWorker({
      url: cluster.url,
      schema,
      leaseMs,
      instance: 'late-db',
      pollMs: 100,
      ...RECONNECT,
    });
    // The app boots anyway, and keeps trying.
    await worker.ready();
    expect(worker.logs('warn')[0]).toMatch(
      /^Cannot reach the database at boot \(.*ECONNREFUSED.*\)\. Starting anyway: Underway retries in the background and starts its worker once the database is back\.$/,
    );
    await worker.waitForLog(
      /^Unable to reach the database \(attempt 3\): .*ECONNREFUSED.*\. Retrying in \d+ms$/,
      { level: 'warn' },
    );

    await cluster.start();
    const upAt = Date.now();
    await worker.waitForLog(
      'The database is reachable: schema ready, starting',
    );
    await worker.waitForLog(/^Worker started: /);
    const startedAfterMs = Date.now() - upAt;

    const env = await prepareFaultEnv({
      url: cluster.url,
      schema,
      leaseMs,
    });
    const runs = await env.client.enqueueMany(ChainWorkflow, [{}, {}, {}]);
    await Promise.all(runs.map((r) => r.result({ timeout: 10_000 })));
    // Reconnect cap (0.5 s) + 1 s.
    expect(startedAfterMs).toBeLessThan(1_500);
    expect(worker.crashes()).toEqual([]);
    await expectInvariants(env.query, {
      schema,
      runIds: runs.map((r) => r.id),
      final: true,
    });
  }, 60_000);

  it('SIGTERM while the database is down: the worker exits within shutdownTimeout, and its runs complete once the database is back', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const env = await prepareFaultEnv({ url: cluster.url, leaseMs: 1_000 });
    const shutdownTimeoutMs = 1_000;
    const worker = env.startWorker({
      instance: 'term-db-down',
      concurrency: 1,
      prefetch: 4, // runs claimed ahead, to give back at shutdown
      pollMs: 200,
      shutdownTimeoutMs,
      ...RECONNECT,
    });
    await worker.ready();
    const runs = await env.client.enqueueMany(
      SingleWorkflow,
      Array.from({ length: 5 }, (_, tag): FaultInput => ({
        sleepMs: 300,
        tag,
      })),
    );
    await worker.waitForEvent(
      (e) => (e.event === 'step-started' ? e : undefined),
      { timeoutMs: 10_000, what: 'a step started' },
    );
    await cluster.stop('fast');

    // Neither the step's outcome nor the claims it holds ahead can be
    // committed: the worker gives up on them, rather than wait for the database.
    const termAt = Date.now();
    worker.kill('SIGTERM');
    const exit = await worker.exitWithin(10_000);
    const exitedAfterMs = Date.now() - termAt;
    // Nest's shutdown hooks re-raise the signal once they are done.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(worker.crashes()).toEqual([]);
    expect(worker.logs('warn')).toContainEqual(
      expect.stringMatching(
        /^\d+ step outcome\(s\) still not committed at shutdown \(is the database reachable\?\); giving up on them/,
      ),
    );
    // Claims that could not be given back are named in one line, not one each.
    expect(
      worker.logs('warn').filter((l) => /^Could not give back/.test(l)).length,
    ).toBeLessThanOrEqual(1);
    // Bounded (it used to wait for the database forever): shutdownTimeout, then
    // at most 1 s for the outcomes, 2 s for a LISTEN reconnection in flight,
    // and 1 s of slack.
    expect(exitedAfterMs).toBeLessThan(shutdownTimeoutMs + 4_000);

    // Nothing is lost: their leases lapse, and another worker runs them.
    await cluster.start();
    const next = env.startWorker({
      instance: 'after-outage',
      pollMs: 200,
      ...RECONNECT,
    });
    await next.ready();
    await Promise.all(runs.map((r) => r.result({ timeout: 20_000 })));
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: runs.map((r) => r.id),
      final: true,
    });
  }, 60_000);
});
