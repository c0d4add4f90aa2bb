import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import {
  Activity,
  currentActivity,
  Step,
  StepContext,
  StepError,
  Transition,
  TransactionClosedError,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { deferred, sleep, waitFor } from '../support/wait-for';

/** An app entity, in `public`: rows are told apart by run id. */
@Entity({ name: 'tx_test_receipt' })
class Receipt {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'uuid' }) runId!: string;
  @Column() label!: string;
}

const recorder = new StepRecorder();
let gate = deferred();
let late: { manager?: StepContext['manager'] } = {};

@Workflow({
  name: 'tx-receipts',
  retry: { maxAttempts: 2, initialInterval: 10 },
})
class ReceiptWorkflow {
  @Activity({ transactional: true })
  async store(runId: string, label: string): Promise<number> {
    const manager = currentActivity().manager!;
    const saved = await manager.save(Receipt, { runId, label });
    if (label === 'activity-throws') {
      throw new Error('after its write');
    }
    return saved.id;
  }

  @Step({ transactional: true, timeout: 300, heartbeat: 600 })
  async write(input: { mode: string }, ctx: StepContext<ReceiptWorkflow>) {
    recorder.record('write', input, ctx);
    const manager = ctx.manager!;
    await manager.save(Receipt, {
      runId: ctx.runId,
      label: `step-${ctx.attempt}`,
    });
    switch (input.mode) {
      case 'throw':
        throw StepError.fatal('declined', 'after its write');
      case 'hang':
        await manager.query('select pg_sleep(30)'); // cancelled at the timeout
        break;
      case 'gate':
        await gate.promise;
        break;
      case 'call':
        await ctx.call('store', ctx.runId, 'activity');
        break;
      case 'activity-throws':
        await ctx.call('store', ctx.runId, 'activity-throws');
        break;
      case 'late':
        late = { manager };
        break;
    }
    return Transition.next({ wrote: true });
  }

  @Step()
  async after(_input: unknown, ctx: StepContext) {
    recorder.record('after', ctx.manager === undefined, ctx);
    return Transition.complete('ok');
  }
}

@Workflow({ name: 'tx-long' })
class LongTransactionWorkflow {
  @Step({ transactional: true, heartbeat: 300, timeout: '10s' })
  async write(_input: unknown, ctx: StepContext) {
    recorder.record('long', null, ctx);
    await ctx.manager!.save(Receipt, { runId: ctx.runId, label: 'long' });
    await gate.promise;
    return Transition.complete('ok');
  }
}

async function receipts(runId: string): Promise<string[]> {
  const rows = await query<{ label: string }>(
    `select label from tx_test_receipt where "runId" = $1 order by id`,
    [runId],
  );
  return rows.map((r) => r.label);
}

describe('transactional steps', () => {
  beforeAll(async () => {
    await query(
      `create table if not exists tx_test_receipt (id serial primary key, "runId" uuid not null, label text not null)`,
    );
  });

  beforeEach(() => {
    recorder.clear();
    gate = deferred();
    late = {};
  });

  it('commits the step’s writes and its outcome together, through ctx.manager and the app’s entities', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'gate' });
    await waitFor(() => recorder.count('write') === 1);
    // Written, not committed: nobody else sees the row yet.
    expect(await receipts(run.id)).toEqual([]);
    gate.resolve();
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('ok');
    expect(await receipts(run.id)).toEqual(['step-1']);
    const attempts = await query(
      `select step_index, state from ${schema}.step_attempt where run_id = $1 order by step_index`,
      [run.id],
    );
    expect(attempts).toEqual([
      { step_index: 0, state: 'succeeded' },
      { step_index: 1, state: 'succeeded' },
    ]);
    // A step that is not transactional gets no manager.
    expect(recorder.calls.find((c) => c.step === 'after')?.input).toBe(true);
  });

  it('holds one connection of the app’s pool while it runs, its lease renewed meanwhile', async () => {
    const { client, schema } = await createTestApp({
      workflows: [LongTransactionWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(LongTransactionWorkflow);
    await waitFor(() => recorder.count('long') === 1);
    // The step records itself before its insert: wait for the insert to be
    // the transaction's last statement, then count the connections holding one.
    const held = await waitFor(
      async () => {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where state = 'idle in transaction' and query like '%tx_test_receipt%'`,
        );
        return row!.n > 0 ? row!.n : undefined;
      },
      { timeoutMs: 5_000 },
    );
    expect(held).toBe(1);
    // Well past its 300 ms lease: renewed on Underway's own connection.
    await sleep(1_500);
    const [row] = await query<{ state: string; attempt: number }>(
      `select state, attempt from ${schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ state: 'running', attempt: 1 });
    gate.resolve();
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('ok');
    expect(await receipts(run.id)).toEqual(['long']);
  });

  it('rolls back at shutdown a step still running after shutdownTimeout, giving its claim back', async () => {
    const app = await createTestApp({
      workflows: [LongTransactionWorkflow],
      entities: [Receipt],
      underway: { shutdownTimeout: 200 },
    });
    const run = await app.client.enqueue(LongTransactionWorkflow);
    await waitFor(() => recorder.count('long') === 1);
    await app.close();
    expect(await receipts(run.id)).toEqual([]);
    const [row] = await query<{ state: string; attempt: number }>(
      `select state, attempt from ${app.schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row).toEqual({ state: 'pending', attempt: 0 });
    const open = await query(
      `select 1 from pg_stat_activity where state = 'idle in transaction' and query like '%tx_test_receipt%'`,
    );
    expect(open).toEqual([]);
  });

  it('rolls back the writes of a step that throws, and records the failed attempt', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'throw' });
    await expect(run.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'declined',
    });
    expect(await receipts(run.id)).toEqual([]);
    const details = await client.getRun(run.id);
    expect(details?.attempts.map((a) => a.state)).toEqual(['failed']);
  });

  it('rolls back at the timeout, cancelling the query still running', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'hang' });
    const started = Date.now();
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
      errorCode: 'timeout',
    });
    // Two attempts of 300 ms each, not two pg_sleep(30)s.
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(await receipts(run.id)).toEqual([]);
    const details = await client.getRun(run.id);
    expect(details?.attempts.map((a) => a.state)).toEqual([
      'timed_out',
      'timed_out',
    ]);
  });

  it('rolls back a step whose run is cancelled while it runs', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'gate' });
    await waitFor(() => recorder.count('write') === 1);
    await run.cancel();
    gate.resolve();
    await sleep(300);
    expect(await receipts(run.id)).toEqual([]);
    expect(await run.status()).toBe('cancelled');
  });

  it('rolls back the writes before a suspension: only the replay’s writes survive, with the activity’s own', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'call' });
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('ok');
    expect(recorder.count('write')).toBe(2);
    expect((await receipts(run.id)).sort()).toEqual(['activity', 'step-1']);
  });

  it('rolls back the writes of a transactional activity that throws', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, {
      mode: 'activity-throws',
    });
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({
      errorCode: 'activity_failed',
    });
    expect(await receipts(run.id)).toEqual([]);
  });

  it('refuses ctx.manager once the step has returned, with a clear error', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'late' });
    await run.result({ timeout: 5_000 });
    expect(() => late.manager?.query('select 1')).toThrow(
      TransactionClosedError,
    );
    expect(() => late.manager?.query('select 1')).toThrow(
      /transaction of run .* is over/,
    );
  });

  it('leaves no half state when the step’s connection is killed mid-step', async () => {
    const { client } = await createTestApp({
      workflows: [ReceiptWorkflow],
      entities: [Receipt],
    });
    const run = await client.enqueue(ReceiptWorkflow, { mode: 'gate' });
    await waitFor(() => recorder.count('write') === 1);
    // The app's connection that holds the step's transaction.
    await query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where state = 'idle in transaction' and query like '%tx_test_receipt%'`,
    );
    gate.resolve();
    // The commit fails with the connection: rolled back; the attempt runs
    // again once its lease (600 ms) lapses, as after a crash.
    await expect(run.result({ timeout: 15_000 })).resolves.toBe('ok');
    const labels = await receipts(run.id);
    expect(labels).toHaveLength(1);
  });
});
