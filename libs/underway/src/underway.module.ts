import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WorkflowClient } from './client/workflow.client';
import { UnderwayDatabase } from './database/underway-database';
import { UnderwayMetadataAccessor } from './discovery/underway-metadata.accessor';
import { UnderwayExplorer } from './discovery/underway.explorer';
import { WorkflowRegistry } from './discovery/workflow.registry';
import { UnderwayHealthIndicator } from './health/underway-health.indicator';
import { UnderwayMetrics } from './observability/underway-metrics';
import { UnderwayTracing } from './observability/underway-tracing';
import { resolveOptions } from './options/resolve-options';
import type { UnderwayModuleOptions } from './options/underway-module-options.interface';
import { UnderwayBootstrap } from './underway.bootstrap';
import {
  UNDERWAY_MODULE_OPTIONS,
  UNDERWAY_OPTIONS,
  UnderwayConfigurableModule,
} from './underway.module-definition';
import { RunEvents } from './workflow/run-events';
import { WorkerService } from './worker/worker.service';

/**
 * Durable workflows on the app's PostgreSQL.
 *
 * ```ts
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL }),
 *     UnderwayModule.forRoot({}),
 *   ],
 *   providers: [SignupWorkflow],
 * })
 * export class AppModule {}
 * ```
 *
 * Global by default (`isGlobal: false` to opt out): `WorkflowClient` can be
 * injected anywhere.
 *
 * @publicApi
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: UNDERWAY_OPTIONS,
      inject: [UNDERWAY_MODULE_OPTIONS],
      useFactory: (options: UnderwayModuleOptions) => resolveOptions(options),
    },
    UnderwayMetadataAccessor,
    WorkflowRegistry,
    UnderwayExplorer,
    UnderwayDatabase,
    RunEvents,
    UnderwayBootstrap,
    WorkflowClient,
    WorkerService,
    UnderwayMetrics,
    UnderwayTracing,
    UnderwayHealthIndicator,
  ],
  exports: [WorkflowClient, UnderwayHealthIndicator],
})
export class UnderwayModule extends UnderwayConfigurableModule {}
