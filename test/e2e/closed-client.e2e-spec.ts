import {
  Step,
  Transition,
  UnderwayClosedError,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';
import { DataSource } from 'typeorm';
import { createTestApp } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { trackTimers } from '../support/timer-tracker';
import { deferred, sleep, waitFor } from '../support/wait-for';

let gate = deferred();
let stepStarted = false;

@Workflow({ name: 'closed-noop' })
class NoopWorkflow {
  @Step()
  async finish() {
    return Transition.complete();
  }
}

@Workflow({ name: 'closed-parent' })
class ParentWorkflow {
  constructor(private readonly client: WorkflowClient) {}

  @Step()
  async spawn() {
    stepStarted = true;
    await gate.promise;
    await this.client.enqueue(NoopWorkflow, { from: 'parent' });
    return Transition.complete();
  }
}

const CLOSED = (operation: string): string =>
  `Underway was closed (the application shut down): ${operation} cannot run after close. ` +
  'Make the call while the application runs, before app.close().';

/** Awaits `call` and returns what it threw, failing if it did not. */
async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to reject, and it resolved');
}

function expectClosed(err: unknown, operation: string): void {
  expect(err).toBeInstanceOf(UnderwayClosedError);
  expect(err).toMatchObject({
    code: 'underway_closed',
    operation,
    message: CLOSED(operation),
  });
}

describe('a closed WorkflowClient', () => {
  beforeEach(() => {
    gate = deferred();
    stepStarted = false;
  });

  it('refuses every client call after app.close() with UnderwayClosedError naming the call', async () => {
    const app = await createTestApp({ workflows: [NoopWorkflow] });
    const { client } = app;
    const run = await client.enqueue(NoopWorkflow, {}, { delay: '1h' });
    await app.close();

    const calls: [string, () => Promise<unknown>][] = [
      ['WorkflowClient.enqueue()', () => client.enqueue(NoopWorkflow, {})],
      [
        'WorkflowClient.enqueueMany()',
        () => client.enqueueMany(NoopWorkflow, [{}]),
      ],
      ['WorkflowClient.getRun()', () => client.getRun(run.id)],
      ['WorkflowClient.cancel()', () => client.cancel(run.id)],
      ['WorkflowClient.redrive()', () => client.redrive('closed-dlq')],
      [
        'WorkflowClient.getDeadLetters()',
        () => client.getDeadLetters('closed-dlq'),
      ],
      ['WorkflowClient.status()', () => client.status(run.id)],
      ['WorkflowClient.result()', () => client.result(run.id)],
    ];
    for (const [operation, call] of calls) {
      expectClosed(await rejection(call), operation);
    }
    // Checked before anything else: not a validation or lookup error.
    expectClosed(
      await rejection(() => client.enqueue('not-registered', 1n)),
      'WorkflowClient.enqueue()',
    );
    expectClosed(
      await rejection(() => client.getRun('not-a-uuid')),
      'WorkflowClient.getRun()',
    );
    let thrown: unknown;
    try {
      client.run(run.id, 'closed-noop');
    } catch (err) {
      thrown = err;
    }
    expectClosed(thrown, 'WorkflowClient.run()');
  });

  it('refuses every run-handle call after app.close(), naming the handle method', async () => {
    const app = await createTestApp({ workflows: [NoopWorkflow] });
    const run = await app.client.enqueue(NoopWorkflow, {}, { delay: '1h' });
    const [fromMany] = await app.client.enqueueMany(NoopWorkflow, [{}], {
      delay: '1h',
    });
    const byId = app.client.run(run.id, 'closed-noop');
    await app.close();

    for (const handle of [run, fromMany!, byId]) {
      expectClosed(
        await rejection(() => handle.status()),
        'WorkflowRun.status()',
      );
      expectClosed(
        await rejection(() => handle.result({ timeout: '5s' })),
        'WorkflowRun.result()',
      );
      expectClosed(
        await rejection(() => handle.cancel()),
        'WorkflowRun.cancel()',
      );
    }
    // The refused cancel changed nothing.
    const rows = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run where id = $1`,
      [run.id],
    );
    expect(rows).toEqual([{ state: 'pending' }]);
  });

  it('refuses calls on the caller’s EntityManager too, writing nothing', async () => {
    const app = await createTestApp({ workflows: [NoopWorkflow] });
    const run = await app.client.enqueue(NoopWorkflow, {}, { delay: '1h' });
    await app.close();
    // The app's own DataSource closed with it: a transaction of another one.
    const other = await new DataSource({
      type: 'postgres',
      url: databaseUrl(),
      extra: { max: 1 },
    }).initialize();
    try {
      for (const [operation, call] of [
        [
          'WorkflowClient.enqueue()',
          (manager) => app.client.enqueue(NoopWorkflow, {}, { manager }),
        ],
        [
          'WorkflowClient.enqueueMany()',
          (manager) => app.client.enqueueMany(NoopWorkflow, [{}], { manager }),
        ],
        [
          'WorkflowClient.cancel()',
          (manager) => app.client.cancel(run.id, { manager }),
        ],
        [
          'WorkflowClient.redrive()',
          (manager) => app.client.redrive('closed-dlq', { manager }),
        ],
        [
          'WorkflowClient.getDeadLetters()',
          (manager) => app.client.getDeadLetters('closed-dlq', { manager }),
        ],
      ] as [
        string,
        (manager: import('typeorm').EntityManager) => Promise<unknown>,
      ][]) {
        expectClosed(
          await rejection(() => other.transaction((manager) => call(manager))),
          operation,
        );
      }
    } finally {
      await other.destroy();
    }
    const rows = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run`,
    );
    expect(rows).toEqual([{ state: 'pending' }]);
  });

  it('rejects a result() pending at close at once, leaving no timer behind', async () => {
    const timers = trackTimers();
    // No worker: close() takes milliseconds, far less than a 1 s poll wait.
    const app = await createTestApp({
      workflows: [NoopWorkflow],
      underway: { runtime: false },
    });
    const run = await app.client.enqueue(NoopWorkflow, {}, { delay: '1h' });
    let settled = false;
    const pending = run.result().then(
      () => new Error('result() resolved'),
      (err: unknown) => err,
    );
    void pending.then(() => {
      settled = true;
    });
    // Long enough for result() to back off to its 1 s poll interval.
    await sleep(1_500);
    expect(settled).toBe(false);

    const closedAt = Date.now();
    await app.close();
    // Woken by close itself, not by its next poll (up to 1 s later).
    expect(settled).toBe(true);
    const err = await pending;
    expect(Date.now() - closedAt).toBeLessThan(2_000);
    expectClosed(err, 'WorkflowRun.result()');
    await waitFor(() => timers.live().length === 0, {
      timeoutMs: 500,
    }).catch(() => undefined);
    timers.stop();
    expect(timers.live()).toEqual([]);
  });

  it('still serves steps that finish during shutdown: the client closes after they drain', async () => {
    const app = await createTestApp({
      workflows: [ParentWorkflow, NoopWorkflow],
      underway: { shutdownTimeout: '5s' },
    });
    const parent = await app.client.enqueue(ParentWorkflow);
    await waitFor(() => stepStarted);

    const closing = app.close();
    await sleep(50);
    gate.resolve();
    await closing;

    const rows = await query<{ id: string; workflow_name: string }>(
      `select id, workflow_name from ${app.schema}.workflow_run order by id`,
    );
    expect(rows.map((r) => r.workflow_name)).toEqual([
      'closed-parent',
      'closed-noop',
    ]);
    expect(rows[0]!.id).toBe(parent.id);
    const [state] = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run where id = $1`,
      [parent.id],
    );
    expect(state).toEqual({ state: 'succeeded' });
  });
});
