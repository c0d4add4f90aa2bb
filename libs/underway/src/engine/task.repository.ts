import { CallOutcome, commitCallOutcomes } from './sql/commit.sql';
import type { SqlExecutor } from '../database/sql-executor';
import { deliverAfterWait, expireWaits } from './sql/signal.sql';
import { leaseKey } from '../model/claim';
import type { Schema } from '../database/sql';
import { activityClaimId, Claim, FencedOutcome } from '../model/claim';
import type { ClaimScope } from '../model/claim-scope';
import {
  claimRuns,
  ClaimRow,
  HeldCall,
  LeaseToRenew,
  RenewRow,
  renewLeases,
} from './sql/claim.sql';
import {
  commitOutcomes,
  ExpiredTaskRow,
  selectExpiredTasks,
  StepOutcome,
} from './sql/commit.sql';

/**
 * The worker's statements: claim, renew leases, commit outcomes, find
 * lapsed leases, each over both kinds of claimable work (steps of runs,
 * activity calls).
 */
export class TaskRepository {
  constructor(private readonly schema: Schema) {}

  /**
   * @returns the claims, and whether waits or sleeps of `scope` are past
   *   their deadline (`expireWaits` ends them)
   */
  async claim(
    executor: SqlExecutor,
    scope: ClaimScope,
    limit: number,
    owner: string,
  ): Promise<{ claims: Claim[]; waitsDue: boolean }> {
    const result = await executor.query<ClaimRow>(
      claimRuns(this.schema, scope, limit, owner),
    );
    const claims: Claim[] = [];
    let waitsDue = false;
    for (const row of result.rows) {
      if (row.kind === 'waits') {
        waitsDue = true;
      } else {
        claims.push(toClaim(row));
      }
    }
    return { claims, waitsDue };
  }

  /** Ends up to `limit` waits and sleeps of `scope` past their deadline; wakes their runs. @returns how many */
  async expireWaits(
    executor: SqlExecutor,
    scope: ClaimScope,
    limit: number,
  ): Promise<number> {
    const result = await executor.query<{ expired: number }>(
      expireWaits(this.schema, scope.names, scope.workflowKeys, limit),
    );
    return result.rows[0]?.expired ?? 0;
  }

  /**
   * @param pidOf the backend of a claim's transactional attempt, while its
   *   code runs (to tell a lock it holds on its own row from another's)
   * @returns for each claim asked for, by `leaseKey` (claim id and fence): renewed, or why not (its
   *   current state, `null` when the task no longer exists; or its row locked)
   */
  async renew(
    executor: SqlExecutor,
    claims: readonly Claim[],
    pidOf: (claim: Claim) => number | null = () => null,
  ): Promise<Map<string, RenewRow>> {
    const runs: LeaseToRenew[] = [];
    const calls: HeldCall[] = [];
    for (const claim of claims) {
      if (claim.kind === 'step') {
        runs.push({ id: claim.id, fence: claim.fence, pid: pidOf(claim) });
      } else {
        calls.push({
          id: claim.id,
          fence: claim.fence,
          runId: claim.runId,
          stepIndex: claim.stepIndex,
          callIndex: claim.callIndex,
          pid: pidOf(claim),
        });
      }
    }
    const result = await executor.query<RenewRow>(
      renewLeases(this.schema, runs, calls),
    );
    return new Map(result.rows.map((row) => [leaseKey(row), row]));
  }

  /**
   * Commits step outcomes and activity outcomes (one statement for each kind
   * present).
   * @returns the state each applied outcome left its task in, by claim id;
   *   stale ones are absent.
   */
  async commit(
    executor: SqlExecutor,
    outcomes: readonly FencedOutcome[],
    worker: string,
  ): Promise<Map<string, string>> {
    const steps: StepOutcome[] = [];
    const calls: CallOutcome[] = [];
    for (const entry of outcomes) {
      if (entry.run.kind === 'step') {
        steps.push(entry as StepOutcome);
      } else {
        calls.push(entry as CallOutcome);
      }
    }
    const applied = new Map<string, string>();
    if (steps.length > 0) {
      for (const row of await this.commitSteps(executor, steps, worker)) {
        applied.set(row.id, row.state);
      }
    }
    if (calls.length > 0) {
      const result = await executor.query<{
        run_id: string;
        step_index: number;
        call_index: number;
        state: string;
      }>(commitCallOutcomes(this.schema, calls, worker));
      for (const row of result.rows) {
        applied.set(
          activityClaimId(row.run_id, row.step_index, row.call_index),
          row.state,
        );
      }
    }
    return applied;
  }

  /**
   * Commits step outcomes. Steps that suspended on new waits get the signals
   * sent before, in the same transaction: the outcome's statement locked
   * their runs' rows, and `deliverAfterWait` reads after it (a sender that
   * came first is seen; one that comes later waits for the lock, then sees
   * the waits). Without waits, one autocommit statement as before.
   */
  private async commitSteps(
    executor: SqlExecutor,
    steps: readonly StepOutcome[],
    worker: string,
  ): Promise<{ id: string; state: string }[]> {
    const waiting = steps
      .filter(
        ({ outcome }) =>
          outcome.kind === 'suspend' &&
          outcome.calls.some((call) => call.kind === 'wait'),
      )
      .map(({ run }) => run.id);
    const commit = commitOutcomes(this.schema, steps, worker);
    if (waiting.length === 0) {
      return (await executor.query<{ id: string; state: string }>(commit)).rows;
    }
    return executor.atomically(async (transaction) => {
      const { rows } = await transaction.query<{ id: string; state: string }>(
        commit,
      );
      const suspended = rows.map((row) => row.id);
      const parked = waiting.filter((id) => suspended.includes(id));
      if (parked.length > 0) {
        await transaction.query(deliverAfterWait(this.schema, parked));
      }
      return rows;
    });
  }

  /** Tasks whose lease lapsed, up to `limit` of each kind (nothing locked). */
  async expired(
    executor: SqlExecutor,
    limit: number,
  ): Promise<ExpiredTaskRow[]> {
    const result = await executor.query<ExpiredTaskRow>(
      selectExpiredTasks(this.schema, limit),
    );
    return result.rows;
  }
}

function toClaim(row: ClaimRow): Claim {
  if (row.kind === 'activity') {
    const callIndex = row.call_index as number;
    return {
      kind: 'activity',
      id: activityClaimId(row.id, row.step_index, callIndex),
      runId: row.id,
      workflowName: row.workflow_name,
      workflowVersion: row.workflow_version,
      stepIndex: row.step_index,
      stepName: row.step_name,
      callIndex,
      name: row.name as string,
      callKind: row.call_kind as 'call' | 'emit',
      attempt: row.attempt,
      fence: row.fence,
      maxAttempts: row.max_attempts,
      leaseMs: row.lease_ms,
      args: row.input as string,
      claimedAt: row.claimed_at,
      queueWaitMs: row.queue_wait_ms,
      traceContext: row.trace_context,
    };
  }
  return {
    kind: 'step',
    id: row.id,
    workflowName: row.workflow_name,
    workflowVersion: row.workflow_version,
    stepIndex: row.step_index,
    // Claimed at a step of the scope: named (its step_key is null otherwise).
    stepName: row.step_name as string,
    attempt: row.attempt,
    fence: row.fence,
    maxAttempts: row.max_attempts,
    leaseMs: row.lease_ms,
    input: row.input,
    claimedAt: row.claimed_at,
    recordedCalls: row.recorded_calls,
    queueWaitMs: row.queue_wait_ms,
    traceContext: row.trace_context,
    concurrencyKey: row.concurrency_key,
  };
}
