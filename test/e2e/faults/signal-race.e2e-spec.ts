import {
  defineSignal,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../../support/create-test-app';
import { Client } from 'pg';
import { databaseUrl, query } from '../../support/database';
import { deferred, waitFor } from '../../support/wait-for';

/**
 * RELIABILITY.md scenario 17: a signal sent while the step is deciding to
 * wait. The send and the step's suspension are ordered by a lock on the
 * run's row, and whoever comes second reads after it: the step is woken and
 * sees the signal in every order, no signal is delivered twice or lost, and
 * a resend with the same key is one signal.
 */

const Ping = defineSignal<{ n: number }>('ping');

/** Per run: what the step does before it waits (the test's hook), and how often it ran. */
const hooks = new Map<string, () => Promise<void>>();
const executions = new Map<string, number>();

@Workflow({ name: 'racer' })
class RacerWorkflow {
  @Step()
  async wait(_input: unknown, ctx: StepContext) {
    executions.set(ctx.runId, (executions.get(ctx.runId) ?? 0) + 1);
    await hooks.get(ctx.runId)?.();
    const ping = await ctx.waitFor(Ping);
    return Transition.complete({ got: ping?.n });
  }
}

/**
 * Backends waiting for a lock on a row of `schema` (the step's commit, a
 * sender), in this database: other tests' waits are not counted.
 */
async function lockWaiters(schema: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
     where wait_event_type = 'Lock' and datname = current_database()
       and pid <> pg_backend_pid() and strpos(query, $1) > 0`,
    [schema],
  );
  return row!.n;
}

describe('scenario 17: a signal racing the step that waits for it', () => {
  beforeEach(() => {
    hooks.clear();
    executions.clear();
  });

  it('the sender holds the run locked while the step suspends: the suspension waits, then takes the signal', async () => {
    const { client, dataSource, schema } = await createTestApp({
      workflows: [RacerWorkflow],
    });
    const reached = deferred();
    const proceed = deferred();
    const run = await client.enqueue(RacerWorkflow, {});
    hooks.set(run.id, async () => {
      hooks.delete(run.id); // the first execution only
      reached.resolve();
      await proceed.promise;
    });
    await reached.promise; // the step is running and has read its record
    await dataSource.transaction(async (manager) => {
      await client.signal(run.id, Ping, { n: 1 }, { manager });
      // The sender saw no wait: the signal is buffered, the run row locked.
      proceed.resolve();
      // The step's suspension now blocks on the run's row, until we commit.
      await waitFor(async () => (await lockWaiters(schema)) >= 1);
    });
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({ got: 1 });
    expect(executions.get(run.id)).toBe(2);
  });

  it('the suspension commits first while the sender queues for the lock: the sender then sees the wait', async () => {
    const { client, schema } = await createTestApp({
      workflows: [RacerWorkflow],
    });
    const reached = deferred();
    const proceed = deferred();
    const run = await client.enqueue(RacerWorkflow, {});
    hooks.set(run.id, async () => {
      hooks.delete(run.id);
      reached.resolve();
      await proceed.promise;
    });
    await reached.promise;
    // Hold the run's row: the suspension queues first, the sender behind it.
    const holder = new Client({ connectionString: databaseUrl() });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(
        `select 1 from ${schema}.workflow_run where id = $1 for no key update`,
        [run.id],
      );
      proceed.resolve();
      await waitFor(async () => (await lockWaiters(schema)) >= 1);
      const sent = client.signal(run.id, Ping, { n: 2 });
      await waitFor(async () => (await lockWaiters(schema)) >= 2);
      await holder.query('commit');
      await expect(sent).resolves.toMatchObject({ duplicate: false });
    } finally {
      await holder.end();
    }
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({ got: 2 });
    expect(executions.get(run.id)).toBe(2);
  });

  it('races sends against suspensions, both ways, many times: every run resumes once with its one signal', async () => {
    const { client, schema } = await createTestApp({
      workflows: [RacerWorkflow],
      underway: { runtime: { concurrency: 8 } },
    });
    const RUNS = 200;
    const sends: Promise<unknown>[] = [];
    const runs = await client.enqueueMany(
      RacerWorkflow,
      Array.from({ length: RUNS }, () => ({})),
    );
    runs.forEach((run, i) => {
      // When the step starts, a sender fires after 0–4 ms (twice, with the
      // same key), and the step itself waits 0–4 ms before it suspends: the
      // sends land before, during and after the suspension's commit.
      hooks.set(run.id, async () => {
        hooks.delete(run.id);
        const send = () =>
          client.signal(run.id, Ping, { n: i }, { idempotencyKey: `k${i}` });
        sends.push(
          new Promise((resolve) => setTimeout(resolve, i % 5)).then(() =>
            Promise.all([send(), send()]),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, (i * 7) % 5));
      });
    });
    const results = await Promise.all(
      runs.map((run) => run.result({ timeout: 60_000 })),
    );
    expect(results).toEqual(runs.map((_, i) => ({ got: i })));
    const pairs = (await Promise.all(sends)) as {
      duplicate: boolean;
      signalId: string;
    }[][];
    for (const [a, b] of pairs) {
      expect([a!.duplicate, b!.duplicate].sort()).toEqual([false, true]);
      expect(a!.signalId).toBe(b!.signalId);
    }
    // One signal per run, consumed by the run's one wait; each step ran twice.
    const [stored] = await query<{
      signals: number;
      consumed: number;
      received: number;
    }>(
      `select (select count(*)::int from ${schema}.signal) as signals,
        (select count(*)::int from ${schema}.signal where state = 'consumed') as consumed,
        (select count(*)::int from ${schema}.activity_call
          where kind = 'wait' and state = 'succeeded') as received`,
    );
    expect(stored).toEqual({ signals: RUNS, consumed: RUNS, received: RUNS });
    expect(new Set(executions.values())).toEqual(new Set([2]));
  }, 120_000);
});
