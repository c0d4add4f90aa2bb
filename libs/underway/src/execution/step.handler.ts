import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { runOutsideActivity } from './current-activity';
import type { RecordedCallsLoader } from './recorded-calls.loader';
import { CallInterruption, ChildSource, StepJournal } from './step-journal';
import { describeType, describeValue } from '../errors/describe-value';
import { parseDuration } from '../common/duration';
import { deserializePayload, serializePayload } from '../common/json-payload';
import type {
  StepDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type {
  WorkflowRef,
  WorkflowRegistry,
} from '../discovery/workflow.registry';
import { classifyError, fatalError } from '../errors/classify-error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { UnderwayError } from '../errors/underway.error';
import type { ClaimedStep, RunOutcome } from '../model/claim';
import { createStepContext, StepContext } from './step-context';
import type { StepAbort } from './step-abort';
import { invokeStep } from './invoke';
import { Transition } from './transition';
import type {
  AttemptFailer,
  FoundTask,
  StartedAttempt,
  TaskKind,
} from './attempt-pipeline';

/** A step found in the registry. */
interface FoundStep extends FoundTask {
  readonly definition: WorkflowDefinition;
  readonly step: StepDefinition;
}

/**
 * Steps, as the attempt pipeline runs them: the method with its input and
 * its `ctx` (whose journal of `ctx.call`s and `ctx.emit`s replays what the
 * step recorded), and what it returned turned into a transition: the next
 * step, a completion, or a suspension on new calls.
 */
export class StepKind implements TaskKind<ClaimedStep, RunOutcome, FoundStep> {
  readonly noun = 'Step';
  private readonly logger = new Logger(StepKind.name);

  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly maxPayloadBytes: number,
    /** Reads the calls a step recorded, for its replay. */
    private readonly recordedCalls: Pick<
      RecordedCallsLoader,
      'load' | 'forget'
    >,
  ) {}

  labelOf(claim: ClaimedStep): string {
    return claim.workflowName;
  }

  find(
    claim: ClaimedStep,
  ): FoundStep | { readonly missing: ReturnType<typeof fatalError> } {
    const definition = this.registry.find(
      claim.workflowName,
      claim.workflowVersion,
    );
    const step = definition?.stepsByName.get(claim.stepName);
    if (!definition || !step) {
      // Never: the claim takes only steps of the versions registered here.
      return {
        missing: fatalError(
          'step_not_found',
          `Run is at step "${claim.stepName}" of workflow "${claim.workflowName}" version ${claim.workflowVersion}, which ` +
            (definition
              ? 'has no step of that name here'
              : 'is not registered here'),
        ),
      };
    }
    return {
      label: `${definition.name}#${String(step.method)}`,
      retry: step.policy.retry,
      timeoutMs: step.policy.timeoutMs,
      transactional: step.transactional,
      definition,
      step,
    };
  }

  finished(claim: ClaimedStep, outcome: RunOutcome | undefined): void {
    const kind = outcome?.kind;
    if (kind === 'next' || kind === 'complete' || kind === 'fail') {
      // The step is over: its record is not replayed here again.
      this.recordedCalls.forget(claim.id, claim.stepIndex);
    }
  }

  start(
    claim: ClaimedStep,
    found: FoundStep,
    controller: StepAbort,
    manager: EntityManager | undefined,
  ): StartedAttempt<RunOutcome> {
    const { definition, label } = found;
    const childSource: ChildSource = {
      definitionOf: (workflow) => this.registry.get(workflow as WorkflowRef),
      concurrencyKey: claim.concurrencyKey ?? null,
    };
    const calls = new StepJournal({
      definition,
      runId: claim.id,
      step: label,
      recordedCount: claim.recordedCalls,
      load: () =>
        this.recordedCalls.load(claim.id, claim.stepIndex, claim.recordedCalls),
      maxPayloadBytes: this.maxPayloadBytes,
      abort: controller,
      children: childSource,
      onInterrupt: () => controller.abort(new StepAbortedError('suspended')),
      onRefused: (kind, method, error) => {
        // Always one of ours: CallOutsideStepError, or the abort reason.
        const { code, message } = classifyError(error);
        this.logger.warn(
          `Run ${claim.id} ${label} attempt ${claim.attempt}/${claim.maxAttempts}: ` +
            `ctx.${kind}('${method}') was refused, nothing was recorded: [${code}] ${message}`,
        );
      },
    });
    const ctx: StepContext = createStepContext(
      claim,
      definition,
      controller,
      calls,
      manager,
      { source: childSource, maxPayloadBytes: this.maxPayloadBytes },
    );
    return new StepAttempt(this, claim, found, controller, calls, ctx);
  }

  /** @internal The outcome of an attempt that its calls suspended or failed. */
  interrupted(
    claim: ClaimedStep,
    label: string,
    interruption: CallInterruption,
    calls: StepJournal,
    failer: AttemptFailer<RunOutcome>,
  ): RunOutcome {
    if (interruption.kind === 'suspend') {
      this.logger.debug(
        `Run ${claim.id} ${label} suspended on ${describeNewEntries(calls.newCalls)}`,
      );
      return { kind: 'suspend', calls: calls.newCalls };
    }
    return failer.fail(interruption.error);
  }

  /** @internal The outcome of a step that returned `value`. */
  transition(
    definition: WorkflowDefinition,
    step: StepDefinition,
    label: string,
    value: unknown,
    failer: AttemptFailer<RunOutcome>,
  ): RunOutcome {
    const fail = (error: ReturnType<typeof fatalError>): RunOutcome =>
      failer.fail(error);
    const method = `${definition.className}.${String(step.method)}`;
    if (!Transition.is(value)) {
      return fail(
        fatalError(
          'invalid_transition',
          `${method} returned ${describeType(value)}; a step must return ` +
            'Transition.next(input), Transition.after(input, delay) or Transition.complete(output)',
        ),
      );
    }
    if (value.kind !== 'complete' && value.kind !== 'next') {
      return fail(
        fatalError(
          'invalid_transition',
          `${method} returned a transition of unknown kind ${describeValue(value.kind)}; ` +
            'a step must return Transition.next(input), Transition.after(input, delay) or Transition.complete(output)',
        ),
      );
    }
    try {
      if (value.kind === 'complete') {
        return {
          kind: 'complete',
          output: serializePayload(
            value.output,
            this.maxPayloadBytes,
            'output',
          ),
        };
      }
      const next = definition.steps[step.index + 1];
      if (!next) {
        return fail(
          fatalError(
            'invalid_transition',
            `${method} returned Transition.next() but is the last step; ` +
              'return Transition.complete() instead',
          ),
        );
      }
      return {
        kind: 'next',
        stepName: next.name,
        input: serializePayload(
          value.input,
          this.maxPayloadBytes,
          'step input',
        ),
        delayMs:
          value.delay !== undefined
            ? parseDuration(value.delay, `${label} Transition.after delay`)
            : (next.delayMs ?? 0),
        maxAttempts: next.policy.retry.maxAttempts,
        leaseMs: next.policy.leaseMs,
        priority: next.priority ?? null,
      };
    } catch (err) {
      if (err instanceof UnderwayError) {
        // A value that cannot be stored will not become storable on retry.
        return fail({ ...classifyError(err), retryable: false });
      }
      throw err;
    }
  }
}

/** One attempt of a step: its journal and context, and what becomes of what it did. */
class StepAttempt implements StartedAttempt<RunOutcome> {
  constructor(
    private readonly kind: StepKind,
    private readonly claim: ClaimedStep,
    private readonly found: FoundStep,
    private readonly controller: StepAbort,
    private readonly calls: StepJournal,
    private readonly ctx: StepContext,
  ) {}

  invoke(): Promise<unknown> {
    // Outside any activity whatever woke the worker's loop: a ctx.call
    // made from an activity's code is refused, and a step's never is.
    return runOutsideActivity(() =>
      invokeStep(
        this.found.definition,
        this.found.step,
        deserializePayload(this.claim.input),
        this.ctx,
        this.controller,
      ),
    );
  }

  interrupted(failer: AttemptFailer<RunOutcome>): RunOutcome | undefined {
    const interruption = this.calls.close();
    return interruption
      ? this.kind.interrupted(
          this.claim,
          this.found.label,
          interruption,
          this.calls,
          failer,
        )
      : undefined;
  }

  succeeded(value: unknown, failer: AttemptFailer<RunOutcome>): RunOutcome {
    const { definition, step, label } = this.found;
    let outcome: RunOutcome;
    try {
      outcome = this.kind.transition(definition, step, label, value, failer);
    } catch (err) {
      // What the step returned could not even be read (a throwing getter,
      // a revoked Proxy): reading it again will not help.
      return failer.fail(
        fatalError(
          'invalid_transition',
          `${definition.className}.${String(step.method)} returned a value that could not be read: ${classifyError(err).message}`,
        ),
      );
    }
    // The attempt's emits are written with the outcome that ends it well.
    const newCalls = this.calls.newCalls;
    return newCalls.length > 0 &&
      (outcome.kind === 'next' || outcome.kind === 'complete')
      ? { ...outcome, calls: newCalls }
      : outcome;
  }
}

/** What a suspension recorded, for its log line: `2 new activity call(s), 1 wait`. */
function describeNewEntries(entries: StepJournal['newCalls']): string {
  const count = (kind: string) => entries.filter((e) => e.kind === kind).length;
  const parts = [
    [count('call'), 'new activity call(s)'],
    [count('wait'), 'wait(s) for a signal'],
    [count('sleep'), 'sleep(s)'],
    [count('child'), 'child run(s)'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`);
  return parts.length > 0 ? parts.join(', ') : 'entries already recorded';
}
