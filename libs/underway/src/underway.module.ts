import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WorkflowClient } from './client/workflow.client';
import { UnderwayDatabase } from './database/underway-database';
import { UnderwayMetadataAccessor } from './discovery/underway-metadata.accessor';
import { UnderwayExplorer } from './discovery/underway.explorer';
import { WorkflowRegistry } from './discovery/workflow.registry';
import { UnderwayHealthIndicator } from './health/underway-health.indicator';
import { UnderwayMetrics } from './observability/underway-metrics';
import { TracingInterceptor } from './observability/tracing.interceptor';
import { TransitionWriter } from './engine/transition.writer';
import { InterceptorChain } from './events/interceptor-chain';
import { UnderwayEvents } from './events/underway-events';
import type { ResolvedOptions } from './options/resolved-options';
import { resolveOptions } from './options/resolve-options';
import type { UnderwayModuleOptions } from './options/underway-module-options.interface';
import { UnderwayBootstrap } from './underway.bootstrap';
import { UNDERWAY_OPTIONS } from './underway.constants';
import {
  UNDERWAY_MODULE_OPTIONS,
  UnderwayConfigurableModule,
} from './underway.module-definition';
import { RunEvents } from './events/run-events';
import { WorkerService } from './worker/worker.service';
import { UnderwayTestKit } from './testing/underway-test-kit';
import { UNDERWAY_TEST_KIT_PROVIDER } from './testing/underway-test-kit.provider';

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
    TracingInterceptor,
    UnderwayEvents,
    InterceptorChain,
    {
      provide: TransitionWriter,
      inject: [UNDERWAY_OPTIONS, UnderwayEvents, InterceptorChain],
      useFactory: (
        options: ResolvedOptions,
        events: UnderwayEvents,
        interceptors: InterceptorChain,
      ) => new TransitionWriter(options.schema, events, interceptors),
    },
    UnderwayHealthIndicator,
    // `runtime: 'manual'` only (undefined otherwise): @underway/nestjs/testing.
    UNDERWAY_TEST_KIT_PROVIDER,
  ],
  exports: [
    WorkflowClient,
    UnderwayHealthIndicator,
    UnderwayEvents,
    UnderwayTestKit,
  ],
})
export class UnderwayModule extends UnderwayConfigurableModule {}
