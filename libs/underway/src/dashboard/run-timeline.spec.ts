import { RUN_PAGE_ROWS, RUN_PAGE_STEPS, STEP_PAGE_SIZE } from './page-bounds';
import type {
  CallJson,
  StepDetailRow,
  StepSummaryRow,
} from './run-timeline.sql';
import { fitTimeline, parseRunFocus, planTimeline } from './run-timeline';

function summary(
  step: number,
  attempts: number,
  calls: number,
): StepSummaryRow {
  return {
    step_index: step,
    step_name: `step${step}`,
    attempts,
    first_attempt: attempts > 0 ? 1 : null,
    calls,
    first_call: calls > 0 ? 0 : null,
    last_call: calls > 0 ? calls - 1 : null,
    waits: 0,
    open_waits: 0,
    children: 0,
    open_children: 0,
    pending: 0,
    running: 0,
    succeeded: calls,
    failed: 0,
    cancelled: 0,
  };
}

function call(index: number, state = 'succeeded', attempt = 1): CallJson {
  return {
    call_index: index,
    kind: 'call',
    name: 'lookup',
    state,
    attempt,
    max_attempts: 3,
    error: null,
    created_at: '2026-12-01T00:00:00Z',
    started_at: null,
    completed_at: null,
    names: null,
    name_count: null,
    deadline: null,
    signal_id: null,
    signal_name: null,
    child_run_id: null,
    child_state: null,
    child_output: null,
    child_output_bytes: null,
    attempts: Array.from({ length: attempt }, (_, i) => ({
      attempt: attempt - i,
      state: 'failed',
      error: null,
      worker: 'w',
      started_at: null,
      completed_at: '2026-12-01T00:00:00Z',
    })),
  };
}

describe('parseRunFocus', () => {
  it('reads decimal integers only, and ignores the rest', () => {
    expect(parseRunFocus({})).toBeUndefined();
    expect(parseRunFocus({ step: '1e3' })).toBeUndefined();
    expect(
      parseRunFocus({ step: '2', attempts_before: '0x10', calls_after: '39' }),
    ).toEqual({ step: 2, attemptsBefore: undefined, callsAfter: 39 });
    expect(parseRunFocus({ step: '99999999999' })).toBeUndefined();
  });
});

describe('planTimeline', () => {
  it('lists every step of a short workflow, and reads each step that has rows', () => {
    const plan = planTimeline([summary(0, 2, 3)], 3, 1, undefined);
    expect(plan).toMatchObject({ steps: 3, from: 0, to: 3, first: 1 });
    expect(plan.slices).toEqual([
      {
        stepIndex: 0,
        attemptsBefore: 2_147_483_647,
        attempts: 5,
        callsAfter: -1,
        calls: 10,
      },
    ]);
  });

  it(`lists ${RUN_PAGE_STEPS} steps around the current one of a long workflow`, () => {
    const plan = planTimeline([], 500, 250, undefined);
    expect(plan.to - plan.from).toBe(RUN_PAGE_STEPS);
    expect(plan.from).toBeLessThanOrEqual(250);
    expect(plan.to).toBeGreaterThan(250);
    const end = planTimeline([], 500, 499, undefined);
    expect(end.to).toBe(500);
  });

  it('reads a page of the step asked for, from its cursors', () => {
    const plan = planTimeline([summary(1, 0, 1000)], 2, 0, {
      step: 1,
      attemptsBefore: undefined,
      callsAfter: 79,
    });
    expect(plan.first).toBe(1);
    expect(plan.slices[0]).toMatchObject({
      stepIndex: 1,
      callsAfter: 79,
      calls: STEP_PAGE_SIZE,
    });
  });
});

describe('fitTimeline', () => {
  it(`lists at most ${RUN_PAGE_ROWS} rows, the first step's first, and says what is left`, () => {
    const summaries = [summary(0, 0, 100), summary(1, 0, 100)];
    const plan = planTimeline(summaries, 2, 1, undefined);
    const details: StepDetailRow[] = [
      {
        step_index: 0,
        attempts: [],
        calls: Array.from({ length: 30 }, (_, i) => call(i, 'failed', 3)),
      },
      {
        step_index: 1,
        attempts: [],
        calls: Array.from({ length: 10 }, (_, i) => call(i)),
      },
    ];
    const [step0, step1] = fitTimeline(plan, summaries, details);
    // Step 1 (current) first: 10 rows; then step 0's failed calls, 4 rows each.
    expect(step1!.calls).toHaveLength(10);
    expect(step1!.calls[0]!.attempts).toEqual([]);
    expect(step0!.calls).toHaveLength(Math.floor((RUN_PAGE_ROWS - 10) / 4));
    expect(step0!.cut).toBe(true);
    expect(step0!.moreCalls).toBe(true);
    expect(step1!.moreCalls).toBe(true);
  });
});
