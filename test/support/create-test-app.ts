import type { INestApplicationContext, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  UnderwayEvents,
  UnderwayModule,
  UnderwayModuleOptions,
  WorkflowClient,
} from '@underway/nestjs';
import { CaptureLogger } from './capture-logger';
import { databaseUrl } from './database';
import { EventLog } from './event-log';
import { currentTestSchema } from './test-schema';

export interface TestApp {
  readonly app: INestApplicationContext;
  readonly client: WorkflowClient;
  readonly dataSource: DataSource;
  readonly schema: string;
  readonly logs: CaptureLogger;
  /** With `eventLog: true`: every event since before boot. */
  readonly events: EventLog;
  get<T>(token: Type<T> | string | symbol): T;
  close(): Promise<void>;
}

export interface TestAppOptions {
  workflows?: Type[];
  providers?: Provider[];
  /** Merged over the test defaults: the test's schema, a 100 ms poll. */
  underway?: UnderwayModuleOptions;
  /** `false`: do not call init() (for boot-error tests, use `compileTestApp`). */
  init?: boolean;
  /** TypeORM entities of the app's DataSource (their tables are the test's to create). */
  entities?: (new () => object)[];
  /** Log every event from before the worker starts (`TestApp.events`), to wait on them. */
  eventLog?: boolean;
}

const openApps = new Set<TestApp>();
const usedSchemas = new Set<string>();

/**
 * A Nest application context with TypeORM and UnderwayModule against the test
 * database, in the current test's own schema. Closed after each test.
 */
export async function createTestApp(
  options: TestAppOptions = {},
): Promise<TestApp> {
  const logs = new CaptureLogger();
  const underway = options.underway ?? {};
  const schema = underway.schema ?? currentTestSchema();
  if (isDroppable(schema)) {
    usedSchemas.add(schema);
  }
  const runtime =
    underway.runtime === false || underway.runtime === 'manual'
      ? underway.runtime
      : { pollInterval: 100, ...(underway.runtime ?? {}) };
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: databaseUrl(),
        // allowExitOnIdle: a DataSource whose app failed to compile (and so was
        // never closed) must not keep the test process alive.
        extra: { max: 3, allowExitOnIdle: true },
        retryAttempts: 0,
        entities: options.entities ?? [],
      }),
      UnderwayModule.forRoot({ ...underway, schema, runtime }),
    ],
    providers: [...(options.workflows ?? []), ...(options.providers ?? [])],
  })
    .setLogger(logs)
    .compile();
  moduleRef.useLogger(logs);
  let closed = false;
  let events: EventLog | undefined;
  if (options.eventLog) {
    events = new EventLog(moduleRef.get(UnderwayEvents));
  }
  const testApp: TestApp = {
    app: moduleRef,
    client: moduleRef.get(WorkflowClient),
    dataSource: moduleRef.get(DataSource),
    schema,
    logs,
    events: undefined as unknown as EventLog, // defined below, not enumerable
    get: (token) => moduleRef.get(token, { strict: false }),
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      openApps.delete(testApp);
      await moduleRef.close();
    },
  };
  // Not enumerable: a test that spreads its app ({ ...app }) does not read it.
  Object.defineProperty(testApp, 'events', {
    enumerable: false,
    get(): EventLog {
      if (!events) {
        throw new Error('createTestApp({ eventLog: true }) logs the events');
      }
      return events;
    },
  });
  openApps.add(testApp);
  if (options.init !== false) {
    try {
      await moduleRef.init();
    } catch (err) {
      await testApp.close().catch(() => undefined);
      throw err;
    }
  }
  return testApp;
}

/** Closes every app a test left open (after each test). */
export async function closeOpenApps(): Promise<void> {
  const apps = [...openApps];
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)));
}

/** The schemas created in this test, to drop when it passed. */
export function takeUsedSchemas(): string[] {
  const schemas = [...usedSchemas];
  usedSchemas.clear();
  return schemas;
}

/** Marks an extra schema as used by the test (dropped with the others). */
export function useSchema(schema: string): string {
  if (!isDroppable(schema)) {
    throw new Error(`"${schema}" is not a schema a test may drop`);
  }
  usedSchemas.add(schema);
  return schema;
}

/**
 * Whether a test may drop `schema` once it passed: a name the library
 * accepts, and never one PostgreSQL reserves or that every database has. A
 * test that boots with `schema: 'information_schema'` to see it refused must
 * not have the harness drop the real one (it did, once: the database's
 * information_schema was gone for every later suite).
 */
export function isDroppable(schema: string): boolean {
  return (
    /^[a-z_][a-z0-9_]{0,62}$/.test(schema) &&
    schema !== 'information_schema' &&
    schema !== 'public' &&
    !schema.startsWith('pg_')
  );
}
