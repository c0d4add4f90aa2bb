import {
  Activity,
  currentActivity,
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
let gate = deferred();
const signals: AbortSignal[] = [];

@Workflow({ name: 'gated-activity', ttl: 100 })
class GatedActivityWorkflow {
  @Activity({ heartbeat: 300 })
  async slow(label: string): Promise<string> {
    const activity = currentActivity();
    signals.push(activity.signal);
    recorder.record('slow', label, activity);
    await Promise.race([
      gate.promise,
      new Promise((resolve) =>
        activity.signal.addEventListener('abort', resolve),
      ),
    ]);
    activity.signal.throwIfAborted();
    return `done ${label}`;
  }

  @Step()
  async only(
    input: { label: string; emit?: boolean },
    ctx: StepContext<GatedActivityWorkflow>,
  ) {
    recorder.record('only', input, ctx);
    if (input.emit) {
      await ctx.emit('slow', input.label);
      return Transition.complete('emitted');
    }
    return Transition.complete(await ctx.call('slow', input.label));
  }
}

@Workflow({ name: 'other-activity' })
class OtherWorkflow {
  @Activity()
  async work(): Promise<number> {
    recorder.record('work', null, currentActivity());
    return 1;
  }

  @Step()
  async only(_input: unknown, ctx: StepContext<OtherWorkflow>) {
    recorder.record('other-only', null, ctx);
    return Transition.complete(await ctx.call('work'));
  }
}

describe('activities and the worker lifecycle', () => {
  beforeEach(() => {
    recorder.clear();
    gate = deferred();
    signals.length = 0;
  });

  it('keeps a finished run while its emitted activity is unfinished, then deletes it with its calls', async () => {
    const { client, schema } = await createTestApp({
      workflows: [GatedActivityWorkflow],
      underway: { runtime: { maintenanceInterval: 50 } },
    });
    const run = await client.enqueue(GatedActivityWorkflow, {
      label: 'e',
      emit: true,
    });
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('emitted');
    await waitFor(() => recorder.count('slow') === 1);
    // Well past its 100 ms ttl, and pruned every 50 ms: still there.
    await sleep(500);
    expect(
      await query(`select 1 from ${schema}.workflow_run where id = $1`, [
        run.id,
      ]),
    ).toHaveLength(1);
    gate.resolve();
    await waitFor(
      async () =>
        (
          await query(`select 1 from ${schema}.workflow_run where id = $1`, [
            run.id,
          ])
        ).length === 0,
      { timeoutMs: 5_000 },
    );
    expect(
      await query(`select 1 from ${schema}.activity_call where run_id = $1`, [
        run.id,
      ]),
    ).toEqual([]);
    expect(
      await query(
        `select 1 from ${schema}.activity_attempt where run_id = $1`,
        [run.id],
      ),
    ).toEqual([]);
  });

  it('keeps the concurrency key held while the run waits on a call', async () => {
    const { client } = await createTestApp({
      workflows: [GatedActivityWorkflow],
    });
    const first = await client.enqueue(
      GatedActivityWorkflow,
      { label: 'a' },
      { concurrencyKey: 'k' },
    );
    const second = await client.enqueue(
      GatedActivityWorkflow,
      { label: 'b' },
      { concurrencyKey: 'k' },
    );
    await waitFor(() => recorder.count('slow') === 1);
    expect(await first.status()).toBe('waiting');
    await sleep(300);
    expect(await second.status()).toBe('pending');
    expect(recorder.count('only', second.id)).toBe(0);
    gate.resolve();
    await expect(first.result({ timeout: 5_000 })).resolves.toBe('done a');
    await expect(second.result({ timeout: 5_000 })).resolves.toBe('done b');
  });

  it('lets an activity in flight finish at shutdown, and the run resumes on the next instance', async () => {
    const app = await createTestApp({
      workflows: [GatedActivityWorkflow],
      underway: { shutdownTimeout: 5_000 },
    });
    const run = await app.client.enqueue(GatedActivityWorkflow, {
      label: 'drain',
    });
    await waitFor(() => recorder.count('slow') === 1);
    const closing = app.close();
    await sleep(100);
    gate.resolve(); // finishes during the drain: its outcome is committed
    await closing;
    const [call] = await query<{ state: string; attempt: number }>(
      `select state, attempt from ${app.schema}.activity_call where run_id = $1`,
      [run.id],
    );
    expect(call).toEqual({ state: 'succeeded', attempt: 1 });
    const next = await createTestApp({
      workflows: [GatedActivityWorkflow],
      underway: { schema: app.schema },
    });
    await expect(
      next.client.run(run.id, 'gated-activity').result({ timeout: 5_000 }),
    ).resolves.toBe('done drain');
    expect(recorder.count('slow')).toBe(1);
  });

  it('aborts an activity still running after shutdownTimeout and gives it back without counting an attempt', async () => {
    const app = await createTestApp({
      workflows: [GatedActivityWorkflow],
      underway: { shutdownTimeout: 200 },
    });
    const run = await app.client.enqueue(GatedActivityWorkflow, {
      label: 'late',
    });
    await waitFor(() => recorder.count('slow') === 1);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(signals[0]?.aborted).toBe(true);
    expect((signals[0]?.reason as StepAbortedError).code).toBe('shutdown');
    const [call] = await query<{ state: string; attempt: number }>(
      `select state, attempt from ${app.schema}.activity_call where run_id = $1`,
      [run.id],
    );
    expect(call).toEqual({ state: 'pending', attempt: 0 });
    expect(await query(`select 1 from ${app.schema}.activity_attempt`)).toEqual(
      [],
    );
    const [row] = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(row?.state).toBe('waiting');
  });

  it('takes back an activity whose lease lapsed: the stale attempt is fenced out, the call retried once', async () => {
    const { client, schema, logs } = await createTestApp({
      workflows: [GatedActivityWorkflow],
      underway: { runtime: { pollInterval: 50 } },
    });
    const run = await client.enqueue(GatedActivityWorkflow, { label: 'stale' });
    await waitFor(() => recorder.count('slow') === 1);
    // As if this worker had stalled past its lease: the rescuer takes the call back.
    await query(
      `update ${schema}.activity_call set lease_expires_at = now() - interval '1 second' where run_id = $1`,
      [run.id],
    );
    await waitFor(() => recorder.count('slow') === 2, { timeoutMs: 5_000 });
    // The first attempt learns at its next heartbeat that it lost the call.
    await waitFor(() => signals[0]?.aborted === true, { timeoutMs: 5_000 });
    expect((signals[0]?.reason as StepAbortedError).code).toBe('lease_lost');
    gate.resolve();
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('done stale');
    const details = await client.getRun(run.id);
    expect(
      details?.activityCalls[0]?.attempts.map((a) => [a.attempt, a.state]),
    ).toEqual([
      [1, 'lease_expired'],
      [2, 'succeeded'],
    ]);
    expect(recorder.count('only')).toBe(2); // one suspension, one replay
    expect(
      logs
        .messages('warn')
        .filter((m) =>
          /activity slow \(call 0 of step 0\) attempt 1\/\d+: lease expired, will be retried/.test(
            m,
          ),
        ),
    ).toHaveLength(1);
  });

  it('runs a call only on instances that run its workflow (runtime.workflows)', async () => {
    const producer = await createTestApp({
      workflows: [OtherWorkflow, GatedActivityWorkflow],
      underway: {
        runtime: { workflows: ['other-activity'], instanceName: 'runs-other' },
      },
    });
    const other = await createTestApp({
      workflows: [OtherWorkflow, GatedActivityWorkflow],
      underway: {
        schema: producer.schema,
        runtime: { workflows: ['gated-activity'] },
      },
    });
    const run = await producer.client.enqueue(OtherWorkflow);
    await expect(run.result({ timeout: 5_000 })).resolves.toBe(1);
    const [attempt] = await query<{ worker: string }>(
      `select worker from ${producer.schema}.activity_attempt where run_id = $1`,
      [run.id],
    );
    const [step] = await query<{ worker: string }>(
      `select worker from ${producer.schema}.step_attempt where run_id = $1`,
      [run.id],
    );
    expect(step?.worker).toBe('runs-other');
    expect(attempt?.worker).toBe('runs-other');
    expect(other.schema).toBe(producer.schema);
  });
});
