import {
  Activity,
  ActivityError,
  ActivityFailedError,
  currentActivity,
  OutsideActivityError,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
const gates = { lookup: deferred() };

@Workflow({ name: 'signup' })
class SignupWorkflow {
  @Activity({ name: 'lookup-email' })
  async lookupEmail(userId: number): Promise<string> {
    recorder.record('lookupEmail', userId, {
      attempt: currentActivity().attempt,
      runId: currentActivity().runId,
    });
    await gates.lookup.promise;
    return `user${userId}@example.com`;
  }

  @Activity()
  async trackMetric(email: string): Promise<void> {
    recorder.record('trackMetric', email, {
      attempt: currentActivity().attempt,
      runId: currentActivity().runId,
    });
  }

  @Step()
  async resolve(
    { userId }: { userId: number },
    ctx: StepContext<SignupWorkflow>,
  ) {
    recorder.record('resolve', userId, ctx);
    const email = await ctx.call('lookupEmail', userId);
    await ctx.emit('trackMetric', email);
    return Transition.next({ email });
  }

  @Step()
  async welcome({ email }: { email: string }, ctx: StepContext) {
    recorder.record('welcome', email, ctx);
    return Transition.complete({ welcomed: email });
  }
}

describe('activities', () => {
  beforeEach(() => {
    recorder.clear();
    gates.lookup = deferred();
  });

  it('suspends the step on ctx.call, runs the activity once, then replays the step with its result', async () => {
    const { client, schema } = await createTestApp({
      workflows: [SignupWorkflow],
    });
    const run = await client.enqueue(SignupWorkflow, { userId: 7 });
    await waitFor(() => recorder.count('lookupEmail') === 1);
    // Suspended: the run waits, no attempt was counted, and no lease is held.
    const [waiting] = await query<{
      state: string;
      attempt: number;
      lease_owner: string | null;
    }>(
      `select state, attempt, lease_owner from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(waiting).toEqual({
      state: 'waiting',
      attempt: 0,
      lease_owner: null,
    });
    gates.lookup.resolve();

    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      welcomed: 'user7@example.com',
    });
    await waitFor(() => recorder.count('trackMetric') === 1);
    // The emitted metric runs beside the next step, in either order.
    expect(
      recorder.steps(run.id).filter((step) => step !== 'trackMetric'),
    ).toEqual(['resolve', 'lookupEmail', 'resolve', 'welcome']);
    expect(recorder.count('trackMetric')).toBe(1);
    // The replay is the same attempt.
    expect(
      recorder.calls.filter((c) => c.step === 'resolve').map((c) => c.attempt),
    ).toEqual([1, 1]);
    const details = await client.getRun(run.id);
    expect(
      details?.attempts.map((a) => [a.stepIndex, a.attempt, a.state]),
    ).toEqual([
      [0, 1, 'succeeded'],
      [1, 1, 'succeeded'],
    ]);
    expect(
      details?.activityCalls.map((c) => ({
        stepIndex: c.stepIndex,
        callIndex: c.callIndex,
        name: c.name,
        kind: c.kind,
        state: c.state,
        attempts: c.attempts.map((a) => a.state),
      })),
    ).toEqual([
      {
        stepIndex: 0,
        callIndex: 0,
        name: 'lookup-email',
        kind: 'call',
        state: 'succeeded',
        attempts: ['succeeded'],
      },
      {
        stepIndex: 0,
        callIndex: 1,
        name: 'trackMetric',
        kind: 'emit',
        state: 'succeeded',
        attempts: ['succeeded'],
      },
    ]);
  });

  it('wakes the suspended step when its call finishes, not on the poll', async () => {
    const { client } = await createTestApp({
      workflows: [SignupWorkflow],
      underway: { runtime: { pollInterval: '10s' } },
    });
    gates.lookup.resolve();
    const started = Date.now();
    const run = await client.enqueue(SignupWorkflow, { userId: 8 });
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      welcomed: 'user8@example.com',
    });
    // Claim, suspend, call, wake, replay, next step: each woken by NOTIFY.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('currentActivity() outside an activity throws a typed error', () => {
    expect(() => currentActivity()).toThrow(OutsideActivityError);
  });

  it('keeps ActivityError and ActivityFailedError importable', () => {
    expect(ActivityError.fatal('x', 'y').retryable).toBe(false);
    expect(new ActivityFailedError('a', 'b', 'c').message).toContain('"a"');
    expect(WorkflowRunFailedError).toBeDefined();
  });
});
