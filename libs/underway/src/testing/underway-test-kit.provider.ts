import type { FactoryProvider } from '@nestjs/common';
import { WorkflowClient } from '../client/workflow.client';
import { UnderwayDatabase } from '../database/underway-database';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import { UnderwayEvents } from '../events/underway-events';
import type { ResolvedOptions } from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { WorkerService } from '../worker/worker.service';
import { UnderwayTestKit } from './underway-test-kit';

/**
 * The provider of `UnderwayTestKit` in `UnderwayModule`: the kit with
 * `runtime: 'manual'`, absent (`undefined`) otherwise.
 */
export const UNDERWAY_TEST_KIT_PROVIDER: FactoryProvider<
  UnderwayTestKit | undefined
> = {
  provide: UnderwayTestKit,
  inject: [
    UNDERWAY_OPTIONS,
    WorkerService,
    WorkflowClient,
    WorkflowRegistry,
    UnderwayDatabase,
    UnderwayEvents,
  ],
  useFactory: (
    options: ResolvedOptions,
    worker: WorkerService,
    client: WorkflowClient,
    registry: WorkflowRegistry,
    database: UnderwayDatabase,
    events: UnderwayEvents,
  ) =>
    options.runtime && options.runtime.manual
      ? new UnderwayTestKit(worker, client, registry, database, events, options)
      : undefined,
};
