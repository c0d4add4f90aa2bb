import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { formatDuration } from '../common/duration';
import type { ResolvedRetryPolicy } from '../common/retry-policy';
import { classifyError, ErrorRecord } from '../errors/classify-error';
import { OwnRunLockError } from '../errors/own-run-lock.error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { StepTimeoutError } from '../errors/step-timeout.error';
import type {
  ActivityOutcome,
  AttemptState,
  Claim,
  ClaimedCall,
  ClaimedStep,
  RunOutcome,
} from '../model/claim';
import {
  attemptInTransaction,
  AttemptTransaction,
  TransactionOpener,
} from './attempt-transaction';
import { decideFailure } from '../engine/failure-decision';
import { lateBy } from './late-result';
import type { StepAbort } from './step-abort';

/**
 * An attempt's outcome, and for a transactional one its open transaction,
 * which the outcome commits (or which is rolled back).
 */
export interface Executed<O> {
  /** `undefined`: write nothing (the claim is gone). */
  readonly outcome: O | undefined;
  readonly transaction?: AttemptTransaction;
  /**
   * For a transactional attempt: the outcome of a failure found when its
   * outcome was to commit (its own writes failed, or its transaction was
   * not the one it was given), decided like an error it threw.
   */
  readonly failed?: (error: ErrorRecord) => O;
}

/** Fails an attempt with `error`: a retry or a failure, per its task's policy. */
export interface AttemptFailer<O> {
  fail(error: ErrorRecord, attemptState?: AttemptState): O;
}

/**
 * One attempt of a task under way: the user's code, and what becomes of
 * what it did. (A class per kind, not closures: one is made per attempt, on
 * the worker's hot path.)
 */
export interface StartedAttempt<O> {
  /** Runs the user's code. */
  invoke(): Promise<unknown>;
  /**
   * Once the code settled, before anything else is decided: what stopped it
   * from its side (a step's suspension on new calls, a call it could not
   * make), which ends the attempt whatever it returned or threw.
   */
  interrupted?(failer: AttemptFailer<O>): O | undefined;
  /** The outcome of the value the code returned. */
  succeeded(value: unknown, failer: AttemptFailer<O>): O;
}

/** A task's code, found in this process's registry. */
export interface FoundTask {
  /** How log lines name it: `signup#resolve`, `signup activity lookup (call 0 of step 1)`. */
  readonly label: string;
  readonly retry: ResolvedRetryPolicy;
  readonly timeoutMs: number;
  readonly transactional: boolean;
}

/** A kind of task: a step of a run, or an activity call. */
export interface TaskKind<C extends Claim, O, F extends FoundTask> {
  /** `Step` or `Activity`, as timeout messages say it. */
  readonly noun: 'Step' | 'Activity';
  /** The task's code, or the fatal error of a task this process cannot run. */
  find(claim: C): F | { readonly missing: ErrorRecord };
  /** How log lines name a task whose code is missing. */
  labelOf(claim: C): string;
  /** Starts an attempt of the task `find` found. */
  start(
    claim: C,
    found: F,
    controller: StepAbort,
    manager: EntityManager | undefined,
    failer: AttemptFailer<O>,
  ): StartedAttempt<O>;
  /** After the attempt, whatever its outcome (a step forgets its replay record once over). */
  finished?(claim: C, outcome: O | undefined): void;
}

/**
 * The one attempt pipeline, for every kind of task: it finds the task's
 * code, opens its transaction when it is transactional, arms its timeout,
 * runs it, tells a late result, a lost claim, a cancel, a shutdown and an
 * interruption apart, and decides a failure with the task's retry policy
 * (`decideFailure`, the rule the lease rescuer follows too), with one log
 * line. What differs per kind (the step's context and transitions, the
 * activity's context and result) is its `TaskKind`.
 */
export class AttemptPipeline {
  private readonly logger = new Logger(AttemptPipeline.name);

  constructor(
    private readonly steps: TaskKind<ClaimedStep, RunOutcome, FoundTask>,
    private readonly calls: TaskKind<ClaimedCall, ActivityOutcome, FoundTask>,
    private readonly transactions: TransactionOpener,
  ) {}

  /** Runs one attempt of a claimed task and decides its outcome. */
  execute(
    claim: Claim,
    controller: StepAbort,
  ): Promise<Executed<RunOutcome | ActivityOutcome>> {
    return claim.kind === 'step'
      ? this.run(this.steps, claim, controller)
      : this.run(this.calls, claim, controller);
  }

  /** The outcome of an attempt an interceptor refused to run: a failed attempt, per the task's policy. */
  refused(claim: Claim, err: unknown): RunOutcome | ActivityOutcome {
    return claim.kind === 'step'
      ? this.failWith(this.steps, claim, err)
      : this.failWith(this.calls, claim, err);
  }

  private failWith<C extends Claim, O extends RunOutcome | ActivityOutcome>(
    kind: TaskKind<C, O, FoundTask>,
    claim: C,
    err: unknown,
  ): O {
    const found = kind.find(claim);
    return 'missing' in found
      ? this.failure<O>(claim, kind.labelOf(claim), undefined, found.missing)
      : this.failure<O>(claim, found.label, found.retry, classifyError(err));
  }

  private async run<C extends Claim, O extends RunOutcome | ActivityOutcome>(
    kind: TaskKind<C, O, FoundTask>,
    claim: C,
    controller: StepAbort,
  ): Promise<Executed<O>> {
    const found = kind.find(claim);
    if ('missing' in found) {
      return {
        outcome: this.failure<O>(
          claim,
          kind.labelOf(claim),
          undefined,
          found.missing,
        ),
      };
    }
    const failer = new Failer<O>(this, claim, found);
    let executed: Executed<O>;
    if (!found.transactional) {
      executed = {
        outcome: await this.attempt(kind, claim, found, controller, failer),
      };
    } else {
      // No connection of the app's pool, say: a failed attempt, retried.
      const opened = await attemptInTransaction(
        this.transactions,
        claim,
        `run ${runIdOf(claim)} ${found.label}`,
        (manager) =>
          this.attempt(kind, claim, found, controller, failer, manager),
        (err) => failer.fail(classifyError(err)),
      );
      executed = {
        outcome: opened.outcome,
        transaction: opened.transaction,
        failed: (error) => failer.fail(error),
      };
    }
    kind.finished?.(claim, executed.outcome);
    return executed;
  }

  private async attempt<
    C extends Claim,
    O extends RunOutcome | ActivityOutcome,
  >(
    kind: TaskKind<C, O, FoundTask>,
    claim: C,
    found: FoundTask,
    controller: StepAbort,
    failer: Failer<O>,
    manager?: EntityManager,
  ): Promise<O | undefined> {
    const { timeoutMs } = found;
    const startedAt = performance.now();
    const timer = setTimeout(
      () => controller.abort(new StepTimeoutError(timeoutMs, kind.noun)),
      timeoutMs,
    );
    let value: unknown;
    let thrown: { value: unknown } | undefined;
    let started: StartedAttempt<O> | undefined;
    try {
      started = kind.start(claim, found, controller, manager, failer);
      this.logger.debug(
        `Run ${runIdOf(claim)} ${found.label} attempt ${claim.attempt}/${claim.maxAttempts} started`,
      );
      value = await started.invoke();
    } catch (err) {
      thrown = { value: err };
    } finally {
      clearTimeout(timer);
    }
    // Code that blocked the event loop past its timeout kept the timer from
    // firing: what it produced is late all the same, and discarded.
    const late = lateBy(controller, startedAt, timeoutMs);
    if (late !== undefined && !controller.aborted) {
      controller.abort(new StepTimeoutError(timeoutMs, kind.noun, late));
    }
    const reason: unknown = controller.aborted ? controller.reason : undefined;
    const interruption = started?.interrupted?.(failer);
    if (
      reason instanceof StepAbortedError &&
      (reason.code === 'lease_lost' || reason.code === 'run_cancelled')
    ) {
      return undefined; // the claim is gone: write nothing
    }
    if (late !== undefined) {
      // Whatever it produced (a transition, a result, an error, a
      // suspension) came after its timeout: as if the timer had fired in time.
      return failer.fail(
        classifyError(new StepTimeoutError(timeoutMs, kind.noun, late)),
        'timed_out',
      );
    }
    if (interruption) {
      return interruption;
    }
    if (thrown || !started) {
      if (reason instanceof StepAbortedError) {
        // Shutdown gives the claim back without counting the attempt.
        return reason.code === 'shutdown'
          ? ({ kind: 'release' } as O)
          : undefined;
      }
      // Only our own reason is inspected: `thrown` may be anything, even a
      // revoked Proxy that `instanceof` cannot look at (classifyError can).
      const timedOut = reason instanceof StepTimeoutError;
      return failer.fail(
        classifyError(
          timedOut || reason instanceof OwnRunLockError
            ? reason
            : thrown?.value,
        ),
        timedOut ? 'timed_out' : 'failed',
      );
    }
    return started.succeeded(value, failer);
  }

  /**
   * A failed attempt: retried after the policy's backoff while its error is
   * retryable and attempts remain, failed otherwise (`retry` undefined: a
   * task whose code is missing, failed at once). One log line either way.
   */
  /** @internal For `Failer`. */
  failure<O extends RunOutcome | ActivityOutcome>(
    claim: Claim,
    label: string,
    retry: ResolvedRetryPolicy | undefined,
    error: ErrorRecord,
    attemptState: AttemptState = 'failed',
  ): O {
    const line = `Run ${runIdOf(claim)} ${label} attempt ${claim.attempt}/${claim.maxAttempts}`;
    const decision = retry
      ? decideFailure(retry, claim.attempt, claim.maxAttempts, error)
      : ({ kind: 'fail', fatal: true } as const);
    if (decision.kind === 'fail') {
      // An emit's failure does not fail the run; a call's makes ctx.call throw.
      this.logger.error(
        `${line} failed${decision.fatal ? '' : ', no attempts left'}: [${error.code}] ${error.message}`,
      );
      return { kind: 'fail', error, attemptState } as O;
    }
    this.logger.warn(
      `${line} failed, retrying in ${formatDuration(decision.delayMs)}: [${error.code}] ${error.message}`,
    );
    return {
      kind: 'retry',
      delayMs: decision.delayMs,
      error,
      attemptState,
    } as O;
  }
}

/** The run a claim belongs to. */
function runIdOf(claim: Claim): string {
  return claim.kind === 'step' ? claim.id : claim.runId;
}

/** The failer of one attempt: its task's label and policy, for `AttemptPipeline.failure`. */
class Failer<
  O extends RunOutcome | ActivityOutcome,
> implements AttemptFailer<O> {
  constructor(
    private readonly pipeline: AttemptPipeline,
    private readonly claim: Claim,
    private readonly found: FoundTask,
  ) {}

  fail(error: ErrorRecord, attemptState: AttemptState = 'failed'): O {
    return this.pipeline.failure<O>(
      this.claim,
      this.found.label,
      this.found.retry,
      error,
      attemptState,
    );
  }
}
