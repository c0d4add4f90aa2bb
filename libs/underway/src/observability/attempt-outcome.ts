import type { AttemptSettlement } from '../events/underway.interceptor';
import type { AttemptOutcome } from './metric-names';

/**
 * How an attempt ended, as `underway.outcome` (metrics and spans) names it,
 * from its settlement: a failure is `timed_out` when its timeout ended it.
 */
export function settledAs(
  settlement: Pick<AttemptSettlement, 'outcome' | 'error'>,
): AttemptOutcome {
  switch (settlement.outcome) {
    case 'next':
    case 'completed':
      return 'succeeded';
    case 'retry':
    case 'failed':
      return settlement.error?.name === 'StepTimeoutError'
        ? 'timed_out'
        : 'failed';
    case 'suspended':
      return 'suspended';
    case 'released':
      return 'released';
    case 'cancelled':
    case 'lost':
      return 'discarded';
  }
}
