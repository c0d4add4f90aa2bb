import { Duration, parseDuration } from '../common/duration';
import { ownOptions } from '../common/options-object';
import { SignalDefinition, signalNameOf } from '../decorators/define-signal';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { StepJournal } from './step-journal';
import { ReceivedSignal, sleepEntry, waitEntry } from './journal-entries';

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
  const taken = (await journal.enter('waitFor', labelOf(signal), () =>
    waitEntry([signalNameOf(signal, 'signal')], timeoutOf(options, 'waitFor')),
  )) as ReceivedSignal | null;
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
  const taken = (await journal.enter('waitForAny', 'signals', () => {
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
    return waitEntry([...keyOf.keys()], timeoutOf(options, 'waitForAny'));
  })) as ReceivedSignal | null;
  return taken === null
    ? null
    : { name: keyOf.get(taken.name) ?? taken.name, payload: taken.payload };
}

/** `ctx.sleep(duration)`: a durable sleep. */
export async function sleep(
  journal: StepJournal,
  duration: unknown,
): Promise<void> {
  await journal.enter('sleep', 'sleep', () =>
    sleepEntry(parseDuration(duration, 'duration')),
  );
}

/** A signal's name for a refusal's message, whatever was passed. */
function labelOf(signal: unknown): string {
  const name =
    typeof signal === 'object' && signal !== null && 'name' in signal
      ? signal.name
      : signal;
  return typeof name === 'string' ? name : 'signal';
}

/** What `waitForAny` resolves with, for a map of signals. */
export type AnySignal<M> = {
  [K in keyof M & string]: {
    readonly name: K;
    readonly payload: M[K] extends SignalDefinition<infer P> ? P : never;
  };
}[keyof M & string];
