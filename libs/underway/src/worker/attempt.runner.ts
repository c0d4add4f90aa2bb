// Over 300 lines on purpose: one job, an attempt from its claim to its
// committed outcome, with the cancel and shutdown paths that touch the same
// in-flight state.
import { Logger } from '@nestjs/common';
import { StepAbortedError } from '../errors/step-aborted.error';
import type { InterceptorChain } from '../events/interceptor-chain';
import type { AttemptEventTask } from '../events/underway-event-map';
import type { AttemptSettlement } from '../events/underway.interceptor';
import type { AttemptPipeline } from '../execution/attempt-pipeline';
import { StepAbort } from '../execution/step-abort';
import type { ErrorRecord } from '../errors/classify-error';
import { ActivityOutcome, Claim, RunOutcome, taskLabel } from '../model/claim';
import type { AttemptAnnouncer } from './attempt-announcer';
import type { LeaseKeeper } from './lease.keeper';
import {
  commitsWrites,
  Committed,
  OutcomeCommitter,
} from './outcome-committer';

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
 * lease, has the attempt pipeline run the user's code and decide the
 * outcome, commits that outcome fenced by the claim, and announces the
 * attempt (`attempt:started`, then `attempt:settled` or `lease:lost`), all
 * of it through the interceptors. Never throws: every path ends in a
 * committed outcome, a log line, or both.
 */
export class AttemptRunner {
  private readonly logger = new Logger(AttemptRunner.name);
  /** The latest claim of each task held here, by claim id (for cancel and shutdown). */
  private readonly running = new Map<string, StepAbort>();
  /**
   * The abort state of each claim. A task can be held twice for a moment (a
   * stale queued claim and a fresh one after its lease was taken back), so
   * each claim keeps its own, and only removes what is its own.
   */
  private readonly aborts = new WeakMap<Claim, StepAbort>();

  constructor(
    private readonly pipeline: AttemptPipeline,
    private readonly committer: OutcomeCommitter,
    private readonly leases: LeaseKeeper,
    private readonly announcer: AttemptAnnouncer,
    private readonly interceptors: InterceptorChain,
    private readonly wake: WakeScheduler,
  ) {}

  /** Takes charge of a claimed task from the moment it is claimed: its lease, its signal. */
  hold(claimed: Claim, claimSentAt = Date.now()): StepAbort {
    const controller = new StepAbort();
    this.aborts.set(claimed, controller);
    this.running.set(claimed.id, controller);
    this.leases.track(claimed, controller, claimSentAt);
    this.announcer.claimed(claimed);
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

  /** Gives back claimed tasks that never started, without counting an attempt. */
  async release(claims: readonly Claim[]): Promise<void> {
    const failed: Claim[] = [];
    let lastError: unknown;
    await Promise.all(
      claims.map(async (claimed) => {
        try {
          await this.committer.submit(claimed, { kind: 'release' });
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
      const shown = failed.slice(0, RELEASE_IDS_LOGGED).map((c) => c.id);
      const more = failed.length - shown.length;
      this.logger.warn(
        `Could not give back ${failed.length} claim(s) (${describe(lastError)}); ` +
          `their leases will lapse: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
      );
    }
  }

  /**
   * @param stepDone called as soon as the task's code has finished (the
   *   worker slot is free again), before its outcome is committed; for a
   *   transactional attempt, once its transaction has ended (committed with
   *   the outcome, or rolled back), so that shutdown waits for it.
   */
  async run(claimed: Claim, stepDone: () => void): Promise<void> {
    const controller = this.aborts.get(claimed) ?? this.hold(claimed);
    const startedAt = performance.now();
    const announced = this.announcer.started(claimed);
    let ran = false;
    try {
      if (this.interceptors.active && announced) {
        await this.interceptors.attempt(
          this.announcer.interceptedAs(claimed, announced),
          () => {
            ran = true;
            return this.attempt(
              claimed,
              controller,
              stepDone,
              startedAt,
              announced,
            );
          },
        );
      } else {
        // No interceptor: no closure on the hot path.
        ran = true;
        await this.attempt(claimed, controller, stepDone, startedAt, announced);
      }
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

  /** Aborts every task in flight (shutdown); each gives its claim back. */
  abortAll(reason: StepAbortedError): void {
    for (const controller of this.running.values()) {
      controller.abort(reason);
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
    const { outcome, transaction, failed } = await this.pipeline.execute(
      claimed,
      controller,
    );
    if (!transaction) {
      stepDone();
    }
    let committed: Committed | undefined;
    if (transaction && failed && outcome && commitsWrites(outcome)) {
      committed = await this.committer.commitWithWrites(
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
      committed = await this.committer.commit(claimed, outcome);
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
      const committed = await this.committer.commit(
        claimed,
        this.pipeline.refused(claimed, err),
      );
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
    committed: Committed | undefined,
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
      if (
        reason instanceof StepAbortedError &&
        reason.code === 'run_cancelled'
      ) {
        this.announcer.settled(announced, { outcome: 'cancelled' }, durationMs);
        return { outcome: 'cancelled' };
      }
      this.announcer.lost(announced, durationMs);
      return { outcome: 'lost' };
    }
    const { outcome, state } = committed;
    this.wakeFor(claimed, outcome);
    const settlement = settlementOf(outcome);
    this.announcer.settled(announced, settlement, durationMs);
    if (
      claimed.kind === 'step' &&
      (state === 'succeeded' || state === 'failed')
    ) {
      this.logger.debug(`Run ${claimed.id} ${claimed.workflowName} ${state}`);
    }
    return settlement;
  }

  private forget(claimed: Claim): void {
    this.leases.untrack(claimed);
    if (this.running.get(claimed.id) === this.aborts.get(claimed)) {
      this.running.delete(claimed.id);
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
      case 'suspend':
        // Its calls are due now; its sleeps and wait timeouts later (the
        // statement's notification names only the soonest of its batch).
        this.wake.claimSoon();
        for (const call of outcome.calls) {
          if (call.delayMs !== undefined && call.delayMs !== null) {
            this.wake.wakeIn(call.delayMs);
          }
        }
        return;
      case 'succeed': // it may have woken its step
      case 'release':
        this.wake.claimSoon();
        return;
    }
  }
}

const NEXT: AttemptSettlement = Object.freeze({ outcome: 'next' });
const COMPLETED: AttemptSettlement = Object.freeze({ outcome: 'completed' });
const SUSPENDED: AttemptSettlement = Object.freeze({ outcome: 'suspended' });
const RELEASED: AttemptSettlement = Object.freeze({ outcome: 'released' });

/** How a committed outcome is reported to events and interceptors. */
function settlementOf(
  outcome: RunOutcome | ActivityOutcome,
): AttemptSettlement {
  switch (outcome.kind) {
    case 'next':
      return NEXT;
    case 'complete':
    case 'succeed':
      return COMPLETED;
    case 'suspend':
      return SUSPENDED;
    case 'release':
      return RELEASED;
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
