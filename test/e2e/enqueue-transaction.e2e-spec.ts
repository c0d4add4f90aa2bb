import {
  InvalidOptionsError,
  Step,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
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
