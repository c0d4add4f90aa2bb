import { Logger } from '@nestjs/common';
import { MAX_TIMER_DELAY_MS } from '../common/timers';
import { PoolExecutor } from '../database/sql-executor';
import type { Pool } from 'pg';
import { StepAbortedError } from '../errors/step-aborted.error';
import { Claim, leaseKey } from '../model/claim';
import type { StepAbort } from '../execution/step-abort';
import type { TaskRepository } from '../engine/task.repository';
import type { RenewRow } from '../engine/sql/claim.sql';
import { OwnRunLockError } from '../errors/own-run-lock.error';
import type { AttemptBackend } from '../execution/attempt-transaction';

interface HeldLease {
  readonly run: Claim;
  readonly abort: StepAbort;
  renewAt: number;
  renewedAt: number;
  /** The transaction of a transactional attempt. */
  backend?: AttemptBackend;
  /** Renewals in a row that found the row locked by the attempt's own transaction. */
  ownLocks: number;
}

/** A renewal is never given less time than this, however short the lease. */
const MIN_RENEW_TIMEOUT_MS = 250;

/** Renewals per lease interval (RELIABILITY: at least three). */
const RENEWALS_PER_LEASE = 3;

/**
 * Renewals in a row that find a run's row locked by its attempt's own
 * transaction before the attempt is aborted: the first may meet a lock the
 * step takes for a moment; the second, a sixth of a lease later, one it
 * holds on (which would outlast the lease).
 */
const OWN_LOCKS_TO_ABORT = 2;

/**
 * Keeps the leases of every run this worker holds, renewing all that are due
 * in one statement, three times per lease interval. A run whose renewal matches
 * no row was taken over (or cancelled): its attempt aborts with
 * `lease_lost`. When renewals keep failing (database unreachable) past the
 * lease itself, the attempt is abandoned too, since another worker may now own it.
 */
export class LeaseKeeper {
  private readonly logger = new Logger(LeaseKeeper.name);
  private readonly held = new Map<string, HeldLease>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private renewing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly queue: TaskRepository,
    private readonly pool: Pool,
    /** The heartbeat connections' client-side statement bound. */
    private readonly maxRenewTimeoutMs: number,
  ) {}

  /**
   * @param claimSentAt when the claim was sent: the lease is counted from
   *   then (never overestimated), as after each renewal
   */
  track(run: Claim, abort: StepAbort, claimSentAt = Date.now()): void {
    const lease: HeldLease = {
      run,
      abort,
      renewedAt: claimSentAt,
      renewAt: claimSentAt + run.leaseMs / RENEWALS_PER_LEASE,
      ownLocks: 0,
    };
    this.held.set(leaseKey(run), lease);
    this.arm(lease.renewAt);
  }

  /**
   * Watches the transaction of a transactional attempt of `run`: a renewal
   * blocked by a lock that transaction holds on the run's own row aborts the
   * attempt (`OwnRunLockError`) instead of letting its lease lapse.
   */
  watch(run: Claim, backend: AttemptBackend): void {
    const lease = this.held.get(leaseKey(run));
    if (lease?.run === run) {
      lease.backend = backend;
    }
  }

  /** Stops renewing this claim's lease (not a newer claim of the same run). */
  untrack(run: Claim): void {
    if (this.held.get(leaseKey(run))?.run === run) {
      this.held.delete(leaseKey(run));
    }
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * Whether this worker may still hold `run`'s lease: it is tracked, and was
   * renewed (or claimed) within its lease. Counted from before each renewal
   * was sent, so never an overestimate.
   */
  mayHold(run: Claim): boolean {
    const lease = this.held.get(leaseKey(run));
    return (
      lease !== undefined &&
      lease.run === run &&
      Date.now() - lease.renewedAt < run.leaseMs
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.disarm();
    await this.renewing;
    this.held.clear();
  }

  private arm(at: number): void {
    if (this.stopped || at >= this.timerAt) {
      return;
    }
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.renewing = this.renewDue().finally(() => {
          this.renewing = undefined;
          this.armForEarliest();
        });
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMER_DELAY_MS),
    );
  }

  private disarm(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.timerAt = Infinity;
  }

  private armForEarliest(): void {
    let earliest = Infinity;
    for (const lease of this.held.values()) {
      earliest = Math.min(earliest, lease.renewAt);
    }
    if (earliest !== Infinity) {
      this.arm(earliest);
    }
  }

  private async renewDue(): Promise<void> {
    const now = Date.now();
    const due = [...this.held.values()].filter(
      (lease) => lease.renewAt <= now + 5,
    );
    if (due.length === 0 || this.stopped) {
      return;
    }
    let renewed: Map<string, RenewRow>;
    try {
      const pids = new Map<Claim, number>();
      for (const lease of due) {
        if (lease.backend?.running) {
          pids.set(lease.run, lease.backend.pid);
        }
      }
      renewed = await this.queue.renew(
        new PoolExecutor(this.pool, this.renewTimeoutMs(due)),
        due.map((lease) => lease.run),
        (claim) => pids.get(claim) ?? null,
      );
    } catch (err) {
      this.onRenewFailure(due, err as Error);
      return;
    }
    for (const lease of due) {
      if (this.held.get(leaseKey(lease.run)) !== lease) {
        continue; // finished while the renewal was in flight
      }
      const row = renewed.get(leaseKey(lease.run));
      if (row?.renewed) {
        // Counted from before the statement was sent (the database extended
        // the lease during it), so this worker never overestimates its lease.
        lease.renewedAt = now;
        lease.renewAt = now + lease.run.leaseMs / RENEWALS_PER_LEASE;
        lease.ownLocks = 0;
      } else if (row?.state === 'cancelled') {
        this.lose(lease, 'the run was cancelled', 'run_cancelled');
      } else if (row?.busy) {
        this.onLocked(lease, row.own_lock, now);
      } else {
        this.lose(lease, 'its lease was taken over by another worker');
      }
    }
  }

  /**
   * A renewal that gets no answer (a half-open connection) must fail while
   * the leases it renews still have time for another try on a new
   * connection. A renewal is sent with two thirds of a lease left; failing
   * after a quarter, then waiting a sixth before the next try (see
   * onRenewFailure), leaves a quarter of the lease for that try.
   */
  private renewTimeoutMs(due: readonly HeldLease[]): number {
    let shortest = Infinity; // a loop: prefetch may hold 100,000 leases, too many to spread
    for (const lease of due) {
      shortest = Math.min(shortest, lease.run.leaseMs);
    }
    return Math.min(
      this.maxRenewTimeoutMs,
      Math.max(MIN_RENEW_TIMEOUT_MS, Math.round(shortest / 4)),
    );
  }

  private onRenewFailure(due: HeldLease[], err: Error): void {
    const now = Date.now();
    this.logger.warn(
      `Could not renew ${due.length} lease${due.length === 1 ? '' : 's'}: ${err.message}`,
    );
    for (const lease of due) {
      if (this.held.get(leaseKey(lease.run)) !== lease) {
        continue;
      }
      if (now - lease.renewedAt >= lease.run.leaseMs) {
        this.lose(
          lease,
          'its lease expired while the database was unreachable',
        );
      } else {
        // Try again soon, well before the lease runs out.
        lease.renewAt =
          now + Math.max(10, lease.run.leaseMs / (RENEWALS_PER_LEASE * 2));
      }
    }
  }

  /**
   * The claim's row was locked by another transaction, so its lease was not
   * renewed: tried again soon, as after a failed renewal. A lock held by the
   * attempt's own transaction will not go before the attempt ends: the
   * attempt is aborted (and rolled back, which frees the row) while its
   * lease still has time, rather than left to lapse and run again into the
   * same lock.
   */
  private onLocked(lease: HeldLease, ownLock: boolean, now: number): void {
    lease.ownLocks = ownLock && lease.backend?.running ? lease.ownLocks + 1 : 0;
    if (lease.ownLocks >= OWN_LOCKS_TO_ABORT && lease.backend) {
      const { run } = lease;
      const runId = run.kind === 'step' ? run.id : run.runId;
      this.logger.warn(
        `${taskLabel(run)} attempt ${run.attempt}: its own transaction (backend ${lease.backend.pid}) ` +
          `holds a lock on its ${run.kind === 'step' ? 'run' : 'call'}'s row, so its lease cannot be renewed; ` +
          'aborting the attempt (own_run_lock)',
      );
      lease.ownLocks = 0;
      lease.abort.abort(new OwnRunLockError(runId, lease.backend.task));
    }
    if (now - lease.renewedAt >= lease.run.leaseMs) {
      this.lose(
        lease,
        'its lease expired while its row was locked by another transaction',
      );
      return;
    }
    lease.renewAt =
      now + Math.max(10, lease.run.leaseMs / (RENEWALS_PER_LEASE * 2));
  }

  private lose(
    lease: HeldLease,
    why: string,
    cause: 'lease_lost' | 'run_cancelled' = 'lease_lost',
  ): void {
    this.held.delete(leaseKey(lease.run));
    const { run } = lease;
    this.logger.warn(
      `${taskLabel(run)} attempt ${run.attempt}: ${why}; abandoning the attempt`,
    );
    lease.abort.abort(new StepAbortedError(cause));
  }
}

/** A claim, for log lines. */
function taskLabel(run: Claim): string {
  return run.kind === 'step'
    ? `Run ${run.id} ${run.workflowName} step ${run.stepIndex} (${run.stepName})`
    : `Run ${run.runId} ${run.workflowName} activity ${run.name} (step ${run.stepIndex}, call ${run.callIndex})`;
}
