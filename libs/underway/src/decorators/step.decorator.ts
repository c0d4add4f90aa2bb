import { STEPS_METADATA } from '../underway.constants';
import type { StepOptions } from './workflow-options.interface';

/** What `@Step()` records, on the class, in declaration order. */
export interface StepMetadata {
  readonly method: string | symbol;
  readonly options: StepOptions;
}

/**
 * Marks a method of a `@Workflow` class as a step. Steps run in declaration
 * order; each receives the input given by the previous step's
 * `Transition.next(input)` (the first: the run's input) and a `StepContext`.
 *
 * The metadata is stored on the class, keyed by method name, so it survives
 * other decorators that wrap the method.
 *
 * @publicApi
 */
export function Step(options: StepOptions = {}): MethodDecorator {
  return (target, propertyKey) => {
    const ctor = target.constructor;
    const existing =
      (Reflect.getOwnMetadata(STEPS_METADATA, ctor) as
        StepMetadata[] | undefined) ?? [];
    const step: StepMetadata = { method: propertyKey, options };
    Reflect.defineMetadata(STEPS_METADATA, [...existing, step], ctor);
  };
}
