import { ConfigurableModuleBuilder } from '@nestjs/common';
import type {
  UnderwayDashboardExtras,
  UnderwayDashboardOptions,
} from './dashboard-options.interface';
import { dashboardActionsControllerFor } from './dashboard-actions.controller';
import { dashboardControllerFor } from './dashboard.controller';
import { DASHBOARD_PATH } from './dashboard.constants';
import {
  DEFAULT_DASHBOARD_PATH,
  resolveDashboardPath,
} from './resolve-dashboard-options';

/**
 * `forRoot` / `forRootAsync`. `path` is an extra, read when the module is
 * defined: it names the controllers' routes, which Nest registers before any
 * factory runs.
 */
export const {
  ConfigurableModuleClass: UnderwayDashboardConfigurableModule,
  MODULE_OPTIONS_TOKEN: UNDERWAY_DASHBOARD_MODULE_OPTIONS,
  OPTIONS_TYPE: UNDERWAY_DASHBOARD_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: UNDERWAY_DASHBOARD_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UnderwayDashboardOptions>({
  moduleName: 'UnderwayDashboard',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createUnderwayDashboardOptions')
  .setExtras<UnderwayDashboardExtras>(
    // Its keys are the extras': `path` is taken out of the options given.
    { path: DEFAULT_DASHBOARD_PATH },
    (definition, extras) => {
      const path = resolveDashboardPath(extras.path);
      return {
        ...definition,
        controllers: [
          ...(definition.controllers ?? []),
          dashboardControllerFor(path),
          dashboardActionsControllerFor(path),
        ],
        providers: [
          ...(definition.providers ?? []),
          { provide: DASHBOARD_PATH, useValue: path },
        ],
      };
    },
  )
  .build();
