import {
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

@Workflow({ name: 'image-pipeline' })
class ImagePipeline {
  @Step()
  async resize(input: { assetId: number }, ctx: StepContext) {
    recorder.record('resize', input, ctx);
    return Transition.next({ key: `images/${input.assetId}.webp` });
  }

  @Step()
  async publish(input: { key: string }, ctx: StepContext) {
    recorder.record('publish', input, ctx);
    return Transition.next({ url: `https://cdn.example.com/${input.key}` });
  }

  @Step()
  async notify(input: { url: string }, ctx: StepContext) {
    recorder.record('notify', input, ctx);
    expect(ctx.stepIndex).toBe(2);
    expect(ctx.stepCount).toBe(3);
    return Transition.complete({ published: input.url });
  }
}

@Workflow({ name: 'delayed' })
class DelayedWorkflow {
  @Step()
  async first(input: { delay: number }, ctx: StepContext) {
    recorder.record('first', input, ctx);
    return Transition.after({ queuedAt: Date.now() }, input.delay);
  }

  @Step()
  async second(input: { queuedAt: number }, ctx: StepContext) {
    recorder.record('second', input, ctx);
    return Transition.complete(Date.now() - input.queuedAt);
  }
}

@Workflow({ name: 'step-delay' })
class StepDelayWorkflow {
  @Step()
  async first(_input: undefined, ctx: StepContext) {
    recorder.record('first', Date.now(), ctx);
    return Transition.next(Date.now());
  }

  @Step({ delay: '400ms' })
  async second(sentAt: number, ctx: StepContext) {
    recorder.record('second', sentAt, ctx);
    return Transition.complete(Date.now() - sentAt);
  }
}

@Workflow({ name: 'misbehaving' })
class MisbehavingWorkflow {
  @Step()
  async only(input: { mode: 'nothing' | 'next' }) {
    if (input.mode === 'next') {
      return Transition.next({});
    }
    return { not: 'a transition' } as unknown as ReturnType<
      typeof Transition.complete
    >;
  }
}

const stepGate = { release: deferred() };

@Workflow({ name: 'resumable', retry: { initialInterval: 10 } })
class ResumableWorkflow {
  @Step()
  async one(_input: unknown, ctx: StepContext) {
    recorder.record('one', null, ctx);
    return Transition.next('from-one');
  }

  @Step()
  async two(input: string, ctx: StepContext) {
    recorder.record('two', input, ctx);
    await Promise.race([
      stepGate.release.promise,
      new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    ]);
    ctx.signal.throwIfAborted();
    return Transition.complete(`done after ${input}`);
  }
}

describe('steps', () => {
  beforeEach(() => recorder.clear());

  it('runs steps in declaration order, each receiving the previous Transition.next input', async () => {
    const { client } = await createTestApp({ workflows: [ImagePipeline] });
    const run = await client.enqueue(ImagePipeline, { assetId: 42 });

    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      published: 'https://cdn.example.com/images/42.webp',
    });
    expect(recorder.steps(run.id)).toEqual(['resize', 'publish', 'notify']);
    expect(recorder.calls.map((c) => c.input)).toEqual([
      { assetId: 42 },
      { key: 'images/42.webp' },
      { url: 'https://cdn.example.com/images/42.webp' },
    ]);
  });

  it('keeps the run, its output and one succeeded attempt per step in the database', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ImagePipeline],
    });
    const run = await client.enqueue('image-pipeline', { assetId: 7 });
    await run.result({ timeout: 5_000 });

    const [row] = await query<{
      state: string;
      step_index: number;
      output: unknown;
    }>(
      `select state, step_index, output from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({
      state: 'succeeded',
      step_index: 2,
      output: { published: 'https://cdn.example.com/images/7.webp' },
    });
    const attempts = await query<{
      step_index: number;
      attempt: number;
      state: string;
    }>(
      `select step_index, attempt, state from ${schema}.step_attempt where run_id = $1 order by step_index`,
      [run.id],
    );
    expect(attempts).toEqual([
      { step_index: 0, attempt: 1, state: 'succeeded' },
      { step_index: 1, attempt: 1, state: 'succeeded' },
      { step_index: 2, attempt: 1, state: 'succeeded' },
    ]);
  });

  it('waits Transition.after’s delay before the next step, reporting the run waiting meanwhile', async () => {
    const { client } = await createTestApp({
      workflows: [DelayedWorkflow],
      underway: { runtime: { pollInterval: '10s' } },
    });
    const run = await client.enqueue<number>(DelayedWorkflow, { delay: 500 });
    await waitFor(() => recorder.count('first') === 1);
    await waitFor(async () => (await run.status()) === 'waiting');

    const waited = await run.result({ timeout: 5_000 });
    // Due after 500 ms, and woken by the worker's own timer, not the 10 s poll.
    expect(waited).toBeGreaterThanOrEqual(480);
    expect(waited).toBeLessThan(1_500);
  });

  it('waits a step’s own @Step({ delay }) before entering it', async () => {
    const { client } = await createTestApp({
      workflows: [StepDelayWorkflow],
      underway: { runtime: { pollInterval: '10s' } },
    });
    const run = await client.enqueue<number>(StepDelayWorkflow);
    const waited = await run.result({ timeout: 5_000 });
    expect(waited).toBeGreaterThanOrEqual(380);
    expect(waited).toBeLessThan(1_500);
  });

  it('fails the run when a step returns something other than a Transition', async () => {
    const { client } = await createTestApp({
      workflows: [MisbehavingWorkflow],
    });
    const run = await client.enqueue(MisbehavingWorkflow, { mode: 'nothing' });
    const error = await run.result({ timeout: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowRunFailedError);
    expect(error).toMatchObject({
      state: 'failed',
      errorCode: 'invalid_transition',
    });
    expect((error as Error).message).toMatch(
      /MisbehavingWorkflow\.only returned an object/,
    );
    // Fatal: not retried.
    const details = await client.getRun(run.id);
    expect(details?.attempts).toHaveLength(1);
  });

  it('fails the run when the last step returns Transition.next', async () => {
    const { client } = await createTestApp({
      workflows: [MisbehavingWorkflow],
    });
    const run = await client.enqueue(MisbehavingWorkflow, { mode: 'next' });
    await expect(run.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'invalid_transition',
      errorMessage: expect.stringMatching(/is the last step/),
    });
  });

  it('resumes at the unfinished step after a restart, never repeating a finished one', async () => {
    stepGate.release = deferred();
    const first = await createTestApp({
      workflows: [ResumableWorkflow],
      underway: { shutdownTimeout: 50 },
    });
    const run = await first.client.enqueue(ResumableWorkflow);
    await waitFor(() => recorder.count('two') === 1);
    await first.close(); // step two is aborted and its claim given back

    const afterStop = await first.client.getRun(run.id).catch(() => undefined);
    expect(afterStop).toBeUndefined(); // the closed app's pool is gone: read through a new app

    stepGate.release.resolve();
    const second = await createTestApp({ workflows: [ResumableWorkflow] });
    await expect(
      second.client.run(run.id, 'resumable').result({ timeout: 5_000 }),
    ).resolves.toBe('done after from-one');
    expect(recorder.count('one')).toBe(1);
    expect(recorder.count('two')).toBe(2);
    // The aborted attempt was given back, not counted: the run finished on attempt 1 of step two.
    const details = await second.client.getRun(run.id);
    expect(
      details?.attempts.map((a) => [a.stepIndex, a.attempt, a.state]),
    ).toEqual([
      [0, 1, 'succeeded'],
      [1, 1, 'succeeded'],
    ]);
  });
});
