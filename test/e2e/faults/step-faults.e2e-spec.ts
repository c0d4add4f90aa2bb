import {
  EphemeralWorkflow,
  FragileWorkflow,
  GhostWorkflow,
  SingleWorkflow,
  TimeoutWorkflow,
} from '../../fault-worker/fault.workflows';
import type { FaultInput } from '../../fault-worker/protocol';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import { expectInvariants } from '../../support/invariants';
import { waitFor } from '../../support/wait-for';
import { waitForStep } from '../../support/worker-process';

// RELIABILITY.md fault scenarios 8 to 11, in a worker child process. Each
// also has an in-process test with more cases:
//   8  test/e2e/retries.e2e-spec.ts › "discards the late result of a step that
//      ignores its timeout signal" (and "aborts ctx.signal with StepTimeoutError…")
//   9  test/e2e/retries.e2e-spec.ts › "fails the run after maxAttempts, with every
//      attempt’s error recorded" and "handles a thrown %s like any error…"
//   10 test/e2e/dead-letter-retention.e2e-spec.ts › "does not claim runs of a
//      workflow it does not register, and warns naming it"
//   11 test/e2e/dead-letter-retention.e2e-spec.ts › "deletes finished runs past
//      their ttl, and never an unfinished one" and "keeps finished runs until
//      their ttl has passed"

describe('step faults', () => {
  afterEach(cleanupFaults);

  it('scenario 8 (a step hangs past its timeout, ignoring ctx.signal): the attempt fails with a timeout, its slot is freed, and its late result is discarded', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    const worker = env.startWorker({
      instance: 'hang',
      concurrency: 1,
      pollMs: 100,
    });
    await worker.ready();
    // fault-timeout: 300 ms timeout, 2 attempts. Attempt 1 hangs 1.5 s.
    const input: FaultInput = { once: { sleepMs: 1_500 }, ignoreSignal: true };
    const run = await env.client.enqueue(TimeoutWorkflow, input);

    await expect(run.result({ timeout: 10_000 })).resolves.toMatchObject({
      by: 'hang',
      attempt: 2,
    });
    const done = await env.runRow(run.id);
    expect(await env.attempts(run.id)).toEqual([
      expect.objectContaining({
        attempt: 1,
        state: 'timed_out',
        code: 'timeout',
      }),
      expect.objectContaining({ attempt: 2, state: 'succeeded' }),
    ]);
    // Attempt 2 ran in the only slot while attempt 1 still hung.
    const late = await waitForStep(
      [worker],
      { runId: run.id, attempt: 1, kind: 'step-finished' },
      5_000,
    );
    const second = await waitForStep([worker], { runId: run.id, attempt: 2 });
    expect(second.event.at).toBeLessThan(late.event.at);
    // The late result of attempt 1 (its body did finish) changed nothing.
    expect(
      (await env.effects()).map((e) => e.attempt).sort((a, b) => a - b),
    ).toEqual([1, 2]);
    expect(await env.runRow(run.id)).toEqual(done);
    expect(worker.crashes()).toEqual([]);
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [run.id],
      final: true,
    });
  }, 60_000);

  it('scenario 9 (poison input): a step that always throws ends failed after maxAttempts with every attempt’s error recorded, whatever it throws', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    const worker = env.startWorker({ instance: 'poison', pollMs: 100 });
    await worker.ready();
    const kinds = ['error', 'string', 'object', 'undefined'] as const;
    // fault-fragile: 3 attempts.
    const runs = await Promise.all(
      kinds.map((kind) =>
        env.client.enqueue(FragileWorkflow, {
          throw: kind,
        } satisfies FaultInput),
      ),
    );
    const fatal = await env.client.enqueue(FragileWorkflow, {
      throw: 'fatal',
    } satisfies FaultInput);
    await Promise.all(
      [...runs, fatal].map((run) =>
        expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
          state: 'failed',
        }),
      ),
    );

    const expected = {
      error: (n: number) => [
        'error',
        `poison error (attempt ${n})`,
        'RangeError',
      ],
      string: (n: number) => [
        'error',
        `poison string (attempt ${n})`,
        'string',
      ],
      object: (n: number) => [
        'error',
        `Non-Error value thrown: {"poison":"object","attempt":${n}}`,
        'object',
      ],
      undefined: () => ['error', 'A step threw undefined', 'undefined'],
    };
    for (const [i, kind] of kinds.entries()) {
      const attempts = await env.attempts(runs[i]?.id as string);
      expect(
        attempts.map((a) => [a.attempt, a.state, a.code, a.message, a.name]),
      ).toEqual([1, 2, 3].map((n) => [n, 'failed', ...expected[kind](n)]));
      expect((await env.runRow(runs[i]?.id as string))?.error).toMatchObject({
        message: expected[kind](3)[1],
      });
    }
    expect(
      (await env.attempts(fatal.id)).map((a) => [a.attempt, a.state, a.code]),
    ).toEqual([[1, 'failed', 'poison_fatal']]);
    // The worker survived every one of them.
    expect(worker.alive).toBe(true);
    expect(worker.crashes()).toEqual([]);
    await expectInvariants(env.query, {
      schema: env.schema,
      runIds: [...runs, fatal].map((r) => r.id),
      final: true,
    });
  }, 60_000);

  it('scenario 10 (a run of a workflow no running instance registers): it is not claimed, and a warning names the workflow', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    // The producer registers fault-ghost; no worker process does.
    const ghost = await env.client.enqueue(GhostWorkflow);
    const workers = [
      env.startWorker({ instance: 'ghost-a', pollMs: 100, maintenanceMs: 100 }),
      env.startWorker({
        instance: 'ghost-b',
        pollMs: 100,
        maintenanceMs: 100,
        workflows: ['fault-single'],
      }),
    ];
    await Promise.all(workers.map((w) => w.ready()));
    const warnings = await Promise.all(
      workers.map((w) =>
        w.waitForLog('workflow "fault-ghost"', { level: 'warn' }),
      ),
    );
    expect(warnings).toEqual([
      '1 run(s) of workflow "fault-ghost" are due, but this instance does not run it ' +
        '(it runs: fault-chain, fault-single, fault-fragile, fault-timeout, fault-ephemeral). ' +
        'Register the workflow in an instance whose runtime runs it.',
      '1 run(s) of workflow "fault-ghost" are due, but this instance does not run it ' +
        '(it runs: fault-single). Register the workflow in an instance whose runtime runs it.',
    ]);
    // Other work flows past it.
    const other = await env.client.enqueue(SingleWorkflow, {});
    await other.result({ timeout: 10_000 });
    expect(await env.runRow(ghost.id)).toMatchObject({
      state: 'pending',
      attempt: 0,
      fence: '0',
      lease_owner: null,
    });
    expect(await env.attempts(ghost.id)).toEqual([]);
    await expectInvariants(env.query, { schema: env.schema });
  }, 60_000);

  it('scenario 11 (retention): pruning deletes only finished runs older than their ttl', async () => {
    const env = await prepareFaultEnv({ leaseMs: 2_000 });
    const worker = env.startWorker({
      instance: 'prune',
      pollMs: 100,
      maintenanceMs: 100,
    });
    await worker.ready();
    // fault-ephemeral: kept 300 ms once finished; fault-single: 14 days.
    const succeeded = await env.client.enqueue(EphemeralWorkflow, {});
    const failed = await env.client.enqueue(EphemeralWorkflow, {
      throw: 'fatal',
    } satisfies FaultInput);
    const cancelled = await env.client.enqueue(
      EphemeralWorkflow,
      {},
      { delay: '1h' },
    );
    await env.client.cancel(cancelled.id);
    const keptLong = await env.client.enqueue(SingleWorkflow, {});
    const pending = await env.client.enqueue(
      EphemeralWorkflow,
      {},
      { delay: '1h' },
    );
    const running = await env.client.enqueue(EphemeralWorkflow, {
      sleepMs: 60_000,
    } satisfies FaultInput);
    // Unfinished runs with an expiry in the past, set by hand: never pruned.
    await env.query(
      `update ${env.schema}.workflow_run set expires_at = now() - interval '1 day' where id = any($1)`,
      [[pending.id, running.id]],
    );
    const finished = [succeeded.id, failed.id, cancelled.id];

    // Polls (every 20 ms, well under the 300 ms ttl) until the finished runs
    // are gone, noting each one's expiry and when it was first seen gone, on
    // the database clock: never before its expiry.
    const expiresAt = new Map<string, Date>();
    const goneAt = new Map<string, Date>();
    await waitFor(
      async () => {
        const rows = await env.query<{
          id: string;
          found: string | null;
          expires_at: Date | null;
          now: Date;
        }>(
          `select i.id, r.id as found, r.expires_at, clock_timestamp() as now
           from unnest($1::uuid[]) as i(id)
           left join ${env.schema}.workflow_run r on r.id = i.id`,
          [finished],
        );
        for (const row of rows) {
          if (row.found === null) {
            if (!goneAt.has(row.id)) {
              goneAt.set(row.id, row.now);
            }
          } else if (row.expires_at) {
            expiresAt.set(row.id, row.expires_at);
          }
        }
        return goneAt.size === finished.length;
      },
      {
        timeoutMs: 10_000,
        intervalMs: 20,
        message: 'finished runs were not pruned',
      },
    );
    for (const id of finished) {
      const expiry = expiresAt.get(id);
      expect(expiry).toBeInstanceOf(Date);
      expect((goneAt.get(id) as Date).getTime()).toBeGreaterThanOrEqual(
        (expiry as Date).getTime(),
      );
    }
    expect(
      await env.query(
        `select 1 from ${env.schema}.step_attempt where run_id = any($1)`,
        [finished],
      ),
    ).toEqual([]);
    await keptLong.result({ timeout: 10_000 });
    await waitForStep([worker], { runId: running.id });
    expect((await env.runRow(pending.id))?.state).toBe('pending');
    expect((await env.runRow(running.id))?.state).toBe('running');
    expect((await env.runRow(keptLong.id))?.state).toBe('succeeded');
  }, 60_000);
});
