import { formatDuration } from '../common/duration';
import type { RunDetails } from '../model/run-details';
import { RunStuckError } from './run-stuck.error';

/**
 * Why `run` cannot finish by draining and moving the clock, as an error:
 * the signals it waits for with no timeout, or that it is due yet cannot
 * run here; or that the clock moved `tooManyMoves.moves` times already.
 */
export function stuckRunError(
  run: RunDetails,
  tooManyMoves?: { readonly moves: number; readonly offsetMs: number },
): RunStuckError {
  const at = run.stepName ? ` at step "${run.stepName}"` : '';
  const stuck = (waitingFor: string) =>
    new RunStuckError(run.id, run.workflowName, run.state, waitingFor);
  if (tooManyMoves) {
    return stuck(
      `more than ${tooManyMoves.moves} moves of the clock (now ${formatDuration(tooManyMoves.offsetMs)} ahead)${at}: does it ever end?`,
    );
  }
  const signals = run.waits.filter(
    (wait) => wait.state === 'waiting' && wait.kind === 'signal',
  );
  if (signals.length > 0) {
    const what = signals
      .map(
        (wait) =>
          `${wait.names.length === 1 ? 'the signal' : 'one of the signals'} ` +
          `${wait.names.map((name) => `"${name}"`).join(', ')} (no timeout)`,
      )
      .join(' and ');
    return stuck(
      `${what}${at}: send it with kit.signal(runId, signal, payload), then call finish(run)`,
    );
  }
  return stuck(
    `its turn${at}: it is due, yet drain() cannot run it here (a concurrency key that an unfinished run holds, ` +
      'or a workflow, version or step that this app does not run)',
  );
}
