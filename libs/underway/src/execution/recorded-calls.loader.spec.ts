import type { RecordedCallRow, RecordedCallsKey } from '../engine/sql/read.sql';
import { RecordedCallsCache } from './recorded-calls.cache';
import { RecordedCallsLoader } from './recorded-calls.loader';

const row = (
  callIndex: number,
  over: Partial<RecordedCallRow> = {},
): RecordedCallRow => ({
  call_index: callIndex,
  kind: 'call',
  name: 'noop',
  args: `[${callIndex}]`,
  state: 'succeeded',
  result: `${callIndex * 10}`,
  error: null,
  ...over,
});

/** What each read asked for: `run/step from N holes [..]`. */
type Asked = string[];

/**
 * A loader over a fake table `table` (run id → step index → rows), recording
 * the keys of each read.
 */
function loaderOver(table: Record<string, RecordedCallRow[][]>) {
  const reads: Asked[] = [];
  const loader = new RecordedCallsLoader(
    (keys: readonly RecordedCallsKey[]) => {
      reads.push(
        keys.map(
          (k) =>
            `${k.runId}/${k.stepIndex} from ${k.fromIndex} holes [${k.holes.join(',')}]`,
        ),
      );
      return Promise.resolve(
        keys.map((k) =>
          (table[k.runId]?.[k.stepIndex] ?? []).filter(
            (r) =>
              r.call_index >= k.fromIndex || k.holes.includes(r.call_index),
          ),
        ),
      );
    },
    new RecordedCallsCache(1024 * 1024),
  );
  return { loader, reads };
}

describe('RecordedCallsLoader', () => {
  it('answers every replay that asks in one turn with one read, each with its own rows', async () => {
    const { loader, reads } = loaderOver({
      a: [[], [row(0), row(1)]],
      c: [[], [], [row(0)]],
    });
    const [a, b, c] = await Promise.all([
      loader.load('a', 1, 2),
      loader.load('b', 0, 1),
      loader.load('c', 2, 1),
    ]);
    expect(reads).toEqual([
      ['a/1 from 0 holes []', 'b/0 from 0 holes []', 'c/2 from 0 holes []'],
    ]);
    expect([a?.get(0), a?.get(1), a?.get(2)]).toEqual([
      row(0),
      row(1),
      undefined,
    ]);
    expect(b?.get(0)).toBeUndefined();
    expect(c?.get(0)).toEqual(row(0));
    // A later turn reads again.
    await loader.load('d', 0, 1);
    expect(reads).toHaveLength(2);
  });

  it('reads only the calls recorded since the last replay, and nothing when none were', async () => {
    const step = [row(0), row(1)];
    const { loader, reads } = loaderOver({ r: [step] });
    await loader.load('r', 0, 2);
    step.push(row(2));
    const replay = await loader.load('r', 0, 3);
    expect(reads).toEqual([['r/0 from 0 holes []'], ['r/0 from 2 holes []']]);
    expect([0, 1, 2].map((i) => replay.get(i)?.result)).toEqual([
      '0',
      '10',
      '20',
    ]);
    // A retry of the step, with nothing new recorded: every call is known.
    const retried = await loader.load('r', 0, 3);
    expect(reads).toHaveLength(2);
    expect(retried.get(2)?.result).toBe('20');
  });

  it('reads again the calls that may still change: open, failed (client.retry resets them), not yet read', async () => {
    const step = [
      row(0),
      row(1, { state: 'failed', result: null }),
      row(2, { kind: 'emit', state: 'pending', result: null }),
      row(3, { state: 'running', result: null }),
    ];
    const { loader, reads } = loaderOver({ r: [step] });
    await loader.load('r', 0, 4);
    // client.retry: the failed call ran again and succeeded; call 3 finished.
    step[1] = row(1, { result: '"again"' });
    step[3] = row(3);
    step.push(row(4));
    const replay = await loader.load('r', 0, 5);
    expect(reads[1]).toEqual(['r/0 from 4 holes [1,3]']);
    expect(replay.get(1)).toMatchObject({
      state: 'succeeded',
      result: '"again"',
    });
    expect(replay.get(3)?.state).toBe('succeeded');
    expect(replay.get(2)?.kind).toBe('emit'); // kept: its state is never read
    await loader.load('r', 0, 5);
    expect(reads).toHaveLength(2); // all known now
  });

  it('keeps each step of each run apart, and reads a step again once it was forgotten', async () => {
    const { loader, reads } = loaderOver({
      r: [[row(0, { result: '"r0"' })], [row(0, { result: '"r1"' })]],
      s: [[row(0, { result: '"s0"' })]],
    });
    await Promise.all([
      loader.load('r', 0, 1),
      loader.load('r', 1, 1),
      loader.load('s', 0, 1),
    ]);
    const [r0, r1, s0] = await Promise.all([
      loader.load('r', 0, 1),
      loader.load('r', 1, 1),
      loader.load('s', 0, 1),
    ]);
    expect(reads).toHaveLength(1);
    expect([r0.get(0)?.result, r1.get(0)?.result, s0.get(0)?.result]).toEqual([
      '"r0"',
      '"r1"',
      '"s0"',
    ]);
    loader.forget('r', 0);
    await loader.load('r', 0, 1);
    expect(reads[1]).toEqual(['r/0 from 0 holes []']);
  });

  it('reads everything when the step has recorded fewer calls than are kept (not its record)', async () => {
    const { loader, reads } = loaderOver({ r: [[row(0), row(1)]] });
    await loader.load('r', 0, 2);
    await loader.load('r', 0, 1);
    expect(reads[1]).toEqual(['r/0 from 0 holes []']);
  });

  it('splits a large batch and fails every replay of a read that failed', async () => {
    const sizes: number[] = [];
    const loader = new RecordedCallsLoader((keys) => {
      sizes.push(keys.length);
      return sizes.length === 2
        ? Promise.reject(new Error('connection lost'))
        : Promise.resolve(keys.map(() => []));
    }, new RecordedCallsCache(1024));
    const results = await Promise.allSettled(
      Array.from({ length: 600 }, (_, i) => loader.load(`r${i}`, 0, 1)),
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
