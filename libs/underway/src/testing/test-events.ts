import { isDeepStrictEqual } from 'node:util';
import { Duration, parseDuration } from '../common/duration';
import { UnderwayClosedError } from '../errors/underway-closed.error';
import type {
  UnderwayEventMap,
  UnderwayEventName,
} from '../events/underway-event-map';
import type { UnderwayEvents } from '../events/underway-events';
import { EventTimeoutError } from './event-timeout.error';

/** How long `next()` waits by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * Fields an event must have to match (`{ runId }`): each compared by deep
 * equality (a `Date` by its time).
 *
 * @publicApi
 */
export type EventFields<K extends UnderwayEventName> = Partial<
  UnderwayEventMap[K]
>;

/** Options of `kit.events.next()`. @publicApi */
export interface NextEventOptions {
  /** How long to wait for it. @default '5s' */
  timeout?: Duration;
}

/** A call of `next()` still waiting. */
interface Waiting {
  readonly reject: (err: unknown) => void;
}

/**
 * The app's events, for a test to wait on (`kit.events`): `next(name,
 * fields)` resolves with the next event `name` whose fields match.
 *
 * @publicApi
 */
export class TestEvents {
  private readonly waiting = new Set<Waiting>();
  private closed = false;

  /** @internal Made by the testing kit. */
  constructor(private readonly events: UnderwayEvents) {}

  /**
   * Resolves with the next event `name` emitted from now on whose fields
   * match `fields` (every field given, by deep equality): call it before the
   * `drain()` or the call that emits it, await it after.
   *
   * ```ts
   * const finished = kit.events.next('run:finished', { runId: run.id });
   * await kit.drain();
   * expect((await finished).state).toBe('succeeded');
   * ```
   *
   * @throws EventTimeoutError (as a rejection) when none comes within
   *   `timeout`; UnderwayClosedError when the app closes first;
   *   InvalidOptionsError for an unknown event name or a bad timeout
   */
  next<K extends UnderwayEventName>(
    name: K,
    fields: EventFields<K> = {},
    options: NextEventOptions = {},
  ): Promise<UnderwayEventMap[K]> {
    const timeoutMs =
      options.timeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : parseDuration(options.timeout, 'timeout', { min: 1 });
    if (this.closed) {
      return Promise.reject(
        new UnderwayClosedError('UnderwayTestKit.events.next()'),
      );
    }
    const expected = Object.entries(fields);
    let timer: NodeJS.Timeout | undefined;
    let unsubscribe: (() => void) | undefined;
    const promise = new Promise<UnderwayEventMap[K]>((resolve, reject) => {
      const waiting: Waiting = {
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      const settle = (): void => {
        clearTimeout(timer);
        unsubscribe?.();
        this.waiting.delete(waiting);
      };
      unsubscribe = this.events.on(name, (payload) => {
        const actual = payload as Record<string, unknown>;
        if (
          expected.every(([key, value]) =>
            isDeepStrictEqual(actual[key], value),
          )
        ) {
          settle();
          resolve(payload);
        }
      });
      timer = setTimeout(
        () =>
          waiting.reject(
            new EventTimeoutError(name, timeoutMs, describeFields(fields)),
          ),
        timeoutMs,
      );
      this.waiting.add(waiting);
    });
    // A test that awaits it later still sees the rejection; Node does not
    // report it as unhandled meanwhile.
    promise.catch(() => undefined);
    return promise;
  }

  /** @internal The app closed: every wait rejects, no new one starts. */
  close(): void {
    this.closed = true;
    for (const waiting of [...this.waiting]) {
      waiting.reject(new UnderwayClosedError('UnderwayTestKit.events.next()'));
    }
  }
}

function describeFields(fields: object): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return 'the fields given';
  }
}
