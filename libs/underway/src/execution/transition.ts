import type { Duration } from '../common/duration';

// Symbol.for: two installed copies of the library recognise each other's transitions.
const TRANSITION = Symbol.for('underway:transition');

/**
 * What a step returns: go on to the next step (now or after a delay), or
 * complete the run.
 *
 * ```ts
 * return Transition.next({ email });             // next step, now
 * return Transition.after({ email }, '10m');     // next step, in 10 minutes
 * return Transition.complete({ receiptId });     // the run succeeds with this output
 * ```
 *
 * @publicApi
 */
export type Transition<TNext = unknown, TOutput = unknown> =
  NextTransition<TNext> | CompleteTransition<TOutput>;

/** @publicApi */
export interface NextTransition<TNext = unknown> {
  readonly [TRANSITION]: true;
  readonly kind: 'next';
  readonly input: TNext;
  /** `undefined`: the next step's own `@Step({ delay })`, if any. */
  readonly delay: Duration | undefined;
}

/** @publicApi */
export interface CompleteTransition<TOutput = unknown> {
  readonly [TRANSITION]: true;
  readonly kind: 'complete';
  readonly output: TOutput;
}

/** @publicApi */
export const Transition = Object.freeze({
  /** Runs the next `@Step` with `input`. */
  next<TNext>(input: TNext): NextTransition<TNext> {
    return Object.freeze({
      [TRANSITION]: true as const,
      kind: 'next' as const,
      input,
      delay: undefined,
    });
  },

  /** Runs the next `@Step` with `input` once `delay` has passed. */
  after<TNext>(input: TNext, delay: Duration): NextTransition<TNext> {
    return Object.freeze({
      [TRANSITION]: true as const,
      kind: 'next' as const,
      input,
      delay,
    });
  },

  /** Ends the run successfully; `output` is kept and returned by `run.result()`. */
  complete<TOutput = undefined>(output?: TOutput): CompleteTransition<TOutput> {
    return Object.freeze({
      [TRANSITION]: true as const,
      kind: 'complete' as const,
      output: output as TOutput,
    });
  },

  /** True for values made by `Transition.next/after/complete`. */
  is(value: unknown): value is Transition {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [TRANSITION]?: unknown })[TRANSITION] === true
    );
  },
});
