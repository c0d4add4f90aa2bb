import { Logger } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import type { TransitionWriter } from '../engine/transition.writer';
import type { ClaimScope } from '../model/claim-scope';

/** Waits and sleeps ended per statement; a pass goes on while a batch is full. */
const EXPIRE_BATCH = 500;

/**
 * Ends the waits and sleeps past their deadline (`ctx.waitFor`'s timeout,
 * `ctx.sleep`), which wakes their runs: when a claim says some are due (the
 * claim loop wakes at a deadline, told by the suspension's notification),
 * and on every poll. One pass at a time; a pass asked for meanwhile runs
 * once the current one ends. Off the claim's path: a run whose row is locked
 * (a sender's open transaction) is left for the next pass, never waited for.
 */
export class WaitExpirer {
  private readonly logger = new Logger(WaitExpirer.name);
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly writer: Pick<TransitionWriter, 'expireWaits'>,
    private readonly executor: SqlExecutor,
    private readonly scope: ClaimScope,
  ) {}

  /** Ends due waits soon, without waiting for it. */
  soon(): void {
    void this.pass();
  }

  /** Ends every due wait (in batches). Never rejects: a failure is logged, and the next poll tries again. */
  pass(): Promise<void> {
    if (this.stopped) {
      return Promise.resolve();
    }
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.expire().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.pass();
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async expire(): Promise<void> {
    try {
      while (!this.stopped) {
        const expired = await this.writer.expireWaits(
          this.executor,
          this.scope,
          EXPIRE_BATCH,
        );
        if (expired < EXPIRE_BATCH) {
          return;
        }
      }
    } catch (err) {
      this.logger.warn(
        `Could not end the waits past their deadline (tried again on the next poll): ${(err as Error).message}`,
      );
    }
  }
}
