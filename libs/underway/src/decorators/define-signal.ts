import { nameProblem } from '../common/limits';
import { InvalidOptionsError } from '../errors/invalid-options.error';

declare const payloadType: unique symbol;

/**
 * A named signal and the type of its payload, made by `defineSignal`. A step
 * waits for it (`ctx.waitFor(Approval)`), the app sends it
 * (`client.signal(runId, Approval, payload)`): both are checked against `P`
 * at compile time.
 *
 * @publicApi
 */
export interface SignalDefinition<P = unknown> {
  /** The durable name: what is stored, and what a wait matches. */
  readonly name: string;
  /** Type only (never set): the payload the signal carries. */
  readonly [payloadType]?: P;
}

/** The payload type of a signal definition. */
export type SignalPayload<S> = S extends SignalDefinition<infer P> ? P : never;

/**
 * Defines a signal: a name, and the type of the payload it carries (`void`
 * for none). Define it once, beside the workflow that waits for it, and use
 * the same constant to wait and to send:
 *
 * ```ts
 * export const Approval = defineSignal<{ approved: boolean; by: string }>('approval');
 * ```
 *
 * The name is durable (stored with each signal and wait): renaming it strands
 * the signals and waits of runs in flight.
 *
 * @throws InvalidOptionsError for a name that is not a non-empty string of at most 255 characters
 * @publicApi
 */
export function defineSignal<P = void>(name: string): SignalDefinition<P> {
  checkSignalName(name, 'name');
  return Object.freeze({ name });
}

/** @throws InvalidOptionsError */
export function checkSignalName(name: unknown, path: string): string {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new InvalidOptionsError(path, `a signal name ${problem}`);
  }
  return name as string;
}

/** The name of `signal`, a definition from `defineSignal` (or, untyped, a name). @throws InvalidOptionsError */
export function signalNameOf(signal: unknown, path: string): string {
  if (typeof signal === 'string') {
    return checkSignalName(signal, path);
  }
  if (typeof signal === 'object' && signal !== null && 'name' in signal) {
    return checkSignalName(signal.name, `${path}.name`);
  }
  throw new InvalidOptionsError(
    path,
    `must be a signal made by defineSignal('name'), got ${signal === null ? 'null' : typeof signal}`,
  );
}
