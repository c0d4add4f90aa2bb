import { Step, StepContext, Transition, Workflow } from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';

// A worker hears of work due later (a sleep's deadline, a delayed run) by a
// notification and sets a timer for it. It used to keep only the earliest:
// a later deadline heard while that timer was armed waited for the poll
// interval; and a statement that suspends several steps names only its
// soonest deadline. With a poll of 30 s, each of these must wake at its own
// time.

const woke = new Map<string, number>();

@Workflow({ name: 'due-sleeper' })
class SleeperWorkflow {
  @Step()
  async nap(input: { key: string; ms: number }, ctx: StepContext) {
    await ctx.sleep(input.ms);
    woke.set(input.key, Date.now());
    return Transition.complete();
  }
}

@Workflow({ name: 'due-later' })
class LaterWorkflow {
  @Step()
  run(input: { key: string }) {
    woke.set(input.key, Date.now());
    return Transition.complete();
  }
}

/** Generous on a loaded machine, far below the 30 s poll. */
const LATE_MS = 2_000;

describe('due timers', () => {
  beforeEach(() => woke.clear());

  it('wakes an idle worker at every deadline it heard of, not only the earliest', async () => {
    const { client } = await createTestApp({
      workflows: [SleeperWorkflow, LaterWorkflow],
      underway: { runtime: { pollInterval: '30s' } },
    });
    // Let the worker go idle (marked waiting) first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    // Claimed together, their suspensions commit in one statement or a few,
    // whose notification names only the soonest deadline of each.
    const sleeps = await client.enqueueMany(
      SleeperWorkflow,
      [300, 900, 600].map((ms) => ({ key: `sleep ${ms}`, ms })),
    );
    const delayed = await Promise.all(
      [700, 400].map((ms) =>
        client.enqueue(LaterWorkflow, { key: `delay ${ms}` }, { delay: ms }),
      ),
    );
    for (const run of [...sleeps, ...delayed]) {
      await run.result({ timeout: 10_000 });
    }
    for (const [key, ms] of [
      ['sleep 300', 300],
      ['sleep 600', 600],
      ['sleep 900', 900],
      ['delay 400', 400],
      ['delay 700', 700],
    ] as const) {
      const after = woke.get(key)! - started;
      expect({ key, early: after < ms, late: after > ms + LATE_MS }).toEqual({
        key,
        early: false,
        late: false,
      });
    }
  });
});
