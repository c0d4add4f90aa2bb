import type {
  BatchObservableCallback,
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
} from '@opentelemetry/api';
import { ATTRIBUTE, DURATION_BUCKETS_MS, METRIC } from './metric-names';
import type { WorkflowQueueStats } from './queue-stats';

/** The instruments of the meter `@underway/nestjs` (README "Observability"). */
export interface Instruments {
  readonly meter: Meter;
  readonly runsEnqueued: Counter;
  readonly runsFinished: Counter;
  readonly stepAttempts: Counter;
  readonly stepDuration: Histogram;
  readonly activityAttempts: Counter;
  readonly activityDuration: Histogram;
  readonly queueWait: Histogram;
  readonly queueDepth: ObservableGauge;
  readonly oldestDueAge: ObservableGauge;
  /** Reports `queue()` to the two gauges; removed at shutdown. */
  readonly observe: BatchObservableCallback;
}

/**
 * Makes every instrument on `meter`. The gauges report what `queue()` returns
 * when the SDK collects: the last sample, never a query.
 */
export function createInstruments(
  meter: Meter,
  queue: () => readonly WorkflowQueueStats[],
): Instruments {
  const histogram = (name: string, description: string): Histogram =>
    meter.createHistogram(name, {
      description,
      unit: 'ms',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
    });
  const queueDepth = meter.createObservableGauge(METRIC.queueDepth, {
    description:
      'Unfinished runs, by workflow and state (sampled every maintenanceInterval)',
    unit: '{run}',
  });
  const oldestDueAge = meter.createObservableGauge(METRIC.oldestDueAge, {
    description:
      'Age of the oldest due run or activity call not yet claimed, by workflow (sampled every maintenanceInterval)',
    unit: 'ms',
  });
  const observe: BatchObservableCallback = (result) => {
    for (const stats of queue()) {
      const workflow = { [ATTRIBUTE.workflow]: stats.workflowName };
      for (const [state, count] of Object.entries(stats.runs)) {
        result.observe(queueDepth, count, {
          ...workflow,
          [ATTRIBUTE.state]: state,
        });
      }
      result.observe(oldestDueAge, stats.oldestDueMs, workflow);
    }
  };
  meter.addBatchObservableCallback(observe, [queueDepth, oldestDueAge]);
  return {
    meter,
    runsEnqueued: meter.createCounter(METRIC.runsEnqueued, {
      description: 'Runs enqueued (enqueue, enqueueMany, redrive, schedules)',
      unit: '{run}',
    }),
    runsFinished: meter.createCounter(METRIC.runsFinished, {
      description: 'Runs that reached a final state, by workflow and state',
      unit: '{run}',
    }),
    stepAttempts: meter.createCounter(METRIC.stepAttempts, {
      description: 'Step attempts, by workflow, step and outcome',
      unit: '{attempt}',
    }),
    stepDuration: histogram(
      METRIC.stepDuration,
      'How long a step attempt ran, by workflow, step and outcome',
    ),
    activityAttempts: meter.createCounter(METRIC.activityAttempts, {
      description: 'Activity attempts, by workflow, activity and outcome',
      unit: '{attempt}',
    }),
    activityDuration: histogram(
      METRIC.activityDuration,
      'How long an activity attempt ran, by workflow, activity and outcome',
    ),
    queueWait: histogram(
      METRIC.queueWait,
      'From when a step was due to when a worker claimed it, by workflow',
    ),
    queueDepth,
    oldestDueAge,
    observe,
  };
}
