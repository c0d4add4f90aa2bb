import { Logger } from '@nestjs/common';
import { isTransientPgError, pgErrorCode } from '../database/pg-errors';
import type { SqlExecutor } from '../database/sql-executor';
import {
  classifyError,
  ErrorRecord,
  fatalError,
} from '../errors/classify-error';
import { TransactionControlError } from '../errors/transaction-control.error';
import {
  AttemptTransaction,
  AttemptWritesFailedError,
} from '../execution/attempt-transaction';
import {
  ActivityOutcome,
  Claim,
  FencedOutcome,
  RunOutcome,
  taskLabel,
} from '../model/claim';
import type { Transition } from '../model/transition';
import type { OutcomeBatcher } from './outcome.batcher';

/** An outcome as committed, and the state it left its task in (`undefined`: discarded, the claim was gone). */
export interface Committed {
  readonly outcome: RunOutcome | ActivityOutcome;
  readonly state: string | undefined;
}

/**
 * Commits attempts' outcomes, fenced by their claims: through the outcome
 * batcher, or, for a transactional attempt, in its own transaction with its
 * writes. An outcome the database refuses for good is replaced by a failure
 * (`unstorable_outcome`) rather than left to a lapsed lease and a rerun that
 * would be refused again.
 */
export class OutcomeCommitter {
  private readonly logger = new Logger(OutcomeCommitter.name);

  constructor(
    private readonly outcomes: OutcomeBatcher,
    /** Runs the fenced outcome statement on a given executor (a transaction's). */
    private readonly commitIn: (
      executor: SqlExecutor,
      outcomes: readonly FencedOutcome[],
    ) => Promise<readonly Transition[]>,
  ) {}

  /**
   * Commits the outcome; one the database refuses for good (not a transient
   * error: a value it cannot store, say) fails the attempt for good instead,
   * with that reason recorded. Otherwise the attempt would end in a lapsed
   * lease, run again, and be refused again, each time recorded as a crash.
   */
  async commit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
  ): Promise<Committed> {
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
  async commitWithWrites(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
    transaction: AttemptTransaction,
    failed: (error: ErrorRecord) => RunOutcome | ActivityOutcome,
  ): Promise<Committed> {
    try {
      const state = await transaction.commitWith(async (executor) => {
        const [transition] = await this.commitIn(executor, [
          { run: claimed, outcome } as FencedOutcome,
        ]);
        const state = transition?.state;
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
  submit(
    claimed: Claim,
    outcome: RunOutcome | ActivityOutcome,
  ): Promise<string | undefined> {
    return claimed.kind === 'step'
      ? this.outcomes.submit(claimed, outcome as RunOutcome)
      : this.outcomes.submit(claimed, outcome as ActivityOutcome);
  }
}

/** Outcomes that a transactional attempt commits with its writes. */
export function commitsWrites(outcome: RunOutcome | ActivityOutcome): boolean {
  return (
    outcome.kind === 'next' ||
    outcome.kind === 'complete' ||
    outcome.kind === 'succeed'
  );
}
