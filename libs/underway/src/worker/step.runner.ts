import { Logger } from '@nestjs/common';
import { describeValue } from '../common/describe-value';
import { formatDuration, parseDuration } from '../common/duration';
import { isTransientPgError, pgErrorCode } from '../database/pg-errors';
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
import { StepAbortedError } from '../errors/step-aborted.error';
import { StepTimeoutError } from '../errors/step-timeout.error';
import { UnderwayError } from '../errors/underway.error';
import type { ActivityExecutor } from '../activity/activity.executor';
import type { RecordedCallRow } from '../activity/activity.sql';
import { CallInterruption, StepCalls } from '../activity/step-calls';
import type {
  ActivityOutcome,
  Claim,
  ClaimedRun,
  RunOutcome,
} from '../queue/claimed-run';
import type { RunEvents } from '../workflow/run-events';
import { createStepContext } from '../workflow/step-context';
import { StepAbort } from '../workflow/step-abort';
import { invokeStep } from '../workflow/step.executor';
import { Transition } from '../workflow/transition';
import type { LeaseKeeper } from './lease.keeper';
import { decideFailure } from './failure-decision';
import type { OutcomeBatcher } from './outcome.batcher';

/** How the runner asks the claim loop to look for work again. */
export interface WakeScheduler {
  /** New work is due now. */
  claimSoon(): void;
  /** New work becomes due in this many ms (from a statement already committed). */
  wakeIn(delayMs: number): void;
}

/** Run ids named in the warning about claims that could not be given back. */
const RELEASE_IDS_LOGGED = 10;

/**
 * Runs one claimed step: holds its lease, invokes the method under its
 * timeout, turns the result (or the thrown value) into an outcome, and commits
 * it fenced by the claim. Never throws: every path ends in a committed outcome,
 * a log line, or both.
 */
export class StepRunner {
  private readonly logger = new Logger(StepRunner.name);
  /** The latest claim of each run held here, by run id (for cancel and shutdown). */
  private readonly running = new Map<string, StepAbort>();
  /**
   * The abort state of each claim. A run can be held twice for a moment (a
   * stale queued claim and a fresh one after its lease was taken back), so
   * each claim keeps its own, and only removes what is its own.
   */
  private readonly aborts = new WeakMap<Claim, StepAbort>();

  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly leases: LeaseKeeper,
    private readonly outcomes: OutcomeBatcher,
    private readonly events: RunEvents,
    private readonly wake: WakeScheduler,
    private readonly maxPayloadBytes: number,
    private readonly activities: ActivityExecutor,
    /** Reads the calls a step recorded, for its replay. */
    private readonly recordedCalls: (
      runId: string,
      stepIndex: number,
    ) => Promise<RecordedCallRow[]>,
  ) {}

  /** Takes charge of a claimed task from the moment it is claimed: its lease, its signal. */
  hold(claimed: Claim): StepAbort {
    const controller = new StepAbort();
    this.aborts.set(claimed, controller);
    this.running.set(claimed.id, controller);
    this.leases.track(claimed, controller);
    return controller;
  }

  /** Gives back claimed runs that never started, without counting an attempt. */
  async release(runs: readonly Claim[]): Promise<void> {
    const failed: Claim[] = [];
    let lastError: unknown;
    await Promise.all(
      runs.map(async (claimed) => {
        try {
          await this.submit(claimed, { kind: 'release' });
        } catch (err) {
          failed.push(claimed);
          lastError = err;
        } finally {
          this.forget(claimed);
        }
      }),
    );
    if (failed.length > 0) {
      // One line for them all: a worker may hold hundreds (prefetch).
      const shown = failed.slice(0, RELEASE_IDS_LOGGED).map((run) => run.id);
      const more = failed.length - shown.length;
      this.logger.warn(
        `Could not give back ${failed.length} claim(s) (${(lastError as Error).message}); ` +
          `their leases will lapse: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
      );
    }
  }

  /**
   * @param stepDone called as soon as the step's code has finished (the worker
   *   slot is free again), before its outcome is committed.
   */
  async run(claimed: Claim, stepDone: () => void): Promise<void> {
    const controller = this.aborts.get(claimed) ?? this.hold(claimed);
    try {
      const outcome =
        claimed.kind === 'step'
          ? await this.execute(claimed, controller)
          : await this.activities.execute(claimed, controller);
      stepDone();
      if (outcome) {
        const committed = await this.commit(claimed, outcome);
        this.afterCommit(
          claimed,
          committed.outcome,
          committed.state,
          controller,
        );
      }
    } catch (err) {
      this.logger.error(
        `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
          `could not commit its outcome (${(err as Error).message}); the lease will lapse and the step run again`,
        (err as Error).stack,
      );
    } finally {
      stepDone();
      this.forget(claimed);
    }
  }

  /**
   * Commits the outcome; one the database refuses for good (not a transient
   * error: a value it cannot store, say) fails the attempt for good instead,
   * with that reason recorded. Otherwise the attempt would end in a lapsed
   * lease, run again, and be refused again, each time recorded as a crash.
   */
  private async commit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
  ): Promise<{
    outcome: RunOutcome | ActivityOutcome;
    state: string | undefined;
  }> {
    try {
      return { outcome, state: await this.submit(claimed, outcome) };
    } catch (err) {
      if (outcome.kind === 'release' || isTransientPgError(err)) {
        throw err;
      }
      const code = pgErrorCode(err);
      const fallback = {
        kind: 'fail',
        attemptState: 'failed',
        error: fatalError(
          'unstorable_outcome',
          `The database refused to store this attempt's outcome (${outcome.kind}): ` +
            `${(err as Error).message}${code ? ` (SQLSTATE ${code})` : ''}`,
        ),
      } as const;
      this.logger.error(
        `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
          `its outcome was refused (${code ?? (err as Error).message}); failing ${claimed.kind === 'step' ? 'the run' : 'the call'}`,
      );
      return {
        outcome: fallback,
        state: await this.submit(claimed, fallback),
      };
    }
  }

  /** Queues the outcome of either kind of claim for the next commit. */
  private submit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
  ): Promise<string | undefined> {
    return claimed.kind === 'step'
      ? this.outcomes.submit(claimed, outcome as RunOutcome)
      : this.outcomes.submit(claimed, outcome as ActivityOutcome);
  }

  private forget(claimed: Claim): void {
    this.leases.untrack(claimed);
    if (this.running.get(claimed.id) === this.aborts.get(claimed)) {
      this.running.delete(claimed.id);
    }
  }

  /** Aborts the step and activity calls of `runId` that run here (the run was cancelled). */
  cancel(runId: string): void {
    const callPrefix = `${runId}/`;
    for (const [id, controller] of this.running) {
      if ((id === runId || id.startsWith(callPrefix)) && !controller.aborted) {
        this.logger.log(
          `Run ${runId} was cancelled while its ${id === runId ? 'step' : 'activity call'} ran; aborting it`,
        );
        controller.abort(new StepAbortedError('run_cancelled'));
      }
    }
  }

  /** Aborts every step in flight (shutdown); each gives its claim back. */
  abortAll(reason: StepAbortedError): void {
    for (const controller of this.running.values()) {
      controller.abort(reason);
    }
  }

  private async execute(
    claimed: ClaimedRun,
    controller: StepAbort,
  ): Promise<RunOutcome | undefined> {
    const definition = this.registry.find(claimed.workflowName);
    const step = definition?.steps[claimed.stepIndex];
    if (!definition || !step) {
      return this.failure(
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
      );
    }
    const timeoutMs = step.policy.timeoutMs;
    const timer = setTimeout(
      () => controller.abort(new StepTimeoutError(timeoutMs)),
      timeoutMs,
    );
    const calls = new StepCalls(
      definition,
      claimed.recordedCalls,
      () => this.recordedCalls(claimed.id, claimed.stepIndex),
      this.maxPayloadBytes,
      () => controller.abort(new StepAbortedError('suspended')),
    );
    let value: unknown;
    let thrown: { value: unknown } | undefined;
    try {
      const ctx = createStepContext(claimed, definition, controller, calls);
      this.logger.debug(
        `Run ${claimed.id} ${this.label(definition, step)} attempt ${claimed.attempt}/${claimed.maxAttempts} started`,
      );
      value = await invokeStep(
        definition,
        step,
        deserializePayload(claimed.input),
        ctx,
        controller,
      );
    } catch (err) {
      thrown = { value: err };
    } finally {
      clearTimeout(timer);
    }
    const reason: unknown = controller.aborted ? controller.reason : undefined;
    const interruption = calls.close();
    if (
      reason instanceof StepAbortedError &&
      (reason.code === 'lease_lost' || reason.code === 'run_cancelled')
    ) {
      return undefined; // the claim is gone: write nothing
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
        classifyError(timedOut ? reason : thrown.value),
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
          `${definition.className}.${step.method} returned ${describe(value)}; a step must return ` +
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

  private afterCommit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
    state: string | undefined,
    controller: StepAbort,
  ): void {
    if (state === undefined) {
      this.logger.warn(
        `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
          `outcome discarded, this worker no longer holds the ${claimed.kind === 'step' ? 'run' : 'call'} (lease expired or run cancelled)`,
      );
      controller.abort(new StepAbortedError('lease_lost'));
      return;
    }
    switch (outcome.kind) {
      case 'complete':
      case 'fail':
        if (claimed.kind === 'step') {
          this.events.finished(claimed.id);
          this.logger.debug(
            `Run ${claimed.id} ${claimed.workflowName} ${state}`,
          );
        } else {
          this.wake.claimSoon(); // it may have woken its step
        }
        return;
      case 'next':
      case 'retry':
        if (outcome.delayMs > 0) {
          this.wake.wakeIn(outcome.delayMs);
        } else {
          this.wake.claimSoon();
        }
        return;
      case 'succeed': // it may have woken its step
      case 'suspend': // its calls are due now
      case 'release':
        this.wake.claimSoon();
        return;
    }
  }

  private label(definition: WorkflowDefinition, step: StepDefinition): string {
    return `${definition.name}#${step.method}`;
  }
}

function describe(value: unknown): string {
  if (value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'object') {
    return `an object (${value.constructor?.name ?? 'Object'})`;
  }
  return `a ${typeof value}`;
}

/** A claim, for log lines: `Run <id> <workflow> step 1` or `… activity <name> (call 0 of step 1)`. */
function taskLabel(claimed: Claim): string {
  return claimed.kind === 'step'
    ? `Run ${claimed.id} ${claimed.workflowName} step ${claimed.stepIndex}`
    : `Run ${claimed.runId} ${claimed.workflowName} activity ${claimed.name} (${claimed.callKind} ${claimed.callIndex} of step ${claimed.stepIndex})`;
}
