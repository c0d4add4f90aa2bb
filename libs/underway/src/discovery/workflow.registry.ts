import { Injectable, Type } from '@nestjs/common';
import { DuplicateWorkflowError } from '../errors/duplicate-workflow.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { WorkflowNotRegisteredError } from '../errors/workflow-not-registered.error';
import type { WorkflowDefinition } from './workflow-definition';

/** A workflow as client calls name it: its class or its name. */
export type WorkflowRef = Type<object> | string;

/** The one name → definition map, filled at boot by `UnderwayExplorer`. */
@Injectable()
export class WorkflowRegistry {
  private readonly byName = new Map<string, WorkflowDefinition>();
  private readonly byClass = new Map<Function, WorkflowDefinition>();

  register(definition: WorkflowDefinition): void {
    const existing = this.byName.get(definition.name);
    if (existing) {
      throw new DuplicateWorkflowError(
        definition.name,
        existing.className,
        definition.className,
        existing.instance.constructor === definition.instance.constructor,
      );
    }
    this.byName.set(definition.name, definition);
    this.byClass.set(definition.instance.constructor, definition);
  }

  /** @throws WorkflowNotRegisteredError */
  get(workflow: WorkflowRef): WorkflowDefinition {
    const definition =
      typeof workflow === 'string'
        ? this.byName.get(workflow)
        : this.byClass.get(workflow);
    if (!definition) {
      throw new WorkflowNotRegisteredError(
        typeof workflow === 'string' ? workflow : String(workflow?.name),
        this.names(),
      );
    }
    return definition;
  }

  find(name: string): WorkflowDefinition | undefined {
    return this.byName.get(name);
  }

  /**
   * The workflows a worker runs: those of `runtime.workflows`, else all.
   * @throws InvalidOptionsError for a listed name that is not registered
   */
  namesToRun(only: readonly string[] | undefined): string[] {
    if (!only) {
      return this.names();
    }
    for (const name of only) {
      if (!this.byName.has(name)) {
        throw new InvalidOptionsError(
          'runtime.workflows',
          `lists "${name}", which is not registered (registered: ${this.names().join(', ') || 'none'})`,
        );
      }
    }
    return [...only];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  all(): WorkflowDefinition[] {
    return [...this.byName.values()];
  }
}
