import { Inject, Injectable, Logger } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import type { WorkflowOptions } from '../decorators/workflow-options.interface';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { InvalidWorkflowDefinitionError } from '../errors/invalid-workflow-definition.error';
import { InterceptorChain } from '../events/interceptor-chain';
import { isUnderwayEventName, UnderwayEvents } from '../events/underway-events';
import { UnderwayInterceptor } from '../events/underway.interceptor';
import { TracingInterceptor } from '../observability/tracing.interceptor';
import type { ResolvedOptions } from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { UnderwayMetadataAccessor } from './underway-metadata.accessor';
import type { WorkflowDefinition } from './workflow-definition';
import { defineWorkflow } from './workflow-definition.factory';
import { WorkflowRegistry } from './workflow.registry';

/**
 * Finds, at boot, every `@Workflow` provider and registers its definition
 * (validated and resolved by `defineWorkflow`), and every provider method
 * decorated with `@OnUnderwayEvent` and subscribes it to `UnderwayEvents`.
 * Bad definitions fail the boot with a typed error naming the class and method.
 */
@Injectable()
export class UnderwayExplorer {
  private readonly logger = new Logger(UnderwayExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly accessor: UnderwayMetadataAccessor,
    private readonly registry: WorkflowRegistry,
    @Inject(UNDERWAY_OPTIONS) private readonly options: ResolvedOptions,
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
    private readonly tracing: TracingInterceptor,
  ) {}

  explore(): void {
    const interceptors: UnderwayInterceptor[] = [];
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
      if (!target) {
        continue;
      }
      if (
        wrapper.instance instanceof UnderwayInterceptor &&
        !(wrapper.instance instanceof TracingInterceptor) &&
        !interceptors.includes(wrapper.instance)
      ) {
        interceptors.push(this.interceptor(wrapper, target));
      }
      this.subscribe(wrapper, target);
      if (this.accessor.isWorkflow(target)) {
        this.registry.register(this.define(wrapper, target));
      }
    }
    this.interceptors.use(
      this.tracing.enabled ? [this.tracing, ...interceptors] : interceptors,
    );
    const names = this.registry.names();
    this.logger.log(
      `Registered ${names.length} workflow${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`,
    );
  }

  /** An app's `UnderwayInterceptor`: a singleton, used as it is. */
  private interceptor(
    wrapper: InstanceWrapper,
    target: Function,
  ): UnderwayInterceptor {
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      throw new InvalidOptionsError(
        `UnderwayInterceptor ${target.name || '<anonymous class>'}`,
        'it must be a singleton provider, but it is request-scoped or transient (itself or through a dependency)',
      );
    }
    return wrapper.instance as UnderwayInterceptor;
  }

  /** Subscribes the provider's `@OnUnderwayEvent` methods. */
  private subscribe(wrapper: InstanceWrapper, target: Function): void {
    const listeners = this.accessor.getEventListeners(target);
    if (listeners.length === 0) {
      return;
    }
    const className = target.name || '<anonymous class>';
    const first = listeners[0]!;
    const path = `${className}.${String(first.method)}`;
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      throw new InvalidOptionsError(
        `@OnUnderwayEvent() on ${path}`,
        'its provider must be a singleton, but it is request-scoped or transient (itself or through a dependency)',
      );
    }
    const instance = wrapper.instance as Record<string | symbol, unknown>;
    for (const { method, name } of listeners) {
      const where = `@OnUnderwayEvent() on ${className}.${String(method)}`;
      if (!isUnderwayEventName(name)) {
        throw new InvalidOptionsError(
          where,
          `${JSON.stringify(name)} is not an Underway event`,
        );
      }
      const fn = instance[method];
      if (typeof fn !== 'function') {
        throw new InvalidOptionsError(where, 'it is not a method');
      }
      this.events.on(name, (payload) =>
        (fn as (payload: unknown) => unknown).call(instance, payload),
      );
    }
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
