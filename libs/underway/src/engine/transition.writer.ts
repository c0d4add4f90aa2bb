// Over 300 lines on purpose: the one writer of run and call state, one method
// per kind of change (inserts, commits, cancel, retry, redrive, retention,
// naming runs, unknown steps), each with its announcement.
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { InterceptorChain } from '../events/interceptor-chain';
import type { RunEnqueueSource } from '../events/underway-event-map';
import { UnderwayEvents } from '../events/underway-events';
import type { EnqueueRequest } from '../events/underway.interceptor';
import type { Claim, FencedOutcome } from '../model/claim';
import type { ClaimScope } from '../model/claim-scope';
import {
  orphanedChildren,
  pruneExpiredRuns,
  tidyConcurrencySlots,
} from './sql/maintenance.sql';
import {
  failUnknownSteps,
  nameUnnamedRuns,
  UnknownStepRow,
} from './sql/versions.sql';
import { finishesRun, Transition, TransitionReason } from '../model/transition';
import { TaskRepository } from './task.repository';
import { sendSignal, SendSignalRow } from './sql/signal.sql';
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

/** The reason of an applied outcome, by its kind. */
const REASON: Readonly<
  Record<FencedOutcome['outcome']['kind'], TransitionReason>
> = {
  next: 'advanced',
  complete: 'completed',
  succeed: 'completed',
  suspend: 'suspended',
  retry: 'retry_scheduled',
  fail: 'failed',
  release: 'released',
};

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
  /** The step it retries: its ordinal in the run, and its durable name (`null`: not yet named). */
  readonly stepIndex: number;
  readonly stepName: string | null;
  /** `pending`, or `waiting` on the failed calls it runs again first. */
  readonly state: RunState;
  /** The failed `ctx.call`s of the step that run again. */
  readonly resetCalls: number;
}

/**
 * The one writer of run and call state: every insert of runs, every commit of
 * an attempt's outcome (a worker's, or the lease rescuer's verdict), every
 * cancel, retry and redrive goes through it, on whatever executor (and
 * transaction) the caller picks, and a change of a task's state comes back
 * as a typed `Transition` with its reason. It runs inserts through the
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
   * Claims up to `limit` due tasks in `scope` (what this instance's code can
   * run) for `owner`: each becomes `running` under a new fence and lease
   * (the claim is the attempt). `waitsDue`: waits or sleeps of the scope
   * are past their deadline (`expireWaits`).
   */
  claim(
    executor: SqlExecutor,
    scope: ClaimScope,
    limit: number,
    owner: string,
  ): Promise<{ claims: Claim[]; waitsDue: boolean }> {
    return this.tasks.claim(executor, scope, limit, owner);
  }

  /**
   * Ends the waits and sleeps of `scope` past their deadline (a wait
   * `timed_out`, a sleep done), up to `limit`, and wakes their runs.
   * @returns how many ended
   */
  expireWaits(
    executor: SqlExecutor,
    scope: ClaimScope,
    limit: number,
  ): Promise<number> {
    return this.tasks.expireWaits(executor, scope, limit);
  }

  /**
   * Commits attempts' outcomes, each fenced by its claim, and announces the
   * runs they finished once `executor`'s transaction commits.
   * @returns a transition for each applied outcome, with its reason; a stale
   *   one (its claim gone) has none
   */
  async commit(
    executor: SqlExecutor,
    outcomes: readonly FencedOutcome[],
    worker: string,
  ): Promise<Transition[]> {
    const applied = await this.tasks.commit(executor, outcomes, worker);
    const transitions: Transition[] = [];
    for (const { run, outcome, rescue } of outcomes) {
      const state = applied.get(run.id);
      if (state !== undefined) {
        transitions.push({
          kind: run.kind,
          taskId: run.id,
          runId: run.kind === 'step' ? run.id : run.runId,
          workflowName: run.workflowName,
          state,
          reason: rescue ? 'lease_expired' : REASON[outcome.kind],
        });
      }
    }
    this.announce(executor, transitions);
    this.announceChildren(executor, outcomes, applied);
    return transitions;
  }

  /** `run:enqueued` (`source: 'child'`) for the children of the outcomes applied. */
  private announceChildren(
    executor: SqlExecutor,
    outcomes: readonly FencedOutcome[],
    applied: ReadonlyMap<string, string>,
  ): void {
    if (!this.events.has('run:enqueued')) {
      return;
    }
    const byWorkflow = new Map<string, string[]>();
    for (const { run, outcome } of outcomes) {
      if (
        run.kind !== 'step' ||
        !applied.has(run.id) ||
        !('calls' in outcome) ||
        !outcome.calls
      ) {
        continue;
      }
      for (const call of outcome.calls) {
        if (call.child) {
          const name = call.child.run.workflowName;
          const ids = byWorkflow.get(name) ?? [];
          ids.push(call.child.run.id);
          byWorkflow.set(name, ids);
        }
      }
    }
    for (const [workflowName, runIds] of byWorkflow) {
      this.enqueued(executor, runIds, workflowName, 'child');
    }
  }

  /**
   * Cancels a run that has not finished.
   * @returns the state it was in and its transition, or `undefined` when it
   *   had already finished
   */
  async cancel(
    executor: SqlExecutor,
    runId: string,
  ): Promise<{ previousState: string; transition: Transition } | undefined> {
    const cancelled = await this.runs.cancel(executor, runId);
    if (!cancelled) {
      return undefined;
    }
    const transition: Transition = {
      kind: 'step',
      taskId: runId,
      runId,
      workflowName: cancelled.workflowName,
      state: 'cancelled',
      reason: 'cancelled',
    };
    this.announce(executor, [
      transition,
      ...cancelled.descendants.map((child): Transition => ({
        kind: 'step',
        taskId: child.id,
        runId: child.id,
        workflowName: child.workflowName,
        state: 'cancelled',
        reason: 'cancelled',
      })),
    ]);
    return { previousState: cancelled.previousState, transition };
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
    budgetsFor: (workflowName: string, version: number) => RetryBudgets,
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
    const budgets = budgetsFor(target.workflow_name, target.workflow_version);
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
      stepName: target.step_name,
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

  /**
   * Deletes up to `limit` finished runs past their retention (their attempts,
   * calls and dead-letter entries with them), never an unfinished one.
   * @returns how many were deleted
   */
  /**
   * Cancels the unfinished children (`parentClose: 'cancel'`) of runs that
   * failed or were cancelled, each with its own tree, up to `limit`.
   * @returns how many were cancelled (their descendants not counted)
   */
  async cancelOrphans(executor: SqlExecutor, limit: number): Promise<number> {
    const { rows } = await executor.query<{ id: string }>(
      orphanedChildren(this.schema, limit),
    );
    let cancelled = 0;
    for (const { id } of rows) {
      if (await this.cancel(executor, id)) {
        cancelled += 1;
      }
    }
    return cancelled;
  }

  async prune(executor: SqlExecutor, limit: number): Promise<number> {
    const result = await executor.query<{ deleted: number }>(
      pruneExpiredRuns(this.schema, limit),
    );
    return result.rows[0]?.deleted ?? 0;
  }

  /**
   * Names the unfinished runs written before versions from the code here
   * (`steps`: each registered version's step names, by `workflowKey`).
   * @returns how many were named
   */
  async nameRuns(
    executor: SqlExecutor,
    scope: ClaimScope,
    steps: Readonly<Record<string, readonly string[]>>,
  ): Promise<number> {
    const result = await executor.query<{ named: number }>(
      nameUnnamedRuns(this.schema, scope.names, steps),
    );
    return result.rows[0]?.named ?? 0;
  }

  /**
   * Fails (`step_not_found`) the runs of the versions in `scope` that waited
   * over `graceMs` at a step their code here does not have, and announces
   * them once `executor`'s transaction commits.
   */
  async failUnknownSteps(
    executor: SqlExecutor,
    scope: ClaimScope,
    graceMs: number,
  ): Promise<Transition[]> {
    const result = await executor.query<UnknownStepRow>(
      failUnknownSteps(this.schema, scope, graceMs),
    );
    const transitions: Transition[] = result.rows.map((row) => ({
      kind: 'step',
      taskId: row.id,
      runId: row.id,
      workflowName: row.workflow_name,
      state: row.state,
      reason: 'step_not_found',
    }));
    this.announce(executor, transitions);
    return transitions;
  }

  /** Frees concurrency slots whose run finished or is gone, and drops unused ones. */
  async tidySlots(executor: SqlExecutor): Promise<void> {
    await executor.query(tidyConcurrencySlots(this.schema));
  }

  /** Announces the runs `transitions` finished, once `executor`'s transaction commits. */
  private announce(
    executor: SqlExecutor,
    transitions: readonly Transition[],
  ): void {
    if (!this.events.has('run:finished')) {
      return;
    }
    const finished = transitions.filter(finishesRun);
    if (finished.length > 0) {
      executor.afterCommit(() => {
        for (const { runId, workflowName, state } of finished) {
          this.events.emit('run:finished', { runId, workflowName, state });
        }
      });
    }
  }

  /**
   * Stores a signal for a run, in `executor`'s transaction, and gives it to
   * a wait of the run if one takes it (which wakes the run). Announces
   * `signal:received` once the transaction commits (not for a duplicate).
   * @returns the outcome: `stored` (with its id), `duplicate` (the id of the
   *   signal that took the key), `finished` (nothing stored) or `not_found`
   */
  async sendSignal(
    executor: SqlExecutor,
    signal: Parameters<typeof sendSignal>[1],
  ): Promise<SendSignalRow['result']> {
    const { rows } = await executor.query<SendSignalRow>(
      sendSignal(this.schema, signal),
    );
    const result = rows[0]!.result;
    if (result.outcome === 'stored' && this.events.has('signal:received')) {
      executor.afterCommit(() =>
        this.events.emit('signal:received', {
          runId: signal.runId,
          name: signal.name,
          signalId: result.signalId!,
          delivered: (result.delivered ?? 0) > 0,
        }),
      );
    }
    return result;
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
