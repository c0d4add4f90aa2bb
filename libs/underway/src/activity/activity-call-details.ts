import type { RecordedError } from '../model/recorded-error';
import type { ActivityCallRow } from '../engine/sql/read.sql';

/**
 * A finished attempt of an activity call.
 *
 * @publicApi
 */
export interface ActivityAttemptDetails {
  /** 1-based, per call. */
  readonly attempt: number;
  /** `succeeded`; `failed` (threw); `timed_out`; `lease_expired` (its worker died or stalled). */
  readonly state: 'succeeded' | 'failed' | 'timed_out' | 'lease_expired';
  readonly error: RecordedError | undefined;
  /** The `instanceName` of the worker that ran it. */
  readonly worker: string | undefined;
  readonly startedAt: Date | undefined;
  readonly completedAt: Date;
}

/**
 * One `ctx.call` or `ctx.emit` of a run, as `getRun(id).activityCalls` lists it.
 *
 * @publicApi
 */
export interface ActivityCallDetails {
  readonly stepIndex: number;
  /** The call's position among the step's calls and emits (0-based). */
  readonly callIndex: number;
  /** The durable `@Activity({ name })`. */
  readonly name: string;
  readonly kind: 'call' | 'emit';
  readonly state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** Attempts made so far (the running one included). */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The last error (of a retry, or the failure). */
  readonly error: RecordedError | undefined;
  /** Every finished attempt, in order. */
  readonly attempts: readonly ActivityAttemptDetails[];
  readonly createdAt: Date;
  readonly startedAt: Date | undefined;
  readonly completedAt: Date | undefined;
}

export function toActivityCallDetails(
  row: ActivityCallRow,
): ActivityCallDetails {
  return {
    stepIndex: row.step_index,
    callIndex: row.call_index,
    name: row.name,
    kind: row.kind,
    state: row.state as ActivityCallDetails['state'],
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    error: row.error ?? undefined,
    attempts: row.attempts.map((a) => ({
      attempt: a.attempt,
      state: a.state as ActivityAttemptDetails['state'],
      error: a.error ?? undefined,
      worker: a.worker ?? undefined,
      startedAt: a.started_at === null ? undefined : new Date(a.started_at),
      completedAt: new Date(a.completed_at),
    })),
    createdAt: row.created_at,
    startedAt: row.started_at ?? undefined,
    completedAt: row.completed_at ?? undefined,
  };
}
