import type { ActivityCallDetails } from '../activity/activity-call-details';
import type { RecordedError } from '../model/recorded-error';
import type { RunState } from '../workflow/run-state';

export type { RecordedError };

/**
 * A finished attempt of a step.
 *
 * @publicApi
 */
export interface AttemptDetails {
  readonly stepIndex: number;
  /** The step method's name; `undefined` if this instance does not register the workflow. */
  readonly stepName: string | undefined;
  /** 1-based, per step. */
  readonly attempt: number;
  /**
   * `succeeded`; `failed` (threw); `timed_out`; `lease_expired` (its worker
   * died or stalled).
   */
  readonly state:
    'succeeded' | 'failed' | 'timed_out' | 'lease_expired' | 'cancelled';
  readonly error: RecordedError | undefined;
  /** The `instanceName` of the worker that ran it. */
  readonly worker: string | undefined;
  readonly startedAt: Date | undefined;
  readonly completedAt: Date;
}

/**
 * Everything known about a run, as `WorkflowClient.getRun()` returns it.
 *
 * @publicApi
 */
export interface RunDetails<TOutput = unknown> {
  readonly id: string;
  readonly workflowName: string;
  readonly state: RunState;
  /** The step the run is at (the last one, once finished). */
  readonly currentStep: {
    readonly index: number;
    readonly name: string | undefined;
  };
  /** `undefined` if this instance does not register the workflow. */
  readonly stepCount: number | undefined;
  readonly input: unknown;
  /** The output of `Transition.complete(output)`, once succeeded. */
  readonly output: TOutput | undefined;
  /** The last error (of a retry, or the failure). */
  readonly error: RecordedError | undefined;
  /** Attempts made at the current step. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: number;
  /**
   * When the current step is (or was) due; `undefined` while the step is
   * suspended on activity calls (it is due when the last one finishes).
   */
  readonly runAt: Date | undefined;
  readonly idempotencyKey: string | undefined;
  /** Every finished attempt, by step then attempt. */
  readonly attempts: readonly AttemptDetails[];
  /** Every `ctx.call` and `ctx.emit`, by step then call order, each with its attempts. */
  readonly activityCalls: readonly ActivityCallDetails[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly startedAt: Date | undefined;
  readonly completedAt: Date | undefined;
}
