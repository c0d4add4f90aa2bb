import type { Claim, ClaimedStep } from '../model/claim';
import { ClaimLoop, ClaimLoopOptions } from './claim.loop';

function run(id: string): ClaimedStep {
  return {
    kind: 'step',
    id,
    workflowName: 'w',
    workflowVersion: 1,
    stepIndex: 0,
    stepName: 'a',
    attempt: 1,
    fence: '1',
    maxAttempts: 5,
    leaseMs: 1_000,
    input: null,
    claimedAt: 'now',
    recordedCalls: 0,
    queueWaitMs: 0,
  };
}

function loop(overrides: Partial<ClaimLoopOptions>): {
  loop: ClaimLoop;
  started: string[];
  dropped: string[];
} {
  const started: string[] = [];
  const dropped: string[] = [];
  const options: ClaimLoopOptions = {
    concurrency: 1,
    prefetch: 2,
    pollIntervalMs: 60_000,
    backoff: { initialMs: 10, maxMs: 10 },
    claim: () => Promise.resolve([]),
    onClaimed: () => undefined,
    runStep: (claim: Claim, stepDone: () => void) => {
      started.push(claim.id);
      stepDone();
      return Promise.resolve();
    },
    sweep: () => Promise.resolve(),
    dropped: (claim) => dropped.push(claim.id),
    ...overrides,
  };
  return { loop: new ClaimLoop(options), started, dropped };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('ClaimLoop', () => {
  it('drops a queued claim whose lease may have lapsed instead of starting it', async () => {
    let claimed = false;
    const {
      loop: claimLoop,
      started,
      dropped,
    } = loop({
      claim: () => {
        if (claimed) {
          return Promise.resolve([]);
        }
        claimed = true;
        return Promise.resolve([run('a'), run('stale'), run('c')]);
      },
      stillHeld: (claim) => claim.id !== 'stale',
    });
    claimLoop.start();
    await settle();
    await claimLoop.stop();
    expect(started).toEqual(['a', 'c']);
    expect(dropped).toEqual(['stale']);
  });

  it('claims only free slots with prefetch 0', async () => {
    const limits: number[] = [];
    const { loop: claimLoop } = loop({
      concurrency: 3,
      prefetch: 0,
      claim: (limit) => {
        limits.push(limit);
        return Promise.resolve([]);
      },
    });
    claimLoop.start();
    await settle();
    await claimLoop.stop();
    expect(limits).toEqual([3]);
  });

  it("claims nothing ahead with prefetch 'auto' before any step has started", async () => {
    const limits: number[] = [];
    const { loop: claimLoop } = loop({
      concurrency: 3,
      prefetch: 1_000,
      adaptivePrefetch: true,
      shortestLeaseMs: 30_000,
      claim: (limit) => {
        limits.push(limit);
        return Promise.resolve([]);
      },
    });
    claimLoop.start();
    await settle();
    await claimLoop.stop();
    expect(limits).toEqual([3]);
  });

  it('asks the idle gate before it waits: claims once more on 0, again later on a delay, then waits; tells it when busy', async () => {
    const answers: (number | undefined)[] = [5, 0, undefined];
    const events: string[] = [];
    let claims = 0;
    const { loop: claimLoop } = loop({
      concurrency: 1,
      prefetch: 0,
      claim: () => {
        claims += 1;
        events.push(`claim ${claims}`);
        // The first claim takes all it asks for (busy), the others nothing.
        return Promise.resolve(claims === 1 ? [run('a')] : []);
      },
      idle: {
        beforeWait: () => {
          const answer = answers.shift();
          events.push(`beforeWait -> ${String(answer)}`);
          return Promise.resolve(answer);
        },
        busy: () => events.push('busy'),
      },
    });
    claimLoop.start();
    await new Promise((resolve) => setTimeout(resolve, 60));
    await settle();
    await claimLoop.stop();
    expect(events).toEqual([
      'claim 1',
      'busy',
      'claim 2',
      'beforeWait -> 5',
      'claim 3', // after the delay (a timer)
      'beforeWait -> 0',
      'claim 4', // at once
      'beforeWait -> undefined',
    ]);
  });
  it('claims at every due time it hears of, not only the earliest armed', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
    try {
      const start = Date.now();
      const claimedAt: number[] = [];
      const { loop: claimLoop } = loop({
        claim: () => {
          claimedAt.push(Date.now() - start);
          return Promise.resolve([]);
        },
      });
      claimLoop.start();
      await settle();
      // A sleep of 200 ms arms a timer; the later ones are heard meanwhile,
      // then an earlier one (each fires 3 ms after its time: the slack).
      claimLoop.wakeIn(200);
      claimLoop.wakeIn(600);
      claimLoop.wakeIn(400);
      claimLoop.wakeIn(400);
      claimLoop.wakeIn(100);
      for (let ms = 0; ms < 700; ms += 50) {
        await jest.advanceTimersByTimeAsync(50);
        await settle();
      }
      await claimLoop.stop();
      expect(claimedAt).toEqual([0, 103, 203, 403, 603]);
    } finally {
      jest.useRealTimers();
    }
  });
});
