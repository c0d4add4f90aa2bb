import { Logger } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  forgetWaiting,
  markWaiting,
  wakeGateOpen,
} from '../engine/sql/wake.sql';

/** A worker busy this long after it marked itself waiting takes the mark back. */
const UNMARK_AFTER_MS = 1_000;
/** The first wait before claiming again while an enqueue may have missed the mark. */
const FIRST_RECHECK_MS = 2;

/** What the claim loop asks before it waits for a wake-up (see {@link WaitingMark}). */
export interface IdleGate {
  /**
   * The loop has nothing left to claim and is about to wait.
   * @returns `0`: claim once more now; a number of ms: claim again then;
   * `undefined`: wait (a wake-up will come)
   */
  beforeWait(): Promise<number | undefined>;
  /** A claim took all it asked for: more work is waiting, no wake-up is needed. */
  busy(): void;
}

/**
 * This worker's row in `waiting_worker`: enqueues of due runs notify only
 * while some worker waits (migration 5), so a busy worker lets producers skip
 * the `NOTIFY` that PostgreSQL commits one at a time.
 *
 * Before waiting, the worker marks itself waiting, then claims once more, but
 * only once the wake gate is open (no enqueue that read the marks before this
 * one still running); while one runs, it claims again a little later (2 ms,
 * doubling, at most the poll interval) rather than wait on it. A worker that
 * stays busy takes its mark back, at most once per second. No mark (no
 * `LISTEN` connection, or the database refused it): wake-ups cannot reach this
 * worker anyway, and the poll interval and the listener's reconnection claim.
 */
export class WaitingMark implements IdleGate {
  private readonly logger = new Logger(WaitingMark.name);
  private state: 'unmarked' | 'unsettled' | 'settled' = 'unmarked';
  private markedAt = 0;
  private recheckMs = FIRST_RECHECK_MS;
  private unmarking: Promise<void> | undefined;

  constructor(
    private readonly executor: SqlExecutor,
    private readonly schema: Schema,
    /** This worker's key in `waiting_worker` (unique per worker). */
    private readonly worker: string,
    /** The backend of the `LISTEN` connection, while it listens. */
    private readonly listenerPid: () => number | undefined,
    private readonly pollIntervalMs: number,
  ) {}

  async beforeWait(): Promise<number | undefined> {
    await this.unmarking;
    if (this.state === 'unmarked') {
      const pid = this.listenerPid();
      if (pid === undefined) {
        return undefined;
      }
      try {
        await this.executor.query(
          markWaiting(this.schema, this.worker, pid, true),
        );
      } catch (err) {
        this.logger.warn(
          `Could not mark this worker as waiting (${(err as Error).message}): it polls meanwhile`,
        );
        return undefined;
      }
      this.state = 'unsettled';
      this.markedAt = Date.now();
      this.recheckMs = FIRST_RECHECK_MS;
    }
    if (this.state === 'settled') {
      return undefined;
    }
    let open = false;
    try {
      const { rows } = await this.executor.query<{ open: boolean }>(
        wakeGateOpen(this.schema),
      );
      open = rows[0]?.open === true;
    } catch {
      // As if an enqueue still held it: claim again later.
    }
    if (open) {
      this.state = 'settled';
      return 0;
    }
    const delay = this.recheckMs;
    this.recheckMs = Math.min(this.recheckMs * 2, this.pollIntervalMs);
    return delay;
  }

  busy(): void {
    if (
      this.state === 'unmarked' ||
      this.unmarking ||
      Date.now() - this.markedAt < UNMARK_AFTER_MS
    ) {
      return;
    }
    const pid = this.listenerPid();
    this.state = 'unmarked';
    if (pid === undefined) {
      return;
    }
    this.unmarking = this.executor
      .query(markWaiting(this.schema, this.worker, pid, false))
      .then(
        () => undefined,
        (err: Error) =>
          // The mark stays: enqueues go on notifying, which is only slower.
          this.logger.debug(
            `Could not take the waiting mark back: ${err.message}`,
          ),
      )
      .finally(() => {
        this.unmarking = undefined;
      });
  }

  /** The `LISTEN` connection changed: mark again (with its backend) before the next wait. */
  reset(): void {
    this.state = 'unmarked';
  }

  /** Deletes the mark (at shutdown); a failure leaves it to maintenance. */
  async forget(): Promise<void> {
    await this.unmarking;
    this.state = 'unmarked';
    await this.executor
      .query(forgetWaiting(this.schema, this.worker))
      .catch(() => undefined);
  }
}
