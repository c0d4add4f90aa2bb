import type { Duration } from '../common/duration';

/**
 * Options of `UnderwayHealthIndicator.isHealthy()`.
 *
 * @publicApi
 */
export interface UnderwayHealthOptions {
  /**
   * Down when the oldest due run (or activity call) of the workflows this
   * instance runs has waited longer than this to be claimed: the workers do
   * not keep up, or none runs them.
   * @default no limit (the age is reported, never judged)
   */
  maxOldestDueAge?: Duration;
  /**
   * How long the database may take to answer before it counts as down.
   * @default '1s'
   */
  timeout?: Duration;
}

/**
 * What `isHealthy()` reports under its key: the shape of a `@nestjs/terminus`
 * health indicator result (`status` is `'down'` when any check failed, and
 * `message` says which).
 *
 * @publicApi
 */
export interface UnderwayHealthDetails {
  status: 'up' | 'down';
  /** The database answered the check's query within `timeout`. */
  database: 'up' | 'down';
  /**
   * This process's worker: `running`, `starting` (not started yet: the
   * database was unreachable at boot), `stopped` (shut down), `idle` (no
   * workflow to run here) or `disabled` (`runtime: false`). Only `running`,
   * `idle` and `disabled` count as healthy.
   */
  worker: 'running' | 'starting' | 'stopped' | 'idle' | 'disabled';
  /** The worker's `LISTEN` connection: `listening`, `down`, or `none` without a running worker. */
  listener: 'listening' | 'down' | 'none';
  /** Age of the oldest due run or activity call, in ms (when the database answered). */
  oldestDueAgeMs?: number;
  /** `maxOldestDueAge`, in ms, when given. */
  maxOldestDueAgeMs?: number;
  /** Why it is down. */
  message?: string;
}

/**
 * `{ [key]: UnderwayHealthDetails }`, assignable to terminus's
 * `HealthIndicatorResult`.
 *
 * @publicApi
 */
export type UnderwayHealthResult<Key extends string = string> = Record<
  Key,
  UnderwayHealthDetails
>;
