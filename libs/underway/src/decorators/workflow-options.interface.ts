import type { Duration } from '../common/duration';
import type { RetryPolicy } from '../common/retry-policy';

/**
 * Options of `@Workflow()`.
 *
 * @publicApi
 */
export interface WorkflowOptions {
  /**
   * The durable name of the workflow, stored with each run: keep it stable
   * across deployments (renaming the class is fine).
   */
  name: string;
  /**
   * The version of this workflow's code, stored with each run, which keeps
   * it for life: an instance runs only the versions it registers. Register
   * several classes with one `name` and different versions to keep old runs
   * on the code that started them while new runs take the highest. Bump it
   * when a change would not suit runs already in flight (docs/deploying.md,
   * "Changing workflows"). A positive integer. @default 1
   */
  version?: number;
  /** Retry policy of every step, over the module `defaults`. */
  retry?: RetryPolicy;
  /** Longest a step attempt may run. @default module defaults.timeout ('15m') */
  timeout?: Duration;
  /** Step lease; see `UnderwayModuleOptions.defaults.heartbeat`. @default '30s' */
  heartbeat?: Duration;
  /** How long a finished run is kept. @default module defaults.ttl ('14d') */
  ttl?: Duration;
  /** Claim priority of the run's steps: higher runs first. @default 0 */
  priority?: number;
  /**
   * A dead-letter queue: a run that fails for good is recorded under this
   * name, atomically with its failure, and can be enqueued again with
   * `WorkflowClient.redrive(name)`.
   */
  deadLetter?: string;
  /**
   * Runs of this workflow on a schedule, declared here and synced at boot:
   * added, changed (cron, input, overlap) and removed when gone from the
   * code. Schedules made with `WorkflowClient.schedule()` are never touched
   * by the sync. One, or several each with its own `key`.
   */
  schedule?: WorkflowSchedule | readonly WorkflowSchedule[];
}

/**
 * A schedule declared on `@Workflow({ schedule })`.
 *
 * @publicApi
 */
export interface WorkflowSchedule {
  /**
   * A 5- or 6-field cron or a macro, with its time zone in brackets at the
   * end (UTC without one; there is no `timeZone` option):
   * `'0 2 * * *[Europe/Paris]'`, `'@daily[America/New_York]'`,
   * `'*\/10 * * * * *'`. See docs/schedules.md.
   */
  cron: string;
  /** The input of each run. */
  input?: unknown;
  /** Unique in the workflow. @default 'default' */
  key?: string;
  /** `skip`: skip a tick while the previous run is unfinished. @default 'allow' */
  overlap?: 'allow' | 'skip';
}

/**
 * Options of `@Step()`; each overrides the workflow's for this step.
 *
 * @publicApi
 */
export interface StepOptions {
  /**
   * The durable name of the step, stored with each run at it: a run resumes
   * at the step of that name in the code that claims it, so keep it when you
   * rename the method. @default the method's name
   */
  name?: string;
  retry?: RetryPolicy;
  timeout?: Duration;
  heartbeat?: Duration;
  priority?: number;
  /**
   * Wait this long before entering the step. A delay given by
   * `Transition.after(input, delay)` replaces it.
   */
  delay?: Duration;
  /**
   * Run the step in a transaction on the app's DataSource, handed to it as
   * `ctx.manager`: its writes and its outcome (`next`, `after`, `complete`)
   * commit together, once. A failed, timed-out, cancelled or fenced-out
   * attempt (or a suspension on `ctx.call`, which replays) rolls the writes
   * back. Such a step holds one connection of the app's pool while it runs.
   * @default false
   */
  transactional?: boolean;
}

/**
 * Options of `@Activity()`; `retry`, `timeout` and `heartbeat` override the
 * workflow's (and the module `defaults`) for this activity.
 *
 * @publicApi
 */
export interface ActivityOptions {
  /**
   * The durable name stored with each call: keep it stable across
   * deployments (renaming the method is then fine). Unique in the workflow.
   * @default the method name
   */
  name?: string;
  retry?: RetryPolicy;
  /** Longest one attempt of the activity may run. */
  timeout?: Duration;
  /** The activity's lease, renewed while it runs. */
  heartbeat?: Duration;
  /**
   * Run the activity in a transaction on the app's DataSource, handed to it as
   * `currentActivity().manager`: its writes and its result commit together,
   * once; a failed, timed-out, cancelled or fenced-out attempt rolls them back.
   * @default false
   */
  transactional?: boolean;
}
