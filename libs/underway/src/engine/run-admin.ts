import { deserializePayload } from '../common/json-payload';
import { isUuid } from '../common/uuid';
import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import type {
  AttemptDetails,
  DeadLetterEntry,
  RunDetails,
  WorkflowVersionInfo,
} from '../model/run-details';
import { workflowKey } from '../model/claim-scope';
import { VersionRow, versionsInFlight } from './sql/versions.sql';
import type { RunState } from '../model/run-state';
import type { PolicySource } from './policy-source';
import {
  toActivityCallDetails,
  toSignalDetails,
  toWaitDetails,
} from './run-details.mapper';
import { RunRepository } from './run.repository';
import {
  ActivityCallRepository,
  MAX_LISTED_WAITS,
} from './activity-call.repository';
import type { RetriedRun, TransitionWriter } from './transition.writer';

/** Which dead-letter entries an action reads: some runs', or the oldest `limit`. */
export interface DeadLetterQuery {
  readonly runIds: readonly string[] | null;
  readonly limit: number;
}

/** What a redrive did. */
export interface Redriven {
  /** Each entry redriven, with the run that replaces it, oldest failure first. */
  readonly entries: readonly {
    readonly runId: string;
    readonly workflowName: string;
    readonly newRunId: string;
  }[];
  /** Workflows whose new runs got the built-in defaults (the CLI, no retained run to copy). */
  readonly guessed: readonly string[];
}

/**
 * The operator actions, one implementation for every front end: the client
 * (and through it the dashboard) and the CLI. What differs is only where
 * the policies come from (`PolicySource`: the registered code, or the
 * database's record); every write goes through the `TransitionWriter`.
 */
export class RunAdmin {
  private readonly runs: RunRepository;
  private readonly calls: ActivityCallRepository;

  constructor(
    private readonly schema: Schema,
    private readonly writer: TransitionWriter,
    private readonly policies: PolicySource,
  ) {
    this.runs = new RunRepository(schema);
    this.calls = new ActivityCallRepository(schema);
  }

  /** Everything known about a run, or `null` for an unknown id. */
  async getRun<TOutput = unknown>(
    executor: SqlExecutor,
    runId: string,
  ): Promise<RunDetails<TOutput> | null> {
    if (!isUuid(runId)) {
      return null;
    }
    const row = await this.runs.find(executor, runId);
    if (!row) {
      return null;
    }
    const [attemptRows, callRows, waited, childRows] = await Promise.all([
      this.runs.attempts(executor, runId),
      this.calls.ofRun(executor, runId),
      this.calls.waitsOfRun(executor, runId),
      this.runs.children(executor, runId, MAX_LISTED_WAITS),
    ]);
    // Named when written; before versions, by position in the code here.
    const name = (index: number, stored: string | null): string | undefined =>
      stored ??
      this.policies.stepName(row.workflow_name, row.workflow_version, index);
    const attempts: AttemptDetails[] = attemptRows.map((a) => ({
      stepIndex: a.step_index,
      stepName: name(a.step_index, a.step_name),
      attempt: a.attempt,
      state: a.state as AttemptDetails['state'],
      error: a.error ?? undefined,
      worker: a.worker ?? undefined,
      startedAt: a.started_at ?? undefined,
      completedAt: a.completed_at,
    }));
    return {
      id: row.id,
      workflowName: row.workflow_name,
      workflowVersion: row.workflow_version,
      state: row.state as RunState,
      stepName: name(row.step_index, row.step_name),
      currentStep: {
        index: row.step_index,
        name: name(row.step_index, row.step_name),
      },
      stepCount: this.policies.stepCount(
        row.workflow_name,
        row.workflow_version,
      ),
      input: deserializePayload(row.input),
      output: deserializePayload<TOutput>(row.output),
      error: row.error ?? undefined,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      priority: row.priority,
      runAt: row.run_at ?? undefined,
      idempotencyKey: row.idempotency_key ?? undefined,
      attempts,
      activityCalls: callRows.map(toActivityCallDetails),
      waits: waited.waits.map(toWaitDetails),
      signals: waited.signals.map(toSignalDetails),
      parentRunId: row.parent_run_id ?? undefined,
      children: childRows.map((c) => ({
        runId: c.id,
        workflowName: c.workflow_name,
        state: c.state as RunState,
      })),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      startedAt: row.started_at ?? undefined,
      completedAt: row.completed_at ?? undefined,
    };
  }

  /**
   * Every version of `workflowName` (or of every workflow) registered here or
   * with unfinished runs, by name then version, with its unfinished runs.
   */
  async listVersions(
    executor: SqlExecutor,
    workflowName: string | null,
  ): Promise<WorkflowVersionInfo[]> {
    const rows = (
      await executor.query<VersionRow>(
        versionsInFlight(this.schema, workflowName),
      )
    ).rows;
    const key = workflowKey;
    const registered = new Set(
      this.policies.registeredVersions().map((r) => key(r.name, r.version)),
    );
    const listed = new Map<string, WorkflowVersionInfo>();
    for (const row of rows) {
      const k = key(row.workflow_name, row.workflow_version);
      listed.set(k, {
        workflowName: row.workflow_name,
        version: row.workflow_version,
        inFlight: row.in_flight,
        registeredHere: registered.has(k),
        instances: row.workers,
      });
    }
    for (const r of this.policies.registeredVersions()) {
      const k = key(r.name, r.version);
      if (
        !listed.has(k) &&
        (workflowName === null || r.name === workflowName)
      ) {
        listed.set(k, {
          workflowName: r.name,
          version: r.version,
          inFlight: 0,
          registeredHere: true,
          instances: [],
        });
      }
    }
    return [...listed.values()].sort(
      (a, b) =>
        (a.workflowName < b.workflowName
          ? -1
          : a.workflowName > b.workflowName
            ? 1
            : 0) || a.version - b.version,
    );
  }

  /**
   * Cancels a run that has not finished.
   * @returns the state it was in, or `undefined` when it had already finished (or is unknown)
   */
  async cancel(
    executor: SqlExecutor,
    runId: string,
  ): Promise<string | undefined> {
    return isUuid(runId)
      ? (await this.writer.cancel(executor, runId))?.previousState
      : undefined;
  }

  /**
   * Retries a failed run in place; `executor` must be inside a transaction.
   * @throws RunNotFoundError, RunNotRetryableError, WorkflowNotRegisteredError
   */
  retry(executor: SqlExecutor, runId: string): Promise<RetriedRun> {
    return this.writer.retry(executor, runId, (workflowName, version) =>
      this.policies.retryBudgets(workflowName, version),
    );
  }

  /**
   * Enqueues again the dead-letter entries of `queue` not yet redriven (all
   * or none); `executor` must be inside a transaction.
   */
  async redrive(
    executor: SqlExecutor,
    queue: string,
    query: DeadLetterQuery,
  ): Promise<Redriven> {
    const entries = await this.runs.deadLetters(executor, queue, {
      ...query,
      forRedrive: true,
    });
    if (entries.length === 0) {
      return { entries: [], guessed: [] };
    }
    const { runs, guessed } = await this.policies.newRunsFor(
      executor,
      entries,
      queue,
    );
    const ids = await this.writer.redrive(executor, queue, entries, runs);
    return {
      entries: entries.map((entry, i) => ({
        runId: entry.run_id,
        workflowName: entry.workflow_name,
        newRunId: ids[i] as string,
      })),
      guessed,
    };
  }

  /** The entries of a dead-letter queue, oldest first (redriven ones included). */
  async deadLetters(
    executor: SqlExecutor,
    queue: string,
    query: DeadLetterQuery,
  ): Promise<DeadLetterEntry[]> {
    const rows = await this.runs.deadLetters(executor, queue, {
      ...query,
      forRedrive: false,
    });
    return rows.map((row) => ({
      queue: row.queue,
      runId: row.run_id,
      workflowName: row.workflow_name,
      input: deserializePayload(row.input),
      error: row.error ?? undefined,
      failedAt: row.failed_at,
      redrivenAt: row.redriven_at ?? undefined,
      redrivenRunId: row.redriven_run_id ?? undefined,
    }));
  }
}
