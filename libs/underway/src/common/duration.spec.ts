import { thrownBy } from '../testing/thrown-by';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { formatDuration, parseDuration } from './duration';

/** The error `fn` throws, so that several properties can be checked. */

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1, 1],
    [1_500, 1_500],
    [86_400_000, 86_400_000],
  ])('takes the number %p as %p milliseconds', (value, expected) => {
    expect(parseDuration(value, 'p')).toBe(expected);
  });

  it('rounds a fractional number of milliseconds to whole milliseconds', () => {
    expect(parseDuration(1.6, 'p')).toBe(2);
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['14d', 1_209_600_000],
    ['0s', 0],
  ])('parses %p as %p milliseconds', (value, expected) => {
    expect(parseDuration(value, 'p')).toBe(expected);
  });

  it.each([
    ['1.5s', 1_500],
    ['0.5m', 30_000],
    ['0.25h', 900_000],
    ['2.5ms', 3],
  ])('parses the decimal %p as %p whole milliseconds', (value, expected) => {
    expect(parseDuration(value, 'p')).toBe(expected);
  });

  it.each([
    [' 30s', 30_000],
    ['30s ', 30_000],
    ['30 s', 30_000],
    ['\t1h\n', 3_600_000],
  ])(
    'ignores whitespace around the amount and unit in %p',
    (value, expected) => {
      expect(parseDuration(value, 'p')).toBe(expected);
    },
  );

  it.each([-1, -0.5, NaN, Infinity, -Infinity])(
    'rejects the number %p with InvalidOptionsError',
    (value) => {
      expect(() => parseDuration(value, 'p')).toThrow(InvalidOptionsError);
    },
  );

  it.each([
    '-5s',
    '5',
    '',
    '   ',
    's',
    'ms',
    '5 seconds',
    '5S',
    '5sec',
    '5w',
    '1e3ms',
    '.5s',
    '5.s',
    '5s5m',
    'Infinitys',
    'NaNms',
    'soon',
  ])('rejects the string %p with InvalidOptionsError', (value) => {
    expect(() => parseDuration(value, 'p')).toThrow(InvalidOptionsError);
  });

  it.each([[null], [undefined], [true], [{}], [['30s']], [10n]])(
    'rejects the non-duration value %p with InvalidOptionsError',
    (value) => {
      expect(() => parseDuration(value, 'p')).toThrow(InvalidOptionsError);
    },
  );

  it('names the option path on the error', () => {
    const err = thrownBy(() => parseDuration('soon', 'runtime.pollInterval'));
    expect(err).toMatchObject({
      path: 'runtime.pollInterval',
      code: 'invalid_options',
    });
  });

  it('names the option path and the bad value in the message', () => {
    expect(() => parseDuration('soon', 'runtime.pollInterval')).toThrow(
      /^Invalid option runtime\.pollInterval: must be a duration .*got "soon"\.$/,
    );
  });

  it('explains that a negative number of milliseconds is not allowed', () => {
    expect(() => parseDuration(-1, 'defaults.ttl')).toThrow(
      'Invalid option defaults.ttl: must be a non-negative number of milliseconds, got -1.',
    );
  });

  // Regression (fixed): an amount with more than 308 digits matches the pattern, `Number()`
  // turns it into Infinity, and Infinity is returned instead of rejected.
  it('rejects a string whose amount overflows to Infinity', () => {
    expect(() => parseDuration(`${'9'.repeat(400)}ms`, 'p')).toThrow(
      InvalidOptionsError,
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_900, '1.9s'],
    [1_940, '1.9s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [150_000, '2m30s'],
    [3_600_000, '60m'],
  ])('renders %p ms as %p', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });

  // Regression (fixed): the seconds are rounded after the minutes are floored, so 119.5 s
  // and more print as "1m60s" instead of "2m".
  it('never prints 60 seconds inside a minute', () => {
    expect(formatDuration(119_999)).toBe('2m');
  });
});
