import {
  Activity,
  CallOutsideStepError,
  defineSignal,
  InvalidInputError,
  PayloadTooLargeError,
  InvalidOptionsError,
  NonDeterministicReplayError,
  RunFinishedError,
  RunNotFoundError,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

const Approval = defineSignal<{ approved: boolean; by: string }>('approval');
const Rejection = defineSignal<{ reason: string }>('rejection');
const Note = defineSignal<string>('note');
const Go = defineSignal('go');

const recorder = new StepRecorder();

@Workflow({ name: 'expense' })
class ExpenseWorkflow {
  @Step()
  async decide(input: { amount: number }, ctx: StepContext<ExpenseWorkflow>) {
    recorder.record('decide', input, ctx);
    const approval = await ctx.waitFor(Approval, { timeout: '1h' });
    if (!approval) {
      return Transition.complete({ escalated: true });
    }
    return Transition.complete({
      approved: approval.approved,
      by: approval.by,
    });
  }
}

@Workflow({ name: 'short-wait' })
class ShortWaitWorkflow {
  @Step()
  async decide(input: { timeoutMs: number }, ctx: StepContext) {
    recorder.record('short', input, ctx);
    const approval = await ctx.waitFor(Approval, { timeout: input.timeoutMs });
    return Transition.complete({ approval });
  }
}

@Workflow({ name: 'inbox' })
class InboxWorkflow {
  @Step()
  async collect(input: { count: number }, ctx: StepContext) {
    recorder.record('collect', input, ctx);
    const notes: string[] = [];
    for (let i = 0; i < input.count; i++) {
      notes.push((await ctx.waitFor(Note)) as string);
    }
    return Transition.complete({ notes });
  }
}

@Workflow({ name: 'either' })
class EitherWorkflow {
  @Step()
  async decide(_input: unknown, ctx: StepContext) {
    recorder.record('either', _input, ctx);
    const first = await ctx.waitForAny(
      { approved: Approval, rejected: Rejection },
      { timeout: '1h' },
    );
    return Transition.complete({ first });
  }
}

@Workflow({ name: 'napper' })
class NapperWorkflow {
  @Step()
  async nap(input: { ms: number }, ctx: StepContext) {
    recorder.record('nap', input, ctx);
    const before = Date.now();
    await ctx.sleep(input.ms);
    await ctx.waitFor(Go);
    return Transition.complete({ replayedAfterMs: Date.now() - before });
  }
}

describe('signals', () => {
  beforeEach(() => recorder.clear());

  it('a waiting step resumes with the signal sent to it, once', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ExpenseWorkflow],
      eventLog: true,
    });
    const run = await client.enqueue(ExpenseWorkflow, { amount: 5 });
    // Suspended on the wait: waiting, no attempt used, no lease held.
    await waitFor(async () => {
      const [row] = await query<{ state: string }>(
        `select state from ${schema}.workflow_run where id = $1 and open_calls = 1`,
        [run.id],
      );
      return row?.state === 'waiting';
    });
    const [suspended] = await query<{ attempt: number; lease_owner: null }>(
      `select attempt, lease_owner from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(suspended).toEqual({ attempt: 0, lease_owner: null });
    let details = await client.getRun(run.id);
    expect(details?.waits).toEqual([
      expect.objectContaining({
        stepIndex: 0,
        stepName: 'decide',
        callIndex: 0,
        kind: 'signal',
        names: ['approval'],
        state: 'waiting',
        signalId: undefined,
      }),
    ]);
    const deadline = details!.waits[0]!.deadline!.getTime();
    expect(deadline).toBeGreaterThan(Date.now() + 59 * 60_000);
    // Suspended, the run is next due at its wait's deadline.
    expect(details?.runAt?.getTime()).toBe(deadline);
    expect(details?.activityCalls).toEqual([]);

    const sent = await client.signal(run.id, Approval, {
      approved: true,
      by: 'ana',
    });
    expect(sent).toEqual({
      runId: run.id,
      signalId: expect.any(String),
      duplicate: false,
    });
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      approved: true,
      by: 'ana',
    });
    expect(recorder.steps(run.id)).toEqual(['decide', 'decide']);
    details = await client.getRun(run.id);
    expect(details?.waits[0]).toMatchObject({
      state: 'received',
      signalId: sent.signalId,
    });
    expect(details?.signals).toEqual([
      expect.objectContaining({
        signalId: sent.signalId,
        name: 'approval',
        state: 'consumed',
        consumedBy: { stepIndex: 0, stepName: 'decide', callIndex: 0 },
      }),
    ]);
  });

  it('buffers a signal sent before the step waits, and delivers signals of a name in send order, each once', async () => {
    // Sent while no worker runs: all four wait in the buffer.
    const sender = await createTestApp({
      workflows: [InboxWorkflow],
      underway: { runtime: false },
    });
    const second = await sender.client.enqueue(InboxWorkflow, { count: 3 });
    for (const note of ['a', 'b', 'c', 'd']) {
      await sender.client.signal(second.id, Note, note);
    }
    const { client } = await createTestApp({
      workflows: [InboxWorkflow],
      underway: { schema: sender.schema },
    });
    await expect(second.result({ timeout: 10_000 })).resolves.toEqual({
      notes: ['a', 'b', 'c'],
    });
    const details = await client.getRun(second.id);
    expect(details?.signals.map((s) => [s.name, s.state])).toEqual([
      ['note', 'consumed'],
      ['note', 'consumed'],
      ['note', 'consumed'],
      ['note', 'pending'],
    ]);
    expect(
      details?.signals.map((s) => s.consumedBy?.callIndex ?? null),
    ).toEqual([0, 1, 2, null]);
  });

  it('an idempotency key makes a resend a no-op, consumed or not, even after the run finished', async () => {
    const { client } = await createTestApp({ workflows: [ExpenseWorkflow] });
    const run = await client.enqueue(ExpenseWorkflow, { amount: 5 });
    const payload = { approved: false, by: 'bo' };
    const first = await client.signal(run.id, Approval, payload, {
      idempotencyKey: 'exp:1',
    });
    const again = await client.signal(run.id, Approval, payload, {
      idempotencyKey: 'exp:1',
    });
    expect(again).toEqual({
      runId: run.id,
      signalId: first.signalId,
      duplicate: true,
    });
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      approved: false,
      by: 'bo',
    });
    await expect(
      client.signal(run.id, Approval, payload, { idempotencyKey: 'exp:1' }),
    ).resolves.toMatchObject({ duplicate: true, signalId: first.signalId });
    const details = await client.getRun(run.id);
    expect(details?.signals).toHaveLength(1);
    // A new signal to the finished run is refused, and nothing is stored.
    await expect(client.signal(run.id, Approval, payload)).rejects.toThrow(
      RunFinishedError,
    );
    expect((await client.getRun(run.id))?.signals).toHaveLength(1);
  });

  it('a rolled-back transaction sends nothing; a committed one wakes the run', async () => {
    const { client, dataSource } = await createTestApp({
      workflows: [ExpenseWorkflow],
    });
    const run = await client.enqueue(ExpenseWorkflow, { amount: 5 });
    await waitFor(() => recorder.count('decide') === 1);
    await expect(
      dataSource.transaction(async (manager) => {
        await client.signal(
          run.id,
          Approval,
          { approved: true, by: 'x' },
          { manager },
        );
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await client.getRun(run.id))?.signals).toEqual([]);
    await dataSource.transaction((manager) =>
      client.signal(run.id, Approval, { approved: true, by: 'y' }, { manager }),
    );
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      approved: true,
      by: 'y',
    });
  });

  it('a wait times out with null at its deadline', async () => {
    const { client } = await createTestApp({
      workflows: [ShortWaitWorkflow],
    });
    const started = Date.now();
    const run = await client.enqueue(ShortWaitWorkflow, { timeoutMs: 300 });
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      approval: null,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const details = await client.getRun(run.id);
    expect(details?.waits[0]).toMatchObject({
      state: 'timed_out',
      signalId: undefined,
    });
  });

  it('waitForAny resolves with the key of the first signal, and ctx.sleep sleeps durably', async () => {
    const { client } = await createTestApp({
      workflows: [EitherWorkflow, NapperWorkflow],
    });
    const either = await client.enqueue(EitherWorkflow, {});
    await client.signal(either.id, Rejection, { reason: 'too much' });
    await client.signal(either.id, Approval, { approved: true, by: 'z' });
    await expect(either.result({ timeout: 5_000 })).resolves.toEqual({
      first: { name: 'rejected', payload: { reason: 'too much' } },
    });
    const details = await client.getRun(either.id);
    expect(details?.waits[0]?.names).toEqual(['approval', 'rejection']);
    expect(details?.signals.map((s) => [s.name, s.state])).toEqual([
      ['rejection', 'consumed'],
      ['approval', 'pending'],
    ]);

    const started = Date.now();
    const napper = await client.enqueue(NapperWorkflow, { ms: 400 });
    // Woke from the sleep, then waits for Go.
    const napping = await waitFor(async () => {
      const found = await client.getRun(napper.id);
      return found?.waits.length === 2 ? found : undefined;
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(recorder.count('nap')).toBe(2);
    expect(napping.waits.map((w) => [w.kind, w.state])).toEqual([
      ['sleep', 'timed_out'],
      ['signal', 'waiting'],
    ]);
    await client.signal(napper.id, Go);
    await expect(napper.result({ timeout: 5_000 })).resolves.toEqual({
      replayedAfterMs: expect.any(Number),
    });
    expect(recorder.count('nap')).toBe(3);
  });

  it('signals by idempotency key, and signalWithStart starts a run once and signals it either way', async () => {
    const { client } = await createTestApp({ workflows: [InboxWorkflow] });
    const first = await client.signalWithStart(
      InboxWorkflow,
      { count: 2 },
      Note,
      'one',
      { idempotencyKey: 'thread-1' },
    );
    expect(first.started).toBe(true);
    const second = await client.signalWithStart(
      InboxWorkflow,
      { count: 2 },
      Note,
      'two',
      { idempotencyKey: 'thread-1' },
    );
    expect(second.started).toBe(false);
    expect(second.run.id).toBe(first.run.id);
    await expect(first.run.result({ timeout: 5_000 })).resolves.toEqual({
      notes: ['one', 'two'],
    });
    await expect(
      client.signal(
        { workflow: InboxWorkflow, idempotencyKey: 'thread-1' },
        Note,
        'three',
      ),
    ).rejects.toThrow(RunFinishedError);
    await expect(
      client.signal(
        { workflow: 'inbox', idempotencyKey: 'nope' },
        Note,
        'three',
      ),
    ).rejects.toThrow(RunNotFoundError);
  });

  it('refuses bad signals with a clear error, storing nothing', async () => {
    const { client } = await createTestApp({ workflows: [InboxWorkflow] });
    const run = await client.enqueue(InboxWorkflow, { count: 1 });
    await expect(
      client.signal('00000000-0000-7000-8000-000000000000', Note, 'x'),
    ).rejects.toThrow(RunNotFoundError);
    await expect(client.signal('not-a-uuid', Note, 'x')).rejects.toThrow(
      RunNotFoundError,
    );
    await expect(
      client.signal(run.id, Note, null as unknown as string),
    ).rejects.toThrow(InvalidInputError);
    await expect(
      client.signal(run.id, Note, (() => 1) as unknown as string),
    ).rejects.toThrow(InvalidInputError);
    await expect(client.signal(run.id, { name: '' }, 'x')).rejects.toThrow(
      InvalidOptionsError,
    );
    await expect(
      client.signal(run.id, Note, 'x', { idempotencyKy: 'k' } as never),
    ).rejects.toThrow(/did you mean idempotencyKey/);
    expect(() => defineSignal('')).toThrow(InvalidOptionsError);
    expect((await client.getRun(run.id))?.signals).toEqual([]);
  });

  it('a replay that waits for another signal than recorded fails the run as non-deterministic', async () => {
    let name = 'first';
    @Workflow({ name: 'drifting' })
    class DriftingWorkflow {
      @Step()
      async wait(_input: unknown, ctx: StepContext) {
        recorder.record('drift', _input, ctx);
        await ctx.waitFor(defineSignal(name));
        return Transition.complete();
      }
    }
    const { client } = await createTestApp({ workflows: [DriftingWorkflow] });
    const run = await client.enqueue(DriftingWorkflow, {});
    await waitFor(() => recorder.count('drift') === 1);
    name = 'second';
    await client.signal(run.id, defineSignal('first'));
    await expect(run.result({ timeout: 5_000 })).rejects.toThrow(
      /non_deterministic_replay|ctx\.waitFor\('first'\)/,
    );
    expect(NonDeterministicReplayError).toBeDefined();
  });
});

const gate = { reached: deferred(), proceed: deferred() };

@Workflow({ name: 'gated-wait' })
class GatedWaitWorkflow {
  @Step()
  async decide(_input: unknown, ctx: StepContext) {
    if (recorder.count('gated') === 0) {
      recorder.record('gated', _input, ctx);
      gate.reached.resolve();
      await gate.proceed.promise;
    }
    const approval = await ctx.waitFor(Approval);
    return Transition.complete({ by: approval?.by });
  }
}

@Workflow({ name: 'bad-waits' })
class BadWaitsWorkflow {
  @Activity()
  async sneaky(): Promise<string> {
    await this.ctx?.waitFor(Approval);
    return 'no';
  }

  ctx: StepContext | undefined;

  @Step()
  async decide(
    input: { bad: 'timeout' | 'signal' | 'late' | 'activity' },
    ctx: StepContext<BadWaitsWorkflow>,
  ) {
    if (input.bad === 'timeout') {
      await ctx.waitFor(Approval, { timeout: '-1s' as never });
    }
    if (input.bad === 'signal') {
      await ctx.waitFor({} as never);
    }
    if (input.bad === 'late') {
      lateCtx = ctx; // kept past the step's end
      return Transition.complete('returned');
    }
    this.ctx = ctx;
    return Transition.complete(await ctx.call('sneaky'));
  }
}
let lateCtx: StepContext | undefined;

describe('signals: transactions, events, faults of the caller', () => {
  beforeEach(() => {
    recorder.clear();
    gate.reached = deferred();
    gate.proceed = deferred();
  });

  it('under REPEATABLE READ, a send whose snapshot predates the suspension fails with a serialization error (nothing stored); retried, it goes through', async () => {
    const { client, dataSource } = await createTestApp({
      workflows: [GatedWaitWorkflow],
    });
    const run = await client.enqueue(GatedWaitWorkflow, {});
    await gate.reached.promise;
    const failure = await dataSource
      .transaction('REPEATABLE READ', async (manager) => {
        await manager.query('select 1'); // the snapshot is taken here
        gate.proceed.resolve();
        // The step suspends: the run's row changes after our snapshot.
        await waitFor(async () => (await client.status(run.id)) === 'waiting');
        await client.signal(
          run.id,
          Approval,
          { approved: true, by: 'rr' },
          { manager },
        );
      })
      .catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: '40001' });
    expect((await client.getRun(run.id))?.signals).toEqual([]);
    // A new transaction (a new snapshot) sees the suspension.
    await dataSource.transaction('REPEATABLE READ', (manager) =>
      client.signal(
        run.id,
        Approval,
        { approved: true, by: 'rr' },
        { manager },
      ),
    );
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({ by: 'rr' });
  });

  it('announces signal:received after the send commits, never for a rollback or a duplicate', async () => {
    const { client, dataSource, events } = await createTestApp({
      workflows: [ExpenseWorkflow],
      eventLog: true,
    });
    const run = await client.enqueue(ExpenseWorkflow, { amount: 1 });
    await dataSource
      .transaction(async (manager) => {
        await client.signal(
          run.id,
          Approval,
          { approved: true, by: 'a' },
          { manager },
        );
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    expect(events.of('signal:received')).toEqual([]);
    const sent = await client.signal(
      run.id,
      Approval,
      { approved: true, by: 'b' },
      { idempotencyKey: 'once' },
    );
    await client.signal(
      run.id,
      Approval,
      { approved: true, by: 'b' },
      { idempotencyKey: 'once' },
    );
    expect(events.of('signal:received')).toEqual([
      {
        runId: run.id,
        name: 'approval',
        signalId: sent.signalId,
        delivered: expect.any(Boolean),
      },
    ]);
    await run.result({ timeout: 5_000 });
  });

  it('cancelling a waiting run cancels its waits; retention deletes its signals with it', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ExpenseWorkflow],
      underway: { defaults: { ttl: 1 }, runtime: { maintenanceInterval: 100 } },
    });
    const run = await client.enqueue(ExpenseWorkflow, { amount: 1 });
    await waitFor(
      async () => (await client.getRun(run.id))?.waits.length === 1,
    );
    await client.signal(run.id, Note, 'left over');
    expect(await client.cancel(run.id)).toBe(true);
    // Gone with the run, once its ttl (1 ms) passed: its row, its waits, its signals.
    await waitFor(
      async () =>
        (
          await query(
            `select 1 from ${schema}.workflow_run where id = $1
             union all select 1 from ${schema}.signal where run_id = $1
             union all select 1 from ${schema}.activity_call where run_id = $1`,
            [run.id],
          )
        ).length === 0,
      { message: 'the cancelled run was not pruned with its signals' },
    );
  });

  it('a bad wait fails the run with a clear error; a wait after the step ended or from an activity is refused', async () => {
    const { client } = await createTestApp({ workflows: [BadWaitsWorkflow] });
    const timeout = await client.enqueue(BadWaitsWorkflow, { bad: 'timeout' });
    await expect(timeout.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'invalid_options',
      errorMessage: expect.stringMatching(/timeout/),
    });
    const notSignal = await client.enqueue(BadWaitsWorkflow, { bad: 'signal' });
    await expect(notSignal.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'invalid_options',
      errorMessage: expect.stringMatching(/defineSignal/),
    });
    const late = await client.enqueue(BadWaitsWorkflow, { bad: 'late' });
    await expect(late.result({ timeout: 5_000 })).resolves.toBe('returned');
    await expect(lateCtx!.waitFor(Approval)).rejects.toThrow(
      CallOutsideStepError,
    );
    await expect(lateCtx!.sleep(10)).rejects.toThrow(
      /ctx\.sleep\(\) was made after step/,
    );
    const activity = await client.enqueue(BadWaitsWorkflow, {
      bad: 'activity',
    });
    await expect(activity.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'activity_failed',
    });
    const details = await client.getRun(activity.id);
    expect(details?.activityCalls[0]?.error?.message).toMatch(
      /ctx\.waitFor\('approval'\).*inside activity/,
    );
  });

  it('refuses an oversize payload with PayloadTooLargeError, storing nothing', async () => {
    const { client } = await createTestApp({
      workflows: [InboxWorkflow],
      underway: { maxInputSize: 1024 },
    });
    const run = await client.enqueue(InboxWorkflow, { count: 1 });
    await expect(
      client.signal(run.id, Note, 'x'.repeat(2_000)),
    ).rejects.toThrow(PayloadTooLargeError);
    expect((await client.getRun(run.id))?.signals).toEqual([]);
  });
});
