import {
  Step,
  StepContext,
  StepError,
  StepTimeoutError,
  Transition,
  Workflow,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
const FAST = { initialInterval: 10, maxInterval: 20, jitterFactor: 0 };

@Workflow({ name: 'flaky', retry: { ...FAST, maxAttempts: 5 } })
class FlakyWorkflow {
  @Step()
  async call(input: { failures: number }, ctx: StepContext) {
    recorder.record('call', input, ctx);
    if (ctx.attempt <= input.failures) {
      throw new Error(`upstream unavailable (attempt ${ctx.attempt})`);
    }
    return Transition.complete(ctx.attempt);
  }
}

@Workflow({ name: 'poison', retry: { ...FAST, maxAttempts: 3 } })
class PoisonWorkflow {
  @Step()
  async explode(input: { kind: string }, ctx: StepContext) {
    recorder.record('explode', input, ctx);
    switch (input.kind) {
      case 'string':
        throw 'plain string thrown'; // eslint-disable-line @typescript-eslint/only-throw-error
      case 'object':
        throw { reason: 'plain object thrown' }; // eslint-disable-line @typescript-eslint/only-throw-error
      case 'undefined':
        throw undefined; // eslint-disable-line @typescript-eslint/only-throw-error
      default:
        throw new TypeError('always broken');
    }
  }
}

@Workflow({ name: 'fatal', retry: { ...FAST, maxAttempts: 5 } })
class FatalWorkflow {
  @Step()
  async lookup(_input: unknown, ctx: StepContext) {
    recorder.record('lookup', null, ctx);
    throw StepError.fatal('missing_user', 'No user found for id 42');
  }
}

@Workflow({ name: 'layered', retry: { ...FAST, maxAttempts: 4 } })
class LayeredPolicyWorkflow {
  @Step()
  async workflowPolicy(_input: unknown, ctx: StepContext) {
    recorder.record('workflowPolicy', null, ctx);
    throw new Error('fails');
  }
}

@Workflow({ name: 'layered-step', retry: { ...FAST, maxAttempts: 4 } })
class LayeredStepWorkflow {
  @Step({ retry: { maxAttempts: 2 } })
  async stepPolicy(_input: unknown, ctx: StepContext) {
    recorder.record('stepPolicy', null, ctx);
    throw new Error('fails');
  }
}

@Workflow({ name: 'module-default' })
class ModuleDefaultWorkflow {
  @Step()
  async defaults(_input: unknown, ctx: StepContext) {
    recorder.record('defaults', null, ctx);
    throw new Error('fails');
  }
}

const abortReasons: unknown[] = [];

@Workflow({ name: 'slow', retry: { ...FAST, maxAttempts: 2 }, timeout: 150 })
class SlowWorkflow {
  @Step()
  async hang(input: { honourSignal: boolean }, ctx: StepContext) {
    recorder.record('hang', input, ctx);
    if (ctx.attempt === 2) {
      return Transition.complete('second attempt');
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      if (input.honourSignal) {
        ctx.signal.addEventListener('abort', () => {
          abortReasons.push(ctx.signal.reason);
          clearTimeout(timer);
          resolve();
        });
      }
    });
    // Returns late (after the timeout): this result must be discarded.
    return Transition.complete('late result');
  }
}

@Workflow({
  name: 'backoff',
  retry: { maxAttempts: 2, initialInterval: 200, jitterFactor: 0 },
})
class BackoffWorkflow {
  @Step()
  async once(_input: unknown, ctx: StepContext) {
    recorder.record('once', null, ctx);
    if (ctx.attempt === 1) {
      throw new Error('first attempt fails');
    }
    return Transition.complete();
  }
}

interface AttemptRow {
  attempt: number;
  state: string;
  error: { code: string; message: string; name: string } | null;
}

async function attempts(schema: string, runId: string): Promise<AttemptRow[]> {
  return query<AttemptRow>(
    `select attempt, state, error from ${schema}.step_attempt where run_id = $1 order by attempt`,
    [runId],
  );
}

describe('retries and timeouts', () => {
  beforeEach(() => {
    recorder.clear();
    abortReasons.length = 0;
  });

  it('retries a failing step and records every attempt with its error', async () => {
    const { client, schema } = await createTestApp({
      workflows: [FlakyWorkflow],
    });
    const run = await client.enqueue(FlakyWorkflow, { failures: 2 });

    await expect(run.result({ timeout: 5_000 })).resolves.toBe(3);
    expect(recorder.count('call')).toBe(3);
    const rows = await attempts(schema, run.id);
    expect(rows.map((r) => [r.attempt, r.state, r.error?.message])).toEqual([
      [1, 'failed', 'upstream unavailable (attempt 1)'],
      [2, 'failed', 'upstream unavailable (attempt 2)'],
      [3, 'succeeded', undefined],
    ]);
  });

  it('fails the run after maxAttempts, with every attempt’s error recorded', async () => {
    const { client, schema } = await createTestApp({
      workflows: [PoisonWorkflow],
    });
    const run = await client.enqueue(PoisonWorkflow, { kind: 'error' });

    const error = await run.result({ timeout: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowRunFailedError);
    expect(error).toMatchObject({
      state: 'failed',
      errorCode: 'error',
      errorMessage: 'always broken',
    });
    expect(recorder.count('explode')).toBe(3);
    const rows = await attempts(schema, run.id);
    expect(rows).toEqual(
      [1, 2, 3].map((attempt) => ({
        attempt,
        state: 'failed',
        error: {
          code: 'error',
          message: 'always broken',
          name: 'TypeError',
          retryable: true,
        },
      })),
    );
  });

  it.each([
    ['string', 'plain string thrown', 'string'],
    [
      'object',
      'Non-Error value thrown: {"reason":"plain object thrown"}',
      'object',
    ],
    ['undefined', 'A step threw undefined', 'undefined'],
  ])(
    'handles a thrown %s like any error: retried, recorded, then failed',
    async (kind, message, name) => {
      const { client, schema } = await createTestApp({
        workflows: [PoisonWorkflow],
      });
      const run = await client.enqueue(PoisonWorkflow, { kind });

      await expect(run.result({ timeout: 5_000 })).rejects.toMatchObject({
        errorMessage: message,
      });
      const rows = await attempts(schema, run.id);
      expect(rows).toHaveLength(3);
      expect(
        rows.every(
          (r) => r.error?.message === message && r.error?.name === name,
        ),
      ).toBe(true);
    },
  );

  it('fails at once, without retrying, on StepError.fatal', async () => {
    const { client, schema } = await createTestApp({
      workflows: [FatalWorkflow],
    });
    const run = await client.enqueue(FatalWorkflow);

    await expect(run.result({ timeout: 5_000 })).rejects.toMatchObject({
      state: 'failed',
      errorCode: 'missing_user',
      errorMessage: 'No user found for id 42',
    });
    expect(recorder.count('lookup')).toBe(1);
    expect(await attempts(schema, run.id)).toEqual([
      {
        attempt: 1,
        state: 'failed',
        error: {
          code: 'missing_user',
          message: 'No user found for id 42',
          name: 'StepError',
          retryable: false,
        },
      },
    ]);
  });

  it('takes maxAttempts from the step, else the workflow, else the module defaults', async () => {
    const { client } = await createTestApp({
      workflows: [
        LayeredPolicyWorkflow,
        LayeredStepWorkflow,
        ModuleDefaultWorkflow,
      ],
      underway: { defaults: { retry: { ...FAST, maxAttempts: 3 } } },
    });
    const runs = await Promise.all([
      client.enqueue(LayeredPolicyWorkflow),
      client.enqueue(LayeredStepWorkflow),
      client.enqueue(ModuleDefaultWorkflow),
    ]);
    await Promise.all(
      runs.map((run) => run.result({ timeout: 5_000 }).catch(() => undefined)),
    );

    expect(recorder.count('workflowPolicy')).toBe(4);
    expect(recorder.count('stepPolicy')).toBe(2);
    expect(recorder.count('defaults')).toBe(3);
  });

  it('aborts ctx.signal with StepTimeoutError on timeout and counts a failed attempt', async () => {
    const { client, schema } = await createTestApp({
      workflows: [SlowWorkflow],
    });
    const run = await client.enqueue(SlowWorkflow, { honourSignal: true });

    await expect(run.result({ timeout: 5_000 })).resolves.toBe(
      'second attempt',
    );
    expect(abortReasons).toHaveLength(1);
    expect(abortReasons[0]).toBeInstanceOf(StepTimeoutError);
    const rows = await attempts(schema, run.id);
    expect(rows.map((r) => [r.attempt, r.state, r.error?.code])).toEqual([
      [1, 'timed_out', 'timeout'],
      [2, 'succeeded', undefined],
    ]);
  });

  it('discards the late result of a step that ignores its timeout signal', async () => {
    const { client } = await createTestApp({ workflows: [SlowWorkflow] });
    const started = Date.now();
    const run = await client.enqueue(SlowWorkflow, { honourSignal: false });

    // The timeout (150 ms) ends attempt 1 long before the step returns (1 s).
    await expect(run.result({ timeout: 5_000 })).resolves.toBe(
      'second attempt',
    );
    expect(Date.now() - started).toBeLessThan(900);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await run.result()).toBe('second attempt');
  });

  it('wakes for a 200 ms retry within about 200 ms, not at the next poll', async () => {
    const { client } = await createTestApp({
      workflows: [BackoffWorkflow],
      underway: { runtime: { pollInterval: '30s' } },
    });
    const run = await client.enqueue(BackoffWorkflow);
    await run.result({ timeout: 5_000 });

    const [first, second] = recorder.calls;
    const gap = (second?.at ?? 0) - (first?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(195);
    expect(gap).toBeLessThan(450);
  });

  it('reports the run pending while it backs off before a retry', async () => {
    const { client } = await createTestApp({ workflows: [BackoffWorkflow] });
    const run = await client.enqueue(BackoffWorkflow);
    await waitFor(() => recorder.count('once') === 1);
    await waitFor(
      async () => (await client.getRun(run.id))?.attempts.length === 1,
    );
    expect(await run.status()).toBe('pending');
    const details = await client.getRun(run.id);
    expect(details?.error).toMatchObject({
      code: 'error',
      message: 'first attempt fails',
    });
    await run.result({ timeout: 5_000 });
  });
});
