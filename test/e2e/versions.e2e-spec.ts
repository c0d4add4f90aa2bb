import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import {
  RunNotRetryableError,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { createTestApp, TestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { UnderwaySignals } from '../../migrations/1700000000006-UnderwaySignals';
import { UnderwayChildren } from '../../migrations/1700000000007-UnderwayChildren';
import {
  closeDashboardApps,
  createDashboardApp,
} from '../browser/support/dashboard-app';
import { waitFor } from '../support/wait-for';

/**
 * Versions (SPEC §8.2): a run stores its workflow version and its current
 * step by durable name, so a deploy that inserts, removes, reorders or
 * renames steps never sends an in-flight run to the wrong method, and
 * several versions of one workflow run side by side, each run on the code
 * of its own version.
 *
 * A "deploy" here is two boots on one schema with different classes of one
 * workflow name. A run is parked between them at its second step by a delay
 * (`Transition.after`), which the test then brings due (the hour passes).
 */

/** Every step that ran: `<class>.<method> <runId>`. */
const ran: string[] = [];

function record(ctx: StepContext, step: string): void {
  ran.push(`${step} ${ctx.runId}`);
}

function ranFor(runId: string): string[] {
  return ran
    .filter((entry) => entry.endsWith(` ${runId}`))
    .map((entry) => entry.slice(0, entry.indexOf(' ')));
}

interface Input {
  park?: boolean;
}

/** Parks a run for an hour at its next step when asked. */
function next(input: Input): Transition {
  return input.park ? Transition.after({}, '1h') : Transition.next({});
}

@Workflow({ name: 'pipeline', deadLetter: 'pipeline-dlq' })
class PipelineV1 {
  @Step()
  async first(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineV1.first');
    return next(input);
  }

  @Step()
  async second(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineV1.second');
    return Transition.next({});
  }

  @Step()
  async third(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineV1.third');
    return Transition.complete({ by: 'PipelineV1' });
  }
}

/** A step inserted before `second`. */
@Workflow({ name: 'pipeline', deadLetter: 'pipeline-dlq' })
class PipelineInserted {
  @Step()
  async first(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineInserted.first');
    return next(input);
  }

  @Step()
  async audit(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineInserted.audit');
    return Transition.next({});
  }

  @Step()
  async second(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineInserted.second');
    return Transition.next({});
  }

  @Step()
  async third(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineInserted.third');
    return Transition.complete({ by: 'PipelineInserted' });
  }
}

/** `second` removed. */
@Workflow({ name: 'pipeline', deadLetter: 'pipeline-dlq' })
class PipelineRemoved {
  @Step()
  async first(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineRemoved.first');
    return next(input);
  }

  @Step()
  async third(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineRemoved.third');
    return Transition.complete({ by: 'PipelineRemoved' });
  }
}

/** `second` and `third` swapped. */
@Workflow({ name: 'pipeline', deadLetter: 'pipeline-dlq' })
class PipelineReordered {
  @Step()
  async first(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineReordered.first');
    return next(input);
  }

  @Step()
  async third(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineReordered.third');
    return Transition.next({});
  }

  @Step()
  async second(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineReordered.second');
    return Transition.complete({ by: 'PipelineReordered' });
  }
}

/** `second`'s method renamed, its durable name kept. */
@Workflow({ name: 'pipeline', deadLetter: 'pipeline-dlq' })
class PipelineRenamed {
  @Step()
  async first(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineRenamed.first');
    return next(input);
  }

  @Step({ name: 'second' })
  async enrichCustomer(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineRenamed.enrichCustomer');
    return Transition.next({});
  }

  @Step()
  async third(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineRenamed.third');
    return Transition.complete({ by: 'PipelineRenamed' });
  }
}

/** Version 2: other steps altogether. */
@Workflow({ name: 'pipeline', version: 2, deadLetter: 'pipeline-dlq' })
class PipelineV2 {
  @Step()
  async prepare(input: Input, ctx: StepContext) {
    record(ctx, 'PipelineV2.prepare');
    return next(input);
  }

  @Step()
  async ship(_: Input, ctx: StepContext) {
    record(ctx, 'PipelineV2.ship');
    return Transition.complete({ by: 'PipelineV2' });
  }
}

@Injectable()
class Unrelated {}

const FAST = { pollInterval: 50, maintenanceInterval: '100ms' } as const;

async function boot(
  workflows: (new () => object)[],
  runtime: Record<string, unknown> = FAST,
): Promise<TestApp> {
  return createTestApp({
    workflows,
    providers: [Unrelated],
    underway: { runtime },
  });
}

/** Enqueues a run that parks at its second step, waits until it does, and closes `app`. */
async function parkedRun(
  app: TestApp,
  workflow: new () => object = PipelineV1,
): Promise<string> {
  const run = await app.client.enqueue(workflow, { park: true });
  await waitFor(
    async () =>
      (
        await query<{ step_index: number; state: string }>(
          `select step_index, state from ${app.schema}.workflow_run where id = $1`,
          [run.id],
        )
      )[0]?.step_index === 1,
    { message: 'the run parked at its second step' },
  );
  await app.close();
  return run.id;
}

/** The hour passes: the parked run is due. */
async function bringDue(schema: string, runId: string): Promise<void> {
  await query(
    `update ${schema}.workflow_run set run_at = now() where id = $1`,
    [runId],
  );
}

async function runRow(
  schema: string,
  runId: string,
): Promise<{
  state: string;
  step_name: string | null;
  workflow_version: number;
  attempt: number;
  error: { code: string; message: string } | null;
}> {
  const [row] = await query<{
    state: string;
    step_name: string | null;
    workflow_version: number;
    attempt: number;
    error: { code: string; message: string } | null;
  }>(
    `select state, step_name, workflow_version, attempt, error from ${schema}.workflow_run where id = $1`,
    [runId],
  );
  return row!;
}

beforeEach(() => {
  ran.length = 0;
});

describe('versions: a deploy never runs the wrong code', () => {
  it('a step inserted before the current one: the in-flight run goes on at its step by name, new runs take the new step', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await boot([PipelineInserted]);
    await bringDue(app.schema, runId);
    await expect(app.client.result(runId)).resolves.toEqual({
      by: 'PipelineInserted',
    });
    expect(ranFor(runId)).toEqual([
      'PipelineV1.first',
      'PipelineInserted.second',
      'PipelineInserted.third',
    ]);
    const fresh = await app.client.enqueue(PipelineInserted, {});
    await fresh.result();
    expect(ranFor(fresh.id)).toEqual([
      'PipelineInserted.first',
      'PipelineInserted.audit',
      'PipelineInserted.second',
      'PipelineInserted.third',
    ]);
    const attempts = await query<{ step_index: number; step_name: string }>(
      `select step_index, step_name from ${app.schema}.step_attempt where run_id = $1 order by step_index`,
      [runId],
    );
    expect(attempts).toEqual([
      { step_index: 0, step_name: 'first' },
      { step_index: 1, step_name: 'second' },
      { step_index: 2, step_name: 'third' },
    ]);
  });

  it('steps reordered: the run resumes at its step by name, and next follows the new order', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await boot([PipelineReordered]);
    await bringDue(app.schema, runId);
    await expect(app.client.result(runId)).resolves.toEqual({
      by: 'PipelineReordered',
    });
    // At `second`, which is now last: it completes.
    expect(ranFor(runId)).toEqual([
      'PipelineV1.first',
      'PipelineReordered.second',
    ]);
  });

  it('a method renamed with its @Step({ name }) kept: the run resumes in the renamed method', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await boot([PipelineRenamed]);
    await bringDue(app.schema, runId);
    await expect(app.client.result(runId)).resolves.toEqual({
      by: 'PipelineRenamed',
    });
    expect(ranFor(runId)).toEqual([
      'PipelineV1.first',
      'PipelineRenamed.enrichCustomer',
      'PipelineRenamed.third',
    ]);
    const details = await app.client.getRun(runId);
    expect(details?.attempts.map((a) => a.stepName)).toEqual([
      'first',
      'second',
      'third',
    ]);
  });

  it('the current step removed: the run is never executed nor charged an attempt, fails step_not_found after the grace, and a retry resumes it once the step is back', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await boot([PipelineRemoved], {
      ...FAST,
      unknownStepGrace: '1500ms',
    });
    await bringDue(app.schema, runId);
    // Not claimed: due at `second`, no attempt, until the grace is over.
    const failed = await waitFor(
      async () => {
        const row = await runRow(app.schema, runId);
        if (row.state !== 'failed') {
          // Due (a delayed step waits in `waiting`), never claimed.
          expect(row).toMatchObject({
            state: 'waiting',
            step_name: 'second',
            attempt: 0,
          });
        }
        return row.state === 'failed' ? row : undefined;
      },
      { timeoutMs: 15_000, message: 'the run failed step_not_found' },
    );
    expect(failed.attempt).toBe(0);
    expect(failed.error?.code).toBe('step_not_found');
    expect(failed.error?.message).toMatch(
      /^Run is at step "second" of workflow "pipeline" version 1, which no instance's code has \(removed, or renamed without keeping its @Step\(\{ name \}\)\): it waited 1500 ms\./,
    );
    expect(ranFor(runId)).toEqual(['PipelineV1.first']);
    await expect(app.client.result(runId)).rejects.toMatchObject({
      state: 'failed',
      errorCode: 'step_not_found',
    });
    const [dead] = await app.client.getDeadLetters('pipeline-dlq');
    expect(dead).toMatchObject({ runId, workflowName: 'pipeline' });
    expect(
      app.logs.entries.some((e) =>
        e.message.includes(
          `Run ${runId} of workflow "pipeline" failed with step_not_found`,
        ),
      ),
    ).toBe(true);
    await app.close();

    // The step is back: a retry resumes the run there.
    const fixed = await boot([PipelineV1]);
    await fixed.client.retry(runId);
    await expect(fixed.client.result(runId)).resolves.toEqual({
      by: 'PipelineV1',
    });
    expect(ranFor(runId)).toEqual([
      'PipelineV1.first',
      'PipelineV1.second',
      'PipelineV1.third',
    ]);
    await expect(fixed.client.retry(runId)).rejects.toBeInstanceOf(
      RunNotRetryableError,
    );
  });

  it('two versions registered at once: a run keeps its version for life, a name enqueues the highest, a class its own', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await boot([PipelineV1, PipelineV2]);
    await bringDue(app.schema, runId);
    await expect(app.client.result(runId)).resolves.toEqual({
      by: 'PipelineV1',
    });
    const byName = await app.client.enqueue('pipeline', {});
    const byClass = await app.client.enqueue(PipelineV1, {});
    await expect(byName.result()).resolves.toEqual({ by: 'PipelineV2' });
    await expect(byClass.result()).resolves.toEqual({ by: 'PipelineV1' });
    expect(ranFor(byName.id)).toEqual([
      'PipelineV2.prepare',
      'PipelineV2.ship',
    ]);
    const details = await app.client.getRun(byName.id);
    expect(details).toMatchObject({
      workflowName: 'pipeline',
      workflowVersion: 2,
      stepName: 'ship',
      stepCount: 2,
      currentStep: { index: 1, name: 'ship' },
    });
    expect((await app.client.getRun(runId))?.workflowVersion).toBe(1);
  });

  it('an instance claims only the versions it registers; listVersions counts the runs in flight of each', async () => {
    const oldApp = await boot([PipelineV1]);
    const parked = await Promise.all(
      [1, 2, 3].map(() => oldApp.client.enqueue(PipelineV1, { park: true })),
    );
    await waitFor(async () => {
      const [row] = await query<{ n: number }>(
        `select count(*)::int as n from ${oldApp.schema}.workflow_run where step_index = 1`,
      );
      return row?.n === 3;
    });
    await oldApp.close();
    // Only version 2 here: version 1's runs are due, and never claimed.
    const app = await boot([PipelineV2]);
    await query(`update ${app.schema}.workflow_run set run_at = now()`);
    const v2 = await app.client.enqueue('pipeline', {});
    await v2.result();
    const instance = `${hostname()}:${process.pid}`;
    // Once its housekeeping said so, the worker here runs version 2.
    await waitFor(
      async () =>
        (await app.client.listVersions('pipeline'))[1]?.instances.length === 1,
    );
    expect(await app.client.listVersions('pipeline')).toEqual([
      {
        workflowName: 'pipeline',
        version: 1,
        inFlight: 3,
        registeredHere: false,
        instances: [],
      },
      {
        workflowName: 'pipeline',
        version: 2,
        inFlight: 0,
        registeredHere: true,
        instances: [instance],
      },
    ]);
    expect(await app.client.listVersions(PipelineV2)).toEqual(
      await app.client.listVersions('pipeline'),
    );
    for (const run of parked) {
      expect(await runRow(app.schema, run.id)).toMatchObject({
        state: 'waiting',
        step_name: 'second',
        attempt: 0,
      });
    }
    // Due for over a second, unclaimed: the housekeeping says why.
    await waitFor(
      () =>
        app.logs.entries.some((e) =>
          e.message.startsWith(
            '3 run(s) of workflow "pipeline" version 1 are due, but this instance runs only version 2 of it. ' +
              'A run keeps its version for life',
          ),
        ),
      { timeoutMs: 15_000, message: 'the warning about version 1' },
    );
    // Version 1's code comes back: its runs finish there.
    const v1 = await boot([PipelineV1]);
    await Promise.all(parked.map((run) => v1.client.result(run.id)));
    for (const run of parked) {
      expect(ranFor(run.id)).toEqual([
        'PipelineV1.first',
        'PipelineV1.second',
        'PipelineV1.third',
      ]);
    }
    await waitFor(
      async () => (await v1.client.listVersions())[0]?.instances.length === 1,
    );
    expect(await v1.client.listVersions()).toEqual([
      {
        workflowName: 'pipeline',
        version: 1,
        inFlight: 0,
        registeredHere: true,
        instances: [instance],
      },
      {
        workflowName: 'pipeline',
        version: 2,
        inFlight: 0,
        registeredHere: false,
        instances: [instance],
      },
    ]);
    // The version 2 worker stops: with no run in flight, nothing lists it.
    await app.close();
    expect(
      (await v1.client.listVersions()).map((v) => [v.version, v.instances]),
    ).toEqual([[1, [instance]]]);
    await expect(v1.client.listVersions('nope\u0000')).rejects.toThrow(
      /workflow/,
    );
  });
});

describe('versions on the dashboard', () => {
  afterEach(() => closeDashboardApps());

  it('shows the versions in flight and who runs them on the overview, and a run page names its version and its steps by name', async () => {
    const runId = await parkedRun(await boot([PipelineV1]));
    const app = await createDashboardApp({
      workflows: [PipelineRenamed, PipelineV2],
      underway: {
        runtime: { ...FAST, workflows: ['pipeline'] },
      },
    });
    // Version 1's code has `second` as enrichCustomer: the parked run goes on there.
    await bringDue(app.schema, runId);
    await app.client.result(runId);
    const v1Parked = await app.client.enqueue(PipelineRenamed, { park: true });
    await waitFor(
      async () => (await app.client.getRun(v1Parked.id))?.stepName === 'second',
    );
    const instance = `${hostname()}:${process.pid}`;
    await waitFor(async () =>
      (await app.client.listVersions()).every((v) => v.instances.length === 1),
    );
    const overview = await (await fetch(`${app.origin}/underway`)).text();
    expect(overview).toContain('<h2>Versions</h2>');
    expect(overview).toMatch(
      new RegExp(
        `<tr\\s+data-workflow="pipeline"\\s+data-version="1"[^>]*>\\s*<th scope="row">pipeline</th>\\s*<td>1</td>\\s*<td>1</td>\\s*<td>\\s*${instance.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
    const page = await (
      await fetch(`${app.origin}/underway/runs/${runId}`)
    ).text();
    expect(page).toContain('version 1');
    const steps = [
      ...page.matchAll(
        /<span class="step-index">(\d+)<\/span>\s*<strong>([^<]*)<\/strong>/g,
      ),
    ].map((m) => [m[1], m[2]]);
    expect(steps).toEqual([
      ['0', 'first'],
      ['1', 'second'],
      ['2', 'third'],
    ]);
    // A run parked at `second`: its next step, from its version's code.
    const parkedPage = await (
      await fetch(`${app.origin}/underway/runs/${v1Parked.id}`)
    ).text();
    expect(parkedPage).toMatch(/1\s*<strong>second<\/strong>\s*of 3/);
  });
});

describe('versions: upgrading a schema with runs in flight', () => {
  it('names the runs enqueued before versions from the code at boot, by position, and they finish on the right steps', async () => {
    const app = await boot([PipelineV1], { ...FAST, unknownStepGrace: '1s' });
    const s = app.schema;
    await app.close();
    // The schema as the release before versions left it (version 5): no
    // step names, runs at steps 0, 1 and 2, one past the last step.
    for (const statement of [
      ...UnderwayChildren.down(s),
      ...UnderwaySignals.down(s),
    ]) {
      await query(statement);
    }
    await query(
      `update ${s}.workflow_run set step_name = null;
       alter table ${s}.workflow_run drop column step_name, drop column workflow_version,
         drop column step_key;
       alter table ${s}.step_attempt drop column step_name;
       alter table ${s}.activity_call drop column workflow_version, drop column step_name,
         drop column workflow_key;
       drop index if exists ${s}.workflow_run_unnamed_idx;
       drop index if exists ${s}.activity_call_unkeyed_idx;
       drop table ${s}.worker_version;
       delete from ${s}.migration where version = 6`,
    );
    const ids = [
      '01900000-0000-7000-8000-000000000000',
      '01900000-0000-7000-8000-000000000001',
      '01900000-0000-7000-8000-000000000002',
      '01900000-0000-7000-8000-000000000003',
    ];
    for (const [index, id] of ids.entries()) {
      await query(
        `insert into ${s}.workflow_run (id, workflow_name, step_index, input, step_input, max_attempts, lease_ms, ttl_ms)
         values ($1, 'pipeline', $2, '{}', '{}', 3, 30000, 60000)`,
        [id, index],
      );
    }
    const upgraded = await boot([PipelineV1], {
      ...FAST,
      unknownStepGrace: '1s',
    });
    expect(
      upgraded.logs.entries.some((e) =>
        e.message.includes(
          'Named the current step of 3 unfinished run(s) enqueued before workflow versions',
        ),
      ),
    ).toBe(true);
    await Promise.all(ids.slice(0, 3).map((id) => upgraded.client.result(id)));
    expect(ranFor(ids[0]!)).toEqual([
      'PipelineV1.first',
      'PipelineV1.second',
      'PipelineV1.third',
    ]);
    expect(ranFor(ids[1]!)).toEqual(['PipelineV1.second', 'PipelineV1.third']);
    expect(ranFor(ids[2]!)).toEqual(['PipelineV1.third']);
    // Past the last step: never run, failed once its grace is over.
    await expect(upgraded.client.result(ids[3]!)).rejects.toMatchObject({
      errorCode: 'step_not_found',
      errorMessage: expect.stringMatching(
        /^Run is at step 3 of workflow "pipeline" version 1, which its code does not have/,
      ),
    });
    expect(ranFor(ids[3]!)).toEqual([]);
    expect(await runRow(s, ids[0]!)).toMatchObject({
      workflow_version: 1,
      step_name: 'third',
    });
  });
});
