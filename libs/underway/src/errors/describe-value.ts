import { storableText } from './storable-text';

const MAX_LENGTH = 200;

/** A short, safe rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(storableText(value, MAX_LENGTH - 2));
  }
  if (
    value === null ||
    value === undefined ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint' ||
    typeof value === 'symbol'
  ) {
    return String(value);
  }
  if (typeof value === 'function') {
    return `a function${value.name ? ` (${value.name})` : ''}`;
  }
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) {
      return storableText(json, MAX_LENGTH);
    }
  } catch {
    // circular, or holds a BigInt
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return 'an object that cannot be read';
  }
}

/**
 * `describeValue` for an option that takes a number. A string that reads as
 * a number (`"10"`: `process.env` and `ConfigService` hand out strings) is
 * named as a string, with the fix: `got "10"` would read like a number.
 * `unit` adds the other fix of a duration (`'10ms'`).
 */
export function describeNumberValue(value: unknown, unit?: string): string {
  if (
    typeof value === 'string' &&
    value.trim() !== '' &&
    Number.isFinite(Number(value))
  ) {
    const fix = unit ? ` or write its unit, '${value.trim()}${unit}'` : '';
    return (
      `the string ${describeValue(value)} (values from process.env or ConfigService ` +
      `are strings: convert it, Number(config.get('…'))${fix})`
    );
  }
  return describeValue(value);
}

/**
 * What kind of value `value` is (`an object (Order)`, `a string`, `null`),
 * never the value itself: for messages about a step's return value, which is
 * user data that must not reach the logs (RELIABILITY: no inputs, outputs or
 * results in log lines), unlike {@link describeValue}.
 */
export function describeType(value: unknown): string {
  if (value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'object') {
    return `an object (${value.constructor?.name ?? 'Object'})`;
  }
  return `a ${typeof value}`;
}
