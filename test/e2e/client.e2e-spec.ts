import {
  InvalidOptionsError,
  ResultTimeoutError,
  RunNotFoundError,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
  WorkflowIO,
  WorkflowNotRegisteredError,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let gate = deferred();

@Workflow({ name: 'receipt', retry: { initialInterval: 10, jitterFactor: 0 } })
class ReceiptWorkflow {
  @Step()
  async render(input: { orderId: number }, ctx: StepContext) {
    recorder.record('render', input, ctx);
    return Transition.next({ receipt: `R-${input.orderId}` });
  }

  @Step()
  async email(input: { receipt: string }, ctx: StepContext) {
    recorder.record('email', input, ctx);
    if (ctx.attempt === 1) {
      throw new Error('SMTP busy');
    }
    return Transition.complete({ sent: input.receipt });
  }
}

@Workflow({ name: 'gated' })
class GatedWorkflow {
  @Step()
  async wait(input: unknown, ctx: StepContext) {
    recorder.record('wait', input, ctx);
    await gate.promise;
    return Transition.complete();
  }
}

@Workflow({ name: 'rejecting' })
class RejectingWorkflow {
  @Step()
  async reject() {
    throw StepError.fatal('card_declined', 'The card was declined');
  }
}

class NotAWorkflow {}

/** Declares its types (test/types/workflow-io-types.ts checks them). */
@Workflow({ name: 'declared' })
class DeclaredWorkflow extends WorkflowIO<{ n: number }, { doubled: number }> {
  @Step()
  async double({ n }: { n: number }) {
    return Transition.next({ doubled: n * 2 });
  }

  @Step()
  async finish(input: { doubled: number }) {
    return Transition.complete(input);
  }
}

describe('WorkflowClient', () => {
  beforeEach(() => {
    recorder.clear();
    gate = deferred();
  });

  it('enqueues by class or by name and returns a handle with the run id', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    const byClass = await client.enqueue(ReceiptWorkflow, { orderId: 1 });
    const byName = await client.enqueue('receipt', { orderId: 2 });

    expect(byClass.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(byClass.workflowName).toBe('receipt');
    expect(byName.workflowName).toBe('receipt');
    const rows = await query<{ id: string }>(
      `select id from ${schema}.workflow_run order by id`,
    );
    expect(rows.map((r) => r.id)).toEqual([byClass.id, byName.id]);

    // A handle on an existing run, from the class (registered here) or the name.
    const handle = client.run(byName.id, ReceiptWorkflow);
    expect(handle.workflowName).toBe('receipt');
    await expect(handle.result({ timeout: 10_000 })).resolves.toEqual({
      sent: 'R-2',
    });
    expect(client.run(byClass.id, 'receipt').workflowName).toBe('receipt');
    expect(() => client.run(byClass.id, NotAWorkflow)).toThrow(
      WorkflowNotRegisteredError,
    );
  });

  it('runs a workflow that declares its types (extends WorkflowIO) like any other', async () => {
    const { client } = await createTestApp({ workflows: [DeclaredWorkflow] });
    const run = await client.enqueue(DeclaredWorkflow, { n: 21 });
    const output: { doubled: number } = await run.result({ timeout: 10_000 });
    expect(output).toEqual({ doubled: 42 });
    const details = await client.getRun(run.id);
    expect(details?.stepCount).toBe(2);
  });

  it('rejects a workflow this instance does not register, writing nothing', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    await expect(client.enqueue('nope', {})).rejects.toThrow(
      WorkflowNotRegisteredError,
    );
    await expect(client.enqueue('nope', {})).rejects.toThrow(
      'Workflow "nope" is not registered. Add its @Workflow class to a module\'s providers (registered: "receipt").',
    );
    await expect(client.enqueue(NotAWorkflow, {})).rejects.toThrow(
      /"NotAWorkflow" is not registered/,
    );
    expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(0);
  });

  it('reports state, current step, attempts with errors and timestamps through getRun', async () => {
    const { client } = await createTestApp({ workflows: [ReceiptWorkflow] });
    const run = await client.enqueue(ReceiptWorkflow, { orderId: 9 });
    await run.result({ timeout: 5_000 });

    const details = await client.getRun(run.id);
    expect(details).toMatchObject({
      id: run.id,
      workflowName: 'receipt',
      state: 'succeeded',
      currentStep: { index: 1, name: 'email' },
      stepCount: 2,
      input: { orderId: 9 },
      output: { sent: 'R-9' },
      attempt: 2,
      maxAttempts: 5,
    });
    expect(
      details?.attempts.map((a) => [
        a.stepName,
        a.attempt,
        a.state,
        a.error?.message,
      ]),
    ).toEqual([
      ['render', 1, 'succeeded', undefined],
      ['email', 1, 'failed', 'SMTP busy'],
      ['email', 2, 'succeeded', undefined],
    ]);
    const { createdAt, startedAt, completedAt } = details!;
    expect(startedAt!.getTime()).toBeGreaterThanOrEqual(createdAt.getTime());
    expect(completedAt!.getTime()).toBeGreaterThanOrEqual(startedAt!.getTime());
  });

  it('returns null from getRun for an unknown or malformed id', async () => {
    const { client } = await createTestApp({ workflows: [ReceiptWorkflow] });
    await expect(
      client.getRun('01937a2e-0000-7000-8000-000000000000'),
    ).resolves.toBeNull();
    await expect(client.getRun('not-a-uuid')).resolves.toBeNull();
    await expect(client.run('not-a-uuid', 'receipt').status()).rejects.toThrow(
      RunNotFoundError,
    );
  });

  it('cancels a pending run, which then never runs', async () => {
    const { client } = await createTestApp({ workflows: [ReceiptWorkflow] });
    const run = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 5 },
      { delay: '1h' },
    );
    expect(await run.status()).toBe('pending');

    await expect(run.cancel()).resolves.toBe(true);
    expect(await run.status()).toBe('cancelled');
    await expect(run.result({ timeout: 1_000 })).rejects.toMatchObject({
      state: 'cancelled',
      errorCode: 'cancelled',
    });
    await expect(client.cancel(run.id)).resolves.toBe(false);
    expect(recorder.calls).toHaveLength(0);
  });

  it('cancels inside the caller’s transaction: a rollback keeps the run', async () => {
    const { client, dataSource } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    const run = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 5 },
      { delay: '1h' },
    );
    await dataSource
      .transaction(async (manager) => {
        expect(await client.cancel(run.id, { manager })).toBe(true);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await run.status()).toBe('pending');
  });

  it('enqueueMany writes every run in one statement, or none when one input is bad', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    const bigint = { orderId: 10n };
    await expect(
      client.enqueueMany(ReceiptWorkflow, [
        { orderId: 1 },
        bigint,
        { orderId: 3 },
      ]),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      path: 'inputs[1].orderId',
      message: expect.stringContaining(
        'Invalid workflow input at inputs[1].orderId: a BigInt',
      ),
    });
    expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(0);

    const runs = await client.enqueueMany(
      ReceiptWorkflow,
      [1, 2, 3].map((orderId) => ({ orderId })),
    );
    expect(runs).toHaveLength(3);
    const outputs = await Promise.all(
      runs.map((run) => run.result({ timeout: 5_000 })),
    );
    expect(outputs).toEqual([
      { sent: 'R-1' },
      { sent: 'R-2' },
      { sent: 'R-3' },
    ]);
    await expect(client.enqueueMany(ReceiptWorkflow, [])).resolves.toEqual([]);
  });

  it('returns the existing run for a second enqueue with the same idempotency key', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    const first = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 1 },
      { idempotencyKey: 'order-1' },
    );
    const second = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 1 },
      { idempotencyKey: 'order-1' },
    );
    const other = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 2 },
      { idempotencyKey: 'order-2' },
    );

    expect(second.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
    expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(2);
    await first.result({ timeout: 5_000 });
    const again = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 1 },
      { idempotencyKey: 'order-1' },
    );
    expect(again.id).toBe(first.id);
    expect(recorder.count('render', first.id)).toBe(1);
  });

  it('rejects result() with the run’s error when it fails, and with a timeout error when it takes too long', async () => {
    const { client } = await createTestApp({
      workflows: [RejectingWorkflow, GatedWorkflow],
    });
    const failing = await client.enqueue(RejectingWorkflow);
    const error = await failing
      .result({ timeout: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowRunFailedError);
    expect(error).toMatchObject({
      runId: failing.id,
      state: 'failed',
      errorCode: 'card_declined',
      errorMessage: 'The card was declined',
    });

    const slow = await client.enqueue(GatedWorkflow);
    const started = Date.now();
    await expect(slow.result({ timeout: 200 })).rejects.toThrow(
      ResultTimeoutError,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    gate.resolve();
    await expect(slow.result({ timeout: 5_000 })).resolves.toBeUndefined();
  });

  it('starts a delayed run no earlier than its delay or runAt', async () => {
    const { client } = await createTestApp({ workflows: [ReceiptWorkflow] });
    const enqueuedAt = Date.now();
    const delayed = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 1 },
      { delay: 300 },
    );
    const scheduled = await client.enqueue(
      ReceiptWorkflow,
      { orderId: 2 },
      { runAt: new Date(Date.now() + 300) },
    );
    await Promise.all([
      delayed.result({ timeout: 5_000 }),
      scheduled.result({ timeout: 5_000 }),
    ]);
    for (const call of recorder.calls.filter((c) => c.step === 'render')) {
      expect(call.at - enqueuedAt).toBeGreaterThanOrEqual(280);
    }
  });

  it('validates enqueue options with errors naming the option', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
    });
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { delay: '5 minutes' as never }),
    ).rejects.toThrow(
      "Invalid option delay: must be a duration such as 500, '500ms', '30s', '15m', '1h' or '14d', got \"5 minutes\".",
    );
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { delay: 1, runAt: new Date() }),
    ).rejects.toThrow(InvalidOptionsError);
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { runAt: new Date('nope') }),
    ).rejects.toThrow(/runAt/);
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { priority: 1.5 }),
    ).rejects.toThrow(/priority/);
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { idempotencyKey: '' }),
    ).rejects.toThrow(/idempotencyKey/);
    await expect(
      client.enqueue(ReceiptWorkflow, {}, { colour: 'red' } as never),
    ).rejects.toThrow(/colour: is not an enqueue option/);
    expect(await query(`select 1 from ${schema}.workflow_run`)).toHaveLength(0);
  });

  it('lets an enqueue-only instance (runtime: false) enqueue runs that a worker instance runs', async () => {
    const producer = await createTestApp({
      workflows: [ReceiptWorkflow],
      underway: { runtime: false },
    });
    const run = await producer.client.enqueue(ReceiptWorkflow, { orderId: 4 });
    await sleep(300);
    expect(await run.status()).toBe('pending');
    expect(recorder.calls).toHaveLength(0);

    await createTestApp({ workflows: [ReceiptWorkflow] });
    await expect(run.result({ timeout: 5_000 })).resolves.toEqual({
      sent: 'R-4',
    });
  });

  it('reports a run running while its step executes', async () => {
    const { client } = await createTestApp({ workflows: [GatedWorkflow] });
    const run = await client.enqueue(GatedWorkflow);
    await waitFor(() => recorder.count('wait') === 1);
    expect(await run.status()).toBe('running');
    gate.resolve();
    await run.result({ timeout: 5_000 });
  });
});
