import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import type { ClaimedRun } from './claimed-run';
import {
  claimRuns,
  ClaimRow,
  commitOutcomes,
  FencedOutcome,
  reclaimExpiredLeases,
  RenewRow,
  renewLeases,
} from './run-queue.sql';

export interface ReclaimedRun {
  id: string;
  workflow_name: string;
  step_index: number;
  attempt: number;
  max_attempts: number;
  state: 'pending' | 'failed';
}

/** The worker's statements: claim, renew leases, commit outcomes, reclaim. */
export class RunQueueRepository {
  constructor(private readonly schema: Schema) {}

  async claim(
    executor: SqlExecutor,
    workflowNames: readonly string[],
    limit: number,
    owner: string,
  ): Promise<ClaimedRun[]> {
    const result = await executor.query<ClaimRow>(
      claimRuns(this.schema, workflowNames, limit, owner),
    );
    return result.rows.map((row) => ({
      id: row.id,
      workflowName: row.workflow_name,
      stepIndex: row.step_index,
      attempt: row.attempt,
      fence: row.fence,
      maxAttempts: row.max_attempts,
      leaseMs: row.lease_ms,
      input: row.input,
      claimedAt: row.claimed_at,
    }));
  }

  /**
   * @returns for each run asked for: renewed, or why not (its current state,
   *   `null` when the run no longer exists)
   */
  async renew(
    executor: SqlExecutor,
    runs: readonly { id: string; fence: string }[],
  ): Promise<Map<string, RenewRow>> {
    const result = await executor.query<RenewRow>(
      renewLeases(this.schema, runs),
    );
    return new Map(result.rows.map((row) => [row.id, row]));
  }

  /** @returns the state each applied outcome left its run in, by id; stale ones are absent. */
  async commit(
    executor: SqlExecutor,
    outcomes: readonly FencedOutcome[],
    worker: string,
  ): Promise<Map<string, string>> {
    const result = await executor.query<{ id: string; state: string }>(
      commitOutcomes(this.schema, outcomes, worker),
    );
    return new Map(result.rows.map((row) => [row.id, row.state]));
  }

  async reclaimExpired(
    executor: SqlExecutor,
    limit: number,
  ): Promise<ReclaimedRun[]> {
    const result = await executor.query<ReclaimedRun>(
      reclaimExpiredLeases(this.schema, limit),
    );
    return result.rows;
  }
}
