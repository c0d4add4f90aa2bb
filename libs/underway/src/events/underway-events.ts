import { Injectable, Logger } from '@nestjs/common';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { EngineEventMap, EngineEventName } from './engine-event-map';
import type {
  UnderwayEventListener,
  UnderwayEventName,
} from './underway-event-map';

type Listener = (payload: never) => unknown;

/** Every public event name, in the order of `UnderwayEventMap`. */
export const UNDERWAY_EVENT_NAMES: readonly UnderwayEventName[] = [
  'run:enqueued',
  'attempt:started',
  'attempt:settled',
  'run:finished',
  'lease:lost',
  'schedule:fired',
  'signal:received',
  'listener:connected',
  'listener:lost',
];

/** To refuse a misspelt name at `on()` (JavaScript callers). */
const EVENT_NAMES: ReadonlySet<string> = new Set(UNDERWAY_EVENT_NAMES);

/** Whether `name` is an event `UnderwayEvents` emits. */
export function isUnderwayEventName(name: unknown): name is UnderwayEventName {
  return typeof name === 'string' && EVENT_NAMES.has(name);
}

/**
 * What happens in Underway, as typed events (`UnderwayEventMap`), emitted
 * after the change they report committed. Inject it to subscribe:
 *
 * ```ts
 * constructor(events: UnderwayEvents) {
 *   events.on('run:finished', ({ runId, state }) => this.audit(runId, state));
 * }
 * ```
 *
 * or decorate a provider's method with `@OnUnderwayEvent('run:finished')`.
 * Listeners run synchronously in the code path that emits, in subscription
 * order: keep them quick. One may be async; it is never awaited. A throw or a
 * rejection is logged at error level and changes nothing. With no listener
 * for a name, emitting it costs one lookup.
 *
 * @publicApi
 */
@Injectable()
export class UnderwayEvents {
  private readonly logger = new Logger(UnderwayEvents.name);
  private readonly listeners = new Map<EngineEventName, Set<Listener>>();

  /**
   * Calls `listener` with every event `name` from now on.
   * @returns a function that unsubscribes it
   * @throws InvalidOptionsError for an unknown event name or a listener that is not a function
   */
  on<K extends UnderwayEventName>(
    name: K,
    listener: UnderwayEventListener<K>,
  ): () => void {
    if (!isUnderwayEventName(name)) {
      throw new InvalidOptionsError(
        'name',
        `is not an Underway event (known: ${[...EVENT_NAMES].join(', ')})`,
      );
    }
    if (typeof listener !== 'function') {
      throw new InvalidOptionsError('listener', 'must be a function');
    }
    return this.subscribe(name, listener);
  }

  /** @internal Subscribes one of the library's own listeners, internal events included. */
  onEngine<K extends EngineEventName>(
    name: K,
    listener: (payload: EngineEventMap[K]) => unknown,
  ): () => void {
    return this.subscribe(name, listener);
  }

  /** @internal Whether anything listens to `name` (build a payload only then). */
  has(name: EngineEventName): boolean {
    return this.listeners.has(name);
  }

  private subscribe<K extends EngineEventName>(
    name: K,
    listener: (payload: EngineEventMap[K]) => unknown,
  ): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    // A wrapper per subscription: the same function subscribed twice is called twice.
    const entry: Listener = (payload) => listener(payload);
    set.add(entry);
    return () => {
      const current = this.listeners.get(name);
      if (current?.delete(entry) && current.size === 0) {
        this.listeners.delete(name);
      }
    };
  }

  /**
   * @internal Calls the listeners of `name` with `payload`, now. Only the
   * engine emits, once the change is committed.
   */
  emit<K extends EngineEventName>(name: K, payload: EngineEventMap[K]): void {
    const set = this.listeners.get(name);
    if (!set) {
      return;
    }
    for (const listener of [...set]) {
      try {
        const result: unknown = (
          listener as (payload: EngineEventMap[K]) => unknown
        )(payload);
        if (isThenable(result)) {
          result.then(undefined, (err: unknown) => this.failed(name, err));
        }
      } catch (err) {
        this.failed(name, err);
      }
    }
  }

  private failed(name: EngineEventName, err: unknown): void {
    this.logger.error(
      `A listener of "${name}" failed: ${describe(err)}`,
      err instanceof Error ? err.stack : undefined,
    );
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'a value that cannot be printed';
  }
}
