import { deserializePayload } from '../common/json-payload';
import { isUuid } from '../common/uuid';
import type { SqlExecutor } from '../database/sql-executor';
import type { RunRepository } from '../engine/run.repository';
import { ResultTimeoutError } from '../errors/result-timeout.error';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { WorkflowRunFailedError } from '../errors/workflow-run-failed.error';
import type { RunState } from '../model/run-state';
import type { RunEvents } from '../events/run-events';
import type { ClientGate } from './client-gate';

const FIRST_POLL_MS = 10;
const RESULT_POLL_MAX_MS = 1_000;

/**
 * `status()` and `result()`: a run's state, and the wait for its end, which
 * resolves at once when this process finished the run (`run:finished`) and
 * otherwise polls with a backoff up to 1 s. Every wait is woken at once when
 * Underway closes, and then rejects with `UnderwayClosedError`.
 */
export class RunResults {
  private readonly waits = new Set<() => void>();

  constructor(
    private readonly gate: ClientGate,
    private readonly runs: RunRepository,
    private readonly events: RunEvents,
  ) {
    gate.closedSignal.addEventListener(
      'abort',
      () => {
        for (const wake of [...this.waits]) {
          wake();
        }
      },
      { once: true },
    );
  }

  /** @throws RunNotFoundError, UnderwayClosedError */
  async status(operation: string, runId: string): Promise<RunState> {
    this.gate.assertOpen(operation);
    const row = isUuid(runId)
      ? await this.runs.status(
          await this.gate.executor(operation, undefined),
          runId,
        )
      : undefined;
    if (!row) {
      throw new RunNotFoundError(runId);
    }
    return row.state as RunState;
  }

  /**
   * @param timeoutMs at most parseDuration's bound: the deadline stays finite
   * @throws RunNotFoundError, WorkflowRunFailedError, ResultTimeoutError, UnderwayClosedError
   */
  async result<TOutput>(
    operation: string,
    runId: string,
    timeoutMs: number,
  ): Promise<TOutput> {
    const deadline = Date.now() + timeoutMs;
    // Refuses each poll once Underway has closed.
    const executor: SqlExecutor = await this.gate.executor(
      operation,
      undefined,
    );
    let pollMs = FIRST_POLL_MS;
    for (;;) {
      const row = isUuid(runId)
        ? await this.runs.status(executor, runId)
        : undefined;
      if (!row) {
        throw new RunNotFoundError(runId);
      }
      if (row.state === 'succeeded') {
        return deserializePayload<TOutput>(row.output);
      }
      if (row.state === 'failed' || row.state === 'cancelled') {
        throw new WorkflowRunFailedError(
          runId,
          row.state,
          row.error?.code,
          row.error?.message,
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new ResultTimeoutError(runId, timeoutMs);
      }
      // Checked again just before waiting: close() wakes the waits it finds.
      this.gate.assertOpen(operation);
      await this.waitForFinish(runId, Math.min(pollMs, remaining));
      pollMs = Math.min(pollMs * 2, RESULT_POLL_MAX_MS);
    }
  }

  private waitForFinish(runId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = this.events.onFinished(runId, done);
      this.waits.add(done);
    });
  }
}
