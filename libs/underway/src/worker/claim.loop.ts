// Over 300 lines on purpose: one job, the claim loop: waking, claiming ahead
// with an adaptive prefetch, running claims in its slots, and the idle gate,
// which share the loop's state.
import { Logger } from '@nestjs/common';
import { MAX_TIMER_DELAY_MS, sleep } from '../common/timers';
import { isTransientPgError } from '../database/pg-errors';
import { backoffDelayMs, ReconnectBackoff } from '../database/transient-retry';
import type { Claim } from '../model/claim';
import type { WakeScheduler } from './attempt.runner';
import type { IdleGate } from './waiting-mark';

/** Added to every due timer so that it never fires before the work is due. */
const DUE_SLACK_MS = 3;
/** The most runs one claim statement takes. */
const MAX_CLAIM = 1_000;
/** Adaptive prefetch: claim ahead what starts here in this long at the current pace. */
const CLAIM_AHEAD_MS = 50;
/** How quickly the pace estimate follows a change (its time constant). */
const PACE_WINDOW_MS = 1_000;
/**
 * Due times kept beside the armed timer, at most; past this, the latest are
 * forgotten and the poll interval claims their work.
 */
const MAX_DUE_TIMES = 1_000;

export interface ClaimLoopOptions {
  readonly concurrency: number;
  /**
   * Claimed runs that may wait here for a slot, beyond `concurrency`:
   * exactly this many, or with `adaptivePrefetch` at most this many.
   */
  readonly prefetch: number;
  /** Claim ahead in proportion to the pace at which steps start here. */
  readonly adaptivePrefetch?: boolean;
  /** The shortest lease of the work claimed here (bounds what is claimed ahead). */
  readonly shortestLeaseMs?: number;
  readonly pollIntervalMs: number;
  readonly backoff: ReconnectBackoff;
  /** Claims up to `limit` due tasks (steps of runs, activity calls). */
  claim(limit: number): Promise<Claim[]>;
  /** A task was claimed (its lease started after `claimSentAt`), before it waits for a slot. */
  onClaimed(run: Claim, claimSentAt: number): void;
  /** Runs one claimed task; calls `stepDone` when its slot is free again. */
  runStep(run: Claim, stepDone: () => void): Promise<void>;
  /**
   * Whether a claim that waited in the local queue may still be held: one
   * whose lease may have lapsed (no renewal within its lease, a process
   * paused past it) is dropped, not started, since another worker may run it.
   */
  stillHeld?(run: Claim): boolean;
  /** A queued claim was dropped without starting (its lease may have lapsed). */
  dropped?(run: Claim): void;
  /** Housekeeping on each poll tick (expired leases). */
  sweep(): Promise<void>;
  /**
   * Asked before waiting with nothing to claim (marks this worker waiting, so
   * that enqueues wake it), and told when a claim took all it asked for.
   */
  readonly idle?: IdleGate;
}

/**
 * Wakes on a notification, a due timer, a freed slot or the poll interval,
 * and claims runs in one statement: as many as there are free slots, plus up
 * to `prefetch` more that wait in a local queue (their leases are renewed
 * like running ones), so that short steps do not wait for a claim round trip
 * each time a slot frees.
 *
 * Claims only happen when there may be work: after a wake-up, or after a
 * claim that took all it asked for (more may be waiting).
 */
export class ClaimLoop implements WakeScheduler {
  private readonly logger = new Logger(ClaimLoop.name);
  /** Started steps until their code returns (their slot is free again). */
  private readonly stepsRunning = new Set<Promise<void>>();
  private readonly stopSignal = new AbortController();
  private readonly queued: Claim[] = [];
  private wanted = true;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  /** Later due times heard of (epoch ms, ascending), armed in turn. */
  private readonly dueLater: number[] = [];
  private sweeping: Promise<void> | undefined;
  /** Steps started per second here, smoothed (adaptive prefetch). */
  private pace = 0;
  private startedSince = 0;
  private paceAt = Date.now();

  constructor(private readonly options: ClaimLoopOptions) {}

  /**
   * How many runs to hold claimed ahead now: fixed, or (adaptive) what starts
   * here in {@link CLAIM_AHEAD_MS} at the current pace, so an idle worker or
   * one with slow steps claims nothing ahead, while one racing through short
   * steps claims in large batches; never more than it starts in half its
   * shortest lease, so a worker that dies holds no more than it could have
   * started before its leases lapse.
   */
  private prefetchNow(): number {
    const { prefetch, adaptivePrefetch, shortestLeaseMs } = this.options;
    if (!adaptivePrefetch) {
      return prefetch;
    }
    const now = Date.now();
    const elapsed = now - this.paceAt;
    if (elapsed >= 10) {
      const current = (this.startedSince * 1_000) / elapsed;
      const weight = Math.min(1, elapsed / PACE_WINDOW_MS);
      this.pace += (current - this.pace) * weight;
      this.startedSince = 0;
      this.paceAt = now;
    }
    const ahead = Math.floor((this.pace * CLAIM_AHEAD_MS) / 1_000);
    const leaseBound =
      shortestLeaseMs === undefined
        ? Infinity
        : Math.floor((this.pace * shortestLeaseMs) / 2_000);
    return Math.max(0, Math.min(prefetch, ahead, leaseBound));
  }

  start(): void {
    if (this.loop) {
      return;
    }
    this.pollTimer = setInterval(
      () => this.onPoll(),
      this.options.pollIntervalMs,
    );
    this.loop = this.run();
  }

  /**
   * Stops claiming and starting steps; steps in flight go on (see `drain`).
   * @returns the claimed runs that never started, for the caller to give back
   */
  async stop(): Promise<Claim[]> {
    if (!this.stopSignal.signal.aborted) {
      this.stopSignal.abort();
      clearInterval(this.pollTimer);
      clearTimeout(this.dueTimer);
      this.signal();
    }
    await this.loop;
    await this.sweeping;
    return this.queued.splice(0, this.queued.length);
  }

  /**
   * Waits for the code of the steps in flight (not the commits of their
   * outcomes), at most `timeoutMs`.
   * @returns `true` when none is left running
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.stepsRunning.size > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        return false;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.stepsRunning),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, remaining);
        }),
      ]);
      clearTimeout(timer);
    }
    return true;
  }

  /** Steps whose code is running now. */
  get running(): number {
    return this.stepsRunning.size;
  }

  claimSoon(): void {
    this.wanted = true;
    this.signal();
  }

  wakeIn(delayMs: number): void {
    // The delay was measured on the database clock from a statement that ran
    // before we heard of it, so waiting it from now is never early, except for
    // timers firing up to a millisecond ahead: hence the slack.
    const epochMs = Date.now() + delayMs + DUE_SLACK_MS;
    if (this.stopSignal.signal.aborted || epochMs === this.dueAt) {
      return;
    }
    if (epochMs > this.dueAt) {
      // Kept for later: the claim at the armed time does not take work due
      // after it (a second sleep, a later retry would wait for the poll).
      this.keepDue(epochMs);
      return;
    }
    if (this.dueAt !== Infinity) {
      this.keepDue(this.dueAt);
    }
    this.armDue(epochMs);
  }

  private keepDue(epochMs: number): void {
    const later = this.dueLater;
    let at = later.length;
    while (at > 0 && (later[at - 1] ?? 0) > epochMs) {
      at -= 1;
    }
    if (later[at - 1] === epochMs || at >= MAX_DUE_TIMES) {
      return;
    }
    later.splice(at, 0, epochMs);
    if (later.length > MAX_DUE_TIMES) {
      later.pop();
    }
  }

  private armDue(epochMs: number): void {
    clearTimeout(this.dueTimer);
    this.dueAt = epochMs;
    this.dueTimer = setTimeout(
      () => {
        this.dueAt = Infinity;
        const now = Date.now();
        if (epochMs > now) {
          this.keepDue(epochMs); // a timer capped at its longest delay
        }
        // What is due by now, this claim takes; the next later one is armed.
        while ((this.dueLater[0] ?? Infinity) <= now) {
          this.dueLater.shift();
        }
        const next = this.dueLater.shift();
        if (next !== undefined) {
          this.armDue(next);
        }
        this.claimSoon();
      },
      Math.min(Math.max(0, epochMs - Date.now()), MAX_TIMER_DELAY_MS),
    );
  }

  private onPoll(): void {
    this.claimSoon();
    this.sweeping ??= this.options
      .sweep()
      .catch((err: Error) =>
        this.logger.warn(`Housekeeping failed: ${err.message}`),
      )
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    const { concurrency } = this.options;
    let failures = 0;
    while (!this.stopSignal.signal.aborted) {
      this.startQueued();
      const prefetch = this.prefetchNow();
      const room =
        concurrency + prefetch - this.stepsRunning.size - this.queued.length;
      // With a local queue, refill it once it is half empty, in one statement.
      const worthClaiming =
        room > 0 && (prefetch === 0 || this.queued.length <= prefetch / 2);
      if (this.wanted && worthClaiming) {
        this.wanted = false;
        const limit = Math.min(room, MAX_CLAIM);
        let runs: Claim[];
        // The lease starts in the database while the claim is in flight: a
        // worker paused before reading the answer must not count its lease
        // from after the pause.
        const claimSentAt = Date.now();
        try {
          runs = await this.options.claim(limit);
          if (failures > 0) {
            this.logger.log('Claiming works again');
          }
          failures = 0;
        } catch (err) {
          failures += 1;
          this.wanted = true;
          const delay = backoffDelayMs(this.options.backoff, failures);
          const message = `Could not claim runs (attempt ${failures}): ${(err as Error).message}. Retrying in ${delay}ms`;
          if (isTransientPgError(err)) {
            this.logger.warn(message);
          } else {
            this.logger.error(message, (err as Error).stack);
          }
          await sleep(delay, this.stopSignal.signal);
          continue;
        }
        if (runs.length === limit) {
          this.wanted = true; // it took all it asked for: more may be due
          this.options.idle?.busy();
        }
        for (const run of runs) {
          this.options.onClaimed(run, claimSentAt);
          this.queued.push(run);
        }
        continue;
      }
      if (!this.wanted && this.options.idle) {
        // Nothing more to claim: only a wake-up would bring work, so make
        // sure enqueues send one (and claim what came before they could).
        const claimIn = await this.options.idle.beforeWait();
        if (claimIn === 0) {
          this.wanted = true;
        } else if (claimIn !== undefined) {
          this.wakeIn(claimIn);
        }
        if (this.wanted || this.stopSignal.signal.aborted) {
          continue;
        }
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private startQueued(): void {
    while (
      this.stepsRunning.size < this.options.concurrency &&
      this.queued.length > 0 &&
      !this.stopSignal.signal.aborted
    ) {
      const run = this.queued.shift() as Claim;
      if (this.options.stillHeld && !this.options.stillHeld(run)) {
        this.options.dropped?.(run);
        continue;
      }
      this.startStep(run);
    }
  }

  private startStep(run: Claim): void {
    this.startedSince += 1;
    let markDone!: () => void;
    const codeDone = new Promise<void>((resolve) => {
      markDone = resolve;
    });
    this.stepsRunning.add(codeDone);
    const stepDone = (): void => {
      if (!this.stepsRunning.delete(codeDone)) {
        return; // called already
      }
      markDone();
      if (this.wanted || this.queued.length > 0) {
        this.signal();
      }
    };
    // Settles on its own (its errors are logged here); shutdown waits for the
    // step's code through `stepsRunning`, and for its outcome in the batcher.
    void this.options
      .runStep(run, stepDone)
      .catch((err: Error) =>
        this.logger.error(
          `Step of run ${run.id} crashed: ${err.message}`,
          err.stack,
        ),
      )
      .finally(stepDone);
  }
}
