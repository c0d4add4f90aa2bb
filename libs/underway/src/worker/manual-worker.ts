import type { TransitionWriter } from '../engine/transition.writer';
import { StepAbortedError } from '../errors/step-aborted.error';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import type { UnderwayEvents } from '../events/underway-events';
import type { BuiltWorker } from './worker.assembly';

/** Waits and sleeps ended per statement, as the wait expirer's passes do. */
const EXPIRE_BATCH = 500;
/** Finished runs deleted per statement, as maintenance does. */
const PRUNE_BATCH = 1_000;
/** After the shutdown timeout, how long aborted attempts get to give their claims back. */
const ABORT_GRACE_MS = 5_000;

/**
 * The worker of `runtime: 'manual'`: the parts `buildWorker` makes, none of
 * their loops started. A test drives it (through the testing kit): each
 * `drain()` fires the due schedules, then claims the due tasks and runs them
 * through the attempt runner (lease, pipeline, fenced commit, events)
 * exactly as the claim loop would, ending the waits and sleeps past their
 * deadline when the claim says some are, until a claim finds nothing to do.
 * Nothing runs between drains.
 */
export class ManualWorker {
  /** The drain in flight, if any (drains run one at a time). */
  private draining: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly worker: BuiltWorker,
    private readonly writer: Pick<
      TransitionWriter,
      'claim' | 'expireWaits' | 'prune'
    >,
    events: UnderwayEvents,
    /** Who claims (`lease_owner`): the instance name. */
    private readonly owner: string,
    /** Tasks claimed and run at once, as `runtime.concurrency` would. */
    private readonly concurrency: number,
  ) {
    // No listener in this mode: a cancel committed here (the test's own)
    // aborts the attempt of that run that runs here, as its notification would.
    this.unsubscribe = events.onEngine('run:finished', ({ runId, state }) => {
      if (state === 'cancelled') {
        worker.runner.cancel(runId);
      }
    });
  }

  /**
   * Runs every due task in this process until nothing is due: due schedule
   * fires, waits and sleeps past their deadline, then claims, until a pass
   * does nothing. Drains run one after the other.
   * @returns how many tasks (steps and activity calls) it ran
   * @throws UnderwayClosedError once the application is shutting down; the
   *   database's errors
   */
  drain(): Promise<number> {
    const drained = this.draining.then(() => this.drainNow());
    this.draining = drained.catch(() => undefined);
    return drained;
  }

  /**
   * Deletes the finished runs past their retention, with the statement
   * maintenance runs (the rest of its pass has nothing to do with time).
   * @returns how many were deleted
   */
  async prune(): Promise<number> {
    this.assertOpen('UnderwayTestKit.drain()');
    let total = 0;
    for (;;) {
      const deleted = await this.writer.prune(
        this.worker.executor,
        PRUNE_BATCH,
      );
      total += deleted;
      if (deleted < PRUNE_BATCH) {
        return total;
      }
    }
  }

  /**
   * Refuses new drains, then waits for the one in flight, at most
   * `timeoutMs`; past that, aborts its attempts, which give their claims back.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (!(await settlesWithin(this.draining, timeoutMs))) {
      this.worker.runner.abortAll(new StepAbortedError('shutdown'));
      await settlesWithin(this.draining, ABORT_GRACE_MS);
    }
  }

  private async drainNow(): Promise<number> {
    const { scope, executor, scheduler, runner } = this.worker;
    this.assertOpen('UnderwayTestKit.drain()');
    // Ticks fall due as the clock moves, not while a drain runs: one pass.
    await scheduler.fireDueNow();
    let ran = 0;
    for (;;) {
      this.assertOpen('UnderwayTestKit.drain()');
      const { claims, waitsDue } = await this.writer.claim(
        executor,
        scope,
        this.concurrency,
        this.owner,
      );
      const expired = waitsDue ? await this.expireWaits() : 0;
      if (claims.length === 0 && expired === 0) {
        return ran;
      }
      ran += claims.length;
      // The runner never rejects: each attempt ends committed, or logged.
      await Promise.all(claims.map((claim) => runner.run(claim, () => {})));
    }
  }

  /** Ends the waits and sleeps past their deadline. @returns how many */
  private async expireWaits(): Promise<number> {
    let total = 0;
    for (;;) {
      const expired = await this.writer.expireWaits(
        this.worker.executor,
        this.worker.scope,
        EXPIRE_BATCH,
      );
      total += expired;
      if (expired < EXPIRE_BATCH) {
        return total;
      }
    }
  }

  private assertOpen(operation: string): void {
    if (this.closed) {
      throw new UnderwayClosedError(operation);
    }
  }
}

/** Whether `promise` settles within `timeoutMs`. */
async function settlesWithin(
  promise: Promise<unknown>,
  timeoutMs: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}
