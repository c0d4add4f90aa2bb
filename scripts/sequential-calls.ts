/**
 * Measures what a step's sequential `ctx.call`s cost as their number grows:
 * one run whose single step makes N calls one after another (each call
 * suspends the step, runs the activity, and replays the step from the top).
 * Prints, for each N, the run's wall time and time per call, the CPU time
 * this process (the worker) spent per call, and the rows of `activity_call`
 * the database read meanwhile (pg_stat_user_tables). On a busy machine the
 * wall time mostly measures the others; CPU time and rows read much less.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     node -r ./scripts/register.js scripts/sequential-calls.ts 400 2000
 *
 * The schema starts with the history of 20,000 finished calls, analyzed, as a
 * schema in use has: on an empty, never analyzed table PostgreSQL plans some
 * statements as sequential scans, which is not what production sees.
 * A measurement, not a test: run it on a quiet machine.
 */
import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Client, escapeIdentifier } from 'pg';
import {
  Activity,
  Step,
  StepContext,
  Transition,
  UnderwayModule,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';

@Workflow({ name: 'sequential-calls' })
class SequentialCalls {
  @Activity()
  async next(i: number): Promise<number> {
    return Promise.resolve(i + 1);
  }

  @Step()
  async loop({ n }: { n: number }, ctx: StepContext<SequentialCalls>) {
    let i = 0;
    while (i < n) {
      i = await ctx.call('next', i);
    }
    return Transition.complete(i);
  }
}

const HISTORY_CALLS = 20_000;

async function main(): Promise<void> {
  const url =
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const sizes = process.argv.slice(2).map(Number);
  const schema = `seq_calls_${process.pid}`;
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url }),
      UnderwayModule.forRoot({ schema }),
    ],
    providers: [SequentialCalls],
  })
  class MeasureModule {}

  const logger = new Logger('sequential-calls');
  const app = await NestFactory.createApplicationContext(MeasureModule, {
    logger: ['error', 'warn'],
  });
  const admin = new Client({ connectionString: url });
  await admin.connect();
  const s = escapeIdentifier(schema);
  const rowsRead = async (): Promise<{ index: number; seq: number }> => {
    await admin.query('select pg_stat_clear_snapshot()');
    const { rows } = await admin.query<{ idx: string; seq: string }>(
      `select coalesce(idx_tup_fetch, 0) as idx, coalesce(seq_tup_read, 0) as seq
       from pg_stat_user_tables where schemaname = $1 and relname = 'activity_call'`,
      [schema],
    );
    return { index: Number(rows[0]?.idx ?? 0), seq: Number(rows[0]?.seq ?? 0) };
  };
  try {
    await admin.query(
      `insert into ${s}.activity_call (run_id, step_index, call_index, kind, workflow_name, name,
         args, max_attempts, lease_ms, state, result, attempt, completed_at)
       select gen_random_uuid(), 0, i % 10, 'call', 'sequential-calls', 'next', '[0]', 5, 30000,
         'succeeded', '1', 1, now()
       from generate_series(1, ${HISTORY_CALLS}) i`,
    );
    await admin.query(`analyze ${s}.activity_call`);
    await admin.query(`analyze ${s}.workflow_run`);
    const client = app.get(WorkflowClient);
    for (const n of sizes.length > 0 ? sizes : [400, 2000]) {
      const before = await rowsRead();
      const started = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      const run = await client.enqueue(SequentialCalls, { n });
      const result = await run.result({ timeout: '30m' });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const { user, system } = process.cpuUsage(cpu);
      const cpuMs = (user + system) / 1000;
      if (result !== n) {
        throw new Error(`expected ${n}, got ${String(result)}`);
      }
      // Each backend reports its counters within about a second when idle.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const after = await rowsRead();
      const index = after.index - before.index;
      const seq = after.seq - before.seq;
      logger.warn(
        `${n} sequential calls: ${(ms / 1000).toFixed(2)} s, ${(ms / n).toFixed(2)} ms per call ` +
          `(worker CPU ${(cpuMs / n).toFixed(2)} ms per call); ` +
          `activity_call rows read: ${index} by index, ${seq} by sequential scan ` +
          `(${((index + seq) / n).toFixed(1)} per call)`,
      );
    }
  } finally {
    await app.close();
    await admin.query(`drop schema if exists ${s} cascade`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
