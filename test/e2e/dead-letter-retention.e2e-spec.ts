import {
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
let healthy = false;

@Workflow({
  name: 'charge',
  deadLetter: 'charges-dlq',
  retry: { maxAttempts: 2, initialInterval: 10 },
})
class ChargeWorkflow {
  @Step()
  async charge(input: { orderId: number }, ctx: StepContext) {
    recorder.record('charge', input, ctx);
    if (!healthy) {
      throw new Error('payment provider down');
    }
    return Transition.complete({ charged: input.orderId });
  }
}

@Workflow({ name: 'strict', deadLetter: 'strict-dlq' })
class StrictWorkflow {
  @Step()
  async check() {
    throw StepError.fatal('invalid_order', 'Order 7 has no lines');
  }
}

@Workflow({ name: 'short-lived', ttl: 200 })
class ShortLivedWorkflow {
  @Step()
  async run(input: { fail?: boolean }) {
    if (input.fail) {
      throw StepError.fatal('nope', 'fails on purpose');
    }
    return Transition.complete();
  }
}

@Workflow({ name: 'ghost' })
class GhostWorkflow {
  @Step()
  async run() {
    return Transition.complete();
  }
}

describe('dead-letter queue', () => {
  beforeEach(() => {
    recorder.clear();
    healthy = false;
  });

  it('records a run that fails for good in its dead-letter queue, atomically with the failure', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ChargeWorkflow, StrictWorkflow],
    });
    const exhausted = await client.enqueue(ChargeWorkflow, { orderId: 1 });
    const fatal = await client.enqueue(StrictWorkflow, { orderId: 7 });
    await expect(exhausted.result({ timeout: 5_000 })).rejects.toMatchObject({
      state: 'failed',
    });
    await expect(fatal.result({ timeout: 5_000 })).rejects.toMatchObject({
      errorCode: 'invalid_order',
    });

    const entries = await client.getDeadLetters('charges-dlq');
    expect(entries).toEqual([
      expect.objectContaining({
        queue: 'charges-dlq',
        runId: exhausted.id,
        workflowName: 'charge',
        input: { orderId: 1 },
        error: expect.objectContaining({
          code: 'error',
          message: 'payment provider down',
        }),
        redrivenAt: undefined,
      }),
    ]);
    expect(await client.getDeadLetters('strict-dlq')).toEqual([
      expect.objectContaining({
        runId: fatal.id,
        error: expect.objectContaining({ code: 'invalid_order' }),
      }),
    ]);
    // Every failed run of a workflow with a dead-letter queue is in it: no failure without its entry.
    const orphans = await query(
      `select r.id from ${schema}.workflow_run r left join ${schema}.dead_letter d on d.run_id = r.id
       where r.state = 'failed' and r.dead_letter is not null and d.id is null`,
    );
    expect(orphans).toEqual([]);
  });

  it('redrives dead-lettered runs as new runs with the same input, once', async () => {
    const { client } = await createTestApp({ workflows: [ChargeWorkflow] });
    const failed = await Promise.all(
      [1, 2].map((orderId) => client.enqueue(ChargeWorkflow, { orderId })),
    );
    await Promise.all(
      failed.map((run) =>
        run.result({ timeout: 5_000 }).catch(() => undefined),
      ),
    );

    healthy = true;
    const redriven = await client.redrive('charges-dlq');
    expect(redriven).toHaveLength(2);
    // Entries come back oldest failure first; the two runs failed concurrently.
    const outputs = await Promise.all(
      redriven.map((run) => run.result({ timeout: 5_000 })),
    );
    expect(outputs).toHaveLength(2);
    expect(outputs).toEqual(
      expect.arrayContaining([{ charged: 1 }, { charged: 2 }]),
    );
    await expect(client.redrive('charges-dlq')).resolves.toEqual([]);
    const entries = await client.getDeadLetters('charges-dlq');
    expect(entries.map((e) => e.redrivenRunId)).toEqual(
      redriven.map((run) => run.id),
    );
    expect(entries.every((e) => e.redrivenAt instanceof Date)).toBe(true);
  });

  it('redrives only the runs asked for, inside the caller’s transaction', async () => {
    const { client, dataSource } = await createTestApp({
      workflows: [ChargeWorkflow],
    });
    const failed = await Promise.all(
      [1, 2].map((orderId) => client.enqueue(ChargeWorkflow, { orderId })),
    );
    await Promise.all(
      failed.map((run) =>
        run.result({ timeout: 5_000 }).catch(() => undefined),
      ),
    );
    healthy = true;

    await dataSource
      .transaction(async (manager) => {
        await client.redrive('charges-dlq', {
          runIds: [failed[1]!.id],
          manager,
        });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(
      (await client.getDeadLetters('charges-dlq')).every(
        (e) => e.redrivenAt === undefined,
      ),
    ).toBe(true);

    const [again] = await client.redrive('charges-dlq', {
      runIds: [failed[1]!.id],
    });
    await expect(again!.result({ timeout: 5_000 })).resolves.toEqual({
      charged: 2,
    });
    const entries = await client.getDeadLetters('charges-dlq');
    expect(entries.map((e) => [e.runId, e.redrivenRunId])).toEqual(
      expect.arrayContaining([
        [failed[0]!.id, undefined],
        [failed[1]!.id, again!.id],
      ]),
    );
  });
});

describe('retention and housekeeping', () => {
  it('deletes finished runs past their ttl, and never an unfinished one', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ShortLivedWorkflow],
      underway: { runtime: { maintenanceInterval: 100 } },
    });
    const done = await client.enqueue(ShortLivedWorkflow, {});
    const failed = await client.enqueue(ShortLivedWorkflow, { fail: true });
    const future = await client.enqueue(
      ShortLivedWorkflow,
      {},
      { delay: '1h' },
    );
    await done.result({ timeout: 5_000 });
    await failed.result({ timeout: 5_000 }).catch(() => undefined);
    // An old unfinished run with an expiry set by hand: still never deleted.
    await query(
      `update ${schema}.workflow_run set expires_at = now() - interval '1 day' where id = $1`,
      [future.id],
    );

    await waitFor(
      async () =>
        (
          await query(
            `select id from ${schema}.workflow_run where id = any($1)`,
            [[done.id, failed.id]],
          )
        ).length === 0,
      { timeoutMs: 5_000, message: 'finished runs were not pruned' },
    );
    expect(
      await query(
        `select 1 from ${schema}.step_attempt where run_id = any($1)`,
        [[done.id, failed.id]],
      ),
    ).toEqual([]);
    expect(await future.status()).toBe('pending');
  });

  it('keeps finished runs until their ttl has passed', async () => {
    const { client, schema } = await createTestApp({
      workflows: [GhostWorkflow],
      underway: { runtime: { maintenanceInterval: 50 } },
    });
    const run = await client.enqueue(GhostWorkflow);
    await run.result({ timeout: 5_000 });
    await sleep(300);
    expect(
      await query(`select 1 from ${schema}.workflow_run where id = $1`, [
        run.id,
      ]),
    ).toHaveLength(1);
  });

  it('does not claim runs of a workflow it does not register, and warns naming it', async () => {
    const producer = await createTestApp({
      workflows: [GhostWorkflow],
      underway: { runtime: false },
    });
    const ghost = await producer.client.enqueue(GhostWorkflow);
    const worker = await createTestApp({
      workflows: [ShortLivedWorkflow],
      underway: { runtime: { maintenanceInterval: 100, pollInterval: 50 } },
    });
    await waitFor(
      () =>
        worker.logs
          .messages('warn')
          .some((m) => m.includes('workflow "ghost"')),
      {
        timeoutMs: 5_000,
      },
    );
    const warning = worker.logs
      .messages('warn')
      .find((m) => m.includes('workflow "ghost"'));
    expect(warning).toBe(
      '1 run(s) of workflow "ghost" are due, but this instance does not run it (it runs: short-lived). ' +
        'Register the workflow in an instance whose runtime runs it.',
    );
    expect(await ghost.status()).toBe('pending');
  });
});
