import {
  TransactionalWorkflow,
  WITH_TRANSACTIONS,
} from '../../fault-worker/fault.workflows';
import {
  appRowsTable,
  createAppRowsTableSql,
  TxFaultInput,
  TxOnceFault,
  TxWroteEvent,
} from '../../fault-worker/protocol';
import {
  cleanupFaults,
  FaultEnv,
  prepareFaultEnv,
} from '../../support/fault-env';
import {
  checkAppRows,
  checkStaleWrites,
  expectInvariants,
  FencedOutcome,
  parseFencedOutcome,
} from '../../support/invariants';
import { waitFor } from '../../support/wait-for';
import {
  processState,
  waitForStep,
  WorkerProcess,
} from '../../support/worker-process';

// RELIABILITY.md fault scenarios 2 (SIGSTOP past the lease) and 1 (kill -9
// mid-step) for transactional steps (`@Step({ transactional: true })`, issue
// #12): the `fault-tx` workflow's two steps each insert ROWS app rows
// (`fault_app_row`, keyed by run id) through `ctx.manager`, and those rows
// commit with the step's outcome or not at all. Counted with SQL: exactly one
// committed set of rows per (run, step), its succeeded attempt's; none of a
// stale, killed or fenced-out attempt.

const POLL_MS = 100;
const ROWS = 3;
/** Booting worker processes on a busy machine (nothing is timed before they are up). */
const BOOT_MS = 60_000;

/** Who wrote the committed app rows of a run: [step, attempt, instance, rows]. */
async function appRows(
  env: FaultEnv,
  runId: string,
): Promise<[number, number, string, number][]> {
  const rows = await env.query<{
    step: number;
    attempt: number;
    instance: string;
    n: number;
  }>(
    `select step, attempt, instance, count(*)::int as n from ${appRowsTable(env.schema)}
     where run_id = $1 group by step, attempt, instance order by step, attempt`,
    [runId],
  );
  return rows.map((r) => [r.step, r.attempt, r.instance, r.n]);
}

/** The state of a backend in pg_stat_activity, or undefined once it is gone. */
async function backendState(
  env: FaultEnv,
  pid: number,
): Promise<{ state: string; query: string } | undefined> {
  const [row] = await env.query<{ state: string; query: string }>(
    `select state, query from pg_stat_activity where pid = $1`,
    [pid],
  );
  return row;
}

function txWrote(
  worker: WorkerProcess,
  runId: string,
  timeoutMs = 15_000,
): Promise<TxWroteEvent> {
  return worker.waitForEvent(
    (e) => (e.event === 'tx-wrote' && e.runId === runId ? e : undefined),
    { timeoutMs, what: `tx-wrote of run ${runId}` },
  );
}

async function startPair(
  env: FaultEnv,
  prefix: string,
): Promise<WorkerProcess[]> {
  await env.query(createAppRowsTableSql(env.schema));
  const workers = [
    env.startWorker({
      instance: `${prefix}-a`,
      pollMs: POLL_MS,
      workflows: WITH_TRANSACTIONS,
    }),
    env.startWorker({
      instance: `${prefix}-b`,
      pollMs: POLL_MS,
      workflows: WITH_TRANSACTIONS,
    }),
  ];
  await Promise.all(workers.map((w) => w.ready(BOOT_MS)));
  return workers;
}

describe('transactional step faults', () => {
  afterEach(cleanupFaults);

  it('scenario 2 (SIGSTOP past the lease, then SIGCONT): the successor’s rows commit once, the stale attempt’s late commit is fenced and its rows rolled back', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const workers = await startPair(env, 'tx-pause');
    // Attempt 1 of step 0 inserts its rows, then stops its own process
    // (SIGSTOP), its transaction open and its claim held; once resumed it
    // returns Transition.next() at once, and its commit is fenced.
    const input: TxFaultInput = { rows: ROWS, once: { then: 'stop' } };
    const run = await env.client.enqueue(TransactionalWorkflow, input);
    const { worker: paused } = await waitForStep(workers, {
      runId: run.id,
      step: 0,
      attempt: 1,
    });
    const other = workers.find((w) => w !== paused) as WorkerProcess;
    const wrote = await txWrote(paused, run.id);
    expect(wrote).toMatchObject({ step: 0, attempt: 1, rows: ROWS });
    await waitFor(() => processState(paused.pid) === 'T', {
      message: `${paused.instance} did not stop`,
    });
    // Its rows are written, in a transaction held open by a stopped process:
    // nobody else sees them.
    expect(await backendState(env, wrote.backendPid)).toMatchObject({
      state: 'idle in transaction',
    });
    expect(await appRows(env, run.id)).toEqual([]);

    // The other worker takes the run back once the lease lapses and ends it,
    // committing its own rows with each step.
    await expect(run.result({ timeout: 15_000 })).resolves.toMatchObject({
      by: other.instance,
    });
    const committed: [number, number, string, number][] = [
      [0, 2, other.instance, ROWS],
      [1, 1, other.instance, ROWS],
    ];
    expect(await appRows(env, run.id)).toEqual(committed);
    const snapshot = async (): Promise<unknown> => ({
      run: await env.runRow(run.id),
      attempts: await env.attempts(run.id),
      rows: await env.query(
        `select * from ${appRowsTable(env.schema)} order by id`,
      ),
      runs: await env.query(
        `select count(*)::int as n from ${env.schema}.workflow_run`,
      ),
    });
    const before = await snapshot();

    paused.kill('SIGCONT');
    const warning = await paused.waitForLog(
      `Run ${run.id} fault-tx step 0 (write) attempt 1: outcome discarded, this worker no longer holds the run`,
      { level: 'warn' },
    );
    await paused.waitForEvent((e) =>
      e.event === 'step-finished' && e.runId === run.id ? true : undefined,
    );
    // Rolled back: the connection is back in the app's pool, its
    // transaction gone (not left open, holding its rows' locks).
    await waitFor(
      async () =>
        (await backendState(env, wrote.backendPid))?.state !==
        'idle in transaction',
      { message: 'the stale attempt’s transaction was not rolled back' },
    );

    // Its non-transactional side effect (fault_effect) did happen (steps are
    // at-least-once)…
    expect(
      (await env.effects()).filter(
        (e) => e.step === 0 && e.instance === paused.instance,
      ),
    ).toHaveLength(1);
    // …but none of its rows survived, and its outcome changed nothing.
    expect(await snapshot()).toEqual(before);
    expect(await appRows(env, run.id)).toEqual(committed);
    expect(await env.attempts(run.id)).toEqual([
      expect.objectContaining({
        step_index: 0,
        attempt: 1,
        state: 'lease_expired',
        worker: paused.instance,
      }),
      expect.objectContaining({
        step_index: 0,
        attempt: 2,
        state: 'succeeded',
        worker: other.instance,
      }),
      expect.objectContaining({
        step_index: 1,
        attempt: 1,
        state: 'succeeded',
        worker: other.instance,
      }),
    ]);
    const claims = workers.flatMap((w) =>
      w.steps().map((e) => ({ ...e, instance: w.instance })),
    );
    const fenced = [parseFencedOutcome(paused.instance, warning)].filter(
      (f): f is FencedOutcome => f !== undefined,
    );
    expect(fenced).toHaveLength(1);
    expect(
      await checkStaleWrites(env.query, env.schema, claims, fenced),
    ).toEqual({ foreignWrites: [], fencedButWritten: [], foreignOutputs: [] });
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [run.id],
      final: true,
    });
    expect(
      await checkAppRows(env.query, env.schema, { rowsPerStep: ROWS }),
    ).toEqual({ rows: 2 * ROWS, withoutSuccess: [], successWithoutRows: [] });

    // The resumed worker is healthy: transactional runs go on, on both.
    const next = await env.client.enqueueMany(
      TransactionalWorkflow,
      Array.from({ length: 6 }, (_, tag): TxFaultInput => ({
        rows: ROWS,
        tag,
      })),
    );
    await Promise.all(next.map((r) => r.result({ timeout: 15_000 })));
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [run.id, ...next.map((r) => r.id)],
      final: true,
    });
    expect(
      await checkAppRows(env.query, env.schema, { rowsPerStep: ROWS }),
    ).toEqual({
      rows: 2 * ROWS * (1 + next.length),
      withoutSuccess: [],
      successWithoutRows: [],
    });
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
  }, 120_000);

  // Between two writes the transaction is idle: PostgreSQL sees the closed
  // connection at once and rolls back. During a write (a statement in
  // flight) the orphaned backend runs its statement on (PostgreSQL notices a
  // gone client only when it next talks to it, unless
  // client_connection_check_interval is set), but it can never commit:
  // COMMIT is the client's to send.
  it.each<[string, TxOnceFault['then']]>([
    ['between two writes', 'sleep'],
    ['during a write', 'slowWrite'],
  ])(
    'scenario 1 (kill -9 %s of a transactional step): no row of the killed attempt survives; the successor’s commit once',
    async (_label, then) => {
      const env = await prepareFaultEnv({ leaseMs: 1_000 });
      const workers = await startPair(env, `tx-kill-${then}`);
      // Attempt 1 of step 0 writes one row, then sleeps (or runs a write that
      // lasts) a minute before writing the rest: it is killed meanwhile.
      const input: TxFaultInput = {
        rows: ROWS,
        once: { then, afterRows: 1, sleepMs: 60_000 },
      };
      const run = await env.client.enqueue(TransactionalWorkflow, input);
      const { worker: victim } = await waitForStep(workers, {
        runId: run.id,
        step: 0,
        attempt: 1,
      });
      const survivor = workers.find((w) => w !== victim) as WorkerProcess;
      const wrote = await txWrote(victim, run.id);
      expect(wrote).toMatchObject({ step: 0, attempt: 1, rows: 1 });
      await waitFor(
        async () => {
          const backend = await backendState(env, wrote.backendPid);
          return then === 'sleep'
            ? backend?.state === 'idle in transaction'
            : backend?.state === 'active' && backend.query.includes('pg_sleep');
        },
        { message: `the ${then} of ${victim.instance} did not begin` },
      );

      victim.kill('SIGKILL');
      expect((await victim.exited).signal).toBe('SIGKILL');

      await expect(run.result({ timeout: 15_000 })).resolves.toMatchObject({
        by: survivor.instance,
      });
      const committed: [number, number, string, number][] = [
        [0, 2, survivor.instance, ROWS],
        [1, 1, survivor.instance, ROWS],
      ];
      expect(await appRows(env, run.id)).toEqual(committed);
      if (then === 'slowWrite') {
        // Still running its insert for a client that is gone; its rows,
        // uncommitted, are nobody's. Ended here rather than waited for.
        expect(await backendState(env, wrote.backendPid)).toMatchObject({
          state: 'active',
        });
        await env.query('select pg_terminate_backend($1)', [wrote.backendPid]);
      }
      await waitFor(
        async () => (await backendState(env, wrote.backendPid)) === undefined,
        { message: `the killed worker’s backend ${wrote.backendPid} stayed` },
      );
      expect(await appRows(env, run.id)).toEqual(committed);

      expect(await env.attempts(run.id)).toEqual([
        expect.objectContaining({
          step_index: 0,
          attempt: 1,
          state: 'lease_expired',
          worker: victim.instance,
        }),
        expect.objectContaining({
          step_index: 0,
          attempt: 2,
          state: 'succeeded',
          worker: survivor.instance,
        }),
        expect.objectContaining({
          step_index: 1,
          attempt: 1,
          state: 'succeeded',
          worker: survivor.instance,
        }),
      ]);
      // The killed attempt never reached its side effect either.
      expect(
        (await env.effects()).map((e) => [e.step, e.attempt, e.instance]),
      ).toEqual([
        [0, 2, survivor.instance],
        [1, 1, survivor.instance],
      ]);
      const claims = workers.flatMap((w) =>
        w.steps().map((e) => ({ ...e, instance: w.instance })),
      );
      expect(await checkStaleWrites(env.query, env.schema, claims, [])).toEqual(
        { foreignWrites: [], fencedButWritten: [], foreignOutputs: [] },
      );
      await expectInvariants(env.query, {
        schema: env.schema,
        runIds: [run.id],
        final: true,
      });
      expect(
        await checkAppRows(env.query, env.schema, { rowsPerStep: ROWS }),
      ).toEqual({ rows: 2 * ROWS, withoutSuccess: [], successWithoutRows: [] });
      expect(survivor.crashes()).toEqual([]);
    },
    120_000,
  );
});
