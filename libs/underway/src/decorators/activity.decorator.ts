import { ACTIVITIES_METADATA } from '../underway.constants';
import type { ActivityOptions } from './workflow-options.interface';

/** What `@Activity()` records, on the class, in declaration order. */
export interface ActivityMetadata {
  readonly method: string | symbol;
  readonly options: ActivityOptions;
}

/**
 * Marks a method of a `@Workflow` class as an activity: work its steps call
 * with `ctx.call(method, ...args)` (or start with `ctx.emit`), run as its own
 * claimable task with its own retries, lease and timeout. `name` is the
 * durable name stored with each call (default: the method name), so the
 * method can be renamed without breaking runs in flight.
 *
 * Only records metadata; validation happens at boot, with the steps.
 *
 * @publicApi
 */
export function Activity(options: ActivityOptions = {}): MethodDecorator {
  return (target, propertyKey) => {
    const ctor = target.constructor;
    const existing =
      (Reflect.getOwnMetadata(ACTIVITIES_METADATA, ctor) as
        ActivityMetadata[] | undefined) ?? [];
    const activity: ActivityMetadata = { method: propertyKey, options };
    Reflect.defineMetadata(ACTIVITIES_METADATA, [...existing, activity], ctor);
  };
}
