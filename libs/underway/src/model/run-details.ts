import type { RecordedError } from './recorded-error';
import type { RunState } from './run-state';

// What getRun(), getDeadLetters() and the CLI report: plain data, public.

/**
 * A finished attempt of a step.
 *
 * @publicApi
 */
export interface AttemptDetails {
  /** The step's ordinal in the run (0: the first step it entered). */
  readonly stepIndex: number;
  /**
   * The step's durable name (`@Step({ name })`, default the method name);
   * `undefined` only for an attempt recorded before versions, of a version
   * this instance does not register.
   */
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
  /** The workflow version the run was enqueued at, which it keeps for life (`@Workflow({ version })`). */
  readonly workflowVersion: number;
  readonly state: RunState;
  /**
   * The durable name of the step the run is at (the last one, once
   * finished). `undefined` only for a run enqueued before versions and not
   * yet named (an app that registers its workflow names it at boot).
   */
  readonly stepName: string | undefined;
  /** The step the run is at: its ordinal in the run, and its name (`stepName`). */
  readonly currentStep: {
    readonly index: number;
    readonly name: string | undefined;
  };
  /** How many steps the run's version has; `undefined` if this instance does not register that version. */
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
   * When the current step is (or was) due. While the step is suspended: the
   * soonest deadline of its waits and sleeps, or `undefined` when it waits
   * only for calls, signals or children without one (it is due when they end).
   */
  readonly runAt: Date | undefined;
  readonly idempotencyKey: string | undefined;
  /** Every finished attempt, by step then attempt. */
  readonly attempts: readonly AttemptDetails[];
  /** Every `ctx.call` and `ctx.emit`, by step then call order, each with its attempts. */
  readonly activityCalls: readonly ActivityCallDetails[];
  /** Its `ctx.waitFor`, `ctx.waitForAny` and `ctx.sleep`, by step then call order (the latest 1,000). */
  readonly waits: readonly WaitDetails[];
  /** The signals sent to it, in send order (the latest 1,000). */
  readonly signals: readonly SignalDetails[];
  /** The run that started it (`ctx.child`, `ctx.startChild`); `undefined` for a run enqueued otherwise. */
  readonly parentRunId: string | undefined;
  /** The runs it started as children, in the order they were started (the first 1,000). */
  readonly children: readonly {
    readonly runId: string;
    readonly workflowName: string;
    readonly state: RunState;
  }[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly startedAt: Date | undefined;
  readonly completedAt: Date | undefined;
}

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

/**
 * A `ctx.waitFor` / `ctx.waitForAny` (`kind: 'signal'`) or `ctx.sleep`
 * (`kind: 'sleep'`) of a run, as `getRun(id).waits` lists it.
 *
 * @publicApi
 */
export interface WaitDetails {
  readonly stepIndex: number;
  readonly stepName: string | undefined;
  /** Its position among the step's calls, emits, waits and sleeps (0-based). */
  readonly callIndex: number;
  readonly kind: 'signal' | 'sleep';
  /** The signal names it takes (none for a sleep). */
  readonly names: readonly string[];
  /**
   * `waiting`; `received` (it took a signal: `signalId`); `timed_out` (its
   * deadline passed: how a sleep ends); `cancelled` (with its run).
   */
  readonly state: 'waiting' | 'received' | 'timed_out' | 'cancelled';
  /** When it times out (a sleep: when it ends); `undefined`: no timeout. */
  readonly deadline: Date | undefined;
  /** The signal it took. */
  readonly signalId: string | undefined;
  readonly createdAt: Date;
  readonly completedAt: Date | undefined;
}

/**
 * A signal sent to a run, as `getRun(id).signals` lists it.
 *
 * @publicApi
 */
export interface SignalDetails {
  readonly signalId: string;
  readonly name: string;
  /** `pending` until a wait takes it. */
  readonly state: 'pending' | 'consumed';
  readonly idempotencyKey: string | undefined;
  /** The wait that took it: its step and position. */
  readonly consumedBy:
    | {
        readonly stepIndex: number;
        readonly stepName: string | undefined;
        readonly callIndex: number;
      }
    | undefined;
  readonly sentAt: Date;
  readonly consumedAt: Date | undefined;
}

/**
 * A run recorded in a dead-letter queue (`@Workflow({ deadLetter })`).
 *
 * @publicApi
 */
export interface DeadLetterEntry {
  /** The queue: the workflow's `deadLetter` name. */
  readonly queue: string;
  /** The run that failed. */
  readonly runId: string;
  readonly workflowName: string;
  /** The failed run's input, kept for redriving. */
  readonly input: unknown;
  /** The error that failed the run. */
  readonly error: RecordedError | undefined;
  readonly failedAt: Date;
  /** When it was redriven, and the run that redrove it. */
  readonly redrivenAt: Date | undefined;
  readonly redrivenRunId: string | undefined;
}

/**
 * A version of a workflow, as `WorkflowClient.listVersions()` lists it: every
 * version registered here or with unfinished runs.
 *
 * @publicApi
 */
export interface WorkflowVersionInfo {
  readonly workflowName: string;
  /** `@Workflow({ version })`. */
  readonly version: number;
  /** Its unfinished runs (pending, running or waiting). An old class can go once it is 0. */
  readonly inFlight: number;
  /** This instance registers that version (`false`: only another instance, or none, runs its runs). */
  readonly registeredHere: boolean;
  /**
   * The running instances (`instanceName`) whose worker runs it, as their
   * housekeeping last said (within about three `maintenanceInterval`s).
   * Empty with runs in flight: nothing runs them until code of that version
   * is deployed again.
   */
  readonly instances: readonly string[];
}
