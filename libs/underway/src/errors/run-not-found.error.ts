import { UnderwayError } from './underway.error';

/**
 * The run does not exist (an unknown id, or a finished run already removed
 * after its `ttl`).
 *
 * @publicApi
 */
export class RunNotFoundError extends UnderwayError {
  readonly code = 'run_not_found';

  constructor(readonly runId: string) {
    super(
      `Workflow run ${runId} does not exist (unknown id, or removed after its ttl).`,
    );
  }
}
