import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  ActivityCallRow,
  RecordedCallRow,
  selectActivityCalls,
  selectRecordedCalls,
} from './activity.sql';

/** Reads of activity calls: a step's record for its replay, a run's for `getRun()`. */
export class ActivityCallRepository {
  constructor(private readonly schema: Schema) {}

  async recorded(
    executor: SqlExecutor,
    runId: string,
    stepIndex: number,
  ): Promise<RecordedCallRow[]> {
    const result = await executor.query<RecordedCallRow>(
      selectRecordedCalls(this.schema, runId, stepIndex),
    );
    return result.rows;
  }

  async ofRun(
    executor: SqlExecutor,
    runId: string,
  ): Promise<ActivityCallRow[]> {
    const result = await executor.query<ActivityCallRow>(
      selectActivityCalls(this.schema, runId),
    );
    return result.rows;
  }
}
