import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import {
  Activity,
  currentActivity,
  RunDetails,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { waitFor } from '../support/wait-for';

/**
 * A step (or activity) that blocks the event loop past its timeout: its
 * timer cannot fire while it runs, and the step returns before the timer's
 * turn comes. Its result arrives after the timeout all the same, and is
 * discarded (issue #20 item 7): the attempt is recorded as a timeout and a
 * transactional step's writes are rolled back.
 */

@Entity({ name: 'tx_late_row' })
class LateRow {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'uuid' }) runId!: string;
  @Column() label!: string;
}

const TIMEOUT_MS = 200;
const BUSY_MS = 600;
const recorder = new StepRecorder();

/** Blocks the event loop: no timer can fire meanwhile. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

const RETRY = { maxAttempts: 2, initialInterval: 10, jitterFactor: 0 };

@Workflow({ name: 'late-results', retry: RETRY })
class LateWorkflow {
  @Activity({ timeout: TIMEOUT_MS, retry: RETRY })
  async slowActivity(): Promise<string> {
    recorder.record('activity', null, {
      attempt: currentActivity().attempt,
      runId: currentActivity().runId,
    });
    busyWait(BUSY_MS);
    return 'late';
  }

  @Step({ transactional: true, timeout: TIMEOUT_MS })
  async transactional(input: { kind: string }, ctx: StepContext<LateWorkflow>) {
    if (input.kind !== 'tx') {
      return Transition.next(input); // to the plain step, at once
    }
    recorder.record('transactional', null, ctx);
    await ctx.manager!.save(LateRow, { runId: ctx.runId, label: 'late' });
    busyWait(BUSY_MS);
    return Transition.next(input);
  }

  @Step({ timeout: TIMEOUT_MS })
  async plainStep(input: { kind: string }, ctx: StepContext<LateWorkflow>) {
    recorder.record(`step-${input.kind}`, null, ctx);
    if (input.kind === 'activity') {
      await ctx.call('slowActivity');
    } else {
      busyWait(BUSY_MS);
    }
    return Transition.next(input);
  }

  @Step()
  async after(_input: unknown, ctx: StepContext) {
    recorder.record('after', null, ctx);
    return Transition.complete('done');
  }
}

async function finishedRun(app: TestApp, runId: string): Promise<RunDetails> {
  return waitFor(
    async () => {
      const run = await app.client.getRun(runId);
      return run && ['failed', 'succeeded', 'cancelled'].includes(run.state)
        ? run
        : undefined;
    },
    { timeoutMs: 20_000, message: `run ${runId} did not finish` },
  );
}

describe('late results', () => {
  beforeAll(async () => {
    await query(
      `create table if not exists tx_late_row (id serial primary key, "runId" uuid not null, label text not null)`,
    );
  });

  beforeEach(() => recorder.clear());

  it('discards the outcome of a transactional step that blocked the event loop past its timeout, rolling its writes back', async () => {
    const app = await createTestApp({
      workflows: [LateWorkflow],
      entities: [LateRow],
    });
    const run = await app.client.enqueue(LateWorkflow, { kind: 'tx' });
    const done = await finishedRun(app, run.id);
    expect(done.state).toBe('failed');
    expect(done.attempts.map((a) => [a.state, a.error?.code])).toEqual([
      ['timed_out', 'timeout'],
      ['timed_out', 'timeout'],
    ]);
    expect(recorder.count('transactional')).toBe(2);
    expect(recorder.count('after')).toBe(0);
    const rows = await query(`select 1 from tx_late_row where "runId" = $1`, [
      run.id,
    ]);
    expect(rows).toEqual([]);
  });

  it('discards the result of a step that blocked the event loop past its timeout', async () => {
    const app = await createTestApp({
      workflows: [LateWorkflow],
      entities: [LateRow],
    });
    // The first step hands over at once to the plain one (no transaction).
    const run = await app.client.enqueue(LateWorkflow, { kind: 'plain' });
    const done = await finishedRun(app, run.id);
    expect(done.state).toBe('failed');
    expect(
      done.attempts.map((a) => [a.stepIndex, a.state, a.error?.code]),
    ).toEqual([
      [0, 'succeeded', undefined],
      [1, 'timed_out', 'timeout'],
      [1, 'timed_out', 'timeout'],
    ]);
    expect(recorder.count('step-plain')).toBe(2);
    expect(recorder.count('after')).toBe(0);
  });

  it('discards the result of an activity that blocked the event loop past its timeout', async () => {
    const app = await createTestApp({
      workflows: [LateWorkflow],
      entities: [LateRow],
    });
    const run = await app.client.enqueue(LateWorkflow, { kind: 'activity' });
    const done = await finishedRun(app, run.id);
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('activity_failed');
    expect(
      done.activityCalls[0]?.attempts.map((a) => [a.state, a.error?.code]),
    ).toEqual([
      ['timed_out', 'timeout'],
      ['timed_out', 'timeout'],
    ]);
    expect(recorder.count('activity')).toBe(2);
    expect(recorder.count('after')).toBe(0);
  });
});
