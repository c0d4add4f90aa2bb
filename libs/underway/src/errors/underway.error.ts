/**
 * The codes of Underway's own errors. Errors raised by user code keep their own
 * code (`StepError.fatal('missing_user', …)`).
 *
 * @publicApi
 */
export type UnderwayErrorCode =
  | 'invalid_options'
  | 'invalid_workflow_definition'
  | 'duplicate_workflow'
  | 'workflow_not_registered'
  | 'invalid_input'
  | 'payload_too_large'
  | 'schema_version_mismatch'
  | 'database_unavailable'
  | 'underway_closed'
  | 'invalid_schedule'
  | 'run_failed'
  | 'run_not_found'
  | 'run_finished'
  | 'run_not_retryable'
  | 'result_timeout'
  | 'step_timeout'
  | 'lease_lost'
  | 'run_cancelled'
  | 'shutdown'
  | 'suspended'
  | 'activity_failed'
  | 'non_deterministic_replay'
  | 'invalid_activity_call'
  | 'outside_activity'
  | 'transaction_closed'
  | 'transaction_control'
  | 'own_run_lock'
  | 'call_outside_step'
  | 'child_workflow_failed'
  | 'concurrency_deadlock';

/**
 * Base class of every error Underway throws. `code` is stable and meant for
 * programs; `message` names the thing at fault and how to fix it.
 *
 * @publicApi
 */
export abstract class UnderwayError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
