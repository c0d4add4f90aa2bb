// Over 300 lines on purpose: one job, firing due schedules exactly once: the
// timer, the claim of due rows, one savepoint per fire, and the set-aside of
// schedules that cannot fire, which share the pass's state.
import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { MAX_TIMER_DELAY_MS } from '../common/timers';
import {
  isQueryTimeout,
  isTransientPgError,
  pgErrorCode,
} from '../database/pg-errors';
import {
  PoolExecutor,
  SqlExecutor,
  withTransaction,
} from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { backoffDelayMs, ReconnectBackoff } from '../database/transient-retry';
import type { WorkflowDefinition } from '../discovery/workflow-definition';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import { InvalidScheduleError } from '../errors/invalid-schedule.error';
import type { TransitionWriter } from '../engine/transition.writer';
import type { UnderwayEvents } from '../events/underway-events';
import { newRunOf } from '../engine/new-run';
import { ScheduleExpression, storedSchedule } from '../common/cron-expression';
import {
  advanceSchedule,
  beforeScheduleFire,
  claimDueSchedules,
  DueScheduleRow,
  nextDueInMs,
  SetAsideSchedules,
  undoScheduleFire,
} from './schedule.sql';

/** Schedules fired per transaction; a larger backlog takes several. */
const FIRE_BATCH = 100;
/**
 * The longest the scheduler sleeps without looking: a change it was not
 * told about (its listener was down) is seen within this time.
 */
const MAX_SLEEP_MS = 60_000;
const UNFINISHED = new Set(['pending', 'running', 'waiting']);
/** How soon to look again at a due schedule that another instance holds. */
const LOCKED_RETRY_MS = 100;
/**
 * A schedule that cannot fire (a row edited by hand, a zone this Node no
 * longer knows) is set aside for 1 s, then 2 s, 4 s… up to 5 min between
 * looks; changed (its cron or zone), it is looked at again at once.
 */
const SET_ASIDE_FIRST_MS = 1_000;
const SET_ASIDE_MAX_MS = 5 * 60_000;

interface SetAside {
  readonly workflowName: string;
  readonly key: string;
  readonly cron: string;
  readonly timezone: string;
  readonly failures: number;
  /** `Date.now()` of the next look. */
  readonly until: number;
}

/**
 * Fires the due schedules of the workflows this instance runs, every tick
 * exactly once across instances, with no single holder to fail over: each
 * pass claims due rows with `FOR UPDATE SKIP LOCKED`, enqueues each one's run
 * (idempotent on the schedule and the fire time) and advances it, in one
 * transaction, so an instance that dies mid-fire leaves the tick to the
 * next one. A timer waits for the earliest due tick (re-armed when a
 * notification says schedules changed); next fires are computed for the
 * database clock. A tick missed while every instance was down fires once,
 * then the schedule goes on from its next future tick. Each schedule fires
 * in its own savepoint: one that cannot (a row edited by hand, a zone this
 * Node no longer knows) is logged, set aside with backoff and left out of the
 * claims meanwhile, and the others fire. Fires are logged once committed.
 */
export class Scheduler {
  private readonly logger = new Logger(Scheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private stopped = false;
  /** By workflow and key. */
  private readonly setAside = new Map<string, SetAside>();

  constructor(
    private readonly pool: Pool,
    private readonly schema: Schema,
    private readonly registry: WorkflowRegistry,
    private readonly workflows: readonly string[],
    private readonly backoff: ReconnectBackoff,
    private readonly writer: TransitionWriter,
    private readonly events: UnderwayEvents,
  ) {}

  start(): void {
    this.rearm();
  }

  /** Looks again now: schedules changed, or the listener reconnected. */
  rearm(): void {
    if (this.stopped) {
      return;
    }
    if (this.pass) {
      this.again = true; // after the pass in flight, which may have missed it
      return;
    }
    this.clearTimer();
    this.pass = this.fireAndArm().finally(() => {
      this.pass = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.rearm();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    await this.pass;
  }

  /**
   * Fires every due schedule now, through the same pass, without arming a
   * timer: the manual runtime (`runtime: 'manual'`) calls it when a test
   * drains the work. Its errors are the caller's.
   * @returns how many due schedules it claimed (fired, skipped or set aside)
   */
  async fireDueNow(): Promise<number> {
    let total = 0;
    let claimed: number;
    do {
      claimed = await this.fireDue();
      total += claimed;
    } while (!this.stopped && claimed === FIRE_BATCH);
    return total;
  }

  private async fireAndArm(): Promise<void> {
    let waitMs: number;
    try {
      let claimed: number;
      do {
        claimed = await this.fireDue();
      } while (!this.stopped && claimed === FIRE_BATCH); // a backlog: more at once
      waitMs = await this.nextDueInMs();
      if (waitMs <= 0 && claimed === 0) {
        // Due, yet nothing could be claimed: another instance is firing it (or
        // stalled holding it). Look again soon, without spinning.
        waitMs = LOCKED_RETRY_MS;
      }
      // A schedule set aside is looked at again when its time comes.
      const now = Date.now();
      for (const entry of this.setAside.values()) {
        if (entry.until > now) {
          waitMs = Math.min(waitMs, entry.until - now);
        }
      }
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      waitMs = backoffDelayMs(this.backoff, this.failures);
      this.logger.warn(
        `Could not fire due schedules (${(err as Error).message}); trying again in ${waitMs}ms`,
      );
    }
    this.arm(waitMs);
  }

  private arm(waitMs: number): void {
    if (this.stopped) {
      return;
    }
    if (this.events.has('schedule:armed')) {
      this.events.emit('schedule:armed', { waitMs });
    }
    this.clearTimer();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.rearm();
      },
      Math.min(Math.max(0, waitMs), MAX_SLEEP_MS, MAX_TIMER_DELAY_MS),
    );
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private async nextDueInMs(): Promise<number> {
    const result = await new PoolExecutor(this.pool).query<{
      ms: number | null;
    }>(nextDueInMs(this.schema, this.workflows, this.setAsideNow()));
    const ms = result.rows[0]?.ms;
    return ms === null || ms === undefined ? MAX_SLEEP_MS : Number(ms);
  }

  /**
   * One transaction: claims due schedules, fires or skips each and advances
   * it. Each schedule fires in its own savepoint: one that cannot fire is set
   * aside without undoing the others. The fires are logged once committed.
   */
  private async fireDue(): Promise<number> {
    const fired: string[] = [];
    const claimed = await withTransaction(this.pool, async (executor) => {
      const due = await executor.query<DueScheduleRow>(
        claimDueSchedules(
          this.schema,
          this.workflows,
          FIRE_BATCH,
          this.setAsideNow(),
        ),
      );
      for (const row of due.rows) {
        const definition = this.registry.find(row.workflow_name);
        if (!definition) {
          continue; // not run here: `workflows` lists only registered ones
        }
        let expression: ScheduleExpression;
        try {
          expression = storedSchedule(row, {
            workflowName: row.workflow_name,
            key: row.key,
          });
        } catch (err) {
          this.putAside(row, err);
          continue;
        }
        await executor.query(beforeScheduleFire());
        // What the fire announces waits for it to succeed: a fire undone
        // (rolled back to its savepoint) announces nothing.
        const announced: (() => void)[] = [];
        const scoped: SqlExecutor = {
          query: (query) => executor.query(query),
          afterCommit: (fn) => announced.push(fn),
          atomically: (fn) => fn(scoped),
        };
        try {
          fired.push(await this.fire(scoped, definition, row, expression));
          for (const fn of announced) {
            executor.afterCommit(fn);
          }
        } catch (err) {
          if (isTransientPgError(err) || isQueryTimeout(err)) {
            throw err; // the whole pass is tried again, after a pause
          }
          await executor.query(undoScheduleFire());
          this.putAside(row, err);
          continue;
        }
        this.setAside.delete(setAsideId(row));
      }
      return due.rows.length;
    });
    for (const line of fired) {
      this.logger.log(line);
    }
    return claimed;
  }

  /** Fires (or skips) one due schedule and advances it; returns the line to log. */
  private async fire(
    executor: SqlExecutor,
    definition: WorkflowDefinition,
    row: DueScheduleRow,
    expression: ScheduleExpression,
  ): Promise<string> {
    const fireAt = row.next_fire_at;
    // A tick missed while every instance was down fires once (now), and the
    // schedule goes on from its next future tick.
    const from = fireAt > row.db_now ? fireAt : row.db_now;
    const nextFireAt = expression.nextAfter(from, fireAt);
    const name = `${row.workflow_name}/${row.key}`;
    if (
      row.overlap === 'skip' &&
      row.last_run_state !== null &&
      UNFINISHED.has(row.last_run_state)
    ) {
      await executor.query(
        advanceSchedule(this.schema, {
          workflowName: row.workflow_name,
          key: row.key,
          nextFireAt,
          fired: undefined,
        }),
      );
      return (
        `Schedule ${name}: tick of ${fireAt.toISOString()} skipped, ` +
        `its previous run ${row.last_run_id} is unfinished (overlap: 'skip')`
      );
    }
    const { id, created } = await this.writer.insertRun(
      executor,
      newRunOf(definition, row.input, {
        idempotencyKey: `schedule:${row.key}:${fireAt.toISOString()}`,
      }),
      { source: 'schedule', schedule: { key: row.key, fireAt } },
    );
    await executor.query(
      advanceSchedule(this.schema, {
        workflowName: row.workflow_name,
        key: row.key,
        nextFireAt,
        fired: { at: fireAt, runId: id },
      }),
    );
    if (created && this.events.has('schedule:fired')) {
      const event = {
        workflowName: row.workflow_name,
        key: row.key,
        fireAt,
        runId: id,
      };
      executor.afterCommit(() => this.events.emit('schedule:fired', event));
    }
    return `Schedule ${name}: fired the tick of ${fireAt.toISOString()} as run ${id}`;
  }

  /**
   * Sets a schedule that cannot fire aside, for longer each time it fails
   * unchanged, and says why at error level: the others go on firing.
   */
  private putAside(row: DueScheduleRow, err: unknown): void {
    const id = setAsideId(row);
    const previous = this.setAside.get(id);
    const failures =
      previous &&
      previous.cron === row.cron &&
      previous.timezone === row.timezone
        ? previous.failures + 1
        : 1;
    const waitMs = Math.min(
      SET_ASIDE_FIRST_MS * 2 ** Math.min(failures - 1, 30),
      SET_ASIDE_MAX_MS,
    );
    this.setAside.set(id, {
      workflowName: row.workflow_name,
      key: row.key,
      cron: row.cron,
      timezone: row.timezone,
      failures,
      until: Date.now() + waitMs,
    });
    this.logger.error(
      `Schedule ${row.workflow_name}/${row.key} cannot fire: ${reason(err)}. ` +
        `It is set aside and looked at again in ${waitMs}ms; the other schedules go on. ` +
        'Replace it with client.schedule() (a @Workflow({ schedule }) is replaced at the next boot).',
    );
  }

  /**
   * The schedules set aside until later, for the claim to leave out; those
   * not seen failing for a long while (fixed, or gone) are forgotten.
   */
  private setAsideNow(): SetAsideSchedules {
    const now = Date.now();
    const active: SetAside[] = [];
    for (const [id, entry] of this.setAside) {
      if (entry.until > now) {
        active.push(entry);
      } else if (entry.until < now - SET_ASIDE_MAX_MS) {
        this.setAside.delete(id);
      }
    }
    return {
      workflowNames: active.map((entry) => entry.workflowName),
      keys: active.map((entry) => entry.key),
      crons: active.map((entry) => entry.cron),
      timezones: active.map((entry) => entry.timezone),
    };
  }
}

function setAsideId(row: DueScheduleRow): string {
  return `${row.workflow_name}\n${row.key}`;
}

/** Why a schedule could not fire, without its input. */
function reason(err: unknown): string {
  if (err instanceof InvalidScheduleError) {
    return `its schedule ${JSON.stringify(err.schedule)} is invalid: ${err.problem}`;
  }
  const code = pgErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return code === undefined ? message : `${message} (SQLSTATE ${code})`;
}
