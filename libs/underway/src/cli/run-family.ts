import type { QueryResultRow } from 'pg';
import { MAX_LISTED_WAITS } from '../engine/activity-call.repository';
import type { SqlQuery } from '../database/sql';
import type { CliDatabase } from './cli-database';
import {
  ChildCountsRow,
  ChildRow,
  listChildren,
  ParentLinkRow,
  selectChildCounts,
  selectParentLink,
} from './cli.sql';
import { formatTable, stepLabel } from './table';

/*
 * What `underway run <id>` shows of a run's parent and children: the run
 * that started it (by `ctx.child` or `ctx.startChild`, at which step and
 * entry, and its `parentClose`), and the runs it started, counted by state
 * and listed (the first 1,000 in the order they were started, as
 * `client.getRun()` lists them).
 */

type StartedWith = 'ctx.child' | 'ctx.startChild';

/** A run's parent, as `--json` shows it (`workflowName` and `state` `null` once it is no longer retained). */
export interface ParentJson {
  readonly runId: string;
  readonly workflowName: string | null;
  readonly state: string | null;
  readonly stepIndex: number;
  readonly stepName: string | null;
  readonly callIndex: number;
  readonly startedWith: StartedWith | null;
  readonly parentClose: 'cancel' | 'abandon';
}

/** A child, as `--json` shows it. */
export interface ChildJson {
  readonly runId: string;
  readonly workflowName: string;
  readonly state: string;
  readonly stepIndex: number;
  readonly stepName: string | null;
  readonly callIndex: number;
  readonly startedWith: StartedWith;
  readonly parentClose: 'cancel' | 'abandon' | null;
  readonly createdAt: Date;
  readonly completedAt: Date | null;
}

export interface RunFamily {
  readonly parent: ParentJson | null;
  readonly childCounts: ChildCountsRow;
  /** The first `MAX_LISTED_WAITS`, in the order they were started. */
  readonly children: readonly ChildJson[];
}

function startedWith(kind: 'child' | 'start'): StartedWith {
  return kind === 'child' ? 'ctx.child' : 'ctx.startChild';
}

/** The run's parent, its children counted, and the first 1,000 of them. */
export async function readRunFamily(
  database: CliDatabase,
  runId: string,
): Promise<RunFamily> {
  const rows = async <R extends QueryResultRow>(query: SqlQuery) =>
    (await database.executor.query<R>(query)).rows;
  const [[parent], [counts], children] = await Promise.all([
    rows<ParentLinkRow>(selectParentLink(database.schema, runId)),
    rows<ChildCountsRow>(selectChildCounts(database.schema, runId)),
    rows<ChildRow>(listChildren(database.schema, runId, MAX_LISTED_WAITS)),
  ]);
  return {
    parent: parent
      ? {
          runId: parent.parent_run_id,
          workflowName: parent.parent_workflow,
          state: parent.parent_state,
          stepIndex: parent.parent_step_index,
          stepName: parent.step_name,
          callIndex: parent.parent_call_index,
          startedWith: parent.kind === null ? null : startedWith(parent.kind),
          parentClose: parent.parent_close,
        }
      : null,
    childCounts: counts!,
    children: children.map((c) => ({
      runId: c.run_id,
      workflowName: c.workflow_name,
      state: c.state,
      stepIndex: c.step_index,
      stepName: c.step_name,
      callIndex: c.call_index,
      startedWith: startedWith(c.kind),
      parentClose: c.parent_close,
      createdAt: c.created_at,
      completedAt: c.completed_at,
    })),
  };
}

/** `0193… (batch, waiting), step 0 (thumbnails) call 1, ctx.child, parentClose cancel` */
export function parentText(parent: ParentJson | null): string | null {
  if (parent === null) {
    return null;
  }
  return [
    `${parent.runId} (${parent.workflowName === null ? 'no longer retained' : `${parent.workflowName}, ${parent.state}`})`,
    `step ${stepLabel(parent.stepIndex, parent.stepName)} call ${parent.callIndex}`,
    ...(parent.startedWith ? [parent.startedWith] : []),
    `parentClose ${parent.parentClose}`,
  ].join(', ');
}

const STATES = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;

/** The Children title and table: `Children (10,000: 9,000 succeeded, 1,000 failed; the first 1,000)`. */
export function childrenText(family: RunFamily): string {
  const counts = family.childCounts;
  const states = STATES.filter((s) => counts[s] > 0)
    .map((s) => `${counts[s].toLocaleString('en-US')} ${s}`)
    .join(', ');
  const listed = family.children.length;
  const title =
    counts.total === 0
      ? 'Children'
      : `Children (${counts.total.toLocaleString('en-US')}: ${states}${listed < counts.total ? `; the first ${listed.toLocaleString('en-US')}` : ''})`;
  return `\n${title}\n${formatTable(
    [
      'STEP',
      'CALL',
      'STARTED WITH',
      'RUN',
      'WORKFLOW',
      'STATE',
      'PARENT CLOSE',
      'COMPLETED',
    ],
    family.children.map((c) => [
      stepLabel(c.stepIndex, c.stepName),
      c.callIndex,
      c.startedWith,
      c.runId,
      c.workflowName,
      c.state,
      c.parentClose,
      c.completedAt,
    ]),
  )}`;
}
