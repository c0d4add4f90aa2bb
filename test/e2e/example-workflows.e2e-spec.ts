import { randomBytes } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client, escapeIdentifier } from 'pg';
import { DataSource } from 'typeorm';
import {
  UNDERWAY_MODULE_OPTIONS,
  WorkflowRunFailedError,
} from '@underway/nestjs';
import {
  createUnderwayTestKit,
  UnderwayTestKit,
} from '@underway/nestjs/testing';
import { AppModule } from '../../apps/example/src/app.module';
import { DatabaseConnection } from '../../apps/example/src/database/database-connection';
import { PlaceOrderDto } from '../../apps/example/src/orders/dto/place-order.dto';
import { Order } from '../../apps/example/src/orders/order.entity';
import { OrdersService } from '../../apps/example/src/orders/orders.service';
import { ReceiptRenderer } from '../../apps/example/src/orders/receipt-renderer.service';
import { Receipt } from '../../apps/example/src/orders/receipt.entity';
import { DailyReportWorkflow } from '../../apps/example/src/reports/daily-report.workflow';
import { CreateUserDto } from '../../apps/example/src/users/dto/create-user.dto';
import { SignupMetrics } from '../../apps/example/src/users/signup-metrics.service';
import { SignupWorkflow } from '../../apps/example/src/users/signup.workflow';
import { User } from '../../apps/example/src/users/user.entity';
import { UsersService } from '../../apps/example/src/users/users.service';
import { CaptureLogger } from '../support/capture-logger';
import { databaseUrl } from '../support/database';

// The example app's workflows (apps/example) tested the way its users would
// test theirs: its own AppModule, booted in the test's process with
// `runtime: 'manual'`, driven by the testing kit on a real PostgreSQL (a
// database of its own). Each workflow runs end to end, retries and
// schedules included, in well under a second of wall time.

/** Well under a second: what a workflow's test may take, boot excluded. */
const WALL_TIME_MS = 1_000;

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function parisTime(date: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(date);
}

function parisDate(date: Date): string {
  return date.toLocaleDateString('en-CA', { timeZone: 'Europe/Paris' });
}

/** Renders at once: the real one waits 2 s of real time, which no clock skips. */
class InstantReceiptRenderer extends ReceiptRenderer {
  override readonly renderTimeMs = 0;
}

describe('the example app’s workflows, on the testing kit', () => {
  const database = `example_kit_${randomBytes(6).toString('hex')}`;
  let app: INestApplication;
  let kit: UnderwayTestKit;
  let startedAt: number;

  beforeAll(async () => {
    await admin((client) =>
      client.query(`create database ${escapeIdentifier(database)}`),
    );
    const url = new URL(databaseUrl());
    url.pathname = `/${database}`;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      // The app's own database connection, pointed at the test's database.
      .overrideProvider(DatabaseConnection)
      .useValue({ url: url.toString(), onApplicationShutdown: () => {} })
      .overrideProvider(UNDERWAY_MODULE_OPTIONS)
      .useValue({ runtime: 'manual', shutdownTimeout: '1s' })
      .overrideProvider(ReceiptRenderer)
      .useClass(InstantReceiptRenderer)
      .compile();
    app = moduleRef.createNestApplication({ logger: new CaptureLogger() });
    await app.init();
    kit = createUnderwayTestKit(app);
  });

  afterAll(async () => {
    await app?.close();
    await admin((client) =>
      client.query(
        `drop database if exists ${escapeIdentifier(database)} with (force)`,
      ),
    );
  });

  beforeEach(() => {
    startedAt = performance.now();
  });

  afterEach(() => {
    kit.restoreActivities();
    const elapsedMs = performance.now() - startedAt;
    console.log(
      `${expect.getState().currentTestName}: ${elapsedMs.toFixed(0)} ms`,
    );
    expect(elapsedMs).toBeLessThan(WALL_TIME_MS);
  });

  it('signup: looks the email up through its activity, replays, tracks the metric and sends the welcome email', async () => {
    const email = `ada.${Date.now()}@example.com`;
    const tracked = jest.spyOn(app.get(SignupMetrics), 'recordSignup');
    const { user, run } = await app
      .get(UsersService)
      .signup(new CreateUserDto(email, 'Ada Lovelace'));
    const finished = kit.events.next('run:finished', { runId: run.id });

    expect(await kit.finish(run)).toBeUndefined();

    expect(await finished).toMatchObject({ state: 'succeeded' });
    const details = await kit.client.getRun(run.id);
    expect(details?.input).toEqual({ userId: user.id });
    expect(details?.attempts.map((a) => `${a.stepName} ${a.state}`)).toEqual([
      'resolve succeeded',
      'sendWelcomeEmail succeeded',
    ]);
    expect(
      details?.activityCalls.map((c) => `${c.kind} ${c.name} ${c.state}`),
    ).toEqual([
      'call lookup-email succeeded',
      'emit trackSignupMetric succeeded',
    ]);
    expect(tracked).toHaveBeenCalledWith(email);
    tracked.mockRestore();
  });

  it('signup: a lookup that fails twice is retried after its backoff, on the moved clock', async () => {
    const email = `grace.${Date.now()}@example.com`;
    let lookups = 0;
    kit.mockActivity(SignupWorkflow, 'lookupEmail', (userId: number) => {
      lookups += 1;
      if (lookups < 3) {
        throw new Error('users database busy');
      }
      return `mocked-${userId}@example.com`;
    });
    const { run } = await app
      .get(UsersService)
      .signup(new CreateUserDto(email, 'Grace Hopper'));

    await kit.finish(run);

    expect(lookups).toBe(3);
    const [call] = (await kit.client.getRun(run.id))!.activityCalls;
    expect(
      call?.attempts.map((a) => `${a.state} ${a.error?.message ?? ''}`),
    ).toEqual([
      'failed users database busy',
      'failed users database busy',
      'succeeded ',
    ]);
    // Its backoff (500 ms, then 1 s, less jitter) was skipped, not waited for.
    expect(kit.clock.offsetMs).toBeGreaterThan(0);
  });

  it('signup: fails the run with missing_user when the user does not exist', async () => {
    const failure = await kit
      .runToCompletion(SignupWorkflow, { userId: 2_000_000_000 })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowRunFailedError);
    expect(failure).toMatchObject({
      state: 'failed',
      errorCode: 'activity_failed',
    });
    expect((failure as Error).message).toContain('missing_user');
  });

  it('order-receipt: renders the receipt in its transaction, retries the email once, and completes', async () => {
    const { order, run } = await app
      .get(OrdersService)
      .place(
        new PlaceOrderDto('ada@example.com', 'Analytical Engine cards', 4_200),
      );

    const output = await kit.finish(run);

    const receiptId = `RCPT-${String(order.id).padStart(6, '0')}`;
    expect(output).toEqual({ receiptId });
    const details = await kit.client.getRun(run.id);
    expect(
      details?.attempts.map(
        (a) =>
          `${a.stepName}#${a.attempt} ${a.state} ${a.error?.message ?? ''}`,
      ),
    ).toEqual([
      'awaitApproval#1 succeeded ', // under the threshold: no approval needed
      'renderReceipt#1 succeeded ',
      'emailReceipt#1 failed SMTP server busy (simulated)',
      'emailReceipt#2 succeeded ',
    ]);
    const dataSource = app.get(DataSource);
    expect(
      await dataSource.getRepository(Receipt).findOneBy({ id: receiptId }),
    ).toMatchObject({ orderId: order.id });
    expect(
      await dataSource.getRepository(Order).findOneBy({ id: order.id }),
    ).toMatchObject({ receiptId });
  });

  it('order-receipt: fails for good, without a retry, when the order does not exist', async () => {
    const failure = await kit
      .runToCompletion<unknown>('order-receipt', { orderId: 2_000_000_000 })
      .catch((err: unknown) => err);
    expect(failure).toMatchObject({
      state: 'failed',
      errorCode: 'missing_order',
    });
    const details = await kit.client.getRun(
      (failure as WorkflowRunFailedError).runId,
    );
    expect(details?.attempts.map((a) => `${a.stepName} ${a.state}`)).toEqual([
      'awaitApproval succeeded',
      'renderReceipt failed',
    ]);
  });

  it('order-receipt: an order above the threshold waits for its approval, escalates after its timeout, and goes on once approved', async () => {
    const orders = app.get(OrdersService);
    const { order, run } = await orders.place(
      new PlaceOrderDto('ada@example.com', 'Difference Engine', 125_000),
    );
    // Nothing approves it: finish() says what it waits for, once the
    // timeout (moved past on the kit's clock) has escalated it.
    await expect(kit.finish(run)).rejects.toThrow(/approval/);
    const dataSource = app.get(DataSource);
    expect(
      await dataSource.getRepository(Order).findOneBy({ id: order.id }),
    ).toMatchObject({ approval: 'escalated' });
    await orders.decide(order.id, { approved: true, by: 'boss@example.com' });
    await expect(kit.finish(run)).resolves.toEqual({
      receiptId: `RCPT-${String(order.id).padStart(6, '0')}`,
    });
  });

  it('daily-report: fires at midnight in Paris, once per day, and reports the counts', async () => {
    const schedules = await kit.client.listSchedules(DailyReportWorkflow);
    const daily = schedules.find((s) => s.key === 'default')!;
    expect(daily.timezone).toBe('Europe/Paris');
    const fired = kit.events.next('schedule:fired', {
      workflowName: 'daily-report',
      key: 'default',
    });

    // To the next midnight in Paris (and the 10-second demo schedule's ticks
    // on the way: a skipped tick fires once).
    const untilMidnight = daily.nextFireAt.getTime() - Date.now();
    await kit.clock.advance(untilMidnight + 1_000);
    await kit.drain();

    const { runId, fireAt } = await fired;
    // Stored on the database's clock: on Underway's, it is midnight in Paris.
    const midnight = new Date(fireAt.getTime() + kit.clock.offsetMs);
    expect(parisTime(midnight)).toBe('00:00');
    const dataSource = app.get(DataSource);
    expect(await kit.client.run(runId, DailyReportWorkflow).result()).toEqual({
      users: await dataSource.getRepository(User).count(),
      orders: await dataSource.getRepository(Order).count(),
    });

    // The next midnight: not an hour before it, once at it.
    const dailyNow = async () =>
      (await kit.client.listSchedules(DailyReportWorkflow)).find(
        (s) => s.key === 'default',
      )!;
    const nextMidnight = (await dailyNow()).nextFireAt.getTime();
    const next = kit.events.next('schedule:fired', {
      workflowName: 'daily-report',
      key: 'default',
    });
    await kit.clock.advance(nextMidnight - Date.now() - 3_600_000);
    await kit.drain();
    expect((await dailyNow()).lastRunId).toBe(runId);
    await kit.clock.advance(3_600_000 + 1_000);
    await kit.drain();
    const second = await next;
    expect(second.runId).not.toBe(runId);
    const secondMidnight = new Date(
      second.fireAt.getTime() + kit.clock.offsetMs,
    );
    expect(parisTime(secondMidnight)).toBe('00:00');
    expect(parisDate(secondMidnight)).not.toBe(parisDate(midnight));
    expect((await dailyNow()).lastRunId).toBe(second.runId);
  });
});
