import { Logger } from '@nestjs/common';
import { Duration, parseDuration } from '../common/duration';
import { storedSchedule } from '../common/cron-expression';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  FutureScheduleRow,
  futureSchedules,
  setNextFire,
  shiftDueTimes,
} from './clock.sql';

/**
 * Underway's clock for one schema, in a test (`kit.clock`). `advance('3d')`
 * moves it forward: what was due in three days is due now (delays,
 * `Transition.after`, `ctx.sleep`, waits' timeouts, retries' backoff,
 * schedules' next ticks, retention). It does so by moving the schema's
 * stored due times back, in one transaction: the database's `now()` is
 * untouched, and production pays nothing for this clock.
 *
 * So the times Underway stores and reports (`getRun().runAt`, a wait's
 * `deadline`, `listSchedules()`' `nextFireAt`, `schedule:fired`'s `fireAt`)
 * are on the database's clock: add `offsetMs` to read them on this one. Two
 * schemas (two apps) have clocks of their own.
 *
 * @publicApi
 */
export class TestClock {
  private readonly logger = new Logger(TestClock.name);
  private advanced = 0;

  /** @internal Made by the testing kit. */
  constructor(
    private readonly executor: SqlExecutor,
    private readonly schema: Schema,
    /** Runs `fn` when no drain runs (moves and drains take turns). */
    private readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
    /** Throws when the kit cannot run work (not initialized, or closed). */
    private readonly assertUsable: (operation: string) => void,
  ) {}

  /** How far the clock has been moved, in ms: Underway's now is the database's now plus this. */
  get offsetMs(): number {
    return this.advanced;
  }

  /** Underway's now for this schema, as this process's clock tells it. */
  now(): Date {
    return new Date(Date.now() + this.advanced);
  }

  /**
   * Moves the clock forward by `duration` (`'3d'`, `'90m'`, `1500`). Resolves
   * once it moved: what fell due is due for the next `drain()`, which runs
   * it (nothing runs in between). A tick of a schedule that the move skips
   * fires once, then the schedule goes on from its next tick (as after an
   * outage).
   * @throws InvalidOptionsError for a bad duration; TestKitNotStartedError, UnderwayClosedError
   */
  async advance(duration: Duration): Promise<void> {
    this.assertUsable('UnderwayTestKit.clock.advance()');
    const ms = parseDuration(duration, 'duration');
    await this.exclusive(async () => {
      // Ticks stored since the last move (client.schedule) were computed for
      // the database's clock: first put them on this one.
      await this.rephaseSchedules();
      if (ms === 0) {
        return;
      }
      await this.executor.atomically(async (transaction) => {
        for (const statement of shiftDueTimes(this.schema, ms)) {
          await transaction.query(statement);
        }
      });
      this.advanced += ms;
    });
  }

  /**
   * Puts each schedule's next tick at the first tick of its cron after this
   * clock's now (or its last fire), on this clock. The scheduler computes
   * the next tick from the database's now when it fires, and
   * `client.schedule()` when it stores one: on a moved clock, a tick of a
   * daily cron would otherwise land at the hour of day the offset says.
   * Due ticks are left to fire. Nothing to do while the clock has not moved.
   *
   * @internal Called by the kit after each drain, and before each move.
   */
  async rephaseSchedules(): Promise<void> {
    if (this.advanced === 0) {
      return;
    }
    const { rows } = await this.executor.query<FutureScheduleRow>(
      futureSchedules(this.schema),
    );
    for (const row of rows) {
      const next = this.nextTick(row);
      if (next !== undefined && next.getTime() !== row.next_fire_at.getTime()) {
        await this.executor.query(
          setNextFire(this.schema, {
            workflowName: row.workflow_name,
            key: row.key,
            was: row.next_fire_at,
            nextFireAt: next,
          }),
        );
      }
    }
  }

  /** The row's next tick on this clock, stored back on the database's; `undefined`: leave it. */
  private nextTick(row: FutureScheduleRow): Date | undefined {
    const offset = this.advanced;
    let expression;
    try {
      expression = storedSchedule(row, {
        workflowName: row.workflow_name,
        key: row.key,
      });
    } catch (err) {
      // The scheduler sets such a schedule aside and says why.
      this.logger.warn(
        `Schedule ${row.workflow_name}/${row.key} is left as stored: ${(err as Error).message}`,
      );
      return undefined;
    }
    const now = row.db_now.getTime() + offset;
    const lastFire =
      row.last_fire_at === null
        ? undefined
        : new Date(row.last_fire_at.getTime() + offset);
    const from = Math.max(now, lastFire?.getTime() ?? now);
    return new Date(
      expression.nextAfter(new Date(from), lastFire).getTime() - offset,
    );
  }
}
