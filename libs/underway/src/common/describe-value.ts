/** A short, safe rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value);
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
      return json.length > 200 ? `${json.slice(0, 200)}…` : json;
    }
  } catch {
    // circular, or holds a BigInt
  }
  return Object.prototype.toString.call(value);
}
