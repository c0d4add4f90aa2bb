import type { RecordedCallRow, RecordedCallsKey } from '../engine/sql/read.sql';

/** Steps whose records one statement reads, at most. */
const MAX_BATCH = 500;

interface Waiting extends RecordedCallsKey {
  readonly resolve: (rows: RecordedCallRow[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Reads the recorded calls of replayed steps in batches: every replay that
 * asks within one turn of the event loop is answered by one statement, so a
 * worker resuming hundreds of steps after their calls returned does not pay a
 * round trip for each (one per step was a third of an activity run's cost).
 * A failed read fails each replay that asked, as one read of its own would.
 */
export class RecordedCallsLoader {
  private waiting: Waiting[] = [];

  constructor(
    private readonly read: (
      keys: readonly RecordedCallsKey[],
    ) => Promise<RecordedCallRow[][]>,
  ) {}

  load(runId: string, stepIndex: number): Promise<RecordedCallRow[]> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) {
        setImmediate(() => this.flush());
      }
      this.waiting.push({ runId, stepIndex, resolve, reject });
    });
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
