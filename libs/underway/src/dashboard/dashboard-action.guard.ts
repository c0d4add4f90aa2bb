import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
} from '@nestjs/common';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import { crossSiteProblem } from './dashboard-security';
import type { ResolvedDashboardOptions } from './resolve-dashboard-options';

/**
 * Before every action (after the access guards): refused in `readOnly`
 * mode, and refused unless it comes from the dashboard's own pages.
 */
@Injectable()
export class DashboardActionGuard implements CanActivate {
  /** @internal Made by Nest's injector. */
  constructor(
    @Inject(DASHBOARD_OPTIONS)
    private readonly options: ResolvedDashboardOptions,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.options.readOnly) {
      throw new ForbiddenException(
        'The dashboard is read-only (readOnly: true): actions are refused.',
      );
    }
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const problem = crossSiteProblem(request.headers);
    if (problem !== undefined) {
      throw new ForbiddenException(
        `Refused as a possible cross-site request: ${problem}.`,
      );
    }
    return true;
  }
}
