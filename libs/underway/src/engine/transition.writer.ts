import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { InterceptorChain } from '../events/interceptor-chain';
import type {
  FinishedRunState,
  RunEnqueueSource,
} from '../events/underway-event-map';
import { UnderwayEvents } from '../events/underway-events';
import type { EnqueueRequest } from '../events/underway.interceptor';
import type { FencedOutcome } from '../model/claim';
import { TaskRepository } from './task.repository';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import type { RunState } from '../model/run-state';
import { RunRepository } from './run.repository';
import type { DeadLetterRow, NewRun } from './sql/admin.sql';
import {
  lockDeadLetterForRetry,
  lockRunForRetry,
  retryFailedRun,
  RetryBudgets,
  RetryDeadLetterRow,
  RetryTargetRow,
} from './sql/retry.sql';

/** Where new runs come from, and what the interceptors see of them. */
export interface InsertOrigin {
  readonly source: RunEnqueueSource;
  /** The dead-letter queue of a redrive. */
  readonly queue?: string;
  /** The schedule whose tick this is. */
  readonly schedule?: { readonly key: string; readonly fireAt: Date };
}

/** What a retry did. */
export interface RetriedRun {
  readonly workflowName: string;
  /** The step it retries. */
  readonly stepIndex: number;
  /** `pending`, or `waiting` on the failed calls it runs again first. */
  readonly state: RunState;
  /** The failed `ctx.call`s of the step that run again. */
  readonly resetCalls: number;
}

/**
 * The one writer of run and call state: every insert of runs, every commit of
 * an attempt's outcome, every cancel goes through it, on whatever executor
 * (and transaction) the caller picks. It runs inserts through the
 * interceptors, and announces each change on `UnderwayEvents` once its
 * transaction committed (`SqlExecutor.afterCommit`): never before, and never
 * for a change that rolled back.
 */
export class TransitionWriter {
  private readonly runs: RunRepository;
  private readonly tasks: TaskRepository;

  constructor(
    private readonly schema: Schema,
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
  ) {
    this.runs = new RunRepository(schema);
    this.tasks = new TaskRepository(schema);
  }

  /**
   * Inserts one run; with an idempotency key already taken, returns the
   * existing run (`created: false`), and announces nothing.
   */
  async insertRun(
    executor: SqlExecutor,
    run: NewRun,
    origin: InsertOrigin,
  ): Promise<{ id: string; created: boolean }> {
    let created = false;
    const { runIds } = await this.intercept(
      run.workflowName,
      1,
      origin,
      async (carrier) => {
        const inserted = await this.runs.insert(executor, run, carrier);
        created = inserted.created;
        return { runIds: [inserted.id] };
      },
    );
    const id = runIds[0]!;
    if (created) {
      this.enqueued(executor, [id], run.workflowName, origin.source);
    }
    return { id, created };
  }

  /** Inserts runs of one workflow in one statement: all or none. @returns their ids, in order */
  async insertRuns(
    executor: SqlExecutor,
    workflowName: string,
    runs: readonly NewRun[],
    origin: InsertOrigin,
  ): Promise<string[]> {
    const { runIds } = await this.intercept(
      workflowName,
      runs.length,
      origin,
      async (carrier) => ({
        runIds: await this.runs.insertMany(executor, runs, carrier),
      }),
    );
    this.enqueued(executor, runIds, workflowName, origin.source);
    return [...runIds];
  }

  /**
   * Commits attempts' outcomes, each fenced by its claim.
   * @returns the state each applied outcome left its task in, by claim id;
   *   stale ones are absent
   */
  async commit(
    executor: SqlExecutor,
    outcomes: readonly FencedOutcome[],
    worker: string,
  ): Promise<Map<string, string>> {
    const applied = await this.tasks.commit(executor, outcomes, worker);
    if (this.events.has('run:finished')) {
      const finished: {
        runId: string;
        workflowName: string;
        state: FinishedRunState;
      }[] = [];
      for (const { run } of outcomes) {
        const state = run.kind === 'step' ? applied.get(run.id) : undefined;
        if (state === 'succeeded' || state === 'failed') {
          finished.push({
            runId: run.id,
            workflowName: run.workflowName,
            state,
          });
        }
      }
      if (finished.length > 0) {
        executor.afterCommit(() => {
          for (const payload of finished) {
            this.events.emit('run:finished', payload);
          }
        });
      }
    }
    return applied;
  }

  /**
   * Cancels a run that has not finished.
   * @returns the state it was in, or `undefined` when it had already finished
   */
  async cancel(
    executor: SqlExecutor,
    runId: string,
  ): Promise<string | undefined> {
    const cancelled = await this.runs.cancel(executor, runId);
    if (cancelled) {
      this.finished(executor, runId, cancelled.workflowName, 'cancelled');
    }
    return cancelled?.previousState;
  }

  /**
   * Retries a failed run in place, on `executor`, which must be inside a
   * transaction (the run's row, then its dead-letter entry, stay locked until
   * it commits): a fresh attempt budget (`budgetsFor` its workflow) at the
   * step that failed, whose failed calls run again first.
   *
   * @throws RunNotFoundError, RunNotRetryableError, and what `budgetsFor` throws
   */
  async retry(
    executor: SqlExecutor,
    runId: string,
    budgetsFor: (workflowName: string) => RetryBudgets,
  ): Promise<RetriedRun> {
    const target = (
      await executor.query<RetryTargetRow>(lockRunForRetry(this.schema, runId))
    ).rows[0];
    if (!target) {
      throw new RunNotFoundError(runId);
    }
    if (target.state !== 'failed') {
      throw new RunNotRetryableError(runId, target.state as RunState);
    }
    // The budgets come from the code that will run the step.
    const budgets = budgetsFor(target.workflow_name);
    const entry = (
      await executor.query<RetryDeadLetterRow>(
        lockDeadLetterForRetry(this.schema, runId),
      )
    ).rows[0];
    if (entry?.redriven_run_id) {
      throw new RunNotRetryableError(runId, 'failed', entry.redriven_run_id);
    }
    const retried = (
      await executor.query<{ state: RunState; reset_calls: number }>(
        retryFailedRun(this.schema, runId, budgets),
      )
    ).rows[0];
    if (!retried) {
      // Never: the row is locked and was seen failed.
      throw new RunNotRetryableError(runId, 'failed');
    }
    return {
      workflowName: target.workflow_name,
      stepIndex: target.step_index,
      state: retried.state,
      resetCalls: retried.reset_calls,
    };
  }

  /**
   * Enqueues `runs` in place of the dead-letter entries `entries` (same
   * order) and marks those redriven, on `executor` (inside a transaction):
   * one insert per workflow, each an enqueue of source `redrive`.
   * @returns the new run ids, in `entries`' order
   */
  async redrive(
    executor: SqlExecutor,
    queue: string,
    entries: readonly DeadLetterRow[],
    runs: readonly NewRun[],
  ): Promise<string[]> {
    const ids = new Map<NewRun, string>();
    const byWorkflow = new Map<string, NewRun[]>();
    for (const run of runs) {
      const group = byWorkflow.get(run.workflowName);
      if (group) {
        group.push(run);
      } else {
        byWorkflow.set(run.workflowName, [run]);
      }
    }
    for (const [workflowName, ofWorkflow] of byWorkflow) {
      const inserted = await this.insertRuns(
        executor,
        workflowName,
        ofWorkflow,
        { source: 'redrive', queue },
      );
      ofWorkflow.forEach((run, i) => ids.set(run, inserted[i] as string));
    }
    const runIds = runs.map((run) => ids.get(run) as string);
    await this.runs.markRedriven(
      executor,
      entries.map((entry, i) => ({ id: entry.id, runId: runIds[i] as string })),
    );
    return runIds;
  }

  /** Announces, once `executor`'s transaction commits, that a run finished. */
  finished(
    executor: SqlExecutor,
    runId: string,
    workflowName: string,
    state: FinishedRunState,
  ): void {
    if (this.events.has('run:finished')) {
      executor.afterCommit(() =>
        this.events.emit('run:finished', { runId, workflowName, state }),
      );
    }
  }

  private intercept(
    workflowName: string,
    count: number,
    origin: InsertOrigin,
    write: (carrier: string | null) => Promise<{ runIds: readonly string[] }>,
  ): Promise<{ runIds: readonly string[] }> {
    if (!this.interceptors.active) {
      return write(null);
    }
    const request: EnqueueRequest = {
      workflowName,
      source: origin.source,
      count,
      ...(origin.queue !== undefined ? { queue: origin.queue } : {}),
      ...(origin.schedule ? { schedule: origin.schedule } : {}),
      carrier: null,
    };
    return this.interceptors.enqueue(request, write);
  }

  private enqueued(
    executor: SqlExecutor,
    runIds: readonly string[],
    workflowName: string,
    source: RunEnqueueSource,
  ): void {
    if (runIds.length > 0 && this.events.has('run:enqueued')) {
      executor.afterCommit(() =>
        this.events.emit('run:enqueued', { runIds, workflowName, source }),
      );
    }
  }
}
