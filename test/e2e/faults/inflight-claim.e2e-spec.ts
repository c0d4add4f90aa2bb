import { Client } from 'pg';
import {
  SingleWorkflow,
  TransactionalWorkflow,
  WITH_TRANSACTIONS,
} from '../../fault-worker/fault.workflows';
import {
  appRowsTable,
  createAppRowsTableSql,
  FaultInput,
  TxFaultInput,
} from '../../fault-worker/protocol';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import { checkAppRows, expectInvariants } from '../../support/invariants';
import { waitFor } from '../../support/wait-for';
import { processState, waitForStep } from '../../support/worker-process';

// A worker paused (SIGSTOP) while its claim statement is in flight reads
// the claim's answer only after SIGCONT. Its lease is counted from when the
// claim was sent (as after a renewal), not from when the answer was read,
// so a claim that waited past its lease is dropped before its body starts:
// another worker has taken the run meanwhile (and completed it).

const POLL_MS = 100;
const ROWS = 3;

describe('a claim in flight while its worker is paused', () => {
  afterEach(cleanupFaults);

  it('is not started once the worker resumes past its lease (another worker has run it since)', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    await env.query(createAppRowsTableSql(env.schema));
    const paused = env.startWorker({
      instance: 'inflight-p',
      concurrency: 1,
      prefetch: 0,
      pollMs: POLL_MS,
      workflows: WITH_TRANSACTIONS,
    });
    await paused.ready(60_000);
    // Its one slot is busy for 3 s: the run enqueued next waits, unclaimed.
    const blocker = await env.client.enqueue(SingleWorkflow, {
      sleepMs: 3_000,
    } satisfies FaultInput);
    await waitForStep([paused], { runId: blocker.id });
    const run = await env.client.enqueue(TransactionalWorkflow, {
      rows: ROWS,
    } satisfies TxFaultInput);
    expect((await env.runRow(run.id))?.state).toBe('pending');

    // Every claim statement waits on this lock (the claim reads
    // concurrency_slot): the one the worker sends once its slot frees up is
    // held in the database, its run already due.
    const lock = new Client({ connectionString: env.url });
    lock.on('error', () => undefined);
    await lock.connect();
    try {
      await lock.query('begin');
      await lock.query(
        `lock table ${env.schema}.concurrency_slot in access exclusive mode`,
      );
      await waitFor(
        async () =>
          (
            await env.query(
              `select 1 from pg_stat_activity
               where application_name like $1 and wait_event_type = 'Lock'
                 and query like '%call_candidate%'`,
              [`underway:${paused.instance}:%`],
            )
          ).length === 1,
        { timeoutMs: 15_000, message: 'no claim waits on the lock' },
      );
      // Paused with its claim in flight; then the claim goes through in the
      // database (the run is its own, its lease counted from the claim).
      paused.kill('SIGSTOP');
      await waitFor(() => processState(paused.pid) === 'T');
      await lock.query('commit');
    } finally {
      await lock.end();
    }
    await waitFor(async () => {
      const row = await env.runRow(run.id);
      return row?.state === 'running' && row.lease_owner === paused.instance;
    });

    // Another worker takes the run back once that lease lapses, and ends it.
    const other = env.startWorker({
      instance: 'inflight-o',
      pollMs: POLL_MS,
      workflows: WITH_TRANSACTIONS,
    });
    await expect(run.result({ timeout: 60_000 })).resolves.toMatchObject({
      by: other.instance,
    });

    paused.kill('SIGCONT');
    // The resumed worker reads its claim's answer only now, long past that
    // claim's lease: the claim may be another's (it is), so it must not be
    // started. Either way the worker logs a warning about it.
    await paused.waitForLog(
      new RegExp(`Run ${run.id} fault-tx step 0 \\(write\\) attempt 1: `),
      { level: 'warn', timeoutMs: 15_000 },
    );
    await waitFor(
      async () =>
        (
          await env.query(
            `select 1 from pg_stat_activity where application_name = $1
             and state = 'idle in transaction'`,
            [`fault:${paused.instance}:app`],
          )
        ).length === 0,
    );
    const rows = await env.query<{ instance: string; n: number }>(
      `select instance, count(*)::int as n from ${appRowsTable(env.schema)}
       where run_id = $1 group by instance`,
      [run.id],
    );
    // Fencing holds today: nothing of the stale attempt is committed…
    expect(rows).toEqual([{ instance: other.instance, n: 2 * ROWS }]);
    expect(
      await checkAppRows(env.query, env.schema, { rowsPerStep: ROWS }),
    ).toEqual({ rows: 2 * ROWS, withoutSuccess: [], successWithoutRows: [] });
    // The blocker's lease lapsed in the pause too: taken back and ended.
    await blocker.result({ timeout: 30_000 });
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [blocker.id, run.id],
      final: true,
    });
    // …but its body must not run at all, after the run succeeded elsewhere.
    expect(paused.steps().filter((e) => e.runId === run.id)).toEqual([]);
  }, 120_000);
});
