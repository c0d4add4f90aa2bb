import { Logger } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import type { UnderwayMetrics } from '../observability/underway-metrics';
import type { RunQueueRepository } from '../queue/run-queue.repository';
import type { RunEvents } from '../workflow/run-events';
import type { WakeScheduler } from './step.runner';

/** Runs taken back per statement; the claim loop sweeps again on its next poll. */
const RECLAIM_BATCH = 500;

/**
 * Takes back the runs and activity calls whose lease lapsed (their worker
 * died or stalled), on every poll of the claim loop: each becomes a new
 * attempt, or fails when its attempts are used up (River's job rescuer). Its SQL re-checks state,
 * attempt and lease in the statement that writes.
 */
export class LeaseRescuer {
  private readonly logger = new Logger(LeaseRescuer.name);

  constructor(
    private readonly queue: RunQueueRepository,
    private readonly executor: SqlExecutor,
    private readonly events: RunEvents,
    private readonly wake: Pick<WakeScheduler, 'claimSoon'>,
    private readonly metrics: Pick<UnderwayMetrics, 'leasesExpired'>,
  ) {}

  async sweep(): Promise<void> {
    const [reclaimed, calls] = await Promise.all([
      this.queue.reclaimExpired(this.executor, RECLAIM_BATCH),
      this.queue.reclaimExpiredCalls(this.executor, RECLAIM_BATCH),
    ]);
    this.metrics.leasesExpired(reclaimed, calls);
    for (const call of calls) {
      this.logger.warn(
        `Run ${call.run_id} ${call.workflow_name} activity ${call.name} (call ${call.call_index} of step ${call.step_index}) ` +
          `attempt ${call.attempt}/${call.max_attempts}: lease expired, ${call.state === 'failed' ? 'no attempts left, call failed' : 'will be retried'}`,
      );
    }
    for (const run of reclaimed) {
      this.logger.warn(
        `Run ${run.id} ${run.workflow_name} step ${run.step_index} attempt ${run.attempt}/${run.max_attempts}: ` +
          `lease expired, ${run.state === 'failed' ? 'no attempts left, run failed' : 'will be retried'}`,
      );
      if (run.state === 'failed') {
        this.events.finished(run.id);
      }
    }
    if (reclaimed.length > 0 || calls.length > 0) {
      this.wake.claimSoon();
    }
  }
}
