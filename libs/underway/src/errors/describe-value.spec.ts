import { describeValue } from './describe-value';

/** A lone surrogate or `\u0000`: what PostgreSQL's jsonb refuses. */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- \u0000 is what is looked for
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('describeValue', () => {
  it('quotes a string', () => {
    expect(describeValue('soon')).toBe('"soon"');
  });

  it('escapes quotes and control characters inside a string', () => {
    expect(describeValue('a"b\n')).toBe('"a\\"b\\n"');
  });

  it.each<[unknown, string]>([
    [null, 'null'],
    [undefined, 'undefined'],
    [42, '42'],
    [-0.5, '-0.5'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [true, 'true'],
    [10n, '10'],
    [Symbol('tag'), 'Symbol(tag)'],
  ])('renders the primitive %p as %p', (value, expected) => {
    expect(describeValue(value)).toBe(expected);
  });

  it('names a named function', () => {
    function sendEmail(): void {}
    expect(describeValue(sendEmail)).toBe('a function (sendEmail)');
  });

  it('renders an anonymous function without a name', () => {
    const anonymous = [(): void => {}][0];
    expect(describeValue(anonymous)).toBe('a function');
  });

  it('renders a class as a function with its name', () => {
    class SignupWorkflow {}
    expect(describeValue(SignupWorkflow)).toBe('a function (SignupWorkflow)');
  });

  it('renders an object as JSON', () => {
    expect(describeValue({ a: 1, b: ['x'] })).toBe('{"a":1,"b":["x"]}');
  });

  it('renders an array as JSON', () => {
    expect(describeValue([1, 'two'])).toBe('[1,"two"]');
  });

  it('cuts JSON longer than 200 characters and marks the cut with an ellipsis', () => {
    const rendered = describeValue({ text: 'x'.repeat(500) });
    expect(rendered).toBe(`${'{"text":"'}${'x'.repeat(191)}…`);
  });

  it('falls back to the object tag for a circular object, without throwing', () => {
    const node: Record<string, unknown> = {};
    node.self = node;
    expect(describeValue(node)).toBe('[object Object]');
  });

  it('falls back to the object tag for an object holding a BigInt', () => {
    expect(describeValue({ id: 1n })).toBe('[object Object]');
  });

  it('falls back to the object tag when toJSON throws', () => {
    const hostile = {
      toJSON(): never {
        throw new Error('no');
      },
    };
    expect(describeValue(hostile)).toBe('[object Object]');
  });

  // Regression (fixed): only objects are cut to 200 characters; a string is rendered whole,
  // so a 1 MB string lands in an error message as 1 MB.
  it('keeps a long string short, like a long object', () => {
    expect(describeValue('x'.repeat(10_000)).length).toBeLessThanOrEqual(201);
  });

  // Regression (fixed): `json.slice(0, 200)` can cut an emoji's surrogate pair in half; the
  // resulting lone surrogate is refused by jsonb when the message is stored
  // in an error record.
  it('never leaves a lone surrogate when it cuts a long value', () => {
    const rendered = describeValue({
      text: `${'x'.repeat(190)}😀 and more text`,
    });
    expect(UNSTORABLE.test(rendered)).toBe(false);
  });
});
