import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import type {
  ActivityDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import { CallOutsideStepError } from '../errors/call-outside-step.error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { StepTimeoutError } from '../errors/step-timeout.error';
import type { RecordedCallRow } from '../engine/sql/read.sql';
import { ActivityContext, runInActivity } from './current-activity';
import { StepJournal } from './step-journal';

const policy = {
  retry: DEFAULT_RETRY_POLICY,
  timeoutMs: 1_000,
  leaseMs: 300,
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

/**
 * A StepJournal over `records`, a promise of its interruption, its abort state
 * (the test aborts it) and the calls it refused.
 */
function calls(records: RecordedCallRow[] | Error = []) {
  let interrupted!: () => void;
  const onInterrupt = new Promise<void>((resolve) => {
    interrupted = resolve;
  });
  const count = records instanceof Error ? 1 : records.length;
  const abort: { aborted: boolean; reason: unknown } = {
    aborted: false,
    reason: undefined,
  };
  const refused: [string, string, unknown][] = [];
  const stepCalls = new StepJournal({
    definition,
    runId: 'run-1',
    step: 'w#only',
    recordedCount: count,
    load: () =>
      records instanceof Error
        ? Promise.reject(records)
        : Promise.resolve({
            get: (i: number) => records.find((r) => r.call_index === i),
          }),
    maxPayloadBytes: 1_000,
    abort,
    onInterrupt: interrupted,
    onRefused: (kind, method, error) => refused.push([kind, method, error]),
  });
  return { stepCalls, onInterrupt, abort, refused };
}

const settledWithin = async (promise: Promise<unknown>, ms = 20) =>
  Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);

describe('StepJournal', () => {
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

  it('remembers arguments it matched, and still compares other arguments with the record', async () => {
    const recorded = row({ call_index: 0, args: '[{"b": 2, "a": 1}]' });
    const first = calls([recorded]).stepCalls;
    await expect(first.call('lookup', [{ a: 1, b: 2 }])).resolves.toBe('a@b.c');
    expect(recorded).toMatchObject({ matchedArgs: '[{"a":1,"b":2}]' });
    // The next replay of the same record (a cached one) with other arguments.
    const { stepCalls, onInterrupt } = calls([recorded]);
    void stepCalls.call('lookup', [{ a: 1, b: 3 }]);
    await onInterrupt;
    expect(stepCalls.close()).toMatchObject({
      kind: 'fail',
      error: { code: 'non_deterministic_replay' },
    });
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

  it.each(['call', 'emit'] as const)(
    'refuses a %s made once the attempt ended, with CallOutsideStepError, recording nothing',
    async (kind) => {
      const { stepCalls, refused } = calls();
      expect(stepCalls.close()).toBeUndefined();
      const late = stepCalls[kind]('lookup', [1]);
      const settled = await settledWithin(late);
      expect(settled).toMatchObject({
        error: expect.any(CallOutsideStepError),
      });
      const { error } = settled as { error: CallOutsideStepError };
      expect(error).toMatchObject({ kind, method: 'lookup', runId: 'run-1' });
      expect(error.message).toBe(
        `ctx.${kind}('lookup') was made after step w#only of run run-1 ended, so it was not recorded: ` +
          "a step's ctx.call, ctx.emit, ctx.waitFor and ctx.sleep work only while the step runs. " +
          'Await every one before the step returns (no timer or un-awaited promise that makes them later).',
      );
      expect(refused).toEqual([[kind, 'lookup', error]]);
      expect(stepCalls.newCalls).toEqual([]);
    },
  );

  it('refuses a call made once the attempt was aborted with the abort reason, before and after it ended', async () => {
    const { stepCalls, abort, refused } = calls();
    const reason = new StepTimeoutError(200);
    Object.assign(abort, { aborted: true, reason });
    expect(await settledWithin(stepCalls.emit('track', []))).toEqual({
      error: reason,
    });
    stepCalls.close();
    expect(await settledWithin(stepCalls.call('lookup', [1]))).toEqual({
      error: reason,
    });
    expect(refused.map(([kind]) => kind)).toEqual(['emit', 'call']);
    expect(stepCalls.newCalls).toEqual([]);
  });

  it('refuses a call whose record was still being read when the attempt ended', async () => {
    const { stepCalls, refused } = calls([row({ call_index: 0 })]);
    const call = stepCalls.call('lookup', [1]); // not awaited by the step
    stepCalls.close();
    expect(await settledWithin(call)).toMatchObject({
      error: expect.any(CallOutsideStepError),
    });
    expect(refused).toHaveLength(1);
  });

  it('refuses a call made from inside an activity, whatever the state of its step', async () => {
    const { stepCalls, refused, onInterrupt } = calls();
    const activity = {
      runId: 'run-2',
      activityName: 'lookup-email',
    } as ActivityContext;
    const inside = await runInActivity(activity, () =>
      settledWithin(stepCalls.call('lookup', [1])),
    );
    expect(inside).toMatchObject({ error: expect.any(CallOutsideStepError) });
    expect((inside as { error: Error }).error.message).toContain(
      `ctx.call('lookup') of step w#only (run run-1) was made from inside activity "lookup-email" (run run-2)`,
    );
    // Suspended (the step's code is parked): still refused from an activity.
    void stepCalls.call('lookup', [2]);
    await onInterrupt;
    const parked = await runInActivity(activity, () =>
      settledWithin(stepCalls.emit('track', [])),
    );
    expect(parked).toMatchObject({ error: expect.any(CallOutsideStepError) });
    expect(refused).toHaveLength(2);
    expect(stepCalls.newCalls.map((c) => c.args)).toEqual(['[2]']);
  });

  it('leaves the calls of a step its calls interrupted pending after it ended (its code is parked)', async () => {
    const { stepCalls, onInterrupt, abort, refused } = calls();
    void stepCalls.call('lookup', [1]);
    await onInterrupt;
    Object.assign(abort, {
      aborted: true,
      reason: new StepAbortedError('suspended'),
    });
    expect(stepCalls.close()).toEqual({ kind: 'suspend' });
    const late = stepCalls.call('lookup', [2]);
    expect(await settledWithin(late)).toBe('pending');
    expect(refused).toEqual([]);
    expect(stepCalls.newCalls).toHaveLength(1);
  });
});
