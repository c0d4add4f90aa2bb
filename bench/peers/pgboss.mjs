// pg-boss 10.4.2 (PROTOCOL.md §2): `pgboss` (C work() loops, batchSize 1) and
// `pgboss-batch` (C work() loops, batchSize 100). Both poll every 0.5 s (pg-boss 10
// has no LISTEN/NOTIFY), so the ceiling is C x batchSize / 0.5 s. A job with `r`
// (the insert workloads) inserts its row through boss.getDb() before the handler.
import { createRequire } from 'node:module';
import pg from 'pg';
import { ROW_INSERT } from '../lib/common.mjs';

const require = createRequire(import.meta.url);
const QUEUE = 'bench';
const SCHEMA = 'pgboss';
const POLLING_INTERVAL_SECONDS = 0.5;

function define(name, batchSize) {
  return {
    name,
    peer: 'pg-boss',
    description:
      batchSize === 1
        ? 'pg-boss: C work() loops, batchSize 1, pollingIntervalSeconds 0.5 (per-job claim/complete; at most C jobs in flight)'
        : `pg-boss: C work() loops, batchSize ${batchSize}, pollingIntervalSeconds 0.5 (batch fetch + batch complete; up to ${batchSize}*C in flight)`,
    create(ctx) {
      let PgBoss;
      let boss;
      let housekeeping;
      return {
        // Runs the insert workloads: a job with `r` inserts its row first.
        inserts: true,
        info() {
          return {
            package: 'pg-boss',
            version: require('pg-boss/package.json').version,
            settings: {
              constructor:
                'new PgBoss({ max: 10, schedule: false, supervise: true in the worker / false in the producer })',
              queue: "createQueue('bench') (policy standard)",
              concurrency: `C x work('bench', { batchSize: ${batchSize}, pollingIntervalSeconds: ${POLLING_INTERVAL_SECONDS} }) — up to ${batchSize}*C jobs in flight`,
              batchHandling:
                'handlers of a fetched batch run under Promise.all; the batch completes in one statement (not awaited by pg-boss)',
              enqueue: 'send()',
              enqueueBatch: 'insert()',
              chain:
                'boss.send (batchSize 1) / boss.insert (batch) of the next steps inside the handler, job completed afterwards (not atomic)',
              chainAtomic: false,
              insert:
                "a job with r: boss.getDb().executeSql(ROW_INSERT, [i]) in the handler before the harness handler (autocommit on pg-boss's own pool of 10; the job is completed afterwards: not atomic)",
              ceilingJobsPerSec: `C x ${batchSize} / ${POLLING_INTERVAL_SECONDS} s`,
            },
          };
        },
        async init() {
          PgBoss = (await import('pg-boss')).default;
          boss = new PgBoss({
            connectionString: ctx.connectionString,
            max: 10,
            schedule: false,
            supervise: ctx.role === 'worker',
          });
          boss.on('error', (err) =>
            console.error(`[${ctx.systemName} error] ${err?.message ?? err}`),
          );
          await boss.start();
          await boss.createQueue(QUEUE);
          housekeeping = new pg.Pool({
            connectionString: ctx.connectionString,
            max: 1,
          });
          housekeeping.on('error', () => undefined);
        },
        async reset() {
          await housekeeping.query(`truncate ${SCHEMA}.job, ${SCHEMA}.archive`);
        },
        async outstanding() {
          const { rows } = await housekeeping.query(
            `select count(*)::int as n from ${SCHEMA}.job
             where name = $1 and state in ('created', 'retry', 'active')`,
            [QUEUE],
          );
          return rows[0].n;
        },
        async enqueue(input) {
          await boss.send(QUEUE, input);
        },
        async enqueueBatch(inputs) {
          await boss.insert(inputs.map((data) => ({ name: QUEUE, data })));
        },
        async startWorker({ concurrency, handler }) {
          const db = boss.getDb();
          const run = async (data) => {
            if (data.r !== undefined) await db.executeSql(ROW_INSERT, [data.i]);
            return handler(data);
          };
          const work = async (jobs) => {
            const results = await Promise.all(jobs.map((job) => run(job.data)));
            const next = results.filter((r) => r && r.next).map((r) => r.next);
            if (next.length === 1) {
              await boss.send(QUEUE, next[0]);
            } else if (next.length > 1) {
              await boss.insert(next.map((data) => ({ name: QUEUE, data })));
            }
          };
          for (let k = 0; k < concurrency; k++) {
            await boss.work(
              QUEUE,
              { batchSize, pollingIntervalSeconds: POLLING_INTERVAL_SECONDS },
              work,
            );
          }
        },
        async stop() {
          if (boss) {
            await boss.stop({ graceful: true, wait: true, timeout: 20_000 });
            boss = undefined;
          }
          await housekeeping?.end();
          housekeeping = undefined;
        },
      };
    },
  };
}

export const systems = [define('pgboss', 1), define('pgboss-batch', 100)];
