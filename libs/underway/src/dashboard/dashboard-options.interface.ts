import type { CanActivate, Type } from '@nestjs/common';
import type { Duration } from '../common/duration';

/**
 * Options of `UnderwayDashboardModule.forRoot()` (and what the factory of
 * `forRootAsync()` returns).
 *
 * @publicApi
 */
export interface UnderwayDashboardOptions {
  /**
   * Nest guards run, in order, before every route of the dashboard (pages,
   * assets and actions): a class (taken from the app's providers when it is
   * one, else made with its dependencies) or an instance. A guard that
   * returns `false` gets a 403; one that throws decides the response.
   * @default [] (anyone who can reach the app can see the dashboard)
   */
  guards?: readonly (Type<CanActivate> | CanActivate)[];
  /** Refuse every action (cancel, retry, redrive) and hide their buttons. @default false */
  readOnly?: boolean;
  /**
   * Show runs' inputs and outputs, dead letters' inputs (they may hold
   * personal data). Errors are always shown.
   * @default false
   */
  showPayloads?: boolean;
  /** How often the overview and an unfinished run's page refresh themselves. @default '5s' */
  refreshInterval?: Duration;
}

/**
 * What `forRoot` and `forRootAsync` take besides the options above: the
 * routes' prefix is fixed when the module is defined, before any factory runs.
 *
 * @publicApi
 */
export interface UnderwayDashboardExtras {
  /** Where the pages are served: `'/underway'`, `'/admin/jobs'`. @default '/underway' */
  path?: string;
}
