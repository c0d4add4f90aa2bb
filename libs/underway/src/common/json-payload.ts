import { InvalidInputError } from '../errors/invalid-input.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';

/** What a payload is, for error messages: `input`, `output`, `step input`. */
export type PayloadKind = 'input' | 'output' | 'step input';

const FORBIDDEN_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- \u0000 is exactly what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const UNSERIALIZABLE_CLASSES: ReadonlyArray<
  [new (...args: never[]) => unknown, string]
> = [
  [Map, 'a Map (convert it with Object.fromEntries)'],
  [Set, 'a Set (convert it with Array.from)'],
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [Promise, 'a Promise (await it first)'],
  [RegExp, 'a RegExp'],
];

/**
 * Serializes a workflow input or output to JSON text, or `null` for a top-level
 * `undefined`. Follows JSON: `undefined` properties are omitted, `toJSON()` is
 * honoured (Dates become ISO strings). Rejects, with the path of the offending
 * value, what JSON or PostgreSQL's `jsonb` would lose or refuse: functions,
 * symbols, BigInt, circular references, non-finite numbers, `\u0000`, lone
 * surrogates, Maps and Sets; then checks the size against `maxBytes`.
 *
 * @throws InvalidInputError, PayloadTooLargeError
 */
export function serializePayload(
  value: unknown,
  maxBytes: number,
  kind: PayloadKind = 'input',
): string | null {
  if (value === undefined) {
    return null;
  }
  assertSerializable(value, '$', new Set(), kind);
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) {
    return null; // a toJSON() that returned undefined: nothing to store
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new PayloadTooLargeError(bytes, maxBytes, kind);
  }
  return json;
}

/** Parses JSON text read from the database; SQL `NULL` is `undefined`. */
export function deserializePayload<T = unknown>(json: string | null): T {
  return (json === null ? undefined : JSON.parse(json)) as T;
}

function assertSerializable(
  input: unknown,
  path: string,
  ancestors: Set<object>,
  kind: PayloadKind,
): void {
  let value = input;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: (key: string) => unknown }).toJSON('');
  }
  if (
    value instanceof Number ||
    value instanceof String ||
    value instanceof Boolean ||
    value instanceof BigInt
  ) {
    value = value.valueOf(); // boxed primitives are checked as what JSON makes of them
  }
  switch (typeof value) {
    case 'string':
      if (FORBIDDEN_CHARACTERS.test(value)) {
        fail(
          path,
          'a string with \\u0000 or a lone surrogate, which PostgreSQL cannot store',
          kind,
        );
      }
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        fail(path, `${String(value)} is not a finite number`, kind);
      }
      return;
    case 'boolean':
    case 'undefined':
      return;
    case 'bigint':
      fail(path, 'a BigInt (pass it as a string)', kind);
      return;
    case 'function':
      fail(path, 'a function', kind);
      return;
    case 'symbol':
      fail(path, 'a symbol', kind);
      return;
  }
  if (value === null) {
    return;
  }
  const object = value as object;
  for (const [type, description] of UNSERIALIZABLE_CLASSES) {
    if (object instanceof type) {
      fail(path, description, kind);
    }
  }
  if (ancestors.has(object)) {
    fail(path, 'a circular reference', kind);
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => {
      if (typeof item === 'function' || typeof item === 'symbol') {
        fail(`${path}[${index}]`, `a ${typeof item}`, kind);
      }
      assertSerializable(item, `${path}[${index}]`, ancestors, kind);
    });
  } else {
    for (const key of Object.keys(object)) {
      if (FORBIDDEN_CHARACTERS.test(key)) {
        fail(
          `${path}[${JSON.stringify(key)}]`,
          'a key with \\u0000 or a lone surrogate',
          kind,
        );
      }
      const child = (object as Record<string, unknown>)[key];
      assertSerializable(child, childPath(path, key), ancestors, kind);
    }
  }
  ancestors.delete(object);
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key)
    ? `${path}.${key}`
    : `${path}[${JSON.stringify(key)}]`;
}

function fail(path: string, problem: string, kind: PayloadKind): never {
  throw new InvalidInputError(path, `${problem} is not allowed`, kind);
}
