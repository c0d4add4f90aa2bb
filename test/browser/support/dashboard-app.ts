import type { INestApplication, Provider, Type } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  RuntimeOptions,
  UnderwayDashboardModule,
  UnderwayDashboardOptions,
  UnderwayModule,
  UnderwayModuleOptions,
  WorkflowClient,
} from '@underway/nestjs';
import { CaptureLogger } from '../../support/capture-logger';
import { databaseUrl } from '../../support/database';
import { useSchema } from '../../support/create-test-app';
import { currentTestSchema } from '../../support/test-schema';

export type Platform = 'express' | 'fastify';

export interface DashboardApp {
  readonly app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly client: WorkflowClient;
  readonly dataSource: DataSource;
  readonly schema: string;
  readonly logs: CaptureLogger;
  close(): Promise<void>;
}

export interface DashboardAppOptions {
  readonly platform?: Platform;
  readonly workflows?: Type[];
  readonly providers?: Provider[];
  /** `UnderwayDashboardModule.forRoot(dashboard)`; `false`: not imported at all. */
  readonly dashboard?: (UnderwayDashboardOptions & { path?: string }) | false;
  /** Instead of `dashboard`: the module as the test builds it (forRootAsync). */
  readonly dashboardModule?: DynamicModule;
  readonly underway?: UnderwayModuleOptions;
  readonly imports?: (Type | DynamicModule)[];
  /** `app.setGlobalPrefix(prefix)` */
  readonly globalPrefix?: string;
  /** Bind to this port (default: any free one). */
  readonly port?: number;
}

const open = new Set<DashboardApp>();

/**
 * An HTTP Nest application (Express or Fastify) with TypeORM, UnderwayModule
 * in the current test's schema and the dashboard, listening on 127.0.0.1.
 */
export async function createDashboardApp(
  options: DashboardAppOptions = {},
): Promise<DashboardApp> {
  const logs = new CaptureLogger();
  const schema = useSchema(options.underway?.schema ?? currentTestSchema());
  const dashboard =
    options.dashboardModule ??
    (options.dashboard === false
      ? undefined
      : UnderwayDashboardModule.forRoot(options.dashboard ?? {}));
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: databaseUrl(),
        extra: { max: 3, allowExitOnIdle: true },
        retryAttempts: 0,
      }),
      UnderwayModule.forRoot({
        ...options.underway,
        schema,
        runtime: {
          pollInterval: 100,
          ...((options.underway?.runtime || {}) as RuntimeOptions),
        },
      }),
      ...(options.imports ?? []),
      ...(dashboard ? [dashboard] : []),
    ],
    providers: [...(options.workflows ?? []), ...(options.providers ?? [])],
  })
  class DashboardTestModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [DashboardTestModule],
  })
    .setLogger(logs)
    .compile();
  const app =
    options.platform === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: logs })
      : moduleRef.createNestApplication({ logger: logs });
  if (options.globalPrefix) {
    app.setGlobalPrefix(options.globalPrefix);
  }
  let closed = false;
  const created: DashboardApp = {
    app,
    origin: '',
    client: moduleRef.get(WorkflowClient),
    dataSource: moduleRef.get(DataSource),
    schema,
    logs,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      open.delete(created);
      await app.close();
    },
  };
  open.add(created);
  await app.listen(options.port ?? 0, '127.0.0.1');
  const url = await app.getUrl();
  (created as { origin: string }).origin = url
    .replace('[::1]', '127.0.0.1')
    .replace('localhost', '127.0.0.1');
  return created;
}

/** Closes what a test left open (call in afterEach). */
export async function closeDashboardApps(): Promise<void> {
  await Promise.all([...open].map((app) => app.close().catch(() => undefined)));
}

/** What an action request from the dashboard's own page sends. */
export function actionHeaders(origin: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-underway-dashboard': '1',
    origin,
    'sec-fetch-site': 'same-origin',
  };
}
