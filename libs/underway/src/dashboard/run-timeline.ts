import { INT32_MAX } from '../common/limits';
import {
  CALL_ATTEMPTS_SHOWN,
  RUN_PAGE_ROWS,
  RUN_PAGE_STEPS,
  STEP_ATTEMPTS_SHOWN,
  STEP_CALLS_SHOWN,
  STEP_PAGE_SIZE,
} from './page-bounds';
import type {
  AttemptJson,
  CallJson,
  StepDetailRow,
  StepSlice,
  StepSummaryRow,
} from './run-timeline.sql';

/*
 * Which part of a run's timeline its page shows: the steps around the
 * current one (or the one asked for), and in them at most RUN_PAGE_ROWS rows
 * of attempts and activity calls. The rest is counted, with links to page
 * through a step (`?step=2&calls_after=39`).
 */

/** A step asked for, and where its attempts and calls start (`?step=&attempts_before=&calls_after=`). */
export interface RunFocus {
  readonly step: number;
  readonly attemptsBefore: number | undefined;
  readonly callsAfter: number | undefined;
}

const DECIMAL = /^[0-9]{1,10}$/;

function count(value: unknown, min: number): number | undefined {
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    return undefined;
  }
  const n = Number(value);
  return n >= min && n <= INT32_MAX ? n : undefined;
}

/** The run page's query string; malformed values are ignored. */
export function parseRunFocus(
  query: Record<string, unknown>,
): RunFocus | undefined {
  const step = count(query.step, 0);
  if (step === undefined) {
    return undefined;
  }
  return {
    step,
    attemptsBefore: count(query.attempts_before, 1),
    callsAfter: count(query.calls_after, 0),
  };
}

export interface TimelinePlan {
  /** Steps known: declared, reached, or with attempts or calls. */
  readonly steps: number;
  /** The steps listed: `from` to `to` (excluded). */
  readonly from: number;
  readonly to: number;
  /** The step whose rows come first (the one asked for, else the current one). */
  readonly first: number;
  readonly focus: RunFocus | undefined;
  /** What to read of each listed step that has attempts or calls. */
  readonly slices: readonly StepSlice[];
}

export function planTimeline(
  summaries: readonly StepSummaryRow[],
  declaredSteps: number | undefined,
  currentStep: number,
  focus: RunFocus | undefined,
): TimelinePlan {
  const steps = Math.max(
    declaredSteps ?? 0,
    currentStep + 1,
    ...summaries.map((s) => s.step_index + 1),
  );
  const first = focus && focus.step < steps ? focus.step : currentStep;
  const from = Math.max(
    0,
    Math.min(first - Math.floor(RUN_PAGE_STEPS / 3), steps - RUN_PAGE_STEPS),
  );
  const to = Math.min(steps, from + RUN_PAGE_STEPS);
  const slices: StepSlice[] = [];
  for (const summary of summaries) {
    const index = summary.step_index;
    if (index < from || index >= to) {
      continue;
    }
    const focused = focus?.step === index;
    slices.push({
      stepIndex: index,
      attemptsBefore: (focused && focus.attemptsBefore) || INT32_MAX,
      attempts: focused ? STEP_PAGE_SIZE : STEP_ATTEMPTS_SHOWN,
      callsAfter: focused ? (focus.callsAfter ?? -1) : -1,
      calls: focused ? STEP_PAGE_SIZE : STEP_CALLS_SHOWN,
    });
  }
  return { steps, from, to, first, focus, slices };
}

/** A call as shown: its attempts only when it did not simply succeed at once. */
export interface CallView {
  readonly call: CallJson;
  readonly attempts: readonly AttemptJson[];
  /** The rows of RUN_PAGE_ROWS it takes (see `entryRows`). */
  readonly rows: number;
}

/** What a step shows of what was read, within the page's rows. */
export interface StepView {
  readonly index: number;
  readonly summary: StepSummaryRow | undefined;
  /** Newest first. */
  readonly attempts: readonly AttemptJson[];
  readonly calls: readonly CallView[];
  /** Attempts older than those shown (or than the cursor, when none is). */
  readonly earlierAttempts: boolean;
  /** Calls after the last one shown (or after the cursor, when none is). */
  readonly moreCalls: boolean;
  /** The row budget hid some of what was read. */
  readonly cut: boolean;
}

function shownAttempts(call: CallJson): readonly AttemptJson[] {
  return call.state === 'succeeded' && call.attempt <= 1
    ? []
    : call.attempts.slice(0, CALL_ATTEMPTS_SHOWN);
}

/**
 * The rows an entry takes: one, and one per attempt shown; a child's, one
 * more for its error or its output (when read: `showPayloads`).
 */
function entryRows(call: CallJson, attempts: readonly AttemptJson[]): number {
  const child = call.kind === 'child' || call.kind === 'start';
  const more =
    child && (call.error !== null || call.child_output_bytes !== null) ? 1 : 0;
  return 1 + attempts.length + more;
}

/**
 * Fits what was read into RUN_PAGE_ROWS rows (an attempt, a call, a call's
 * attempt: one row each; see `entryRows`), the first step's first, then the
 * others in order.
 */
export function fitTimeline(
  plan: TimelinePlan,
  summaries: readonly StepSummaryRow[],
  details: readonly StepDetailRow[],
): StepView[] {
  const summaryOf = new Map(summaries.map((s) => [s.step_index, s]));
  const detailOf = new Map(details.map((d) => [d.step_index, d]));
  const sliceOf = new Map(plan.slices.map((s) => [s.stepIndex, s]));
  const order = [...Array(plan.to - plan.from).keys()]
    .map((i) => plan.from + i)
    .sort((a, b) => (a === plan.first ? -1 : b === plan.first ? 1 : a - b));
  let rows = RUN_PAGE_ROWS;
  const views = new Map<number, StepView>();
  for (const index of order) {
    const summary = summaryOf.get(index);
    const detail = detailOf.get(index);
    const slice = sliceOf.get(index);
    const attempts: AttemptJson[] = [];
    const calls: CallView[] = [];
    let cut = false;
    for (const attempt of detail?.attempts ?? []) {
      if (rows < 1) {
        cut = true;
        break;
      }
      attempts.push(attempt);
      rows -= 1;
    }
    for (const call of detail?.calls ?? []) {
      const attempts = shownAttempts(call);
      const view = { call, attempts, rows: entryRows(call, attempts) };
      if (rows < view.rows) {
        cut = true;
        break;
      }
      calls.push(view);
      rows -= view.rows;
    }
    const oldest =
      attempts[attempts.length - 1]?.attempt ?? slice?.attemptsBefore;
    const last = calls[calls.length - 1]?.call.call_index ?? slice?.callsAfter;
    views.set(index, {
      index,
      summary,
      attempts,
      calls,
      earlierAttempts:
        summary !== undefined &&
        summary.first_attempt !== null &&
        oldest !== undefined &&
        oldest > summary.first_attempt,
      moreCalls:
        summary !== undefined &&
        summary.last_call !== null &&
        (last === undefined || last < summary.last_call),
      cut,
    });
  }
  return [...views.values()].sort((a, b) => a.index - b.index);
}
