import type { SqlExecutor } from '../database/sql-executor';
import type { Schema } from '../database/sql';
import {
  QUEUED_STATES,
  QueuedState,
  queueStats,
  QueueStatsRow,
} from './queue-stats.sql';

/** The unfinished runs of one workflow, and its work that is due. */
export interface WorkflowQueueStats {
  readonly workflowName: string;
  /** Runs by state: queued (or backing off), running, waiting. */
  readonly runs: Readonly<Record<QueuedState, number>>;
  /** Runs and activity calls due now and not claimed yet. */
  readonly due: number;
  /** How long the oldest of them has been due, in ms; 0 when none is. */
  readonly oldestDueMs: number;
}

/**
 * Reads the queue of `workflows` in one statement (`queueStats`). With a list,
 * every workflow of it is in the result, idle ones with zeros (so a gauge
 * falls back to 0 rather than keeping its last value); with `null`, every
 * workflow that has unfinished runs or due calls.
 */
export async function readQueueStats(
  executor: SqlExecutor,
  schema: Schema,
  workflows: readonly string[] | null,
): Promise<WorkflowQueueStats[]> {
  const result = await executor.query<QueueStatsRow>(
    queueStats(schema, workflows),
  );
  const byName = new Map<string, MutableStats>();
  const entry = (name: string): MutableStats => {
    let stats = byName.get(name);
    if (!stats) {
      stats = {
        workflowName: name,
        runs: { pending: 0, running: 0, waiting: 0 },
        due: 0,
        oldestDueMs: 0,
      };
      byName.set(name, stats);
    }
    return stats;
  };
  for (const name of workflows ?? []) {
    entry(name);
  }
  for (const row of result.rows) {
    const stats = entry(row.workflow_name);
    if (row.state === 'due') {
      stats.due = row.count;
      // Never negative: a run_at a few µs ahead of a later now() is due now.
      stats.oldestDueMs = Math.max(0, row.oldest_due_ms ?? 0);
    } else if ((QUEUED_STATES as readonly string[]).includes(row.state)) {
      stats.runs[row.state] = row.count;
    }
  }
  return [...byName.values()].sort((a, b) =>
    a.workflowName < b.workflowName ? -1 : 1,
  );
}

/** The oldest due work among `stats`, in ms (0 when nothing is due). */
export function oldestDueMs(stats: readonly WorkflowQueueStats[]): number {
  return stats.reduce((oldest, s) => Math.max(oldest, s.oldestDueMs), 0);
}

interface MutableStats {
  workflowName: string;
  runs: Record<QueuedState, number>;
  due: number;
  oldestDueMs: number;
}
