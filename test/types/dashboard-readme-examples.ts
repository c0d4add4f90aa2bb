/**
 * The dashboard's examples (docs/dashboard.md, once the README's "Operating
 * it" → "The dashboard"), compiled by `npm run typecheck`. Keep them in sync
 * with docs/dashboard.md; the declarations at the top stand in for the app's
 * own code.
 */
import {
  CanActivate,
  ExecutionContext,
  Injectable,
  Module,
  UnauthorizedException,
} from '@nestjs/common';
import {
  UnderwayDashboardModule,
  UnderwayDashboardOptions,
  UnderwayModule,
  WorkflowClient,
} from '@underway/nestjs';

// --- stand-ins for the app's own code -------------------------------------
@Injectable()
class AuthService {
  isAdmin(authorization: string | undefined): boolean {
    return authorization === 'Bearer admin';
  }
}
@Module({ providers: [AuthService], exports: [AuthService] })
class AuthModule {}
@Injectable()
class ConfigService {
  get(key: string): string | undefined {
    return process.env[key];
  }
}
@Module({ providers: [ConfigService], exports: [ConfigService] })
class ConfigModule {}

// --- README: The dashboard ---------------------------------------------------
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly auth: AuthService) {}
  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined> }>();
    if (!this.auth.isAdmin(request.headers.authorization)) {
      throw new UnauthorizedException();
    }
    return true;
  }
}

@Module({
  imports: [
    UnderwayModule.forRoot({}),
    UnderwayDashboardModule.forRoot({
      path: '/underway',
      guards: [AdminGuard],
    }),
  ],
})
export class AppModule {}

export const asyncDashboard = UnderwayDashboardModule.forRootAsync({
  path: '/admin/jobs',
  imports: [AuthModule, ConfigModule],
  inject: [ConfigService],
  useFactory: (config: ConfigService) => ({
    guards: [AdminGuard],
    // In production: look, but act from the CLI or code.
    readOnly: config.get('NODE_ENV') === 'production',
  }),
});

export const allOptions: UnderwayDashboardOptions = {
  guards: [AdminGuard, { canActivate: () => true }],
  readOnly: true,
  showPayloads: false,
  refreshInterval: '5s',
};

// --- README: Retry -------------------------------------------------------------
export async function retryFailed(
  client: WorkflowClient,
  failedRunId: string,
): Promise<void> {
  const run = await client.retry(failedRunId); // WorkflowRun, same id
  await run.result();
}

// @ts-expect-error path is fixed when the module is defined, not an option
export const noPath: UnderwayDashboardOptions = { path: '/x' };
