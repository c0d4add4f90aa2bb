import { types } from 'node:util';
import { InvalidInputError } from '../errors/invalid-input.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import { MAX_PAYLOAD_DEPTH } from './limits';

/** What a payload is, for error messages: `input`, `output`, `step input`. */
export type PayloadKind =
  | 'input'
  | 'output'
  | 'step input'
  | 'activity arguments'
  | 'activity result'
  | 'signal payload';

/** A value `JSON.stringify` writes as it is: what the walk below builds. */
type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const FORBIDDEN_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- \u0000 is exactly what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const BINARY_ADVICE = 'convert it with Array.from or encode it as base64';

/**
 * Objects JSON would turn into `{}` (or `null`) without a word, each with what
 * to do instead. The checks read internal slots (`node:util` types), so they
 * hold for objects made in another realm too.
 */
const UNSERIALIZABLE: ReadonlyArray<
  [(value: object) => boolean, (value: object) => string]
> = [
  [types.isMap, () => 'a Map (convert it with Object.fromEntries)'],
  [types.isSet, () => 'a Set (convert it with Array.from)'],
  [types.isWeakMap, () => 'a WeakMap'],
  [types.isWeakSet, () => 'a WeakSet'],
  [types.isPromise, () => 'a Promise (await it first)'],
  [types.isRegExp, () => 'a RegExp'],
  [
    types.isNativeError,
    () =>
      'an Error (JSON keeps none of its message or stack: pass { name, message } instead)',
  ],
  [
    types.isAnyArrayBuffer,
    (value) =>
      `${article(tagOf(value))} (${BINARY_ADVICE}: Array.from(new Uint8Array(buffer)))`,
  ],
  [
    types.isArrayBufferView, // typed arrays (Uint8Array, …) and DataView
    (value) => `${article(tagOf(value))} (${BINARY_ADVICE})`,
  ],
];

/**
 * Serializes a workflow input or output to JSON text, or `null` for a top-level
 * `undefined`. Follows JSON: `undefined` properties are omitted (and written
 * `null` in arrays), `toJSON(key)` is honoured with the key JSON would pass
 * (Dates become ISO strings), boxed primitives are unwrapped. Rejects, with the
 * path of the offending value, what JSON or PostgreSQL's `jsonb` would lose or
 * refuse: functions, symbols, BigInt, circular references, nesting deeper than
 * {@link MAX_PAYLOAD_DEPTH}, non-finite numbers, `\u0000`, lone surrogates,
 * Maps, Sets, binary data and Invalid Dates; then checks the size against
 * `maxBytes`.
 *
 * One walk reads every value once and builds the plain JSON value it checks;
 * that value is what is stringified, so what is validated is what is stored.
 *
 * @throws InvalidInputError, PayloadTooLargeError
 */
export function serializePayload(
  value: unknown,
  maxBytes: number,
  kind: PayloadKind = 'input',
  /** How error paths start: `$`, or `inputs[3]` for one input of many. */
  root = '$',
): string | null {
  const json = new PayloadWalk(kind, root).property(value, '');
  if (json === undefined) {
    return null; // undefined, or a toJSON() that returned it: nothing to store
  }
  const text = JSON.stringify(json);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new PayloadTooLargeError(bytes, maxBytes, kind);
  }
  return text;
}

/** Parses JSON text read from the database; SQL `NULL` is `undefined`. */
export function deserializePayload<T = unknown>(json: string | null): T {
  return (json === null ? undefined : JSON.parse(json)) as T;
}

/**
 * `JSON.stringify`'s algorithm (SerializeJSONProperty, without a replacer),
 * building the value instead of the text and refusing what it would lose.
 */
class PayloadWalk {
  /** The objects and arrays being walked, outermost first: cycles and depth. */
  private readonly ancestors = new Set<object>();
  /** Where the walk is: property names and array indexes, from the root. */
  private readonly path: (string | number)[] = [];
  /**
   * Built arrays inherit from `Array.prototype`: if something defined a
   * `toJSON` there, the final `JSON.stringify` would call it, so they get no
   * prototype then. (Built objects never have one.)
   */
  private readonly shieldArrays =
    'toJSON' in Array.prototype || 'toJSON' in Object.prototype;

  constructor(
    private readonly kind: PayloadKind,
    private readonly root: string,
  ) {}

  /** What JSON makes of `value` found under `key`; `undefined` means "omitted". */
  property(input: unknown, key: string): JsonValue | undefined {
    let value = input;
    if (typeof value === 'object' && value !== null && types.isDate(value)) {
      if (Number.isNaN(value.getTime())) {
        this.fail('an Invalid Date (JSON would store it as null)');
      }
    }
    if (
      (typeof value === 'object' && value !== null) ||
      typeof value === 'bigint'
    ) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        value = (toJSON as (key: string) => unknown).call(value, key);
      }
    }
    if (typeof value === 'object' && value !== null) {
      value = unboxed(value);
    }
    switch (typeof value) {
      case 'string':
        if (FORBIDDEN_CHARACTERS.test(value)) {
          this.fail(
            'a string with \\u0000 or a lone surrogate, which PostgreSQL cannot store',
          );
        }
        return value;
      case 'number':
        if (!Number.isFinite(value)) {
          this.fail(`${String(value)} is not a finite number`);
        }
        return value;
      case 'boolean':
        return value;
      case 'undefined':
        return undefined;
      case 'bigint':
        return this.fail('a BigInt (pass it as a string)');
      case 'function':
        return this.fail('a function');
      case 'symbol':
        return this.fail('a symbol');
    }
    return value === null ? null : this.container(value as object);
  }

  private container(object: object): JsonValue {
    if (types.isSymbolObject(object)) {
      this.fail('a symbol');
    }
    for (const [matches, description] of UNSERIALIZABLE) {
      if (matches(object)) {
        this.fail(description(object));
      }
    }
    if (this.ancestors.has(object)) {
      this.fail('a circular reference');
    }
    if (this.ancestors.size >= MAX_PAYLOAD_DEPTH) {
      this.fail(
        `an array or object nested deeper than ${MAX_PAYLOAD_DEPTH} levels`,
      );
    }
    this.ancestors.add(object);
    const built = Array.isArray(object)
      ? this.array(object as unknown[])
      : this.object(object as Record<string, unknown>);
    this.ancestors.delete(object);
    return built;
  }

  private array(array: readonly unknown[]): JsonValue[] {
    const built: JsonValue[] = [];
    for (let index = 0; index < array.length; index++) {
      this.path.push(index);
      built.push(this.property(array[index], String(index)) ?? null);
      this.path.pop();
    }
    if (this.shieldArrays) {
      Object.setPrototypeOf(built, null);
    }
    return built;
  }

  private object(object: Record<string, unknown>): Record<string, JsonValue> {
    // No prototype: a "__proto__" key stays a key, and nothing is inherited.
    const built = Object.create(null) as Record<string, JsonValue>;
    for (const key of Object.keys(object)) {
      this.path.push(key);
      if (FORBIDDEN_CHARACTERS.test(key)) {
        this.fail('a key with \\u0000 or a lone surrogate');
      }
      const value = this.property(object[key], key);
      if (value !== undefined) {
        built[key] = value;
      }
      this.path.pop();
    }
    return built;
  }

  private fail(problem: string): never {
    throw new InvalidInputError(
      renderPath(this.root, this.path),
      `${problem} is not allowed`,
      this.kind,
    );
  }
}

/** A boxed primitive as JSON reads it (`new Number(1)` is 1); others as they are. */
function unboxed(value: object): unknown {
  if (types.isNumberObject(value)) {
    return Number(value); // ToNumber, as JSON: honours an own valueOf()
  }
  if (types.isStringObject(value)) {
    return String(value);
  }
  if (types.isBooleanObject(value)) {
    return value.valueOf();
  }
  if (types.isBigIntObject(value)) {
    return value.valueOf();
  }
  return value;
}

function renderPath(root: string, path: readonly (string | number)[]): string {
  let rendered = root;
  for (const segment of path) {
    rendered +=
      typeof segment === 'number'
        ? `[${segment}]`
        : /^[A-Za-z_$][\w$]*$/.test(segment)
          ? `.${segment}`
          : `[${JSON.stringify(segment)}]`;
  }
  return rendered;
}

/** The class of a built-in object: `Uint8Array`, `DataView`, `ArrayBuffer`. */
function tagOf(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** `an ArrayBuffer`, `an Int8Array`, `a Uint8Array` (said "you-int"). */
function article(name: string): string {
  return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
}
