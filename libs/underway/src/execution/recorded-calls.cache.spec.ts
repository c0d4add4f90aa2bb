import type { RecordedCallRow } from '../engine/sql/read.sql';
import { RecordedCallsCache } from './recorded-calls.cache';

const row = (callIndex: number, result = 'x'.repeat(100)): RecordedCallRow => ({
  call_index: callIndex,
  kind: 'call',
  name: 'noop',
  args: '[]',
  state: 'succeeded',
  result: JSON.stringify(result),
  error: null,
});

/** Replays step `stepIndex` of `runId` once, over `rows` (the whole record). */
function replay(
  cache: RecordedCallsCache,
  runId: string,
  rows: RecordedCallRow[],
  stepIndex = 0,
) {
  const gap = cache.gap(runId, stepIndex, rows.length);
  const read = rows.filter(
    (r) => r.call_index >= gap.fromIndex || gap.holes.includes(r.call_index),
  );
  return { gap, view: cache.merge(runId, stepIndex, gap, read) };
}

describe('RecordedCallsCache', () => {
  it('stays within its byte budget, dropping the least recently used steps first', () => {
    const cache = new RecordedCallsCache(4_000);
    const rows = [row(0), row(1), row(2)]; // ~1,000 bytes for three calls
    replay(cache, 'a', rows);
    replay(cache, 'b', rows);
    replay(cache, 'c', rows);
    replay(cache, 'a', rows); // a is used again: b is now the oldest
    replay(cache, 'd', rows);
    replay(cache, 'e', rows); // one too many
    expect(cache.size).toBeLessThanOrEqual(4_000);
    expect(cache.gap('b', 0, 3).fromIndex).toBe(0);
    for (const kept of ['a', 'c', 'd', 'e']) {
      expect(cache.gap(kept, 0, 3).fromIndex).toBe(3);
    }
  });

  it('keeps at most a quarter of its budget for one step: its later calls are read on every replay', () => {
    const cache = new RecordedCallsCache(10_000);
    const rows = Array.from({ length: 40 }, (_, i) => row(i));
    const first = replay(cache, 'r', rows);
    const kept = cache.gap('r', 0, rows.length).fromIndex;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(40);
    expect(cache.size).toBeLessThanOrEqual(2_500);
    // Every call is still answered, kept or read.
    const again = replay(cache, 'r', rows);
    for (const { view } of [first, again]) {
      expect(rows.every((r) => view.get(r.call_index) === r)).toBe(true);
    }
    expect(again.gap.fromIndex).toBe(kept);
  });

  it('answers a replay from what it was given even if its step was dropped or grew meanwhile', () => {
    const cache = new RecordedCallsCache(100_000);
    const rows = [row(0, 'first'), row(1, 'second')];
    replay(cache, 'r', rows.slice(0, 1));
    const gap = cache.gap('r', 0, 2);
    expect(gap.fromIndex).toBe(1);
    cache.forget('r', 0); // another replay of the step, say, ends it here
    replay(cache, 'r', rows); // and one starts over
    const view = cache.merge('r', 0, gap, [rows[1]!]);
    expect(view.get(0)?.result).toBe('"first"');
    expect(view.get(1)?.result).toBe('"second"');
    expect(view.get(2)).toBeUndefined();
  });

  it('holds nothing for a step once it is forgotten', () => {
    const cache = new RecordedCallsCache(100_000);
    replay(cache, 'r', [row(0), row(1)]);
    expect(cache.size).toBeGreaterThan(0);
    cache.forget('r', 0);
    expect(cache.size).toBe(0);
    expect(cache.gap('r', 0, 2)).toMatchObject({ fromIndex: 0, holes: [] });
  });
});
