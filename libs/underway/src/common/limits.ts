/**
 * The limits of every number and string that reaches the database, in one
 * place, so that whatever passes validation (at boot or at the call site)
 * can also be stored and run. README "Limits" lists them.
 */

/** PostgreSQL `integer`: priorities, attempts, limits. */
export const INT32_MIN = -2_147_483_648;
export const INT32_MAX = 2_147_483_647;

/**
 * The longest duration that is added to a timestamp or stored: a delay, a
 * retry interval, a ttl. 100 years (of 365.25 days), far inside what
 * PostgreSQL's `interval` and `timestamptz` hold.
 */
export const MAX_STORED_DURATION_MS = 100 * 365.25 * 86_400_000;

/** The earliest and latest `runAt`: 1970-01-01 to 9999-12-31, UTC. */
export const MIN_RUN_AT_MS = Date.UTC(1970, 0, 1);
export const MAX_RUN_AT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** `retry.maxAttempts`: attempts are counted in an `integer`, and far fewer make sense. */
export const MAX_ATTEMPTS = 1_000_000;

/** Keys (idempotency, concurrency), workflow and queue names: characters. */
export const MAX_NAME_LENGTH = 255;

const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- \u0000 is exactly what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What is wrong with a name or key that PostgreSQL is to store and compare
 * (`undefined` when nothing is): not a string, empty, longer than
 * `maxLength`, or holding `\u0000` (which PostgreSQL refuses) or a lone
 * surrogate (which it would store as U+FFFD, so that two different keys
 * became one).
 */
export function nameProblem(
  value: unknown,
  maxLength = MAX_NAME_LENGTH,
): string | undefined {
  if (typeof value !== 'string') {
    return `must be a string, got ${value === null ? 'null' : typeof value}`;
  }
  if (value.length === 0) {
    return 'must not be empty';
  }
  if (value.length > maxLength) {
    return `must be at most ${maxLength} characters long, got ${value.length}`;
  }
  if (UNSTORABLE.test(value)) {
    return 'must not contain \\u0000 or a lone surrogate (PostgreSQL cannot store them as they are)';
  }
  return undefined;
}

/** Whether `value` is an integer PostgreSQL's `integer` holds. */
export function isInt32(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= INT32_MIN &&
    value <= INT32_MAX
  );
}

/**
 * How deeply arrays and objects may nest in an input or output: far more than
 * data needs, far less than would exhaust a stack (the serializer's, that of
 * `JSON.parse` when the run is read, PostgreSQL's `jsonb` parser's).
 */
export const MAX_PAYLOAD_DEPTH = 256;

/** Dead-letter entries one `getDeadLetters()` or `redrive()` call reads (`limit`). */
export const MAX_DEAD_LETTER_LIMIT = 10_000;
