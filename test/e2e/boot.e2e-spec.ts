import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Inject, Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { REQUEST } from '@nestjs/core';
import {
  DuplicateWorkflowError,
  InvalidOptionsError,
  InvalidWorkflowDefinitionError,
  Step,
  Transition,
  UNDERWAY_MODULE_OPTIONS,
  UnderwayModule,
  UnderwayModuleOptions,
  UnderwayOptionsFactory,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';
import { CaptureLogger } from '../support/capture-logger';
import { createTestApp, useSchema } from '../support/create-test-app';
import { databaseUrl, libraryConnections, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';

@Workflow({ name: 'empty' })
class EmptyWorkflow {
  async notAStep() {
    return Transition.complete();
  }
}

@Workflow({ name: 'same-name' })
class FirstWorkflow {
  @Step()
  async run() {
    return Transition.complete();
  }
}

@Workflow({ name: 'same-name' })
class SecondWorkflow {
  @Step()
  async run() {
    return Transition.complete();
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestContext {
  constructor(@Inject(REQUEST) readonly request: unknown) {}
}

@Workflow({ name: 'scoped' })
class ScopedWorkflow {
  constructor(readonly context: RequestContext) {}

  @Step()
  async run() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-options' })
class BadStepOptionsWorkflow {
  @Step({ retry: { maxAttempts: 0 } })
  async charge() {
    return Transition.complete();
  }
}

@Workflow({ name: 'factory-made' })
class FactoryMadeWorkflow {
  @Step()
  async run() {
    return Transition.complete('from factory');
  }
}

const execFileAsync = promisify(execFile);

/** The options of the next app `UnderwayConfig` configures (set by each test). */
const configured: { options: UnderwayModuleOptions } = { options: {} };

@Injectable()
class UnderwayConfig implements UnderwayOptionsFactory {
  createUnderwayOptions(): UnderwayModuleOptions {
    return configured.options;
  }
}

/** An app module as an app writes it: its options from a useClass factory. */
@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: databaseUrl(),
      extra: { max: 3, allowExitOnIdle: true },
      retryAttempts: 0,
    }),
    UnderwayModule.forRootAsync({ useClass: UnderwayConfig }),
  ],
  providers: [FactoryMadeWorkflow],
})
class ConfiguredAppModule {}

async function hasRunTable(schema: string): Promise<boolean> {
  const [row] = await query<{ found: boolean }>(
    `select to_regclass($1) is not null as found`,
    [`${schema}.workflow_run`],
  );
  return row!.found;
}

describe('boot', () => {
  it('fails with a typed error naming a @Workflow class that has no @Step', async () => {
    const error = await createTestApp({ workflows: [EmptyWorkflow] }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidWorkflowDefinitionError);
    expect((error as Error).message).toBe(
      'EmptyWorkflow: @Workflow class has no @Step() method. Decorate at least one method with @Step().',
    );
  });

  it('fails with a typed error naming both classes that share a workflow name', async () => {
    const error = await createTestApp({
      workflows: [FirstWorkflow, SecondWorkflow],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateWorkflowError);
    expect((error as Error).message).toBe(
      'Workflow name "same-name" is used by both FirstWorkflow and SecondWorkflow. Give each @Workflow a unique name, or, for two versions of one workflow, a different @Workflow({ version }).',
    );
  });

  it('refuses a request-scoped workflow, naming the class', async () => {
    const error = await createTestApp({
      workflows: [ScopedWorkflow],
      providers: [RequestContext],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidWorkflowDefinitionError);
    expect((error as Error).message).toMatch(
      /^ScopedWorkflow: a @Workflow class must be a singleton provider/,
    );
  });

  it('names the class and method of an invalid @Step option', async () => {
    const error = await createTestApp({
      workflows: [BadStepOptionsWorkflow],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidWorkflowDefinitionError);
    expect((error as Error).message).toBe(
      'BadStepOptionsWorkflow.charge: Invalid option @Step.retry.maxAttempts: must be an integer from 1 to 1000000, got 0.',
    );
  });

  it('rejects invalid module options with the option’s path', async () => {
    const badSchema = await createTestApp({
      workflows: [],
      underway: { schema: 'Robert"); drop' },
    }).catch((e: unknown) => e);
    expect(badSchema).toBeInstanceOf(InvalidOptionsError);
    expect((badSchema as Error).message).toMatch(
      /^Invalid option schema: must match/,
    );

    const badConcurrency = await createTestApp({
      workflows: [],
      underway: { runtime: { concurrency: 0 } },
    }).catch((e: unknown) => e);
    expect((badConcurrency as Error).message).toBe(
      'Invalid option runtime.concurrency: must be an integer from 1 to 10000, got 0.',
    );

    const unknownWorkflow = await createTestApp({
      workflows: [FirstWorkflow],
      underway: {
        runtime: { workflows: ['missing'], instanceName: 'bad-list' },
      },
    }).catch((e: unknown) => e);
    expect(unknownWorkflow).toBeInstanceOf(InvalidOptionsError);
    expect((unknownWorkflow as Error).message).toMatch(
      /runtime\.workflows: lists "missing", which is not registered \(registered: same-name\)/,
    );
    // Refused before anything touched the database.
    expect(await libraryConnections('bad-list')).toBe(0);
    expect(
      await query(`select 1 from pg_namespace where nspname = $1`, [
        currentTestSchema(),
      ]),
    ).toEqual([]);
  });

  it('refuses a schema PostgreSQL reserves (information_schema, pg_*) before connecting', async () => {
    for (const schema of ['information_schema', 'pg_underway']) {
      const error = await createTestApp({
        workflows: [FirstWorkflow],
        underway: { schema, runtime: { instanceName: 'reserved-schema' } },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as Error).message).toBe(
        `Invalid option schema: "${schema}" is reserved by PostgreSQL ` +
          '(information_schema, and every name starting with pg_): choose another name, such as underway.',
      );
    }
    expect(await libraryConnections('reserved-schema')).toBe(0);
    expect(
      await query(
        `select tablename from pg_tables
         where schemaname = 'information_schema' and tablename in ('workflow_run', 'migration')`,
      ),
    ).toEqual([]);
  });

  it('discovers a workflow provided through useFactory', async () => {
    const { client } = await createTestApp({
      providers: [
        { provide: 'MADE', useFactory: () => new FactoryMadeWorkflow() },
      ],
    });
    const run = await client.enqueue(FactoryMadeWorkflow);
    await expect(run.result({ timeout: 5_000 })).resolves.toBe('from factory');
  });

  it('takes its options from forRootAsync, with injected providers and a DataSource given by the app', async () => {
    const schema = useSchema(currentTestSchema('async'));
    const dataSource = new DataSource({
      type: 'postgres',
      url: databaseUrl(),
      extra: { max: 1 },
    });
    @Module({
      providers: [
        { provide: 'SETTINGS', useValue: { schema, concurrency: 2 } },
      ],
      exports: ['SETTINGS'],
    })
    class SettingsModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        UnderwayModule.forRootAsync({
          imports: [SettingsModule],
          inject: ['SETTINGS'],
          useFactory: async (settings: {
            schema: string;
            concurrency: number;
          }) => ({
            dataSource: await dataSource.initialize(),
            schema: settings.schema,
            runtime: { concurrency: settings.concurrency, pollInterval: 100 },
          }),
        }),
      ],
      providers: [FactoryMadeWorkflow],
    })
      .setLogger(new CaptureLogger())
      .compile();
    await moduleRef.init();
    try {
      const client = moduleRef.get(WorkflowClient);
      const run = await client.enqueue(FactoryMadeWorkflow);
      await expect(run.result({ timeout: 5_000 })).resolves.toBe(
        'from factory',
      );
      const [row] = await query<{ state: string }>(
        `select state from ${schema}.workflow_run where id = $1`,
        [run.id],
      );
      expect(row?.state).toBe('succeeded');
    } finally {
      await moduleRef.close();
      await dataSource.destroy();
    }
  });

  it('makes its options with a useClass factory (UnderwayOptionsFactory), which a test overrides through UNDERWAY_MODULE_OPTIONS', async () => {
    const fromFactory = useSchema(currentTestSchema('factory'));
    const fromTest = useSchema(currentTestSchema('override'));
    configured.options = {
      schema: fromFactory,
      runtime: { pollInterval: 100 },
    };

    const asConfigured = await Test.createTestingModule({
      imports: [ConfiguredAppModule],
    })
      .setLogger(new CaptureLogger())
      .compile();
    await asConfigured.init();
    try {
      const run = await asConfigured
        .get(WorkflowClient)
        .enqueue(FactoryMadeWorkflow);
      await expect(run.result({ timeout: 10_000 })).resolves.toBe(
        'from factory',
      );
    } finally {
      await asConfigured.close();
    }
    expect(await hasRunTable(fromFactory)).toBe(true);

    const overridden = await Test.createTestingModule({
      imports: [ConfiguredAppModule],
    })
      .overrideProvider(UNDERWAY_MODULE_OPTIONS)
      .useValue({ schema: fromTest, runtime: { pollInterval: 100 } })
      .setLogger(new CaptureLogger())
      .compile();
    await overridden.init();
    try {
      const run = await overridden
        .get(WorkflowClient)
        .enqueue(FactoryMadeWorkflow);
      await expect(run.result({ timeout: 10_000 })).resolves.toBe(
        'from factory',
      );
      const [row] = await query<{ state: string }>(
        `select state from ${fromTest}.workflow_run where id = $1`,
        [run.id],
      );
      expect(row?.state).toBe('succeeded');
    } finally {
      await overridden.close();
    }

    // The override's options are checked like any: a numeric string is refused, saying so.
    const invalid = await Test.createTestingModule({
      imports: [ConfiguredAppModule],
    })
      .overrideProvider(UNDERWAY_MODULE_OPTIONS)
      .useValue({ schema: fromTest, runtime: { concurrency: '10' } })
      .setLogger(new CaptureLogger())
      .compile()
      .then(
        (moduleRef) => moduleRef.close().then(() => undefined),
        (err: unknown) => err,
      );
    expect(invalid).toBeInstanceOf(InvalidOptionsError);
    expect((invalid as Error).message).toContain(
      'Invalid option runtime.concurrency: must be an integer from 1 to 10000, got the string "10"',
    );
  });

  it('refuses a DataSource that is not initialized, or was destroyed, naming the fix, before connecting', async () => {
    const schema = useSchema(currentTestSchema());
    const never = new DataSource({ type: 'postgres', url: databaseUrl() });
    const destroyed = new DataSource({
      type: 'postgres',
      url: databaseUrl(),
      extra: { max: 1 },
    });
    await destroyed.initialize();
    await destroyed.destroy();
    for (const [what, dataSource] of [
      ['never initialized', never],
      ['destroyed', destroyed],
    ] as const) {
      const moduleRef = await Test.createTestingModule({
        imports: [
          UnderwayModule.forRoot({
            dataSource,
            schema,
            runtime: { instanceName: 'uninitialized', pollInterval: 100 },
          }),
        ],
        providers: [FactoryMadeWorkflow],
      })
        .setLogger(new CaptureLogger())
        .compile();
      const started = Date.now();
      const error = await moduleRef.init().then(
        async () => {
          await moduleRef.close();
          return 'booted';
        },
        (e: unknown) => e,
      );
      expect({ what, error }).toEqual({
        what,
        error: expect.any(InvalidOptionsError) as unknown,
      });
      expect((error as Error).message).toBe(
        'Invalid option dataSource: is a DataSource that is not initialized (never, or destroyed since). ' +
          'Underway reads through it (transactional steps and activities) but does not own it: initialize it ' +
          'before the app boots (await dataSource.initialize(), for instance in the factory of ' +
          'UnderwayModule.forRootAsync), let TypeOrmModule create it, or pass its DataSourceOptions ' +
          '(dataSource.options) if Underway is only to connect to the same database.',
      );
      // At once, not after a connection attempt or at the first enqueue.
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    expect(never.isInitialized).toBe(false); // not initialized behind the app's back
    expect(await libraryConnections('uninitialized')).toBe(0);
    expect(
      await query(`select 1 from pg_namespace where nspname = $1`, [schema]),
    ).toEqual([]);
  });

  it('boots without @nestjs/typeorm (an optional peer) given a DataSource, and says what to do without one', async () => {
    const schema = currentTestSchema();
    const runFixture = async (env: Record<string, string>) => {
      const { stdout } = await execFileAsync(
        process.execPath,
        [
          '-r',
          './scripts/register.js',
          'test/fixtures/without-nest-typeorm.ts',
        ],
        {
          cwd: resolve(__dirname, '..', '..'),
          env: {
            ...process.env,
            DATABASE_URL: databaseUrl(),
            SCHEMA: schema,
            ...env,
          },
          timeout: 20_000,
        },
      );
      return JSON.parse(stdout.trim().split('\n').pop()!) as unknown;
    };
    await expect(runFixture({})).resolves.toEqual({ output: { doubled: 42 } });
    await expect(runFixture({ WITHOUT_DATA_SOURCE: '1' })).resolves.toEqual({
      bootError: {
        name: 'InvalidOptionsError',
        message:
          'Invalid option dataSource: no DataSource was given, and @nestjs/typeorm (through which ' +
          'Underway finds the app’s) is not installed. Pass UnderwayModule.forRoot({ dataSource }) ' +
          '(a DataSource or DataSourceOptions), or install @nestjs/typeorm.',
      },
    });
  });
});
