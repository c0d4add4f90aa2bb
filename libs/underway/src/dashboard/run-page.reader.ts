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
  /**
   * The durable names of its steps by ordinal: those it went through (as
   * recorded), the current one, and those after it in its version's code
   * (when registered here). `undefined` for one not known.
   */
  readonly stepNames: readonly (string | undefined)[];
  /** How many steps it has in all, when its version is registered here. */
  readonly stepCount: number | undefined;
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
    /** The durable step names of a version, in order, when registered here. */
    stepNames: (
      workflow: string,
      version: number,
    ) => readonly string[] | undefined;
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
  const { stepNames, stepCount } = namesByOrdinal(
    run,
    summaries,
    options.stepNames(run.workflow_name, run.workflow_version),
  );
  const plan = planTimeline(
    summaries,
    stepCount,
    run.step_index,
    options.focus,
  );
  const details =
    plan.slices.length === 0
      ? []
      : await rows<StepDetailRow>(
          selectStepDetails(schema, runId, plan.slices, CALL_ATTEMPTS_SHOWN),
        );
  return { run, stepNames, stepCount, summaries, plan, details };
}

/**
 * A run's steps by ordinal: the ones behind it by their recorded names, the
 * current one, then the ones after it in its version's code (`code`).
 */
function namesByOrdinal(
  run: RunPageRunRow,
  summaries: readonly StepSummaryRow[],
  code: readonly string[] | undefined,
): { stepNames: (string | undefined)[]; stepCount: number | undefined } {
  const stepNames: (string | undefined)[] = [];
  for (const summary of summaries) {
    if (summary.step_index < run.step_index && summary.step_name !== null) {
      stepNames[summary.step_index] = summary.step_name;
    }
  }
  const current = run.step_name ?? code?.[run.step_index];
  stepNames[run.step_index] = current;
  const at = current === undefined ? -1 : (code?.indexOf(current) ?? -1);
  if (!code || at === -1) {
    return { stepNames, stepCount: undefined };
  }
  code.slice(at + 1).forEach((name, i) => {
    stepNames[run.step_index + 1 + i] = name;
  });
  return { stepNames, stepCount: run.step_index + code.length - at };
}
