import { thrownBy } from '../testing/thrown-by';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import {
  DEFAULT_RETRY_POLICY,
  mergeRetryPolicy,
  ResolvedRetryPolicy,
  RetryPolicy,
} from './retry-policy';

describe('DEFAULT_RETRY_POLICY', () => {
  it('holds the SPEC defaults: 5 attempts, 1s, 60s, coefficient 2.0, jitter 0.5', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxAttempts: 5,
      initialIntervalMs: 1_000,
      maxIntervalMs: 60_000,
      backoffCoefficient: 2,
      jitterFactor: 0.5,
    });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });
});

describe('mergeRetryPolicy', () => {
  it('returns the base itself when there is no override', () => {
    expect(mergeRetryPolicy(DEFAULT_RETRY_POLICY, undefined, 'p')).toBe(
      DEFAULT_RETRY_POLICY,
    );
  });

  it('keeps every base field for an empty override', () => {
    expect(mergeRetryPolicy(DEFAULT_RETRY_POLICY, {}, 'p')).toEqual(
      DEFAULT_RETRY_POLICY,
    );
  });

  it.each<[RetryPolicy, Partial<ResolvedRetryPolicy>]>([
    [{ maxAttempts: 3 }, { maxAttempts: 3 }],
    [{ initialInterval: '2s' }, { initialIntervalMs: 2_000 }],
    [{ initialInterval: 250 }, { initialIntervalMs: 250 }],
    [{ maxInterval: '5m' }, { maxIntervalMs: 300_000 }],
    [{ backoffCoefficient: 3 }, { backoffCoefficient: 3 }],
    [{ jitterFactor: 0 }, { jitterFactor: 0 }],
  ])('overrides only the field set in %p', (override, changed) => {
    expect(mergeRetryPolicy(DEFAULT_RETRY_POLICY, override, 'p')).toEqual({
      ...DEFAULT_RETRY_POLICY,
      ...changed,
    });
  });

  it('merges over a base that is itself a merged layer, field by field', () => {
    const workflow = mergeRetryPolicy(
      DEFAULT_RETRY_POLICY,
      { maxAttempts: 3, initialInterval: '10ms' },
      'Wf.retry',
    );
    expect(
      mergeRetryPolicy(workflow, { jitterFactor: 0 }, 'Wf.step.retry'),
    ).toEqual({
      maxAttempts: 3,
      initialIntervalMs: 10,
      maxIntervalMs: 60_000,
      backoffCoefficient: 2,
      jitterFactor: 0,
    });
  });

  it('returns a frozen policy', () => {
    expect(
      Object.isFrozen(
        mergeRetryPolicy(DEFAULT_RETRY_POLICY, { maxAttempts: 2 }, 'p'),
      ),
    ).toBe(true);
  });

  it('accepts the boundary values: 1 attempt, coefficient 1, jitter 0 and 1, maxInterval equal to initialInterval', () => {
    expect(
      mergeRetryPolicy(
        DEFAULT_RETRY_POLICY,
        {
          maxAttempts: 1,
          backoffCoefficient: 1,
          jitterFactor: 1,
          initialInterval: '5s',
          maxInterval: 5_000,
        },
        'p',
      ),
    ).toEqual({
      maxAttempts: 1,
      initialIntervalMs: 5_000,
      maxIntervalMs: 5_000,
      backoffCoefficient: 1,
      jitterFactor: 1,
    });
  });

  it.each<[string, string, RetryPolicy]>([
    ['maxAttempts 0', 'Wf.retry.maxAttempts', { maxAttempts: 0 }],
    ['maxAttempts -1', 'Wf.retry.maxAttempts', { maxAttempts: -1 }],
    ['maxAttempts 1.5', 'Wf.retry.maxAttempts', { maxAttempts: 1.5 }],
    ['maxAttempts NaN', 'Wf.retry.maxAttempts', { maxAttempts: NaN }],
    ['maxAttempts Infinity', 'Wf.retry.maxAttempts', { maxAttempts: Infinity }],
    [
      'maxAttempts "3"',
      'Wf.retry.maxAttempts',
      { maxAttempts: '3' as unknown as number },
    ],
    [
      'backoffCoefficient 0.5',
      'Wf.retry.backoffCoefficient',
      { backoffCoefficient: 0.5 },
    ],
    [
      'backoffCoefficient NaN',
      'Wf.retry.backoffCoefficient',
      { backoffCoefficient: NaN },
    ],
    [
      'backoffCoefficient Infinity',
      'Wf.retry.backoffCoefficient',
      { backoffCoefficient: Infinity },
    ],
    [
      'backoffCoefficient "2"',
      'Wf.retry.backoffCoefficient',
      { backoffCoefficient: '2' as unknown as number },
    ],
    ['jitterFactor -0.1', 'Wf.retry.jitterFactor', { jitterFactor: -0.1 }],
    ['jitterFactor 1.1', 'Wf.retry.jitterFactor', { jitterFactor: 1.1 }],
    ['jitterFactor NaN', 'Wf.retry.jitterFactor', { jitterFactor: NaN }],
    [
      'initialInterval "soon"',
      'Wf.retry.initialInterval',
      { initialInterval: 'soon' as unknown as number },
    ],
    ['initialInterval -1', 'Wf.retry.initialInterval', { initialInterval: -1 }],
    [
      'maxInterval "1 minute"',
      'Wf.retry.maxInterval',
      { maxInterval: '1 minute' as unknown as number },
    ],
    [
      'maxInterval shorter than initialInterval',
      'Wf.retry.maxInterval',
      { initialInterval: '10s', maxInterval: '5s' },
    ],
  ])(
    'rejects %s with InvalidOptionsError whose path is %p',
    (_label, path, override) => {
      const err = thrownBy(() =>
        mergeRetryPolicy(DEFAULT_RETRY_POLICY, override, 'Wf.retry'),
      );
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect((err as InvalidOptionsError).path).toBe(path);
    },
  );

  it('puts the option path and the bad value in the message', () => {
    expect(() =>
      mergeRetryPolicy(
        DEFAULT_RETRY_POLICY,
        { maxAttempts: 0 },
        'SignupWorkflow.retry',
      ),
    ).toThrow(
      'Invalid option SignupWorkflow.retry.maxAttempts: must be an integer from 1 to 1000000, got 0.',
    );
  });

  it('states both intervals when maxInterval is shorter than initialInterval', () => {
    expect(() =>
      mergeRetryPolicy(
        DEFAULT_RETRY_POLICY,
        { initialInterval: '10s', maxInterval: '5s' },
        'p',
      ),
    ).toThrow(
      'Invalid option p.maxInterval: must not be shorter than initialInterval (10000ms), got 5000ms.',
    );
  });

  it.each([[5], ['fast'], [null], [true]])(
    'rejects the non-object override %p, naming the policy path',
    (override) => {
      expect(() =>
        mergeRetryPolicy(
          DEFAULT_RETRY_POLICY,
          override as unknown as RetryPolicy,
          'Wf.retry',
        ),
      ).toThrow('Invalid option Wf.retry: must be an object.');
    },
  );

  // Regression (fixed): unknown keys are ignored, so a typo such as `maxAttempt: 1` silently
  // keeps 5 attempts, while unknown module, runtime, @Workflow and @Step
  // options are all rejected.
  it('rejects an unknown key such as a misspelled maxAttempts, naming it', () => {
    const err = thrownBy(() =>
      mergeRetryPolicy(
        DEFAULT_RETRY_POLICY,
        { maxAttempt: 1 } as unknown as RetryPolicy,
        'Wf.retry',
      ),
    );
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect((err as InvalidOptionsError).path).toBe('Wf.retry.maxAttempt');
  });
});
