import { BadRequestException } from '@nestjs/common';
import { isUuid } from '../common/uuid';
import { describeOptions, isTypo } from '../common/options-object';

/*
 * The bodies of the dashboard's actions, read as strictly as the client reads
 * its options: a misspelt key (`{"runId": [...]}`) is a 400 naming it, never
 * a body without the key (which, for a redrive, meant the whole queue).
 */

/**
 * The own keys of an action's JSON body, every one of them known. No body
 * (`undefined`: Fastify without one; Express gives `{}`) is an empty one;
 * anything but a plain object (an array, a string, `null`) is refused.
 * @throws BadRequestException naming the key (nothing was done)
 */
export function actionBody<K extends string>(
  body: unknown,
  action: string,
  known: readonly K[],
): Partial<Record<K, unknown>> {
  if (body === undefined) {
    return {};
  }
  const expected =
    known.length === 0 ? '{} or nothing' : `with some of ${known.join(', ')}`;
  if (
    typeof body !== 'object' ||
    body === null ||
    Array.isArray(body) ||
    ![Object.prototype, null].includes(Object.getPrototypeOf(body) as object)
  ) {
    throw new BadRequestException(
      `The body of a ${action} must be a JSON object (${expected}), got ${describeOptions(body)}: nothing was done.`,
    );
  }
  const checked: Partial<Record<K, unknown>> = {};
  for (const [key, value] of Object.entries(body) as [string, unknown][]) {
    if (!(known as readonly string[]).includes(key)) {
      const guess = known.find((name) => isTypo(key, name));
      const hint =
        known.length === 0
          ? 'it takes none'
          : `known: ${known.join(', ')}${guess ? `; did you mean ${guess}?` : ''}`;
      throw new BadRequestException(
        `The body of a ${action} has an unknown key ${JSON.stringify(key)} (${hint}): nothing was done.`,
      );
    }
    checked[key as K] = value;
  }
  return checked;
}

/** A redrive's `runIds`: a non-empty array of run ids, or none (every entry). */
export function redriveRunIds(body: unknown): string[] | undefined {
  const { runIds } = actionBody(body, 'redrive', ['runIds']);
  if (runIds === undefined) {
    return undefined;
  }
  if (
    !Array.isArray(runIds) ||
    runIds.length === 0 ||
    !runIds.every((id) => isUuid(id))
  ) {
    throw new BadRequestException(
      'runIds must be a non-empty array of run ids: nothing was done.',
    );
  }
  return runIds;
}

/** A signal to send, from its action's body. */
export interface SignalBody {
  readonly name: string;
  /** The payload, parsed (`undefined`: none). */
  readonly payload: unknown;
  readonly idempotencyKey: string | undefined;
}

/**
 * A signal action's body: `name`, `payload` (the payload's JSON as text,
 * as the form's field holds it; empty or absent: none) and
 * `idempotencyKey` (empty or absent: none). The name, key and payload are
 * then checked by `client.signal()`.
 * @throws BadRequestException (nothing was done)
 */
export function signalBody(body: unknown): SignalBody {
  const { name, payload, idempotencyKey } = actionBody(body, 'signal', [
    'name',
    'payload',
    'idempotencyKey',
  ]);
  if (typeof name !== 'string') {
    throw new BadRequestException(
      `name must be the signal's name, as text, got ${describeOptions(name)}: nothing was done.`,
    );
  }
  const text = (
    key: string,
    value: unknown,
    what: string,
  ): string | undefined => {
    if (value !== undefined && typeof value !== 'string') {
      throw new BadRequestException(
        `${key} must be ${what}, as text, got ${describeOptions(value)}: nothing was done.`,
      );
    }
    return value === '' ? undefined : value;
  };
  return {
    name,
    payload: parsePayload(
      text(
        'payload',
        payload,
        'the payload\'s JSON (such as {"approved": true})',
      ),
    ),
    idempotencyKey: text('idempotencyKey', idempotencyKey, 'a key'),
  };
}

/** The payload's JSON text, parsed; blank: no payload. */
function parsePayload(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadRequestException(
      `payload is not JSON (${(err as Error).message}): write it as JSON, such as {"approved": true} or "a string"; nothing was done.`,
    );
  }
}
