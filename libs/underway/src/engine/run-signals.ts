import { serializePayload } from '../common/json-payload';
import { uuidv7 } from '../common/uuid';
import { isUuid } from '../common/uuid';
import type { SqlExecutor } from '../database/sql-executor';
import { signalNameOf } from '../decorators/define-signal';
import type { TransitionWriter } from './transition.writer';
import { InvalidInputError } from '../errors/invalid-input.error';
import { RunFinishedError } from '../errors/run-finished.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { activeTraceCarrier } from '../observability/signal-trace';

// How a signal is checked and stored, for every front end: `client.signal()`
// and `signalWithStart()`, the dashboard (through the client) and
// `npx underway signal` (which has no workflow code: the signal by name).

/** What `client.signal()` resolves with. @publicApi */
export interface SignalResult {
  readonly runId: string;
  /** The stored signal: this one, or for a duplicate the one that took the key first. */
  readonly signalId: string;
  /** `true`: the idempotency key was taken already, nothing was stored. */
  readonly duplicate: boolean;
}

/** @internal A signal checked and ready to store. */
export interface CheckedSignal {
  readonly name: string;
  /** JSON text, `null` for no payload. */
  readonly payload: string | null;
  readonly idempotencyKey: string | null;
}

/**
 * @internal
 * Checks a signal before anything is written: its definition and payload
 * (validated like an input; `null` is refused, since a wait resolves with
 * `null` on timeout).
 * @throws InvalidOptionsError, InvalidInputError, PayloadTooLargeError
 */
export function checkSignal(
  signal: unknown,
  payload: unknown,
  idempotencyKey: string | null,
  maxPayloadBytes: number,
): CheckedSignal {
  const name = signalNameOf(signal, 'signal');
  if (payload === null) {
    throw new InvalidInputError(
      '$',
      'a signal payload cannot be null (ctx.waitFor resolves with null on timeout): send a value, or nothing',
      'signal payload',
    );
  }
  return {
    name,
    payload: serializePayload(payload, maxPayloadBytes, 'signal payload'),
    idempotencyKey,
  };
}

/**
 * @internal
 * Stores `signal` for run `runId` in `executor`'s transaction (through the
 * writer, which delivers it to a wait that takes it).
 * @throws RunNotFoundError, RunFinishedError
 */
export async function sendCheckedSignal(
  writer: Pick<TransitionWriter, 'sendSignal'>,
  executor: SqlExecutor,
  runId: string,
  signal: CheckedSignal,
): Promise<SignalResult> {
  if (!isUuid(runId)) {
    throw new RunNotFoundError(runId);
  }
  const result = await writer.sendSignal(executor, {
    runId,
    id: uuidv7(),
    name: signal.name,
    payload: signal.payload,
    idempotencyKey: signal.idempotencyKey,
    // The sender's span, for a link from the attempt that takes the signal.
    traceContext: activeTraceCarrier(),
  });
  switch (result.outcome) {
    case 'not_found':
      throw new RunNotFoundError(runId);
    case 'finished':
      throw new RunFinishedError(runId, result.state ?? 'finished');
    default:
      return {
        runId,
        signalId: result.signalId!,
        duplicate: result.outcome === 'duplicate',
      };
  }
}
