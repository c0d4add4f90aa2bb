import { UNDERWAY_EVENT_METADATA } from '../underway.constants';
import type { UnderwayEventName } from './underway-event-map';

/** What `@OnUnderwayEvent()` records, on the class. */
export interface EventListenerMetadata {
  readonly method: string | symbol;
  readonly name: UnderwayEventName;
}

/**
 * Subscribes the decorated method of a provider to event `name` of
 * `UnderwayEvents` at boot (the provider must be a singleton). The method
 * gets the event's payload; it may be async (never awaited), and a throw is
 * logged, never propagated.
 *
 * ```ts
 * @Injectable()
 * export class RunAudit {
 *   @OnUnderwayEvent('run:finished')
 *   record({ runId, workflowName, state }: UnderwayEventMap['run:finished']) { … }
 * }
 * ```
 *
 * The metadata is stored on the class, keyed by method name, so it survives
 * other decorators that wrap the method; methods inherited from a decorated
 * base class are subscribed too.
 *
 * @publicApi
 */
export function OnUnderwayEvent(name: UnderwayEventName): MethodDecorator {
  return (target, propertyKey) => {
    const ctor = target.constructor;
    const existing =
      (Reflect.getOwnMetadata(UNDERWAY_EVENT_METADATA, ctor) as
        EventListenerMetadata[] | undefined) ?? [];
    const entry: EventListenerMetadata = { method: propertyKey, name };
    Reflect.defineMetadata(UNDERWAY_EVENT_METADATA, [...existing, entry], ctor);
  };
}
