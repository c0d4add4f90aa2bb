import { Injectable, Type } from '@nestjs/common';
import { DuplicateWorkflowError } from '../errors/duplicate-workflow.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { WorkflowNotRegisteredError } from '../errors/workflow-not-registered.error';
import { claimScope, ClaimScope, workflowKey } from '../model/claim-scope';
import type { WorkflowDefinition } from './workflow-definition';

/** A workflow as client calls name it: its class or its name. */
export type WorkflowRef = Type<object> | string;

/**
 * The registered workflows, filled at boot by `UnderwayExplorer`: each by its
 * (name, version), several versions of one name side by side. A class names
 * its own version; a name alone, the highest registered here.
 */
@Injectable()
export class WorkflowRegistry {
  /** By name, each name's versions, highest first. */
  private readonly byName = new Map<string, WorkflowDefinition[]>();
  private readonly byClass = new Map<Function, WorkflowDefinition>();

  register(definition: WorkflowDefinition): void {
    const versions = this.byName.get(definition.name) ?? [];
    const existing = versions.find((v) => v.version === definition.version);
    if (existing) {
      throw new DuplicateWorkflowError(
        definition.name,
        existing.className,
        definition.className,
        existing.instance.constructor === definition.instance.constructor,
        versions.length > 1 || definition.version !== 1
          ? definition.version
          : undefined,
      );
    }
    versions.push(definition);
    versions.sort((a, b) => b.version - a.version);
    this.byName.set(definition.name, versions);
    this.byClass.set(definition.instance.constructor, definition);
  }

  /**
   * A class's own definition, or a name's highest version.
   * @throws WorkflowNotRegisteredError
   */
  get(workflow: WorkflowRef): WorkflowDefinition {
    const definition =
      typeof workflow === 'string'
        ? this.byName.get(workflow)?.[0]
        : this.byClass.get(workflow);
    if (!definition) {
      throw new WorkflowNotRegisteredError(
        typeof workflow === 'string' ? workflow : String(workflow?.name),
        this.names(),
      );
    }
    return definition;
  }

  /** Version `version` of `name`; without a version, the highest registered. */
  find(name: string, version?: number): WorkflowDefinition | undefined {
    const versions = this.byName.get(name);
    return version === undefined
      ? versions?.[0]
      : versions?.find((v) => v.version === version);
  }

  /** The versions of `name` registered here, highest first. */
  versionsOf(name: string): readonly WorkflowDefinition[] {
    return this.byName.get(name) ?? [];
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

  /** Every registered version of the workflows named. */
  definitionsOf(names: readonly string[]): WorkflowDefinition[] {
    return names.flatMap((name) => this.versionsOf(name));
  }

  /** What an instance running the workflows `names` may claim: every version of each, at its steps. */
  scopeOf(names: readonly string[]): ClaimScope {
    return claimScope(
      this.definitionsOf(names).map((definition) => ({
        name: definition.name,
        version: definition.version,
        steps: definition.steps.map((step) => step.name),
      })),
    );
  }

  /** The durable step names of every version of `names`, in order, by `workflowKey`. */
  stepNamesOf(names: readonly string[]): Record<string, readonly string[]> {
    const steps: Record<string, readonly string[]> = {};
    for (const definition of this.definitionsOf(names)) {
      steps[workflowKey(definition.name, definition.version)] =
        definition.steps.map((step) => step.name);
    }
    return steps;
  }

  /** The registered workflow names, once each. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every registered definition, every version. */
  all(): WorkflowDefinition[] {
    return [...this.byName.values()].flat();
  }

  /** The highest version of each name. */
  latest(): WorkflowDefinition[] {
    return [...this.byName.values()].map((versions) => versions[0]!);
  }
}
