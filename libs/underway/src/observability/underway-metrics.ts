import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import {
  Attributes,
  createNoopMeter,
  Meter,
  metrics,
} from '@opentelemetry/api';
import type { ReclaimedCallRow } from '../activity/activity.sql';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type { ActivityOutcome, Claim, RunOutcome } from '../queue/claimed-run';
import type { ReclaimedRun } from '../queue/run-queue.repository';
import { createInstruments, Instruments } from './metric-instruments';
import { ATTRIBUTE, AttemptOutcome, METER_NAME } from './metric-names';
import type { WorkflowQueueStats } from './queue-stats';

/**
 * Underway's metrics, through `@opentelemetry/api` only (meter
 * `@underway/nestjs`). Without an SDK the global meter is a no-op: then no
 * instrument is made, and every method returns at once, before reading a
 * clock or building an attribute set, so the worker's hot path pays one
 * property check per call.
 *
 * The meter is looked up when the module is created: start the SDK first
 * (OpenTelemetry's own advice), or these metrics stay off.
 *
 * The queue gauges report what the last sample saw (`sampled`, once per
 * `maintenanceInterval`, one statement), never a query per scrape.
 */
@Injectable()
export class UnderwayMetrics implements OnApplicationShutdown {
  private readonly instruments: Instruments | undefined;
  private queue: readonly WorkflowQueueStats[] = [];

  constructor(private readonly registry: WorkflowRegistry) {
    const meter = metrics.getMeter(METER_NAME);
    this.instruments = isNoopMeter(meter)
      ? undefined
      : createInstruments(meter, () => this.queue);
  }

  /** False when no OpenTelemetry SDK is installed (every method is a no-op). */
  get enabled(): boolean {
    return this.instruments !== undefined;
  }

  /** A monotonic clock in ms for attempt durations; 0, unread, when off. */
  now(): number {
    return this.instruments ? performance.now() : 0;
  }

  enqueued(workflowName: string, count = 1): void {
    if (this.instruments && count > 0) {
      this.instruments.runsEnqueued.add(count, {
        [ATTRIBUTE.workflow]: workflowName,
      });
    }
  }

  finished(
    workflowName: string,
    state: 'succeeded' | 'failed' | 'cancelled',
  ): void {
    this.instruments?.runsFinished.add(1, {
      [ATTRIBUTE.workflow]: workflowName,
      [ATTRIBUTE.state]: state,
    });
  }

  /**
   * A claim: its wait since the step was due. A step resuming after its
   * activity calls is left out: it was due since its first claim, so its
   * wait would count the calls' time.
   */
  claimed(claim: Claim): void {
    if (
      this.instruments &&
      claim.kind === 'step' &&
      claim.recordedCalls === 0
    ) {
      this.instruments.queueWait.record(Math.max(0, claim.queueWaitMs), {
        [ATTRIBUTE.workflow]: claim.workflowName,
      });
    }
  }

  /**
   * An attempt's committed outcome; `state` is what the commit left the run
   * (or call) in, `undefined` when the claim was lost and nothing changed.
   * @param startedAt `now()` when the attempt started
   */
  committed(
    claim: Claim,
    outcome: RunOutcome | ActivityOutcome,
    state: string | undefined,
    startedAt: number,
  ): void {
    const instruments = this.instruments;
    if (!instruments) {
      return;
    }
    const durationMs = performance.now() - startedAt;
    const result = attemptOutcome(outcome, state);
    if (claim.kind === 'activity') {
      const attributes = this.activityAttributes(
        claim.workflowName,
        claim.name,
        result,
      );
      instruments.activityAttempts.add(1, attributes);
      instruments.activityDuration.record(durationMs, attributes);
      return;
    }
    const attributes = this.stepAttributes(
      claim.workflowName,
      claim.stepIndex,
      result,
    );
    instruments.stepAttempts.add(1, attributes);
    instruments.stepDuration.record(durationMs, attributes);
    if (state === 'succeeded' || state === 'failed') {
      this.finished(claim.workflowName, state);
    }
  }

  /** Attempts whose lease lapsed, taken back by the lease sweep. */
  leasesExpired(
    runs: readonly ReclaimedRun[],
    calls: readonly ReclaimedCallRow[],
  ): void {
    const instruments = this.instruments;
    if (!instruments) {
      return;
    }
    for (const run of runs) {
      instruments.stepAttempts.add(
        1,
        this.stepAttributes(run.workflow_name, run.step_index, 'lease_expired'),
      );
      if (run.state === 'failed') {
        this.finished(run.workflow_name, 'failed');
      }
    }
    for (const call of calls) {
      instruments.activityAttempts.add(
        1,
        this.activityAttributes(call.workflow_name, call.name, 'lease_expired'),
      );
    }
  }

  /** What the queue gauges report from now on (`[]`: nothing, as when stopped). */
  sampled(stats: readonly WorkflowQueueStats[]): void {
    this.queue = stats;
  }

  onApplicationShutdown(): void {
    this.queue = [];
    const instruments = this.instruments;
    instruments?.meter.removeBatchObservableCallback(instruments.observe, [
      instruments.queueDepth,
      instruments.oldestDueAge,
    ]);
  }

  private stepAttributes(
    workflowName: string,
    stepIndex: number,
    outcome: AttemptOutcome,
  ): Attributes {
    const step = this.registry.find(workflowName)?.steps[stepIndex];
    return {
      [ATTRIBUTE.workflow]: workflowName,
      [ATTRIBUTE.step]: step?.method ?? String(stepIndex),
      [ATTRIBUTE.outcome]: outcome,
    };
  }

  private activityAttributes(
    workflowName: string,
    activityName: string,
    outcome: AttemptOutcome,
  ): Attributes {
    return {
      [ATTRIBUTE.workflow]: workflowName,
      [ATTRIBUTE.activity]: activityName,
      [ATTRIBUTE.outcome]: outcome,
    };
  }
}

/** How an attempt ended, from its committed outcome (metrics and spans). */
export function attemptOutcome(
  outcome: RunOutcome | ActivityOutcome,
  state: string | undefined,
): AttemptOutcome {
  if (state === undefined) {
    return 'discarded';
  }
  switch (outcome.kind) {
    case 'next':
    case 'complete':
    case 'succeed':
      return 'succeeded';
    case 'retry':
    case 'fail':
      return outcome.attemptState === 'succeeded'
        ? 'failed'
        : outcome.attemptState;
    case 'suspend':
      return 'suspended';
    case 'release':
      return 'released';
  }
}

/** The API's own no-op meter (no SDK registered): the prototype tells. */
function isNoopMeter(meter: Meter): boolean {
  return (
    Object.getPrototypeOf(meter) === Object.getPrototypeOf(createNoopMeter())
  );
}
