import 'reflect-metadata';
import { LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  StepContext,
  UnderwayModule,
  UnderwayModuleOptions,
} from '@underway/nestjs';
import { Pool } from 'pg';
import {
  DEFAULT_CHILD_WORKFLOWS,
  faultWorkflowsNamed,
  setDefaultStepSleep,
  setStepHooks,
  TRANSACTIONAL_WORKFLOWS,
} from './fault.workflows';
import {
  appRowsTable,
  effectsTable,
  FAULT_ENV,
  FaultEvent,
  ledgerTable,
} from './protocol';
import { installTracing } from './tracing';

/**
 * A worker as a plain process, for the fault suite (test/e2e/faults): a Nest
 * application context with UnderwayModule and the fault workflows, configured
 * through environment variables (see `FAULT_ENV`). It prints JSON lines on
 * stdout (`FaultEvent`): `ready`, each step attempt started and finished, and
 * every log line of the library. Its steps record their side effects in the
 * test schema's `fault_effect` table, and the bodies of `fault-activity`
 * (steps and activities) each execution in its `fault_ledger`. A child that
 * registers `fault-tx` (transactional steps, writing `fault_app_row` through
 * `ctx.manager`) also imports TypeOrmModule: the app's DataSource, which
 * Underway then connects through and opens those steps' transactions on.
 *
 *   node -r ./scripts/register.js test/fault-worker/main.ts
 */

type Distribute<T> = T extends unknown ? Omit<T, 'instance' | 'pid'> : never;

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function required(name: string): string {
  const value = env(name);
  if (value === undefined) {
    throw new Error(`${name} must be set`);
  }
  return value;
}

function numberFrom(name: string, fallback: number): number {
  const value = env(name);
  if (value === undefined) {
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) {
    throw new Error(`${name} must be a number, got "${value}"`);
  }
  return parsed;
}

const instance = env(FAULT_ENV.instanceName) ?? `fault-${process.pid}`;

function emit(event: Distribute<FaultEvent>): void {
  // Writes to a pipe are synchronous on Linux: a line printed before a
  // SIGKILL has reached the parent.
  process.stdout.write(
    `${JSON.stringify({ ...event, instance, pid: process.pid })}\n`,
  );
}

function messageOf(value: unknown): string {
  if (value instanceof Error) {
    return value.stack ?? value.message;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Every log line as a JSON `log` event (debug and verbose are dropped). */
class JsonLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    this.print('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.print('warn', message, context);
  }
  error(message: unknown, stackOrContext?: string, context?: string): void {
    this.print('error', message, context ?? stackOrContext);
  }
  fatal(message: unknown, context?: string): void {
    this.print('fatal', message, context);
  }
  debug(): void {}
  verbose(): void {}

  private print(level: string, message: unknown, context?: string): void {
    emit({ event: 'log', level, context, message: messageOf(message) });
  }
}

process.on('uncaughtException', (err) => {
  emit({ event: 'uncaught', kind: 'exception', message: messageOf(err) });
  process.exit(70);
});
process.on('unhandledRejection', (reason) => {
  emit({ event: 'uncaught', kind: 'rejection', message: messageOf(reason) });
  process.exit(71);
});

async function main(): Promise<void> {
  if (env(FAULT_ENV.traces) === '1') {
    installTracing(emit);
  }
  const url = required(FAULT_ENV.databaseUrl);
  const schema = required(FAULT_ENV.schema);
  const concurrency = numberFrom(FAULT_ENV.concurrency, 4);
  const names = env(FAULT_ENV.workflows)?.split(',') ?? DEFAULT_CHILD_WORKFLOWS;
  const workflows = faultWorkflowsNamed(names);
  const transactional = names.some((name) =>
    TRANSACTIONAL_WORKFLOWS.includes(name),
  );
  if (transactional && env(FAULT_ENV.underwayUrl) !== undefined) {
    throw new Error(
      `${FAULT_ENV.underwayUrl} cannot be set with a transactional workflow: Underway connects through the app's DataSource`,
    );
  }
  setDefaultStepSleep(numberFrom(FAULT_ENV.stepSleepMs, 0));
  const stepEvents = env(FAULT_ENV.stepEvents) !== '0';

  const effects = new Pool({
    connectionString: url,
    max: concurrency + 1,
    application_name: `fault:${instance}:effects`.slice(0, 63),
  });
  effects.on('error', () => undefined);
  const insert = `insert into ${effectsTable(schema)} (run_id, step, attempt, instance, pid, phase)
    values ($1, $2, $3, $4, $5, 'done') on conflict do nothing`;

  const record = `insert into ${ledgerTable(schema)}
      (token, run_id, kind, step, call_index, name, attempt, instance, pid, phase)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing`;
  // A side effect is retried while the database is away (a restart), so that
  // a step does not fail for a reason the test did not ask for.
  const untilStored = async (text: string, values: unknown[]) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await effects.query(text, values);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  const stepEvent = (
    event: 'step-started' | 'step-finished',
    ctx: StepContext,
  ): void => {
    if (stepEvents) {
      emit({
        event,
        runId: ctx.runId,
        workflow: ctx.workflowName,
        step: ctx.stepIndex,
        attempt: ctx.attempt,
        at: Date.now(),
      });
    }
  };
  setStepHooks({
    instance,
    appTable: appRowsTable(schema),
    wrote: (event) => emit({ event: 'tx-wrote', ...event }),
    started: (ctx) => stepEvent('step-started', ctx),
    finished: (ctx) => stepEvent('step-finished', ctx),
    effect: (ctx) =>
      untilStored(insert, [
        ctx.runId,
        ctx.stepIndex,
        ctx.attempt,
        instance,
        process.pid,
      ]),
    record: (entry) =>
      untilStored(record, [
        entry.token,
        entry.runId,
        entry.kind,
        entry.step,
        entry.callIndex,
        entry.name,
        entry.attempt,
        instance,
        process.pid,
        entry.phase,
      ]),
  });

  @Module({})
  class FaultWorkerModule {}

  // Transactional steps write through the app's DataSource: the one
  // TypeOrmModule registers, which Underway finds (and connects through).
  // Its pool has a connection for each step slot and one more; each
  // transactional attempt holds one from its start to its commit.
  const appDataSource = transactional
    ? [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url,
          applicationName: `fault:${instance}:app`.slice(0, 63),
          extra: { max: concurrency + 1 },
          retryAttempts: 0,
        }),
      ]
    : [];
  const dataSource: UnderwayModuleOptions['dataSource'] = transactional
    ? undefined
    : { type: 'postgres', url: env(FAULT_ENV.underwayUrl) ?? url };

  const app = await NestFactory.createApplicationContext(
    {
      module: FaultWorkerModule,
      imports: [
        ...appDataSource,
        UnderwayModule.forRoot({
          ...(dataSource && { dataSource }),
          schema,
          runtime: {
            concurrency,
            ...(env(FAULT_ENV.prefetch) !== undefined && {
              prefetch: numberFrom(FAULT_ENV.prefetch, 0),
            }),
            instanceName: instance,
            pollInterval: numberFrom(FAULT_ENV.pollMs, 200),
            maintenanceInterval: numberFrom(FAULT_ENV.maintenanceMs, 60_000),
          },
          defaults: { heartbeat: numberFrom(FAULT_ENV.leaseMs, 1_000) },
          shutdownTimeout: numberFrom(FAULT_ENV.shutdownTimeoutMs, 10_000),
          reconnectBackoff: {
            initial: numberFrom(FAULT_ENV.reconnectInitialMs, 50),
            max: numberFrom(FAULT_ENV.reconnectMaxMs, 500),
          },
          ...(env(FAULT_ENV.statementTimeoutMs) !== undefined && {
            connections: {
              statementTimeout: numberFrom(FAULT_ENV.statementTimeoutMs, 0),
            },
          }),
        }),
      ],
      providers: workflows,
    },
    { logger: new JsonLogger(), abortOnError: false },
  );
  // SIGTERM: Nest closes the app (the worker drains), then re-raises the
  // signal, which ends the process (and the effects pool with it).
  app.enableShutdownHooks();
  emit({ event: 'ready' });
}

main().catch((err: unknown) => {
  emit({ event: 'boot-failed', message: messageOf(err) });
  process.exit(1);
});
