import { Transition } from './transition';

describe('Transition', () => {
  describe('next', () => {
    it("carries the next step's input and no delay", () => {
      expect(Transition.next({ email: 'a@example.com' })).toMatchObject({
        kind: 'next',
        input: { email: 'a@example.com' },
        delay: undefined,
      });
    });

    it('keeps the input by reference', () => {
      const input = { id: 1 };
      expect(Transition.next(input).input).toBe(input);
    });

    it('is frozen', () => {
      expect(Object.isFrozen(Transition.next(1))).toBe(true);
    });
  });

  describe('after', () => {
    it('carries the input and the delay as given', () => {
      expect(Transition.after({ id: 1 }, '10m')).toMatchObject({
        kind: 'next',
        input: { id: 1 },
        delay: '10m',
      });
    });

    it('accepts a delay in milliseconds', () => {
      expect(Transition.after(null, 1_500).delay).toBe(1_500);
    });

    it('is frozen', () => {
      expect(Object.isFrozen(Transition.after(1, '1s'))).toBe(true);
    });
  });

  describe('complete', () => {
    it("carries the run's output", () => {
      expect(Transition.complete({ receiptId: 'r-1' })).toMatchObject({
        kind: 'complete',
        output: { receiptId: 'r-1' },
      });
    });

    it('has an undefined output when called without one', () => {
      const transition = Transition.complete();
      expect([
        transition.kind,
        'output' in transition,
        transition.output,
      ]).toEqual(['complete', true, undefined]);
    });

    it('is frozen', () => {
      expect(Object.isFrozen(Transition.complete())).toBe(true);
    });
  });

  describe('is', () => {
    it.each([
      ['next', Transition.next(1)],
      ['after', Transition.after(1, '1s')],
      ['complete', Transition.complete()],
      ['complete with an output', Transition.complete({ a: 1 })],
    ])('recognises a value made by Transition.%s', (_label, value) => {
      expect(Transition.is(value)).toBe(true);
    });

    it('does not recognise a look-alike object with the same fields', () => {
      expect(Transition.is({ kind: 'next', input: 1, delay: undefined })).toBe(
        false,
      );
    });

    it('does not recognise an object marked with another symbol of the same description', () => {
      expect(
        Transition.is({
          [Symbol('underway:transition')]: true,
          kind: 'complete',
        }),
      ).toBe(false);
    });

    it('does not recognise a transition that went through JSON', () => {
      const copy: unknown = JSON.parse(
        JSON.stringify(Transition.next({ id: 1 })),
      );
      expect(Transition.is(copy)).toBe(false);
    });

    it.each([
      [undefined],
      [null],
      ['next'],
      [42],
      [true],
      [[]],
      [() => Transition.complete()],
    ])('is false for %p', (value) => {
      expect(Transition.is(value)).toBe(false);
    });
  });

  it('cannot be changed by user code', () => {
    expect(Object.isFrozen(Transition)).toBe(true);
  });
});
