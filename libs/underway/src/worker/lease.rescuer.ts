import { Logger } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import type { TransitionWriter } from '../engine/transition.writer';
import type { UnderwayEvents } from '../events/underway-events';
import type { RunQueueRepository } from '../queue/run-queue.repository';
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
    private readonly writer: TransitionWriter,
    private readonly events: UnderwayEvents,
    private readonly registry: WorkflowRegistry,
    private readonly wake: Pick<WakeScheduler, 'claimSoon'>,
  ) {}

  async sweep(): Promise<void> {
    const [reclaimed, calls] = await Promise.all([
      this.queue.reclaimExpired(this.executor, RECLAIM_BATCH),
      this.queue.reclaimExpiredCalls(this.executor, RECLAIM_BATCH),
    ]);
    const announce = this.events.has('attempt:expired');
    for (const call of calls) {
      this.logger.warn(
        `Run ${call.run_id} ${call.workflow_name} activity ${call.name} (call ${call.call_index} of step ${call.step_index}) ` +
          `attempt ${call.attempt}/${call.max_attempts}: lease expired, ${call.state === 'failed' ? 'no attempts left, call failed' : 'will be retried'}`,
      );
      if (announce) {
        this.events.emit('attempt:expired', {
          runId: call.run_id,
          workflowName: call.workflow_name,
          step: this.stepName(call.workflow_name, call.step_index),
          kind: 'activity',
          activity: call.name,
          attempt: call.attempt,
        });
      }
    }
    for (const run of reclaimed) {
      this.logger.warn(
        `Run ${run.id} ${run.workflow_name} step ${run.step_index} attempt ${run.attempt}/${run.max_attempts}: ` +
          `lease expired, ${run.state === 'failed' ? 'no attempts left, run failed' : 'will be retried'}`,
      );
      if (announce) {
        this.events.emit('attempt:expired', {
          runId: run.id,
          workflowName: run.workflow_name,
          step: this.stepName(run.workflow_name, run.step_index),
          kind: 'step',
          attempt: run.attempt,
        });
      }
      if (run.state === 'failed') {
        this.writer.finished(
          this.executor,
          run.id,
          run.workflow_name,
          'failed',
        );
      }
    }
    if (reclaimed.length > 0 || calls.length > 0) {
      this.wake.claimSoon();
    }
  }

  private stepName(workflowName: string, stepIndex: number): string {
    const method = this.registry.find(workflowName)?.steps[stepIndex]?.method;
    return method === undefined ? String(stepIndex) : String(method);
  }
}
