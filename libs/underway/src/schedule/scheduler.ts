import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { MAX_TIMER_DELAY_MS } from '../common/timers';
import { PoolExecutor, withTransaction } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { backoffDelayMs, ReconnectBackoff } from '../database/transient-retry';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import { newRunOf } from '../workflow/new-run';
import { RunRecorder, RunRepository } from '../workflow/run.repository';
import { parseSchedule } from './schedule-expression';
import {
  advanceSchedule,
  claimDueSchedules,
  DueScheduleRow,
  nextDueInMs,
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
 * Fires the due schedules of the workflows this instance runs, every tick
 * exactly once across instances, with no single holder to fail over: each
 * pass claims due rows with `FOR UPDATE SKIP LOCKED`, enqueues each one's run
 * (idempotent on the schedule and the fire time) and advances it, in one
 * transaction, so an instance that dies mid-fire leaves the tick to the
 * next one. A timer waits for the earliest due tick (re-armed when a
 * notification says schedules changed); next fires are computed for the
 * database clock. A tick missed while every instance was down fires once,
 * then the schedule goes on from its next future tick.
 */
export class Scheduler {
  private readonly logger = new Logger(Scheduler.name);
  private readonly runs: RunRepository;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly schema: Schema,
    private readonly registry: WorkflowRegistry,
    private readonly workflows: readonly string[],
    private readonly backoff: ReconnectBackoff,
    recorder?: RunRecorder,
  ) {
    this.runs = new RunRepository(schema, recorder);
  }

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
    }>(nextDueInMs(this.schema, this.workflows));
    const ms = result.rows[0]?.ms;
    return ms === null || ms === undefined ? MAX_SLEEP_MS : Number(ms);
  }

  /** One transaction: claims due schedules, fires or skips each, advances them. */
  private fireDue(): Promise<number> {
    return withTransaction(this.pool, async (executor) => {
      const due = await executor.query<DueScheduleRow>(
        claimDueSchedules(this.schema, this.workflows, FIRE_BATCH),
      );
      for (const row of due.rows) {
        const definition = this.registry.find(row.workflow_name);
        if (!definition) {
          continue; // not run here: `workflows` lists only registered ones
        }
        const expression = parseSchedule(`${row.cron}[${row.timezone}]`, {
          workflowName: row.workflow_name,
          key: row.key,
        });
        const fireAt = row.next_fire_at;
        // A tick missed while every instance was down fires once (now), and the
        // schedule goes on from its next future tick.
        const from = fireAt > row.db_now ? fireAt : row.db_now;
        const nextFireAt = expression.nextAfter(from, fireAt);
        if (
          row.overlap === 'skip' &&
          row.last_run_state !== null &&
          UNFINISHED.has(row.last_run_state)
        ) {
          this.logger.log(
            `Schedule ${row.workflow_name}/${row.key}: tick of ${fireAt.toISOString()} skipped, ` +
              `its previous run ${row.last_run_id} is unfinished (overlap: 'skip')`,
          );
          await executor.query(
            advanceSchedule(this.schema, {
              workflowName: row.workflow_name,
              key: row.key,
              nextFireAt,
              fired: undefined,
            }),
          );
          continue;
        }
        const { id } = await this.runs.insert(
          executor,
          newRunOf(definition, row.input, {
            idempotencyKey: `schedule:${row.key}:${fireAt.toISOString()}`,
          }),
        );
        await executor.query(
          advanceSchedule(this.schema, {
            workflowName: row.workflow_name,
            key: row.key,
            nextFireAt,
            fired: { at: fireAt, runId: id },
          }),
        );
        this.logger.log(
          `Schedule ${row.workflow_name}/${row.key}: fired the tick of ${fireAt.toISOString()} as run ${id}`,
        );
      }
      return due.rows.length;
    });
  }
}
