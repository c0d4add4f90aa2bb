import {
  Activity,
  ActivityError,
  ActivityFailedError,
  currentActivity,
  Step,
  StepAbortedError,
  StepContext,
  StepTimeoutError,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let gate = deferred();
let started = 0;
let allStarted = deferred();
const seen: { signal?: AbortSignal; attempts: number[] } = { attempts: [] };

function mark(name: string, input: unknown): void {
  const activity = currentActivity();
  recorder.record(name, input, activity);
}

function fail(error: unknown): never {
  throw error;
}

@Workflow({ name: 'parallel', retry: { initialInterval: 10 } })
class ParallelWorkflow {
  @Activity()
  async square(n: number): Promise<number> {
    mark('square', n);
    started += 1;
    if (started === 3) {
      allStarted.resolve();
    }
    await allStarted.promise; // finishes only once all three have started
    return n * n;
  }

  @Step()
  async fanOut(
    input: { mode: 'all' | 'map' | 'caught' },
    ctx: StepContext<ParallelWorkflow>,
  ) {
    recorder.record('fanOut', input, ctx);
    if (input.mode === 'all') {
      const [a, b, c] = await Promise.all([
        ctx.call('square', 1),
        ctx.call('square', 2),
        ctx.call('square', 3),
      ]);
      return Transition.complete(a + b + c);
    }
    if (input.mode === 'map') {
      const squares = await Promise.all(
        [1, 2, 3].map((n) => ctx.call('square', n)),
      );
      return Transition.complete(squares.reduce((x, y) => x + y, 0));
    }
    // A try/catch around a suspending call, and a step that then returns:
    // neither breaks the suspension.
    let total: number;
    try {
      total = (
        await Promise.all([1, 2, 3].map((n) => ctx.call('square', n)))
      ).reduce((x, y) => x + y);
    } catch {
      return Transition.complete('caught');
    }
    return Transition.complete(total);
  }
}

@Workflow({
  name: 'flaky-activities',
  retry: { initialInterval: 10, maxInterval: 20 },
  deadLetter: 'flaky-dlq',
})
class FlakyWorkflow {
  @Activity({ retry: { maxAttempts: 3 } })
  async flaky(mode: string): Promise<string> {
    const { attempt } = currentActivity();
    mark('flaky', attempt);
    if (mode === 'non-errors' && attempt === 1) {
      fail('a plain string');
    }
    if (mode === 'non-errors' && attempt === 2) {
      fail(undefined);
    }
    if (mode === 'fatal') {
      throw ActivityError.fatal('missing_user', 'No user found for id 7');
    }
    if (mode === 'always') {
      throw ActivityError.retryable('flaky', `attempt ${attempt} failed`);
    }
    return `ok after ${attempt}`;
  }

  @Step()
  async run(
    input: { mode: string; catch?: boolean },
    ctx: StepContext<FlakyWorkflow>,
  ) {
    recorder.record('run', input, ctx);
    if (!input.catch) {
      return Transition.complete(await ctx.call('flaky', input.mode));
    }
    try {
      return Transition.complete(await ctx.call('flaky', input.mode));
    } catch (err) {
      if (err instanceof ActivityFailedError) {
        return Transition.complete({
          compensated: true,
          activityName: err.activityName,
          errorCode: err.errorCode,
          errorMessage: err.errorMessage,
        });
      }
      throw err;
    }
  }
}

@Workflow({
  name: 'emitting',
  retry: { initialInterval: 10 },
  deadLetter: 'emitting-dlq',
})
class EmittingWorkflow {
  @Activity({ retry: { maxAttempts: 2, initialInterval: 10 } })
  async track(event: string): Promise<void> {
    mark('track', event);
    if (event === 'bad') {
      throw ActivityError.fatal(
        'metrics_down',
        'The metrics service refused it',
      );
    }
  }

  @Activity()
  async lookup(id: number): Promise<number> {
    mark('lookup', id);
    await gate.promise;
    return id + 1;
  }

  @Step()
  async only(
    input: { event: string; throwFirst?: boolean; call?: boolean },
    ctx: StepContext<EmittingWorkflow>,
  ) {
    recorder.record('only', input, ctx);
    await ctx.emit('track', input.event);
    if (input.throwFirst && ctx.attempt === 1) {
      throw new Error('the step failed after emitting');
    }
    const looked = input.call ? await ctx.call('lookup', 1) : 0;
    return Transition.complete(looked);
  }
}

let replayCounter = 0;

@Workflow({ name: 'misusing' })
class MisusingWorkflow {
  @Activity()
  async echo(value: unknown): Promise<unknown> {
    mark('echo', value);
    return value;
  }

  @Activity()
  async huge(): Promise<string> {
    mark('huge', null);
    return 'x'.repeat(2_000);
  }

  @Step()
  async only(input: { mode: string }, ctx: StepContext<MisusingWorkflow>) {
    recorder.record('only', input, ctx);
    switch (input.mode) {
      case 'unknown':
        return Transition.complete(await (ctx as StepContext).call('nope', 1));
      case 'step':
        return Transition.complete(await (ctx as StepContext).call('only', 1));
      case 'bigint':
        return Transition.complete(await ctx.call('echo', { id: 10n }));
      case 'function':
        return Transition.complete(await ctx.call('echo', [() => 1]));
      case 'circular': {
        const loop: Record<string, unknown> = {};
        loop.self = loop;
        return Transition.complete(await ctx.call('echo', loop));
      }
      case 'oversize':
        return Transition.complete(await ctx.call('echo', 'y'.repeat(2_000)));
      case 'oversize-result':
        return Transition.complete(await ctx.call('huge'));
      case 'non-deterministic':
        replayCounter += 1;
        return Transition.complete(await ctx.call('echo', replayCounter));
      default:
        return Transition.complete(null);
    }
  }
}

@Workflow({ name: 'hanging', retry: { initialInterval: 10 } })
class HangingWorkflow {
  @Activity({ timeout: 200, retry: { maxAttempts: 2 } })
  async hang(): Promise<void> {
    const { signal, attempt } = currentActivity();
    seen.signal = signal;
    seen.attempts.push(attempt);
    mark('hang', attempt);
    await new Promise(() => undefined); // never settles, ignores its signal
  }

  @Activity()
  async wait(): Promise<string> {
    seen.signal = currentActivity().signal;
    mark('wait', null);
    await gate.promise;
    return 'late';
  }

  @Step()
  async only(
    input: { mode: 'hang' | 'wait' },
    ctx: StepContext<HangingWorkflow>,
  ) {
    recorder.record('only', input, ctx);
    if (input.mode === 'hang') {
      await ctx.call('hang');
      return Transition.complete('never');
    }
    return Transition.complete(await ctx.call('wait'));
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

describe('activities in detail', () => {
  beforeEach(() => {
    recorder.clear();
    gate = deferred();
    started = 0;
    allStarted = deferred();
    seen.signal = undefined;
    seen.attempts = [];
  });

  it.each(['all', 'map', 'caught'] as const)(
    'runs the calls of one step in parallel and resumes it once (%s)',
    async (mode) => {
      const { client, schema } = await createTestApp({
        workflows: [ParallelWorkflow],
      });
      const run = await client.enqueue(ParallelWorkflow, { mode });
      await expect(run.result({ timeout: 10_000 })).resolves.toBe(14);
      // One suspension, one replay; each activity body once.
      expect(recorder.count('fanOut')).toBe(2);
      expect(
        recorder.calls
          .filter((c) => c.step === 'square')
          .map((c) => c.input)
          .sort(),
      ).toEqual([1, 2, 3]);
      const calls = await query<{
        call_index: number;
        state: string;
        attempt: number;
      }>(
        `select call_index, state, attempt from ${schema}.activity_call where run_id = $1 order by call_index`,
        [run.id],
      );
      expect(calls).toEqual([
        { call_index: 0, state: 'succeeded', attempt: 1 },
        { call_index: 1, state: 'succeeded', attempt: 1 },
        { call_index: 2, state: 'succeeded', attempt: 1 },
      ]);
      const [row] = await query<{ open_calls: number }>(
        `select open_calls from ${schema}.workflow_run where id = $1`,
        [run.id],
      );
      expect(row?.open_calls).toBe(0);
    },
  );

  it('retries an activity that throws a string, then undefined, and returns its result', async () => {
    const { client } = await createTestApp({ workflows: [FlakyWorkflow] });
    const run = await client.enqueue(FlakyWorkflow, { mode: 'non-errors' });
    await expect(run.result({ timeout: 10_000 })).resolves.toBe('ok after 3');
    expect(recorder.count('flaky')).toBe(3);
    expect(recorder.count('run')).toBe(2); // the step resumed once
    const details = await client.getRun(run.id);
    const [call] = details?.activityCalls ?? [];
    expect(
      call?.attempts.map((a) => [a.attempt, a.state, a.error?.message]),
    ).toEqual([
      [1, 'failed', 'a plain string'],
      [2, 'failed', 'A step threw undefined'],
      [3, 'succeeded', undefined],
    ]);
    // The step's own attempt count is untouched by the activity's retries.
    expect(details?.attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'succeeded'],
    ]);
  });

  it('fails the run at once when an uncaught ctx.call failed for good (ActivityError.fatal)', async () => {
    const { client } = await createTestApp({ workflows: [FlakyWorkflow] });
    const run = await client.enqueue(FlakyWorkflow, { mode: 'fatal' });
    const error = await failureOf(run.result({ timeout: 10_000 }));
    expect(error).toMatchObject({
      state: 'failed',
      errorCode: 'activity_failed',
    });
    expect(error.message).toContain(
      'Activity "flaky" failed: [missing_user] No user found for id 7',
    );
    expect(recorder.count('flaky')).toBe(1); // fatal: not retried
    const details = await client.getRun(run.id);
    // The step is not retried either: the replay would meet the same failure.
    expect(details?.attempts.map((a) => a.state)).toEqual(['failed']);
    expect(details?.activityCalls[0]).toMatchObject({
      state: 'failed',
      error: { code: 'missing_user', message: 'No user found for id 7' },
    });
    // Failed for good: recorded in the workflow's dead-letter queue.
    const dead = await client.getDeadLetters('flaky-dlq');
    expect(dead.map((d) => [d.runId, d.error?.code])).toEqual([
      [run.id, 'activity_failed'],
    ]);
  });

  it('lets a step catch ActivityFailedError (retries exhausted) and go on', async () => {
    const { client } = await createTestApp({ workflows: [FlakyWorkflow] });
    const run = await client.enqueue(FlakyWorkflow, {
      mode: 'always',
      catch: true,
    });
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      compensated: true,
      activityName: 'flaky',
      errorCode: 'flaky',
      errorMessage: 'attempt 3 failed',
    });
    expect(recorder.count('flaky')).toBe(3);
  });

  it('writes an emit only with an outcome that commits, runs it once, and replays without emitting again', async () => {
    const { client } = await createTestApp({ workflows: [EmittingWorkflow] });
    const run = await client.enqueue(EmittingWorkflow, {
      event: 'signup',
      throwFirst: true,
      call: true,
    });
    await waitFor(() => recorder.count('lookup') === 1);
    gate.resolve();
    await expect(run.result({ timeout: 10_000 })).resolves.toBe(2);
    await waitFor(() => recorder.count('track') === 1);
    // Attempt 1 emitted, then threw: its emit was never written. Attempt 2
    // emitted and suspended; its replay did not emit again.
    expect(recorder.count('only')).toBe(3);
    const details = await client.getRun(run.id);
    expect(
      details?.activityCalls.map((c) => [c.callIndex, c.kind, c.name, c.state]),
    ).toEqual([
      [0, 'emit', 'track', 'succeeded'],
      [1, 'call', 'lookup', 'succeeded'],
    ]);
  });

  it('does not fail the run when an emitted activity fails, and shows the failure in getRun', async () => {
    const { client } = await createTestApp({ workflows: [EmittingWorkflow] });
    const run = await client.enqueue(EmittingWorkflow, { event: 'bad' });
    await expect(run.result({ timeout: 10_000 })).resolves.toBe(0);
    await waitFor(
      async () =>
        (await client.getRun(run.id))?.activityCalls[0]?.state === 'failed',
    );
    const details = await client.getRun(run.id);
    expect(details?.state).toBe('succeeded');
    expect(details?.activityCalls[0]).toMatchObject({
      kind: 'emit',
      state: 'failed',
      error: { code: 'metrics_down' },
      attempts: [{ attempt: 1, state: 'failed' }],
    });
    expect(await client.getDeadLetters('emitting-dlq')).toEqual([]);
  });

  it.each([
    [
      'unknown',
      'invalid_activity_call',
      /MisusingWorkflow\.nope is not an @Activity\(\) method of MisusingWorkflow.*its activities: echo, huge/,
    ],
    [
      'step',
      'invalid_activity_call',
      /MisusingWorkflow\.only is not an @Activity\(\) method/,
    ],
    ['bigint', 'invalid_input', /ctx\.call\('echo'\)\[0\]\.id.*BigInt/],
    ['function', 'invalid_input', /ctx\.call\('echo'\)\[0\]\[0\].*function/],
    ['circular', 'invalid_input', /ctx\.call\('echo'\)\[0\]\.self.*circular/],
    ['oversize', 'payload_too_large', /activity arguments is \d+ bytes/],
  ])(
    'fails the run, without running anything, for a call with %s',
    async (mode, code, message) => {
      const { client, schema } = await createTestApp({
        workflows: [MisusingWorkflow],
        underway: { maxInputSize: 1_000 },
      });
      const run = await client.enqueue(MisusingWorkflow, { mode });
      const error = await failureOf(run.result({ timeout: 10_000 }));
      expect(error.errorCode).toBe(code);
      expect(error.errorMessage).toMatch(message);
      expect(recorder.count('only')).toBe(1); // fatal: not retried
      const calls = await query(
        `select 1 from ${schema}.activity_call where run_id = $1`,
        [run.id],
      );
      expect(calls).toEqual([]);
    },
  );

  it('fails the call when its result is over maxInputSize, without retrying it', async () => {
    const { client } = await createTestApp({
      workflows: [MisusingWorkflow],
      underway: { maxInputSize: 1_000 },
    });
    const run = await client.enqueue(MisusingWorkflow, {
      mode: 'oversize-result',
    });
    const error = await failureOf(run.result({ timeout: 10_000 }));
    expect(error.errorCode).toBe('activity_failed');
    expect(error.errorMessage).toMatch(
      /\[payload_too_large\] Workflow activity result is \d+ bytes/,
    );
    expect(recorder.count('huge')).toBe(1);
  });

  it('fails the run with NonDeterministicReplayError when a replay passes other arguments', async () => {
    const { client } = await createTestApp({ workflows: [MisusingWorkflow] });
    const run = await client.enqueue(MisusingWorkflow, {
      mode: 'non-deterministic',
    });
    const error = await failureOf(run.result({ timeout: 10_000 }));
    expect(error.errorCode).toBe('non_deterministic_replay');
    expect(error.errorMessage).toMatch(
      /call #0 of this step was recorded as ctx\.call\('echo'\), but the replay made ctx\.call\('echo'\) with other arguments/,
    );
    expect(recorder.count('echo')).toBe(1);
  });

  it('times out an activity that never settles, retries it, then fails the call', async () => {
    const { client } = await createTestApp({ workflows: [HangingWorkflow] });
    const run = await client.enqueue(HangingWorkflow, { mode: 'hang' });
    const error = await failureOf(run.result({ timeout: 10_000 }));
    expect(error.errorCode).toBe('activity_failed');
    expect(error.errorMessage).toContain(
      '[timeout] Activity attempt timed out after 200ms.',
    );
    expect(seen.attempts).toEqual([1, 2]);
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBeInstanceOf(StepTimeoutError);
    const details = await client.getRun(run.id);
    expect(details?.activityCalls[0]?.attempts.map((a) => a.state)).toEqual([
      'timed_out',
      'timed_out',
    ]);
  });

  it('cancels a run waiting on a call: the call is cancelled and the running activity’s signal aborts', async () => {
    const { client, schema } = await createTestApp({
      workflows: [HangingWorkflow],
    });
    const run = await client.enqueue(HangingWorkflow, { mode: 'wait' });
    await waitFor(() => recorder.count('wait') === 1);
    expect(await run.status()).toBe('waiting');
    await run.cancel();
    await waitFor(() => seen.signal?.aborted === true);
    expect(seen.signal?.reason).toBeInstanceOf(StepAbortedError);
    expect((seen.signal?.reason as StepAbortedError).code).toBe(
      'run_cancelled',
    );
    gate.resolve(); // its late result changes nothing
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [call] = await query<{ state: string; result: unknown }>(
      `select state, result from ${schema}.activity_call where run_id = $1`,
      [run.id],
    );
    expect(call).toEqual({ state: 'cancelled', result: null });
    expect(await run.status()).toBe('cancelled');
    expect(recorder.count('only')).toBe(1);
  });
});
