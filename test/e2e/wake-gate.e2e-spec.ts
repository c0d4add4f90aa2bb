import { Client } from 'pg';
import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import {
  notificationChannel,
  parseSchema,
} from '../../libs/underway/src/database/sql';
import { createTestApp, TestApp } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { currentTestSchema } from '../support/test-schema';
import { sleep, waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
const startedAt = new Map<string, number>();

@Workflow({ name: 'woken' })
class WokenWorkflow {
  @Step()
  async run(input: { label: string; ms?: number }, ctx: StepContext) {
    startedAt.set(input.label, Date.now());
    recorder.record(input.label, input, ctx);
    if (input.ms) {
      await sleep(input.ms);
    }
    return Transition.complete();
  }
}

interface Mark {
  worker: string;
  listener_pid: number;
  waiting: boolean;
}

const marks = (schema: string) =>
  query<Mark>(
    `select worker, listener_pid, waiting from ${schema}.waiting_worker order by worker`,
  );

/** A plain LISTEN connection on the schema's channel, recording payloads. */
async function listenTo(schema: string) {
  const client = new Client({ connectionString: databaseUrl() });
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (m) => payloads.push(m.payload ?? ''));
  await client.query(`listen "${notificationChannel(parseSchema(schema))}"`);
  return {
    payloads,
    end: () => client.end(),
  };
}

/** Waits for any notification to arrive that was sent by now. */
const settleNotifications = () => sleep(300);

describe('wake-ups only for waiting workers', () => {
  let listener: Awaited<ReturnType<typeof listenTo>> | undefined;

  beforeEach(() => {
    recorder.clear();
    startedAt.clear();
  });

  afterEach(async () => {
    await listener?.end();
    listener = undefined;
  });

  async function producer(): Promise<TestApp> {
    return createTestApp({
      workflows: [WokenWorkflow],
      underway: { runtime: false },
    });
  }

  it('sends no NOTIFY for an enqueue while no worker waits, and one while a worker waits', async () => {
    const { client, schema } = await producer();
    listener = await listenTo(schema);

    await client.enqueue(WokenWorkflow, { label: 'nobody-waits' });
    await client.enqueueMany(WokenWorkflow, [{ label: 'many-1' }]);
    await settleNotifications();
    expect(listener.payloads).toEqual([]);
    expect(await marks(schema)).toEqual([]);

    // A worker with a 30 s poll: only a wake-up can start a run in time.
    const worker = await createTestApp({
      workflows: [WokenWorkflow],
      underway: { schema, runtime: { pollInterval: '30s' } },
    });
    await waitFor(() => recorder.count('many-1') === 1);
    await waitFor(async () => (await marks(schema))[0]?.waiting === true);
    const [mark] = await marks(schema);
    const pids = await query<{ pid: number }>(
      `select pid from pg_stat_activity where application_name like '%:listen'`,
    );
    expect(pids.map((p) => p.pid)).toContain(mark?.listener_pid);

    const enqueued = Date.now();
    await client.enqueue(WokenWorkflow, { label: 'one-waits' });
    await waitFor(() => recorder.count('one-waits') === 1);
    expect((startedAt.get('one-waits') ?? Infinity) - enqueued).toBeLessThan(
      5_000,
    );
    await settleNotifications();
    expect(listener.payloads).toEqual(['']);

    // Shutting down takes the mark away.
    await worker.close();
    expect(await marks(schema)).toEqual([]);
  });

  it('always notifies a delayed run (busy workers set its timer) and an enqueue under REPEATABLE READ', async () => {
    const { client, dataSource, schema } = await producer();
    listener = await listenTo(schema);

    await client.enqueue(WokenWorkflow, { label: 'later' }, { delay: '5s' });
    await dataSource.transaction('REPEATABLE READ', (manager) =>
      client.enqueue(WokenWorkflow, { label: 'rr' }, { manager }),
    );
    await dataSource.transaction('READ COMMITTED', (manager) =>
      client.enqueue(WokenWorkflow, { label: 'rc' }, { manager }),
    );
    await settleNotifications();
    expect(listener.payloads).toHaveLength(2);
    expect(Number(listener.payloads[0])).toBeGreaterThan(4_000);
    expect(Number(listener.payloads[0])).toBeLessThanOrEqual(5_000);
    expect(listener.payloads[1]).toBe('');
  });

  /**
   * A worker that runs one step at a time with nothing ahead (every claim
   * takes all it asks for), given `runs` steps of 40 ms, once it has taken
   * its waiting mark back.
   */
  async function busyWorker(runs: number) {
    const schema = currentTestSchema();
    const worker = await createTestApp({
      workflows: [WokenWorkflow],
      underway: {
        schema,
        runtime: { pollInterval: '30s', concurrency: 1, prefetch: 0 },
      },
    });
    listener = await listenTo(schema);
    await waitFor(async () => (await marks(schema))[0]?.waiting === true);
    await worker.client.enqueueMany(
      WokenWorkflow,
      Array.from({ length: runs }, (_, i) => ({ label: `busy-${i}`, ms: 40 })),
    );
    // Busy for a second and more: the mark is taken back.
    await waitFor(async () => (await marks(schema))[0]?.waiting === false, {
      timeoutMs: 10_000,
    });
    return { ...worker, schema, listener };
  }

  it('a busy worker takes its mark back, and still claims runs enqueued without a wake-up', async () => {
    // 4 s of steps: the mark goes after about one.
    const { client, schema, listener } = await busyWorker(100);
    const notifiedBefore = listener.payloads.length;

    // Enqueued while it is busy: no NOTIFY, and claimed all the same, long
    // before the 30 s poll.
    const late = await client.enqueue(WokenWorkflow, { label: 'late' });
    await settleNotifications();
    expect(recorder.count('busy-99')).toBe(0); // still busy then
    expect(listener.payloads).toHaveLength(notifiedBefore);
    await late.result({ timeout: 20_000 });
    expect(recorder.count('late')).toBe(1);
    expect(recorder.count('busy-99')).toBe(1);

    // Idle again: it waits marked, and an enqueue wakes it.
    await waitFor(async () => (await marks(schema))[0]?.waiting === true);
    const woken = await client.enqueue(WokenWorkflow, { label: 'woken' });
    await woken.result({ timeout: 5_000 });
  });

  it('claims a run whose enqueue read the marks before the worker marked itself, once that transaction commits', async () => {
    const { dataSource, client, schema, listener } = await busyWorker(50);

    // An enqueue in a transaction that stays open while the worker runs out
    // of work and marks itself waiting: the enqueue read "nobody waits".
    const notifiedBefore = listener.payloads.length;
    let committedAt = 0;
    await dataSource.transaction(async (manager) => {
      await client.enqueue(WokenWorkflow, { label: 'in-tx' }, { manager });
      await waitFor(() => recorder.count('busy-49') === 1, {
        timeoutMs: 15_000,
      });
      await waitFor(async () => (await marks(schema))[0]?.waiting === true);
      await sleep(300); // the worker claims again meanwhile and finds nothing
      expect(recorder.count('in-tx')).toBe(0);
      committedAt = Date.now();
    });
    await waitFor(() => recorder.count('in-tx') === 1, { timeoutMs: 15_000 });
    // Long before the 30 s poll: the worker kept checking while the
    // enqueue's transaction was open (at most the recheck's backoff late).
    expect((startedAt.get('in-tx') ?? Infinity) - committedAt).toBeLessThan(
      10_000,
    );
    await settleNotifications();
    expect(listener.payloads).toHaveLength(notifiedBefore);
  });

  it('marks itself again with its new LISTEN connection after a reconnect, and maintenance deletes the marks of dead workers', async () => {
    const schema = currentTestSchema();
    await createTestApp({
      workflows: [WokenWorkflow],
      underway: {
        schema,
        runtime: { pollInterval: '30s', maintenanceInterval: 100 },
      },
    });
    const { client } = await producer();
    await waitFor(async () => (await marks(schema))[0]?.waiting === true);
    const [before] = await marks(schema);
    // A worker that died while waiting left its mark behind.
    await query(
      `insert into ${schema}.waiting_worker (worker, listener_pid, waiting) values ('dead/1', 2147483647, true)`,
    );
    await query('select pg_terminate_backend($1)', [before?.listener_pid]);
    await waitFor(
      async () => {
        const now = await marks(schema);
        return (
          now.length === 1 &&
          now[0]?.worker === before?.worker &&
          now[0]?.listener_pid !== before?.listener_pid &&
          now[0]?.waiting === true
        );
      },
      { timeoutMs: 10_000 },
    );
    const run = await client.enqueue(WokenWorkflow, { label: 'after' });
    await run.result({ timeout: 5_000 });
  });
});
