import type { EntityManager } from 'typeorm';

/**
 * A schedule, as `WorkflowClient.listSchedules()` returns it.
 *
 * @publicApi
 */
export interface ScheduleInfo {
  readonly workflowName: string;
  /** Identifies the schedule within its workflow; `'default'` unless given. */
  readonly key: string;
  /** The cron expression or macro, without its zone: `'0 2 * * *'`, `'@daily'`. */
  readonly cron: string;
  /** The IANA zone the cron is read in; `UTC` unless given. */
  readonly timezone: string;
  readonly overlap: 'allow' | 'skip';
  /** The next tick, on the database clock. */
  readonly nextFireAt: Date;
  readonly lastFireAt: Date | undefined;
  /** The run of the last fire. */
  readonly lastRunId: string | undefined;
  /** Ticks skipped (`overlap: 'skip'`) while the previous run was unfinished. */
  readonly skipped: number;
  /** `decorator`: `@Workflow({ schedule })`, synced at boot; `client`: `client.schedule()`. */
  readonly source: 'decorator' | 'client';
}

/**
 * Options of `WorkflowClient.schedule()`.
 *
 * @publicApi
 */
export interface ScheduleOptions {
  /** One workflow may have several schedules, each with its key. @default 'default' */
  key?: string;
  /**
   * `skip`: a tick is skipped (and counted) while the previous run of this
   * schedule is unfinished. @default 'allow'
   */
  overlap?: 'allow' | 'skip';
  /** Joins your transaction: rolled back, the schedule is unchanged. */
  manager?: EntityManager;
}

/**
 * Options of `WorkflowClient.unschedule()`.
 *
 * @publicApi
 */
export interface UnscheduleOptions {
  /** @default 'default' */
  key?: string;
  manager?: EntityManager;
}
