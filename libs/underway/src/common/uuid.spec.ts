import { isUuid, uuidv7 } from './uuid';

const UUIDV7_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit Unix-millisecond timestamp at the start of a UUIDv7. */
function timestampOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

function sorted(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('uuidv7', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  // Runs first: later tests move the generator's clock, never past real time.
  it('starts with the current Unix time in milliseconds', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
    expect(timestampOf(id)).toBeLessThanOrEqual(after);
  });

  it('has the UUID layout, lower-case, with version 7 and variant 10', () => {
    expect(uuidv7()).toMatch(UUIDV7_PATTERN);
  });

  it('makes 10,000 distinct ids', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    expect(new Set(ids).size).toBe(10_000);
  });

  it('makes 10,000 ids that sort as strings in creation order', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    expect(sorted(ids)).toEqual(ids);
  });

  it('keeps creation order for more than 4,096 ids made in one millisecond', () => {
    const frozenNow = Date.now() - 60_000;
    jest.spyOn(Date, 'now').mockReturnValue(frozenNow);
    const ids = Array.from({ length: 5_000 }, () => uuidv7());
    expect(sorted(ids)).toEqual(ids);
  });

  it('keeps creation order when the clock steps backwards', () => {
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now');
    const ids: string[] = [];
    for (const ms of [now - 10, now - 5_000, now - 20, now - 10_000]) {
      clock.mockReturnValue(ms);
      ids.push(uuidv7(), uuidv7());
    }
    expect(sorted(ids)).toEqual(ids);
  });

  it('keeps the version and variant bits when the in-millisecond counter is used', () => {
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() - 120_000);
    const ids = Array.from({ length: 5_000 }, () => uuidv7());
    expect(ids.every((id) => UUIDV7_PATTERN.test(id))).toBe(true);
  });
});

describe('isUuid', () => {
  it('accepts an id made by uuidv7', () => {
    expect(isUuid(uuidv7())).toBe(true);
  });

  it('accepts an upper-case UUID', () => {
    expect(isUuid('0193A5B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B')).toBe(true);
  });

  it('accepts a UUID of another version', () => {
    expect(isUuid('123e4567-e89b-42d3-a456-426614174000')).toBe(true);
  });

  it.each([
    ['a word', 'not-a-uuid'],
    ['no dashes', '0193a5b27c3d7e4f8a9b0c1d2e3f4a5b'],
    ['braces', '{0193a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b}'],
    ['a trailing newline', '0193a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b\n'],
    ['a non-hex digit', '0193a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5g'],
    ['an empty string', ''],
  ])('rejects %s', (_label, value) => {
    expect(isUuid(value)).toBe(false);
  });

  it.each([[123], [null], [undefined], [{}]])(
    'rejects the non-string %p',
    (value) => {
      expect(isUuid(value)).toBe(false);
    },
  );
});
