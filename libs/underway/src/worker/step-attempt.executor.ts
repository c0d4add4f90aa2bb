import { Logger } from '@nestjs/common';
import type { RecordedCallsLoader } from '../activity/recorded-calls.loader';
import { runOutsideActivity } from '../activity/current-activity';
import { CallInterruption, StepCalls } from '../activity/step-calls';
import { describeType, describeValue } from '../common/describe-value';
import { formatDuration, parseDuration } from '../common/duration';
import { deserializePayload, serializePayload } from '../common/json-payload';
import type {
  StepDefinition,
  WorkflowDefinition,
} from '../discovery/workflow-definition';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import {
  classifyError,
  ErrorRecord,
  fatalError,
} from '../errors/classify-error';
import { OwnRunLockError } from '../errors/own-run-lock.error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { StepTimeoutError } from '../errors/step-timeout.error';
import { UnderwayError } from '../errors/underway.error';
import type { EntityManager } from 'typeorm';
import type { ClaimedRun, RunOutcome } from '../queue/claimed-run';
import {
  attemptInTransaction,
  AttemptTransaction,
  TransactionOpener,
} from '../transaction/attempt-transaction';
import { createStepContext } from '../workflow/step-context';
import type { StepAbort } from '../workflow/step-abort';
import { invokeStep } from '../workflow/step.executor';
import { Transition } from '../workflow/transition';
import { decideFailure } from './failure-decision';
import { lateBy } from './late-result';

/**
 * An attempt's outcome, and for a transactional one its open transaction,
 * which the outcome commits (or which is rolled back).
 */
export interface Executed<O> {
  readonly outcome: O | undefined;
  readonly transaction?: AttemptTransaction;
  /**
   * For a transactional attempt: the outcome of a failure found when its
   * outcome was to commit (its own writes failed, or its transaction was
   * not the one it was given), decided like an error it threw.
   */
  readonly failed?: (error: ErrorRecord) => O;
}

/**
 * Runs one claimed step attempt: invokes the method under its timeout with
 * its `ctx` (calls and emits included), and turns what it returned, threw or
 * was interrupted by (a suspension, a call that cannot be made) into the
 * outcome to commit. `undefined`: write nothing (the claim is gone). The step
 * runner holds the lease and commits; the activity executor is its twin for
 * activity calls.
 */
export class StepExecutor {
  private readonly logger = new Logger('StepRunner');

  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly maxPayloadBytes: number,
    /** Reads the calls a step recorded, for its replay. */
    private readonly recordedCalls: Pick<
      RecordedCallsLoader,
      'load' | 'forget'
    >,
    private readonly transactions: TransactionOpener,
  ) {}

  async execute(
    claimed: ClaimedRun,
    controller: StepAbort,
  ): Promise<Executed<RunOutcome>> {
    const executed = await this.executeStep(claimed, controller);
    const kind = executed.outcome?.kind;
    if (kind === 'next' || kind === 'complete' || kind === 'fail') {
      // The step is over: its record is not replayed here again.
      this.recordedCalls.forget(claimed.id, claimed.stepIndex);
    }
    return executed;
  }

  private async executeStep(
    claimed: ClaimedRun,
    controller: StepAbort,
  ): Promise<Executed<RunOutcome>> {
    const definition = this.registry.find(claimed.workflowName);
    const step = definition?.steps[claimed.stepIndex];
    if (!definition || !step) {
      return {
        outcome: this.failure(
          claimed,
          undefined,
          fatalError(
            'invalid_step',
            `Run is at step ${claimed.stepIndex} of workflow "${claimed.workflowName}", which ` +
              (definition
                ? `has only ${definition.steps.length} step(s) here; was a step removed while runs were in flight?`
                : 'is not registered here'),
          ),
          'failed',
        ),
      };
    }
    if (!step.transactional) {
      return {
        outcome: await this.attempt(claimed, controller, definition, step),
      };
    }
    const failed = (error: ErrorRecord): RunOutcome =>
      this.failure(claimed, step, error, 'failed', definition);
    // No connection of the app's pool, say: a failed attempt, retried.
    const executed = await attemptInTransaction(
      this.transactions,
      claimed,
      `run ${claimed.id} ${this.label(definition, step)}`,
      (manager) => this.attempt(claimed, controller, definition, step, manager),
      (err) => failed(classifyError(err)),
    );
    return { ...executed, failed };
  }

  /** The outcome of an attempt an interceptor refused to run: a failed attempt, per the step's policy. */
  refused(claimed: ClaimedRun, err: unknown): RunOutcome {
    const definition = this.registry.find(claimed.workflowName);
    const step = definition?.steps[claimed.stepIndex];
    return this.failure(
      claimed,
      step,
      classifyError(err),
      'failed',
      definition,
    );
  }

  private async attempt(
    claimed: ClaimedRun,
    controller: StepAbort,
    definition: WorkflowDefinition,
    step: StepDefinition,
    manager?: EntityManager,
  ): Promise<RunOutcome | undefined> {
    const timeoutMs = step.policy.timeoutMs;
    const startedAt = performance.now();
    const timer = setTimeout(
      () => controller.abort(new StepTimeoutError(timeoutMs)),
      timeoutMs,
    );
    const label = this.label(definition, step);
    const calls = new StepCalls({
      definition,
      runId: claimed.id,
      step: label,
      recordedCount: claimed.recordedCalls,
      load: () =>
        this.recordedCalls.load(
          claimed.id,
          claimed.stepIndex,
          claimed.recordedCalls,
        ),
      maxPayloadBytes: this.maxPayloadBytes,
      abort: controller,
      onInterrupt: () => controller.abort(new StepAbortedError('suspended')),
      onRefused: (kind, method, error) => {
        // Always one of ours: CallOutsideStepError, or the abort reason.
        const { code, message } = classifyError(error);
        this.logger.warn(
          `Run ${claimed.id} ${label} attempt ${claimed.attempt}/${claimed.maxAttempts}: ` +
            `ctx.${kind}('${method}') was refused, nothing was recorded: [${code}] ${message}`,
        );
      },
    });
    let value: unknown;
    let thrown: { value: unknown } | undefined;
    try {
      const ctx = createStepContext(
        claimed,
        definition,
        controller,
        calls,
        manager,
      );
      this.logger.debug(
        `Run ${claimed.id} ${label} attempt ${claimed.attempt}/${claimed.maxAttempts} started`,
      );
      // Outside any activity whatever woke the worker's loop: a ctx.call
      // made from an activity's code is refused, and a step's never is.
      value = await runOutsideActivity(() =>
        invokeStep(
          definition,
          step,
          deserializePayload(claimed.input),
          ctx,
          controller,
        ),
      );
    } catch (err) {
      thrown = { value: err };
    } finally {
      clearTimeout(timer);
    }
    const late = lateBy(controller, startedAt, timeoutMs);
    if (late !== undefined && !controller.aborted) {
      controller.abort(new StepTimeoutError(timeoutMs, 'Step', late));
    }
    const reason: unknown = controller.aborted ? controller.reason : undefined;
    const interruption = calls.close();
    if (
      reason instanceof StepAbortedError &&
      (reason.code === 'lease_lost' || reason.code === 'run_cancelled')
    ) {
      return undefined; // the claim is gone: write nothing
    }
    if (late !== undefined) {
      // Whatever it produced (a transition, an error, a suspension) came
      // after its timeout: discarded, as if the timer had fired in time.
      return this.failure(
        claimed,
        step,
        classifyError(new StepTimeoutError(timeoutMs, 'Step', late)),
        'timed_out',
        definition,
      );
    }
    if (interruption) {
      return this.interrupted(claimed, definition, step, interruption, calls);
    }
    if (thrown) {
      if (reason instanceof StepAbortedError) {
        // Shutdown gives the claim back.
        return reason.code === 'shutdown' ? { kind: 'release' } : undefined;
      }
      // Only our own reason is inspected: `thrown` may be anything, even a
      // revoked Proxy that `instanceof` cannot look at (classifyError can).
      const timedOut = reason instanceof StepTimeoutError;
      return this.failure(
        claimed,
        step,
        classifyError(
          timedOut || reason instanceof OwnRunLockError ? reason : thrown.value,
        ),
        timedOut ? 'timed_out' : 'failed',
        definition,
      );
    }
    let outcome: RunOutcome;
    try {
      outcome = this.transition(claimed, definition, step, value);
    } catch (err) {
      // What the step returned could not even be read (a throwing getter,
      // a revoked Proxy): reading it again will not help.
      return this.failure(
        claimed,
        step,
        fatalError(
          'invalid_transition',
          `${definition.className}.${step.method} returned a value that could not be read: ${classifyError(err).message}`,
        ),
        'failed',
        definition,
      );
    }
    // The attempt's emits are written with the outcome that ends it well.
    return calls.newCalls.length > 0 &&
      (outcome.kind === 'next' || outcome.kind === 'complete')
      ? { ...outcome, calls: calls.newCalls }
      : outcome;
  }

  /** The outcome of an attempt that its calls suspended or failed. */
  private interrupted(
    claimed: ClaimedRun,
    definition: WorkflowDefinition,
    step: StepDefinition,
    interruption: CallInterruption,
    calls: StepCalls,
  ): RunOutcome {
    if (interruption.kind === 'suspend') {
      const waiting = calls.newCalls.filter((c) => c.kind === 'call').length;
      this.logger.debug(
        `Run ${claimed.id} ${this.label(definition, step)} suspended on ${waiting} new activity call(s)`,
      );
      return { kind: 'suspend', calls: calls.newCalls };
    }
    return this.failure(
      claimed,
      step,
      interruption.error,
      'failed',
      definition,
    );
  }

  /** The outcome of a step that returned `value`. */
  private transition(
    claimed: ClaimedRun,
    definition: WorkflowDefinition,
    step: StepDefinition,
    value: unknown,
  ): RunOutcome {
    const label = this.label(definition, step);
    if (!Transition.is(value)) {
      return this.failure(
        claimed,
        step,
        fatalError(
          'invalid_transition',
          `${definition.className}.${step.method} returned ${describeType(value)}; a step must return ` +
            'Transition.next(input), Transition.after(input, delay) or Transition.complete(output)',
        ),
        'failed',
        definition,
      );
    }
    if (value.kind !== 'complete' && value.kind !== 'next') {
      return this.failure(
        claimed,
        step,
        fatalError(
          'invalid_transition',
          `${definition.className}.${step.method} returned a transition of unknown kind ${describeValue(value.kind)}; ` +
            'a step must return Transition.next(input), Transition.after(input, delay) or Transition.complete(output)',
        ),
        'failed',
        definition,
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
        return this.failure(
          claimed,
          step,
          fatalError(
            'invalid_transition',
            `${definition.className}.${step.method} returned Transition.next() but is the last step; ` +
              'return Transition.complete() instead',
          ),
          'failed',
          definition,
        );
      }
      return {
        kind: 'next',
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
        leaseMs: next.policy.heartbeatMs,
        priority: next.priority ?? null,
      };
    } catch (err) {
      if (err instanceof UnderwayError) {
        // A value that cannot be stored will not become storable on retry.
        return this.failure(
          claimed,
          step,
          { ...classifyError(err), retryable: false },
          'failed',
          definition,
        );
      }
      throw err;
    }
  }

  private failure(
    claimed: ClaimedRun,
    step: StepDefinition | undefined,
    error: ErrorRecord,
    attemptState: 'failed' | 'timed_out',
    definition?: WorkflowDefinition,
  ): RunOutcome {
    const label =
      definition && step ? this.label(definition, step) : claimed.workflowName;
    const attempts = `attempt ${claimed.attempt}/${claimed.maxAttempts}`;
    const decision = step
      ? decideFailure(
          step.policy.retry,
          claimed.attempt,
          claimed.maxAttempts,
          error,
        )
      : ({ kind: 'fail', fatal: true } as const);
    if (decision.kind === 'fail') {
      this.logger.error(
        `Run ${claimed.id} ${label} ${attempts} failed${decision.fatal ? '' : ', no attempts left'}: [${error.code}] ${error.message}`,
      );
      return { kind: 'fail', error, attemptState };
    }
    this.logger.warn(
      `Run ${claimed.id} ${label} ${attempts} failed, retrying in ${formatDuration(decision.delayMs)}: [${error.code}] ${error.message}`,
    );
    return { kind: 'retry', delayMs: decision.delayMs, error, attemptState };
  }

  private label(definition: WorkflowDefinition, step: StepDefinition): string {
    return `${definition.name}#${step.method}`;
  }
}
