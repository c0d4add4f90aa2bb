import { Module } from '@nestjs/common';
import { DashboardAccessGuard } from './dashboard-access.guard';
import { DashboardActionGuard } from './dashboard-action.guard';
import { DashboardActions } from './dashboard-actions.service';
import { DashboardExceptionFilter } from './dashboard-exception.filter';
import { DashboardService } from './dashboard.service';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import { resolveDashboardOptions } from './resolve-dashboard-options';
import {
  UNDERWAY_DASHBOARD_MODULE_OPTIONS,
  UNDERWAY_DASHBOARD_OPTIONS_TYPE,
  UnderwayDashboardConfigurableModule,
} from './underway-dashboard.module-definition';
import type { DynamicModule } from '@nestjs/common';

/**
 * A web dashboard of Underway's runs, steps, attempts, activity calls,
 * dead letters and schedules, with cancel, retry and redrive, served by Nest
 * controllers under `path` (Express or Fastify). Nothing is served unless
 * this module is imported; it needs `UnderwayModule` in the same app.
 *
 * ```ts
 * @Module({
 *   imports: [
 *     UnderwayModule.forRoot({}),
 *     UnderwayDashboardModule.forRoot({ path: '/underway', guards: [AdminGuard] }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * @publicApi
 */
@Module({
  providers: [
    {
      provide: DASHBOARD_OPTIONS,
      inject: [UNDERWAY_DASHBOARD_MODULE_OPTIONS],
      useFactory: (options: unknown) => resolveDashboardOptions(options),
    },
    DashboardService,
    DashboardActions,
    DashboardAccessGuard,
    DashboardActionGuard,
    DashboardExceptionFilter,
  ],
})
export class UnderwayDashboardModule extends UnderwayDashboardConfigurableModule {
  /** Mounts the dashboard under `options.path` (default `/underway`). */
  static override forRoot(
    options: typeof UNDERWAY_DASHBOARD_OPTIONS_TYPE = {},
  ): DynamicModule {
    return super.forRoot(options);
  }
}
