import { setTimeout as sleep } from 'node:timers/promises';
import { ParentFaultWorkflow } from '../../fault-worker/fault.workflows';
import { effectsTable, ledgerTable } from '../../fault-worker/protocol';
import {
  cleanupFaults,
  FaultEnv,
  prepareFaultEnv,
} from '../../support/fault-env';
import { checkInvariants, violations } from '../../support/invariants';
import { createPgCluster } from '../../support/pg-cluster';
import { waitFor } from '../../support/wait-for';
import type { WorkerProcess } from '../../support/worker-process';

/**
 * RELIABILITY.md scenario 18: `kill -9` of a worker while parents wait on
 * their children and while the children finish; and a PostgreSQL restart
 * mid-fan-out. Every child runs to success once (its side effect once), every
 * parent resumes and sees every child's result, and no parent step runs more
 * than its suspension, its resumption and what a kill cost.
 */

const CHILDREN = 50;
const PARENTS = 2;
const WORKFLOWS = ['fault-parent', 'fault-single'];
const STEP_COUNTS = { 'fault-parent': 1, 'fault-single': 1 };
const RECONNECT = { reconnectInitialMs: 50, reconnectMaxMs: 500 };

async function counts(env: FaultEnv): Promise<{
  done: number;
  running: number;
  parentsWaiting: number;
}> {
  const [row] = await env.query<{
    done: number;
    running: number;
    parents_waiting: number;
  }>(
    `select
       (select count(*)::int from ${env.schema}.workflow_run
        where workflow_name = 'fault-single' and state = 'succeeded') as done,
       (select count(*)::int from ${env.schema}.workflow_run
        where workflow_name = 'fault-single' and state = 'running') as running,
       (select count(*)::int from ${env.schema}.workflow_run
        where workflow_name = 'fault-parent' and state = 'waiting') as parents_waiting`,
  );
  return {
    done: row!.done,
    running: row!.running,
    parentsWaiting: row!.parents_waiting,
  };
}

async function expectTreesComplete(
  env: FaultEnv,
  parentIds: readonly string[],
  workers: readonly WorkerProcess[],
): Promise<void> {
  await waitFor(
    async () => {
      const [row] = await env.query<{ n: number }>(
        `select count(*)::int as n from ${env.schema}.workflow_run
         where state not in ('succeeded', 'failed', 'cancelled')`,
      );
      return row?.n === 0;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 100,
      message: `trees left unfinished\n${workers.map((w) => w.output()).join('\n')}`,
    },
  );
  const report = await checkInvariants(env.query, {
    schema: env.schema,
    final: true,
    stepCounts: STEP_COUNTS,
  });
  expect(violations(report)).toEqual([]);
  expect(report.byState).toEqual({ succeeded: PARENTS * (CHILDREN + 1) });
  // Every parent saw all its children, each of them its own child once.
  const parents = await env.query<{
    id: string;
    output: unknown;
    children: number;
  }>(
    `select p.id, p.output,
       (select count(*)::int from ${env.schema}.workflow_run c where c.parent_run_id = p.id) as children
     from ${env.schema}.workflow_run p where p.id = any($1::uuid[])`,
    [parentIds],
  );
  expect(parents.map((p) => [p.output, p.children])).toEqual(
    parentIds.map(() => [{ children: CHILDREN }, CHILDREN]),
  );
  // Every child reached its side effect (more than once only where a kill
  // took the attempt that had: checkInvariants holds attempts to account).
  const [effects] = await env.query<{ runs: number }>(
    `select count(distinct run_id)::int as runs from ${effectsTable(env.schema)}
     where phase = 'done' and run_id <> all($1::uuid[])`,
    [parentIds],
  );
  expect(effects?.runs).toBe(PARENTS * CHILDREN);
  // A parent's step ran to suspend, then to resume: more only if a kill
  // took an execution; and it reached its end once per success.
  const executions = await env.query<{
    run_id: string;
    started: number;
    done: number;
  }>(
    `select run_id, count(*) filter (where phase = 'started')::int as started,
       count(*) filter (where phase = 'done')::int as done
     from ${ledgerTable(env.schema)} where kind = 'step' group by run_id`,
  );
  for (const row of executions) {
    expect(row.started).toBeGreaterThanOrEqual(2);
    expect(row.started).toBeLessThanOrEqual(4);
    expect(row.done).toBeGreaterThanOrEqual(1);
  }
  expect(executions).toHaveLength(PARENTS);
}

describe('scenario 18: parents waiting on children across faults', () => {
  afterEach(cleanupFaults);

  it('kill -9 while parents wait on 50 children each, and again while the children finish: every child once, every parent resumes with every result', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const start = (instance: string) =>
      env.startWorker({
        instance,
        workflows: WORKFLOWS,
        concurrency: 6,
        pollMs: 100,
        stepEvents: false,
      });
    const doomed = start('kid-a');
    const survivor = start('kid-b');
    await Promise.all([doomed.ready(), survivor.ready()]);
    const parents = await env.client.enqueueMany(
      ParentFaultWorkflow,
      Array.from({ length: PARENTS }, () => ({
        children: CHILDREN,
        sleepMs: 150,
      })),
    );
    // Parents parked, children running on both workers.
    await waitFor(
      async () => {
        const c = await counts(env);
        return c.parentsWaiting === PARENTS && c.running >= 4 && c.done >= 2;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    doomed.kill('SIGKILL');
    await doomed.exitWithin(10_000);
    const second = start('kid-c');
    await second.ready();
    // Again once most children are done: parents resume as the last ones finish.
    await waitFor(
      async () => (await counts(env)).done >= PARENTS * CHILDREN - 10,
      { timeoutMs: 60_000, intervalMs: 10 },
    );
    second.kill('SIGKILL');
    await second.exitWithin(10_000);
    await expectTreesComplete(
      env,
      parents.map((p) => p.id),
      [survivor],
    );
    expect(survivor.crashes()).toEqual([]);
    await survivor.stop();
  }, 150_000);

  it('PostgreSQL restarted mid-fan-out: every child once, every parent resumes', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const env = await prepareFaultEnv({ url: cluster.url, leaseMs: 1_000 });
    const workers = ['kid-pg-a', 'kid-pg-b'].map((instance) =>
      env.startWorker({
        instance,
        workflows: WORKFLOWS,
        concurrency: 6,
        pollMs: 100,
        stepEvents: false,
        ...RECONNECT,
      }),
    );
    await Promise.all(workers.map((w) => w.ready()));
    const parents = await env.client.enqueueMany(
      ParentFaultWorkflow,
      Array.from({ length: PARENTS }, () => ({
        children: CHILDREN,
        sleepMs: 150,
      })),
    );
    await waitFor(
      async () => {
        const c = await counts(env);
        return c.parentsWaiting === PARENTS && c.running >= 4 && c.done >= 4;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    await cluster.stop('fast');
    await sleep(1_000);
    await cluster.start();
    await expectTreesComplete(
      env,
      parents.map((p) => p.id),
      workers,
    );
    for (const worker of workers) {
      expect(worker.alive).toBe(true);
    }
    expect(workers.flatMap((w) => w.crashes())).toEqual([]);
    await Promise.all(workers.map((w) => w.stop()));
  }, 150_000);
});
