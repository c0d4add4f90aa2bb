import { Logger } from '@nestjs/common';
import { formatDuration } from '../common/duration';
import { serializePayload } from '../common/json-payload';
import type {
  ActivityDefinition,
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
import type { ActivityOutcome, ClaimedActivity } from '../queue/claimed-run';
import { decideFailure } from '../worker/failure-decision';
import { lateBy } from '../worker/late-result';
import type { StepAbort } from '../workflow/step-abort';
import { invokeAbortable } from '../workflow/step.executor';
import type { EntityManager } from 'typeorm';
import {
  attemptInTransaction,
  TransactionOpener,
} from '../transaction/attempt-transaction';
import type { Executed } from '../worker/step-attempt.executor';
import { ActivityContext, runInActivity } from './current-activity';

/** The `@Activity` of `definition` whose durable name is `name`. */
export function findActivity(
  definition: WorkflowDefinition,
  name: string,
): ActivityDefinition | undefined {
  for (const activity of definition.activities.values()) {
    if (activity.name === name) {
      return activity;
    }
  }
  return undefined;
}

/**
 * Runs one claimed activity call: invokes the method with its recorded
 * arguments under its timeout, inside its `currentActivity()` context, and
 * turns the result (or the thrown value) into the outcome to commit. The
 * step runner holds its lease and commits the outcome, as for a step.
 */
export class ActivityExecutor {
  private readonly logger = new Logger('ActivityRunner');

  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly maxPayloadBytes: number,
    private readonly transactions: TransactionOpener,
  ) {}

  async execute(
    claimed: ClaimedActivity,
    controller: StepAbort,
  ): Promise<Executed<ActivityOutcome>> {
    const definition = this.registry.find(claimed.workflowName);
    const activity = definition && findActivity(definition, claimed.name);
    if (!definition || !activity) {
      return { outcome: this.missing(claimed, definition) };
    }
    if (!activity.transactional) {
      return {
        outcome: await this.attempt(claimed, controller, definition, activity),
      };
    }
    const failed = (error: ErrorRecord): ActivityOutcome =>
      this.failure(claimed, activity, error, 'failed');
    const executed = await attemptInTransaction(
      this.transactions,
      claimed,
      `run ${claimed.runId} ${this.label(claimed)}`,
      (manager) =>
        this.attempt(claimed, controller, definition, activity, manager),
      (err) => failed(classifyError(err)),
    );
    return { ...executed, failed };
  }

  /** The outcome of an attempt an interceptor refused to run: a failed attempt, per the activity's policy. */
  refused(claimed: ClaimedActivity, err: unknown): ActivityOutcome {
    const definition = this.registry.find(claimed.workflowName);
    const activity = definition && findActivity(definition, claimed.name);
    return this.failure(claimed, activity, classifyError(err), 'failed');
  }

  private missing(
    claimed: ClaimedActivity,
    definition: WorkflowDefinition | undefined,
  ): ActivityOutcome {
    return this.failure(
      claimed,
      undefined,
      fatalError(
        'invalid_activity',
        `Activity "${claimed.name}" of workflow "${claimed.workflowName}" is ` +
          (definition
            ? 'not an @Activity() here; was it renamed (its @Activity({ name }) changed) while calls were in flight?'
            : 'not registered here'),
      ),
      'failed',
    );
  }

  private async attempt(
    claimed: ClaimedActivity,
    controller: StepAbort,
    definition: WorkflowDefinition,
    activity: ActivityDefinition,
    manager?: EntityManager,
  ): Promise<ActivityOutcome | undefined> {
    const timeoutMs = activity.policy.timeoutMs;
    const startedAt = performance.now();
    const timer = setTimeout(
      () => controller.abort(new StepTimeoutError(timeoutMs, 'Activity')),
      timeoutMs,
    );
    let value: unknown;
    let thrown: { value: unknown } | undefined;
    try {
      const args = JSON.parse(claimed.args) as unknown[];
      const context: ActivityContext = Object.freeze({
        runId: claimed.runId,
        workflowName: claimed.workflowName,
        activityName: claimed.name,
        kind: claimed.callKind,
        stepIndex: claimed.stepIndex,
        callIndex: claimed.callIndex,
        attempt: claimed.attempt,
        maxAttempts: claimed.maxAttempts,
        get signal(): AbortSignal {
          return controller.signal;
        },
        manager,
      });
      this.logger.debug(
        `Run ${claimed.runId} ${this.label(claimed)} attempt ${claimed.attempt}/${claimed.maxAttempts} started`,
      );
      value = await runInActivity(context, () =>
        invokeAbortable(definition.instance, activity.method, args, controller),
      );
    } catch (err) {
      thrown = { value: err };
    } finally {
      clearTimeout(timer);
    }
    const late = lateBy(controller, startedAt, timeoutMs);
    if (late !== undefined) {
      // Its result (or error) came after its timeout, the timer kept from
      // firing: discarded, as if the timer had fired in time.
      const timeout = new StepTimeoutError(timeoutMs, 'Activity', late);
      controller.abort(timeout);
      return this.failure(
        claimed,
        activity,
        classifyError(timeout),
        'timed_out',
      );
    }
    if (thrown) {
      const reason: unknown = controller.aborted
        ? controller.reason
        : undefined;
      if (reason instanceof StepAbortedError) {
        // Shutdown gives the claim back; a lost lease or a cancel writes nothing.
        return reason.code === 'shutdown' ? { kind: 'release' } : undefined;
      }
      const timedOut = reason instanceof StepTimeoutError;
      return this.failure(
        claimed,
        activity,
        classifyError(
          timedOut || reason instanceof OwnRunLockError ? reason : thrown.value,
        ),
        timedOut ? 'timed_out' : 'failed',
      );
    }
    try {
      return {
        kind: 'succeed',
        result: serializePayload(
          value,
          this.maxPayloadBytes,
          'activity result',
        ),
      };
    } catch (err) {
      // A result that cannot be stored will not become storable on retry.
      return this.failure(
        claimed,
        activity,
        { ...classifyError(err), retryable: false },
        'failed',
      );
    }
  }

  private failure(
    claimed: ClaimedActivity,
    activity: ActivityDefinition | undefined,
    error: ErrorRecord,
    attemptState: 'failed' | 'timed_out',
  ): ActivityOutcome {
    const attempts = `attempt ${claimed.attempt}/${claimed.maxAttempts}`;
    const decision = activity
      ? decideFailure(
          activity.policy.retry,
          claimed.attempt,
          claimed.maxAttempts,
          error,
        )
      : ({ kind: 'fail', fatal: true } as const);
    const label = `Run ${claimed.runId} ${this.label(claimed)} ${attempts}`;
    if (decision.kind === 'fail') {
      // An emit's failure does not fail the run; a call's makes ctx.call throw.
      this.logger.error(
        `${label} failed${decision.fatal ? '' : ', no attempts left'}: [${error.code}] ${error.message}`,
      );
      return { kind: 'fail', error, attemptState };
    }
    this.logger.warn(
      `${label} failed, retrying in ${formatDuration(decision.delayMs)}: [${error.code}] ${error.message}`,
    );
    return { kind: 'retry', delayMs: decision.delayMs, error, attemptState };
  }

  private label(claimed: ClaimedActivity): string {
    return `${claimed.workflowName} activity ${claimed.name} (${claimed.callKind} ${claimed.callIndex} of step ${claimed.stepIndex})`;
  }
}
