import type { RecordedCallRow } from '../engine/sql/read.sql';

/**
 * What each worker keeps of its steps' recorded calls, at most (their size in
 * memory, estimated). One step keeps at most a quarter, 8 MiB: some 50,000
 * calls with small arguments and results, or 1,000 with 4 KiB results.
 */
export const RECORDED_CALLS_CACHE_BYTES = 32 * 1024 * 1024;

/** A recorded call, as a replay reads it. */
export interface RecordedCall extends RecordedCallRow {
  /**
   * Argument text, as `serializePayload` wrote it, that a replay found equal
   * to the recorded arguments: the same text needs no deep comparison again.
   */
  matchedArgs?: string;
}

/** A step's recorded calls, as one replay sees them. */
export interface RecordedCalls {
  get(callIndex: number): RecordedCall | undefined;
}

/** What a replay must read from the database: calls from `fromIndex` on, and `holes`. */
export interface RecordedCallsGap {
  readonly fromIndex: number;
  readonly holes: readonly number[];
  /** The cached calls below `fromIndex` (`undefined` at the holes). */
  readonly known: readonly (RecordedCall | undefined)[];
}

const NOTHING_KNOWN: RecordedCallsGap = {
  fromIndex: 0,
  holes: [],
  known: [],
};

/** The calls of one step that this process has read and that can never change. */
interface Entry {
  /**
   * Index i: call i once it can never change, `undefined` (a hole) while it
   * can. A succeeded call cannot: nothing updates a finished call but
   * `client.retry`, which resets failed ones. An emit's replay reads only its
   * kind, name and arguments, which never change.
   */
  readonly calls: (RecordedCall | undefined)[];
  /** The holes, ascending: read again by every replay. */
  holes: number[];
  bytes: number;
  /** A call did not fit the step's share of the cache: the entry grows no more. */
  full: boolean;
}

/** Roughly what a cached call holds in memory (strings are UTF-16). */
function sizeOf(call: RecordedCallRow): number {
  return (
    2 * (2 * call.args.length + (call.result?.length ?? 0) + call.name.length) +
    100
  );
}

function cacheable(call: RecordedCallRow): boolean {
  return (
    call.kind === 'emit' ||
    // A child not awaited: its replay reads only what never changes.
    call.kind === 'start' ||
    call.state === 'succeeded' ||
    // A wait or sleep that ended: nothing changes it again.
    call.state === 'timed_out'
  );
}

/**
 * The recorded calls of the steps this worker replays, kept between replays
 * so that a replay reads only what was recorded (or could still change)
 * since the last one, rather than the whole record: a step making n calls in
 * sequence replays n times, and reading every call each time was O(n²) rows.
 *
 * Only calls that can never change are kept (see `Entry.calls`), and only as
 * read from the database after they committed, never from this worker's own
 * writes (a write fenced out by another worker's claim never happened). So an
 * entry holds for the step whoever ran it meanwhile (another worker, a retry
 * of the step, `client.retry`), and is keyed by run and step alone. A replay
 * still compares every call it makes with the record, cached or not.
 *
 * Bounded in bytes, least recently used first out; one step takes at most a
 * quarter (its later calls are read on each replay, as before).
 */
export class RecordedCallsCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxStepBytes: number;

  constructor(private readonly maxBytes: number) {
    this.maxStepBytes = Math.floor(maxBytes / 4);
  }

  /** Bytes held now (an estimate). */
  get size(): number {
    return this.bytes;
  }

  /**
   * What a replay of `(runId, stepIndex)` must read, given the number of
   * calls the step has recorded (from its claim). An entry longer than that
   * cannot be this step's record: it is dropped, and everything is read.
   */
  gap(
    runId: string,
    stepIndex: number,
    recordedCount: number,
  ): RecordedCallsGap {
    const key = keyOf(runId, stepIndex);
    const entry = this.entries.get(key);
    if (!entry) {
      return NOTHING_KNOWN;
    }
    if (entry.calls.length > recordedCount) {
      this.drop(key, entry);
      return NOTHING_KNOWN;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    // `known` is the entry's own array: whatever happens to the entry later,
    // its calls below fromIndex stay (a hole may be filled, with its call).
    return {
      fromIndex: entry.calls.length,
      holes: [...entry.holes],
      known: entry.calls,
    };
  }

  /**
   * The record a replay sees: the cached calls below `gap.fromIndex`, and
   * `rows` (what was read for `gap`) for the rest and the holes. Keeps what
   * of `rows` can no longer change.
   */
  merge(
    runId: string,
    stepIndex: number,
    gap: RecordedCallsGap,
    rows: readonly RecordedCallRow[],
  ): RecordedCalls {
    const key = keyOf(runId, stepIndex);
    const read = new Map<number, RecordedCall>();
    for (const row of rows) {
      read.set(row.call_index, row);
    }
    const { fromIndex, known } = gap;
    const view: RecordedCalls = {
      get: (callIndex) =>
        (callIndex < fromIndex ? known[callIndex] : undefined) ??
        read.get(callIndex),
    };
    // Into the entry as it is now: another replay may have dropped or grown
    // it meanwhile (what it holds is right either way).
    const entry = this.entries.get(key);
    if (entry || rows.length > 0) {
      this.keep(key, entry, read);
    }
    return view;
  }

  /** Forgets a step that is over (it moved on, finished or failed). */
  forget(runId: string, stepIndex: number): void {
    const key = keyOf(runId, stepIndex);
    const entry = this.entries.get(key);
    if (entry) {
      this.drop(key, entry);
    }
  }

  private keep(
    key: string,
    existing: Entry | undefined,
    read: ReadonlyMap<number, RecordedCall>,
  ): void {
    const entry: Entry = existing ?? {
      calls: [],
      holes: [],
      bytes: 0,
      full: false,
    };
    const before = entry.bytes;
    // Holes that can no longer change.
    entry.holes = entry.holes.filter((index) => {
      const call = read.get(index);
      if (
        !call ||
        !cacheable(call) ||
        entry.bytes + sizeOf(call) > this.maxStepBytes
      ) {
        return true;
      }
      entry.calls[index] = call;
      entry.bytes += sizeOf(call);
      return false;
    });
    // Calls past the end, in order, as long as they fit.
    let last = -1;
    for (const index of read.keys()) {
      last = Math.max(last, index);
    }
    while (!entry.full && entry.calls.length <= last) {
      const index = entry.calls.length;
      const call = read.get(index);
      if (call && cacheable(call)) {
        if (entry.bytes + sizeOf(call) > this.maxStepBytes) {
          entry.full = true;
          break;
        }
        entry.calls.push(call);
        entry.bytes += sizeOf(call);
      } else {
        // Still open, failed, or not read (there is no such call): read again.
        entry.calls.push(undefined);
        entry.holes.push(index);
        entry.bytes += 8;
      }
    }
    this.bytes += entry.bytes - before;
    this.entries.delete(key);
    this.entries.set(key, entry);
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxBytes || old === entry) {
        break;
      }
      this.drop(oldest, old);
    }
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

function keyOf(runId: string, stepIndex: number): string {
  return `${runId}/${stepIndex}`;
}
