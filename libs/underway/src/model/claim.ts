/**
 * A task this worker claimed: a step of a run (its current step), with the
 * fencing token every write of the attempt is conditioned on.
 */
export interface ClaimedStep {
  readonly kind: 'step';
  readonly id: string;
  readonly workflowName: string;
  /** The run's workflow version, which it keeps for life. */
  readonly workflowVersion: number;
  /** The step's ordinal in the run's history (0: the first step it entered). */
  readonly stepIndex: number;
  /** The durable name of the step, which the claimer's code has. */
  readonly stepName: string;
  /** Attempts made at this step, this one included (1-based). */
  readonly attempt: number;
  /** Bumped by every claim; every write of this worker is conditioned on it. */
  readonly fence: string;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  /** JSON text of the step's input, `null` for none. */
  readonly input: string | null;
  /** When the claim was made, as the database printed it (sent back as is). */
  readonly claimedAt: string;
  /** Activity calls and emits this step recorded before (0: nothing to replay). */
  readonly recordedCalls: number;
  /** How long the step was due before this claim, in ms (for `underway.run.queue_wait`). */
  readonly queueWaitMs: number;
  /** The trace context stored at enqueue; absent or `null`: none. */
  readonly traceContext?: TraceCarrier | null;
  /** The run's concurrency key (a child may not ask for it: it is held); absent or `null`: none. */
  readonly concurrencyKey?: string | null;
}

/** A task this worker claimed: an activity call of a run, fenced like a step. */
export interface ClaimedCall {
  readonly kind: 'activity';
  /** `<runId>/<stepIndex>/<callIndex>`: unique among the claims of a worker. */
  readonly id: string;
  readonly runId: string;
  readonly workflowName: string;
  /** The run's workflow version: the call runs on that version's code. */
  readonly workflowVersion: number;
  readonly stepIndex: number;
  /** The durable name of the step that made the call (`null`: made before versions). */
  readonly stepName: string | null;
  /** The call's position among the step's `ctx.call` and `ctx.emit`. */
  readonly callIndex: number;
  /** The durable `@Activity({ name })`. */
  readonly name: string;
  readonly callKind: 'call' | 'emit';
  readonly attempt: number;
  readonly fence: string;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  /** JSON text of the argument array. */
  readonly args: string;
  readonly claimedAt: string;
  /** How long the call was due before this claim, in ms. */
  readonly queueWaitMs: number;
  /** The trace context stored with its run at enqueue; absent or `null`: none. */
  readonly traceContext?: TraceCarrier | null;
}

/**
 * A W3C trace context as OpenTelemetry's propagator writes it
 * (`traceparent`, `tracestate`), stored as `workflow_run.trace_context`.
 */
export type TraceCarrier = Record<string, string>;

/** A task claimed by this worker: a step of a run, or an activity call. */
export type Claim = ClaimedStep | ClaimedCall;

/** The key of an activity call among claims (`ClaimedCall.id`). */
export function activityClaimId(
  runId: string,
  stepIndex: number,
  callIndex: number,
): string {
  return `${runId}/${stepIndex}/${callIndex}`;
}

/** How an attempt ended, as stored in `step_attempt.state`. */
export type AttemptState =
  'succeeded' | 'failed' | 'timed_out' | 'lease_expired';

/** A `ctx.call` or `ctx.emit` of a step's attempt, written by the outcome it commits. */
export interface NewActivityCall {
  readonly callIndex: number;
  /**
   * `call`, `emit`; `wait` (a `ctx.waitFor` / `ctx.waitForAny`: `args` is
   * the JSON array of the signal names it takes), `sleep` (a `ctx.sleep`).
   */
  readonly kind: EntryKind;
  /** The activity's durable name; for a wait, its signal names joined by `|`; `sleep`. */
  readonly name: string;
  /** JSON text of the argument array. */
  readonly args: string;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  /** A wait's timeout, a sleep's duration, in ms (`null`: a wait without one). */
  readonly delayMs?: number | null;
  /** A child's run (`child`, `start`), inserted with the entry. */
  readonly child?: NewChild;
}

/** A child run to insert with the step's outcome, and how it ends with its parent. */
export interface NewChild {
  readonly run: NewRunRow;
  readonly parentClose: 'cancel' | 'abandon';
  /** The parent step's trace context (the child's attempts continue it). */
  readonly traceContext: TraceCarrier | null;
}

/**
 * A run to insert, as `newRunOf` makes it (engine/new-run.ts; the type is
 * here so that the model needs nothing above it).
 */
export interface NewRunRow {
  readonly id: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
  readonly stepName: string | null;
  readonly input: string | null;
  readonly maxAttempts: number;
  readonly leaseMs: number;
  readonly priority: number;
  readonly runPriority: number;
  readonly runAt: Date | null;
  readonly delayMs: number;
  readonly concurrencyKey: string | null;
  readonly idempotencyKey: string | null;
  readonly deadLetter: string | null;
  readonly ttlMs: number;
}

/**
 * The kinds of a step's numbered durable entries: `child` is an awaited
 * child run (`ctx.child`), `start` one not awaited (`ctx.startChild`).
 */
export type EntryKind = 'call' | 'emit' | 'wait' | 'sleep' | 'child' | 'start';

/** A failed attempt, retried after `delayMs` (a step's or an activity call's). */
export interface RetryOutcome {
  readonly kind: 'retry';
  readonly delayMs: number;
  readonly error: object;
  readonly attemptState: AttemptState;
}

/** A failed attempt that ends the task `failed`. */
export interface FailOutcome {
  readonly kind: 'fail';
  readonly error: object;
  readonly attemptState: AttemptState;
}

/** What a worker commits for a claimed run, fenced by `fence`. */
export type RunOutcome =
  | {
      readonly kind: 'next';
      /** The durable name of the step the run goes to. */
      readonly stepName: string;
      readonly input: string | null;
      readonly delayMs: number;
      readonly maxAttempts: number;
      readonly leaseMs: number;
      readonly priority: number | null;
      /** Emits of this attempt. */
      readonly calls?: readonly NewActivityCall[];
    }
  | {
      readonly kind: 'complete';
      readonly output: string | null;
      readonly calls?: readonly NewActivityCall[];
    }
  /**
   * The step waits on activity calls: the run is `waiting` until the last of
   * them finishes, and the attempt is not counted (it resumes as the same one).
   */
  | { readonly kind: 'suspend'; readonly calls: readonly NewActivityCall[] }
  | RetryOutcome
  | FailOutcome
  /** Give the claim back without counting the attempt (shutdown). */
  | { readonly kind: 'release' };

/** What a worker commits for a claimed activity call, fenced by `fence`. */
export type ActivityOutcome =
  | { readonly kind: 'succeed'; readonly result: string | null }
  | RetryOutcome
  | FailOutcome
  | { readonly kind: 'release' };

/**
 * An attempt taken back by the lease rescuer: its outcome is committed only
 * while its lease is still expired (re-checked by the statement that
 * writes), and recorded as the attempt of the worker that held it.
 */
export interface Rescue {
  /** The worker whose lease lapsed (`lease_owner`). */
  readonly leaseOwner: string | null;
}

/**
 * What a step outcome's statement needs of its claim (the lease rescuer's
 * verdict on a run not yet named has no `stepName`).
 */
export type StepClaimRef = Pick<
  ClaimedStep,
  | 'kind'
  | 'id'
  | 'workflowName'
  | 'stepIndex'
  | 'attempt'
  | 'fence'
  | 'claimedAt'
> & { readonly stepName: string | null };

/** What an activity outcome's statement needs of its claim. */
export type CallClaimRef = Pick<
  ClaimedCall,
  | 'kind'
  | 'id'
  | 'runId'
  | 'workflowName'
  | 'stepIndex'
  | 'callIndex'
  | 'name'
  | 'attempt'
  | 'fence'
  | 'claimedAt'
>;

/** An outcome to commit, with the claim it belongs to. */
export type FencedOutcome =
  | {
      readonly run: StepClaimRef;
      readonly outcome: RunOutcome;
      readonly rescue?: Rescue;
    }
  | {
      readonly run: CallClaimRef;
      readonly outcome: ActivityOutcome;
      readonly rescue?: Rescue;
    };

/**
 * A lease's key: the claim and its fence. A task can be held twice here for a
 * moment (a stalled attempt and a new one claimed after its lease was taken
 * back): each keeps its own lease, so the stale one learns at its next
 * renewal that it lost the task, and aborts.
 */
export function leaseKey(claim: { id: string; fence: string }): string {
  return `${claim.id}@${claim.fence}`;
}

/** A claim, for log lines: `Run <id> <workflow> step 1` or `… activity <name> (call 0 of step 1)`. */
export function taskLabel(claimed: Claim): string {
  return claimed.kind === 'step'
    ? `Run ${claimed.id} ${claimed.workflowName} step ${claimed.stepIndex} (${claimed.stepName})`
    : `Run ${claimed.runId} ${claimed.workflowName} activity ${claimed.name} (${claimed.callKind} ${claimed.callIndex} of step ${claimed.stepIndex})`;
}
