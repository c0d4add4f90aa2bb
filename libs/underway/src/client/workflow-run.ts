import type { RunState } from '../model/run-state';
import type { ResultOptions } from './enqueue-options.interface';

/**
 * What a run handle needs from the client; keeps the two files apart. Each
 * call rejects with `UnderwayClosedError` (naming the handle's method) once
 * Underway has closed.
 */
export interface RunHandleBackend {
  status(runId: string): Promise<RunState>;
  result<TOutput>(runId: string, options?: ResultOptions): Promise<TOutput>;
  cancel(runId: string): Promise<boolean>;
}

/**
 * A handle on an enqueued run. Once its application has closed, each method
 * rejects with `UnderwayClosedError`.
 *
 * @publicApi
 */
export class WorkflowRun<TOutput = unknown> {
  constructor(
    readonly id: string,
    readonly workflowName: string,
    private readonly backend: RunHandleBackend,
  ) {}

  /** The run's current state. @throws RunNotFoundError, UnderwayClosedError */
  status(): Promise<RunState> {
    return this.backend.status(this.id);
  }

  /**
   * Waits for the run to finish and resolves with its output
   * (`Transition.complete(output)`, or `undefined`), typed as its workflow
   * declares it (`extends WorkflowIO<Input, Output>`), else `unknown` (or the
   * `TOutput` given to `enqueue<TOutput>()`, `run<TOutput>()`).
   *
   * @throws WorkflowRunFailedError when the run fails or is cancelled
   * @throws ResultTimeoutError when `timeout` passes first
   * @throws UnderwayClosedError when Underway closes first (at once, not at the next poll)
   */
  result(options?: ResultOptions): Promise<TOutput> {
    return this.backend.result<TOutput>(this.id, options);
  }

  /** Cancels the run; `false` if it had already finished. @throws UnderwayClosedError */
  cancel(): Promise<boolean> {
    return this.backend.cancel(this.id);
  }

  toJSON(): { id: string; workflowName: string } {
    return { id: this.id, workflowName: this.workflowName };
  }
}
