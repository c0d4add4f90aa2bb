import {
  Activity,
  CallOutsideStepError,
  currentActivity,
  Step,
  StepAbortedError,
  StepContext,
  StepTimeoutError,
  Transition,
  UnderwayError,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let gate = deferred();

/** How a promise settled, once it has. */
interface Watched {
  outcome?: { value: unknown } | { error: unknown };
}

function watch(promise: Promise<unknown>): Watched {
  const watched: Watched = {};
  promise.then(
    (value) => (watched.outcome = { value }),
    (error: unknown) => (watched.outcome = { error }),
  );
  return watched;
}

/** The late calls the steps below make, by name. */
const late = new Map<string, Watched>();

/** Waits for the late call `name` to settle (it used to hang) and returns its rejection. */
async function rejectionOf(name: string): Promise<unknown> {
  const outcome = await waitFor(() => late.get(name)?.outcome, {
    timeoutMs: 10_000,
    message: `${name} settles`,
  });
  expect(outcome).toHaveProperty('error');
  return (outcome as { error: unknown }).error;
}

@Workflow({ name: 'late-calls', retry: { maxAttempts: 1 } })
class LateCallsWorkflow {
  /** A step's ctx, kept past its step (the mistake these tests make). */
  private kept: StepContext<LateCallsWorkflow> | undefined;

  @Activity()
  async track(event: string): Promise<void> {
    recorder.record('track', event, currentActivity());
  }

  @Activity({ retry: { maxAttempts: 3, initialInterval: 10 } })
  async uncaught(): Promise<void> {
    recorder.record('uncaught', null, currentActivity());
    await this.kept!.call('track', 'from-activity');
  }

  @Activity()
  async misuse(kind: 'call' | 'emit'): Promise<string> {
    recorder.record('misuse', kind, currentActivity());
    const made =
      kind === 'call'
        ? this.kept!.call('track', 'from-activity')
        : this.kept!.emit('track', 'from-activity');
    late.set(`activity-${kind}`, watch(made));
    try {
      await made;
      return 'accepted';
    } catch (err) {
      return err instanceof UnderwayError ? err.code : 'other';
    }
  }

  @Step()
  async only(
    input: {
      mode:
        | 'timer-emit'
        | 'timer-call'
        | 'activity-call'
        | 'activity-emit'
        | 'activity-uncaught';
    },
    ctx: StepContext<LateCallsWorkflow>,
  ) {
    recorder.record('only', input, ctx);
    switch (input.mode) {
      case 'timer-emit':
        // Fires after the step returned: nothing awaits it.
        setTimeout(
          () => late.set('timer-emit', watch(ctx.emit('track', 'late'))),
          20,
        );
        return Transition.complete('returned');
      case 'timer-call':
        setTimeout(
          () => late.set('timer-call', watch(ctx.call('track', 'late'))),
          20,
        );
        return Transition.complete('returned');
      case 'activity-uncaught':
        this.kept = ctx;
        await ctx.call('uncaught');
        return Transition.complete('unreachable');
      default:
        this.kept = ctx;
        return Transition.complete(
          await ctx.call(
            'misuse',
            input.mode === 'activity-call' ? 'call' : 'emit',
          ),
        );
    }
  }
}

@Workflow({ name: 'late-after-timeout', retry: { maxAttempts: 1 } })
class TimedOutWorkflow {
  @Activity()
  async track(event: string): Promise<void> {
    recorder.record('track', event, currentActivity());
  }

  @Step({ timeout: 200 })
  async only(_input: unknown, ctx: StepContext<TimedOutWorkflow>) {
    recorder.record('only', null, ctx);
    await gate.promise; // ignores ctx.signal, runs past its timeout
    late.set('after-timeout', watch(ctx.call('track', 'late')));
    return Transition.complete('late');
  }
}

@Workflow({ name: 'late-after-cancel' })
class CancelledWorkflow {
  @Activity()
  async track(event: string): Promise<void> {
    recorder.record('track', event, currentActivity());
  }

  @Step()
  async only(_input: unknown, ctx: StepContext<CancelledWorkflow>) {
    recorder.record('only', null, ctx);
    await gate.promise; // ignores ctx.signal
    late.set('after-cancel', watch(ctx.emit('track', 'late')));
    return Transition.complete('late');
  }
}

async function failureOf(
  promise: Promise<unknown>,
): Promise<WorkflowRunFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowRunFailedError);
  return error as WorkflowRunFailedError;
}

/** The warnings about refused calls of `runId`. */
function refusals(app: TestApp, runId: string): string[] {
  return app.logs
    .messages('warn')
    .filter((m) => m.includes(runId) && /was refused/.test(m));
}

async function callRows(app: TestApp, runId: string): Promise<string[]> {
  const rows = await query<{ name: string }>(
    `select name from ${app.schema}.activity_call where run_id = $1 order by step_index, call_index`,
    [runId],
  );
  return rows.map((r) => r.name);
}

describe('ctx.call and ctx.emit outside their step', () => {
  beforeEach(() => {
    recorder.clear();
    gate = deferred();
    late.clear();
  });

  it.each(['timer-emit', 'timer-call'] as const)(
    'rejects a %s made after the step returned with CallOutsideStepError, records nothing, and warns with the run and step',
    async (mode) => {
      const app = await createTestApp({ workflows: [LateCallsWorkflow] });
      const run = await app.client.enqueue(LateCallsWorkflow, { mode });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe('returned');
      const error = await rejectionOf(mode);
      expect(error).toBeInstanceOf(CallOutsideStepError);
      const kind = mode === 'timer-emit' ? 'emit' : 'call';
      expect(error).toMatchObject({
        code: 'call_outside_step',
        runId: run.id,
        method: 'track',
        kind,
      });
      expect((error as Error).message).toContain(
        `ctx.${kind}('track') was made after step late-calls#only of run ${run.id} ended`,
      );
      expect((error as Error).message).toMatch(
        /Await every one before the step returns/,
      );
      const warnings = refusals(app, run.id);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`Run ${run.id} late-calls#only`);
      expect(warnings[0]).not.toContain('late"'); // no arguments in logs
      expect(await callRows(app, run.id)).toEqual([]);
      expect(recorder.count('track')).toBe(0);
    },
  );

  it.each(['call', 'emit'] as const)(
    'rejects a ctx.%s made from inside an activity with a step’s kept ctx, and the activity goes on',
    async (kind) => {
      const app = await createTestApp({ workflows: [LateCallsWorkflow] });
      const run = await app.client.enqueue(LateCallsWorkflow, {
        mode: `activity-${kind}`,
      });
      // The activity catches the rejection and returns its code.
      await expect(run.result({ timeout: 10_000 })).resolves.toBe(
        'call_outside_step',
      );
      const error = await rejectionOf(`activity-${kind}`);
      expect(error).toBeInstanceOf(CallOutsideStepError);
      expect((error as Error).message).toContain(
        `ctx.${kind}('track') of step late-calls#only (run ${run.id}) was made from inside activity "misuse"`,
      );
      expect((error as Error).message).toMatch(/from the step/);
      expect(refusals(app, run.id)).toHaveLength(1);
      expect(await callRows(app, run.id)).toEqual(['misuse']);
      expect(recorder.count('track')).toBe(0);
    },
  );

  it('fails the call for good, without retrying the activity, when the activity does not catch the rejection', async () => {
    const app = await createTestApp({ workflows: [LateCallsWorkflow] });
    const run = await app.client.enqueue(LateCallsWorkflow, {
      mode: 'activity-uncaught',
    });
    const failure = await failureOf(run.result({ timeout: 10_000 }));
    expect(failure.errorCode).toBe('activity_failed');
    expect(failure.errorMessage).toContain(
      'Activity "uncaught" failed: [call_outside_step]',
    );
    expect(recorder.count('uncaught')).toBe(1);
    expect(await callRows(app, run.id)).toEqual(['uncaught']);
  });

  it('rejects a ctx.call made after the attempt timed out with the StepTimeoutError of ctx.signal', async () => {
    const app = await createTestApp({ workflows: [TimedOutWorkflow] });
    const run = await app.client.enqueue(TimedOutWorkflow, null);
    const failure = await failureOf(run.result({ timeout: 10_000 }));
    expect(failure.errorCode).toBe('timeout');
    gate.resolve(); // the step's code goes on, past its timeout
    const error = await rejectionOf('after-timeout');
    expect(error).toBeInstanceOf(StepTimeoutError);
    expect(refusals(app, run.id)).toHaveLength(1);
    expect(await callRows(app, run.id)).toEqual([]);
    expect(recorder.count('track')).toBe(0);
  });

  it('rejects a ctx.emit made after the run was cancelled with the StepAbortedError of ctx.signal', async () => {
    const app = await createTestApp({ workflows: [CancelledWorkflow] });
    const run = await app.client.enqueue(CancelledWorkflow, null);
    await waitFor(() => recorder.count('only') === 1);
    await run.cancel();
    await waitFor(() =>
      app.logs.messages('log').some((m) => m.includes('aborting it')),
    );
    gate.resolve();
    const error = await rejectionOf('after-cancel');
    expect(error).toBeInstanceOf(StepAbortedError);
    expect((error as StepAbortedError).code).toBe('run_cancelled');
    expect(refusals(app, run.id)).toHaveLength(1);
    expect(await run.status()).toBe('cancelled');
    expect(await callRows(app, run.id)).toEqual([]);
    expect(recorder.count('track')).toBe(0);
  });
});
