/**
 * The meter and instrument names, and the attributes they carry (README
 * "Observability"). Attribute values are bounded sets: workflow, step and
 * activity names declared in code, states and outcomes listed below; never a
 * run id, an input or an error message.
 */
export const METER_NAME = '@underway/nestjs';

export const METRIC = {
  /** Counter: runs written by enqueue, enqueueMany, redrive and the scheduler. */
  runsEnqueued: 'underway.runs.enqueued',
  /** Counter: runs that reached a final state (`underway.state`). */
  runsFinished: 'underway.runs.finished',
  /** Counter: step attempts by `underway.outcome`. */
  stepAttempts: 'underway.step.attempts',
  /** Histogram (ms): how long a step attempt ran, by outcome. */
  stepDuration: 'underway.step.duration',
  /** Counter: activity attempts by `underway.outcome`. */
  activityAttempts: 'underway.activity.attempts',
  /** Histogram (ms): how long an activity attempt ran, by outcome. */
  activityDuration: 'underway.activity.duration',
  /** Histogram (ms): from when a step was due to when a worker claimed it. */
  queueWait: 'underway.run.queue_wait',
  /** Observable gauge: unfinished runs by workflow and `underway.state`. */
  queueDepth: 'underway.queue.depth',
  /** Observable gauge (ms): age of the oldest due run or activity call, by workflow. */
  oldestDueAge: 'underway.queue.oldest_due_age',
} as const;

export const ATTRIBUTE = {
  workflow: 'underway.workflow',
  step: 'underway.step',
  activity: 'underway.activity',
  state: 'underway.state',
  outcome: 'underway.outcome',
} as const;

/**
 * How an attempt ended, as `underway.outcome`: `succeeded`, `failed`,
 * `timed_out` (a retry may follow either), `lease_expired` (its worker died
 * or stalled), `suspended` (a step waiting on `ctx.call`: no attempt used),
 * `released` (given back at shutdown: no attempt used), `discarded` (its
 * worker had lost the claim: the outcome changed nothing).
 */
export type AttemptOutcome =
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'lease_expired'
  | 'suspended'
  | 'released'
  | 'discarded';

/** Bucket bounds (ms) of the duration histograms: 1 ms to 15 min. */
export const DURATION_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
  60_000, 300_000, 900_000,
];
