import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { sleep } from '../common/timers';
import { isTransientPgError } from '../database/pg-errors';
import { PoolExecutor } from '../database/sql-executor';
import { backoffDelayMs, ReconnectBackoff } from '../database/transient-retry';
import type {
  ActivityOutcome,
  ClaimedCall,
  ClaimedStep,
  FencedOutcome,
  RunOutcome,
} from '../model/claim';
import type { TransitionWriter } from '../engine/transition.writer';
import type { Transition } from '../model/transition';

type PendingOutcome = FencedOutcome & {
  readonly resolve: (state: string | undefined) => void;
  readonly reject: (err: unknown) => void;
};

/** Outcomes per statement; one statement (one commit) carries them all. */
const MAX_BATCH = 500;
/** Commits in flight at once, on separate connections. */
const MAX_PARALLEL_FLUSHES = 2;
/** A second commit starts only for a backlog at least this large. */
const PARALLEL_THRESHOLD = 50;

/**
 * Commits attempts' outcomes (steps' and activity calls') in batches: whatever finished while the previous
 * commit was in flight goes out in the next statement, and a large backlog is
 * split over two commits in parallel. Each outcome is still fenced on its own;
 * two batches never hold the same run (a run has one outcome in flight at
 * most). Per-run transactions are commit-bound (~5,000/s on the reference
 * machine), batching is how the worker goes past that.
 */
export class OutcomeBatcher {
  private readonly logger = new Logger(OutcomeBatcher.name);
  private readonly queue: PendingOutcome[] = [];
  private readonly flushes = new Set<Promise<void>>();
  private active = 0;
  private committing = 0;
  private readonly abandoned = new AbortController();

  constructor(
    private readonly writer: Pick<TransitionWriter, 'commit'>,
    private readonly pool: Pool,
    private readonly worker: string,
    private readonly backoff: ReconnectBackoff,
  ) {}

  /**
   * Queues an outcome for the next commit.
   * @returns the state the run was left in, or `undefined` when the claim was
   * lost and the outcome changed nothing.
   */
  submit(run: ClaimedStep, outcome: RunOutcome): Promise<string | undefined>;
  submit(
    run: ClaimedCall,
    outcome: ActivityOutcome,
  ): Promise<string | undefined>;
  submit(
    run: ClaimedStep | ClaimedCall,
    outcome: RunOutcome | ActivityOutcome,
  ): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        run,
        outcome,
        resolve,
        reject,
      } as PendingOutcome);
      this.maybeStartFlush();
    });
  }

  /**
   * Waits until every queued outcome is committed (or given up), at most
   * `timeoutMs`.
   * @returns `false` when outcomes were still waiting for the database then
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.active > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        return false;
      }
      const timer = new AbortController();
      await Promise.race([
        Promise.all(this.flushes),
        sleep(remaining, timer.signal),
      ]);
      timer.abort();
    }
    return true;
  }

  /** Outcomes not yet committed. */
  get pending(): number {
    return this.queue.length + this.committing;
  }

  /** Stops retrying: outcomes still queued are rejected (their leases will lapse). */
  abandon(): void {
    this.abandoned.abort();
  }

  private maybeStartFlush(): void {
    const start =
      this.active === 0 ||
      (this.active < MAX_PARALLEL_FLUSHES &&
        this.queue.length >= PARALLEL_THRESHOLD);
    if (!start) {
      return;
    }
    this.active += 1;
    const flush = this.flush().finally(() => this.flushes.delete(flush));
    this.flushes.add(flush);
  }

  private async flush(): Promise<void> {
    // Let every step that finishes in this turn of the event loop join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.committing += batch.length;
      try {
        await this.commit(batch);
      } finally {
        this.committing -= batch.length;
      }
    }
    // In the same synchronous step as the last emptiness check, so that a
    // later submit() always finds this flush gone and starts a new one.
    this.active -= 1;
  }

  /** Commits one batch, retrying transient errors; settles every entry. */
  private async commit(batch: PendingOutcome[]): Promise<void> {
    for (let failures = 1; ; failures += 1) {
      try {
        const applied = statesOf(
          await this.writer.commit(
            new PoolExecutor(this.pool),
            batch,
            this.worker,
          ),
        );
        for (const entry of batch) {
          entry.resolve(applied.get(entry.run.id));
        }
        return;
      } catch (err) {
        if (!isTransientPgError(err) || this.abandoned.signal.aborted) {
          await this.commitOneByOne(batch, err);
          return;
        }
        const delay = backoffDelayMs(this.backoff, failures);
        this.logger.warn(
          `Could not commit ${batch.length} step outcome${batch.length === 1 ? '' : 's'} (${(err as Error).message}); retrying in ${delay}ms`,
        );
        await sleep(delay, this.abandoned.signal);
      }
    }
  }

  /**
   * A batch the database refused for good: commit its outcomes one by one, so
   * that one bad outcome cannot cost the others theirs.
   */
  private async commitOneByOne(
    batch: PendingOutcome[],
    batchError: unknown,
  ): Promise<void> {
    if (batch.length === 1 || this.abandoned.signal.aborted) {
      for (const entry of batch) {
        entry.reject(batchError);
      }
      return;
    }
    for (const entry of batch) {
      try {
        const applied = statesOf(
          await this.writer.commit(
            new PoolExecutor(this.pool),
            [entry],
            this.worker,
          ),
        );
        entry.resolve(applied.get(entry.run.id));
      } catch (err) {
        entry.reject(err);
      }
    }
  }
}

/** The state each applied outcome left its task in, by claim id. */
function statesOf(transitions: readonly Transition[]): Map<string, string> {
  return new Map(transitions.map((t) => [t.taskId, t.state]));
}
