import {
  Activity,
  ActivityError,
  currentActivity,
  InvalidOptionsError,
  RunNotFoundError,
  RunNotRetryableError,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, waitFor } from '../support/wait-for';

// client.retry(), which the dashboard's "retry" button calls: a failed run
// gets a fresh attempt budget at the step that failed, in place.

const recorder = new StepRecorder();
const faults = { ship: true, lookup: true };

@Workflow({
  name: 'order',
  deadLetter: 'orders-dlq',
  retry: { maxAttempts: 2, initialInterval: 10, maxInterval: 20 },
})
class OrderWorkflow {
  @Step()
  async charge(input: { orderId: number }, ctx: StepContext) {
    recorder.record('charge', input, ctx);
    return Transition.next(input);
  }

  @Step()
  async ship(input: { orderId: number }, ctx: StepContext) {
    recorder.record('ship', input, ctx);
    if (faults.ship) {
      throw new Error('carrier down');
    }
    return Transition.complete({ shipped: input.orderId });
  }
}

@Workflow({ name: 'signup', retry: { maxAttempts: 3, initialInterval: 10 } })
class SignupWorkflow {
  @Activity({
    name: 'lookup-email',
    retry: { maxAttempts: 2, initialInterval: 10 },
  })
  async lookupEmail(userId: number): Promise<string> {
    recorder.record('lookupEmail', userId, {
      attempt: currentActivity().attempt,
      runId: currentActivity().runId,
    });
    if (faults.lookup) {
      throw ActivityError.fatal('directory_down', 'The directory is down');
    }
    return `user${userId}@example.com`;
  }

  @Activity()
  async loadProfile(userId: number): Promise<string> {
    recorder.record('loadProfile', userId, {
      attempt: currentActivity().attempt,
      runId: currentActivity().runId,
    });
    return `profile-${userId}`;
  }

  @Step()
  async resolve(
    { userId }: { userId: number },
    ctx: StepContext<SignupWorkflow>,
  ) {
    recorder.record('resolve', userId, ctx);
    const [profile, email] = await Promise.all([
      ctx.call('loadProfile', userId),
      ctx.call('lookupEmail', userId),
    ]);
    return Transition.complete({ profile, email });
  }
}

@Workflow({ name: 'strict' })
class StrictWorkflow {
  @Step()
  async check(input: { ok: boolean }) {
    if (!input.ok) {
      throw StepError.fatal('invalid_order', 'Order has no lines');
    }
    return Transition.complete();
  }
}

const gate = { open: deferred() };

@Workflow({ name: 'slow' })
class SlowWorkflow {
  @Step()
  async wait() {
    await gate.open.promise;
    return Transition.complete();
  }
}

interface AttemptRow {
  step_index: number;
  attempt: number;
  state: string;
}

describe('client.retry()', () => {
  beforeEach(() => {
    recorder.clear();
    faults.ship = true;
    faults.lookup = true;
    gate.open = deferred();
  });

  it('gives a failed run a fresh attempt budget at the step that failed: same id, finished steps not repeated', async () => {
    const { client, schema } = await createTestApp({
      workflows: [OrderWorkflow],
    });
    const run = await client.enqueue(OrderWorkflow, { orderId: 7 });
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
      state: 'failed',
      errorMessage: 'carrier down',
    });
    expect(recorder.steps(run.id)).toEqual(['charge', 'ship', 'ship']);

    faults.ship = false;
    const retried = await client.retry(run.id);
    expect(retried.id).toBe(run.id);
    expect(retried.workflowName).toBe('order');
    await expect(retried.result({ timeout: 10_000 })).resolves.toEqual({
      shipped: 7,
    });
    // charge ran once; ship got a third attempt, numbered after the first two.
    expect(recorder.steps(run.id)).toEqual(['charge', 'ship', 'ship', 'ship']);
    expect(recorder.calls.at(-1)?.attempt).toBe(3);

    const attempts = await query<AttemptRow>(
      `select step_index, attempt, state from ${schema}.step_attempt where run_id = $1 order by step_index, attempt`,
      [run.id],
    );
    expect(attempts).toEqual([
      { step_index: 0, attempt: 1, state: 'succeeded' },
      { step_index: 1, attempt: 1, state: 'failed' },
      { step_index: 1, attempt: 2, state: 'failed' },
      { step_index: 1, attempt: 3, state: 'succeeded' },
    ]);
    const [row] = await query(
      `select state, step_index, attempt, max_attempts, error, expires_at is not null as expires
       from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({
      state: 'succeeded',
      step_index: 1,
      attempt: 3,
      max_attempts: 4,
      error: null,
      expires: true,
    });
    // The dead-letter entry of the first failure is gone: the run is no longer dead.
    expect(await client.getDeadLetters('orders-dlq')).toEqual([]);
  });

  it('uses the whole fresh budget, and a run that fails again is failed (and dead-lettered) again', async () => {
    const { client, schema } = await createTestApp({
      workflows: [OrderWorkflow],
    });
    const run = await client.enqueue(OrderWorkflow, { orderId: 8 });
    await expect(run.result({ timeout: 10_000 })).rejects.toBeDefined();
    await client.retry(run.id);
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
      state: 'failed',
    });
    expect(recorder.count('ship', run.id)).toBe(4);
    const [row] = await query<{ attempt: number; max_attempts: number }>(
      `select attempt, max_attempts from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ attempt: 4, max_attempts: 4 });
    expect(await client.getDeadLetters('orders-dlq')).toEqual([
      expect.objectContaining({ runId: run.id, redrivenAt: undefined }),
    ]);
  });

  it('runs the failed ctx.call of a run failed by an activity again, and the step replays with its new result', async () => {
    const { client, schema } = await createTestApp({
      workflows: [SignupWorkflow],
    });
    const run = await client.enqueue(SignupWorkflow, { userId: 3 });
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
      state: 'failed',
      errorCode: 'activity_failed',
    });
    expect(recorder.count('lookupEmail', run.id)).toBe(1);
    expect(recorder.count('loadProfile', run.id)).toBe(1);

    faults.lookup = false;
    await client.retry(run.id);
    // Waiting on the call that runs again, as a suspended step does.
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      profile: 'profile-3',
      email: 'user3@example.com',
    });
    // The failed call ran again (its attempts go on), the succeeded one did not.
    expect(recorder.count('lookupEmail', run.id)).toBe(2);
    expect(recorder.count('loadProfile', run.id)).toBe(1);
    const calls = await query(
      `select name, state, attempt, max_attempts from ${schema}.activity_call
       where run_id = $1 order by call_index`,
      [run.id],
    );
    expect(calls).toEqual([
      {
        name: 'loadProfile',
        state: 'succeeded',
        attempt: 1,
        max_attempts: 3,
      },
      { name: 'lookup-email', state: 'succeeded', attempt: 2, max_attempts: 3 },
    ]);
    const callAttempts = await query(
      `select c.name, a.attempt, a.state from ${schema}.activity_attempt a
       join ${schema}.activity_call c using (run_id, step_index, call_index)
       where a.run_id = $1 and c.name = 'lookup-email' order by a.attempt`,
      [run.id],
    );
    expect(callAttempts).toEqual([
      { name: 'lookup-email', attempt: 1, state: 'failed' },
      { name: 'lookup-email', attempt: 2, state: 'succeeded' },
    ]);
    const [row] = await query(
      `select state, open_calls from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ state: 'succeeded', open_calls: 0 });
  });

  it('refuses a run that is not failed with RunNotRetryableError, and changes nothing', async () => {
    const { client, schema } = await createTestApp({
      workflows: [StrictWorkflow, SlowWorkflow],
    });
    const succeeded = await client.enqueue(StrictWorkflow, { ok: true });
    await succeeded.result({ timeout: 10_000 });
    const running = await client.enqueue(SlowWorkflow);
    await waitFor(async () => (await running.status()) === 'running');
    const cancelled = await client.enqueue(
      StrictWorkflow,
      { ok: true },
      {
        delay: '1h',
      },
    );
    await client.cancel(cancelled.id);

    for (const [run, state] of [
      [succeeded, 'succeeded'],
      [running, 'running'],
      [cancelled, 'cancelled'],
    ] as const) {
      const before = await query(
        `select * from ${schema}.workflow_run where id = $1`,
        [run.id],
      );
      const refusal = client.retry(run.id);
      await expect(refusal).rejects.toBeInstanceOf(RunNotRetryableError);
      await expect(refusal).rejects.toMatchObject({
        code: 'run_not_retryable',
        runId: run.id,
        state,
        message: `Workflow run ${run.id} is ${state}: only a failed run can be retried.`,
      });
      expect(
        await query(`select * from ${schema}.workflow_run where id = $1`, [
          run.id,
        ]),
      ).toEqual(before);
    }
    gate.open.resolve();

    await expect(
      client.retry('0190a2b4-0000-7000-8000-000000000000'),
    ).rejects.toBeInstanceOf(RunNotFoundError);
    await expect(client.retry('not-a-uuid')).rejects.toBeInstanceOf(
      RunNotFoundError,
    );
    await expect(
      client.retry(succeeded.id, { manger: undefined } as never),
    ).rejects.toBeInstanceOf(InvalidOptionsError);
  });

  it('refuses a run whose dead-letter entry was redriven: its work already runs as another run', async () => {
    const { client, schema } = await createTestApp({
      workflows: [OrderWorkflow],
    });
    const run = await client.enqueue(OrderWorkflow, { orderId: 9 });
    await expect(run.result({ timeout: 10_000 })).rejects.toBeDefined();
    faults.ship = false;
    const [redriven] = await client.redrive('orders-dlq');
    await redriven!.result({ timeout: 10_000 });

    await expect(client.retry(run.id)).rejects.toMatchObject({
      code: 'run_not_retryable',
      state: 'failed',
      redrivenRunId: redriven!.id,
    });
    const [row] = await query(
      `select state from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ state: 'failed' });
  });

  it('joins the caller’s transaction: rolled back, the run stays failed and dead-lettered', async () => {
    const { client, dataSource, schema } = await createTestApp({
      workflows: [OrderWorkflow],
    });
    const run = await client.enqueue(OrderWorkflow, { orderId: 10 });
    await expect(run.result({ timeout: 10_000 })).rejects.toBeDefined();
    faults.ship = false;

    await expect(
      dataSource.transaction(async (manager) => {
        await client.retry(run.id, { manager });
        const [inside] = await manager.query(
          `select state from ${schema}.workflow_run where id = $1`,
          [run.id],
        );
        expect(inside).toEqual({ state: 'pending' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await run.status()).toBe('failed');
    expect(await client.getDeadLetters('orders-dlq')).toHaveLength(1);

    await dataSource.transaction((manager) =>
      client.retry(run.id, { manager }),
    );
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      shipped: 10,
    });
  });
});
