import {
  Activity,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { DataSource } from 'typeorm';
import { createTestApp } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { Pgbouncer, pgbouncerPath, startPgbouncer } from '../support/pgbouncer';
import { waitFor } from '../support/wait-for';

/**
 * Through a real PgBouncer (Debian's package: 1.18, which keeps no prepared
 * statement across the server connections of a transaction pool) in
 * `pool_mode = transaction`: with `connections: { preparedStatements: false }`
 * every path works (enqueue, enqueue in the app's transaction, claims and
 * commits, activity calls, a transactional step, a schedule), and with
 * `listenUrl` (a direct connection for `LISTEN`) a worker is woken at once;
 * without it, by its poll. In `pool_mode = session`, the same option, and
 * `LISTEN` works through the pooler.
 */
const available = pgbouncerPath() !== undefined;
if (!available && process.env.UNDERWAY_REQUIRE_PGBOUNCER) {
  throw new Error('pgbouncer is required here (apt-get install -y pgbouncer)');
}
const describeWithPgbouncer = available ? describe : describe.skip;

interface Order {
  n: number;
}

/** How long the transactional step holds its transaction open (the crash test). */
let slowMs = 0;

@Workflow({ name: 'pooled' })
class PooledWorkflow {
  @Activity()
  async price({ n }: Order) {
    return n * 10;
  }

  @Step()
  async quote(order: Order, ctx: StepContext<PooledWorkflow>) {
    const price = await ctx.call('price', order);
    return Transition.next({ ...order, price });
  }

  @Step({ transactional: true })
  async book(
    order: Order & { price: number },
    ctx: StepContext<PooledWorkflow>,
  ) {
    if (slowMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, slowMs));
    }
    await ctx.manager!.query(
      `insert into pooled_booking (run_id, n, price) values ($1, $2, $3)`,
      [ctx.runId, order.n, order.price],
    );
    return Transition.complete({ price: order.price });
  }
}

describeWithPgbouncer('through PgBouncer in transaction mode', () => {
  let bouncer: Pgbouncer;
  let dataSource: DataSource;

  beforeAll(async () => {
    bouncer = await startPgbouncer(databaseUrl(), 'transaction');
    await query(`create table if not exists pooled_booking (
      run_id uuid primary key, n int not null, price int not null)`);
  });

  beforeEach(async () => {
    await query('truncate pooled_booking');
    dataSource = new DataSource({
      type: 'postgres',
      url: bouncer.url,
      extra: { max: 5 },
    });
    await dataSource.initialize();
  });

  afterEach(async () => {
    await dataSource.destroy().catch(() => undefined);
  });

  afterAll(async () => {
    await query('drop table if exists pooled_booking');
    await bouncer?.stop();
  });

  it('runs everything with preparedStatements: false, and listenUrl wakes workers at once', async () => {
    const app = await createTestApp({
      workflows: [PooledWorkflow],
      underway: {
        dataSource,
        connections: { preparedStatements: false, listenUrl: databaseUrl() },
        // Only a notification can wake a worker in time for the bound below.
        runtime: { concurrency: 4, pollInterval: 20_000 },
      },
    });
    const { client } = app;
    // Many at once: every statement goes through pooled server connections.
    const runs = await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        client.enqueue(PooledWorkflow, { n }),
      ),
    );
    // Enqueued in the app's transaction, through the pooler too.
    const inTransaction = await dataSource.transaction((manager) =>
      client.enqueue(PooledWorkflow, { n: 100 }, { manager }),
    );
    const rolledBack = await dataSource
      .transaction(async (manager) => {
        await client.enqueue(PooledWorkflow, { n: 101 }, { manager });
        throw new Error('rolled back');
      })
      .catch((err: Error) => err.message);
    expect(rolledBack).toBe('rolled back');
    const results = await Promise.all(
      [...runs, inTransaction].map((run) => run.result({ timeout: 60_000 })),
    );
    expect(results).toEqual([
      ...Array.from({ length: 40 }, (_, n) => ({ price: n * 10 })),
      { price: 1_000 },
    ]);
    const [booked] = await query<{ n: number }>(
      'select count(*)::int as n from pooled_booking',
    );
    expect(booked!.n).toBe(41);
    const [runCount] = await query<{ n: number }>(
      `select count(*)::int as n from ${app.schema}.workflow_run`,
    );
    expect(runCount!.n).toBe(41);

    // The worker is idle now, and its poll is 20 s away: a new run starts
    // because its enqueue's NOTIFY reached the direct LISTEN connection.
    const started = Date.now();
    const woken = await client.enqueue(PooledWorkflow, { n: 7 });
    await expect(woken.result({ timeout: 10_000 })).resolves.toEqual({
      price: 70,
    });
    expect(Date.now() - started).toBeLessThan(10_000);

    // A schedule fires through the pooler too.
    await client.schedule(PooledWorkflow, '* * * * * *', { n: 3 });
    await waitFor(
      async () => {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from ${app.schema}.workflow_run
           where state = 'succeeded' and input = '{"n": 3}'`,
        );
        return row!.n >= 1;
      },
      { timeoutMs: 30_000, message: 'a scheduled run succeeded' },
    );
    await app.close();
  });

  it('survives the pooler crashing mid-flight: every run finishes, every transactional write commits once', async () => {
    const app = await createTestApp({
      workflows: [PooledWorkflow],
      underway: {
        dataSource,
        connections: { preparedStatements: false, listenUrl: databaseUrl() },
        runtime: { concurrency: 4, pollInterval: 200 },
        reconnectBackoff: { initial: 50, max: 500 },
        // A lease lost with its connection is taken back in seconds.
        defaults: { heartbeat: '2s', retry: { initialInterval: 50 } },
      },
    });
    slowMs = 30;
    const started = Date.now();
    try {
      const runs = await app.client.enqueueMany(
        PooledWorkflow,
        Array.from({ length: 30 }, (_, n) => ({ n })),
      );
      await waitFor(
        async () => {
          const [row] = await query<{ n: number }>(
            'select count(*)::int as n from pooled_booking',
          );
          return row!.n >= 5;
        },
        { timeoutMs: 30_000, message: 'some runs booked' },
      );
      // Every connection through the pooler drops, mid-statement or not.
      await bouncer.crash();
      await expect(
        Promise.all(runs.map((run) => run.result({ timeout: 90_000 }))),
      ).resolves.toEqual(
        Array.from({ length: 30 }, (_, n) => ({ price: n * 10 })),
      );
      const [booked] = await query<{ n: number; runs: number }>(
        'select count(*)::int as n, count(distinct run_id)::int as runs from pooled_booking',
      );
      expect(booked).toEqual({ n: 30, runs: 30 });
      console.log(
        `PgBouncer crash: 30 runs finished in ${Date.now() - started} ms`,
      );
    } finally {
      slowMs = 0;
      await app.close();
    }
  }, 120_000);

  it('without listenUrl, a worker is woken by its poll: everything still finishes', async () => {
    const app = await createTestApp({
      workflows: [PooledWorkflow],
      underway: {
        dataSource,
        connections: { preparedStatements: false },
        runtime: { concurrency: 4, pollInterval: 200 },
      },
    });
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        app.client.enqueue(PooledWorkflow, { n }),
      ),
    );
    await expect(
      Promise.all(runs.map((run) => run.result({ timeout: 60_000 }))),
    ).resolves.toEqual(
      Array.from({ length: 10 }, (_, n) => ({ price: n * 10 })),
    );
    await app.close();
  });
});

describeWithPgbouncer('through PgBouncer in session mode', () => {
  let bouncer: Pgbouncer;

  beforeAll(async () => {
    bouncer = await startPgbouncer(databaseUrl(), 'session');
    await query(`create table if not exists pooled_booking (
      run_id uuid primary key, n int not null, price int not null)`);
  });

  afterAll(async () => {
    await query('drop table if exists pooled_booking');
    await bouncer?.stop();
  });

  it('runs everything with preparedStatements: false, LISTEN included: a session keeps its server connection', async () => {
    const dataSource = new DataSource({
      type: 'postgres',
      url: bouncer.url,
      extra: { max: 5 },
    });
    await dataSource.initialize();
    try {
      const app = await createTestApp({
        workflows: [PooledWorkflow],
        underway: {
          dataSource,
          connections: { preparedStatements: false },
          runtime: { concurrency: 4, pollInterval: 20_000 },
        },
      });
      const runs = await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          app.client.enqueue(PooledWorkflow, { n }),
        ),
      );
      await expect(
        Promise.all(runs.map((run) => run.result({ timeout: 60_000 }))),
      ).resolves.toEqual(
        Array.from({ length: 20 }, (_, n) => ({ price: n * 10 })),
      );
      // Idle, its poll 20 s away: woken through the pooler's session.
      const woken = await app.client.enqueue(PooledWorkflow, { n: 7 });
      await expect(woken.result({ timeout: 10_000 })).resolves.toEqual({
        price: 70,
      });
      await app.close();
    } finally {
      await dataSource.destroy();
    }
  });
});
