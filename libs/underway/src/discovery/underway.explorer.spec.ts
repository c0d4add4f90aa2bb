import {
  Inject,
  Injectable,
  Module,
  Provider,
  Scope,
  Type,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, TestingModule } from '@nestjs/testing';
import type { Duration } from '../common/duration';
import {
  INT32_MAX,
  INT32_MIN,
  MAX_ATTEMPTS,
  MAX_STORED_DURATION_MS,
} from '../common/limits';
import { DEFAULT_RETRY_POLICY } from '../common/retry-policy';
import { Activity } from '../decorators/activity.decorator';
import { Step } from '../decorators/step.decorator';
import type {
  ActivityOptions,
  StepOptions,
  WorkflowOptions,
} from '../decorators/workflow-options.interface';
import { Workflow } from '../decorators/workflow.decorator';
import { DuplicateWorkflowError } from '../errors/duplicate-workflow.error';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { InvalidWorkflowDefinitionError } from '../errors/invalid-workflow-definition.error';
import { WorkflowNotRegisteredError } from '../errors/workflow-not-registered.error';
import { resolveOptions } from '../options/resolve-options';
import type { ResolvedOptions } from '../options/resolved-options';
import { UNDERWAY_OPTIONS } from '../underway.constants';
import { Transition } from '../execution/transition';
import { UnderwayMetadataAccessor } from './underway-metadata.accessor';
import { InterceptorChain } from '../events/interceptor-chain';
import { UnderwayEvents } from '../events/underway-events';
import { TracingInterceptor } from '../observability/tracing.interceptor';
import { UnderwayExplorer } from './underway.explorer';
import type { WorkflowDefinition } from './workflow-definition';
import { WorkflowRegistry } from './workflow.registry';

/** A value the `Duration` type refuses, to reach the run-time checks. */
const badDuration = (value: string): Duration => value as unknown as Duration;

// ---------------------------------------------------------------- fixtures

@Workflow({ name: 'ordered' })
class OrderedWorkflow {
  @Step()
  charge() {
    return Transition.next(1);
  }

  @Step()
  ship() {
    return Transition.next(2);
  }

  @Step()
  notify() {
    return Transition.complete();
  }
}

@Workflow({ name: 'policies', retry: { maxAttempts: 4 }, timeout: '5m' })
class PolicyWorkflow {
  @Step()
  inherit() {
    return Transition.next(1);
  }

  @Step({ retry: { maxAttempts: 2 }, heartbeat: '45s' })
  override() {
    return Transition.next(2);
  }

  @Step({ timeout: '30s', retry: { jitterFactor: 0 } })
  partial() {
    return Transition.complete();
  }
}

@Workflow({ name: 'plain' })
class PlainWorkflow {
  @Step()
  only() {
    return Transition.complete();
  }
}

@Workflow({ name: 'tuned', priority: 5, ttl: '1d' })
class TunedWorkflow {
  @Step({ priority: -2, delay: '5m' })
  later() {
    return Transition.complete();
  }
}

@Workflow({ name: 'no-steps' })
class NoStepWorkflow {
  notAStep() {
    return Transition.complete();
  }
}

@Workflow({ name: 'dup' })
class FirstDupWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Workflow({ name: 'dup' })
class SecondDupWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Injectable({ scope: Scope.REQUEST })
@Workflow({ name: 'request-scoped' })
class RequestScopedWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Workflow({ name: 'request-scoped-below' })
@Injectable({ scope: Scope.REQUEST })
class RequestScopedBelowWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Injectable({ scope: Scope.TRANSIENT })
@Workflow({ name: 'transient' })
class TransientWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestContext {}

@Workflow({ name: 'depends-on-request' })
class DependsOnRequestWorkflow {
  constructor(@Inject(RequestContext) readonly context: RequestContext) {}

  @Step()
  run() {
    return Transition.complete();
  }
}

const workflowTypo = { name: 'typo', retires: 3 };
@Workflow(workflowTypo)
class WorkflowTypoWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

const stepTypo = { timeout: '1m' as const, retires: 3 };
@Workflow({ name: 'step-typo' })
class StepTypoWorkflow {
  @Step(stepTypo)
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'step-retry-typo' })
class StepRetryTypoWorkflow {
  @Step({ retry: { maxAttempt: 1 } as StepOptions['retry'] })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-retry' })
class BadStepRetryWorkflow {
  @Step({ retry: { maxAttempts: 0 } })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-timeout' })
class BadStepTimeoutWorkflow {
  @Step({ timeout: badDuration('soon') })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-heartbeat' })
class BadStepHeartbeatWorkflow {
  @Step({ heartbeat: '10ms' })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-delay' })
class BadStepDelayWorkflow {
  @Step({ delay: '-1s' })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-step-priority' })
class BadStepPriorityWorkflow {
  @Step({ priority: 1.5 })
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-workflow-retry', retry: { jitterFactor: 2 } })
class BadWorkflowRetryWorkflow {
  @Step()
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'bad-workflow-timeout', timeout: badDuration('forever') })
class BadWorkflowTimeoutWorkflow {
  @Step()
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: '' })
class EmptyNameWorkflow {
  @Step()
  send() {
    return Transition.complete();
  }
}

@Workflow({} as WorkflowOptions)
class NamelessWorkflow {
  @Step()
  send() {
    return Transition.complete();
  }
}

@Workflow({ name: 'twice' })
class TwiceDecoratedWorkflow {
  @Step()
  @Step()
  send() {
    return Transition.complete();
  }
}

const SYMBOL_STEP = Symbol('symbolStep');
@Workflow({ name: 'symbol-step' })
class SymbolStepWorkflow {
  @Step()
  [SYMBOL_STEP]() {
    return Transition.complete();
  }
}

@Workflow({ name: 'factory' })
class FactoryWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

@Workflow({ name: 'value' })
class ValueWorkflow {
  @Step()
  run() {
    return Transition.complete();
  }
}

/** Two distinct classes that share a class name and a workflow name. */
function makeClashWorkflow(): Type {
  @Workflow({ name: 'clash' })
  class ClashWorkflow {
    @Step()
    run() {
      return Transition.complete();
    }
  }
  return ClashWorkflow;
}
const ClashA = makeClashWorkflow();
const ClashB = makeClashWorkflow();

@Injectable()
class UnrelatedService {}

@Module({ providers: [PlainWorkflow] })
class FirstFeatureModule {}

@Module({ providers: [PlainWorkflow] })
class SecondFeatureModule {}

// ---------------------------------------------------------------- helpers

const opened: TestingModule[] = [];

async function boot(
  providers: Provider[],
  options: ResolvedOptions = resolveOptions({}),
  imports: Type[] = [],
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule, ...imports],
    providers: [
      UnderwayExplorer,
      UnderwayMetadataAccessor,
      WorkflowRegistry,
      UnderwayEvents,
      InterceptorChain,
      TracingInterceptor,
      { provide: UNDERWAY_OPTIONS, useValue: options },
      ...providers,
    ],
  }).compile();
  opened.push(moduleRef);
  return moduleRef;
}

/** Boots a module with `providers`, explores it and returns the registry. */
async function explore(
  providers: Provider[],
  options?: ResolvedOptions,
  imports?: Type[],
): Promise<WorkflowRegistry> {
  const moduleRef = await boot(providers, options, imports);
  moduleRef.get(UnderwayExplorer).explore();
  return moduleRef.get(WorkflowRegistry);
}

/** The error that exploring `providers` throws. */
async function exploreError(
  providers: Provider[],
  options?: ResolvedOptions,
  imports?: Type[],
): Promise<unknown> {
  const moduleRef = await boot(providers, options, imports);
  try {
    moduleRef.get(UnderwayExplorer).explore();
  } catch (err) {
    return err;
  }
  throw new Error('expected explore() to throw');
}

async function definitionOf(
  workflow: Type,
  options?: ResolvedOptions,
): Promise<WorkflowDefinition> {
  return (await explore([workflow], options)).get(workflow);
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close()));
});

// ---------------------------------------------------------------- tests

describe('UnderwayExplorer', () => {
  describe('registration', () => {
    it('registers the steps in declaration order, indexed from 0', async () => {
      const { steps } = await definitionOf(OrderedWorkflow);
      expect(steps.map((step) => [step.index, step.method])).toEqual([
        [0, 'charge'],
        [1, 'ship'],
        [2, 'notify'],
      ]);
    });

    it('records the workflow name, the class name and the Nest-managed instance', async () => {
      const registry = await explore([OrderedWorkflow]);
      const definition = registry.get(OrderedWorkflow);
      expect([definition.name, definition.className]).toEqual([
        'ordered',
        'OrderedWorkflow',
      ]);
    });

    it('keeps the Nest-managed singleton as the instance', async () => {
      const moduleRef = await boot([OrderedWorkflow]);
      moduleRef.get(UnderwayExplorer).explore();
      expect(moduleRef.get(WorkflowRegistry).get('ordered').instance).toBe(
        moduleRef.get(OrderedWorkflow),
      );
    });

    it('gives priority 0, the default ttl and no step priority or delay by default', async () => {
      const definition = await definitionOf(PlainWorkflow);
      expect([
        definition.priority,
        definition.ttlMs,
        definition.steps[0]?.priority,
        definition.steps[0]?.delayMs,
      ]).toEqual([0, 14 * 86_400_000, undefined, undefined]);
    });

    it('keeps the workflow priority and ttl, and the step priority and delay', async () => {
      const definition = await definitionOf(TunedWorkflow);
      expect([
        definition.priority,
        definition.ttlMs,
        definition.steps[0]?.priority,
        definition.steps[0]?.delayMs,
      ]).toEqual([5, 86_400_000, -2, 300_000]);
    });

    it('freezes the definition and its steps', async () => {
      const definition = await definitionOf(OrderedWorkflow);
      expect([
        Object.isFrozen(definition),
        Object.isFrozen(definition.steps),
        Object.isFrozen(definition.steps[0]),
        Object.isFrozen(definition.steps[0]?.policy),
      ]).toEqual([true, true, true, true]);
    });

    it('ignores providers that are not workflows', async () => {
      const registry = await explore([UnrelatedService, OrderedWorkflow]);
      expect(registry.names()).toEqual(['ordered']);
    });

    it('registers nothing when no workflow is provided', async () => {
      expect((await explore([UnrelatedService])).names()).toEqual([]);
    });

    it('discovers a workflow provided with useFactory', async () => {
      const registry = await explore([
        { provide: 'X', useFactory: () => new FactoryWorkflow() },
      ]);
      expect(registry.get('factory').className).toBe('FactoryWorkflow');
    });

    it('finds a factory-provided workflow by its class too', async () => {
      const registry = await explore([
        { provide: 'X', useFactory: () => new FactoryWorkflow() },
      ]);
      expect(registry.get(FactoryWorkflow).name).toBe('factory');
    });

    it('discovers a workflow provided with useValue', async () => {
      const registry = await explore([
        { provide: 'V', useValue: new ValueWorkflow() },
      ]);
      expect(registry.get('value').className).toBe('ValueWorkflow');
    });

    // Regression (fixed): `useExisting` makes a factory wrapper (`inject` set, `isAlias`
    // true) whose instance is the same workflow, so the explorer registers
    // the class a second time and throws DuplicateWorkflowError
    // ("provided more than once").
    it('registers a workflow once when it is also aliased with useExisting', async () => {
      const registry = await explore([
        OrderedWorkflow,
        { provide: 'ORDERED_ALIAS', useExisting: OrderedWorkflow },
      ]);
      expect(registry.names()).toEqual(['ordered']);
    });
  });

  describe('policies (step > workflow > module defaults > built-in)', () => {
    const moduleOptions = resolveOptions({
      defaults: {
        retry: { maxAttempts: 7, initialInterval: '3s' },
        timeout: '2m',
        heartbeat: '10s',
      },
    });

    it('gives a workflow without options the module defaults, field by field over the built-in ones', async () => {
      const { steps } = await definitionOf(PlainWorkflow, moduleOptions);
      expect(steps[0]?.policy).toEqual({
        retry: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts: 7,
          initialIntervalMs: 3_000,
        },
        timeoutMs: 120_000,
        leaseMs: 10_000,
      });
    });

    it('gives a workflow without options the built-in defaults when the module sets none', async () => {
      const { steps } = await definitionOf(PlainWorkflow);
      expect(steps[0]?.policy).toEqual({
        retry: DEFAULT_RETRY_POLICY,
        timeoutMs: 900_000,
        leaseMs: 30_000,
      });
    });

    it("gives a step without options the workflow's retry and timeout, and the module's heartbeat", async () => {
      const { steps } = await definitionOf(PolicyWorkflow, moduleOptions);
      expect(steps[0]?.policy).toEqual({
        retry: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts: 4,
          initialIntervalMs: 3_000,
        },
        timeoutMs: 300_000,
        leaseMs: 10_000,
      });
    });

    it("lets a step's retry.maxAttempts and heartbeat override the workflow's and the module's", async () => {
      const { steps } = await definitionOf(PolicyWorkflow, moduleOptions);
      expect(steps[1]?.policy).toEqual({
        retry: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts: 2,
          initialIntervalMs: 3_000,
        },
        timeoutMs: 300_000,
        leaseMs: 45_000,
      });
    });

    it("lets a step's timeout override the workflow's while its retry keeps the workflow's maxAttempts", async () => {
      const { steps } = await definitionOf(PolicyWorkflow, moduleOptions);
      expect(steps[2]?.policy).toEqual({
        retry: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts: 4,
          initialIntervalMs: 3_000,
          jitterFactor: 0,
        },
        timeoutMs: 30_000,
        leaseMs: 10_000,
      });
    });
  });

  describe('boot errors', () => {
    it('rejects a transactional option that is not a boolean, on a step or an activity', async () => {
      @Workflow({ name: 'bad-tx' })
      class BadTransactionalWorkflow {
        @Activity({ transactional: 1 as unknown as boolean })
        async store() {
          return 1;
        }

        @Step({ transactional: 'yes' as unknown as boolean })
        async run() {
          return Transition.complete();
        }
      }
      const err = await exploreError([BadTransactionalWorkflow]);
      expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
      expect((err as Error).message).toBe(
        'BadTransactionalWorkflow.run: Invalid option @Step.transactional: must be true or false, got "yes"',
      );
    });

    it('marks a workflow with a transactional step or activity', async () => {
      @Workflow({ name: 'tx' })
      class TransactionalWorkflow {
        @Activity({ transactional: true })
        async store() {
          return 1;
        }

        @Step({ transactional: true })
        async run() {
          return Transition.complete();
        }
      }
      const definition = await definitionOf(TransactionalWorkflow);
      expect(definition.transactional).toBe(true);
      expect(definition.steps[0]?.transactional).toBe(true);
      expect(definition.activities.get('store')?.transactional).toBe(true);
    });

    it('rejects a @Workflow without @Step, naming the class', async () => {
      const err = await exploreError([NoStepWorkflow]);
      expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
      expect(err).toMatchObject({
        target: 'NoStepWorkflow',
        message: expect.stringMatching(
          /^NoStepWorkflow: @Workflow class has no @Step\(\) method/,
        ),
      });
    });

    it('rejects two classes with the same workflow name, naming both', async () => {
      const err = await exploreError([FirstDupWorkflow, SecondDupWorkflow]);
      expect(err).toBeInstanceOf(DuplicateWorkflowError);
      expect(err).toMatchObject({
        workflowName: 'dup',
        message:
          'Workflow name "dup" is used by both FirstDupWorkflow and SecondDupWorkflow. Give each @Workflow a unique name, or, for two versions of one workflow, a different @Workflow({ version }).',
      });
    });

    describe('versions and step names', () => {
      @Workflow({ name: 'signup' })
      class SignupV1 {
        @Step()
        async resolve() {
          return Transition.next(undefined);
        }

        @Step({ name: 'welcome' })
        async sendWelcome() {
          return Transition.complete();
        }
      }

      @Workflow({ name: 'signup', version: 3 })
      class SignupV3 {
        @Step()
        async resolve() {
          return Transition.complete();
        }
      }

      @Workflow({ name: 'signup', version: 3 })
      class SignupV3Again {
        @Step()
        async resolve() {
          return Transition.complete();
        }
      }

      it('registers several versions of one name: a class is its own version, the name the highest', async () => {
        const registry = await explore([SignupV1, SignupV3]);
        expect(registry.get(SignupV1).version).toBe(1);
        expect(registry.get(SignupV3).version).toBe(3);
        expect(registry.get('signup').className).toBe('SignupV3');
        expect(registry.find('signup', 1)?.className).toBe('SignupV1');
        expect(registry.find('signup', 2)).toBeUndefined();
        expect(registry.names()).toEqual(['signup']);
        expect(registry.all().map((d) => d.version)).toEqual([3, 1]);
        expect(registry.scopeOf(['signup'])).toEqual({
          names: ['signup'],
          workflowKeys: ['3:signup', '1:signup'],
          stepKeys: [
            '3:7:resolve:signup',
            '1:7:resolve:signup',
            '1:7:welcome:signup',
          ],
        });
      });

      it('names a step by @Step({ name }), else by its method', async () => {
        const definition = await definitionOf(SignupV1);
        expect(definition.steps.map((s) => [s.name, s.method])).toEqual([
          ['resolve', 'resolve'],
          ['welcome', 'sendWelcome'],
        ]);
        expect(definition.stepsByName.get('welcome')?.method).toBe(
          'sendWelcome',
        );
      });

      it('rejects two classes of one name and version, naming both and the version', async () => {
        const err = await exploreError([SignupV3, SignupV3Again]);
        expect(err).toBeInstanceOf(DuplicateWorkflowError);
        expect((err as Error).message).toBe(
          'Workflow "signup" version 3 is declared by both SignupV3 and SignupV3Again. Give each version of a workflow its own @Workflow({ version }).',
        );
      });

      it.each([0, -1, 1.5, '2', Number.NaN, 2 ** 31])(
        'rejects @Workflow({ version: %p })',
        async (version) => {
          @Workflow({ name: 'bad-version', version: version as number })
          class BadVersion {
            @Step()
            async run() {
              return Transition.complete();
            }
          }
          const err = await exploreError([BadVersion]);
          expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
          expect((err as Error).message).toMatch(
            /^BadVersion: @Workflow\(\{ version \}\) must be an integer from 1 to 2147483647, got /,
          );
        },
      );

      it('rejects two steps of one durable name, naming both methods', async () => {
        @Workflow({ name: 'clash' })
        class Clash {
          @Step({ name: 'charge' })
          async first() {
            return Transition.next(undefined);
          }

          @Step()
          async charge() {
            return Transition.complete();
          }
        }
        const err = await exploreError([Clash]);
        expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
        expect((err as Error).message).toBe(
          'Clash.charge: its step name "charge" is already the name of Clash.first; the name is stored with each run at the step, so it must be unique in the workflow: set @Step({ name })',
        );
      });

      it.each(['', '  ', 'x'.repeat(201), 'a\u0000b'])(
        'rejects @Step({ name: %j })',
        async (name) => {
          @Workflow({ name: 'bad-step-name' })
          class BadStepName {
            @Step({ name })
            async run() {
              return Transition.complete();
            }
          }
          const err = await exploreError([BadStepName]);
          expect((err as Error).message).toMatch(
            /^BadStepName\.run: @Step\(\{ name \}\) must be a non-empty string of at most 200 characters/,
          );
        },
      );
    });

    it('rejects one class provided by two modules, saying to list it once', async () => {
      const err = await exploreError([], undefined, [
        FirstFeatureModule,
        SecondFeatureModule,
      ]);
      expect(err).toMatchObject({
        name: 'DuplicateWorkflowError',
        message:
          'Workflow "plain" (PlainWorkflow) is provided more than once. List PlainWorkflow in the providers of one module only.',
      });
    });

    // Regression (fixed): DuplicateWorkflowError compares class *names*, so two distinct
    // classes that happen to share one (e.g. two files' SignupWorkflow) get
    // the "provided more than once, list it in one module only" advice,
    // which does not fix anything.
    it('does not mistake two distinct classes with one class name for one class provided twice', async () => {
      const err = await exploreError([ClashA, ClashB]);
      expect((err as Error).message).not.toContain('provided more than once');
    });

    it('rejects a request-scoped workflow class, naming it', async () => {
      const err = await exploreError([RequestScopedWorkflow]);
      expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
      expect(err).toMatchObject({
        target: 'RequestScopedWorkflow',
        message: expect.stringContaining('must be a singleton provider'),
      });
    });

    it('rejects a transient workflow class, naming it', async () => {
      const err = await exploreError([TransientWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'TransientWorkflow',
      });
    });

    it('rejects a workflow that depends on a request-scoped provider, naming it', async () => {
      const err = await exploreError([
        RequestContext,
        DependsOnRequestWorkflow,
      ]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'DependsOnRequestWorkflow',
      });
    });

    // Regression (fixed): @Workflow applies Injectable() with no options. Decorators run
    // bottom-up, so with @Injectable({ scope: REQUEST }) written below
    // @Workflow, Injectable() overwrites the scope and the class silently
    // becomes a singleton instead of failing the boot.
    it('rejects a request-scoped workflow whichever order the decorators are written in', async () => {
      const err = await exploreError([RequestScopedBelowWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'RequestScopedBelowWorkflow',
      });
    });

    it('rejects an unknown @Workflow option, naming the class and the key', async () => {
      const err = await exploreError([WorkflowTypoWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'WorkflowTypoWorkflow',
        message: expect.stringContaining(
          '@Workflow() has an unknown option "retires"',
        ),
      });
    });

    it('rejects an unknown @Step option, naming Class.method and the key', async () => {
      const err = await exploreError([StepTypoWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'StepTypoWorkflow.send',
        message: expect.stringContaining(
          '@Step() has an unknown option "retires"',
        ),
      });
    });

    // Regression (fixed): retry policies are merged without a key check (mergeRetryPolicy),
    // so a misspelled retry field is silently ignored at every level.
    it('rejects an unknown key inside @Step({ retry }), naming Class.method', async () => {
      const err = await exploreError([StepRetryTypoWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'StepRetryTypoWorkflow.send',
      });
    });

    it.each<[string, string, string, Type]>([
      [
        'retry.maxAttempts 0',
        'BadStepRetryWorkflow.send',
        '@Step.retry.maxAttempts',
        BadStepRetryWorkflow,
      ],
      [
        'timeout "soon"',
        'BadStepTimeoutWorkflow.send',
        '@Step.timeout',
        BadStepTimeoutWorkflow,
      ],
      [
        'heartbeat below 30 ms',
        'BadStepHeartbeatWorkflow.send',
        '@Step.heartbeat',
        BadStepHeartbeatWorkflow,
      ],
      [
        'a negative delay',
        'BadStepDelayWorkflow.send',
        '@Step.delay',
        BadStepDelayWorkflow,
      ],
    ])(
      'rejects a @Step with %s, naming %s and %s',
      async (_label, target, path, workflow) => {
        const err = await exploreError([workflow]);
        expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
        expect(err).toMatchObject({
          target,
          message: expect.stringContaining(
            `${target}: Invalid option ${path}:`,
          ),
          cause: expect.objectContaining({ path }),
        });
      },
    );

    it('keeps the InvalidOptionsError as the cause of a bad step option', async () => {
      const err = await exploreError([BadStepRetryWorkflow]);
      expect((err as Error).cause).toBeInstanceOf(InvalidOptionsError);
    });

    it('rejects a non-integer step priority, naming Class.method', async () => {
      const err = await exploreError([BadStepPriorityWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'BadStepPriorityWorkflow.send',
        message:
          'BadStepPriorityWorkflow.send: priority must be a 32-bit integer (-2147483648 to 2147483647), got 1.5',
      });
    });

    it.each<[string, string, Type]>([
      [
        'retry.jitterFactor 2',
        '@Workflow.retry.jitterFactor',
        BadWorkflowRetryWorkflow,
      ],
      ['timeout "forever"', '@Workflow.timeout', BadWorkflowTimeoutWorkflow],
    ])(
      'rejects a @Workflow with %s, naming the class and %s',
      async (_label, path, workflow) => {
        const err = await exploreError([workflow]);
        expect(err).toMatchObject({
          name: 'InvalidWorkflowDefinitionError',
          target: workflow.name,
          message: expect.stringContaining(
            `${workflow.name}: Invalid option ${path}:`,
          ),
        });
      },
    );

    describe('limits: the extremes accepted, and one past them refused', () => {
      /** A one-step workflow class with these options. */
      function workflowWith(
        workflow: Record<string, unknown>,
        step: Record<string, unknown> = {},
      ): Type {
        @Workflow({ name: 'limits', ...workflow })
        class LimitsWorkflow {
          @Step(step)
          async only(): Promise<Transition> {
            return Transition.complete();
          }
        }
        return LimitsWorkflow;
      }
      const YEARS_100 = MAX_STORED_DURATION_MS;

      it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
        ['priority INT32_MIN', { priority: INT32_MIN }, {}],
        ['priority INT32_MAX', { priority: INT32_MAX }, {}],
        ['step priority INT32_MIN', {}, { priority: INT32_MIN }],
        ['ttl 0', { ttl: 0 }, {}],
        ['ttl 100 years', { ttl: YEARS_100 }, {}],
        ['step delay 100 years', {}, { delay: YEARS_100 }],
        [
          'retry.maxAttempts 1000000',
          { retry: { maxAttempts: MAX_ATTEMPTS } },
          {},
        ],
        [
          'step retry intervals of 100 years',
          {},
          { retry: { initialInterval: YEARS_100, maxInterval: YEARS_100 } },
        ],
        ['a 200-character name', { name: 'n'.repeat(200) }, {}],
        ['an astral name', { name: 'wf-😀' }, {}],
      ])('accepts %s', async (_label, workflow, step) => {
        await expect(
          definitionOf(workflowWith(workflow, step)),
        ).resolves.toBeDefined();
      });

      it.each<
        [string, Record<string, unknown>, Record<string, unknown>, string]
      >([
        [
          'priority INT32_MIN - 1',
          { priority: INT32_MIN - 1 },
          {},
          'priority must be a 32-bit integer',
        ],
        [
          'step priority INT32_MAX + 1',
          {},
          { priority: INT32_MAX + 1 },
          'priority must be a 32-bit integer',
        ],
        [
          'ttl 1e16',
          { ttl: 1e16 },
          {},
          'Invalid option @Workflow.ttl: must be between 0ms and',
        ],
        ['ttl 1e300', { ttl: 1e300 }, {}, 'Invalid option @Workflow.ttl'],
        ['step delay 1e20', {}, { delay: 1e20 }, 'Invalid option @Step.delay'],
        [
          'retry.maxAttempts 2 ** 31',
          { retry: { maxAttempts: 2 ** 31 } },
          {},
          'Invalid option @Workflow.retry.maxAttempts',
        ],
        [
          'a retry interval past 100 years',
          {},
          { retry: { maxInterval: YEARS_100 + 1 } },
          'Invalid option @Step.retry.maxInterval',
        ],
        [
          'a name with a lone surrogate',
          { name: 'w\uD800' },
          {},
          '@Workflow({ name }) must be a non-empty string',
        ],
        [
          'a name with \u0000',
          { name: 'w\u0000' },
          {},
          '@Workflow({ name }) must be a non-empty string',
        ],
        [
          'a 201-character name',
          { name: 'n'.repeat(201) },
          {},
          '@Workflow({ name }) must be a non-empty string',
        ],
        [
          'a deadLetter queue with a lone surrogate',
          { deadLetter: 'dlq-\uDE00' },
          {},
          '@Workflow({ deadLetter }) must be a non-empty string',
        ],
      ])('refuses %s', async (_label, workflow, step, message) => {
        const err = await exploreError([workflowWith(workflow, step)]);
        expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
        expect((err as Error).message).toContain(message);
      });

      it('refuses @Workflow() without options instead of ignoring the class', async () => {
        // @ts-expect-error -- the options are required; JavaScript callers can omit them
        @Workflow()
        class NamelessWorkflow {
          @Step()
          async only(): Promise<Transition> {
            return Transition.complete();
          }
        }
        const err = await exploreError([NamelessWorkflow]);
        expect(err).toMatchObject({
          name: 'InvalidWorkflowDefinitionError',
          target: 'NamelessWorkflow',
          message: expect.stringContaining(
            '@Workflow({ name }) must be a non-empty string',
          ),
        });
      });
    });

    it('rejects an empty workflow name, naming the class', async () => {
      const err = await exploreError([EmptyNameWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'EmptyNameWorkflow',
        message: expect.stringContaining(
          '@Workflow({ name }) must be a non-empty string',
        ),
      });
    });

    it('rejects a @Workflow without a name, naming the class', async () => {
      const err = await exploreError([NamelessWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'NamelessWorkflow',
        message: expect.stringContaining('got undefined'),
      });
    });

    it('rejects @Step applied twice to one method, naming Class.method', async () => {
      const err = await exploreError([TwiceDecoratedWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'TwiceDecoratedWorkflow.send',
        message:
          'TwiceDecoratedWorkflow.send: @Step() is applied more than once to this method',
      });
    });

    it('rejects @Step on a symbol-named method, naming it', async () => {
      const err = await exploreError([SymbolStepWorkflow]);
      expect(err).toMatchObject({
        name: 'InvalidWorkflowDefinitionError',
        target: 'SymbolStepWorkflow.Symbol(symbolStep)',
      });
    });
  });
});

describe('WorkflowRegistry', () => {
  it('returns the definition of a workflow by its class', async () => {
    const registry = await explore([OrderedWorkflow, PlainWorkflow]);
    expect(registry.get(PlainWorkflow).name).toBe('plain');
  });

  it('returns the definition of a workflow by its name', async () => {
    const registry = await explore([OrderedWorkflow, PlainWorkflow]);
    expect(registry.get('ordered').className).toBe('OrderedWorkflow');
  });

  it('returns the same definition by class and by name', async () => {
    const registry = await explore([OrderedWorkflow]);
    expect(registry.get(OrderedWorkflow)).toBe(registry.get('ordered'));
  });

  it('throws WorkflowNotRegisteredError for an unknown name, listing the registered names', async () => {
    const registry = await explore([OrderedWorkflow, PlainWorkflow]);
    expect(() => registry.get('signup')).toThrow(
      new WorkflowNotRegisteredError('signup', ['ordered', 'plain']),
    );
  });

  it('spells out the registered names in the message', async () => {
    const registry = await explore([OrderedWorkflow, PlainWorkflow]);
    expect(() => registry.get('signup')).toThrow(
      'Workflow "signup" is not registered. Add its @Workflow class to a module\'s providers (registered: "ordered", "plain").',
    );
  });

  it('names the class of an unregistered workflow class', async () => {
    const registry = await explore([OrderedWorkflow]);
    let thrown: unknown;
    try {
      registry.get(PlainWorkflow);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({
      name: 'WorkflowNotRegisteredError',
      workflowName: 'PlainWorkflow',
    });
  });

  it('says when no workflow is registered at all', async () => {
    const registry = await explore([]);
    expect(() => registry.get('signup')).toThrow(
      '(no workflow is registered in this application).',
    );
  });

  it('find() returns undefined for an unknown name instead of throwing', async () => {
    const registry = await explore([OrderedWorkflow]);
    expect(registry.find('signup')).toBeUndefined();
  });

  it('lists every definition with all()', async () => {
    const registry = await explore([OrderedWorkflow, PlainWorkflow]);
    expect(registry.all().map((definition) => definition.name)).toEqual([
      'ordered',
      'plain',
    ]);
  });
});

describe('UnderwayExplorer: @Activity', () => {
  @Workflow({
    name: 'with-activities',
    retry: { maxAttempts: 7, initialInterval: '2s' },
    timeout: '5m',
  })
  class ActivitiesWorkflow {
    @Activity({ name: 'lookup-email', retry: { maxAttempts: 10 } })
    async lookupEmail(userId: number): Promise<string> {
      return `user-${userId}@example.com`;
    }

    @Activity()
    async trackSignupMetric(): Promise<void> {}

    @Activity({ timeout: '30s', heartbeat: '3s' })
    async render(): Promise<string> {
      return 'pdf';
    }

    @Step()
    async resolve(): Promise<Transition> {
      return Transition.complete();
    }
  }

  it('discovers activities with the steps: durable name (default the method), policy merged over the workflow and module defaults', async () => {
    const options = resolveOptions({
      defaults: { heartbeat: '20s', retry: { jitterFactor: 0 } },
    });
    const definition = await definitionOf(ActivitiesWorkflow, options);
    expect([...definition.activities.keys()]).toEqual([
      'lookupEmail',
      'trackSignupMetric',
      'render',
    ]);
    expect(definition.activities.get('lookupEmail')).toEqual({
      name: 'lookup-email',
      method: 'lookupEmail',
      policy: {
        retry: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts: 10,
          initialIntervalMs: 2_000,
          jitterFactor: 0,
        },
        timeoutMs: 300_000,
        leaseMs: 20_000,
      },
      transactional: false,
    });
    expect(definition.activities.get('trackSignupMetric')?.name).toBe(
      'trackSignupMetric',
    );
    expect(
      definition.activities.get('trackSignupMetric')?.policy.retry.maxAttempts,
    ).toBe(7);
    expect(definition.activities.get('render')?.policy).toMatchObject({
      timeoutMs: 30_000,
      leaseMs: 3_000,
    });
    expect(Object.isFrozen(definition.activities.get('render'))).toBe(true);
  });

  it('a workflow without activities has none', async () => {
    expect((await definitionOf(PlainWorkflow)).activities.size).toBe(0);
  });

  function workflowWith(declare: (cls: { prototype: object }) => void): Type {
    @Workflow({ name: 'bad-activities' })
    class BadActivitiesWorkflow {
      @Step()
      async go(): Promise<Transition> {
        return Transition.complete();
      }

      async a(): Promise<void> {}

      async b(): Promise<void> {}
    }
    declare(BadActivitiesWorkflow);
    return BadActivitiesWorkflow;
  }
  const decorate = (
    cls: { prototype: object },
    method: string | symbol,
    decorator: MethodDecorator,
  ): void => {
    decorator(cls.prototype, method, {});
  };

  it.each<[string, (cls: { prototype: object }) => void, string, string]>([
    [
      'two activities with one durable name',
      (cls) => {
        decorate(cls, 'a', Activity({ name: 'same' }));
        decorate(cls, 'b', Activity({ name: 'same' }));
      },
      'BadActivitiesWorkflow.b',
      'its activity name "same" is already the name of BadActivitiesWorkflow.a',
    ],
    [
      'a durable name equal to another activity method name',
      (cls) => {
        decorate(cls, 'a', Activity());
        decorate(cls, 'b', Activity({ name: 'a' }));
      },
      'BadActivitiesWorkflow.b',
      'its activity name "a" is already the name of BadActivitiesWorkflow.a',
    ],
    [
      'an @Activity that is also a @Step',
      (cls) => decorate(cls, 'go', Activity()),
      'BadActivitiesWorkflow.go',
      'is both a @Step() and an @Activity()',
    ],
    [
      '@Activity applied twice',
      (cls) => {
        decorate(cls, 'a', Activity());
        decorate(cls, 'a', Activity());
      },
      'BadActivitiesWorkflow.a',
      '@Activity() is applied more than once to this method',
    ],
    [
      'an unknown option',
      (cls) =>
        decorate(
          cls,
          'a',
          Activity({ retries: 3 } as unknown as ActivityOptions),
        ),
      'BadActivitiesWorkflow.a',
      '@Activity() has an unknown option "retries" (known: name, retry, timeout, heartbeat, transactional)',
    ],
    [
      'a bad retry policy',
      (cls) => decorate(cls, 'a', Activity({ retry: { maxAttempts: 0 } })),
      'BadActivitiesWorkflow.a',
      'Invalid option @Activity.retry.maxAttempts: must be an integer from 1 to 1000000, got 0.',
    ],
    [
      'a bad timeout',
      (cls) =>
        decorate(
          cls,
          'a',
          Activity({
            timeout: 'forever' as unknown as ActivityOptions['timeout'],
          }),
        ),
      'BadActivitiesWorkflow.a',
      'Invalid option @Activity.timeout',
    ],
    [
      'an empty name',
      (cls) => decorate(cls, 'a', Activity({ name: '' })),
      'BadActivitiesWorkflow.a',
      '@Activity({ name }) must be a non-empty string',
    ],
    [
      'a name with a lone surrogate',
      (cls) => decorate(cls, 'a', Activity({ name: 'a\uD800' })),
      'BadActivitiesWorkflow.a',
      '@Activity({ name }) must be a non-empty string',
    ],
    [
      'a symbol method',
      (cls) => decorate(cls, Symbol('hidden'), Activity()),
      'BadActivitiesWorkflow.Symbol(hidden)',
      '@Activity() must decorate a method with a string name, not a symbol',
    ],
    [
      'a property that is not a method',
      (cls) => decorate(cls, 'missing', Activity()),
      'BadActivitiesWorkflow.missing',
      '@Activity() must decorate a method',
    ],
  ])(
    'refuses %s at boot, naming the method',
    async (_label, declare, target, message) => {
      const err = await exploreError([workflowWith(declare)]);
      expect(err).toBeInstanceOf(InvalidWorkflowDefinitionError);
      expect(err).toMatchObject({ target });
      expect((err as Error).message).toContain(message);
    },
  );
});
