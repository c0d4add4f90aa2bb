import { Inject, Injectable, Logger } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { describeValue } from '../common/describe-value';
import { parseDuration } from '../common/duration';
import { INT32_MAX, INT32_MIN, isInt32, nameProblem } from '../common/limits';
import type { StepMetadata } from '../decorators/step.decorator';
import type {
  StepOptions,
  WorkflowOptions,
} from '../decorators/workflow-options.interface';
import { InvalidWorkflowDefinitionError } from '../errors/invalid-workflow-definition.error';
import { UnderwayError } from '../errors/underway.error';
import { resolveDefaults } from '../options/resolve-options';
import type {
  ResolvedDefaults,
  ResolvedOptions,
} from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.module-definition';
import { UnderwayMetadataAccessor } from './underway-metadata.accessor';
import type { StepDefinition, WorkflowDefinition } from './workflow-definition';
import { WorkflowRegistry } from './workflow.registry';

const WORKFLOW_KEYS = new Set([
  'name',
  'retry',
  'timeout',
  'heartbeat',
  'ttl',
  'priority',
  'deadLetter',
]);
const STEP_KEYS = new Set([
  'retry',
  'timeout',
  'heartbeat',
  'priority',
  'delay',
]);
const MAX_NAME_LENGTH = 200;

/**
 * Finds every `@Workflow` provider at boot, validates its decorators and
 * registers a frozen definition. Bad definitions fail the boot with a typed
 * error naming the class and method.
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
    this.checkKeys(options, WORKFLOW_KEYS, className, '@Workflow');
    const name = this.checkName(options.name, className);
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance) {
      throw new InvalidWorkflowDefinitionError(
        className,
        'the provider has no instance (is it declared with useValue: undefined?)',
      );
    }
    const workflowPolicy = this.resolvePolicy(
      this.options.defaults,
      options,
      className,
      '@Workflow',
    );
    const stepMetadata = this.accessor.getSteps(target);
    if (stepMetadata.length === 0) {
      throw new InvalidWorkflowDefinitionError(
        className,
        '@Workflow class has no @Step() method. Decorate at least one method with @Step().',
      );
    }
    const seen = new Set<string>();
    const steps = stepMetadata.map((metadata, index) => {
      const step = this.defineStep(
        metadata,
        index,
        className,
        instance,
        workflowPolicy,
      );
      if (seen.has(step.method)) {
        throw new InvalidWorkflowDefinitionError(
          `${className}.${step.method}`,
          '@Step() is applied more than once to this method',
        );
      }
      seen.add(step.method);
      return step;
    });
    return Object.freeze({
      name,
      className,
      instance,
      steps: Object.freeze(steps),
      priority: this.checkPriority(options.priority, className, 0),
      ttlMs: workflowPolicy.ttlMs,
      deadLetter:
        options.deadLetter === undefined
          ? undefined
          : this.checkName(options.deadLetter, className, 'deadLetter'),
    });
  }

  private defineStep(
    metadata: StepMetadata,
    index: number,
    className: string,
    instance: Record<string, unknown>,
    workflowPolicy: ResolvedDefaults,
  ): StepDefinition {
    if (typeof metadata.method !== 'string') {
      throw new InvalidWorkflowDefinitionError(
        `${className}.${String(metadata.method)}`,
        '@Step() must decorate a method with a string name, not a symbol',
      );
    }
    const target = `${className}.${metadata.method}`;
    if (typeof instance[metadata.method] !== 'function') {
      throw new InvalidWorkflowDefinitionError(
        target,
        '@Step() must decorate a method',
      );
    }
    const options: StepOptions = metadata.options ?? {};
    this.checkKeys(options, STEP_KEYS, target, '@Step');
    const policy = this.resolvePolicy(workflowPolicy, options, target, '@Step');
    return Object.freeze({
      index,
      method: metadata.method,
      policy: Object.freeze({
        retry: policy.retry,
        timeoutMs: policy.timeoutMs,
        heartbeatMs: policy.heartbeatMs,
      }),
      priority:
        options.priority === undefined
          ? undefined
          : this.checkPriority(options.priority, target, 0),
      delayMs:
        options.delay === undefined
          ? undefined
          : this.wrap(target, () =>
              parseDuration(options.delay, '@Step.delay'),
            ),
    });
  }

  private resolvePolicy(
    base: ResolvedDefaults,
    options: WorkflowOptions | StepOptions,
    target: string,
    label: string,
  ): ResolvedDefaults {
    return this.wrap(target, () =>
      resolveDefaults(
        base,
        {
          retry: options.retry,
          timeout: options.timeout,
          heartbeat: options.heartbeat,
          ttl: 'ttl' in options ? options.ttl : undefined,
        },
        label,
      ),
    );
  }

  /** Re-throws an option error as a definition error that names the class/method. */
  private wrap<T>(target: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof UnderwayError) {
        throw new InvalidWorkflowDefinitionError(target, err.message, {
          cause: err,
        });
      }
      throw err;
    }
  }

  private checkName(name: unknown, className: string, option = 'name'): string {
    if (
      nameProblem(name, MAX_NAME_LENGTH) !== undefined ||
      (name as string).trim().length === 0
    ) {
      throw new InvalidWorkflowDefinitionError(
        className,
        `@Workflow({ ${option} }) must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, ` +
          `without \\u0000 or a lone surrogate, got ${describeValue(name)}`,
      );
    }
    return name as string;
  }

  private checkPriority(
    value: unknown,
    target: string,
    fallback: number,
  ): number {
    if (value === undefined) {
      return fallback;
    }
    if (!isInt32(value)) {
      throw new InvalidWorkflowDefinitionError(
        target,
        `priority must be a 32-bit integer (${INT32_MIN} to ${INT32_MAX}), got ${describeValue(value)}`,
      );
    }
    return value;
  }

  private checkKeys(
    options: object,
    known: ReadonlySet<string>,
    target: string,
    decorator: string,
  ): void {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidWorkflowDefinitionError(
        target,
        `${decorator}() options must be an object`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!known.has(key)) {
        throw new InvalidWorkflowDefinitionError(
          target,
          `${decorator}() has an unknown option "${key}" (known: ${[...known].join(', ')})`,
        );
      }
    }
  }
}
