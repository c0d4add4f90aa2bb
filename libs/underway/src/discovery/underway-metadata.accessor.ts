import { Injectable, Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ActivityMetadata } from '../decorators/activity.decorator';
import type { StepMetadata } from '../decorators/step.decorator';
import type { WorkflowOptions } from '../decorators/workflow-options.interface';
import type { EventListenerMetadata } from '../events/on-underway-event.decorator';
import {
  ACTIVITIES_METADATA,
  STEPS_METADATA,
  UNDERWAY_EVENT_METADATA,
  WORKFLOW_METADATA,
} from '../underway.constants';

/** The only reader of Underway's decorator metadata. */
@Injectable()
export class UnderwayMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  isWorkflow(target: Type | Function | undefined): boolean {
    return !!target && this.getWorkflowOptions(target) !== undefined;
  }

  getWorkflowOptions(target: Function): WorkflowOptions | undefined {
    return this.reflector.get<WorkflowOptions | undefined>(
      WORKFLOW_METADATA,
      target,
    );
  }

  /** The class's `@Step` methods, in declaration order. */
  getSteps(target: Function): readonly StepMetadata[] {
    return (
      this.reflector.get<StepMetadata[] | undefined>(STEPS_METADATA, target) ??
      []
    );
  }

  /** The class's `@Activity` methods, in declaration order. */
  getActivities(target: Function): readonly ActivityMetadata[] {
    return (
      this.reflector.get<ActivityMetadata[] | undefined>(
        ACTIVITIES_METADATA,
        target,
      ) ?? []
    );
  }

  /**
   * The class's `@OnUnderwayEvent` methods, its base classes' included
   * (a method overridden below is subscribed once, as the instance has it).
   */
  getEventListeners(target: Function): readonly EventListenerMetadata[] {
    const found: EventListenerMetadata[] = [];
    const seen = new Map<string | symbol, Set<string>>();
    for (
      let ctor: unknown = target;
      typeof ctor === 'function' && ctor !== Function.prototype;
      ctor = Object.getPrototypeOf(ctor)
    ) {
      const own =
        (Reflect.getOwnMetadata(UNDERWAY_EVENT_METADATA, ctor) as
          EventListenerMetadata[] | undefined) ?? [];
      for (const entry of own) {
        let names = seen.get(entry.method);
        if (!names) {
          names = new Set();
          seen.set(entry.method, names);
        }
        if (!names.has(entry.name)) {
          names.add(entry.name);
          found.push(entry);
        }
      }
    }
    return found;
  }
}
