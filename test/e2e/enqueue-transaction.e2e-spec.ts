import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  InvalidOptionsError,
  Step,
  StepContext,
  Transition,
  UnderwayModule,
  Workflow,
  WorkflowClient,
} from '@underway/nestjs';
import { CaptureLogger } from '../support/capture-logger';
import { createTestApp, useSchema } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';
import { waitFor } from '../support/wait-for';

const ran: number[] = [];

@Workflow({ name: 'welcome' })
class WelcomeWorkflow {
  @Step()
  async send(input: { userId: number }) {
    ran.push(input.userId);
    return Transition.complete();
  }
}

/** A transactional step: its manager is on the DataSource Underway was given. */
@Workflow({ name: 'named-source' })
class NamedSourceWorkflow {
  @Step({ transactional: true })
  async record(input: { userId: number }, ctx: StepContext) {
    const [row] =
      await ctx.manager!.query<{ one: number }[]>('select 1 as one');
    return Transition.complete({
      dataSource: ctx.manager!.connection.name,
      one: row?.one,
      userId: input.userId,
    });
  }
}

/** What the guide shows for a named connection: inject it by name, enqueue in its transaction. */
@Injectable()
class SignupService {
  constructor(
    @InjectDataSource('jobs') private readonly jobs: DataSource,
    private readonly workflows: WorkflowClient,
  ) {}

  signup(userId: number, fail = false) {
    return this.jobs.transaction(async (manager) => {
      const run = await this.workflows.enqueue(
        NamedSourceWorkflow,
        { userId },
        { manager },
      );
      if (fail) {
        throw new Error('rollback on purpose');
      }
      return run;
    });
  }
}

describe('enqueue inside the caller’s TypeORM transaction', () => {
  beforeEach(() => {
    ran.length = 0;
  });

  it('leaves no run when the enqueueing transaction rolls back', async () => {
    const { client, dataSource, schema } = await createTestApp({
      workflows: [WelcomeWorkflow],
    });
    const rollback = new Error('rollback on purpose');
    await expect(
      dataSource.transaction(async (manager) => {
        await client.enqueue(WelcomeWorkflow, { userId: 1 }, { manager });
        throw rollback;
      }),
    ).rejects.toBe(rollback);

    const rows = await query(`select id from ${schema}.workflow_run`);
    expect(rows).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ran).toEqual([]);
  });

  it('runs the workflow once the enqueueing transaction commits', async () => {
    const { client, dataSource } = await createTestApp({
      workflows: [WelcomeWorkflow],
    });
    const run = await dataSource.transaction((manager) =>
      client.enqueue(WelcomeWorkflow, { userId: 7 }, { manager }),
    );

    await run.result({ timeout: 5_000 });
    expect(ran).toEqual([7]);
    expect(await run.status()).toBe('succeeded');
  });

  it('does not run a run before the enqueueing transaction commits', async () => {
    const { client, dataSource, schema } = await createTestApp({
      workflows: [WelcomeWorkflow],
    });
    let runId = '';
    await dataSource.transaction(async (manager) => {
      runId = (
        await client.enqueue(WelcomeWorkflow, { userId: 3 }, { manager })
      ).id;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ran).toEqual([]);
      expect(await query(`select id from ${schema}.workflow_run`)).toHaveLength(
        0,
      );
    });
    await waitFor(() => ran.includes(3));
    await client.run(runId, 'welcome').result({ timeout: 5_000 });
    expect((await client.getRun(runId))?.state).toBe('succeeded');
  });

  it('uses a named DataSource (TypeOrmModule.forRoot({ name }), dataSourceName, @InjectDataSource(name)) for enqueues and transactional steps', async () => {
    const schema = useSchema(currentTestSchema());
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          name: 'jobs',
          type: 'postgres',
          url: databaseUrl(),
          extra: { max: 3, allowExitOnIdle: true },
          retryAttempts: 0,
        }),
        UnderwayModule.forRoot({
          dataSourceName: 'jobs',
          schema,
          runtime: { pollInterval: 100 },
        }),
      ],
      providers: [NamedSourceWorkflow, SignupService],
    })
      .setLogger(new CaptureLogger())
      .compile();
    await moduleRef.init();
    try {
      const signups = moduleRef.get(SignupService);
      await expect(signups.signup(1, true)).rejects.toThrow(
        'rollback on purpose',
      );
      expect(await query(`select id from ${schema}.workflow_run`)).toEqual([]);
      const run = await signups.signup(2);
      await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
        dataSource: 'jobs',
        one: 1,
        userId: 2,
      });
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses a manager that is not inside a transaction', async () => {
    const { client, dataSource, schema } = await createTestApp({
      workflows: [WelcomeWorkflow],
    });
    await expect(
      client.enqueue(
        WelcomeWorkflow,
        { userId: 1 },
        { manager: dataSource.manager },
      ),
    ).rejects.toThrow(InvalidOptionsError);
    await expect(
      client.enqueue(
        WelcomeWorkflow,
        { userId: 1 },
        { manager: dataSource.manager },
      ),
    ).rejects.toThrow(/not inside a transaction/);
    expect(await query(`select id from ${schema}.workflow_run`)).toHaveLength(
      0,
    );
  });
});
