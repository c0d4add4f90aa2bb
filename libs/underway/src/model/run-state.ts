/**
 * The state of a workflow run.
 * - `pending`: queued, delayed, or backing off before a retry;
 * - `running`: a step is executing;
 * - `waiting`: suspended on activity calls, or between steps after
 *   `Transition.after` (or a step delay);
 * - `succeeded`, `failed`, `cancelled`: terminal: nothing moves a run out of
 *   them, but `client.retry()`, which gives a `failed` run a fresh attempt
 *   budget (back to `pending`).
 *
 * @publicApi
 */
export type RunState =
  'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled';

export const TERMINAL_STATES: readonly RunState[] = [
  'succeeded',
  'failed',
  'cancelled',
];

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.includes(state);
}
