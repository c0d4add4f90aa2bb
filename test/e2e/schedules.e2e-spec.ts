import {
  InvalidInputError,
  InvalidOptionsError,
  InvalidScheduleError,
  Step,
  StepContext,
  Transition,
  Workflow,
  WorkflowNotRegisteredError,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { Client } from 'pg';
import { databaseUrl, query } from '../support/database';
import { sleep, waitFor } from '../support/wait-for';

/**
 * Schedules made with the client: each tick fired exactly once across
 * instances, the fire and the advance in one transaction, the timer re-armed
 * by a notification, one catch-up fire after every instance was down.
 */

@Workflow({ name: 'tick' })
class TickWorkflow {
  @Step()
  async record(input: { label: string }, ctx: StepContext) {
    return Transition.complete({ label: input.label, runId: ctx.runId });
  }
}

@Workflow({ name: 'slow-tick' })
class SlowTickWorkflow {
  @Step()
  async work(input: { ms: number }, ctx: StepContext) {
    await sleep(input.ms);
    return Transition.complete(ctx.runId);
  }
}

@Workflow({ name: 'not-scheduled' })
class OtherWorkflow {
  @Step()
  async only() {
    return Transition.complete();
  }
}

interface FiredRun {
  id: string;
  idempotency_key: string;
  state: string;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

async function firedRuns(app: TestApp, workflow: string): Promise<FiredRun[]> {
  return query<FiredRun>(
    `select id, idempotency_key, state, created_at, started_at, completed_at
     from ${app.schema}.workflow_run where workflow_name = $1 order by idempotency_key`,
    [workflow],
  );
}

const WORKFLOWS = [TickWorkflow, SlowTickWorkflow, OtherWorkflow];

/** Every second, in 197 characters: under the 200-character limit, with no zone. */
const LONG_EVERY_SECOND = `${Array.from({ length: 60 }, (_, i) =>
  String(i).padStart(2, '0'),
).join(',')} */1 */1 */1 */1 *`;

/** The runs of one schedule key, by fire time. */
async function runsOfKey(
  app: TestApp,
  workflow: string,
  key: string,
): Promise<FiredRun[]> {
  return (await firedRuns(app, workflow)).filter((run) =>
    run.idempotency_key.startsWith(`schedule:${key}:`),
  );
}

/** The fire time of a scheduled run, from its idempotency key. */
function fireTime(run: FiredRun): number {
  return Date.parse(run.idempotency_key.replace(/^schedule:[^:]*:/, ''));
}

/** Every "fired … as run <id>" the scheduler logged names a run that exists. */
async function expectFiredLogsTrue(app: TestApp): Promise<number> {
  const ids = app.logs
    .messages('log')
    .map((message) => / as run ([0-9a-f-]{36})$/.exec(message)?.[1])
    .filter((id): id is string => id !== undefined);
  const existing = await query<{ id: string }>(
    `select id from ${app.schema}.workflow_run where id = any($1::uuid[])`,
    [ids],
  );
  expect(existing.map((row) => row.id).sort()).toEqual([...ids].sort());
  return ids.length;
}

describe('client.schedule', () => {
  it('fires every tick of an every-second schedule exactly once across two instances, each as a run with the schedule input', async () => {
    const first = await createTestApp({ workflows: WORKFLOWS });
    await createTestApp({
      workflows: WORKFLOWS,
      underway: { schema: first.schema },
    });
    await first.client.schedule(TickWorkflow, '* * * * * *', {
      label: 'every second',
    });

    const runs = await waitFor(
      async () => {
        const rows = await firedRuns(first, 'tick');
        return rows.filter((row) => row.state === 'succeeded').length >= 5
          ? rows
          : undefined;
      },
      { timeoutMs: 30_000, message: 'five ticks did not fire' },
    );
    await first.client.unschedule(TickWorkflow);

    // Counted per tick: one run each. The idempotency key is (schedule, fire
    // time), and no key appears twice.
    const keys = runs.map((run) => run.idempotency_key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) {
      expect(Date.parse(key.replace(/^schedule:default:/, '')) % 1_000).toBe(0);
    }
    // Every fired run ran with the schedule's input.
    const output = await first.client.result(runs[0]!.id, { timeout: 10_000 });
    expect(output).toMatchObject({ label: 'every second' });
    expect(await first.client.listSchedules(TickWorkflow)).toEqual([]);
  }, 60_000);

  it('creates, replaces, lists and removes schedules by (workflow, key)', async () => {
    const app = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    const before = Date.now();
    const created = await app.client.schedule(
      TickWorkflow,
      '0 2 * * *[Europe/Paris]',
      { label: 'nightly' },
    );
    expect(created).toMatchObject({
      workflowName: 'tick',
      key: 'default',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
      overlap: 'allow',
      source: 'client',
      lastFireAt: undefined,
      lastRunId: undefined,
      skipped: 0,
    });
    expect(created.nextFireAt.getTime()).toBeGreaterThan(before);
    // 02:00 in Paris is 00:00 or 01:00 UTC.
    expect([0, 1]).toContain(created.nextFireAt.getUTCHours());

    await app.client.schedule(TickWorkflow, '@hourly', { label: 'replaced' });
    await app.client.schedule(
      'tick',
      '*/5 * * * *',
      { label: 'tenant 7' },
      { key: 'tenant:7', overlap: 'skip' },
    );
    const listed = await app.client.listSchedules();
    expect(
      listed.map(({ workflowName, key, cron, timezone, overlap }) => ({
        workflowName,
        key,
        cron,
        timezone,
        overlap,
      })),
    ).toEqual([
      {
        workflowName: 'tick',
        key: 'default',
        cron: '@hourly',
        timezone: 'UTC',
        overlap: 'allow',
      },
      {
        workflowName: 'tick',
        key: 'tenant:7',
        cron: '*/5 * * * *',
        timezone: 'UTC',
        overlap: 'skip',
      },
    ]);
    const [row] = await query<{ input: unknown }>(
      `select input from ${app.schema}.schedule where key = 'default'`,
    );
    expect(row?.input).toEqual({ label: 'replaced' });
    expect(await app.client.listSchedules(OtherWorkflow)).toEqual([]);

    await expect(app.client.unschedule(TickWorkflow)).resolves.toBe(true);
    await expect(app.client.unschedule(TickWorkflow)).resolves.toBe(false);
    await expect(
      app.client.unschedule(TickWorkflow, { key: 'tenant:7' }),
    ).resolves.toBe(true);
    expect(await app.client.listSchedules()).toEqual([]);
  });

  it('joins the caller’s transaction: rolled back, no schedule exists', async () => {
    const app = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    await expect(
      app.dataSource.transaction(async (manager) => {
        await app.client.schedule(
          TickWorkflow,
          '@daily',
          { label: 'x' },
          { manager },
        );
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await app.client.listSchedules()).toEqual([]);

    await app.dataSource.transaction((manager) =>
      app.client.schedule(TickWorkflow, '@daily', { label: 'y' }, { manager }),
    );
    expect(await app.client.listSchedules()).toHaveLength(1);
  });

  it('refuses bad schedules, inputs, options and workflows with typed errors, writing nothing', async () => {
    const app = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    const refusals: [
      () => Promise<unknown>,
      new (...args: never[]) => Error,
      string,
    ][] = [
      [
        () => app.client.schedule(TickWorkflow, '0 0 31 2 *', {}),
        InvalidScheduleError,
        'Invalid schedule "0 0 31 2 *"',
      ],
      [
        () => app.client.schedule(TickWorkflow, '', {}),
        InvalidScheduleError,
        'it is empty',
      ],
      [
        () => app.client.schedule(TickWorkflow, '@daily[Mars/Phobos]', {}),
        InvalidScheduleError,
        '"Mars/Phobos" is not an IANA time zone',
      ],
      [
        () => app.client.schedule(TickWorkflow, '* * * *', {}),
        InvalidScheduleError,
        'it has 4 fields',
      ],
      [
        () => app.client.schedule(TickWorkflow, '@daily', { n: 1n }),
        InvalidInputError,
        'a BigInt',
      ],
      [
        () =>
          app.client.schedule(TickWorkflow, '@daily', {}, {
            keys: 'x',
          } as never),
        InvalidOptionsError,
        'is not a schedule option',
      ],
      [
        // @nestjs/schedule's spelling: the zone goes in the cron string.
        () =>
          app.client.schedule(TickWorkflow, '@daily', {}, {
            timeZone: 'Europe/Paris',
          } as never),
        InvalidOptionsError,
        "Invalid option timeZone: is not a schedule option (known: key, overlap, manager; the time zone goes in the cron string, in brackets: '0 2 * * *[Europe/Paris]' (UTC without one)).",
      ],
      [
        () =>
          app.client.schedule(
            TickWorkflow,
            '@daily',
            {},
            { overlap: 'never' as never },
          ),
        InvalidOptionsError,
        "must be 'allow' or 'skip'",
      ],
      [
        () =>
          app.client.schedule(TickWorkflow, '@daily', {}, { key: 'k\uD800' }),
        InvalidOptionsError,
        'lone surrogate',
      ],
      [
        () => app.client.schedule('unknown-workflow', '@daily', {}),
        WorkflowNotRegisteredError,
        'unknown-workflow',
      ],
      [
        () => app.client.unschedule(TickWorkflow, { key: '' }),
        InvalidOptionsError,
        'must not be empty',
      ],
    ];
    for (const [call, type, message] of refusals) {
      const err = await call().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(err).toBeInstanceOf(type);
      expect((err as Error).message).toContain(message);
    }
    expect(await query(`select 1 from ${app.schema}.schedule`)).toHaveLength(0);
  });

  it('accepts every tz database spelling Intl knows (Etc/GMT±N, links, old and new names) and refuses one in the wrong case, naming the right one', async () => {
    const app = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    const zones: [string, number][] = [
      ['Etc/GMT+5', 7], // POSIX's sign: UTC−5
      ['Etc/GMT-3', 23],
      ['US/Pacific', 10],
      ['Europe/Kyiv', 0],
      ['Asia/Calcutta', 20],
    ];
    for (const [zone, utcHour] of zones) {
      const info = await app.client.schedule(
        TickWorkflow,
        `0 2 * * *[${zone}]`,
        { label: zone },
        { key: zone },
      );
      expect(info.timezone).toBe(zone);
      // Whatever the season (Kyiv and Los Angeles shift by an hour).
      expect([utcHour, (utcHour + 23) % 24]).toContain(
        info.nextFireAt.getUTCHours(),
      );
    }
    expect(
      (await app.client.listSchedules(TickWorkflow))
        .map((s) => s.timezone)
        .sort(),
    ).toEqual(zones.map(([zone]) => zone).sort());
    for (const [given, right] of [
      ['etc/gmt+5', 'Etc/GMT+5'],
      ['us/pacific', 'US/Pacific'],
    ]) {
      await expect(
        app.client.schedule(TickWorkflow, `@daily[${given}]`, {}),
      ).rejects.toThrow(
        new InvalidScheduleError(
          `@daily[${given}]`,
          `the time zone "${given}" is spelt "${right}" in the tz database`,
        ).message,
      );
    }
    expect(await app.client.listSchedules(TickWorkflow)).toHaveLength(5);
  });

  it('a schedule made while the worker sleeps wakes it through a notification, and fires on time', async () => {
    const app = await createTestApp({
      workflows: WORKFLOWS,
      // Neither the claim poll nor the scheduler's own sleep would come in time.
      underway: { runtime: { pollInterval: '30s' } },
      eventLog: true,
    });
    // Listening, and the scheduler asleep with nothing due (its passes at
    // start and on connecting both over): only a notification wakes it now.
    await app.events.next('listener:connected');
    const connectedAt = app.events.events.findIndex(
      (e) => e.name === 'listener:connected',
    );
    await app.events.next('schedule:armed', {}, { after: connectedAt + 1 });
    expect(app.events.of('schedule:armed').at(-1)!.waitMs).toBeGreaterThan(
      1_000,
    );
    await app.client.schedule(TickWorkflow, '* * * * * *', { label: 'soon' });
    const [run] = await waitFor(
      async () => {
        const rows = await firedRuns(app, 'tick');
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 10_000, message: 'the schedule did not fire' },
    );
    await app.client.unschedule(TickWorkflow);
    const tick = Date.parse(
      run!.idempotency_key.replace(/^schedule:default:/, ''),
    );
    // Enqueued right after its tick (the database clock), with room for a loaded machine.
    expect(run!.created_at.getTime() - tick).toBeGreaterThanOrEqual(0);
    expect(run!.created_at.getTime() - tick).toBeLessThan(2_000);
  });

  it('ticks missed while every instance was down fire once on recovery, then the schedule goes on from the next future tick', async () => {
    const producer = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    await producer.client.schedule(TickWorkflow, '@hourly', {
      label: 'caught up',
    });
    // Three hourly ticks went by with no instance running.
    await query(
      `update ${producer.schema}.schedule
       set next_fire_at = date_trunc('hour', now()) - interval '3 hours'`,
    );
    const worker = await createTestApp({
      workflows: WORKFLOWS,
      underway: { schema: producer.schema },
    });
    const [run] = await waitFor(
      async () => {
        const rows = await firedRuns(worker, 'tick');
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 10_000 },
    );
    await sleep(500); // time for a second (wrong) fire, were there one
    expect(await firedRuns(worker, 'tick')).toHaveLength(1);
    const [schedule] = await worker.client.listSchedules(TickWorkflow);
    expect(schedule!.lastRunId).toBe(run!.id);
    expect(schedule!.nextFireAt.getTime()).toBeGreaterThan(Date.now());
    expect(schedule!.nextFireAt.getTime() - Date.now()).toBeLessThanOrEqual(
      3_600_000,
    );
    expect(Date.now() - schedule!.lastFireAt!.getTime()).toBeGreaterThan(
      2 * 3_600_000,
    );
  });

  it('waits without spinning while another instance holds a due schedule, and fires it once that one lets go', async () => {
    const producer = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    await producer.client.schedule(TickWorkflow, '@hourly', { label: 'held' });
    await query(
      `update ${producer.schema}.schedule set next_fire_at = now() - interval '1 second'`,
    );
    // A stalled instance: it claimed the due schedule and holds it.
    const holder = new Client({ connectionString: databaseUrl() });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(
        `select 1 from ${producer.schema}.schedule for update`,
      );
      const worker = await createTestApp({
        workflows: WORKFLOWS,
        underway: { schema: producer.schema },
      });
      // Reads of this test's own schedule table: other suites sharing the
      // database (database-wide counters would count theirs) do not move it.
      const transactions = async (): Promise<number> => {
        const [row] = await query<{ n: string }>(
          `select seq_scan + coalesce(idx_scan, 0) as n from pg_stat_user_tables
           where schemaname = $1 and relname = 'schedule'`,
          [producer.schema],
        );
        return Number(row!.n);
      };
      const before = await transactions();
      await sleep(2_000);
      expect(await firedRuns(worker, 'tick')).toHaveLength(0);
      await holder.query('rollback');
      await waitFor(
        async () => (await firedRuns(worker, 'tick')).length === 1,
        {
          timeoutMs: 5_000,
          message: 'the tick did not fire once the holder let go',
        },
      );
      await sleep(1_200); // statistics reach pg_stat_user_tables within a second
      // Looking every 100 ms is a few dozen reads (about 45 here); spinning
      // (looking again at once) is about 500 on this machine.
      expect((await transactions()) - before).toBeLessThan(200);
    } finally {
      await holder.end();
    }
  });

  it('a schedule of 196 to 200 characters with no zone fires, and the other schedules with it', async () => {
    expect(LONG_EVERY_SECOND.length).toBeGreaterThanOrEqual(196);
    expect(LONG_EVERY_SECOND.length).toBeLessThanOrEqual(200);
    const app = await createTestApp({ workflows: WORKFLOWS });
    const long = await app.client.schedule(
      TickWorkflow,
      LONG_EVERY_SECOND,
      { label: 'long' },
      { key: 'long' },
    );
    expect(long).toMatchObject({ cron: LONG_EVERY_SECOND, timezone: 'UTC' });
    await app.client.schedule(
      TickWorkflow,
      '* * * * * *',
      { label: 'short' },
      { key: 'short' },
    );
    await waitFor(
      async () =>
        (await runsOfKey(app, 'tick', 'long')).length >= 3 &&
        (await runsOfKey(app, 'tick', 'short')).length >= 3,
      { timeoutMs: 20_000, message: 'both schedules did not fire' },
    );
    await app.client.unschedule(TickWorkflow, { key: 'long' });
    await app.client.unschedule(TickWorkflow, { key: 'short' });
    expect(await expectFiredLogsTrue(app)).toBeGreaterThanOrEqual(6);
  }, 40_000);

  it('a broken schedule row (a cron edited by hand, a zone the tz database no longer knows) is logged and set aside, with backoff; the others fire', async () => {
    const producer = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    for (const key of ['bad-cron', 'bad-zone', 'ok']) {
      await producer.client.schedule(
        TickWorkflow,
        '* * * * * *',
        { label: key },
        { key },
      );
    }
    await query(
      `update ${producer.schema}.schedule set cron = '61 * * * *' where key = 'bad-cron'`,
    );
    await query(
      `update ${producer.schema}.schedule set timezone = 'Mars/Phobos' where key = 'bad-zone'`,
    );
    const worker = await createTestApp({
      workflows: WORKFLOWS,
      underway: { schema: producer.schema },
    });
    await waitFor(
      async () => (await runsOfKey(worker, 'tick', 'ok')).length >= 4,
      { timeoutMs: 20_000, message: 'the healthy schedule did not fire' },
    );
    expect(await runsOfKey(worker, 'tick', 'bad-cron')).toEqual([]);
    expect(await runsOfKey(worker, 'tick', 'bad-zone')).toEqual([]);
    const errors = (key: string): string[] =>
      worker.logs.entries
        .filter(
          (entry) =>
            entry.level === 'error' && entry.message.includes(`tick/${key}`),
        )
        .map((entry) => entry.message);
    expect(errors('bad-cron')[0]).toContain('Constraint error');
    expect(errors('bad-zone')[0]).toContain(
      '"Mars/Phobos" is not an IANA time zone',
    );
    // Set aside, not spun: looked at again after 1 s, 2 s, 4 s… (a busy loop
    // would log thousands in the same seconds).
    expect(errors('bad-cron').length).toBeLessThanOrEqual(6);
    expect(errors('bad-zone').length).toBeLessThanOrEqual(6);
    expect(await worker.client.listSchedules(TickWorkflow)).toHaveLength(3);

    // Replaced through the client, the schedule fires again at once.
    await worker.client.schedule(
      TickWorkflow,
      '* * * * * *',
      { label: 'fixed' },
      { key: 'bad-cron' },
    );
    await waitFor(
      async () => (await runsOfKey(worker, 'tick', 'bad-cron')).length >= 1,
      { timeoutMs: 5_000, message: 'the repaired schedule did not fire' },
    );
    await worker.client.unschedule(TickWorkflow, { key: 'ok' });
    await worker.client.unschedule(TickWorkflow, { key: 'bad-cron' });
    await expectFiredLogsTrue(worker);
  }, 40_000);

  it("an 'H' field is drawn once, from the workflow and the key: every fire and every instance agree, and listSchedules shows the tick that fires", async () => {
    const producer = await createTestApp({
      workflows: WORKFLOWS,
      underway: { runtime: false },
    });
    const listed = await producer.client.schedule(
      TickWorkflow,
      'H/2 * * * * *',
      { label: 'hashed' },
      { key: 'hashed' },
    );
    // The same schedule given again: the same ticks.
    for (let i = 0; i < 3; i += 1) {
      const again = await producer.client.schedule(
        TickWorkflow,
        'H/2 * * * * *',
        { label: 'hashed' },
        { key: 'hashed' },
      );
      expect(again.nextFireAt.getTime() % 2_000).toBe(
        listed.nextFireAt.getTime() % 2_000,
      );
    }
    const [first] = await producer.client.listSchedules(TickWorkflow);
    for (let i = 0; i < 2; i += 1) {
      await createTestApp({
        workflows: WORKFLOWS,
        underway: { schema: producer.schema },
      });
    }
    const runs = await waitFor(
      async () => {
        const rows = await runsOfKey(producer, 'tick', 'hashed');
        return rows.length >= 8 ? rows : undefined;
      },
      { timeoutMs: 30_000, message: 'eight ticks did not fire' },
    );
    await producer.client.unschedule(TickWorkflow, { key: 'hashed' });
    const times = runs.map(fireTime);
    // The tick listed is the one that fired, and every fire is on the same
    // offset (a pass late by a tick or more fires once, on a later tick).
    expect(times).toContain(first!.nextFireAt.getTime());
    expect(new Set(times.map((at) => at % 2_000))).toEqual(
      new Set([listed.nextFireAt.getTime() % 2_000]),
    );
  }, 60_000);

  it("overlap: 'skip' skips (and counts) ticks while the previous run is unfinished", async () => {
    const app = await createTestApp({ workflows: WORKFLOWS });
    await app.client.schedule(
      SlowTickWorkflow,
      '* * * * * *',
      { ms: 2_500 },
      { overlap: 'skip' },
    );
    const info = await waitFor(
      async () => {
        const [schedule] = await app.client.listSchedules(SlowTickWorkflow);
        return schedule && schedule.skipped >= 2 ? schedule : undefined;
      },
      { timeoutMs: 20_000, message: 'no tick was skipped' },
    );
    await app.client.unschedule(SlowTickWorkflow);
    expect(info.skipped).toBeGreaterThanOrEqual(2);
    // The runs of this schedule never overlapped.
    const runs = (await firedRuns(app, 'slow-tick')).filter(
      (run) => run.started_at,
    );
    const ordered = [...runs].sort(
      (a, b) => a.started_at!.getTime() - b.started_at!.getTime(),
    );
    for (let i = 1; i < ordered.length; i += 1) {
      const previous = ordered[i - 1]!;
      if (previous.completed_at) {
        expect(ordered[i]!.created_at.getTime()).toBeGreaterThanOrEqual(
          previous.completed_at.getTime() - 5,
        );
      }
    }
  }, 40_000);
});

/** Two schedules, as the code of one release declares them. */
const DECLARED = [
  { cron: '@daily[Europe/Paris]', input: { report: 'daily' } },
  { cron: '*/2 * * * * *', key: 'fast', input: { n: 1 }, overlap: 'skip' },
];

function declaredWorkflow(schedule: unknown): new () => object {
  @Workflow({ name: 'declared', schedule } as never)
  class DeclaredWorkflow {
    @Step()
    async run(input: unknown) {
      return Transition.complete(input);
    }
  }
  return DeclaredWorkflow;
}

describe('@Workflow({ schedule })', () => {
  it('is synced at boot: added, changed and removed with the code, client schedules left alone', async () => {
    const first = await createTestApp({
      workflows: [declaredWorkflow(structuredClone(DECLARED))],
    });
    expect(
      (await first.client.listSchedules('declared')).map(
        ({ key, cron, timezone, overlap, source }) => ({
          key,
          cron,
          timezone,
          overlap,
          source,
        }),
      ),
    ).toEqual([
      {
        key: 'default',
        cron: '@daily',
        timezone: 'Europe/Paris',
        overlap: 'allow',
        source: 'decorator',
      },
      {
        key: 'fast',
        cron: '*/2 * * * * *',
        timezone: 'UTC',
        overlap: 'skip',
        source: 'decorator',
      },
    ]);
    // The declared schedule fires like any other.
    await waitFor(async () => (await firedRuns(first, 'declared')).length > 0, {
      timeoutMs: 10_000,
    });
    await first.client.schedule(
      'declared',
      '@weekly',
      { mine: true },
      { key: 'mine' },
    );
    const [daily] = await first.client.listSchedules('declared');
    await first.close();

    // The same code again: nothing changes, not even the next tick.
    const same = await createTestApp({
      workflows: [declaredWorkflow(structuredClone(DECLARED))],
      underway: { schema: first.schema, runtime: false },
    });
    const [again] = await same.client.listSchedules('declared');
    expect(again!.nextFireAt).toEqual(daily!.nextFireAt);
    await same.close();

    // New code: the default schedule changed, "fast" is gone.
    const changed = await createTestApp({
      workflows: [
        declaredWorkflow({ cron: '@hourly', input: { report: 'hourly' } }),
      ],
      underway: { schema: first.schema, runtime: false },
    });
    expect(
      (await changed.client.listSchedules('declared')).map(
        ({ key, cron, source }) => ({
          key,
          cron,
          source,
        }),
      ),
    ).toEqual([
      { key: 'default', cron: '@hourly', source: 'decorator' },
      { key: 'mine', cron: '@weekly', source: 'client' },
    ]);
    const [row] = await query<{ input: unknown }>(
      `select input from ${first.schema}.schedule where key = 'default'`,
    );
    expect(row?.input).toEqual({ report: 'hourly' });
  }, 40_000);

  it('a declared schedule of up to 200 characters with no zone fires', async () => {
    const app = await createTestApp({
      workflows: [
        declaredWorkflow({ cron: LONG_EVERY_SECOND, input: { long: true } }),
      ],
    });
    await waitFor(async () => (await firedRuns(app, 'declared')).length >= 2, {
      timeoutMs: 15_000,
      message: 'the declared schedule did not fire',
    });
    expect(await expectFiredLogsTrue(app)).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it.each<[string, unknown, new (...args: never[]) => Error, string]>([
    [
      'an impossible cron',
      { cron: '0 0 31 2 *' },
      InvalidScheduleError,
      'DeclaredWorkflow @Workflow({ schedule }): Invalid schedule "0 0 31 2 *"',
    ],
    [
      'an unknown zone',
      { cron: '@daily[Nowhere/City]' },
      InvalidScheduleError,
      '"Nowhere/City" is not an IANA time zone',
    ],
    [
      'a key declared twice',
      [{ cron: '@daily' }, { cron: '@hourly' }],
      Error,
      'declares the key "default" twice',
    ],
    [
      'an input that is not JSON',
      { cron: '@daily', input: { n: 1n } },
      Error,
      'a BigInt',
    ],
    [
      'an unknown option',
      { cron: '@daily', every: 'day' },
      Error,
      'unknown option "every"',
    ],
    [
      'a time zone beside the cron (timeZone, as @nestjs/schedule has it)',
      { cron: '@daily', timeZone: 'Europe/Paris' },
      Error,
      `unknown option "timeZone" (known: cron, input, key, overlap; the time zone goes in the cron string, in brackets: '0 2 * * *[Europe/Paris]'`,
    ],
    [
      'a bad overlap',
      { cron: '@daily', overlap: 'sometimes' },
      Error,
      "must be 'allow' or 'skip'",
    ],
  ])(
    'refuses %s at boot, writing nothing',
    async (_label, schedule, type, message) => {
      const err = await createTestApp({
        workflows: [declaredWorkflow(schedule)],
      }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(err).toBeInstanceOf(type);
      expect((err as Error).message).toContain(message);
    },
  );
});
