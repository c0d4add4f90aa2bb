import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { libraryConnections, query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { trackTimers } from '../support/timer-tracker';
import { deferred, sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let gate = deferred();
let running = 0;
let maxRunning = 0;

@Workflow({ name: 'ordered' })
class OrderedWorkflow {
  @Step()
  async record(input: { label: string }, ctx: StepContext) {
    recorder.record(input.label, input, ctx);
    return Transition.complete();
  }
}

@Workflow({ name: 'busy' })
class BusyWorkflow {
  @Step()
  async work(input: { ms: number }, ctx: StepContext) {
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    recorder.record('work', input, ctx);
    await sleep(input.ms);
    running -= 1;
    return Transition.complete();
  }
}

@Workflow({ name: 'gated-worker' })
class GatedWorkflow {
  @Step()
  async hold(_input: unknown, ctx: StepContext) {
    recorder.record('hold', null, ctx);
    await Promise.race([
      gate.promise,
      new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    ]);
    ctx.signal.throwIfAborted();
    recorder.record('released', null, ctx);
    return Transition.complete();
  }
}

@Workflow({ name: 'other' })
class OtherWorkflow {
  @Step()
  async run(_input: unknown, ctx: StepContext) {
    recorder.record('other', null, ctx);
    return Transition.complete();
  }
}

describe('the worker', () => {
  beforeEach(() => {
    recorder.clear();
    gate = deferred();
    running = 0;
    maxRunning = 0;
  });

  it('claims by priority first, then by due time', async () => {
    const producer = await createTestApp({
      workflows: [OrderedWorkflow],
      underway: { runtime: false },
    });
    const enqueue = (label: string, priority: number) =>
      producer.client.enqueue(OrderedWorkflow, { label }, { priority });
    await enqueue('low-1', 0);
    await enqueue('high-1', 10);
    await enqueue('low-2', 0);
    await enqueue('mid-1', 5);
    await enqueue('high-2', 10);

    const worker = await createTestApp({
      workflows: [OrderedWorkflow],
      underway: { runtime: { concurrency: 1 } },
    });
    await waitFor(() => recorder.calls.length === 5);
    expect(recorder.steps()).toEqual([
      'high-1',
      'high-2',
      'mid-1',
      'low-1',
      'low-2',
    ]);
    await worker.close();
  });

  it('never runs more steps at once than its concurrency', async () => {
    const { client } = await createTestApp({
      workflows: [BusyWorkflow],
      underway: { runtime: { concurrency: 3 } },
    });
    const runs = await client.enqueueMany(
      BusyWorkflow,
      Array.from({ length: 12 }, () => ({ ms: 50 })),
    );
    await Promise.all(runs.map((run) => run.result({ timeout: 10_000 })));
    expect(recorder.count('work')).toBe(12);
    expect(maxRunning).toBe(3);
  });

  it('wakes on a notification within milliseconds, not at the next poll', async () => {
    const { client, events } = await createTestApp({
      workflows: [OrderedWorkflow],
      underway: { runtime: { pollInterval: '30s' } },
      eventLog: true,
    });
    await events.next('listener:connected');
    const latencies: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const started = Date.now();
      const run = await client.enqueue(OrderedWorkflow, { label: `n${i}` });
      await waitFor(() => recorder.count(`n${i}`) === 1, { intervalMs: 2 });
      latencies.push(Date.now() - started);
      await run.result({ timeout: 5_000 });
    }
    expect(Math.max(...latencies)).toBeLessThan(500);
  });

  it('claims only the workflows listed in runtime.workflows', async () => {
    const { client, logs } = await createTestApp({
      workflows: [OrderedWorkflow, OtherWorkflow],
      underway: { runtime: { workflows: ['other'] } },
    });
    const ordered = await client.enqueue(OrderedWorkflow, { label: 'skipped' });
    const other = await client.enqueue(OtherWorkflow);
    await other.result({ timeout: 5_000 });
    await sleep(300);
    expect(await ordered.status()).toBe('pending');
    expect(recorder.steps()).toEqual(['other']);
    expect(
      logs.messages('log').some((m) => m.includes('1 workflow (other)')),
    ).toBe(true);
  });

  it('lets in-flight steps finish on shutdown and claims nothing new', async () => {
    const app = await createTestApp({
      workflows: [GatedWorkflow, OrderedWorkflow],
    });
    const held = await app.client.enqueue(GatedWorkflow);
    await waitFor(() => recorder.count('hold') === 1);

    const closing = app.close();
    await sleep(100);
    await app.client
      .enqueue(OrderedWorkflow, { label: 'after-close' })
      .catch(() => undefined);
    gate.resolve();
    await closing;

    expect(recorder.count('released')).toBe(1);
    expect(recorder.count('after-close')).toBe(0);
    const [row] = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run where id = $1`,
      [held.id],
    );
    expect(row?.state).toBe('succeeded');
    expect(
      await query(
        `select 1 from ${app.schema}.workflow_run where state = 'running'`,
      ),
    ).toHaveLength(0);
  });

  it('aborts steps still running after shutdownTimeout and gives their claims back without counting an attempt', async () => {
    const app = await createTestApp({
      workflows: [GatedWorkflow],
      underway: { shutdownTimeout: 200 },
    });
    const held = await app.client.enqueue(GatedWorkflow);
    await waitFor(() => recorder.count('hold') === 1);
    const started = Date.now();
    await app.close();

    expect(Date.now() - started).toBeLessThan(2_000);
    const [row] = await query<{ state: string; attempt: number }>(
      `select state, attempt from ${app.schema}.workflow_run where id = $1`,
      [held.id],
    );
    expect(row).toEqual({ state: 'pending', attempt: 0 });
    expect(
      await query(`select 1 from ${app.schema}.step_attempt`),
    ).toHaveLength(0);
  });

  it('holds no database connection while a step runs', async () => {
    const app = await createTestApp({
      workflows: [GatedWorkflow],
      underway: { runtime: { instanceName: 'no-conn-held' } },
    });
    await app.client.enqueue(GatedWorkflow);
    await waitFor(() => recorder.count('hold') === 1);
    await sleep(100);
    const busy = await query<{ state: string; application_name: string }>(
      `select state, application_name from pg_stat_activity
       where application_name like 'underway:no-conn-held:%' and state <> 'idle'`,
    );
    // Only the LISTEN connection may be active; no "idle in transaction", no query.
    expect(busy).toEqual([]);
    gate.resolve();
  });

  it('leaks no connection, timer or promise once closed', async () => {
    const timers = trackTimers();
    const app = await createTestApp({
      workflows: [OrderedWorkflow, GatedWorkflow],
      underway: {
        runtime: { instanceName: 'leak-check' },
        shutdownTimeout: 100,
      },
    });
    const runs = await app.client.enqueueMany(OrderedWorkflow, [
      { label: 'a' },
      { label: 'b' },
    ]);
    await Promise.all(runs.map((run) => run.result({ timeout: 5_000 })));
    await app.client.enqueue(GatedWorkflow);
    await waitFor(() => recorder.count('hold') === 1);
    expect(await libraryConnections('leak-check')).toBeGreaterThan(0);

    await app.close();

    await waitFor(async () => (await libraryConnections('leak-check')) === 0, {
      timeoutMs: 2_000,
      message: 'library connections still open after close',
    });
    // A timer that fired is forgotten after its callback; give the last ones a moment.
    await waitFor(() => timers.live().length === 0, {
      timeoutMs: 500,
    }).catch(() => undefined);
    timers.stop();
    expect(timers.live()).toEqual([]);
  });

  it('runs each run exactly once when several workers share the database', async () => {
    const workers = await Promise.all(
      [1, 2, 3].map((i) =>
        createTestApp({
          workflows: [BusyWorkflow],
          underway: { runtime: { concurrency: 4, instanceName: `w${i}` } },
        }),
      ),
    );
    const runs = await workers[0]!.client.enqueueMany(
      BusyWorkflow,
      Array.from({ length: 60 }, () => ({ ms: 5 })),
    );
    await Promise.all(runs.map((run) => run.result({ timeout: 10_000 })));
    const ids = recorder.calls.map((c) => c.runId);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    const workersUsed = await query<{ worker: string }>(
      `select distinct worker from ${workers[0]!.schema}.step_attempt`,
    );
    expect(workersUsed.length).toBeGreaterThan(1);
  });

  describe('with prefetch (runs claimed ahead of free slots)', () => {
    it('still runs at most concurrency steps at once, and every run once', async () => {
      const { client } = await createTestApp({
        workflows: [BusyWorkflow],
        underway: { runtime: { concurrency: 2, prefetch: 20 } },
      });
      const runs = await client.enqueueMany(
        BusyWorkflow,
        Array.from({ length: 30 }, () => ({ ms: 10 })),
      );
      await Promise.all(runs.map((run) => run.result({ timeout: 10_000 })));
      expect(maxRunning).toBe(2);
      expect(new Set(recorder.calls.map((c) => c.runId)).size).toBe(30);
      expect(recorder.calls).toHaveLength(30);
    });

    it('renews the leases of runs waiting locally, so none is taken over', async () => {
      const app = await createTestApp({
        workflows: [BusyWorkflow],
        underway: {
          runtime: { concurrency: 1, prefetch: 5, pollInterval: 50 },
          defaults: { heartbeat: 150 },
        },
      });
      const runs = await app.client.enqueueMany(
        BusyWorkflow,
        Array.from({ length: 4 }, () => ({ ms: 200 })),
      );
      await Promise.all(runs.map((run) => run.result({ timeout: 10_000 })));
      const expired = await query(
        `select 1 from ${app.schema}.step_attempt where state <> 'succeeded'`,
      );
      expect(expired).toEqual([]);
    });

    it('gives runs that never started back on shutdown, without counting an attempt', async () => {
      const app = await createTestApp({
        workflows: [GatedWorkflow],
        underway: {
          runtime: { concurrency: 1, prefetch: 10 },
          shutdownTimeout: 100,
        },
      });
      const runs = await app.client.enqueueMany(GatedWorkflow, [1, 2, 3, 4]);
      await waitFor(() => recorder.count('hold') === 1);
      await waitFor(
        async () =>
          (
            await query(
              `select 1 from ${app.schema}.workflow_run where state = 'running'`,
            )
          ).length === 4,
      );
      await app.close();
      const rows = await query<{ state: string; attempt: number }>(
        `select state, attempt from ${app.schema}.workflow_run where id = any($1)`,
        [runs.map((run) => run.id)],
      );
      expect(rows).toEqual(
        Array.from({ length: 4 }, () => ({ state: 'pending', attempt: 0 })),
      );
    });
  });
});
