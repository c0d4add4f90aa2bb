import { Logger } from '@nestjs/common';
import { isTransientPgError, pgErrorCode } from '../database/pg-errors';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import {
  classifyError,
  ErrorRecord,
  fatalError,
} from '../errors/classify-error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { TransactionControlError } from '../errors/transaction-control.error';
import type { SqlExecutor } from '../database/sql-executor';
import type { InterceptorChain } from '../events/interceptor-chain';
import type { AttemptEventTask } from '../events/underway-event-map';
import type { UnderwayEvents } from '../events/underway-events';
import type {
  AttemptSettlement,
  AttemptTask,
} from '../events/underway.interceptor';
import type {
  ActivityOutcome,
  Claim,
  FencedOutcome,
  RunOutcome,
} from '../model/claim';
import {
  AttemptTransaction,
  AttemptWritesFailedError,
} from '../execution/attempt-transaction';
import { StepAbort } from '../execution/step-abort';
import type { LeaseKeeper } from './lease.keeper';
import type { OutcomeBatcher } from './outcome.batcher';
import type { AttemptPipeline, Executed } from '../execution/attempt-pipeline';

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
 * Runs one claimed task (a step of a run, or an activity call): holds its
 * lease, has its executor run the user's code and decide the outcome,
 * commits that outcome fenced by the claim, and announces the attempt
 * (`attempt:started`, then `attempt:settled` or `lease:lost`), all of it
 * through the interceptors. Never throws: every path ends in a committed
 * outcome, a log line, or both.
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
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
    private readonly leases: LeaseKeeper,
    private readonly outcomes: OutcomeBatcher,
    private readonly wake: WakeScheduler,
    private readonly pipeline: AttemptPipeline,
    /** Runs the fenced outcome statement on a given executor (a transaction's). */
    private readonly commitIn: (
      executor: SqlExecutor,
      outcomes: readonly FencedOutcome[],
    ) => Promise<Map<string, string>>,
  ) {}

  /** Takes charge of a claimed task from the moment it is claimed: its lease, its signal. */
  hold(claimed: Claim, claimSentAt = Date.now()): StepAbort {
    const controller = new StepAbort();
    this.aborts.set(claimed, controller);
    this.running.set(claimed.id, controller);
    this.leases.track(claimed, controller, claimSentAt);
    if (this.events.has('attempt:claimed')) {
      this.events.emit('attempt:claimed', {
        workflowName: claimed.workflowName,
        kind: claimed.kind,
        queueWaitMs: claimed.queueWaitMs,
        resumed: claimed.kind === 'step' && claimed.recordedCalls > 0,
      });
    }
    return controller;
  }

  /**
   * Forgets a claim that waited here past its lease without starting: it is
   * not run (another worker may have it now) nor given back (its claim may
   * be another's); the rescuer takes it back if nobody holds it.
   */
  drop(claimed: Claim): void {
    this.logger.warn(
      `${taskLabel(claimed)} attempt ${claimed.attempt}: its lease may have lapsed while it waited here to start; not starting it`,
    );
    this.forget(claimed);
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
   *   slot is free again), before its outcome is committed; for a
   *   transactional attempt, once its transaction has ended (committed with
   *   the outcome, or rolled back), so that shutdown waits for it.
   */
  async run(claimed: Claim, stepDone: () => void): Promise<void> {
    const controller = this.aborts.get(claimed) ?? this.hold(claimed);
    const startedAt = performance.now();
    const announced = this.announce(claimed);
    if (announced && this.events.has('attempt:started')) {
      this.events.emit('attempt:started', announced);
    }
    let ran = false;
    const attempt = (): Promise<AttemptSettlement> => {
      ran = true;
      return this.attempt(claimed, controller, stepDone, startedAt, announced);
    };
    try {
      await (this.interceptors.active
        ? this.interceptors.attempt(this.taskOf(claimed, announced), attempt)
        : attempt());
    } catch (err) {
      if (!ran) {
        // An interceptor threw instead of running the attempt: its error.
        await this.refused(
          claimed,
          controller,
          stepDone,
          startedAt,
          announced,
          err,
        );
      } else {
        this.logger.error(
          `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
            `could not commit its outcome (${describe(err)}); the lease will lapse and the step run again`,
          (err as Error)?.stack,
        );
      }
    } finally {
      stepDone();
      this.forget(claimed);
    }
  }

  /** Runs the attempt's code, commits its outcome, announces it. @throws when its outcome could not be committed */
  private async attempt(
    claimed: Claim,
    controller: StepAbort,
    stepDone: () => void,
    startedAt: number,
    announced: AttemptEventTask | undefined,
  ): Promise<AttemptSettlement> {
    const { outcome, transaction, failed } = await this.execute(
      claimed,
      controller,
    );
    if (!transaction) {
      stepDone();
    }
    let committed:
      | { outcome: RunOutcome | ActivityOutcome; state: string | undefined }
      | undefined;
    if (transaction && failed && outcome && commitsWrites(outcome)) {
      committed = await this.commitWithWrites(
        claimed,
        outcome,
        transaction,
        failed,
      );
    } else if (transaction) {
      // Nothing of an attempt that did not end well survives; an attempt
      // abandoned (timeout, lost claim, suspension) may still run a query.
      await transaction.rollback(controller.aborted);
    }
    // A transaction ends with its attempt's slot: shutdown waits for both.
    stepDone();
    if (!committed && outcome) {
      committed = await this.commit(claimed, outcome);
    }
    return this.settled(claimed, controller, committed, startedAt, announced);
  }

  /** Commits, as a failed attempt, an attempt that an interceptor refused to run. */
  private async refused(
    claimed: Claim,
    controller: StepAbort,
    stepDone: () => void,
    startedAt: number,
    announced: AttemptEventTask | undefined,
    err: unknown,
  ): Promise<void> {
    stepDone();
    try {
      const outcome = this.pipeline.refused(claimed, err);
      const committed = await this.commit(claimed, outcome);
      this.settled(claimed, controller, committed, startedAt, announced);
    } catch (commitError) {
      this.logger.error(
        `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
          `could not commit its outcome (${describe(commitError)}); the lease will lapse and the step run again`,
      );
    }
  }

  /** What an attempt came to, announced; wakes the claim loop for what it made due. */
  private settled(
    claimed: Claim,
    controller: StepAbort,
    committed:
      | { outcome: RunOutcome | ActivityOutcome; state: string | undefined }
      | undefined,
    startedAt: number,
    announced: AttemptEventTask | undefined,
  ): AttemptSettlement {
    const durationMs = performance.now() - startedAt;
    if (!committed || committed.state === undefined) {
      if (committed) {
        this.logger.warn(
          `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
            `outcome discarded, this worker no longer holds the ${claimed.kind === 'step' ? 'run' : 'call'} (lease expired or run cancelled)`,
        );
        controller.abort(new StepAbortedError('lease_lost'));
      }
      const reason: unknown = controller.reason;
      const cancelled =
        reason instanceof StepAbortedError && reason.code === 'run_cancelled';
      if (announced) {
        if (cancelled) {
          this.emitSettled(announced, { outcome: 'cancelled' }, durationMs);
        } else {
          if (this.events.has('lease:lost')) {
            this.events.emit('lease:lost', {
              runId: announced.runId,
              step: announced.step,
              attempt: announced.attempt,
            });
          }
          if (this.events.has('attempt:discarded')) {
            this.events.emit('attempt:discarded', { ...announced, durationMs });
          }
        }
      }
      return { outcome: cancelled ? 'cancelled' : 'lost' };
    }
    const { outcome, state } = committed;
    this.wakeFor(claimed, outcome);
    const settlement = settlementOf(outcome);
    if (announced) {
      this.emitSettled(announced, settlement, durationMs);
    }
    if (
      claimed.kind === 'step' &&
      (state === 'succeeded' || state === 'failed')
    ) {
      this.logger.debug(`Run ${claimed.id} ${claimed.workflowName} ${state}`);
    }
    return settlement;
  }

  private emitSettled(
    announced: AttemptEventTask,
    settlement: AttemptSettlement,
    durationMs: number,
  ): void {
    if (this.events.has('attempt:settled')) {
      const { outcome, error } = settlement;
      if (outcome !== 'lost') {
        this.events.emit('attempt:settled', {
          ...announced,
          outcome,
          durationMs,
          ...(error ? { error } : {}),
        });
      }
    }
  }

  /**
   * The attempt as events and interceptors name it; `undefined` when neither
   * listens (the hot path builds nothing).
   */
  private announce(claimed: Claim): AttemptEventTask | undefined {
    if (
      !this.interceptors.active &&
      !this.events.has('attempt:started') &&
      !this.events.has('attempt:settled') &&
      !this.events.has('lease:lost') &&
      !this.events.has('attempt:discarded')
    ) {
      return undefined;
    }
    const definition = this.registry.find(claimed.workflowName);
    const step =
      definition?.steps[claimed.stepIndex]?.method ?? String(claimed.stepIndex);
    return claimed.kind === 'step'
      ? {
          runId: claimed.id,
          workflowName: claimed.workflowName,
          step: String(step),
          kind: 'step',
          attempt: claimed.attempt,
        }
      : {
          runId: claimed.runId,
          workflowName: claimed.workflowName,
          step: String(step),
          kind: 'activity',
          activity: claimed.name,
          attempt: claimed.attempt,
        };
  }

  private taskOf(
    claimed: Claim,
    announced: AttemptEventTask | undefined,
  ): AttemptTask {
    const task = announced ?? this.announce(claimed)!;
    return {
      ...task,
      stepIndex: claimed.stepIndex,
      ...(claimed.kind === 'activity'
        ? { callIndex: claimed.callIndex, callKind: claimed.callKind }
        : {}),
      carrier: claimed.traceContext ?? null,
    };
  }

  /** Runs the attempt's code (a step's or an activity call's) and decides its outcome. */
  private execute(
    claimed: Claim,
    controller: StepAbort,
  ): Promise<Executed<RunOutcome | ActivityOutcome>> {
    return this.pipeline.execute(claimed, controller);
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
      const fallback = this.unstorable(claimed, outcome, err);
      return {
        outcome: fallback,
        state: await this.submit(claimed, fallback),
      };
    }
  }

  /**
   * Commits a transactional attempt's outcome in its own transaction, with
   * its writes: both, or (claim gone) neither. When its own writes failed (a
   * deferred constraint refused at COMMIT, a statement error that aborted
   * the transaction) or the transaction was not the one it was given, the
   * attempt fails with that error instead (`failed`: retried per its policy,
   * or not), without its writes; an outcome the database refuses for good
   * fails it with `unstorable_outcome`.
   */
  private async commitWithWrites(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
    transaction: AttemptTransaction,
    failed: (error: ErrorRecord) => RunOutcome | ActivityOutcome,
  ): Promise<
    | { outcome: RunOutcome | ActivityOutcome; state: string | undefined }
    | undefined
  > {
    try {
      const state = await transaction.commitWith(async (executor) => {
        const applied = await this.commitIn(executor, [
          { run: claimed, outcome } as FencedOutcome,
        ]);
        const state = applied.get(claimed.id);
        return { applied: state !== undefined, value: state };
      });
      return { outcome, state };
    } catch (err) {
      if (
        err instanceof AttemptWritesFailedError ||
        err instanceof TransactionControlError
      ) {
        const fallback = failed(
          err instanceof AttemptWritesFailedError
            ? err.record()
            : classifyError(err),
        );
        return {
          outcome: fallback,
          state: await this.submit(claimed, fallback),
        };
      }
      if (isTransientPgError(err) || pgErrorCode(err) === undefined) {
        // Rolled back (its connection failed, say): the attempt runs again
        // once its lease lapses, as after a crash.
        throw err;
      }
      const fallback = this.unstorable(claimed, outcome, err);
      return { outcome: fallback, state: await this.submit(claimed, fallback) };
    }
  }

  /** The outcome that replaces one the database refused for good. */
  private unstorable(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
    err: unknown,
  ): RunOutcome & ActivityOutcome {
    const code = pgErrorCode(err);
    this.logger.error(
      `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
        `its outcome was refused (${code ?? (err as Error).message}); failing ${claimed.kind === 'step' ? 'the run' : 'the call'}`,
    );
    return {
      kind: 'fail',
      attemptState: 'failed',
      error: fatalError(
        'unstorable_outcome',
        `The database refused to store this attempt's outcome (${outcome.kind}): ` +
          `${(err as Error).message}${code ? ` (SQLSTATE ${code})` : ''}`,
      ),
    };
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

  /** Wakes the claim loop for what a committed outcome made due. */
  private wakeFor(claimed: Claim, outcome: RunOutcome | ActivityOutcome): void {
    switch (outcome.kind) {
      case 'complete':
      case 'fail':
        if (claimed.kind === 'activity') {
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
}

/** A claim, for log lines: `Run <id> <workflow> step 1` or `… activity <name> (call 0 of step 1)`. */
function taskLabel(claimed: Claim): string {
  return claimed.kind === 'step'
    ? `Run ${claimed.id} ${claimed.workflowName} step ${claimed.stepIndex}`
    : `Run ${claimed.runId} ${claimed.workflowName} activity ${claimed.name} (${claimed.callKind} ${claimed.callIndex} of step ${claimed.stepIndex})`;
}

/** Outcomes that a transactional attempt commits with its writes. */
function commitsWrites(outcome: RunOutcome | ActivityOutcome): boolean {
  return (
    outcome.kind === 'next' ||
    outcome.kind === 'complete' ||
    outcome.kind === 'succeed'
  );
}

/** How a committed outcome is reported to events and interceptors. */
function settlementOf(
  outcome: RunOutcome | ActivityOutcome,
): AttemptSettlement {
  switch (outcome.kind) {
    case 'next':
      return { outcome: 'next' };
    case 'complete':
    case 'succeed':
      return { outcome: 'completed' };
    case 'suspend':
      return { outcome: 'suspended' };
    case 'release':
      return { outcome: 'released' };
    case 'retry':
      return {
        outcome: 'retry',
        error: recorded(outcome.error as ErrorRecord),
      };
    case 'fail':
      return {
        outcome: 'failed',
        error: recorded(outcome.error as ErrorRecord),
      };
  }
}

/** The stored part of an error record. */
function recorded(error: ErrorRecord): AttemptSettlement['error'] {
  return { code: error.code, message: error.message, name: error.name };
}

function describe(err: unknown): string {
  try {
    return (err as Error)?.message ?? String(err);
  } catch {
    return 'an error that cannot be printed';
  }
}
