/**
 * Why a task changed state: one reason per kind of change the engine's
 * writer makes (River's `JobSetStateReason`).
 *
 * - `advanced`: its step returned `Transition.next`/`after`: the run is at its next step;
 * - `completed`: its step completed the run, or its activity call returned;
 * - `suspended`: its step waits on new activity calls (the attempt is not counted);
 * - `retry_scheduled`: a failed attempt, retried after its policy's backoff;
 * - `failed`: a failed attempt with no retry: the task failed;
 * - `released`: given back at shutdown, the attempt not counted;
 * - `lease_expired`: the lease rescuer took back an attempt whose worker
 *   died or stalled (retried or failed: see the state);
 * - `cancelled`: the run was cancelled;
 * - `step_not_found`: the run waited past `runtime.unknownStepGrace` at a
 *   step that its version's code does not have: it failed.
 */
export type TransitionReason =
  | 'advanced'
  | 'completed'
  | 'suspended'
  | 'retry_scheduled'
  | 'failed'
  | 'released'
  | 'lease_expired'
  | 'cancelled'
  | 'step_not_found';

/** A change of one task's state, as the statement that made it returned it. */
export interface Transition {
  readonly kind: 'step' | 'activity';
  /** The claim id: the run's id for a step, `<run>/<step>/<call>` for a call. */
  readonly taskId: string;
  readonly runId: string;
  readonly workflowName: string;
  /** The state the statement left the task in. */
  readonly state: string;
  readonly reason: TransitionReason;
}

/** Whether `transition` finished its run (a step's task left in a terminal state). */
export function finishesRun(
  transition: Transition,
): transition is Transition & { state: 'succeeded' | 'failed' | 'cancelled' } {
  return (
    transition.kind === 'step' &&
    (transition.state === 'succeeded' ||
      transition.state === 'failed' ||
      transition.state === 'cancelled')
  );
}
