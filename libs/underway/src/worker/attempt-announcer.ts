import type { InterceptorChain } from '../events/interceptor-chain';
import type { AttemptEventTask } from '../events/underway-event-map';
import type { UnderwayEvents } from '../events/underway-events';
import type {
  AttemptSettlement,
  AttemptTask,
} from '../events/underway.interceptor';
import type { Claim } from '../model/claim';

/**
 * How the runner tells the events (and the interceptors) about attempts:
 * it names a claim as they do, and builds nothing while nobody listens and
 * no interceptor is in force, so the hot path pays a few map lookups.
 */
export class AttemptAnnouncer {
  constructor(
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
  ) {}

  /** A task was claimed (`attempt:claimed`, for the queue-wait metric). */
  claimed(claim: Claim): void {
    if (this.events.has('attempt:claimed')) {
      this.events.emit('attempt:claimed', {
        workflowName: claim.workflowName,
        kind: claim.kind,
        queueWaitMs: claim.queueWaitMs,
        resumed: claim.kind === 'step' && claim.recordedCalls > 0,
      });
    }
  }

  /**
   * The attempt as events and interceptors name it, announced as started;
   * `undefined` when neither listens.
   */
  started(claim: Claim): AttemptEventTask | undefined {
    if (
      !this.interceptors.active &&
      !this.events.has('attempt:started') &&
      !this.events.has('attempt:settled') &&
      !this.events.has('lease:lost') &&
      !this.events.has('attempt:discarded')
    ) {
      return undefined;
    }
    const step = claim.stepName ?? String(claim.stepIndex);
    const task: AttemptEventTask =
      claim.kind === 'step'
        ? {
            runId: claim.id,
            workflowName: claim.workflowName,
            step,
            kind: 'step',
            attempt: claim.attempt,
          }
        : {
            runId: claim.runId,
            workflowName: claim.workflowName,
            step,
            kind: 'activity',
            activity: claim.name,
            attempt: claim.attempt,
          };
    if (this.events.has('attempt:started')) {
      this.events.emit('attempt:started', task);
    }
    return task;
  }

  /** What an interceptor gets of the attempt (`task` from `started`). */
  interceptedAs(claim: Claim, task: AttemptEventTask): AttemptTask {
    return {
      ...task,
      stepIndex: claim.stepIndex,
      ...(claim.kind === 'activity'
        ? { callIndex: claim.callIndex, callKind: claim.callKind }
        : {}),
      carrier: claim.traceContext ?? null,
    };
  }

  /** The attempt's outcome committed (`attempt:settled`). */
  settled(
    task: AttemptEventTask | undefined,
    settlement: AttemptSettlement,
    durationMs: number,
  ): void {
    const { outcome, error } = settlement;
    if (task && outcome !== 'lost' && this.events.has('attempt:settled')) {
      this.events.emit('attempt:settled', {
        ...task,
        outcome,
        durationMs,
        ...(error ? { error } : {}),
      });
    }
  }

  /** The attempt's claim was taken back first (`lease:lost`). */
  lost(task: AttemptEventTask | undefined, durationMs: number): void {
    if (!task) {
      return;
    }
    if (this.events.has('lease:lost')) {
      this.events.emit('lease:lost', {
        runId: task.runId,
        step: task.step,
        attempt: task.attempt,
      });
    }
    if (this.events.has('attempt:discarded')) {
      this.events.emit('attempt:discarded', { ...task, durationMs });
    }
  }
}
