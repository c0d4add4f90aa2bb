import type { QueryResultRow } from 'pg';
import type { Schema, SqlQuery } from '../database/sql';
import {
  ChildCountsRow,
  ChildKey,
  ChildPageRow,
  selectChildCounts,
  selectChildrenPage,
} from './children.sql';
import { KeysetPage, keysetPage, PageCursor } from './keyset';
import {
  CALL_ATTEMPTS_SHOWN,
  CHILD_OUTPUT_CHARS,
  LIST_PAYLOAD_CHARS,
  LIST_PAYLOAD_MAX_STORED,
  RUN_PAYLOAD_CHARS,
  RUN_CHILDREN_SHOWN,
  RUN_PAYLOAD_MAX_STORED,
  RUN_SIGNALS_SHOWN,
} from './page-bounds';
import { RunPageRunRow, selectRunPageRun } from './run-page.sql';
import { planTimeline, RunFocus, TimelinePlan } from './run-timeline';
import {
  selectStepDetails,
  selectStepSummaries,
  StepDetailRow,
  StepSummaryRow,
} from './run-timeline.sql';
import {
  selectSignalCounts,
  selectSignalsPage,
  SignalCountsRow,
  SignalPageRow,
} from './signals.sql';

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
  /** The signals sent to it: counted, and a page of them. */
  readonly signalCounts: SignalCountsRow;
  readonly signals: KeysetPage<SignalPageRow>;
  /** The children it started: counted by state, and a page of them. */
  readonly childCounts: ChildCountsRow;
  readonly children: KeysetPage<ChildPageRow>;
}

/**
 * Reads a run's page in bounded statements: the run, its counts per step,
 * its signals and its children counted and a page of each (side by side),
 * then the attempts and calls its timeline lists. `undefined` for an
 * unknown run.
 */
export async function readRunPage(
  rows: <R extends QueryResultRow>(query: SqlQuery) => Promise<R[]>,
  schema: Schema,
  runId: string,
  options: {
    focus: RunFocus | undefined;
    /** Which page of its signals (by `seq`). */
    signals: PageCursor<string>;
    /** Which page of its children (by their entries' place). */
    children: PageCursor<ChildKey>;
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
  const [[run], summaries, [signalCounts], signals, [childCounts], children] =
    await Promise.all([
      rows<RunPageRunRow>(selectRunPageRun(schema, runId, payloads)),
      rows<StepSummaryRow>(selectStepSummaries(schema, runId)),
      rows<SignalCountsRow>(selectSignalCounts(schema, runId)),
      rows<SignalPageRow>(
        selectSignalsPage(schema, runId, options.signals, {
          limit: RUN_SIGNALS_SHOWN + 1,
          // As a list's payloads: 20 of them on a page beside the timeline.
          payload: options.showPayloads
            ? {
                chars: LIST_PAYLOAD_CHARS,
                maxStoredBytes: LIST_PAYLOAD_MAX_STORED,
              }
            : null,
        }),
      ),
      rows<ChildCountsRow>(selectChildCounts(schema, runId)),
      rows<ChildPageRow>(
        selectChildrenPage(
          schema,
          runId,
          options.children,
          RUN_CHILDREN_SHOWN + 1,
        ),
      ),
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
          selectStepDetails(
            schema,
            runId,
            plan.slices,
            CALL_ATTEMPTS_SHOWN,
            options.showPayloads
              ? {
                  chars: CHILD_OUTPUT_CHARS,
                  maxStoredBytes: LIST_PAYLOAD_MAX_STORED,
                }
              : null,
          ),
        );
  return {
    run,
    stepNames,
    stepCount,
    summaries,
    plan,
    details,
    signalCounts: signalCounts ?? { total: 0, pending: 0 },
    signals: keysetPage(signals, options.signals, RUN_SIGNALS_SHOWN),
    childCounts: childCounts ?? NO_CHILDREN,
    children: keysetPage(children, options.children, RUN_CHILDREN_SHOWN),
  };
}

const NO_CHILDREN: ChildCountsRow = {
  total: 0,
  pending: 0,
  running: 0,
  waiting: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
};

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
