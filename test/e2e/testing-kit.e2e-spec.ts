import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { escapeIdentifier } from 'pg';
import {
  Activity,
  ActivityError,
  currentActivity,
  defineSignal,
  InvalidOptionsError,
  Step,
  StepContext,
  StepError,
  Transition,
  UnderwayClosedError,
  UnderwayEvents,
  Workflow,
  WorkflowIO,
  WorkflowNotRegisteredError,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import {
  createUnderwayTestKit,
  EventTimeoutError,
  ManualRuntimeRequiredError,
  RunStuckError,
  TestKitNotStartedError,
  UnderwayTestKit,
} from '@underway/nestjs/testing';
import { createTestApp, TestApp, useSchema } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { currentTestSchema } from '../support/test-schema';
import { deferred } from '../support/wait-for';

// The testing kit (@underway/nestjs/testing, SPEC §8.5) on a real
// PostgreSQL: a manual runtime drained by the test, a clock the test moves.

const DAY_MS = 86_400_000;
const Approval = defineSignal<{ approved: boolean; by: string }>('approval');
const recorder = new StepRecorder();

@Workflow({ name: 'kit-onboarding' })
class OnboardingWorkflow extends WorkflowIO<
  { userId: number },
  { email: string }
> {
  @Activity({ name: 'lookup-email' })
  async lookupEmail(userId: number): Promise<string> {
    return `user${userId}@example.com`;
  }

  @Step()
  async resolve(
    { userId }: { userId: number },
    ctx: StepContext<OnboardingWorkflow>,
  ) {
    recorder.record('resolve', userId, ctx);
    const email = await ctx.call('lookupEmail', userId);
    return Transition.next({ email });
  }

  @Step()
  async welcome({ email }: { email: string }, ctx: StepContext) {
    recorder.record('welcome', email, ctx);
    return Transition.complete({ email });
  }
}

interface Expense {
  readonly id: number;
  readonly approved?: boolean;
  readonly escalated?: boolean;
}

/** Sleeps 3 days, waits 2 days for an approval, pays with a bank that fails twice. */
@Workflow({
  name: 'kit-expense',
  retry: {
    maxAttempts: 3,
    initialInterval: '1m',
    maxInterval: '1h',
    backoffCoefficient: 2,
    jitterFactor: 0,
  },
})
class ExpenseWorkflow extends WorkflowIO<Expense, Expense & { paid: true }> {
  @Step()
  async cool(input: Expense, ctx: StepContext) {
    await ctx.sleep('3d');
    return Transition.next(input);
  }

  @Step()
  async decide(input: Expense, ctx: StepContext) {
    const approval = await ctx.waitFor(Approval, { timeout: '2d' });
    return Transition.next({
      ...input,
      approved: approval?.approved ?? false,
      escalated: approval === null,
    });
  }

  @Step()
  async pay(input: Expense, ctx: StepContext) {
    recorder.record('pay', input, ctx);
    if (ctx.attempt < 3) {
      throw new Error('bank busy');
    }
    return Transition.complete({ ...input, paid: true as const });
  }
}

@Workflow({ name: 'kit-approval' })
class ApprovalWorkflow {
  @Step()
  async decide(_input: { id: number }, ctx: StepContext) {
    const approval = await ctx.waitFor(Approval);
    return Transition.complete({ by: approval?.by });
  }
}

@Workflow({ name: 'kit-refusal' })
class RefusalWorkflow {
  @Step()
  async check(input: { amount: number }) {
    if (input.amount > 100) {
      throw StepError.fatal('over_limit', `${input.amount} is over the limit`);
    }
    return Transition.complete(input);
  }
}

@Workflow({ name: 'kit-delayed' })
class DelayedWorkflow {
  @Step({ delay: '1h' })
  async later(_input: unknown, ctx: StepContext) {
    recorder.record('later', undefined, ctx);
    return Transition.complete({ ranAt: Date.now() });
  }
}

@Workflow({ name: 'kit-nap' })
class NapWorkflow {
  @Step()
  async nap(input: { days: number }, ctx: StepContext) {
    await ctx.sleep(input.days * DAY_MS);
    return Transition.complete({ slept: input.days });
  }
}

@Workflow({ name: 'kit-brief', ttl: '1d' })
class BriefWorkflow {
  @Step()
  async done() {
    return Transition.complete();
  }
}

@Workflow({
  name: 'kit-nightly',
  schedule: { cron: '0 2 * * *[UTC]', input: { report: 'nightly' } },
})
class NightlyWorkflow {
  @Step()
  async report(input: { report: string }, ctx: StepContext) {
    recorder.record('nightly', input, ctx);
    return Transition.complete(input);
  }
}

const gate = { release: deferred<void>() };

@Workflow({ name: 'kit-slow' })
class SlowWorkflow {
  @Step()
  async wait(_input: unknown, ctx: StepContext) {
    recorder.record('slow', undefined, ctx);
    await Promise.race([
      gate.release.promise,
      new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () =>
          reject(ctx.signal.reason as Error),
        ),
      ),
    ]);
    return Transition.complete();
  }
}

/** An app with `runtime: 'manual'`, in the test's schema or in `schema` (emptied first). */
async function manualApp(
  workflows: (new (...args: never[]) => object)[],
  schema?: string,
): Promise<TestApp> {
  if (schema) {
    // A schema kept by an earlier failed run of the test would skew it.
    await query(`drop schema if exists ${escapeIdentifier(schema)} cascade`);
  }
  return createTestApp({
    workflows,
    underway: {
      runtime: 'manual',
      ...(schema ? { schema: useSchema(schema) } : {}),
    },
  });
}

function kitOf(app: TestApp): UnderwayTestKit {
  return createUnderwayTestKit(app.app);
}

/**
 * The clock moved by `ms`, less the little real time that passed since
 * each due time was set (the kit moves to when the work is due, no further).
 */
function expectMovedBy(kit: UnderwayTestKit, ms: number): void {
  expect(kit.clock.offsetMs).toBeLessThanOrEqual(ms);
  expect(kit.clock.offsetMs).toBeGreaterThan(ms - 5_000);
}

describe('the testing kit (@underway/nestjs/testing)', () => {
  beforeEach(() => recorder.clear());

  it('drain() runs every due task through the claim, attempt and commit path, and resolves with how many it ran', async () => {
    const app = await manualApp([OnboardingWorkflow]);
    const kit = kitOf(app);
    const events = app.get(UnderwayEvents);
    const started: string[] = [];
    events.on('attempt:started', (task) =>
      started.push(task.kind === 'step' ? task.step : task.activity),
    );
    const runs = await app.client.enqueueMany(OnboardingWorkflow, [
      { userId: 1 },
      { userId: 2 },
      { userId: 3 },
    ]);
    // Nothing runs until the test drains: there is no worker.
    expect(await runs[0]!.status()).toBe('pending');
    // Each run: resolve (suspends on its call), lookup-email, resolve
    // replayed, welcome.
    expect(await kit.drain()).toBe(12);
    expect(started.sort()).toEqual(
      [
        ...Array<string>(3).fill('lookup-email'),
        ...Array<string>(6).fill('resolve'),
        ...Array<string>(3).fill('welcome'),
      ].sort(),
    );
    for (const [i, run] of runs.entries()) {
      expect(await run.result()).toEqual({
        email: `user${i + 1}@example.com`,
      });
      const details = await app.client.getRun(run.id);
      expect(details?.attempts.map((a) => [a.stepName, a.state])).toEqual([
        ['resolve', 'succeeded'],
        ['welcome', 'succeeded'],
      ]);
      expect(details?.activityCalls).toEqual([
        expect.objectContaining({ name: 'lookup-email', state: 'succeeded' }),
      ]);
    }
    // Nothing is left: a second drain runs nothing.
    expect(await kit.drain()).toBe(0);
  });

  it('runs nothing that is not due: a delayed step runs once the clock moved past its delay', async () => {
    const app = await manualApp([DelayedWorkflow]);
    const kit = kitOf(app);
    const run = await app.client.enqueue(DelayedWorkflow, {});
    expect(await kit.drain()).toBe(0);
    await kit.clock.advance('59m');
    expect(await kit.drain()).toBe(0);
    expect(await run.status()).toBe('pending');
    await kit.clock.advance('1m');
    expect(kit.clock.offsetMs).toBe(3_600_000);
    expect(
      Math.abs(kit.clock.now().getTime() - (Date.now() + 3_600_000)),
    ).toBeLessThan(1_000);
    expect(await kit.drain()).toBe(1);
    expect(await run.status()).toBe('succeeded');
  });

  it('tests a workflow that sleeps 3 days, waits for a signal and retries twice, in well under a second', async () => {
    const app = await manualApp([ExpenseWorkflow]);
    const kit = kitOf(app);
    const startedAt = performance.now();

    const run = await app.client.enqueue(ExpenseWorkflow, { id: 7 });
    await kit.drain();
    let details = await app.client.getRun(run.id);
    expect(details?.waits).toEqual([
      expect.objectContaining({ kind: 'sleep', state: 'waiting' }),
    ]);
    // Stored on the database's clock: three days from now, there.
    const sleepsUntil = details!.waits[0]!.deadline!.getTime();
    expect(Math.abs(sleepsUntil - (Date.now() + 3 * DAY_MS))).toBeLessThan(
      5_000,
    );

    await kit.clock.advance('3d');
    await kit.drain();
    details = await app.client.getRun(run.id);
    expect([details?.stepName, details?.state]).toEqual(['decide', 'waiting']);

    await kit.signal(run.id, Approval, { approved: true, by: 'ada' });
    const output = await kit.finish(run);
    const elapsedMs = performance.now() - startedAt;

    expect(output).toEqual({
      id: 7,
      approved: true,
      escalated: false,
      paid: true,
    });
    // Two failed payments, 1 and 2 minutes of backoff skipped, then paid.
    expect(recorder.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    details = await app.client.getRun(run.id);
    expect(
      details?.attempts
        .filter((a) => a.stepName === 'pay')
        .map((a) => [a.state, a.error?.message]),
    ).toEqual([
      ['failed', 'bank busy'],
      ['failed', 'bank busy'],
      ['succeeded', undefined],
    ]);
    expectMovedBy(kit, 3 * DAY_MS + 3 * 60_000);
    console.log(
      `sleep 3d + signal + 2 retries: ${elapsedMs.toFixed(0)} ms of wall time`,
    );
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it('runToCompletion() enqueues, drains and moves the clock until the run ends, through timeouts and backoffs', async () => {
    const app = await manualApp([ExpenseWorkflow]);
    const kit = kitOf(app);
    const startedAt = performance.now();
    // No approval comes: the 2-day wait times out, and the run escalates.
    const output = await kit.runToCompletion(ExpenseWorkflow, { id: 8 });
    const elapsedMs = performance.now() - startedAt;
    expect(output).toEqual({
      id: 8,
      approved: false,
      escalated: true,
      paid: true,
    });
    // 3 days of sleep, 2 of waiting, 1 + 2 minutes of backoff.
    expectMovedBy(kit, 5 * DAY_MS + 3 * 60_000);
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it('runToCompletion() throws the run’s failure, as run.result() does', async () => {
    const app = await manualApp([RefusalWorkflow]);
    const kit = kitOf(app);
    expect(await kit.runToCompletion(RefusalWorkflow, { amount: 10 })).toEqual({
      amount: 10,
    });
    const failure = await kit
      .runToCompletion(RefusalWorkflow, { amount: 500 })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowRunFailedError);
    expect(failure).toMatchObject({
      state: 'failed',
      errorCode: 'over_limit',
      errorMessage: '500 is over the limit',
    });
  });

  it('runToCompletion() says what a run waits for when no time can finish it, and finish() takes it on once signalled', async () => {
    const app = await manualApp([ApprovalWorkflow]);
    const kit = kitOf(app);
    const stuck = await kit
      .runToCompletion(ApprovalWorkflow, { id: 1 })
      .catch((err: unknown) => err);
    expect(stuck).toBeInstanceOf(RunStuckError);
    expect(stuck).toMatchObject({
      code: 'run_stuck',
      workflowName: 'kit-approval',
      state: 'waiting',
    });
    expect((stuck as Error).message).toContain(
      'it waits for the signal "approval" (no timeout) at step "decide"',
    );
    const runId = (stuck as RunStuckError).runId;
    await kit.signal(runId, Approval, { approved: true, by: 'grace' });
    expect(await kit.finish(runId)).toEqual({ by: 'grace' });
  });

  it('finish() moves the clock for a run held back by another run of its concurrency key', async () => {
    const app = await manualApp([NapWorkflow]);
    const kit = kitOf(app);
    const first = await app.client.enqueue(
      NapWorkflow,
      { days: 2 },
      { concurrencyKey: 'bed' },
    );
    const second = await app.client.enqueue(
      NapWorkflow,
      { days: 1 },
      { concurrencyKey: 'bed' },
    );
    expect(await kit.finish(second)).toEqual({ slept: 1 });
    expect(await first.status()).toBe('succeeded');
    expectMovedBy(kit, 3 * DAY_MS);
  });

  it('moves each schema’s clock on its own', async () => {
    const a = await manualApp([DelayedWorkflow]);
    const b = await manualApp([DelayedWorkflow], currentTestSchema('b'));
    const kitA = kitOf(a);
    const kitB = kitOf(b);
    const runA = await a.client.enqueue(DelayedWorkflow, {});
    const runB = await b.client.enqueue(DelayedWorkflow, {});
    const dueB = (await b.client.getRun(runB.id))!.runAt!;

    await kitA.clock.advance('1h');
    expect([await kitA.drain(), await kitB.drain()]).toEqual([1, 0]);
    expect(await runA.status()).toBe('succeeded');
    expect(await runB.status()).toBe('pending');
    expect((await b.client.getRun(runB.id))!.runAt).toEqual(dueB);
    expect([kitA.clock.offsetMs, kitB.clock.offsetMs]).toEqual([3_600_000, 0]);

    await kitB.clock.advance('1h');
    expect(await kitB.drain()).toBe(1);
  });

  it('mockActivity() replaces an activity’s body in this app only, until restored', async () => {
    const a = await manualApp([OnboardingWorkflow]);
    const b = await manualApp([OnboardingWorkflow], currentTestSchema('b'));
    const kit = kitOf(a);
    const seen: unknown[] = [];
    const restore = kit.mockActivity(
      OnboardingWorkflow,
      'lookupEmail',
      (userId: number) => {
        seen.push([userId, currentActivity().activityName]);
        return `mock${userId}@test`;
      },
    );
    expect(
      await kit.runToCompletion(OnboardingWorkflow, { userId: 4 }),
    ).toEqual({ email: 'mock4@test' });
    expect(seen).toEqual([[4, 'lookup-email']]);
    // The other app's instance runs the real body.
    expect(
      await kitOf(b).runToCompletion(OnboardingWorkflow, { userId: 4 }),
    ).toEqual({ email: 'user4@example.com' });

    // By durable name, a failure: the run fails as the real one would.
    kit.mockActivity('kit-onboarding', 'lookup-email', () => {
      throw ActivityError.fatal('no_user', 'gone');
    });
    await expect(
      kit.runToCompletion(OnboardingWorkflow, { userId: 5 }),
    ).rejects.toMatchObject({
      state: 'failed',
      errorCode: 'activity_failed',
    });

    restore();
    expect(
      await kit.runToCompletion(OnboardingWorkflow, { userId: 6 }),
    ).toEqual({ email: 'user6@example.com' });
    expect(() =>
      kit.mockActivity('kit-onboarding', 'resolve', () => 'x'),
    ).toThrow(InvalidOptionsError);
    expect(() => kit.mockActivity('nope', 'x', () => 'x')).toThrow(
      WorkflowNotRegisteredError,
    );
  });

  it('events.next() resolves with the next event whose fields match, and times out with EventTimeoutError', async () => {
    const app = await manualApp([OnboardingWorkflow]);
    const kit = kitOf(app);
    const other = await app.client.enqueue(OnboardingWorkflow, { userId: 1 });
    const run = await app.client.enqueue(OnboardingWorkflow, { userId: 2 });
    const finished = kit.events.next('run:finished', { runId: run.id });
    const settled = kit.events.next('attempt:settled', {
      runId: run.id,
      step: 'welcome',
    });
    const never = kit.events.next(
      'run:finished',
      { runId: run.id, state: 'failed' },
      { timeout: '100ms' },
    );
    await kit.drain();
    expect(await finished).toEqual({
      runId: run.id,
      workflowName: 'kit-onboarding',
      state: 'succeeded',
    });
    expect(await settled).toMatchObject({ kind: 'step', outcome: 'completed' });
    await expect(never).rejects.toBeInstanceOf(EventTimeoutError);
    expect(await other.status()).toBe('succeeded');
  });

  it('fires a schedule’s ticks on the moved clock, once per tick, keeping its time of day', async () => {
    const app = await manualApp([NightlyWorkflow]);
    const kit = kitOf(app);
    const fired: Date[] = [];
    app
      .get(UnderwayEvents)
      .on('schedule:fired', ({ fireAt }) =>
        fired.push(new Date(fireAt.getTime() + kit.clock.offsetMs)),
      );
    const [schedule] = await app.client.listSchedules(NightlyWorkflow);
    const untilTick = schedule!.nextFireAt.getTime() - Date.now();
    await kit.clock.advance(Math.max(0, untilTick - 60_000));
    expect(await kit.drain()).toBe(0);
    await kit.clock.advance('2m');
    expect(await kit.drain()).toBe(1);
    // Half a day twice: one tick, at 02:00 UTC again.
    await kit.clock.advance('12h');
    expect(await kit.drain()).toBe(0);
    await kit.clock.advance('12h');
    expect(await kit.drain()).toBe(1);
    expect(fired).toHaveLength(2);
    for (const tick of fired) {
      expect([tick.getUTCHours(), tick.getUTCMinutes()]).toEqual([2, 0]);
    }
    expect(fired[1]!.getTime() - fired[0]!.getTime()).toBe(DAY_MS);
    const [next] = await app.client.listSchedules(NightlyWorkflow);
    const nextTick = new Date(next!.nextFireAt.getTime() + kit.clock.offsetMs);
    expect(nextTick.getTime() - fired[1]!.getTime()).toBe(DAY_MS);
    // Three days at once: the missed ticks fire once, then on time again.
    await kit.clock.advance('3d');
    expect(await kit.drain()).toBe(1);
    expect(recorder.count('nightly')).toBe(3);
  });

  it('applies retention after the clock moved past a finished run’s ttl', async () => {
    const app = await manualApp([BriefWorkflow]);
    const kit = kitOf(app);
    const run = await app.client.enqueue(BriefWorkflow);
    await kit.finish(run);
    expect(await app.client.getRun(run.id)).not.toBeNull();
    await kit.clock.advance('23h');
    await kit.drain();
    expect(await app.client.getRun(run.id)).not.toBeNull();
    await kit.clock.advance('1h');
    await kit.drain();
    expect(await app.client.getRun(run.id)).toBeNull();
  });

  it('a cancel from the test aborts the step that runs in a drain', async () => {
    const app = await manualApp([SlowWorkflow]);
    const kit = kitOf(app);
    gate.release = deferred<void>();
    const run = await app.client.enqueue(SlowWorkflow, {});
    const started = kit.events.next('attempt:started', { runId: run.id });
    const draining = kit.drain();
    await started;
    expect(await run.cancel()).toBe(true);
    expect(await draining).toBe(1);
    expect(await run.status()).toBe('cancelled');
  });

  it('is injectable with runtime: manual, and absent otherwise; createUnderwayTestKit throws at once on any other app', async () => {
    @Injectable()
    class UsesKit {
      constructor(readonly kit: UnderwayTestKit) {}
    }
    const manual = await createTestApp({
      workflows: [DelayedWorkflow],
      providers: [UsesKit],
      underway: { runtime: 'manual' },
    });
    expect(manual.get(UsesKit).kit).toBe(createUnderwayTestKit(manual.app));
    expect(manual.get(UsesKit).kit).toBeInstanceOf(UnderwayTestKit);

    const worker = await createTestApp({
      workflows: [DelayedWorkflow],
      underway: { schema: useSchema(currentTestSchema('worker')) },
    });
    expect(worker.app.get(UnderwayTestKit, { strict: false })).toBeUndefined();
    expect(() => createUnderwayTestKit(worker.app)).toThrow(
      ManualRuntimeRequiredError,
    );
    expect(() => createUnderwayTestKit(worker.app)).toThrow(
      "this app's runtime is not 'manual'",
    );

    const enqueueOnly = await createTestApp({
      workflows: [DelayedWorkflow],
      underway: {
        runtime: false,
        schema: useSchema(currentTestSchema('enqueue')),
      },
    });
    expect(() => createUnderwayTestKit(enqueueOnly.app)).toThrow(
      ManualRuntimeRequiredError,
    );

    @Module({})
    class NoUnderwayModule {}
    const plain = await Test.createTestingModule({
      imports: [NoUnderwayModule],
    }).compile();
    expect(() => createUnderwayTestKit(plain)).toThrow(
      'this app does not import UnderwayModule',
    );
    await plain.close();
  });

  it('refuses to drain before init and after close', async () => {
    const app = await createTestApp({
      workflows: [DelayedWorkflow],
      underway: { runtime: 'manual' },
      init: false,
    });
    const kit = kitOf(app);
    await expect(kit.drain()).rejects.toBeInstanceOf(TestKitNotStartedError);
    await expect(kit.clock.advance('1h')).rejects.toBeInstanceOf(
      TestKitNotStartedError,
    );
    await app.app.init();
    expect(await kit.drain()).toBe(0);
    const pending = kit.events.next('run:finished', {}, { timeout: '10s' });
    await app.close();
    await expect(pending).rejects.toBeInstanceOf(UnderwayClosedError);
    await expect(kit.drain()).rejects.toBeInstanceOf(UnderwayClosedError);
    const rows = await query<{ n: number }>(
      `select count(*)::int as n from ${app.schema}.workflow_run`,
    );
    expect(rows[0]!.n).toBe(0);
  });
});
