import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { sleep } from '../common/timers';
import { isTransientPgError } from '../database/pg-errors';
import { PoolExecutor } from '../database/sql-executor';
import { backoffDelayMs, ReconnectBackoff } from '../database/transient-retry';
import type { ClaimedRun, RunOutcome } from '../queue/claimed-run';
import type { RunQueueRepository } from '../queue/run-queue.repository';

interface PendingOutcome {
  readonly run: ClaimedRun;
  readonly outcome: RunOutcome;
  readonly resolve: (state: string | undefined) => void;
  readonly reject: (err: unknown) => void;
}

/** Outcomes per statement; one statement (one commit) carries them all. */
const MAX_BATCH = 500;

/**
 * Commits step outcomes in batches: whatever finished while the previous
 * commit was in flight goes out in the next statement. Each outcome is still
 * fenced on its own. Per-run transactions are commit-bound (~5,000/s on the
 * reference machine), batching is how the worker goes past that.
 */
export class OutcomeBatcher {
  private readonly logger = new Logger(OutcomeBatcher.name);
  private readonly queue: PendingOutcome[] = [];
  private flushing: Promise<void> | undefined;
  private running = false;
  private readonly abandoned = new AbortController();

  constructor(
    private readonly repository: RunQueueRepository,
    private readonly pool: Pool,
    private readonly worker: string,
    private readonly backoff: ReconnectBackoff,
  ) {}

  /**
   * Queues an outcome for the next commit.
   * @returns the state the run was left in, or `undefined` when the claim was
   * lost and the outcome changed nothing.
   */
  submit(run: ClaimedRun, outcome: RunOutcome): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ run, outcome, resolve, reject });
      if (!this.running) {
        this.running = true;
        this.flushing = this.flush();
      }
    });
  }

  /** Resolves once every queued outcome is committed (or given up). */
  async drain(): Promise<void> {
    while (this.running) {
      await this.flushing;
    }
  }

  /** Stops retrying: outcomes still queued are rejected (their leases will lapse). */
  abandon(): void {
    this.abandoned.abort();
  }

  private async flush(): Promise<void> {
    // Let every step that finishes in this turn of the event loop join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    let failures = 0;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, MAX_BATCH);
      try {
        const applied = await this.repository.commit(
          new PoolExecutor(this.pool),
          batch,
          this.worker,
        );
        this.queue.splice(0, batch.length);
        failures = 0;
        for (const entry of batch) {
          entry.resolve(applied.get(entry.run.id));
        }
      } catch (err) {
        failures += 1;
        if (!isTransientPgError(err) || this.abandoned.signal.aborted) {
          this.queue.splice(0, batch.length);
          await this.commitOneByOne(batch, err);
          continue;
        }
        const delay = backoffDelayMs(this.backoff, failures);
        this.logger.warn(
          `Could not commit ${batch.length} step outcome${batch.length === 1 ? '' : 's'} (${(err as Error).message}); retrying in ${delay}ms`,
        );
        await sleep(delay, this.abandoned.signal);
      }
    }
    // In the same synchronous step as the last emptiness check, so that a
    // later submit() always starts a new flush.
    this.running = false;
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
        const applied = await this.repository.commit(
          new PoolExecutor(this.pool),
          [entry],
          this.worker,
        );
        entry.resolve(applied.get(entry.run.id));
      } catch (err) {
        entry.reject(err);
      }
    }
  }
}
