import { Inject } from '@nestjs/common';
import {
  Activity,
  ActivityError,
  currentActivity,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

/**
 * A worker keeps the recorded calls its replays read (RecordedCallsCache), so
 * that a step's next replay reads only what was recorded since: these tests
 * hold it to the record, whoever recorded what, and however the step ended.
 */

const recorder = new StepRecorder();
const APP = 'APP_LABEL';
/** Gates activities and steps wait on, by name. */
let gates = new Map<string, ReturnType<typeof deferred<void>>>();
/** Which app ran each execution of a step, in order, by run. */
const executions = new Map<string, string[]>();
/** Executions of a step so far, by run (for the non-deterministic step). */
const counts = new Map<string, number>();
let flakyFails = true;

function gate(name: string): Promise<void> {
  let entry = gates.get(name);
  if (!entry) {
    entry = deferred();
    gates.set(name, entry);
  }
  return entry.promise;
}

function open(name: string): void {
  void gate(name);
  gates.get(name)!.resolve();
}

@Workflow({ name: 'replayed', retry: { maxAttempts: 3, initialInterval: 10 } })
class ReplayedWorkflow {
  constructor(@Inject(APP) private readonly app: string) {}

  @Activity()
  async value(i: number, tamper?: { schema: string }): Promise<string> {
    const { runId } = currentActivity();
    recorder.record('value', i, currentActivity());
    if (tamper && i === 1) {
      // Changes the row of call 0 after the replay that read it: a later
      // replay that read it again would see this.
      await query(
        `update ${tamper.schema}.activity_call set result = '"tampered"' where run_id = $1 and call_index = 0`,
        [runId],
      );
    }
    await gate(`${runId}/${i}`);
    return `v${i}`;
  }

  @Activity({ retry: { maxAttempts: 1 } })
  async flaky(): Promise<string> {
    recorder.record('flaky', null, currentActivity());
    if (flakyFails) {
      throw ActivityError.fatal('down', 'The service is down');
    }
    return 'ok';
  }

  @Activity()
  async echo(text: string): Promise<string> {
    return text;
  }

  @Step()
  async only(
    input: {
      mode: 'sequence' | 'throw-once' | 'flaky' | 'non-deterministic';
      n?: number;
      tamper?: { schema: string };
    },
    ctx: StepContext<ReplayedWorkflow>,
  ) {
    recorder.record('only', input.mode, ctx);
    executions.set(ctx.runId, [...(executions.get(ctx.runId) ?? []), this.app]);
    const count = (counts.get(ctx.runId) ?? 0) + 1;
    counts.set(ctx.runId, count);
    const seen: string[] = [];
    switch (input.mode) {
      case 'flaky':
        seen.push(await ctx.call('value', 0));
        seen.push(await ctx.call('flaky'));
        seen.push(await ctx.call('value', 2));
        return Transition.complete(seen);
      case 'non-deterministic':
        // The fourth execution (a replay with calls 0 and 1 kept) changes
        // the arguments of call 0.
        for (let i = 0; i < 3; i++) {
          seen.push(
            await ctx.call('echo', count === 4 && i === 0 ? 'other' : `e${i}`),
          );
        }
        return Transition.complete(seen);
      default:
        for (let i = 0; i < (input.n ?? 3); i++) {
          seen.push(await ctx.call('value', i, input.tamper));
        }
        if (input.mode === 'throw-once' && ctx.attempt === 1) {
          throw new Error('failed after its calls');
        }
        return Transition.complete(seen);
    }
  }
}

@Workflow({ name: 'two-steps' })
class TwoStepsWorkflow {
  @Activity()
  async echo(text: string): Promise<string> {
    return text;
  }

  @Step()
  async first({ tag }: { tag: string }, ctx: StepContext<TwoStepsWorkflow>) {
    const a = await ctx.call('echo', `${tag}:0:a`);
    const b = await ctx.call('echo', `${tag}:0:b`);
    return Transition.next({ tag, seen: [a, b] });
  }

  @Step()
  async second(
    { tag, seen }: { tag: string; seen: string[] },
    ctx: StepContext<TwoStepsWorkflow>,
  ) {
    const a = await ctx.call('echo', `${tag}:1:a`);
    const b = await ctx.call('echo', `${tag}:1:b`);
    return Transition.complete([...seen, a, b]);
  }
}

/** Takes the only slot of the app that runs it, until its gate opens. */
@Workflow({ name: 'hold-a' })
class HoldAWorkflow {
  @Step()
  async only({ gate: name }: { gate: string }, ctx: StepContext) {
    recorder.record(name, null, ctx);
    await gate(name);
    return Transition.complete();
  }
}

@Workflow({ name: 'hold-b' })
class HoldBWorkflow {
  @Step()
  async only({ gate: name }: { gate: string }, ctx: StepContext) {
    recorder.record(name, null, ctx);
    await gate(name);
    return Transition.complete();
  }
}

const WORKFLOWS = [
  ReplayedWorkflow,
  TwoStepsWorkflow,
  HoldAWorkflow,
  HoldBWorkflow,
];

function app(
  label: string,
  options: { schema?: string; workflows?: string[] } = {},
): Promise<TestApp> {
  return createTestApp({
    workflows: WORKFLOWS,
    providers: [{ provide: APP, useValue: label }],
    underway: {
      ...(options.schema ? { schema: options.schema } : {}),
      runtime: options.workflows
        ? {
            instanceName: label,
            concurrency: 1,
            prefetch: 0,
            workflows: options.workflows,
          }
        : { instanceName: label },
    },
  });
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

describe('replays and the recorded calls a worker keeps', () => {
  beforeEach(() => {
    recorder.clear();
    gates = new Map();
    executions.clear();
    counts.clear();
    flakyFails = true;
  });

  it('reads a recorded result once per worker: each replay reads only the calls recorded since the last one', async () => {
    const a = await app('A');
    const run = await a.client.enqueue(ReplayedWorkflow, {
      mode: 'sequence',
      n: 3,
      tamper: { schema: a.schema },
    });
    for (const i of [0, 1, 2]) {
      open(`${run.id}/${i}`);
    }
    // Call 1 rewrote the row of call 0 after the second execution had read
    // it: the third and fourth executions did not read it again.
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual([
      'v0',
      'v1',
      'v2',
    ]);
    expect(executions.get(run.id)).toEqual(['A', 'A', 'A', 'A']);
    const [row] = await query<{ result: string }>(
      `select result from ${a.schema}.activity_call where run_id = $1 and call_index = 0`,
      [run.id],
    );
    expect(row?.result).toBe('tampered');
  });

  it('replays a step retried after it threw with exactly its recorded results', async () => {
    const a = await app('A');
    const run = await a.client.enqueue(ReplayedWorkflow, {
      mode: 'throw-once',
      n: 3,
    });
    for (const i of [0, 1, 2]) {
      open(`${run.id}/${i}`);
    }
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual([
      'v0',
      'v1',
      'v2',
    ]);
    // Four executions in attempt 1 (three suspensions), one in attempt 2;
    // each activity ran once.
    expect(
      recorder.calls.filter((c) => c.step === 'only').map((c) => c.attempt),
    ).toEqual([1, 1, 1, 1, 2]);
    expect(recorder.count('value')).toBe(3);
  });

  it('sees the new result of a failed call that client.retry ran again, not the recorded failure', async () => {
    const a = await app('A');
    const run = await a.client.enqueue(ReplayedWorkflow, { mode: 'flaky' });
    open(`${run.id}/0`);
    open(`${run.id}/2`);
    const failure = await failureOf(run.result({ timeout: 10_000 }));
    expect(failure.errorCode).toBe('activity_failed');
    flakyFails = false;
    await a.client.retry(run.id);
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual([
      'v0',
      'ok',
      'v2',
    ]);
    expect(recorder.count('flaky')).toBe(2);
    expect(recorder.count('value')).toBe(2); // value(0) once, value(2) once
  });

  it('never answers a call with another run’s or another step’s record', async () => {
    const a = await app('A');
    const runs = await Promise.all(
      ['x', 'y', 'z'].map((tag) => a.client.enqueue(TwoStepsWorkflow, { tag })),
    );
    const results = await Promise.all(
      runs.map((run) => run.result({ timeout: 10_000 })),
    );
    expect(results).toEqual(
      ['x', 'y', 'z'].map((tag) => [
        `${tag}:0:a`,
        `${tag}:0:b`,
        `${tag}:1:a`,
        `${tag}:1:b`,
      ]),
    );
  });

  it('still fails a replay that makes another call at a position it keeps', async () => {
    const a = await app('A');
    const run = await a.client.enqueue(ReplayedWorkflow, {
      mode: 'non-deterministic',
    });
    const failure = await failureOf(run.result({ timeout: 10_000 }));
    expect(failure.errorCode).toBe('non_deterministic_replay');
    expect(failure.errorMessage).toContain(
      "call #0 of this step was recorded as ctx.call('echo'), but the replay made ctx.call('echo') with other arguments",
    );
    expect(counts.get(run.id)).toBe(4);
  });

  it('reads the calls another worker recorded when a run comes back to a worker that kept part of its record', async () => {
    // One slot each; A alone runs hold-a, B alone runs hold-b. A hold, with
    // its higher priority, takes the slot of the worker that must not claim
    // the run when it is woken.
    const a = await app('A', { workflows: ['replayed', 'hold-a'] });
    const b = await app('B', {
      schema: a.schema,
      workflows: ['replayed', 'hold-b'],
    });
    const holdB1 = await b.client.enqueue(HoldBWorkflow, { gate: 'hold-b-1' });
    await waitFor(() => recorder.count('hold-b-1') === 1);
    // Calls 0 to 2 and their replays on A (B is held); call 3 holds A's slot.
    const run = await a.client.enqueue(ReplayedWorkflow, {
      mode: 'sequence',
      n: 6,
    });
    for (const i of [0, 1, 2, 4]) {
      open(`${run.id}/${i}`);
    }
    await waitFor(() => recorder.count('value') === 4, {
      message: 'call 3 runs on A',
    });
    const holdA = await a.client.enqueue(
      HoldAWorkflow,
      { gate: 'hold-a' },
      { priority: 10 },
    );
    open('hold-b-1');
    await holdB1.result({ timeout: 10_000 });
    // Call 3 finishes: A takes hold-a, B the run, for calls 4 and 5.
    open(`${run.id}/3`);
    await waitFor(() => recorder.count('hold-a') === 1);
    await waitFor(() => recorder.count('value') === 6, {
      message: 'call 5 runs on B',
    });
    const holdB2 = await b.client.enqueue(
      HoldBWorkflow,
      { gate: 'hold-b-2' },
      { priority: 10 },
    );
    open('hold-a');
    await holdA.result({ timeout: 10_000 });
    // Call 5 finishes: B takes hold-b-2, A the run, with calls 0 to 2 kept.
    open(`${run.id}/5`);
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual([
      'v0',
      'v1',
      'v2',
      'v3',
      'v4',
      'v5',
    ]);
    open('hold-b-2');
    await holdB2.result({ timeout: 10_000 });
    expect(executions.get(run.id)).toEqual(['A', 'A', 'A', 'A', 'B', 'B', 'A']);
    const workers = await query<{ call_index: number; worker: string }>(
      `select call_index, worker from ${a.schema}.activity_attempt where run_id = $1 order by call_index`,
      [run.id],
    );
    expect(workers.map((w) => w.worker)).toEqual([
      'A',
      'A',
      'A',
      'A',
      'B',
      'B',
    ]);
  });
});
