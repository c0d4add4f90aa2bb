import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import { InterceptorChain } from '../events/interceptor-chain';
import type {
  FinishedRunState,
  RunEnqueueSource,
} from '../events/underway-event-map';
import { UnderwayEvents } from '../events/underway-events';
import type { EnqueueRequest } from '../events/underway.interceptor';
import type { FencedOutcome } from '../queue/claimed-run';
import { RunQueueRepository } from '../queue/run-queue.repository';
import { RunRepository } from '../workflow/run.repository';
import type { NewRun } from './sql/admin.sql';

/** Where new runs come from, and what the interceptors see of them. */
export interface InsertOrigin {
  readonly source: RunEnqueueSource;
  /** The dead-letter queue of a redrive. */
  readonly queue?: string;
  /** The schedule whose tick this is. */
  readonly schedule?: { readonly key: string; readonly fireAt: Date };
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
  private readonly tasks: RunQueueRepository;

  constructor(
    schema: Schema,
    private readonly events: UnderwayEvents,
    private readonly interceptors: InterceptorChain,
  ) {
    this.runs = new RunRepository(schema);
    this.tasks = new RunQueueRepository(schema);
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
