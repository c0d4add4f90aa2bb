import { SingleWorkflow } from '../../fault-worker/fault.workflows';
import type { FaultInput } from '../../fault-worker/protocol';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import { expectInvariants } from '../../support/invariants';
import { startTcpProxy, TcpProxy } from '../../support/tcp-proxy';
import { waitFor } from '../../support/wait-for';

// RELIABILITY.md fault scenario 15: the worker's connections go half-open (a
// TCP proxy stops forwarding without closing anything, as after a network
// partition), while new connections work. Without statement bounds, the
// claim, the renewals, the commits and the listener would wait on them for
// ever: TCP keepalive sees nothing wrong with a proxy that still ACKs.

const LEASE_MS = 1_500;
/** `connections.statementTimeout`: the client gives up after 750 ms. */
const STATEMENT_TIMEOUT_MS = 500;
const CLIENT_TIMEOUT_MS = 750;
const POLL_MS = 200;
const RECONNECT = { reconnectInitialMs: 50, reconnectMaxMs: 500 };
const STEP_MS = 1_200;

let proxy: TcpProxy | undefined;

afterEach(async () => {
  await cleanupFaults();
  await proxy?.close();
  proxy = undefined;
});

describe('half-open connections', () => {
  it('scenario 15: claims, renewals and commits time out, the connections are replaced, and work goes on within the liveness bound', async () => {
    const env = await prepareFaultEnv({ leaseMs: LEASE_MS });
    proxy = await startTcpProxy(env.url);
    const worker = env.startWorker({
      instance: 'halfopen',
      underwayUrl: proxy.url,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      concurrency: 4,
      pollMs: POLL_MS,
      ...RECONNECT,
    });
    await worker.ready();
    // Warm up every role through the proxy: claims and commits, a renewal (a
    // step longer than a third of its lease), and the listener.
    const warm = await env.client.enqueue(SingleWorkflow, { sleepMs: 700 });
    await warm.result({ timeout: 15_000 });
    await waitFor(async () => {
      const rows = await env.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where application_name = $1`,
        ['underway:halfopen:listen'],
      );
      return rows[0]?.n === 1;
    });

    // Four steps running when the connections go half-open: their renewals
    // and their commits will meet dead connections.
    const inFlight = await env.client.enqueueMany(
      SingleWorkflow,
      Array.from({ length: 4 }, (_, tag): FaultInput => ({
        sleepMs: STEP_MS,
        tag,
      })),
    );
    const inFlightIds = new Set(inFlight.map((run) => run.id));
    await waitFor(
      () =>
        worker.steps().filter((step) => inFlightIds.has(step.runId)).length ===
        4,
      { message: `the four steps did not start\n${worker.output()}` },
    );
    const frozen = proxy.freeze();
    const frozeAt = Date.now();
    // At least the claim pool's, the heartbeat's and the listener's.
    expect(frozen).toBeGreaterThanOrEqual(3);

    // New work, enqueued by the producer (which does not use the proxy).
    const later = await env.client.enqueueMany(
      SingleWorkflow,
      Array.from({ length: 10 }, (_, tag): FaultInput => ({ tag })),
    );
    const runs = [...inFlight, ...later];
    await Promise.all(runs.map((run) => run.result({ timeout: 30_000 })));
    const doneAfterMs = Date.now() - frozeAt;

    // The listener's ping got no answer: it reconnected.
    await worker.waitForLog(
      /Notification connection lost \(no answer to a ping/,
      {
        level: 'warn',
        timeoutMs: 10_000,
      },
    );
    // The worker dropped the dead connections it had used (closed its end).
    expect(proxy.closedByClient()).toBeGreaterThanOrEqual(2);
    expect(worker.alive).toBe(true);
    expect(worker.crashes()).toEqual([]);
    // No transaction left open on the server behind a dead connection: the
    // server's idle_in_transaction_session_timeout ended it.
    await waitFor(async () => {
      const rows = await env.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
         where application_name like 'underway:halfopen:%' and state like 'idle in transaction%'`,
      );
      return rows[0]?.n === 0;
    });
    const report = await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [warm.id, ...runs.map((run) => run.id)],
      final: true,
    });
    expect(report.byState).toEqual({ succeeded: 15 });
    // Detection (the client's bound) + the liveness bound of I5 (lease + poll
    // + reconnect cap + 1 s) + a step that may run again after a lost lease,
    // with room for a loaded 2-core machine.
    const bound =
      CLIENT_TIMEOUT_MS +
      LEASE_MS +
      POLL_MS +
      RECONNECT.reconnectMaxMs +
      1_000 +
      STEP_MS;
    expect(doneAfterMs).toBeLessThan(bound * 2);
  }, 90_000);
});
