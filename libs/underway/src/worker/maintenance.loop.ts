import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { PoolExecutor, SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  dueRunsOfOtherWorkflows,
  UnclaimableRow,
} from '../engine/sql/maintenance.sql';
import type { TransitionWriter } from '../engine/transition.writer';
import { formatDuration } from '../common/duration';
import type { ClaimScope } from '../model/claim-scope';
import { pruneStaleWaiting } from '../engine/sql/wake.sql';
import {
  forgetWorkerVersions,
  registerWorkerVersions,
} from '../engine/sql/versions.sql';

/** Runs deleted per statement; a pass deletes at most this many batches. */
const PRUNE_BATCH = 1_000;
const PRUNE_BATCHES_PER_PASS = 50;

/**
 * Housekeeping every `maintenanceInterval`: deletes finished runs past their
 * `ttl` (in batches, never an unfinished one), tidies concurrency slots,
 * deletes the waiting marks of workers that died (enqueues would go on
 * notifying for them), and warns about due runs of workflows that this instance does not run.
 */
export class MaintenanceLoop {
  private readonly logger = new Logger(MaintenanceLoop.name);
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly schema: Schema,
    private readonly workflows: readonly string[],
    private readonly intervalMs: number,
    /** Runs due this long without being claimed are worth a warning. */
    private readonly unclaimedAfterMs: number,
    /** Samples the queue for the metrics' gauges (observability/queue.sampler.ts). */
    private readonly sampleQueue: (executor: SqlExecutor) => Promise<void>,
    /** Retention, slot tidying and unknown steps are state changes: the writer makes them. */
    private readonly writer: Pick<
      TransitionWriter,
      'prune' | 'tidySlots' | 'nameRuns' | 'failUnknownSteps'
    >,
    /** The versions run here, their steps, and how long a run may wait at a step they lack. */
    private readonly versions: {
      readonly scope: ClaimScope;
      readonly steps: Readonly<Record<string, readonly string[]>>;
      readonly graceMs: number;
      /** This worker, as `worker_version` names it: unique, and its instance name. */
      readonly worker: { readonly id: string; readonly instance: string };
      readonly registered: readonly { name: string; version: number }[];
    },
  ) {}

  start(): void {
    this.schedule(Math.min(this.intervalMs, 1_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
    // Best effort: a row left behind lapses on its own.
    await new PoolExecutor(this.pool)
      .query(forgetWorkerVersions(this.schema, this.versions.worker.id))
      .catch(() => undefined);
  }

  /** One pass now (also used by tests through the interval option). */
  async runOnce(): Promise<void> {
    const executor = new PoolExecutor(this.pool);
    await this.sampleQueue(executor);
    let pruned = 0;
    for (
      let batch = 0;
      batch < PRUNE_BATCHES_PER_PASS && !this.stopped;
      batch += 1
    ) {
      const deleted = await this.writer.prune(executor, PRUNE_BATCH);
      pruned += deleted;
      if (deleted < PRUNE_BATCH) {
        break;
      }
    }
    if (pruned > 0) {
      this.logger.log(`Deleted ${pruned} finished run(s) past their retention`);
    }
    await this.writer.tidySlots(executor);
    await this.unknownSteps(executor);
    await executor.query(pruneStaleWaiting(this.schema));
    const others = await executor.query<UnclaimableRow>(
      dueRunsOfOtherWorkflows(
        this.schema,
        this.workflows,
        this.versions.scope.workflowKeys,
        this.unclaimedAfterMs,
      ),
    );
    for (const row of others.rows) {
      if (row.workflow_version === null) {
        this.logger.warn(
          `${row.runs} run(s) of workflow "${row.workflow_name}" are due, but this instance does not run it ` +
            `(it runs: ${this.workflows.join(', ')}). Register the workflow in an instance whose runtime runs it.`,
        );
        continue;
      }
      const here = this.versions.registered
        .filter((r) => r.name === row.workflow_name)
        .map((r) => r.version);
      this.logger.warn(
        `${row.runs} run(s) of workflow "${row.workflow_name}" version ${row.workflow_version} are due, but this instance ` +
          `runs only version ${here.join(', ')} of it. A run keeps its version for life: keep a class of version ` +
          `${row.workflow_version} registered in some instance until none is in flight (npx underway versions).`,
      );
    }
  }

  /**
   * Says which versions this worker runs (`worker_version`), names runs from
   * before versions (a redrive by the CLI without a template writes some
   * too), then fails those past their grace at a step that their version's
   * code here does not have.
   */
  private async unknownSteps(executor: SqlExecutor): Promise<void> {
    const { scope, steps, graceMs, worker, registered } = this.versions;
    await executor.query(
      registerWorkerVersions(
        this.schema,
        worker,
        registered.map((r) => r.name),
        registered.map((r) => r.version),
        // Lapses after three missed passes (a worker that died), a minute at least.
        Math.max(this.intervalMs * 3, 60_000),
      ),
    );
    await this.writer.nameRuns(executor, scope, steps);
    const failed = await this.writer.failUnknownSteps(executor, scope, graceMs);
    for (const run of failed) {
      this.logger.warn(
        `Run ${run.runId} of workflow "${run.workflowName}" failed with step_not_found: it waited over ` +
          `${formatDuration(graceMs)} at a step that the code of its version does not have (see its error; client.retry resumes it)`,
      );
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    this.timer = setTimeout(() => {
      this.pass = this.runOnce()
        .catch((err: Error) =>
          this.logger.warn(
            `Housekeeping failed (${err.message}); trying again next time`,
          ),
        )
        .finally(() => {
          this.pass = undefined;
          this.schedule(this.intervalMs);
        });
    }, delayMs);
  }
}
