import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import type { WorkflowRegistry } from '../discovery/workflow.registry';
import type { WorkflowDefinition } from '../discovery/workflow-definition';
import { RunNotFoundError } from '../errors/run-not-found.error';
import { RunNotRetryableError } from '../errors/run-not-retryable.error';
import type { RunState } from './run-state';
import {
  lockDeadLetterForRetry,
  lockRunForRetry,
  retryFailedRun,
  RetryBudgets,
  RetryDeadLetterRow,
  RetryTargetRow,
} from '../engine/sql/retry.sql';

/** What a retry did. */
export interface RetriedRun {
  readonly workflowName: string;
  /** `pending`, or `waiting` on the failed calls it runs again first. */
  readonly state: RunState;
  /** The failed `ctx.call`s of the step that run again. */
  readonly resetCalls: number;
}

/**
 * Retries a failed run in place, on `executor`, which must be inside a
 * transaction (the run's row, then its dead-letter entry, stay locked until
 * it commits).
 *
 * @throws RunNotFoundError, RunNotRetryableError, WorkflowNotRegisteredError
 */
export async function retryRun(
  executor: SqlExecutor,
  schema: Schema,
  registry: WorkflowRegistry,
  runId: string,
): Promise<RetriedRun> {
  const target = (
    await executor.query<RetryTargetRow>(lockRunForRetry(schema, runId))
  ).rows[0];
  if (!target) {
    throw new RunNotFoundError(runId);
  }
  if (target.state !== 'failed') {
    throw new RunNotRetryableError(runId, target.state as RunState);
  }
  // The budgets come from the code that will run the step: its workflow must be registered here.
  const budgets = budgetsOf(registry.get(target.workflow_name));
  const entry = (
    await executor.query<RetryDeadLetterRow>(
      lockDeadLetterForRetry(schema, runId),
    )
  ).rows[0];
  if (entry?.redriven_run_id) {
    throw new RunNotRetryableError(runId, 'failed', entry.redriven_run_id);
  }
  const retried = (
    await executor.query<{ state: RunState; reset_calls: number }>(
      retryFailedRun(schema, runId, budgets),
    )
  ).rows[0];
  if (!retried) {
    // Never: the row is locked and was seen failed.
    throw new RunNotRetryableError(runId, target.state);
  }
  return {
    workflowName: target.workflow_name,
    state: retried.state,
    resetCalls: retried.reset_calls,
  };
}

function budgetsOf(definition: WorkflowDefinition): RetryBudgets {
  const activities: Record<string, number> = {};
  for (const activity of definition.activities.values()) {
    activities[activity.name] = activity.policy.retry.maxAttempts;
  }
  return {
    steps: definition.steps.map((step) => step.policy.retry.maxAttempts),
    activities,
  };
}
