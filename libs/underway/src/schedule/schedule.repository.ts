import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import type { ScheduleExpression } from '../common/cron-expression';
import type { ScheduleInfo } from './schedule.interface';
import {
  databaseNow,
  deleteSchedule,
  listSchedules,
  ScheduleRow,
  upsertSchedule,
} from './schedule.sql';

/** The schedule statements of client calls, on the caller's executor (and transaction). */
export class ScheduleRepository {
  constructor(private readonly schema: Schema) {}

  /** Creates or replaces a schedule; its first tick is the next one on the database clock. */
  async upsert(
    executor: SqlExecutor,
    schedule: {
      readonly workflowName: string;
      readonly key: string;
      readonly expression: ScheduleExpression;
      readonly input: string | null;
      readonly overlap: 'allow' | 'skip';
      readonly source: 'decorator' | 'client';
    },
  ): Promise<ScheduleInfo> {
    const now = await executor.query<{ now: Date }>(databaseNow());
    const nextFireAt = schedule.expression.nextAfter(now.rows[0]!.now);
    const result = await executor.query<ScheduleRow>(
      upsertSchedule(this.schema, {
        workflowName: schedule.workflowName,
        key: schedule.key,
        cron: schedule.expression.cron,
        timezone: schedule.expression.timezone,
        input: schedule.input,
        overlap: schedule.overlap,
        source: schedule.source,
        nextFireAt,
      }),
    );
    return scheduleInfo(result.rows[0]!);
  }

  /** @returns whether there was such a schedule */
  async delete(
    executor: SqlExecutor,
    workflowName: string,
    key: string,
  ): Promise<boolean> {
    const result = await executor.query(
      deleteSchedule(this.schema, workflowName, key),
    );
    return result.rows.length > 0;
  }

  async list(
    executor: SqlExecutor,
    workflowName: string | null,
  ): Promise<ScheduleInfo[]> {
    const result = await executor.query<ScheduleRow>(
      listSchedules(this.schema, workflowName),
    );
    return result.rows.map(scheduleInfo);
  }
}

function scheduleInfo(row: ScheduleRow): ScheduleInfo {
  return {
    workflowName: row.workflow_name,
    key: row.key,
    cron: row.cron,
    timezone: row.timezone,
    overlap: row.overlap,
    nextFireAt: row.next_fire_at,
    lastFireAt: row.last_fire_at ?? undefined,
    lastRunId: row.last_run_id ?? undefined,
    skipped: row.skipped,
    source: row.source,
  };
}
