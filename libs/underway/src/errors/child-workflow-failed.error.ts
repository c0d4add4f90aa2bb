import { UnderwayError } from './underway.error';

/**
 * What `ctx.child` throws when the child run failed or was cancelled.
 * Uncaught, it fails the parent at once (retrying the step would replay the
 * same failed child); caught, the step may go on (a compensation, another
 * path).
 *
 * @publicApi
 */
export class ChildWorkflowFailedError extends UnderwayError {
  readonly code = 'child_workflow_failed';

  constructor(
    readonly childRunId: string,
    /** The child's final state: `failed` or `cancelled`. */
    readonly state: 'failed' | 'cancelled',
    /** The code of the child's error (`step_not_found`, a `StepError` code, `cancelled`…). */
    readonly errorCode: string,
    readonly errorMessage: string,
    /** The child's workflow. */
    readonly workflowName: string,
  ) {
    super(
      `Child run ${childRunId} of workflow "${workflowName}" ${state === 'cancelled' ? 'was cancelled' : 'failed'}: [${errorCode}] ${errorMessage}`,
    );
  }
}
