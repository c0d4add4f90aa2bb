import { randomUUID } from 'node:crypto';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import {
  checkInvariants,
  checkStaleWrites,
  violations,
} from '../../support/invariants';

// The invariant checks of the fault suite must be able to fail: each broken
// invariant, written by hand into a migrated schema, is reported.

describe('invariant checks', () => {
  afterEach(cleanupFaults);

  it('report every kind of violation, naming the run', async () => {
    const env = await prepareFaultEnv();
    const s = env.schema;
    const run = (
      state: string,
      stepIndex: number,
      extra: Record<string, string> = {},
    ): Promise<string> => {
      const id = randomUUID();
      const columns = Object.keys(extra);
      return env
        .query(
          `insert into ${s}.workflow_run (id, workflow_name, state, step_index, max_attempts, lease_ms, ttl_ms
             ${columns.map((c) => `, ${c}`).join('')})
           values ($1, 'fault-chain', $2, $3, 3, 1000, 1000 ${columns.map((c) => `, ${extra[c]}`).join('')})`,
          [id, state, stepIndex],
        )
        .then(() => id);
    };
    const attempt = (
      runId: string,
      step: number,
      n: number,
      state: string,
      worker = 'w1',
    ): Promise<unknown> =>
      env.query(
        `insert into ${s}.step_attempt (run_id, step_index, attempt, state, worker) values ($1, $2, $3, $4, $5)`,
        [runId, step, n, state, worker],
      );
    const terminal = { completed_at: 'now()', expires_at: 'now()' };

    const good = await run('succeeded', 2, {
      ...terminal,
      output: `'{"by":"w1"}'`,
    });
    for (const step of [0, 1, 2]) {
      await attempt(good, step, 1, 'succeeded');
    }
    const twice = await run('succeeded', 0, terminal);
    await attempt(twice, 0, 1, 'succeeded');
    await attempt(twice, 0, 2, 'succeeded');
    const skipped = await run('pending', 1);
    const stuck = await run('running', 0, {
      lease_owner: `'w9'`,
      lease_expires_at: `now() - interval '1 minute'`,
    });
    const gap = await run('pending', 0);
    await attempt(gap, 0, 2, 'failed');
    const over = await run('failed', 0, { ...terminal, error: `'{}'` });
    for (const n of [1, 2, 3, 4]) {
      await attempt(over, 0, n, 'failed');
    }
    const unfinished = await run('pending', 0);
    const noExpiry = await run('failed', 0, { completed_at: 'now()' });

    const report = await checkInvariants(env.query, {
      schema: s,
      runIds: [good, twice, 'ffffffff-ffff-7fff-bfff-ffffffffffff'],
      final: true,
      stepCounts: { 'fault-chain': 3 },
    });
    expect(report.missing).toEqual(['ffffffff-ffff-7fff-bfff-ffffffffffff']);
    expect(report.notTerminal.map((l) => l.split(' ')[0]).sort()).toEqual(
      [skipped, stuck, gap, unfinished].sort(),
    );
    expect(report.runningWithoutLease).toEqual([
      `${stuck} fault-chain (owner w9)`,
    ]);
    expect(report.doubleSuccess).toEqual([
      `${twice} step 0: 2 succeeded attempts`,
    ]);
    expect(report.attemptAfterSuccess).toEqual([
      `${twice} step 0: #1 succeeded, #2 succeeded`,
    ]);
    expect(report.unaccountedTransitions).toEqual(
      expect.arrayContaining([
        expect.stringContaining(`${skipped} step 0: 0 succeeded`),
        expect.stringContaining(`${twice} step 0: 2 succeeded`),
      ]),
    );
    expect(report.attemptGaps).toEqual([`${gap} step 0: attempts 2`]);
    expect(report.attemptsOverMax).toEqual([
      `${over} step 0: attempt 4 > max 3`,
    ]);
    expect(report.badTerminalRows).toEqual([`${noExpiry} failed`]);
    expect(violations(report)).toHaveLength(9);

    // A write by a worker that did not hold the claim, and a fenced outcome
    // that left a row anyway.
    const stale = await checkStaleWrites(
      env.query,
      s,
      [
        { runId: good, step: 0, attempt: 1, instance: 'w2' },
        { runId: good, step: 1, attempt: 1, instance: 'w1' },
      ],
      [{ runId: good, step: 1, attempt: 1, instance: 'w1', message: 'm' }],
    );
    expect(stale.foreignWrites).toEqual([
      `${good}/0/1 succeeded written by w1, claimed by w2`,
    ]);
    expect(stale.fencedButWritten).toEqual([`${good}/1/1 by w1: m`]);
    await env.query(
      `update ${s}.workflow_run set output = '{"by":"w3"}' where id = $1`,
      [good],
    );
    expect(
      (await checkStaleWrites(env.query, s, [], [])).foreignOutputs,
    ).toEqual([`${good}: output by w3, attempt by w1`]);
  });
});
