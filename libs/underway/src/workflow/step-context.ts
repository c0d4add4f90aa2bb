import type { WorkflowDefinition } from '../discovery/workflow-definition';
import type { ClaimedRun } from '../queue/claimed-run';
import type { StepAbort } from './step-abort';

/**
 * What a step receives besides its input.
 *
 * ```ts
 * @Step()
 * async charge(input: Charge, ctx: StepContext) {
 *   await this.payments.charge(input, { signal: ctx.signal });
 *   return Transition.next({ receiptFor: input.orderId });
 * }
 * ```
 *
 * @publicApi
 */
export interface StepContext {
  readonly runId: string;
  readonly workflowName: string;
  /** 0-based position of this step. */
  readonly stepIndex: number;
  readonly stepCount: number;
  /** 1 on the first attempt of this step. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * Aborts when the attempt times out, the worker loses its lease, the run is
   * cancelled or the process shuts down; `signal.reason` tells which
   * (`StepTimeoutError`, `StepAbortedError`). Pass it to I/O that accepts one.
   */
  readonly signal: AbortSignal;
}

/**
 * The context of one claimed attempt. Frozen; `signal` is a getter, so the
 * step's AbortController is made only when the step reads it.
 */
export function createStepContext(
  claimed: ClaimedRun,
  definition: WorkflowDefinition,
  abort: StepAbort,
): StepContext {
  return Object.freeze({
    runId: claimed.id,
    workflowName: definition.name,
    stepIndex: claimed.stepIndex,
    stepCount: definition.steps.length,
    attempt: claimed.attempt,
    maxAttempts: claimed.maxAttempts,
    get signal(): AbortSignal {
      return abort.signal;
    },
  });
}
