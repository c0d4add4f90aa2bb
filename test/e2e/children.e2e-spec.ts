import {
  ChildWorkflowFailedError,
  ConcurrencyDeadlockError,
  defineSignal,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
  WorkflowIO,
} from '@underway/nestjs';
import { createTestApp } from '../support/create-test-app';
import { query } from '../support/database';
import { StepRecorder } from '../support/step-recorder';
import { waitFor } from '../support/wait-for';

const recorder = new StepRecorder();
const Release = defineSignal('release');

@Workflow({ name: 'thumbnail' })
class ThumbnailWorkflow extends WorkflowIO<
  { fileId: number; fail?: boolean },
  { thumb: string }
> {
  @Step()
  async render(input: { fileId: number; fail?: boolean }, ctx: StepContext) {
    recorder.record('render', input, ctx);
    if (input.fail) {
      throw StepError.fatal(
        'bad_image',
        `file ${input.fileId} is not an image`,
      );
    }
    return Transition.complete({ thumb: `t${input.fileId}` });
  }
}

@Workflow({ name: 'batch' })
class BatchWorkflow {
  @Step()
  async thumbnails(
    input: { files: number[]; failing?: number[]; catchFailures?: boolean },
    ctx: StepContext,
  ) {
    recorder.record('thumbnails', input, ctx);
    const thumbs = await Promise.all(
      input.files.map(async (fileId) => {
        try {
          const { thumb } = await ctx.child(ThumbnailWorkflow, {
            fileId,
            fail: input.failing?.includes(fileId),
          });
          return thumb;
        } catch (err) {
          if (input.catchFailures && err instanceof ChildWorkflowFailedError) {
            return `failed:${err.errorCode}:${err.state}`;
          }
          throw err;
        }
      }),
    );
    const { runId } = await ctx.startChild(ThumbnailWorkflow, { fileId: 0 });
    return Transition.complete({ thumbs, audit: runId });
  }
}

@Workflow({ name: 'holder' })
class HolderWorkflow {
  @Step()
  async hold(_input: unknown, ctx: StepContext) {
    recorder.record('hold', _input, ctx);
    await ctx.waitFor(Release);
    return Transition.complete('released');
  }
}

@Workflow({ name: 'tree' })
class TreeWorkflow {
  @Step()
  async grow(input: { depth: number; abandon?: boolean }, ctx: StepContext) {
    recorder.record('grow', input, ctx);
    if (input.abandon) {
      await ctx.startChild(HolderWorkflow, {}, { parentClose: 'abandon' });
    }
    if (input.depth === 0) {
      await ctx.waitFor(Release);
      return Transition.complete('leaf');
    }
    await ctx.child(TreeWorkflow, { depth: input.depth - 1 });
    return Transition.complete('done');
  }
}

@Workflow({ name: 'keyed-parent' })
class KeyedParentWorkflow {
  @Step()
  async spawn(input: { key: string }, ctx: StepContext) {
    try {
      await ctx.child(
        ThumbnailWorkflow,
        { fileId: 1 },
        { concurrencyKey: input.key },
      );
      return Transition.complete('spawned');
    } catch (err) {
      if (err instanceof ConcurrencyDeadlockError) {
        return Transition.complete(`refused:${err.code}`);
      }
      throw err;
    }
  }
}

@Workflow({ name: 'doomed-parent' })
class DoomedParentWorkflow {
  @Step()
  async start(_input: unknown, ctx: StepContext) {
    await ctx.startChild(HolderWorkflow, {});
    await ctx.startChild(HolderWorkflow, {}, { parentClose: 'abandon' });
    return Transition.next({});
  }

  @Step()
  async fail() {
    throw StepError.fatal('boom', 'the parent fails');
  }
}

@Workflow({ name: 'short-lived-batch', ttl: 1 })
class ShortLivedBatchWorkflow {
  @Step()
  async spawn(_input: unknown, ctx: StepContext) {
    await ctx.child(ThumbnailWorkflow, { fileId: 1 });
    await ctx.child(ThumbnailWorkflow, { fileId: 2 });
    return Transition.complete();
  }
}

async function runIdsOf(schema: string, workflow: string): Promise<string[]> {
  const rows = await query<{ id: string }>(
    `select id from ${schema}.workflow_run where workflow_name = $1 order by id`,
    [workflow],
  );
  return rows.map((r) => r.id);
}

describe('child workflows', () => {
  beforeEach(() => recorder.clear());

  it('fans out to children in one statement, resumes once with every output, and never enqueues a child twice', async () => {
    const { client, schema, events } = await createTestApp({
      workflows: [BatchWorkflow, ThumbnailWorkflow],
      eventLog: true,
    });
    const files = Array.from({ length: 50 }, (_, i) => i + 1);
    const run = await client.enqueue(BatchWorkflow, { files });
    const output = (await run.result({ timeout: 20_000 })) as {
      thumbs: string[];
      audit: string;
    };
    expect(output.thumbs).toEqual(files.map((f) => `t${f}`));
    // Suspended once on 50 children, resumed once, then once more on the started one.
    expect(recorder.steps(run.id)).toEqual(['thumbnails', 'thumbnails']);
    const children = await runIdsOf(schema, 'thumbnail');
    expect(children).toHaveLength(51);
    const details = await client.getRun(run.id);
    expect(details?.children).toHaveLength(51);
    expect(details?.children.map((c) => c.workflowName)).toEqual(
      Array(51).fill('thumbnail'),
    );
    expect(details?.children.map((c) => c.runId)).toContain(output.audit);
    const child = await client.getRun(details!.children[0]!.runId);
    expect(child?.parentRunId).toBe(run.id);
    // The enqueue of the children is announced once, after the commit.
    const enqueued = events
      .of('run:enqueued')
      .filter((e) => e.source === 'child');
    expect(enqueued.flatMap((e) => e.runIds).sort()).toEqual(children);
    // Each child ran once (the started one, not awaited, may still be on
    // its way when the parent completes).
    await waitFor(() => recorder.count('render') >= 51);
    expect(recorder.count('render')).toBe(51);
  });

  it('a failed child throws ChildWorkflowFailedError: caught, the step goes on; uncaught, it fails the parent', async () => {
    const { client } = await createTestApp({
      workflows: [BatchWorkflow, ThumbnailWorkflow],
    });
    const caught = await client.enqueue(BatchWorkflow, {
      files: [1, 2, 3],
      failing: [2],
      catchFailures: true,
    });
    await expect(caught.result({ timeout: 10_000 })).resolves.toMatchObject({
      thumbs: ['t1', 'failed:bad_image:failed', 't3'],
    });
    const uncaught = await client.enqueue(BatchWorkflow, {
      files: [1, 2],
      failing: [2],
    });
    await expect(uncaught.result({ timeout: 10_000 })).rejects.toMatchObject({
      errorCode: 'child_workflow_failed',
      errorMessage: expect.stringMatching(/bad_image/),
    });
    const details = await client.getRun(uncaught.id);
    expect(details?.attempts.map((a) => a.state)).toEqual(['failed']);
  });

  it('cancelling a parent cancels its waiting children recursively, but not an abandoned one; a cancelled child fails its parent', async () => {
    const { client, schema } = await createTestApp({
      workflows: [TreeWorkflow, HolderWorkflow],
    });
    const root = await client.enqueue(TreeWorkflow, {
      depth: 2,
      abandon: true,
    });
    // root → child → grandchild (waiting for Release), and an abandoned holder.
    await waitFor(async () => (await runIdsOf(schema, 'tree')).length === 3);
    await waitFor(async () => {
      const [row] = await query<{ n: number }>(
        `select count(*)::int as n from ${schema}.workflow_run where state = 'waiting'`,
      );
      return row?.n === 4;
    });
    expect(await client.cancel(root.id)).toBe(true);
    const states = await query<{
      workflow_name: string;
      state: string;
      code: string;
    }>(
      `select workflow_name, state, error->>'code' as code from ${schema}.workflow_run order by id`,
    );
    expect(states).toEqual([
      { workflow_name: 'tree', state: 'cancelled', code: 'cancelled' },
      { workflow_name: 'holder', state: 'waiting', code: null },
      { workflow_name: 'tree', state: 'cancelled', code: 'parent_closed' },
      { workflow_name: 'tree', state: 'cancelled', code: 'parent_closed' },
    ]);

    // Cancelling a child alone fails its parent's wait with the cancellation.
    recorder.clear();
    const parent = await client.enqueue(TreeWorkflow, { depth: 1 });
    await waitFor(async () => recorder.count('grow') === 2);
    const leaf = (await client.getRun(parent.id))!.children[0]!.runId;
    await waitFor(async () => (await client.status(leaf)) === 'waiting');
    await client.cancel(leaf);
    await expect(parent.result({ timeout: 10_000 })).rejects.toMatchObject({
      errorCode: 'child_workflow_failed',
      errorMessage: expect.stringMatching(/was cancelled/),
    });
  });

  it('a parent that fails cancels its unfinished children (parentClose: cancel), not the abandoned ones', async () => {
    const { client, schema } = await createTestApp({
      workflows: [DoomedParentWorkflow, HolderWorkflow],
    });
    const parent = await client.enqueue(DoomedParentWorkflow, {});
    await expect(parent.result({ timeout: 10_000 })).rejects.toMatchObject({
      errorCode: 'boom',
    });
    await waitFor(async () => {
      const rows = await query<{ state: string }>(
        `select state from ${schema}.workflow_run where parent_run_id = $1 order by id`,
        [parent.id],
      );
      return rows.map((r) => r.state).join() === 'cancelled,waiting';
    });
  });

  it('retention deletes a tree together: children wait for their parent, and go with it', async () => {
    const { client, schema } = await createTestApp({
      workflows: [ShortLivedBatchWorkflow, ThumbnailWorkflow],
      underway: { runtime: { maintenanceInterval: 100 } },
    });
    const parent = await client.enqueue(ShortLivedBatchWorkflow, {});
    await parent.result({ timeout: 10_000 });
    await waitFor(
      async () =>
        (await query(`select 1 from ${schema}.workflow_run`)).length === 0,
      { message: 'the tree was not pruned' },
    );
    expect(await query(`select 1 from ${schema}.activity_call`)).toEqual([]);
  });

  it('fans out to 1,000 children and back in seconds', async () => {
    const { client } = await createTestApp({
      workflows: [BatchWorkflow, ThumbnailWorkflow],
      underway: { runtime: { concurrency: 20 } },
    });
    const files = Array.from({ length: 1_000 }, (_, i) => i + 1);
    const started = Date.now();
    const run = await client.enqueue(BatchWorkflow, { files });
    const output = (await run.result({ timeout: 60_000 })) as {
      thumbs: string[];
    };
    const seconds = (Date.now() - started) / 1_000;
    expect(output.thumbs).toHaveLength(1_000);
    expect(output.thumbs[999]).toBe('t1000');
    await waitFor(() => recorder.count('render') >= 1_001); // + the started one
    expect(recorder.count('render')).toBe(1_001);
    expect(recorder.steps(run.id)).toEqual(['thumbnails', 'thumbnails']);
    console.log(`1,000 children fanned out and in: ${seconds.toFixed(1)} s`);
  }, 90_000);

  it('wakes the parent when its child ends, not on the poll', async () => {
    const { client } = await createTestApp({
      workflows: [BatchWorkflow, ThumbnailWorkflow],
      underway: { runtime: { pollInterval: '10s' } },
    });
    const started = Date.now();
    const run = await client.enqueue(BatchWorkflow, { files: [1] });
    await expect(run.result({ timeout: 8_000 })).resolves.toMatchObject({
      thumbs: ['t1'],
    });
    // Claim, suspend with the child, the child, the parent woken by the
    // child's commit, replay: each woken by NOTIFY, none by the poll.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('refuses a child that needs the concurrency key its parent holds, enqueuing nothing', async () => {
    const { client, schema } = await createTestApp({
      workflows: [KeyedParentWorkflow, ThumbnailWorkflow],
    });
    const refused = await client.enqueue(
      KeyedParentWorkflow,
      { key: 'tenant-1' },
      { concurrencyKey: 'tenant-1' },
    );
    await expect(refused.result({ timeout: 10_000 })).resolves.toBe(
      'refused:concurrency_deadlock',
    );
    expect(await runIdsOf(schema, 'thumbnail')).toEqual([]);
    const other = await client.enqueue(
      KeyedParentWorkflow,
      { key: 'tenant-2' },
      { concurrencyKey: 'tenant-1' },
    );
    await expect(other.result({ timeout: 10_000 })).resolves.toBe('spawned');
  });

  it('a signal to a child wakes it, and its output wakes the parent', async () => {
    const { client } = await createTestApp({
      workflows: [TreeWorkflow],
    });
    const parent = await client.enqueue(TreeWorkflow, { depth: 1 });
    const leaf = await waitFor(async () => {
      const id = (await client.getRun(parent.id))?.children[0]?.runId;
      return id && (await client.status(id)) === 'waiting' ? id : undefined;
    });
    await client.signal(leaf, Release);
    await expect(parent.result({ timeout: 10_000 })).resolves.toBe('done');
  });
});
