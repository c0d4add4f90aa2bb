import { SingleWorkflow } from '../../fault-worker/fault.workflows';
import { cleanupFaults, prepareFaultEnv } from '../../support/fault-env';
import { sleep, waitFor } from '../../support/wait-for';
import type { WorkerProcess } from '../../support/worker-process';

// RELIABILITY.md fault scenarios 13 and 14 with workers as child processes:
// instances sharing an every-2-seconds schedule are killed with SIGKILL while
// they fire, and every instance is down across several ticks.

const POLL_MS = 100;
const TICK_KEY = /^schedule:default:(.+)$/;

interface TickRow {
  idempotency_key: string;
  runs: number;
}

describe('schedule faults', () => {
  afterEach(cleanupFaults);

  it('scenario 13 (the firing instance killed, again and again): every tick fires exactly once, none lost while an instance lives', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const start = (name: string): WorkerProcess =>
      env.startWorker({ instance: name, pollMs: POLL_MS, stepEvents: false });
    let workers = [start('sched-a'), start('sched-b')];
    await Promise.all(workers.map((w) => w.ready()));
    // Every 2 s: a tick is collapsed into the next only if a pass comes more
    // than a period late, which a loaded machine must not make happen.
    await env.client.schedule(SingleWorkflow, '*/2 * * * * *', {});

    // Six rounds: kill one instance (SIGKILL, whatever it is doing: firing
    // included), start a new one, while the other keeps firing.
    for (let round = 0; round < 6; round += 1) {
      await sleep(700 + round * 97);
      const victim = workers[round % 2]!;
      victim.kill('SIGKILL');
      await victim.exited;
      const replacement = start(`sched-${round}`);
      workers = workers.map((w) => (w === victim ? replacement : w));
      await replacement.ready();
    }
    await sleep(2_500);
    await env.client.unschedule(SingleWorkflow);
    const stoppedAt = Date.now();

    const ticks = await env.query<TickRow>(
      `select idempotency_key, count(*)::int as runs from ${env.schema}.workflow_run
       where workflow_name = 'fault-single' group by idempotency_key order by idempotency_key`,
    );
    // Exactly once per tick: no key twice (the key is unique, and the fire and
    // the advance commit together, so a killed fire leaves the tick to another).
    expect(ticks.every((tick) => tick.runs === 1)).toBe(true);
    const seconds = ticks.map((tick) =>
      Date.parse(TICK_KEY.exec(tick.idempotency_key)![1]!),
    );
    // One instance lived throughout: every second between the first and the
    // last tick fired (a tick fires late at worst, never not at all).
    const first = seconds[0]!;
    const last = seconds[seconds.length - 1]!;
    expect(seconds).toEqual(
      Array.from(
        { length: (last - first) / 2_000 + 1 },
        (_, i) => first + i * 2_000,
      ),
    );
    expect(seconds.length).toBeGreaterThanOrEqual(4);
    expect(stoppedAt - last).toBeLessThan(4_500);
    for (const worker of workers) {
      expect(worker.crashes()).toEqual([]);
    }
  }, 90_000);

  it('scenario 14 (every instance down across several ticks): one catch-up fire on recovery, then on time', async () => {
    const env = await prepareFaultEnv({ leaseMs: 1_000 });
    const first = env.startWorker({ instance: 'down-a', pollMs: POLL_MS });
    await first.ready();
    await env.client.schedule(SingleWorkflow, '*/2 * * * * *', {});
    await waitFor(
      async () =>
        (
          await env.query(
            `select 1 from ${env.schema}.workflow_run where workflow_name = 'fault-single'`,
          )
        ).length >= 1,
      { timeoutMs: 10_000 },
    );
    first.kill('SIGKILL');
    await first.exited;
    const downAt = Date.now();
    await sleep(5_000); // two or three ticks with no instance
    const second = env.startWorker({ instance: 'down-b', pollMs: POLL_MS });
    await second.ready();
    const upAt = Date.now();
    await sleep(3_000);
    await env.client.unschedule(SingleWorkflow);

    const ticks = await env.query<TickRow & { created_at: Date }>(
      `select idempotency_key, count(*)::int as runs, min(created_at) as created_at
       from ${env.schema}.workflow_run where workflow_name = 'fault-single'
       group by idempotency_key order by idempotency_key`,
    );
    expect(ticks.every((tick) => tick.runs === 1)).toBe(true);
    const missed = ticks.filter((tick) => {
      const at = Date.parse(TICK_KEY.exec(tick.idempotency_key)![1]!);
      return at > downAt && at < upAt - 2_000;
    });
    // The ticks of the outage: only the first fired (once, on recovery).
    expect(missed.length).toBeLessThanOrEqual(1);
    const caughtUp = ticks.filter(
      (tick) => tick.created_at.getTime() >= upAt - 500,
    );
    // After recovery: the catch-up fire, then on time (about one every 2 s).
    expect(caughtUp.length).toBeGreaterThanOrEqual(2);
    expect(caughtUp.length).toBeLessThanOrEqual(4);
    expect(second.crashes()).toEqual([]);
  }, 60_000);
});
