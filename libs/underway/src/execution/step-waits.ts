import { Duration, parseDuration } from '../common/duration';
import { ownOptions } from '../common/options-object';
import { SignalDefinition, signalNameOf } from '../decorators/define-signal';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { StepJournal } from './step-journal';

/** The options of `ctx.waitFor` and `ctx.waitForAny`. */
export interface WaitOptions {
  /**
   * How long to wait (`'3d'`, `'30s'`, or ms), counted from when the wait is
   * first reached; then the wait resolves with `null`. Default: no timeout.
   */
  readonly timeout?: Duration;
}

const WAIT_KEYS = ['timeout'] as const;

function timeoutOf(options: unknown, api: string): number | null {
  const { timeout } = ownOptions(options, WAIT_KEYS, `a ctx.${api}`);
  return timeout === undefined ? null : parseDuration(timeout, 'timeout');
}

/** `ctx.waitFor(signal, options)`: the payload, or `null` after the timeout. */
export async function waitFor(
  journal: StepJournal,
  signal: unknown,
  options: unknown,
): Promise<unknown> {
  let name: string;
  let timeoutMs: number | null;
  try {
    name = signalNameOf(signal, 'signal');
    timeoutMs = timeoutOf(options, 'waitFor');
  } catch (err) {
    return journal.refuse(err);
  }
  const taken = await journal.wait('waitFor', [name], timeoutMs);
  return taken === null ? null : taken.payload;
}

/**
 * `ctx.waitForAny({ a: SigA, b: SigB }, options)`: `{ name, payload }` of
 * the first of them to arrive (`name`: its key in the map), or `null` after
 * the timeout.
 */
export async function waitForAny(
  journal: StepJournal,
  signals: unknown,
  options: unknown,
): Promise<{ name: string; payload: unknown } | null> {
  const keyOf = new Map<string, string>();
  let timeoutMs: number | null;
  try {
    if (
      typeof signals !== 'object' ||
      signals === null ||
      Array.isArray(signals)
    ) {
      throw new InvalidOptionsError(
        'signals',
        'must be an object whose values are signals made by defineSignal(), such as { approved: Approval, rejected: Rejection }',
      );
    }
    for (const [key, signal] of Object.entries(signals)) {
      const name = signalNameOf(signal, `signals.${key}`);
      if (keyOf.has(name)) {
        throw new InvalidOptionsError(
          `signals.${key}`,
          `names signal '${name}' again (as signals.${keyOf.get(name)}): each signal may appear once`,
        );
      }
      keyOf.set(name, key);
    }
    if (keyOf.size === 0) {
      throw new InvalidOptionsError('signals', 'must name at least one signal');
    }
    timeoutMs = timeoutOf(options, 'waitForAny');
  } catch (err) {
    return journal.refuse(err);
  }
  const taken = await journal.wait('waitForAny', [...keyOf.keys()], timeoutMs);
  return taken === null
    ? null
    : { name: keyOf.get(taken.name) ?? taken.name, payload: taken.payload };
}

/** `ctx.sleep(duration)`: a durable sleep. */
export function sleep(journal: StepJournal, duration: unknown): Promise<void> {
  let ms: number;
  try {
    ms = parseDuration(duration, 'duration');
  } catch (err) {
    return journal.refuse(err);
  }
  return journal.sleep(ms);
}

/** What `waitForAny` resolves with, for a map of signals. */
export type AnySignal<M> = {
  [K in keyof M & string]: {
    readonly name: K;
    readonly payload: M[K] extends SignalDefinition<infer P> ? P : never;
  };
}[keyof M & string];
