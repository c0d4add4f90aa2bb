import { Logger } from '@nestjs/common';
import type { ActivityExecutor } from '../activity/activity.executor';
import type { UnderwayMetrics } from '../observability/underway-metrics';
import type { UnderwayTracing } from '../observability/underway-tracing';
import { isTransientPgError, pgErrorCode } from '../database/pg-errors';
import {
  classifyError,
  ErrorRecord,
  fatalError,
} from '../errors/classify-error';
import { StepAbortedError } from '../errors/step-aborted.error';
import { TransactionControlError } from '../errors/transaction-control.error';
import type { SqlExecutor } from '../database/sql-executor';
import type {
  ActivityOutcome,
  Claim,
  FencedOutcome,
  RunOutcome,
} from '../queue/claimed-run';
import {
  AttemptTransaction,
  AttemptWritesFailedError,
} from '../transaction/attempt-transaction';
import type { RunEvents } from '../workflow/run-events';
import { StepAbort } from '../workflow/step-abort';
import type { LeaseKeeper } from './lease.keeper';
import type { OutcomeBatcher } from './outcome.batcher';
import type { Executed, StepExecutor } from './step-attempt.executor';

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
    private readonly metrics: UnderwayMetrics,
    private readonly tracing: UnderwayTracing,
    private readonly leases: LeaseKeeper,
    private readonly outcomes: OutcomeBatcher,
    private readonly events: RunEvents,
    private readonly wake: WakeScheduler,
    private readonly steps: StepExecutor,
    private readonly activities: ActivityExecutor,
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
    this.metrics.claimed(claimed);
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
    const startedAt = this.metrics.now();
    // `undefined` without an OpenTelemetry SDK: no span, no context.
    const traced = this.tracing.attemptStarted(claimed);
    let committed:
      | { outcome: RunOutcome | ActivityOutcome; state: string | undefined }
      | undefined;
    let failure: { error: unknown } | undefined;
    try {
      const { outcome, transaction, failed } = traced
        ? await this.tracing.within(traced, () =>
            this.execute(claimed, controller),
          )
        : await this.execute(claimed, controller);
      if (!transaction) {
        stepDone();
      }
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
      if (committed) {
        this.afterCommit(
          claimed,
          committed.outcome,
          committed.state,
          controller,
          startedAt,
        );
      }
    } catch (err) {
      failure = { error: err };
      this.logger.error(
        `${taskLabel(claimed)} attempt ${claimed.attempt}: ` +
          `could not commit its outcome (${(err as Error).message}); the lease will lapse and the step run again`,
        (err as Error).stack,
      );
    } finally {
      stepDone();
      this.forget(claimed);
      if (traced) {
        this.tracing.attemptEnded(
          traced,
          committed?.outcome,
          committed?.state,
          failure?.error,
        );
      }
    }
  }

  /** Runs the attempt's code (a step's or an activity call's) and decides its outcome. */
  private execute(
    claimed: Claim,
    controller: StepAbort,
  ): Promise<Executed<RunOutcome | ActivityOutcome>> {
    return claimed.kind === 'step'
      ? this.steps.execute(claimed, controller)
      : this.activities.execute(claimed, controller);
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

  private afterCommit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
    state: string | undefined,
    controller: StepAbort,
    startedAt: number,
  ): void {
    this.metrics.committed(claimed, outcome, state, startedAt);
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
