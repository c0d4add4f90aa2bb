import {
  UnderwayEventMap,
  UnderwayEventName,
  UnderwayEvents,
} from '@underway/nestjs';
import type { InternalEventMap } from '@underway/nestjs/events/engine-event-map';
import { UNDERWAY_EVENT_NAMES } from '@underway/nestjs/events/underway-events';

const ALL = UNDERWAY_EVENT_NAMES;

/** The events a test may wait on: the public ones, and the engine's own (a scheduler pass…). */
type TestEventMap = UnderwayEventMap & InternalEventMap;
type TestEventName = keyof TestEventMap;

const INTERNAL: readonly (keyof InternalEventMap)[] = ['schedule:armed'];

export type LoggedEvent = {
  [K in TestEventName]: { name: K; payload: TestEventMap[K] };
}[TestEventName];

/**
 * Every event an app's `UnderwayEvents` emits, in order, from the moment it
 * is made; `next()` waits for one, instead of sleeping for it.
 */
export class EventLog {
  readonly events: LoggedEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: (() => void)[];

  constructor(bus: UnderwayEvents, names: readonly UnderwayEventName[] = ALL) {
    const record = (name: TestEventName, payload: unknown): void => {
      this.events.push({ name, payload } as LoggedEvent);
      for (const wake of [...this.waiters]) {
        wake();
      }
    };
    this.unsubscribe = [
      ...names.map((name) => bus.on(name, (payload) => record(name, payload))),
      ...INTERNAL.map((name) =>
        bus.onEngine(name, (payload) => record(name, payload)),
      ),
    ];
  }

  /** The payloads of event `name` so far. */
  of<K extends TestEventName>(name: K): TestEventMap[K][] {
    return this.events
      .filter((e) => e.name === name)
      .map((e) => e.payload as TestEventMap[K]);
  }

  /**
   * Resolves with the first event `name` (from the start of the log) whose
   * fields match `fields`, or the first one after `after` events of the log.
   */
  next<K extends TestEventName>(
    name: K,
    fields: Partial<TestEventMap[K]> = {},
    {
      timeoutMs = 10_000,
      after = 0,
    }: { timeoutMs?: number; after?: number } = {},
  ): Promise<TestEventMap[K]> {
    const find = (): TestEventMap[K] | undefined =>
      this.events
        .slice(after)
        .find(
          (e) =>
            e.name === name &&
            Object.entries(fields).every(
              ([key, value]) =>
                (e.payload as Record<string, unknown>)[key] === value,
            ),
        )?.payload as TestEventMap[K] | undefined;
    const found = find();
    if (found) {
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `No "${name}" event matching ${JSON.stringify(fields)} within ${timeoutMs}ms; seen: ${this.events.map((e) => e.name).join(', ')}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        const event = find();
        if (event) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(event);
        }
      };
      this.waiters.add(check);
    });
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribe.splice(0)) {
      unsubscribe();
    }
  }
}
