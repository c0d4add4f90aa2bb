import { UnderwayError } from './underway.error';

/** Why a worker gave up an attempt that did not fail on its own. */
export type AbortCause =
  'lease_lost' | 'run_cancelled' | 'shutdown' | 'suspended';

const MESSAGES: Record<AbortCause, string> = {
  lease_lost:
    'The lease on this step was lost (another worker may have taken it over); its outcome will be discarded.',
  run_cancelled: 'The run was cancelled.',
  shutdown: 'The worker is shutting down; the step will run again elsewhere.',
  suspended:
    'The step is suspended on an activity call; it resumes (replays) once the call has finished.',
};

/**
 * The reason on `ctx.signal` when a worker stops an attempt for a cause other
 * than its timeout: the lease was lost, the run was cancelled, the process
 * is shutting down, or (for a step) it is suspended on `ctx.call`.
 *
 * @publicApi
 */
export class StepAbortedError extends UnderwayError {
  constructor(readonly code: AbortCause) {
    super(MESSAGES[code]);
  }
}
