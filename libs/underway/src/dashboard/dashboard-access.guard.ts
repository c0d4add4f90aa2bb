import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import type { ResolvedDashboardOptions } from './resolve-dashboard-options';

type GuardResult = boolean | Promise<boolean> | { subscribe: unknown };

/** Waits for a guard's answer, whether a boolean, a promise or an observable. */
function settle(result: GuardResult): Promise<boolean> {
  if (typeof result === 'boolean' || result instanceof Promise) {
    return Promise.resolve(result);
  }
  return new Promise<boolean>((resolve, reject) => {
    let last = false;
    (
      result as {
        subscribe(observer: {
          next(value: boolean): void;
          error(err: unknown): void;
          complete(): void;
        }): unknown;
      }
    ).subscribe({
      next: (value) => {
        last = value;
      },
      error: reject,
      complete: () => resolve(last),
    });
  });
}

/**
 * Runs the `guards` of the dashboard's options, in order, before every route
 * of the dashboard: the first that refuses ends the request (a 403 for
 * `false`; what it throws, otherwise).
 */
@Injectable()
export class DashboardAccessGuard implements CanActivate {
  private resolved: CanActivate[] | undefined;

  /** @internal Made by Nest's injector. */
  constructor(
    @Inject(DASHBOARD_OPTIONS)
    private readonly options: ResolvedDashboardOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    for (const guard of await this.guards()) {
      const allowed = await settle(guard.canActivate(context));
      if (!allowed) {
        throw new ForbiddenException('A dashboard guard refused this request.');
      }
    }
    return true;
  }

  private async guards(): Promise<CanActivate[]> {
    this.resolved ??= await Promise.all(
      this.options.guards.map(async (guard) => {
        if (typeof guard !== 'function') {
          return guard;
        }
        const type = guard;
        try {
          // The app's own instance, when the guard is one of its providers.
          return this.moduleRef.get(type, { strict: false });
        } catch {
          return this.moduleRef.create(type);
        }
      }),
    );
    return this.resolved;
  }
}
