import { InvalidOptionsError } from '../errors/invalid-options.error';
import { describeNumberValue, describeValue } from '../errors/describe-value';
import { MAX_STORED_DURATION_MS } from './limits';

/** A duration unit suffix accepted in {@link Duration} strings. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

/**
 * A length of time: milliseconds as a number, or a string such as
 * `'500ms'`, `'30s'`, `'15m'`, `'1h'` or `'14d'`.
 *
 * @publicApi
 */
export type Duration = number | `${number}${DurationUnit}`;

const UNIT_MS: Record<DurationUnit, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** Bounds of a duration option, in milliseconds (both inclusive). */
export interface DurationBounds {
  readonly min?: number;
  readonly max?: number;
}

/**
 * Parses a {@link Duration} into whole milliseconds, within `bounds` (by
 * default from 0 to {@link MAX_STORED_DURATION_MS}, 100 years: any such
 * duration can be added to a timestamp and stored).
 *
 * @param path where the value came from, for the error message (`'runtime.pollInterval'`).
 * @throws InvalidOptionsError for negative, non-finite, malformed or out-of-bounds values.
 */
export function parseDuration(
  value: unknown,
  path: string,
  bounds: DurationBounds = {},
): number {
  const ms = parseAnyDuration(value, path);
  const min = bounds.min ?? 0;
  const max = bounds.max ?? MAX_STORED_DURATION_MS;
  if (ms < min || ms > max) {
    throw new InvalidOptionsError(
      path,
      `must be between ${formatBound(min)} and ${formatBound(max)}, got ${ms}ms`,
    );
  }
  return ms;
}

function formatBound(ms: number): string {
  return ms === MAX_STORED_DURATION_MS ? `${ms}ms (100 years)` : `${ms}ms`;
}

function parseAnyDuration(value: unknown, path: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidOptionsError(
        path,
        `must be a non-negative number of milliseconds, got ${describeValue(value)}`,
      );
    }
    return Math.round(value);
  }
  if (typeof value === 'string') {
    const match = DURATION_PATTERN.exec(value);
    if (match) {
      const amount = Number(match[1]);
      const unit = match[2] as DurationUnit;
      const ms = Math.round(amount * UNIT_MS[unit]);
      if (Number.isFinite(ms)) {
        return ms;
      }
    }
  }
  throw new InvalidOptionsError(
    path,
    `must be a duration such as 500, '500ms', '30s', '15m', '1h' or '14d', got ${describeNumberValue(value, 'ms')}`,
  );
}

/** Renders milliseconds for log lines: `850ms`, `1.9s`, `2m30s`. */
export function formatDuration(ms: number): string {
  const rounded = Math.round(ms);
  if (rounded < 1_000) {
    return `${rounded}ms`;
  }
  const tenths = Math.round(ms / 100);
  if (tenths < 600) {
    return `${(tenths / 10).toFixed(1).replace(/\.0$/, '')}s`;
  }
  const totalSeconds = Math.round(ms / 1_000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
}
