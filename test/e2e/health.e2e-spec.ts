import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import {
  InvalidOptionsError,
  Step,
  Transition,
  UnderwayHealthIndicator,
  Workflow,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { createPgCluster, destroyClusters } from '../support/pg-cluster';
import { currentTestSchema } from '../support/test-schema';
import { waitFor } from '../support/wait-for';

// UnderwayHealthIndicator (SPEC §6): database reachable, worker running and
// listening, oldest due run younger than a threshold; read through
// @nestjs/terminus, and loaded without it.

const run = promisify(execFile);
/** For checks expected up: a loaded test machine is not a database outage. */
const PATIENT = { timeout: '10s' } as const;
const REPO_ROOT = resolve(__dirname, '..', '..');

@Workflow({ name: 'health-ping' })
class PingWorkflow {
  @Step()
  async ping() {
    return Transition.complete();
  }
}

function indicatorOf(app: TestApp): UnderwayHealthIndicator {
  return app.get(UnderwayHealthIndicator);
}

/** The listening backend of `instance`, once it is past its `LISTEN`. */
async function listenBackend(instance: string): Promise<number> {
  const [row] = await waitFor(async () => {
    const rows = await query<{ pid: number }>(
      `select pid from pg_stat_activity
       where application_name = $1 and (query ilike 'listen %' or query = 'select 1')`,
      [`underway:${instance}:listen`],
    );
    return rows.length === 1 ? rows : undefined;
  });
  return row!.pid;
}

describe('UnderwayHealthIndicator', () => {
  afterEach(destroyClusters);

  it('is up with a running, listening worker, and terminus reports it ok', async () => {
    const app = await createTestApp({
      workflows: [PingWorkflow],
      underway: { runtime: { instanceName: 'health-up' } },
    });
    await listenBackend('health-up');
    const health = await indicatorOf(app).isHealthy('underway', PATIENT);
    expect(health).toEqual({
      underway: {
        status: 'up',
        database: 'up',
        worker: 'running',
        listener: 'listening',
        oldestDueAgeMs: 0,
      },
    });

    // Through terminus itself, as an app's /health controller calls it.
    const { Test } = await import('@nestjs/testing');
    const terminus = await Test.createTestingModule({
      imports: [TerminusModule.forRoot({ logger: false })],
    }).compile();
    try {
      const checks = terminus.get(HealthCheckService);
      await expect(
        checks.check([() => indicatorOf(app).isHealthy('underway', PATIENT)]),
      ).resolves.toMatchObject({
        status: 'ok',
        info: { underway: { status: 'up', worker: 'running' } },
      });
      await app.close(); // the worker stops: down, and terminus answers 503
      const down = await checks
        .check([() => indicatorOf(app).isHealthy('underway')])
        .catch((err: unknown) => err);
      expect(down).toBeInstanceOf(ServiceUnavailableException);
      expect((down as ServiceUnavailableException).getResponse()).toMatchObject(
        {
          status: 'error',
          error: {
            underway: { status: 'down', database: 'down', worker: 'stopped' },
          },
        },
      );
    } finally {
      await terminus.close();
    }
  });

  it('reports down while the database is stopped, and up again once it is back', async () => {
    const cluster = await createPgCluster();
    await cluster.start();
    const app = await createTestApp({
      workflows: [PingWorkflow],
      underway: {
        dataSource: { type: 'postgres', url: cluster.url },
        runtime: { instanceName: 'health-db' },
        reconnectBackoff: { initial: 50, max: 200 },
      },
    });
    const indicator = indicatorOf(app);
    await waitFor(
      async () => (await indicator.isHealthy('db')).db.listener === 'listening',
    );

    await cluster.stop('fast');
    const down = await indicator.isHealthy('db');
    expect(down.db).toMatchObject({
      status: 'down',
      database: 'down',
      worker: 'running',
    });
    expect(down.db.message).toMatch(/^the database is unreachable \(.+\)/);
    expect(down.db.oldestDueAgeMs).toBeUndefined();

    await cluster.start();
    const up = await waitFor(
      async () => {
        const health = await indicator.isHealthy('db', PATIENT);
        return health.db.status === 'up' ? health : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(up.db).toMatchObject({ database: 'up', listener: 'listening' });
  }, 60_000);

  it('reports down while the LISTEN connection is gone, and up again once it reconnected', async () => {
    const app = await createTestApp({
      workflows: [PingWorkflow],
      underway: {
        runtime: { instanceName: 'health-listen' },
        // A long reconnection wait, so that the gap is long enough to see.
        reconnectBackoff: { initial: '4s', max: '4s' },
      },
    });
    const indicator = indicatorOf(app);
    const before = await listenBackend('health-listen');
    await query('select pg_terminate_backend($1)', [before]);

    const down = await waitFor(async () => {
      const health = await indicator.isHealthy('underway', PATIENT);
      return health.underway.status === 'down' ? health : undefined;
    });
    expect(down.underway).toMatchObject({
      database: 'up',
      worker: 'running',
      listener: 'down',
      message: 'the worker’s LISTEN connection is down (reconnecting)',
    });

    await waitFor(
      async () =>
        (await indicator.isHealthy('underway', PATIENT)).underway.status ===
        'up',
      { timeoutMs: 10_000 },
    );
    expect(await listenBackend('health-listen')).not.toBe(before);
  }, 30_000);

  it('reports down when the oldest due run has waited longer than maxOldestDueAge', async () => {
    // An enqueue-only instance: nothing claims the run, which stays due.
    const app = await createTestApp({
      workflows: [PingWorkflow],
      underway: { runtime: false },
    });
    const indicator = indicatorOf(app);
    await app.client.enqueue(PingWorkflow);
    const late = await waitFor(async () => {
      const health = await indicator.isHealthy('queue', {
        ...PATIENT,
        maxOldestDueAge: '200ms',
      });
      return health.queue.status === 'down' ? health : undefined;
    });
    expect(late.queue).toMatchObject({
      database: 'up',
      worker: 'disabled',
      listener: 'none',
      maxOldestDueAgeMs: 200,
    });
    expect(late.queue.oldestDueAgeMs).toBeGreaterThan(200);
    expect(late.queue.message).toMatch(
      /^the oldest due run has waited \d+ms, more than maxOldestDueAge \(200ms\)$/,
    );
    // Without a threshold the age is reported, not judged; a generous one passes.
    await expect(indicator.isHealthy('queue', PATIENT)).resolves.toMatchObject({
      queue: { status: 'up' },
    });
    await expect(
      indicator.isHealthy('queue', { ...PATIENT, maxOldestDueAge: '1h' }),
    ).resolves.toMatchObject({ queue: { status: 'up' } });
  });

  it('reports down for a schema that is not migrated, and refuses bad options', async () => {
    const app = await createTestApp({
      workflows: [PingWorkflow],
      underway: { runtime: false },
    });
    const indicator = indicatorOf(app);
    await query(`drop schema ${app.schema} cascade`);
    const health = await indicator.isHealthy('underway');
    expect(health.underway).toMatchObject({
      status: 'down',
      database: 'down',
    });
    expect(health.underway.message).toMatch(/does not exist/);
    await expect(
      indicator.isHealthy('underway', { maxAge: '1s' } as never),
    ).rejects.toThrow(InvalidOptionsError);
    await expect(
      indicator.isHealthy('underway', { timeout: 0 }),
    ).rejects.toThrow(InvalidOptionsError);
  });

  it('loads, and checks, in an app that does not install @nestjs/terminus', async () => {
    const schema = currentTestSchema();
    const { stdout } = await run(
      process.execPath,
      ['-r', './scripts/register.js', 'test/fixtures/without-terminus.ts'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: databaseUrl(), SCHEMA: schema },
        timeout: 60_000,
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
      terminus: string;
      health: unknown;
    };
    expect(result.terminus).toBe('MODULE_NOT_FOUND');
    expect(result.health).toEqual({
      underway: {
        status: 'up',
        database: 'up',
        worker: 'running',
        listener: 'listening',
        oldestDueAgeMs: 0,
      },
    });
    await query(`drop schema if exists ${schema} cascade`);
  }, 60_000);
});
