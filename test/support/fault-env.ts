import { Test, TestingModule } from '@nestjs/testing';
import { UnderwayModule, WorkflowClient } from '@underway/nestjs';
import { Pool, QueryResultRow } from 'pg';
import { FAULT_WORKFLOWS } from '../fault-worker/fault.workflows';
import { createEffectsTableSql, effectsTable } from '../fault-worker/protocol';
import { CaptureLogger } from './capture-logger';
import { useSchema } from './create-test-app';
import { databaseUrl } from './database';
import { destroyClusters } from './pg-cluster';
import { currentTestSchema } from './test-schema';
import {
  killWorkers,
  startWorker,
  WorkerOptions,
  WorkerProcess,
} from './worker-process';

/**
 * One fault test's world: a database (the shared test server, or a cluster of
 * the test's own), the test's schema with its `fault_effect` table, a
 * producer (an Underway instance with `runtime: false`, in the test process)
 * to enqueue with, and worker child processes.
 *
 * Call `cleanupFaults()` in `afterEach`: it kills every child, closes the
 * producers and pools, and destroys the clusters, pass or fail.
 */
export interface FaultEnv {
  readonly url: string;
  readonly schema: string;
  /** The lease of every step (producer and workers agree). */
  readonly leaseMs: number;
  readonly client: WorkflowClient;
  readonly producerLogs: CaptureLogger;
  query<R extends QueryResultRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
  /** A worker child on this env's database and schema. */
  startWorker(
    options: Omit<WorkerOptions, 'url' | 'schema' | 'leaseMs'>,
  ): WorkerProcess;
  /** The `done` effects recorded so far, in order. */
  effects(): Promise<EffectRow[]>;
  /** The recorded attempts of a run (`step_attempt`), by step and attempt. */
  attempts(runId: string): Promise<AttemptRow[]>;
  /** The run's row (`workflow_run`), or undefined. */
  runRow(runId: string): Promise<RunRow | undefined>;
}

export interface AttemptRow {
  readonly step_index: number;
  readonly attempt: number;
  readonly state: string;
  readonly worker: string | null;
  readonly code: string | null;
  readonly message: string | null;
  readonly name: string | null;
}

export interface RunRow {
  readonly id: string;
  readonly workflow_name: string;
  readonly state: string;
  readonly step_index: number;
  readonly attempt: number;
  readonly fence: string;
  readonly output: unknown;
  readonly error: { code?: string; message?: string } | null;
  readonly lease_owner: string | null;
  readonly updated_at: Date;
  readonly completed_at: Date | null;
  readonly expires_at: Date | null;
}

export interface EffectRow {
  readonly run_id: string;
  readonly step: number;
  readonly attempt: number;
  readonly instance: string;
  readonly pid: number;
}

export interface FaultEnvOptions {
  /** Default: DATABASE_URL (the shared server; never restarted). */
  readonly url?: string;
  /** Default: the current test's schema. */
  readonly schema?: string;
  /** Default: 1 s. */
  readonly leaseMs?: number;
}

const producers = new Set<TestingModule>();
const pools = new Set<Pool>();

function poolFor(url: string): Pool {
  const pool = new Pool({
    connectionString: url,
    max: 3,
    application_name: 'underway-fault-tests',
  });
  pool.on('error', () => undefined);
  pools.add(pool);
  return pool;
}

export async function prepareFaultEnv(
  options: FaultEnvOptions = {},
): Promise<FaultEnv> {
  const url = options.url ?? databaseUrl();
  const schema = options.schema ?? currentTestSchema();
  const leaseMs = options.leaseMs ?? 1_000;
  if (url === databaseUrl()) {
    useSchema(schema); // dropped after the test when it passes
  }
  const pool = poolFor(url);
  await pool.query(createEffectsTableSql(schema));

  const logs = new CaptureLogger();
  const producer = await Test.createTestingModule({
    imports: [
      UnderwayModule.forRoot({
        dataSource: { type: 'postgres', url },
        schema,
        runtime: false,
        defaults: { heartbeat: leaseMs },
        reconnectBackoff: { initial: 50, max: 500 },
      }),
    ],
    providers: [...FAULT_WORKFLOWS],
  })
    .setLogger(logs)
    .compile();
  producer.useLogger(logs);
  producers.add(producer);
  await producer.init();

  const query = async <R extends QueryResultRow>(
    text: string,
    values: unknown[] = [],
  ): Promise<R[]> => (await pool.query<R>(text, values)).rows;

  return {
    url,
    schema,
    leaseMs,
    client: producer.get(WorkflowClient),
    producerLogs: logs,
    query,
    startWorker: (worker) => startWorker({ ...worker, url, schema, leaseMs }),
    effects: () =>
      query<EffectRow>(
        `select run_id, step, attempt, instance, pid from ${effectsTable(schema)}
         where phase = 'done' order by id`,
      ),
    attempts: (runId) =>
      query<AttemptRow>(
        `select step_index, attempt, state, worker, error->>'code' as code,
           error->>'message' as message, error->>'name' as name
         from ${schema}.step_attempt where run_id = $1 order by step_index, attempt`,
        [runId],
      ),
    runRow: async (runId) =>
      (
        await query<RunRow>(
          `select id, workflow_name, state, step_index, attempt, fence, output, error,
             lease_owner, updated_at, completed_at, expires_at
           from ${schema}.workflow_run where id = $1`,
          [runId],
        )
      )[0],
  };
}

/** afterEach: children first (they would write into a dropped schema), then the rest. */
export async function cleanupFaults(): Promise<void> {
  await killWorkers();
  const closing = [...producers];
  producers.clear();
  await Promise.all(closing.map((p) => p.close().catch(() => undefined)));
  const ending = [...pools];
  pools.clear();
  await Promise.all(ending.map((p) => p.end().catch(() => undefined)));
  await destroyClusters();
}
