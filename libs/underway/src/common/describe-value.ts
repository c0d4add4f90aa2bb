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
