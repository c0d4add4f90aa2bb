import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { RecordedCallRow } from '../engine/sql/read.sql';
import { StepCalls } from './step-calls';

const policy = {
  retry: DEFAULT_RETRY_POLICY,
  timeoutMs: 1_000,
  heartbeatMs: 300,
};
const activity = (method: string, name = method): ActivityDefinition => ({
  method,
  name,
  policy,
  transactional: false,
});
const definition = {
  name: 'w',
  className: 'W',
  instance: {},
  steps: [],
  activities: new Map([
    ['lookup', activity('lookup', 'lookup-email')],
    ['track', activity('track')],
  ]),
  priority: 0,
  ttlMs: 1,
  deadLetter: undefined,
  schedules: [],
} as unknown as WorkflowDefinition;

function row(
  over: Partial<RecordedCallRow> & { call_index: number },
): RecordedCallRow {
  return {
    kind: 'call',
    name: 'lookup-email',
    args: '[1]',
    state: 'succeeded',
    result: '"a@b.c"',
    error: null,
    ...over,
  };
}

/** A StepCalls over `records`, and a promise of its interruption. */
function calls(records: RecordedCallRow[] | Error = []) {
  let interrupted!: () => void;
  const onInterrupt = new Promise<void>((resolve) => {
    interrupted = resolve;
  });
  const count = records instanceof Error ? 1 : records.length;
  const stepCalls = new StepCalls(
    definition,
    count,
    () =>
      records instanceof Error
        ? Promise.reject(records)
        : Promise.resolve(records),
    1_000,
    interrupted,
  );
  return { stepCalls, onInterrupt };
}

const settledWithin = async (promise: Promise<unknown>, ms = 20) =>
  Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);

describe('StepCalls', () => {
  it('records every call made in the same turn and suspends once', async () => {
    const { stepCalls, onInterrupt } = calls();
    const a = stepCalls.call('lookup', [1]);
    void stepCalls.emit('track', ['x']);
    const b = stepCalls.call('lookup', [2]);
    await onInterrupt;
    expect(stepCalls.close()).toEqual({ kind: 'suspend' });
    expect(
      stepCalls.newCalls.map((c) => [c.callIndex, c.kind, c.name, c.args]),
    ).toEqual([
      [0, 'call', 'lookup-email', '[1]'],
      [1, 'emit', 'track', '["x"]'],
      [2, 'call', 'lookup-email', '[2]'],
    ]);
    expect(await settledWithin(a)).toBe('pending');
    expect(await settledWithin(b)).toBe('pending');
  });

  it('answers recorded calls from the record and emits nothing again on replay', async () => {
    const { stepCalls } = calls([
      row({ call_index: 0 }),
      row({
        call_index: 1,
        kind: 'emit',
        name: 'track',
        args: '["x"]',
        result: null,
      }),
    ]);
    await expect(stepCalls.call('lookup', [1])).resolves.toBe('a@b.c');
    await expect(stepCalls.emit('track', ['x'])).resolves.toBeUndefined();
    expect(stepCalls.close()).toBeUndefined();
    expect(stepCalls.newCalls).toEqual([]);
  });

  it('compares recorded arguments as JSON values, whatever the key order', async () => {
    const { stepCalls } = calls([
      row({ call_index: 0, args: '[{"b": 2, "a": 1}]' }),
    ]);
    await expect(stepCalls.call('lookup', [{ a: 1, b: 2 }])).resolves.toBe(
      'a@b.c',
    );
  });

  it('throws ActivityFailedError for a recorded failure', async () => {
    const { stepCalls } = calls([
      row({
        call_index: 0,
        state: 'failed',
        result: null,
        error: { code: 'missing_user', message: 'none' },
      }),
    ]);
    await expect(stepCalls.call('lookup', [1])).rejects.toMatchObject({
      name: 'ActivityFailedError',
      activityName: 'lookup-email',
      errorCode: 'missing_user',
      errorMessage: 'none',
    });
  });

  it.each([
    [
      'another activity',
      () => ['track', ['x']] as const,
      /recorded as ctx\.call\('lookup-email'\), but the replay made ctx\.call\('track'\)\. /,
    ],
    ['other arguments', () => ['lookup', [2]] as const, /with other arguments/],
  ])(
    'fails the attempt for good on a replay with %s',
    async (_, made, message) => {
      const { stepCalls, onInterrupt } = calls([row({ call_index: 0 })]);
      const [method, args] = made();
      const call = stepCalls.call(method, [...args]);
      await onInterrupt;
      const interruption = stepCalls.close();
      expect(interruption).toMatchObject({
        kind: 'fail',
        error: { code: 'non_deterministic_replay', retryable: false },
      });
      expect(
        interruption?.kind === 'fail' && interruption.error.message,
      ).toMatch(message);
      expect(await settledWithin(call)).toBe('pending');
    },
  );

  it('fails for good on a method that is not an activity, naming class, method and activities', async () => {
    const { stepCalls, onInterrupt } = calls();
    void stepCalls.call('lookup', [1]); // a suspension first: the failure outranks it
    void stepCalls.call('nope', []);
    await onInterrupt;
    const interruption = stepCalls.close();
    expect(interruption).toMatchObject({
      kind: 'fail',
      error: { code: 'invalid_activity_call' },
    });
    expect(interruption?.kind === 'fail' && interruption.error.message).toBe(
      'W.nope is not an @Activity() method of W, so ctx.call/ctx.emit cannot run it (its activities: lookup, track).',
    );
  });

  it('fails for good on arguments that are not JSON, naming the path', async () => {
    const { stepCalls, onInterrupt } = calls();
    void stepCalls.call('lookup', [{ id: 1n }]);
    await onInterrupt;
    expect(stepCalls.close()).toMatchObject({
      kind: 'fail',
      error: {
        code: 'invalid_input',
        message: expect.stringContaining("ctx.call('lookup')[0].id"),
      },
    });
  });

  it('fails the attempt, retryably, when the record cannot be read', async () => {
    const { stepCalls, onInterrupt } = calls(new Error('connection reset'));
    void stepCalls.call('lookup', [1]);
    await onInterrupt;
    expect(stepCalls.close()).toMatchObject({
      kind: 'error',
      error: { message: 'connection reset', retryable: true },
    });
  });

  it('takes no call once closed', async () => {
    const { stepCalls } = calls();
    stepCalls.close();
    const late = stepCalls.call('lookup', [1]);
    expect(await settledWithin(late)).toBe('pending');
    expect(stepCalls.newCalls).toEqual([]);
  });
});
