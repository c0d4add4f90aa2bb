import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import {
  Attributes,
  createNoopMeter,
  Meter,
  metrics,
} from '@opentelemetry/api';
import type { AttemptEventTask } from '../events/underway-event-map';
import { UnderwayEvents } from '../events/underway-events';
import { settledAs } from './attempt-outcome';
import { createInstruments, Instruments } from './metric-instruments';
import { ATTRIBUTE, AttemptOutcome, METER_NAME } from './metric-names';
import type { WorkflowQueueStats } from './queue-stats';

/**
 * Underway's metrics, through `@opentelemetry/api` only (meter
 * `@underway/nestjs`), fed by the engine's events: with an SDK, this
 * subscribes to them; without one, the global meter is a no-op, no
 * instrument is made and nothing subscribes, so the engine pays nothing.
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
  private readonly unsubscribe: (() => void)[] = [];
  private queue: readonly WorkflowQueueStats[] = [];

  constructor(events: UnderwayEvents) {
    const meter = metrics.getMeter(METER_NAME);
    this.instruments = isNoopMeter(meter)
      ? undefined
      : createInstruments(meter, () => this.queue);
    const instruments = this.instruments;
    if (instruments) {
      this.subscribe(events, instruments);
    }
  }

  /** False when no OpenTelemetry SDK is installed (nothing is recorded). */
  get enabled(): boolean {
    return this.instruments !== undefined;
  }

  /** What the queue gauges report from now on (`[]`: nothing, as when stopped). */
  sampled(stats: readonly WorkflowQueueStats[]): void {
    this.queue = stats;
  }

  onApplicationShutdown(): void {
    this.queue = [];
    for (const unsubscribe of this.unsubscribe.splice(0)) {
      unsubscribe();
    }
    const instruments = this.instruments;
    instruments?.meter.removeBatchObservableCallback(instruments.observe, [
      instruments.queueDepth,
      instruments.oldestDueAge,
    ]);
  }

  private subscribe(events: UnderwayEvents, instruments: Instruments): void {
    const attempt = (
      task: AttemptEventTask,
      outcome: AttemptOutcome,
      durationMs?: number,
    ): void => {
      const attributes: Attributes =
        task.kind === 'activity'
          ? {
              [ATTRIBUTE.workflow]: task.workflowName,
              [ATTRIBUTE.activity]: task.activity,
              [ATTRIBUTE.outcome]: outcome,
            }
          : {
              [ATTRIBUTE.workflow]: task.workflowName,
              [ATTRIBUTE.step]: task.step,
              [ATTRIBUTE.outcome]: outcome,
            };
      const [counter, histogram] =
        task.kind === 'activity'
          ? [instruments.activityAttempts, instruments.activityDuration]
          : [instruments.stepAttempts, instruments.stepDuration];
      counter.add(1, attributes);
      if (durationMs !== undefined) {
        histogram.record(durationMs, attributes);
      }
    };
    this.unsubscribe.push(
      events.onEngine('run:enqueued', ({ runIds, workflowName }) =>
        instruments.runsEnqueued.add(runIds.length, {
          [ATTRIBUTE.workflow]: workflowName,
        }),
      ),
      events.onEngine('run:finished', ({ workflowName, state }) =>
        instruments.runsFinished.add(1, {
          [ATTRIBUTE.workflow]: workflowName,
          [ATTRIBUTE.state]: state,
        }),
      ),
      // A step resuming after its activity calls is left out: it was due
      // since its first claim, so its wait would count the calls' time.
      events.onEngine('attempt:claimed', (claim) => {
        if (claim.kind === 'step' && !claim.resumed) {
          instruments.queueWait.record(Math.max(0, claim.queueWaitMs), {
            [ATTRIBUTE.workflow]: claim.workflowName,
          });
        }
      }),
      events.onEngine('attempt:settled', (settled) =>
        attempt(settled, settledAs(settled), settled.durationMs),
      ),
      events.onEngine('attempt:discarded', (discarded) =>
        attempt(discarded, 'discarded', discarded.durationMs),
      ),
      events.onEngine('attempt:expired', (expired) =>
        attempt(expired, 'lease_expired'),
      ),
    );
  }
}

/** The API's own no-op meter (no SDK registered): the prototype tells. */
function isNoopMeter(meter: Meter): boolean {
  return (
    Object.getPrototypeOf(meter) === Object.getPrototypeOf(createNoopMeter())
  );
}
