import { thrownBy } from '../testing/thrown-by';
import { InvalidInputError } from '../errors/invalid-input.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import { UnderwayError } from '../errors/underway.error';
import { deserializePayload, serializePayload } from './json-payload';
import { MAX_PAYLOAD_DEPTH } from './limits';

const LIMIT = 1024 * 1024;

/** `depth` arrays, one inside the other, around `leaf`: `[[leaf]]` is 2 deep. */
function nested(depth: number, leaf: unknown = 'leaf'): unknown {
  let value: unknown = [leaf];
  for (let level = 1; level < depth; level++) {
    value = [value];
  }
  return value;
}

/** The `path` of the InvalidInputError that serializing `value` throws. */
function rejectedPath(value: unknown): string {
  const err = thrownBy(() => serializePayload(value, LIMIT));
  expect(err).toBeInstanceOf(InvalidInputError);
  return (err as InvalidInputError).path;
}

describe('serializePayload', () => {
  describe('what JSON keeps', () => {
    it('serializes plain objects, arrays, strings, numbers, booleans and null', () => {
      expect(
        serializePayload(
          { s: 'a', n: -1.5, b: true, z: null, list: [1, 'two', [3]] },
          LIMIT,
        ),
      ).toBe('{"s":"a","n":-1.5,"b":true,"z":null,"list":[1,"two",[3]]}');
    });

    it('serializes a top-level null as the JSON text "null"', () => {
      expect(serializePayload(null, LIMIT)).toBe('null');
    });

    it('returns null (SQL NULL) for a top-level undefined', () => {
      expect(serializePayload(undefined, LIMIT)).toBeNull();
    });

    it('omits undefined properties', () => {
      expect(serializePayload({ a: 1, b: undefined }, LIMIT)).toBe('{"a":1}');
    });

    it('writes undefined array items as null, as JSON does', () => {
      expect(serializePayload([1, undefined], LIMIT)).toBe('[1,null]');
    });

    it('turns a Date into its ISO string', () => {
      expect(
        serializePayload({ at: new Date('2024-01-02T03:04:05.678Z') }, LIMIT),
      ).toBe('{"at":"2024-01-02T03:04:05.678Z"}');
    });

    it('honours toJSON()', () => {
      class Money {
        constructor(private readonly cents: number) {}
        toJSON(): string {
          return `${this.cents / 100} EUR`;
        }
      }
      expect(serializePayload({ price: new Money(1250) }, LIMIT)).toBe(
        '{"price":"12.5 EUR"}',
      );
    });

    it('validates what toJSON() returns', () => {
      const wrapper = { toJSON: () => ({ callback: () => 1 }) };
      expect(rejectedPath({ item: wrapper })).toBe('$.item.callback');
    });

    it('accepts the same object reached twice without a cycle', () => {
      const shared = { id: 7 };
      expect(
        serializePayload(
          { a: shared, b: shared, list: [shared, shared] },
          LIMIT,
        ),
      ).toBe('{"a":{"id":7},"b":{"id":7},"list":[{"id":7},{"id":7}]}');
    });

    it('accepts a valid surrogate pair (an emoji) and keeps it', () => {
      expect(serializePayload({ mood: 'ok 😀' }, LIMIT)).toBe(
        '{"mood":"ok 😀"}',
      );
    });

    it('accepts an emoji in a key', () => {
      expect(serializePayload({ '😀': 1 }, LIMIT)).toBe('{"😀":1}');
    });

    it('ignores symbol-keyed properties, as JSON does', () => {
      expect(serializePayload({ [Symbol('hidden')]: 1, a: 2 }, LIMIT)).toBe(
        '{"a":2}',
      );
    });
  });

  describe('what JSON or PostgreSQL would lose or refuse', () => {
    it('rejects a function, naming its path', () => {
      expect(rejectedPath({ user: { notify: () => undefined } })).toBe(
        '$.user.notify',
      );
    });

    it('rejects a top-level function at $', () => {
      expect(rejectedPath(() => undefined)).toBe('$');
    });

    it('rejects a function inside an array, naming its index', () => {
      expect(
        rejectedPath({ user: { tags: ['a', 'b', () => undefined] } }),
      ).toBe('$.user.tags[2]');
    });

    it('rejects a symbol value', () => {
      expect(rejectedPath({ kind: Symbol('x') })).toBe('$.kind');
    });

    it('rejects a symbol inside an array', () => {
      expect(rejectedPath([1, Symbol('x')])).toBe('$[1]');
    });

    it('rejects a BigInt', () => {
      expect(rejectedPath({ user: { id: 10n } })).toBe('$.user.id');
    });

    it('suggests passing a BigInt as a string', () => {
      expect(() => serializePayload({ id: 10n }, LIMIT)).toThrow(
        'Invalid workflow input at $.id: a BigInt (pass it as a string) is not allowed. ' +
          'Inputs and outputs must be JSON-serializable.',
      );
    });

    it('rejects a direct circular reference', () => {
      const node: Record<string, unknown> = { name: 'a' };
      node.self = node;
      expect(rejectedPath(node)).toBe('$.self');
    });

    it('rejects an indirect circular reference, naming where the cycle closes', () => {
      const root: Record<string, unknown> = {};
      root.user = { friends: [{ back: root }] };
      expect(rejectedPath(root)).toBe('$.user.friends[0].back');
    });

    it('rejects an array that contains itself', () => {
      const list: unknown[] = [];
      list.push(list);
      expect(rejectedPath(list)).toBe('$[0]');
    });

    it.each([NaN, Infinity, -Infinity])('rejects the number %p', (value) => {
      expect(rejectedPath({ score: value })).toBe('$.score');
    });

    it('rejects \\u0000 in a string value', () => {
      expect(rejectedPath({ name: 'a\u0000b' })).toBe('$.name');
    });

    it('rejects \\u0000 in a key, quoting the key in the path', () => {
      expect(rejectedPath({ user: { 'a\u0000b': 1 } })).toBe(
        '$.user["a\\u0000b"]',
      );
    });

    it('rejects a lone high surrogate', () => {
      expect(rejectedPath({ text: 'cut \uD83D' })).toBe('$.text');
    });

    it('rejects a lone low surrogate', () => {
      expect(rejectedPath({ text: '\uDE00 cut' })).toBe('$.text');
    });

    it('rejects a surrogate pair written in the wrong order', () => {
      expect(rejectedPath({ text: '\uDE00\uD83D' })).toBe('$.text');
    });

    it('rejects a high surrogate followed by another high surrogate', () => {
      expect(rejectedPath({ text: '\uD83D\uD83D\uDE00' })).toBe('$.text');
    });

    it('rejects a lone surrogate in a key', () => {
      expect(rejectedPath({ ['k\uD800']: 1 })).toBe('$["k\\ud800"]');
    });

    it.each([
      ['Map', new Map([['a', 1]])],
      ['Set', new Set([1])],
      ['WeakMap', new WeakMap()],
      ['WeakSet', new WeakSet()],
      ['Promise', Promise.resolve(1)],
      ['RegExp', /x/],
    ])('rejects a %s', (_name, value) => {
      expect(rejectedPath({ user: { data: value } })).toBe('$.user.data');
    });

    // Regression (fixed): binary data and Invalid Dates were stored silently as {} or null.
    it.each<[string, unknown, RegExp]>([
      [
        'ArrayBuffer',
        new ArrayBuffer(4),
        /an ArrayBuffer \(convert it with Array\.from/,
      ],
      ['SharedArrayBuffer', new SharedArrayBuffer(4), /a SharedArrayBuffer/],
      ['DataView', new DataView(new ArrayBuffer(4)), /a DataView \(convert it/],
      [
        'Uint8Array',
        new Uint8Array([1, 2]),
        /a Uint8Array \(convert it with Array\.from or encode it as base64\)/,
      ],
      ['Float64Array', new Float64Array(2), /a Float64Array/],
      ['Int8Array', new Int8Array(2), /an Int8Array/],
      ['BigInt64Array', new BigInt64Array(2), /a BigInt64Array/],
      ['Invalid Date', new Date('not a date'), /an Invalid Date/],
      // JSON would keep none of an Error's message or stack: {}.
      [
        'Error',
        new Error('card declined'),
        /an Error \(JSON keeps none of its message or stack: pass \{ name, message \} instead\)/,
      ],
      ['TypeError', new TypeError('bad'), /an Error/],
    ])('rejects %s, saying what to do', (_name, value, message) => {
      expect(rejectedPath({ user: { data: value } })).toBe('$.user.data');
      expect(() => serializePayload([value], LIMIT)).toThrow(message);
    });

    it('keeps an Error that says how it serializes (its own toJSON)', () => {
      class CardError extends Error {
        toJSON() {
          return { name: 'CardError', message: this.message };
        }
      }
      expect(serializePayload({ e: new CardError('declined') }, LIMIT)).toBe(
        '{"e":{"name":"CardError","message":"declined"}}',
      );
    });

    it('rejects an Invalid Date at the root', () => {
      expect(rejectedPath(new Date(NaN))).toBe('$');
    });

    it('names the class and the fix for a Map', () => {
      expect(() => serializePayload({ m: new Map() }, LIMIT)).toThrow(
        'a Map (convert it with Object.fromEntries) is not allowed',
      );
    });

    it('quotes a key that is not an identifier in the path', () => {
      expect(rejectedPath({ 'first name': { 'x-y': NaN } })).toBe(
        '$["first name"]["x-y"]',
      );
    });

    it('throws an InvalidInputError with code invalid_input, an UnderwayError', () => {
      const err = thrownBy(() => serializePayload({ f: NaN }, LIMIT));
      expect([
        err instanceof UnderwayError,
        (err as InvalidInputError).code,
      ]).toEqual([true, 'invalid_input']);
    });

    it('names the payload kind in the message', () => {
      expect(() => serializePayload({ f: NaN }, LIMIT, 'output')).toThrow(
        /^Invalid workflow output at \$\.f: NaN is not a finite number is not allowed\./,
      );
    });

    // Regression (fixed): when a top-level toJSON() returns undefined, JSON.stringify returns
    // undefined and Buffer.byteLength(undefined) throws a raw TypeError.
    it('treats a top-level toJSON() that returns undefined like undefined', () => {
      expect(serializePayload({ toJSON: () => undefined }, LIMIT)).toBeNull();
    });

    // Regression (fixed): a boxed number is an object with no keys, so NaN inside it passes the
    // check and is silently stored as null.
    it('rejects a boxed non-finite number', () => {
      expect(rejectedPath({ score: new Number(NaN) })).toBe('$.score');
    });

    // Regression (fixed): a boxed BigInt passes the check, then JSON.stringify throws a raw
    // TypeError instead of an InvalidInputError naming the path.
    it('rejects a boxed BigInt with InvalidInputError', () => {
      expect(rejectedPath({ id: Object(10n) })).toBe('$.id');
    });
  });

  describe('one walk: what is validated is what is stored', () => {
    it.each<[string, unknown]>([
      [
        'nested objects and arrays',
        { a: [1, { b: [true, null, 'x'] }], c: {} },
      ],
      [
        'undefined properties and array items',
        { a: undefined, b: [undefined, 1] },
      ],
      ['a Date', { at: new Date('2024-01-02T03:04:05.678Z') }],
      [
        'boxed primitives',
        [new Number(1), new String('s'), new Boolean(false)],
      ],
      ['a Buffer (its toJSON)', { bytes: Buffer.from('hi') }],
      [
        'integer-like keys, which JSON writes first',
        { b: 1, 2: 'two', 1: 'one' },
      ],
      ['-0', { zero: -0 }],
      ['a toJSON that is not a function', { toJSON: 5 }],
      ['an emoji key and value', { '😀': '😀' }],
    ])('writes %s exactly as JSON.stringify does', (_what, value) => {
      expect(serializePayload(value, LIMIT)).toBe(JSON.stringify(value));
    });

    // Regression (fixed): the check called toJSON('') everywhere while JSON.stringify calls
    // toJSON(key), so what was checked was not what was stored.
    it('calls toJSON with the property name, the array index as a string, or "" at the root', () => {
      const keys: string[] = [];
      const spy = { toJSON: (key: string) => (keys.push(key), key) };
      expect(serializePayload({ name: spy, list: [spy, spy] }, LIMIT)).toBe(
        '{"name":"name","list":["0","1"]}',
      );
      expect(serializePayload(spy, LIMIT)).toBe('""');
      expect(keys).toEqual(['name', '0', '1', '']);
    });

    it('stores what toJSON(key) returns for its key, not what it returns for ""', () => {
      const chameleon = {
        toJSON: (key: string) => (key === '' ? 'checked' : 'stored'),
      };
      expect(serializePayload({ item: chameleon }, LIMIT)).toBe(
        '{"item":"stored"}',
      );
    });

    it('rejects what toJSON(key) returns for its key even when toJSON("") is harmless', () => {
      const chameleon = {
        toJSON: (key: string) => (key === '' ? 'ok' : 'a\u0000b'),
      };
      expect(rejectedPath({ item: chameleon })).toBe('$.item');
      expect(rejectedPath([chameleon])).toBe('$[0]');
    });

    it('calls toJSON once per value, as JSON does: the toJSON of what it returns is a function like any other', () => {
      const inner = { toJSON: () => 'inner' };
      const outer = { toJSON: () => inner };
      expect(rejectedPath({ v: outer })).toBe('$.v.toJSON');
    });

    it('reads each property once, so a getter cannot give the check one value and the store another', () => {
      let reads = 0;
      const value = {
        get n() {
          reads += 1;
          return reads === 1 ? 1 : NaN;
        },
      };
      expect(serializePayload(value, LIMIT)).toBe('{"n":1}');
      expect(reads).toBe(1);
    });

    it('keeps an own "__proto__" key as a key', () => {
      const value: unknown = JSON.parse('{"__proto__":{"a":1},"b":2}');
      expect(serializePayload(value, LIMIT)).toBe(
        '{"__proto__":{"a":1},"b":2}',
      );
    });

    it('validates what a boxed primitive unwraps to with its own valueOf', () => {
      const boxed = Object.assign(new Number(1), { valueOf: () => Infinity });
      expect(rejectedPath({ n: boxed })).toBe('$.n');
    });

    it('rejects a boxed symbol like a symbol', () => {
      expect(rejectedPath({ s: Object(Symbol('x')) })).toBe('$.s');
    });

    it('rejects a function that toJSON returns', () => {
      expect(rejectedPath({ f: { toJSON: () => () => 1 } })).toBe('$.f');
    });

    it('honours a toJSON defined on BigInt.prototype, as JSON does', () => {
      const proto = BigInt.prototype as unknown as { toJSON?: () => string };
      proto.toJSON = function (this: bigint) {
        return this.toString();
      };
      try {
        expect(serializePayload({ id: 10n }, LIMIT)).toBe('{"id":"10"}');
      } finally {
        delete proto.toJSON;
      }
    });

    it('writes built arrays without an inherited toJSON, even when one is defined on Array.prototype', () => {
      const proto = Array.prototype as unknown as { toJSON?: () => string };
      proto.toJSON = () => 'hijacked';
      try {
        // Like JSON, the walk calls it; what it returned is stored, nothing more is called.
        expect(serializePayload({ list: [1] }, LIMIT)).toBe(
          '{"list":"hijacked"}',
        );
        expect(
          serializePayload({ list: { toJSON: () => [1, 2] } }, LIMIT),
        ).toBe('{"list":[1,2]}');
      } finally {
        delete proto.toJSON;
      }
    });
  });

  describe('depth', () => {
    it(`accepts arrays nested exactly ${MAX_PAYLOAD_DEPTH} levels deep`, () => {
      const value = nested(MAX_PAYLOAD_DEPTH);
      expect(serializePayload(value, LIMIT)).toBe(JSON.stringify(value));
    });

    it(`rejects arrays nested ${MAX_PAYLOAD_DEPTH + 1} levels deep, naming the path`, () => {
      const err = thrownBy(() =>
        serializePayload(nested(MAX_PAYLOAD_DEPTH + 1), LIMIT),
      );
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).path).toBe(
        `$${'[0]'.repeat(MAX_PAYLOAD_DEPTH)}`,
      );
      expect((err as Error).message).toContain(
        `an array or object nested deeper than ${MAX_PAYLOAD_DEPTH} levels is not allowed`,
      );
    });

    it('counts objects and arrays alike', () => {
      let value: unknown = 1;
      for (let level = 0; level < MAX_PAYLOAD_DEPTH; level++) {
        value = level % 2 ? [value] : { a: value };
      }
      expect(serializePayload(value, LIMIT)).toBe(JSON.stringify(value));
      expect(() => serializePayload({ top: value }, LIMIT)).toThrow(
        InvalidInputError,
      );
    });

    // Regression (fixed): a value nested 10,000 levels deep overflowed the stack with a raw
    // RangeError.
    it('rejects a value nested 10,000 levels deep with InvalidInputError, not a RangeError', () => {
      expect(
        thrownBy(() => serializePayload(nested(10_000), LIMIT)),
      ).toBeInstanceOf(InvalidInputError);
    });

    it('counts the levels that toJSON returns', () => {
      const deep = { toJSON: () => nested(MAX_PAYLOAD_DEPTH) };
      expect(() => serializePayload([deep], LIMIT)).toThrow(InvalidInputError);
      expect(serializePayload(deep, LIMIT)).toBe(
        JSON.stringify(nested(MAX_PAYLOAD_DEPTH)),
      );
    });
  });

  describe('size', () => {
    it('accepts a payload of exactly maxBytes bytes', () => {
      // "abc" with its quotes is 5 bytes.
      expect(serializePayload('abc', 5)).toBe('"abc"');
    });

    it('rejects a payload one byte over maxBytes with PayloadTooLargeError', () => {
      expect(() => serializePayload('abcd', 5)).toThrow(PayloadTooLargeError);
    });

    it('reports the size and the limit in bytes on the error', () => {
      const err = thrownBy(() => serializePayload('abcd', 5));
      expect(err).toMatchObject({
        code: 'payload_too_large',
        sizeBytes: 6,
        limitBytes: 5,
      });
    });

    it('counts multi-byte characters in UTF-8 bytes, not UTF-16 code units', () => {
      // 3 × "€" is 9 bytes + 2 quotes = 11 bytes, but only 5 code units.
      const err = thrownBy(() => serializePayload('€€€', 10));
      expect((err as PayloadTooLargeError).sizeBytes).toBe(11);
    });

    it('counts an emoji as 4 bytes', () => {
      expect(serializePayload('😀', 6)).toBe('"😀"');
    });

    it('names the payload kind and maxInputSize in the message', () => {
      expect(() => serializePayload('abcd', 5, 'step input')).toThrow(
        'Workflow step input is 6 bytes as JSON, over the 5-byte limit (maxInputSize).',
      );
    });

    it('validates the content before the size', () => {
      expect(() =>
        serializePayload({ f: () => 1, pad: 'x'.repeat(100) }, 10),
      ).toThrow(InvalidInputError);
    });
  });
});

describe('deserializePayload', () => {
  it('reads SQL NULL back as undefined', () => {
    expect(deserializePayload(null)).toBeUndefined();
  });

  it('reads the JSON text "null" as null, not undefined', () => {
    expect(deserializePayload('null')).toBeNull();
  });

  it('round-trips what serializePayload wrote, Dates as ISO strings', () => {
    const json = serializePayload(
      {
        id: 1,
        tags: ['a'],
        at: new Date('2024-05-06T07:08:09.000Z'),
        skip: undefined,
      },
      LIMIT,
    );
    expect(deserializePayload(json)).toEqual({
      id: 1,
      tags: ['a'],
      at: '2024-05-06T07:08:09.000Z',
    });
  });

  it('round-trips a top-level undefined', () => {
    expect(
      deserializePayload(serializePayload(undefined, LIMIT)),
    ).toBeUndefined();
  });

  it('round-trips an emoji', () => {
    expect(deserializePayload(serializePayload({ s: '😀' }, LIMIT))).toEqual({
      s: '😀',
    });
  });
});
