import {
  Step,
  StepAbortedError,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let active = new Map<string, number>();
let maxActive = new Map<string, number>();
const abortReasons: unknown[] = [];
let gate = deferred();

@Workflow({ name: 'per-account' })
class PerAccountWorkflow {
  @Step()
  async debit(input: { account: string; n: number }, ctx: StepContext) {
    const now = (active.get(input.account) ?? 0) + 1;
    active.set(input.account, now);
    maxActive.set(
      input.account,
      Math.max(maxActive.get(input.account) ?? 0, now),
    );
    recorder.record(`debit:${input.account}:${input.n}`, input, ctx);
    return Transition.after(input, 20);
  }

  @Step()
  async credit(input: { account: string; n: number }, ctx: StepContext) {
    recorder.record(`credit:${input.account}:${input.n}`, input, ctx);
    await sleep(5);
    active.set(input.account, (active.get(input.account) ?? 1) - 1);
    return Transition.complete();
  }
}

@Workflow({ name: 'long-running' })
class LongRunningWorkflow {
  @Step()
  async work(_input: unknown, ctx: StepContext) {
    recorder.record('work', null, ctx);
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        abortReasons.push(ctx.signal.reason);
        resolve();
      });
      void gate.promise.then(resolve);
    });
    return Transition.complete('finished anyway');
  }
}

@Workflow({ name: 'two-steps-apart' })
class TwoStepsApartWorkflow {
  @Step()
  async first(_input: unknown, ctx: StepContext) {
    recorder.record('first', null, ctx);
    return Transition.after(null, '1h');
  }

  @Step()
  async second(_input: unknown, ctx: StepContext) {
    recorder.record('second', null, ctx);
    return Transition.complete();
  }
}

describe('execution controls', () => {
  beforeEach(() => {
    recorder.clear();
    active = new Map();
    maxActive = new Map();
    abortReasons.length = 0;
    gate = deferred();
  });

  it('runs runs with one concurrencyKey one at a time, in enqueue order, across their steps', async () => {
    const { client } = await createTestApp({
      workflows: [PerAccountWorkflow],
      underway: { runtime: { concurrency: 8 } },
    });
    const runs = [];
    for (let n = 1; n <= 4; n += 1) {
      for (const account of ['a', 'b']) {
        runs.push(
          await client.enqueue(
            PerAccountWorkflow,
            { account, n },
            { concurrencyKey: `acct-${account}` },
          ),
        );
      }
    }
    await Promise.all(runs.map((run) => run.result({ timeout: 10_000 })));

    expect(maxActive.get('a')).toBe(1);
    expect(maxActive.get('b')).toBe(1);
    for (const account of ['a', 'b']) {
      const order = recorder.steps().filter((s) => s.includes(`:${account}:`));
      expect(order).toEqual(
        [1, 2, 3, 4].flatMap((n) => [
          `debit:${account}:${n}`,
          `credit:${account}:${n}`,
        ]),
      );
    }
  });

  it('keeps a second run of a key pending (not rejected) while the first is active', async () => {
    const { client } = await createTestApp({
      workflows: [LongRunningWorkflow],
    });
    const first = await client.enqueue(LongRunningWorkflow, null, {
      concurrencyKey: 'k',
    });
    await waitFor(() => recorder.count('work') === 1);
    const second = await client.enqueue(LongRunningWorkflow, null, {
      concurrencyKey: 'k',
    });
    await sleep(300);
    expect(await second.status()).toBe('pending');
    expect(recorder.count('work')).toBe(1);

    gate.resolve();
    await first.result({ timeout: 5_000 });
    await second.result({ timeout: 5_000 });
    expect(recorder.count('work')).toBe(2);
  });

  it('serializes one key across several workers', async () => {
    const workers = await Promise.all(
      [1, 2, 3].map((i) =>
        createTestApp({
          workflows: [PerAccountWorkflow],
          underway: { runtime: { concurrency: 4, instanceName: `cw${i}` } },
        }),
      ),
    );
    const runs = await workers[0]!.client.enqueueMany(
      PerAccountWorkflow,
      Array.from({ length: 10 }, (_, n) => ({ account: 'shared', n })),
      { concurrencyKey: 'shared' },
    );
    await Promise.all(runs.map((run) => run.result({ timeout: 15_000 })));
    expect(maxActive.get('shared')).toBe(1);
    expect(recorder.steps().filter((s) => s.startsWith('debit'))).toEqual(
      Array.from({ length: 10 }, (_, n) => `debit:shared:${n}`),
    );
  });

  it('cancels a running run: its step sees ctx.signal abort and the run ends cancelled', async () => {
    const { client, schema } = await createTestApp({
      workflows: [LongRunningWorkflow],
    });
    const run = await client.enqueue(LongRunningWorkflow, null, {
      concurrencyKey: 'cancel-me',
    });
    const next = await client.enqueue(LongRunningWorkflow, null, {
      concurrencyKey: 'cancel-me',
    });
    await waitFor(() => recorder.count('work') === 1);

    await expect(run.cancel()).resolves.toBe(true);
    await waitFor(() => abortReasons.length === 1);
    expect(abortReasons[0]).toBeInstanceOf(StepAbortedError);
    expect(abortReasons[0]).toMatchObject({ code: 'run_cancelled' });
    await expect(run.result({ timeout: 2_000 })).rejects.toMatchObject({
      state: 'cancelled',
    });
    await sleep(200);
    expect(await run.status()).toBe('cancelled'); // the step's late result changed nothing
    expect(
      await query(`select 1 from ${schema}.step_attempt where run_id = $1`, [
        run.id,
      ]),
    ).toHaveLength(0);

    // The key is free again: the next run of the key starts.
    await waitFor(() => recorder.count('work') === 2);
    gate.resolve();
    await expect(next.result({ timeout: 5_000 })).resolves.toBe(
      'finished anyway',
    );
  });

  it('cancels a run waiting between steps; its next step never runs', async () => {
    const { client } = await createTestApp({
      workflows: [TwoStepsApartWorkflow],
    });
    const run = await client.enqueue(TwoStepsApartWorkflow);
    await waitFor(async () => (await run.status()) === 'waiting');
    await expect(client.cancel(run.id)).resolves.toBe(true);
    expect(await run.status()).toBe('cancelled');
    expect(recorder.steps()).toEqual(['first']);
  });

  it('returns false when cancelling a finished run, and never changes a terminal state', async () => {
    const { client } = await createTestApp({
      workflows: [TwoStepsApartWorkflow, LongRunningWorkflow],
    });
    gate.resolve();
    const run = await client.enqueue(LongRunningWorkflow);
    await run.result({ timeout: 5_000 });
    await expect(run.cancel()).resolves.toBe(false);
    expect(await run.status()).toBe('succeeded');
  });
});
