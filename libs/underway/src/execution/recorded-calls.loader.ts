import type { RecordedCallRow, RecordedCallsKey } from '../engine/sql/read.sql';
import type { RecordedCalls, RecordedCallsCache } from './recorded-calls.cache';

/** Steps whose records one statement reads, at most. */
const MAX_BATCH = 500;

interface Waiting extends RecordedCallsKey {
  readonly resolve: (rows: RecordedCallRow[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Reads the recorded calls of replayed steps: what the cache does not hold
 * (the calls recorded since the step's last replay here, or all of them),
 * in batches: every replay that asks within one turn of the event loop is
 * answered by one statement, so a worker resuming hundreds of steps after
 * their calls returned does not pay a round trip for each (one per step was a
 * third of an activity run's cost). A failed read fails each replay that
 * asked, as one read of its own would.
 */
export class RecordedCallsLoader {
  private waiting: Waiting[] = [];

  constructor(
    private readonly read: (
      keys: readonly RecordedCallsKey[],
    ) => Promise<RecordedCallRow[][]>,
    private readonly cache: RecordedCallsCache,
  ) {}

  /**
   * The record of step `stepIndex` of `runId`, which has recorded
   * `recordedCount` calls and emits (from its claim).
   */
  load(
    runId: string,
    stepIndex: number,
    recordedCount: number,
  ): Promise<RecordedCalls> {
    const gap = this.cache.gap(runId, stepIndex, recordedCount);
    if (gap.fromIndex >= recordedCount && gap.holes.length === 0) {
      // Every call is known here (a retry of the step): nothing to read.
      return Promise.resolve(this.cache.merge(runId, stepIndex, gap, []));
    }
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) {
        setImmediate(() => this.flush());
      }
      this.waiting.push({
        runId,
        stepIndex,
        fromIndex: gap.fromIndex,
        holes: gap.holes,
        resolve: (rows) =>
          resolve(this.cache.merge(runId, stepIndex, gap, rows)),
        reject,
      });
    });
  }

  /** Forgets the record of a step that is over here (it moved on, finished or failed). */
  forget(runId: string, stepIndex: number): void {
    this.cache.forget(runId, stepIndex);
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (let start = 0; start < waiting.length; start += MAX_BATCH) {
      const batch = waiting.slice(start, start + MAX_BATCH);
      this.read(batch).then(
        (rows) => batch.forEach((entry, i) => entry.resolve(rows[i] ?? [])),
        (err: unknown) => batch.forEach((entry) => entry.reject(err)),
      );
    }
  }
}
