import type { RecordedCallRow, RecordedCallsKey } from '../engine/sql/read.sql';
import { RecordedCallsLoader } from './recorded-calls.loader';

const row = (callIndex: number): RecordedCallRow => ({
  call_index: callIndex,
  kind: 'call',
  name: 'noop',
  args: '[]',
  state: 'succeeded',
  result: null,
  error: null,
});

describe('RecordedCallsLoader', () => {
  it('answers every replay that asks in one turn with one read, each with its own rows', async () => {
    const reads: RecordedCallsKey[][] = [];
    const loader = new RecordedCallsLoader((keys) => {
      reads.push(keys.map(({ runId, stepIndex }) => ({ runId, stepIndex })));
      return Promise.resolve(
        keys.map((k) => (k.runId === 'b' ? [] : [row(0), row(k.stepIndex)])),
      );
    });
    const answers = await Promise.all([
      loader.load('a', 1),
      loader.load('b', 0),
      loader.load('c', 2),
    ]);
    expect(reads).toEqual([
      [
        { runId: 'a', stepIndex: 1 },
        { runId: 'b', stepIndex: 0 },
        { runId: 'c', stepIndex: 2 },
      ],
    ]);
    expect(answers).toEqual([[row(0), row(1)], [], [row(0), row(2)]]);
    // A later turn reads again.
    await loader.load('d', 0);
    expect(reads).toHaveLength(2);
  });

  it('splits a large batch and fails every replay of a read that failed', async () => {
    const sizes: number[] = [];
    const loader = new RecordedCallsLoader((keys) => {
      sizes.push(keys.length);
      return sizes.length === 2
        ? Promise.reject(new Error('connection lost'))
        : Promise.resolve(keys.map(() => []));
    });
    const results = await Promise.allSettled(
      Array.from({ length: 600 }, (_, i) => loader.load(`r${i}`, 0)),
    );
    expect(sizes).toEqual([500, 100]);
    expect(results.slice(0, 500).every((r) => r.status === 'fulfilled')).toBe(
      true,
    );
    expect(
      results
        .slice(500)
        .every(
          (r) =>
            r.status === 'rejected' &&
            (r.reason as Error).message === 'connection lost',
        ),
    ).toBe(true);
  });
});
