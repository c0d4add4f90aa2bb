/**
 * The reference's examples (docs/installation.md, workflows.md, client.md,
 * schedules.md, schema.md: the README's sections before they moved there),
 * compiled by `npm run typecheck` (part of `npm test`, under this
 * repository's tsconfig and `nest new`'s) so the documentation cannot drift
 * from the API. Keep them in sync with docs/; the declarations at the top
 * stand in for the app's own code.
 */
import { Injectable, Module } from '@nestjs/common';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, Entity, PrimaryGeneratedColumn, Column } from 'typeorm';
import {
  Activity,
  ActivityError,
  currentActivity,
  Duration,
  EnqueueOptions,
  RetryPolicy,
  RunDetails,
  ScheduleInfo,
  Step,
  StepContext,
  StepError,
  Transition,
  underwayGrantSql,
  underwayMigrations,
  underwayMigrationsFor,
  underwayMigrationSql,
  UnderwayModule,
  UnderwayModuleOptions,
  UnderwayOptionsFactory,
  Workflow,
  WorkflowClient,
  WorkflowRunFailedError,
} from '@underway/nestjs';

// --- stand-ins for the app's own code -------------------------------------
@Entity()
class User {
  @PrimaryGeneratedColumn() id!: number;
  @Column() email!: string;
}
interface SignupDto {
  email: string;
}
@Injectable()
class UsersService {
  find(id: number): Promise<User | null> {
    return Promise.resolve(
      id > 0 ? Object.assign(new User(), { id, email: 'a@b.c' }) : null,
    );
  }
}
@Injectable()
class Mailer {
  send(
    _to: string,
    _subject: string,
    _options: { signal: AbortSignal },
  ): Promise<void> {
    return Promise.resolve();
  }
}
class ConfigService {
  get<T>(_key: string, fallback: T): T {
    return fallback;
  }
}
interface ResizeImage {
  assetId: number;
}
interface PublishImage {
  key: string;
}

// --- README: the headline example ------------------------------------------
@Workflow({ name: 'image-pipeline' })
export class ImagePipeline {
  @Step() async resize(i: ResizeImage) {
    return Transition.next({ key: `images/${i.assetId}.webp` });
  }
  @Step() async publish(_i: PublishImage) {
    return Transition.complete();
  }
}

// --- README: Workflows and steps -------------------------------------------
interface Signup {
  userId: number;
}

@Workflow({
  name: 'signup',
  retry: { maxAttempts: 5 },
  timeout: '15m',
  heartbeat: '30s',
})
export class SignupWorkflow {
  constructor(
    private readonly users: UsersService,
    private readonly mailer: Mailer,
  ) {}

  @Step()
  async resolve({ userId }: Signup, _ctx: StepContext) {
    const user = await this.users.find(userId);
    if (!user) {
      throw StepError.fatal('missing_user', `No user found for id ${userId}`);
    }
    return Transition.next({ email: user.email });
  }

  @Step({ retry: { maxAttempts: 3 }, delay: '10s' })
  async welcome({ email }: { email: string }, ctx: StepContext) {
    await this.mailer.send(email, 'Welcome!', { signal: ctx.signal });
    return Transition.complete({ sentTo: email });
  }
}

// --- README: Installation ---------------------------------------------------
@Injectable()
export class JobsSignupService {
  constructor(
    @InjectDataSource('jobs') private readonly jobs: DataSource,
    private readonly workflows: WorkflowClient,
  ) {}

  signup(userId: number) {
    return this.jobs.transaction((manager) =>
      this.workflows.enqueue(SignupWorkflow, { userId }, { manager }),
    );
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      autoLoadEntities: true,
    }),
    UnderwayModule.forRoot({}),
  ],
  providers: [SignupWorkflow, ImagePipeline, UsersService, Mailer],
})
export class AppModule {}

export const asyncModule = UnderwayModule.forRootAsync({
  inject: [ConfigService],
  useFactory: (config: ConfigService) => ({
    schema: config.get('UNDERWAY_SCHEMA', 'underway'),
    // Environment variables are strings, whatever get()'s type says: parse numbers.
    runtime: { concurrency: Number(config.get('WORKER_CONCURRENCY', '10')) },
  }),
});

@Injectable()
export class UnderwayConfig implements UnderwayOptionsFactory {
  constructor(private readonly config: ConfigService) {}

  createUnderwayOptions(): UnderwayModuleOptions {
    return {
      schema: this.config.get('UNDERWAY_SCHEMA', 'underway'),
      runtime: {
        concurrency: Number(this.config.get('WORKER_CONCURRENCY', '10')),
      },
    };
  }
}

export const classModule = UnderwayModule.forRootAsync({
  useClass: UnderwayConfig,
});

// A named DataSource.
@Module({
  imports: [
    TypeOrmModule.forRoot({
      name: 'jobs',
      type: 'postgres',
      url: process.env.JOBS_DATABASE_URL,
    }),
    UnderwayModule.forRoot({ dataSourceName: 'jobs' }),
  ],
  providers: [SignupWorkflow, JobsSignupService],
})
export class NamedDataSourceModule {}

const appDataSource = new DataSource({ type: 'postgres' });
export const initializedDataSource = UnderwayModule.forRootAsync({
  useFactory: async () => ({ dataSource: await appDataSource.initialize() }),
});

export const allOptions = UnderwayModule.forRoot({
  schema: 'underway',
  migrationsRun: true,
  runtime: {
    concurrency: 10,
    prefetch: 0,
    pollInterval: '1s',
    workflows: undefined,
    instanceName: 'host:1',
    maintenanceInterval: '1m',
  },
  maxInputSize: 1048576,
  shutdownTimeout: '30s',
  defaults: { retry: {}, timeout: '15m', heartbeat: '30s', ttl: '14d' },
  reconnectBackoff: { initial: '100ms', max: '5s' },
  isGlobal: true,
});

// --- README: Enqueueing and inspecting runs ---------------------------------
@Injectable()
export class SignupService {
  constructor(
    private readonly workflows: WorkflowClient,
    private readonly ds: DataSource,
  ) {}

  signup(dto: SignupDto) {
    return this.ds.transaction(async (manager) => {
      const user = await manager.save(User, dto);
      return this.workflows.enqueue(
        SignupWorkflow,
        { userId: user.id },
        { manager },
      );
    });
  }

  async inspect(runId: string): Promise<string> {
    const details: RunDetails | null = await this.workflows.getRun(runId);
    if (details?.state !== 'succeeded') {
      return details?.state ?? 'unknown';
    }
    const run = this.workflows.run<{ sentTo: string }>(runId, 'signup');
    try {
      const output = await run.result({ timeout: '30s' });
      return output.sentTo;
    } catch (err) {
      if (err instanceof WorkflowRunFailedError) {
        return `${err.state}: ${err.errorCode ?? ''}`;
      }
      throw err;
    }
  }

  async controls(accountId: number): Promise<void> {
    const options: EnqueueOptions = {
      delay: '5m',
      priority: 10,
      concurrencyKey: `account:${accountId}`,
      idempotencyKey: `signup:${accountId}`,
    };
    const run = await this.workflows.enqueue(
      'signup',
      { userId: accountId },
      options,
    );
    await run.cancel();
    await this.workflows.enqueueMany(SignupWorkflow, [
      { userId: 1 },
      { userId: 2 },
    ]);
    await this.workflows.redrive('charges-dlq', { limit: 10 });
    await this.workflows.getDeadLetters('charges-dlq');
  }
}

// --- README: Migrations, least privilege -----------------------------------
export const ownDataSource = new DataSource({
  type: 'postgres',
  migrations: [...underwayMigrations, ...underwayMigrationsFor('jobs')],
});
export const script: string =
  underwayMigrationSql('underway') +
  underwayGrantSql('app_runtime', 'underway');

// --- Types that must catch mistakes -----------------------------------------
export const durations: Duration[] = [500, '500ms', '30s', '15m', '1h', '14d'];
// @ts-expect-error a duration needs a unit the library knows
export const badDuration: Duration = '10 minutes';
// @ts-expect-error retry policies have no such field
export const badPolicy: RetryPolicy = { maxAttempt: 3 };
// @ts-expect-error workflows need a name
@Workflow({ retry: { maxAttempts: 2 } })
export class Nameless {}

// --- README "Activities" ---------------------------------------------------
@Injectable()
class Metrics {
  increment(_name: string, _options: { signal: AbortSignal }): Promise<void> {
    return Promise.resolve();
  }
}

@Workflow({ name: 'signup', retry: { maxAttempts: 5 } })
export class SignupWithActivities {
  constructor(
    private readonly users: UsersService,
    private readonly metrics: Metrics,
  ) {}

  // `name` is stored with each call (default: the method name): the method can be renamed.
  @Activity({
    name: 'lookup-email',
    retry: { maxAttempts: 10 },
    timeout: '30s',
  })
  async lookupEmail(userId: number): Promise<string> {
    const user = await this.users.find(userId);
    if (!user) {
      throw ActivityError.fatal(
        'missing_user',
        `No user found for id ${userId}`,
      );
    }
    return user.email;
  }

  @Activity()
  async trackSignup(_email: string): Promise<void> {
    await this.metrics.increment('signups', {
      signal: currentActivity().signal,
    });
  }

  @Step()
  async resolve({ userId }: Signup, ctx: StepContext<SignupWithActivities>) {
    const email = await ctx.call('lookupEmail', userId); // typed: string
    await ctx.emit('trackSignup', email); // durable fire-and-forget
    return Transition.next({ email });
  }

  @Step()
  async welcome({ email }: { email: string }) {
    return Transition.complete({ welcomed: email });
  }
}
// The result type is the method's.
export async function typedResult(
  ctx: StepContext<SignupWithActivities>,
): Promise<string> {
  return ctx.call('lookupEmail', 1);
}

// --- README "Transactional steps" --------------------------------------------
@Entity()
class Receipt {
  @PrimaryGeneratedColumn() id!: number;
  @Column() orderId!: number;
  @Column() issuedAt!: Date;
}

@Workflow({ name: 'order-receipt' })
export class OrderReceiptWorkflow {
  @Step({ transactional: true })
  async store({ orderId }: { orderId: number }, ctx: StepContext) {
    await ctx.manager!.save(Receipt, { orderId, issuedAt: new Date() }); // your entity
    return Transition.next({ orderId }); // commits with the receipt row
  }

  @Step()
  async email(_input: { orderId: number }) {
    return Transition.complete();
  }
}

// --- README "Schedules" --------------------------------------------------------
@Workflow({ name: 'report' })
export class ReportWorkflow {
  @Step()
  async build(_input: { kind?: string; tenant?: number }) {
    return Transition.complete();
  }
}

export async function scheduleReports(client: WorkflowClient): Promise<void> {
  // Every day at 02:00 in Paris, a run of ReportWorkflow with this input:
  await client.schedule(ReportWorkflow, '0 2 * * *[Europe/Paris]', {
    kind: 'daily',
  });
  // Several schedules of one workflow, each with its key; skip a tick while the last run is unfinished:
  await client.schedule(
    ReportWorkflow,
    '*/15 * * * *',
    { tenant: 7 },
    { key: 'tenant:7', overlap: 'skip' },
  );
  const schedules: ScheduleInfo[] = await client.listSchedules(ReportWorkflow);
  void schedules;
  const removed: boolean = await client.unschedule(ReportWorkflow, {
    key: 'tenant:7',
  });
  void removed;
}

@Workflow({
  name: 'daily-report',
  schedule: [
    { cron: '@daily[Europe/Paris]', input: { scope: 'all' } },
    {
      cron: '*/15 * * * *',
      key: 'quarter-hourly',
      input: { scope: 'recent' },
      overlap: 'skip',
    },
  ],
})
export class DailyReportWorkflow {
  @Step()
  async build(_input: { scope: string }) {
    return Transition.complete();
  }
}
