import type { QueryResultRow } from 'pg';
import type { Schema, SqlQuery } from '../database/sql';
import {
  CALL_ATTEMPTS_SHOWN,
  RUN_PAYLOAD_CHARS,
  RUN_PAYLOAD_MAX_STORED,
} from './page-bounds';
import {
  RunPageRunRow,
  selectRunPageRun,
  selectStepDetails,
  selectStepSummaries,
  StepDetailRow,
  StepSummaryRow,
} from './run-page.sql';
import { planTimeline, RunFocus, TimelinePlan } from './run-timeline';

/** What a run's page shows: the run, its steps counted, and the part of its timeline planned. */
export interface RunPage {
  readonly run: RunPageRunRow;
  /** The step names of its workflow, when registered here. */
  readonly stepNames: readonly string[] | undefined;
  readonly summaries: readonly StepSummaryRow[];
  readonly plan: TimelinePlan;
  readonly details: readonly StepDetailRow[];
}

/**
 * Reads a run's page in three bounded statements: the run with its counts
 * per step (side by side), then the attempts and calls its timeline lists.
 * `undefined` for an unknown run.
 */
export async function readRunPage(
  rows: <R extends QueryResultRow>(query: SqlQuery) => Promise<R[]>,
  schema: Schema,
  runId: string,
  options: {
    focus: RunFocus | undefined;
    showPayloads: boolean;
    stepNames: (workflow: string) => readonly string[] | undefined;
  },
): Promise<RunPage | undefined> {
  const payloads = options.showPayloads
    ? { chars: RUN_PAYLOAD_CHARS, maxStoredBytes: RUN_PAYLOAD_MAX_STORED }
    : null;
  const [[run], summaries] = await Promise.all([
    rows<RunPageRunRow>(selectRunPageRun(schema, runId, payloads)),
    rows<StepSummaryRow>(selectStepSummaries(schema, runId)),
  ]);
  if (!run) {
    return undefined;
  }
  const stepNames = options.stepNames(run.workflow_name);
  const plan = planTimeline(
    summaries,
    stepNames?.length,
    run.step_index,
    options.focus,
  );
  const details =
    plan.slices.length === 0
      ? []
      : await rows<StepDetailRow>(
          selectStepDetails(schema, runId, plan.slices, CALL_ATTEMPTS_SHOWN),
        );
  return { run, stepNames, summaries, plan, details };
}
