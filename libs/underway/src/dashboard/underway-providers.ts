import type { ModuleRef } from '@nestjs/core';
import { InvalidOptionsError } from '../errors/invalid-options.error';

/**
 * One of Underway's providers, found wherever UnderwayModule was imported
 * (they are not exported to the app: the dashboard is part of the library).
 * @throws InvalidOptionsError when UnderwayModule is not in the app
 */
export function underwayProvider<T>(moduleRef: ModuleRef, token: unknown): T {
  try {
    return moduleRef.get<T>(token as string, { strict: false });
  } catch (err) {
    throw Object.assign(
      new InvalidOptionsError(
        'UnderwayDashboardModule',
        'needs UnderwayModule: import UnderwayModule.forRoot(...) (or forRootAsync) in the same application',
      ),
      { cause: err },
    );
  }
}
