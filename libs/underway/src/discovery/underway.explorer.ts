import { Inject, Injectable, Logger } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import type { WorkflowOptions } from '../decorators/workflow-options.interface';
import { InvalidWorkflowDefinitionError } from '../errors/invalid-workflow-definition.error';
import type { ResolvedOptions } from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.module-definition';
import { UnderwayMetadataAccessor } from './underway-metadata.accessor';
import type { WorkflowDefinition } from './workflow-definition';
import { defineWorkflow } from './workflow-definition.factory';
import { WorkflowRegistry } from './workflow.registry';

/**
 * Finds every `@Workflow` provider at boot and registers its definition
 * (validated and resolved by `defineWorkflow`). Bad definitions fail the boot
 * with a typed error naming the class and method.
 */
@Injectable()
export class UnderwayExplorer {
  private readonly logger = new Logger(UnderwayExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly accessor: UnderwayMetadataAccessor,
    private readonly registry: WorkflowRegistry,
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
  ) {}

  explore(): void {
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.isAlias) {
        continue; // `useExisting`: the same instance is found under its own token
      }
      // A provider made by `useFactory` or `useValue` has no (or a misleading)
      // metatype: its class is the instance's constructor, as in @nestjs/bullmq.
      const target: Function | undefined =
        !wrapper.metatype || wrapper.inject
          ? (wrapper.instance as object | undefined)?.constructor
          : wrapper.metatype;
      if (!target || !this.accessor.isWorkflow(target)) {
        continue;
      }
      this.registry.register(this.define(wrapper, target));
    }
    const names = this.registry.names();
    this.logger.log(
      `Registered ${names.length} workflow${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`,
    );
  }

  private define(
    wrapper: InstanceWrapper,
    target: Function,
  ): WorkflowDefinition {
    const className = target.name || '<anonymous class>';
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      throw new InvalidWorkflowDefinitionError(
        className,
        'a @Workflow class must be a singleton provider: it is request-scoped or transient ' +
          '(itself or through a dependency). Durable steps run outside any request; inject ' +
          'request-scoped services elsewhere and pass what the step needs in its input.',
      );
    }
    const options = this.accessor.getWorkflowOptions(target) as WorkflowOptions;
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance) {
      throw new InvalidWorkflowDefinitionError(
        className,
        'the provider has no instance (is it declared with useValue: undefined?)',
      );
    }
    return defineWorkflow(
      {
        className,
        instance,
        options,
        steps: this.accessor.getSteps(target),
        activities: this.accessor.getActivities(target),
      },
      this.options.defaults,
      this.options.maxInputSizeBytes,
    );
  }
}
