// graphile-worker 0.17.3 (PROTOCOL.md §2): `graphile` (per-job get_job/complete_job)
// and `graphile-batch` (+ localQueue 500, completeJobBatchDelay 0, failJobBatchDelay 0,
// the settings of graphile-worker's published perf test).
// A job with `r` (the insert workloads) inserts its row with helpers.withPgClient
// before the handler.
import { createRequire } from 'node:module';
import pg from 'pg';
import { ROW_INSERT } from '../lib/common.mjs';

const require = createRequire(import.meta.url);
const TASK = 'bench';
const SCHEMA = 'graphile_worker';

let gwPromise;
/** graphile-worker reads NO_LOG_SUCCESS when it loads: set it first, then import lazily. */
function loadGraphile() {
  process.env.NO_LOG_SUCCESS = '1';
  gwPromise ??= import('graphile-worker');
  return gwPromise;
}

function makeLogger(gw, systemName) {
  // Only warnings and errors pass (the per-job success line is off via NO_LOG_SUCCESS).
  return new gw.Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') {
      console.error(`[${systemName} ${level}] ${message}`);
    }
  });
}

function define(name, batch) {
  const preset = batch
    ? {
        worker: {
          localQueue: { size: 500 },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      }
    : undefined;
  return {
    name,
    peer: 'graphile-worker',
    description: batch
      ? "graphile-worker: as 'graphile' + localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0 (the settings of graphile-worker's published perf test)"
      : 'graphile-worker: concurrency C, maxPoolSize max(10,C+2), LISTEN/NOTIFY, defaults otherwise (per-job get_job/complete_job)',
    create(ctx) {
      let gw;
      let logger;
      let utils;
      let runner;
      let housekeeping;
      return {
        // Runs the insert workloads: a job with `r` inserts its row first.
        inserts: true,
        info() {
          return {
            package: 'graphile-worker',
            version: require('graphile-worker/package.json').version,
            settings: {
              concurrency: 'run({ concurrency: C }) — C jobs in flight',
              maxPoolSize:
                'max(10, C+2) (worker); makeWorkerUtils maxPoolSize 10 (producer)',
              noHandleSignals: true,
              crontab: '',
              pollInterval:
                '2000 ms (default; LISTEN "jobs:insert" wakes workers)',
              preset: preset ?? null,
              logging:
                'NO_LOG_SUCCESS=1; logger passes warnings and errors only',
              enqueue: 'addJob()',
              enqueueBatch: 'addJobs()',
              chain:
                'helpers.addJob(next) inside the task, job completed afterwards (not atomic)',
              chainAtomic: false,
              insert:
                'a job with r: helpers.withPgClient((client) => client.query(ROW_INSERT, [i])) in the task before the handler (autocommit on the worker pool; the job is completed afterwards: not atomic)',
            },
          };
        },
        async init() {
          gw = await loadGraphile();
          logger = makeLogger(gw, ctx.systemName);
          if (ctx.role === 'producer') {
            utils = await gw.makeWorkerUtils({
              connectionString: ctx.connectionString,
              maxPoolSize: 10,
              logger,
            });
            await utils.migrate();
          } else {
            await gw.runMigrations({
              connectionString: ctx.connectionString,
              logger,
            });
          }
          housekeeping = new pg.Pool({
            connectionString: ctx.connectionString,
            max: 1,
          });
          housekeeping.on('error', () => undefined);
        },
        async reset() {
          await housekeeping.query(
            `truncate ${SCHEMA}._private_jobs, ${SCHEMA}._private_job_queues`,
          );
        },
        async outstanding() {
          // Completed jobs are deleted; everything left is queued, locked or failed-and-retrying.
          const { rows } = await housekeeping.query(
            `select count(*)::int as n from ${SCHEMA}._private_jobs`,
          );
          return rows[0].n;
        },
        async enqueue(input) {
          await utils.addJob(TASK, input);
        },
        async enqueueBatch(inputs) {
          await utils.addJobs(
            inputs.map((payload) => ({ identifier: TASK, payload })),
          );
        },
        async startWorker({ concurrency, handler }) {
          runner = await gw.run({
            connectionString: ctx.connectionString,
            concurrency,
            maxPoolSize: Math.max(10, concurrency + 2),
            noHandleSignals: true,
            crontab: '',
            logger,
            ...(preset ? { preset } : {}),
            taskList: {
              [TASK]: async (payload, helpers) => {
                if (payload.r !== undefined) {
                  await helpers.withPgClient((client) =>
                    client.query(ROW_INSERT, [payload.i]),
                  );
                }
                const result = await handler(payload);
                if (result && result.next) {
                  await helpers.addJob(TASK, result.next);
                }
              },
            },
          });
        },
        async stop() {
          if (runner) {
            await runner.stop();
            runner = undefined;
          }
          if (utils) {
            await utils.release();
            utils = undefined;
          }
          await housekeeping?.end();
          housekeeping = undefined;
        },
      };
    },
  };
}

export const systems = [
  define('graphile', false),
  define('graphile-batch', true),
];
