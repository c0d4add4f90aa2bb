import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  AttemptRow,
  ChildRow,
  RunRow,
  RunStatusRow,
  selectAttempts,
  selectChildren,
  selectRun,
  selectRunStatus,
} from './sql/read.sql';
import {
  cancelRun,
  DeadLetterRow,
  markRedriven,
  selectDeadLetters,
  findByIdempotencyKey,
  insertRun,
  insertRuns,
  NewRun,
} from './sql/admin.sql';

/**
 * Runs `run.sql.ts` through whatever executor (and transaction) the caller
 * picks. Writes go through `TransitionWriter`, which announces them.
 */
export class RunRepository {
  constructor(private readonly schema: Schema) {}

  /**
   * Inserts a run; with a known idempotency key, returns the existing run's id.
   * @param traceContext the enqueue's trace context, JSON text (`null`: none)
   */
  async insert(
    executor: SqlExecutor,
    run: NewRun,
    traceContext: string | null = null,
  ): Promise<{ id: string; created: boolean }> {
    const inserted = await executor.query<{ id: string }>(
      insertRun(this.schema, run, traceContext),
    );
    const row = inserted.rows[0];
    if (row) {
      return { id: row.id, created: true };
    }
    // The key is taken: the insert waited for the holder to commit, so the
    // existing run is visible to this (new) statement.
    const existing = await executor.query<{ id: string }>(
      findByIdempotencyKey(
        this.schema,
        run.workflowName,
        run.idempotencyKey ?? '',
      ),
    );
    const found = existing.rows[0];
    if (!found) {
      throw new Error(
        `Run with idempotency key "${run.idempotencyKey}" was neither inserted nor found; retry the enqueue.`,
      );
    }
    return { id: found.id, created: false };
  }

  /** Inserts runs, all with the same trace context (JSON text, `null`: none). */
  async insertMany(
    executor: SqlExecutor,
    runs: readonly NewRun[],
    traceContext: string | null = null,
  ): Promise<string[]> {
    const inserted = await executor.query<{ id: string }>(
      insertRuns(this.schema, runs, traceContext),
    );
    return inserted.rows.map((row) => row.id);
  }

  /** The id of the run of `workflowName` that holds `idempotencyKey`, if any. */
  async findIdByKey(
    executor: SqlExecutor,
    workflowName: string,
    idempotencyKey: string,
  ): Promise<string | undefined> {
    const { rows } = await executor.query<{ id: string }>(
      findByIdempotencyKey(this.schema, workflowName, idempotencyKey),
    );
    return rows[0]?.id;
  }

  /** The run's children, the first `limit`. */
  async children(
    executor: SqlExecutor,
    runId: string,
    limit: number,
  ): Promise<ChildRow[]> {
    return (
      await executor.query<ChildRow>(selectChildren(this.schema, runId, limit))
    ).rows;
  }

  async find(executor: SqlExecutor, id: string): Promise<RunRow | undefined> {
    const result = await executor.query<RunRow>(selectRun(this.schema, id));
    return result.rows[0];
  }

  async status(
    executor: SqlExecutor,
    id: string,
  ): Promise<RunStatusRow | undefined> {
    const result = await executor.query<RunStatusRow>(
      selectRunStatus(this.schema, id),
    );
    return result.rows[0];
  }

  async attempts(executor: SqlExecutor, runId: string): Promise<AttemptRow[]> {
    const result = await executor.query<AttemptRow>(
      selectAttempts(this.schema, runId),
    );
    return result.rows;
  }

  /**
   * Cancels a run that has not finished.
   * @returns the state it was in and its workflow, or `undefined` when it had already finished
   */
  /**
   * Cancels the run and its unfinished children that end with it
   * (recursively). @returns the run's previous state and workflow, and the
   * descendants cancelled with it; `undefined` if it had finished
   */
  async cancel(
    executor: SqlExecutor,
    id: string,
  ): Promise<
    | {
        previousState: string;
        workflowName: string;
        descendants: { id: string; workflowName: string }[];
      }
    | undefined
  > {
    const result = await executor.query<{
      id: string;
      previous_state: string;
      workflow_name: string;
      depth: number;
    }>(cancelRun(this.schema, id));
    const [row, ...descendants] = result.rows;
    return row && row.depth === 0
      ? {
          previousState: row.previous_state,
          workflowName: row.workflow_name,
          descendants: descendants.map((d) => ({
            id: d.id,
            workflowName: d.workflow_name,
          })),
        }
      : undefined;
  }

  async deadLetters(
    executor: SqlExecutor,
    queue: string,
    options: {
      runIds: readonly string[] | null;
      limit: number;
      forRedrive: boolean;
    },
  ): Promise<DeadLetterRow[]> {
    const result = await executor.query<DeadLetterRow>(
      selectDeadLetters(this.schema, queue, options),
    );
    return result.rows;
  }

  async markRedriven(
    executor: SqlExecutor,
    entries: readonly { id: string; runId: string }[],
  ): Promise<void> {
    if (entries.length > 0) {
      await executor.query(markRedriven(this.schema, entries));
    }
  }
}
