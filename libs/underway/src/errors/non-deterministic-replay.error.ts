import { UnderwayError } from './underway.error';

/**
 * A step's replay made a different `ctx.call` / `ctx.emit` (another activity,
 * other arguments) at a position where its earlier execution recorded one. The
 * recorded results no longer match the code, so the run fails (no retry would
 * help): steps must make the same calls, in the same order, on every replay.
 *
 * @publicApi
 */
export class NonDeterministicReplayError extends UnderwayError {
  readonly code = 'non_deterministic_replay';

  constructor(
    readonly callIndex: number,
    readonly recorded: string,
    readonly replayed: string,
  ) {
    super(
      `Non-deterministic replay: call #${callIndex} of this step was recorded as ${recorded}, ` +
        `but the replay made ${replayed}. A step must make the same activity calls, with the same ` +
        'arguments, in the same order each time it runs; put varying work inside an activity.',
    );
  }
}
