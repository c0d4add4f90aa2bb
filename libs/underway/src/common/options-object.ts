import { describeValue } from '../errors/describe-value';
import { InvalidOptionsError } from '../errors/invalid-options.error';

/*
 * One strict reading of an options object, for every client call (the values
 * themselves are checked in call-options.ts).
 */

/**
 * The own properties of an options object, every one of them known (`hint`
 * adds to the error of an unknown key).
 * `undefined` is no options; anything else that is not a plain object (a
 * string, an array, `null`, a class instance, whose inherited properties
 * would be read but not checked) is refused.
 */
export function ownOptions<K extends string>(
  options: unknown,
  known: readonly K[],
  call: string,
  hint: (key: string) => string = () => '',
): Partial<Record<K, unknown>> {
  if (options === undefined) {
    return {};
  }
  if (!isPlainObject(options)) {
    throw new InvalidOptionsError(
      'options',
      `must be an object with some of the keys ${known.join(', ')}, got ${describeOptions(options)}`,
    );
  }
  const checked: Partial<Record<K, unknown>> = {};
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      const guess = known.find((name) => isTypo(key, name));
      throw new InvalidOptionsError(
        key,
        `is not ${call} option (known: ${known.join(', ')}${guess ? `; did you mean ${guess}?` : ''}${hint(key)})`,
      );
    }
    // Read once: a getter cannot pass the check with one value and be used with another.
    checked[key as K] = (options as Record<string, unknown>)[key];
  }
  return checked;
}

export function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** An object literal or `Object.create(null)` (of any realm). */
function isPlainObject(value: unknown): value is object {
  if (!isObject(value) || Array.isArray(value)) {
    return false;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** A value that is not a plain object, for the error message. */
export function describeOptions(value: unknown): string {
  if (Array.isArray(value)) {
    return 'an array';
  }
  if (isObject(value) && !isPlainObject(value)) {
    const proto = Object.getPrototypeOf(value) as {
      constructor?: { name?: unknown; prototype?: unknown };
    };
    const name = proto.constructor?.name;
    return proto.constructor?.prototype === proto &&
      typeof name === 'string' &&
      name
      ? `an instance of ${name}`
      : 'an object that inherits properties';
  }
  return describeValue(value);
}

/** One edit apart (a letter missing, added, changed), case aside: `runId` for `runIds`. */
export function isTypo(given: string, known: string): boolean {
  const a = given.toLowerCase();
  const b = known.toLowerCase();
  if (a === b) {
    return true;
  }
  if (Math.abs(a.length - b.length) > 1) {
    return false;
  }
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) {
    i++;
  }
  const rest = (s: string, skip: number): string => s.slice(i + skip);
  return (
    rest(a, 1) === rest(b, 1) ||
    rest(a, 1) === rest(b, 0) ||
    rest(a, 0) === rest(b, 1)
  );
}
