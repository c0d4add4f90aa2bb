import { nextRetryDelayMs } from './backoff';
import { DEFAULT_RETRY_POLICY, ResolvedRetryPolicy } from './retry-policy';

/** Close enough to the top of `Math.random()`'s range [0, 1). */
const lowest = (): number => 0;
const highest = (): number => 0.999_999;
const middle = (): number => 0.5;

function policy(overrides: Partial<ResolvedRetryPolicy>): ResolvedRetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...overrides };
}

describe('nextRetryDelayMs', () => {
  describe('with the default policy (1s, ×2, max 60s, jitter 0.5)', () => {
    it.each([
      [1, 500, 999],
      [2, 1_000, 1_999],
      [3, 2_000, 3_999],
      [4, 4_000, 7_999],
      [5, 8_000, 15_999],
      [6, 16_000, 31_999],
    ])(
      'after failed attempt %p, waits between %p ms and %p ms',
      (attempt, min, max) => {
        expect([
          nextRetryDelayMs(DEFAULT_RETRY_POLICY, attempt, lowest),
          nextRetryDelayMs(DEFAULT_RETRY_POLICY, attempt, highest),
        ]).toEqual([min, max]);
      },
    );

    it.each([7, 8, 20, 100, 5_000])(
      'caps the delay at maxInterval (30000–59999 ms) after failed attempt %p',
      (attempt) => {
        expect([
          nextRetryDelayMs(DEFAULT_RETRY_POLICY, attempt, lowest),
          nextRetryDelayMs(DEFAULT_RETRY_POLICY, attempt, highest),
        ]).toEqual([30_000, 59_999]);
      },
    );

    it('draws the jittered share uniformly: random 0.5 lands in the middle of the range', () => {
      expect(nextRetryDelayMs(DEFAULT_RETRY_POLICY, 1, middle)).toBe(750);
    });

    it('uses Math.random when no random source is given', () => {
      const spy = jest.spyOn(Math, 'random').mockReturnValue(0.25);
      try {
        expect(nextRetryDelayMs(DEFAULT_RETRY_POLICY, 2)).toBe(1_250);
      } finally {
        spy.mockRestore();
      }
    });
  });

  it('treats attempt 0 and negative attempts like the first failed attempt', () => {
    expect([
      nextRetryDelayMs(DEFAULT_RETRY_POLICY, 0, lowest),
      nextRetryDelayMs(DEFAULT_RETRY_POLICY, -3, lowest),
    ]).toEqual([500, 500]);
  });

  it('is deterministic with jitter 0, whatever the random source returns', () => {
    const noJitter = policy({ jitterFactor: 0 });
    expect(
      [lowest, middle, highest].map((random) =>
        nextRetryDelayMs(noJitter, 3, random),
      ),
    ).toEqual([4_000, 4_000, 4_000]);
  });

  it('spreads the whole delay with jitter 1: from 0 up to the target', () => {
    const fullJitter = policy({ jitterFactor: 1 });
    expect([
      nextRetryDelayMs(fullJitter, 1, lowest),
      nextRetryDelayMs(fullJitter, 1, highest),
    ]).toEqual([0, 999]);
  });

  it('keeps a constant delay with coefficient 1', () => {
    const constant = policy({ backoffCoefficient: 1, jitterFactor: 0 });
    expect(
      [1, 2, 10].map((n) => nextRetryDelayMs(constant, n, lowest)),
    ).toEqual([1_000, 1_000, 1_000]);
  });

  it('follows a custom coefficient and cap', () => {
    const custom = policy({
      initialIntervalMs: 10,
      maxIntervalMs: 250,
      backoffCoefficient: 3,
      jitterFactor: 0,
    });
    expect(
      [1, 2, 3, 4, 5].map((n) => nextRetryDelayMs(custom, n, lowest)),
    ).toEqual([10, 30, 90, 250, 250]);
  });

  it('returns whole milliseconds', () => {
    const odd = policy({ initialIntervalMs: 333, jitterFactor: 0.37 });
    expect(Number.isInteger(nextRetryDelayMs(odd, 2, () => 0.123456))).toBe(
      true,
    );
  });

  // Regression (fixed): with initialInterval 0 (a valid policy), 0 × coefficient^n becomes
  // 0 × Infinity = NaN once the power overflows (attempt 1025 with ×2), and NaN
  // is returned. NaN reaches the SQL batch as JSON null, so run_at becomes NULL.
  it('returns 0, not NaN, for a zero initialInterval after many attempts', () => {
    const immediate = policy({ initialIntervalMs: 0, maxIntervalMs: 0 });
    expect(nextRetryDelayMs(immediate, 1_100, middle)).toBe(0);
  });
});
