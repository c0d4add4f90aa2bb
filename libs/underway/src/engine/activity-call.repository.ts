import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  ActivityCallRow,
  RecordedCallRow,
  RecordedCallsKey,
  selectActivityCalls,
  selectRecordedCalls,
} from './sql/read.sql';
import {
  selectSignals,
  selectWaits,
  SignalRow,
  WaitRow,
} from './sql/signal.sql';

/** Waits, and signals, that `getRun()` lists at most (the latest). */
export const MAX_LISTED_WAITS = 1_000;

/** Reads of activity calls: a step's record for its replay, a run's for `getRun()`. */
export class ActivityCallRepository {
  constructor(private readonly schema: Schema) {}

  /** The recorded calls of each step asked for, in the order of `keys`. */
  async recorded(
    executor: SqlExecutor,
    keys: readonly RecordedCallsKey[],
  ): Promise<RecordedCallRow[][]> {
    const result = await executor.query<RecordedCallRow & { key: number }>(
      selectRecordedCalls(this.schema, keys),
    );
    const byKey = keys.map((): RecordedCallRow[] => []);
    for (const { key, ...row } of result.rows) {
      byKey[key]?.push(row);
    }
    return byKey;
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

  /** The run's waits and sleeps, and its signals, the latest `MAX_LISTED_WAITS` of each. */
  async waitsOfRun(
    executor: SqlExecutor,
    runId: string,
  ): Promise<{ waits: WaitRow[]; signals: SignalRow[] }> {
    const [waits, signals] = await Promise.all([
      executor.query<WaitRow>(
        selectWaits(this.schema, runId, MAX_LISTED_WAITS),
      ),
      executor.query<SignalRow>(
        selectSignals(this.schema, runId, MAX_LISTED_WAITS),
      ),
    ]);
    return { waits: waits.rows, signals: signals.rows };
  }
}
