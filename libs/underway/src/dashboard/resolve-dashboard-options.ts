import type { CanActivate, Type } from '@nestjs/common';
import { parseDuration } from '../common/duration';
import { describeValue } from '../errors/describe-value';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { ownOptions } from '../common/options-object';
import type { UnderwayDashboardOptions } from './dashboard-options.interface';

/** `UnderwayDashboardOptions` with every default applied; frozen. */
export interface ResolvedDashboardOptions {
  readonly guards: readonly (Type<CanActivate> | CanActivate)[];
  readonly readOnly: boolean;
  readonly showPayloads: boolean;
  readonly refreshIntervalMs: number;
}

export const DEFAULT_DASHBOARD_PATH = '/underway';

const KEYS = ['guards', 'readOnly', 'showPayloads', 'refreshInterval'] as const;
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

/**
 * The dashboard's route prefix: `/` and segments of letters, digits and
 * `._~-` (so it never needs escaping in a link), without a trailing slash.
 *
 * @throws InvalidOptionsError
 */
export function resolveDashboardPath(path: unknown): string {
  if (path === undefined) {
    return DEFAULT_DASHBOARD_PATH;
  }
  const segments =
    typeof path === 'string' && path.startsWith('/')
      ? path.slice(1).replace(/\/$/, '').split('/')
      : [];
  if (
    segments.length === 0 ||
    !segments.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')
  ) {
    throw new InvalidOptionsError(
      'dashboard.path',
      `must be a path such as '/underway' or '/admin/jobs' (segments of letters, digits and ._~-), got ${describeValue(path)}`,
    );
  }
  return `/${segments.join('/')}`;
}

/** @throws InvalidOptionsError for an unknown key or a bad value */
export function resolveDashboardOptions(
  options: unknown,
): ResolvedDashboardOptions {
  if (
    typeof options === 'object' &&
    options !== null &&
    Object.prototype.hasOwnProperty.call(options, 'path')
  ) {
    throw new InvalidOptionsError(
      'dashboard.path',
      'is fixed when the module is defined: pass it to forRootAsync({ path, useFactory }), not in the options the factory returns',
    );
  }
  const { guards, readOnly, showPayloads, refreshInterval } = ownOptions(
    options,
    KEYS,
    'a dashboard',
  );
  return Object.freeze({
    guards: Object.freeze(checkGuards(guards)),
    readOnly: checkBoolean(readOnly, 'readOnly'),
    showPayloads: checkBoolean(showPayloads, 'showPayloads'),
    refreshIntervalMs:
      refreshInterval === undefined
        ? 5_000
        : parseDuration(
            refreshInterval as UnderwayDashboardOptions['refreshInterval'],
            'dashboard.refreshInterval',
            { min: 500, max: 3_600_000 },
          ),
  });
}

function checkBoolean(value: unknown, name: string): boolean {
  if (value === undefined) {
    return false;
  }
  if (typeof value !== 'boolean') {
    throw new InvalidOptionsError(
      `dashboard.${name}`,
      `must be true or false, got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkGuards(value: unknown): (Type<CanActivate> | CanActivate)[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw new InvalidOptionsError(
      'dashboard.guards',
      `must be an array of guards (classes or instances with canActivate), got ${describeValue(value)}`,
    );
  }
  return value.map((guard: unknown, i) => {
    const isClass =
      typeof guard === 'function' &&
      typeof (guard.prototype as Partial<CanActivate> | undefined)
        ?.canActivate === 'function';
    const isInstance =
      typeof guard === 'object' &&
      guard !== null &&
      typeof (guard as Partial<CanActivate>).canActivate === 'function';
    if (!isClass && !isInstance) {
      throw new InvalidOptionsError(
        `dashboard.guards[${i}]`,
        `must be a guard class or an object with a canActivate method, got ${describeValue(guard)}`,
      );
    }
    return guard as Type<CanActivate> | CanActivate;
  });
}
