import {
  ChildWorkflowFailedError,
  defineSignal,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import {
  closeDashboardApps,
  createDashboardApp,
  DashboardApp,
} from '../browser/support/dashboard-app';
import { query } from '../support/database';
import { waitFor } from '../support/wait-for';

// A parent's and its children's pages over HTTP: the timeline's ctx.child
// and ctx.startChild entries, the links both ways, and the parent's
// Children section (its bounds: dashboard-bounds.e2e-spec.ts).

const Release = defineSignal('release');

@Workflow({ name: 'thumbnail' })
class ThumbnailWorkflow {
  @Step()
  async render(input: { fileId: number; fail?: boolean }, ctx: StepContext) {
    if (input.fail) {
      throw StepError.fatal(
        'bad_image',
        `file ${input.fileId} is not an image`,
      );
    }
    await ctx.waitFor(Release);
    return Transition.complete({ thumb: `secret-thumb-${input.fileId}` });
  }
}

@Workflow({ name: 'audit' })
class AuditWorkflow {
  @Step()
  async record(_input: { files: number }, ctx: StepContext) {
    await ctx.waitFor(Release);
    return Transition.complete();
  }
}

@Workflow({ name: 'batch' })
class BatchWorkflow {
  @Step()
  async thumbnails(
    input: { files: number[]; failing: number[] },
    ctx: StepContext,
  ) {
    await ctx.startChild(
      AuditWorkflow,
      { files: input.files.length },
      { parentClose: 'abandon' },
    );
    const thumbs = await Promise.all(
      input.files.map((fileId) =>
        ctx
          .child(ThumbnailWorkflow, {
            fileId,
            fail: input.failing.includes(fileId),
          })
          .catch((err: unknown) => {
            if (err instanceof ChildWorkflowFailedError) {
              return err.errorCode;
            }
            throw err;
          }),
      ),
    );
    return Transition.next({ thumbs });
  }

  @Step()
  async publish(input: { thumbs: unknown[] }) {
    return Transition.complete(input);
  }
}

interface ChildRow {
  id: string;
  workflow_name: string;
  parent_call_index: number;
  state: string;
}

async function childrenOf(
  app: DashboardApp,
  parent: string,
): Promise<ChildRow[]> {
  return query<ChildRow>(
    `select id, workflow_name, parent_call_index, state from ${app.schema}.workflow_run
     where parent_run_id = $1 order by parent_call_index`,
    [parent],
  );
}

async function get(
  app: DashboardApp,
  path: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${app.origin}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A page's text: its tags taken out, its white space collapsed. */
function plain(body: string): string {
  return body
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The timeline entry of `step` at `call`, as HTML. */
function entry(body: string, step: number, call: number): string {
  return new RegExp(
    `<li[^>]*id="step-${step}"[\\s\\S]*?(<li\\s+class="call"\\s+data-call="${call}"\\s+data-kind="(?:child|start)"[\\s\\S]*?</li>)`,
  ).exec(body)![1]!;
}

describe('the dashboard’s parents and children', () => {
  afterEach(async () => {
    await closeDashboardApps();
  });

  it('lists a step’s ctx.startChild and ctx.child entries in its timeline: the workflow, the child run’s state and link, a failed child’s error, outputs only with showPayloads', async () => {
    const workflows = [BatchWorkflow, ThumbnailWorkflow, AuditWorkflow];
    const app = await createDashboardApp({ workflows });
    const parent = await app.client.enqueue(BatchWorkflow, {
      files: [1, 2, 3],
      failing: [3],
    });
    // Children 1 and 2 wait for a signal, 3 failed: the parent waits on 2.
    const children = await waitFor(async () => {
      const rows = await childrenOf(app, parent.id);
      const [row] = await query<{ open_calls: number }>(
        `select open_calls from ${app.schema}.workflow_run where id = $1 and state = 'waiting'`,
        [parent.id],
      );
      return rows.length === 4 &&
        rows.filter((c) => c.state === 'waiting').length === 3 &&
        row?.open_calls === 2
        ? rows
        : undefined;
    });
    const [audit, first, second, failed] = children;
    expect(children.map((c) => [c.workflow_name, c.parent_call_index])).toEqual(
      [
        ['audit', 0],
        ['thumbnail', 1],
        ['thumbnail', 2],
        ['thumbnail', 3],
      ],
    );

    const waiting = await get(app, `/underway/runs/${parent.id}`);
    expect(waiting.status).toBe(200);
    expect(waiting.body).not.toContain('ctx.emit');
    expect(waiting.body).toContain('waiting on 2 child run(s)');
    const started = entry(waiting.body, 0, 0);
    expect(started).toContain(`data-child="${audit!.id}"`);
    expect(started).toContain(`href="/underway/runs/${audit!.id}"`);
    expect(plain(started)).toMatch(
      /^ctx\.startChild audit waiting #0 · run [0-9a-f]{12} · started \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    );
    for (const [call, child] of [
      [1, first],
      [2, second],
    ] as const) {
      const html = entry(waiting.body, 0, call);
      expect(html).toContain(`href="/underway/runs/${child!.id}"`);
      expect(html).toContain('state-waiting');
      expect(plain(html)).toMatch(
        new RegExp(
          `^ctx\\.child thumbnail waiting #${call} · run ${child!.id.slice(-12)} · started `,
        ),
      );
    }
    const failure = entry(waiting.body, 0, 3);
    expect(failure).toContain(`href="/underway/runs/${failed!.id}"`);
    expect(failure).toContain('state-failed');
    expect(plain(failure)).toMatch(
      /^ctx\.child thumbnail failed #3 · run [0-9a-f]{12} · ended \S+ \S+ · took .+? bad_image( StepError)? file 3 is not an image$/,
    );

    for (const child of [audit!, first!, second!]) {
      await app.client.signal(child.id, Release);
    }
    await expect(parent.result({ timeout: 10_000 })).resolves.toEqual({
      thumbs: [
        { thumb: 'secret-thumb-1' },
        { thumb: 'secret-thumb-2' },
        'bad_image',
      ],
    });
    await waitFor(async () =>
      (await childrenOf(app, parent.id)).every((c) => c.state !== 'waiting'),
    );
    const done = await get(app, `/underway/runs/${parent.id}`);
    expect(plain(entry(done.body, 0, 0))).toMatch(
      /^ctx\.startChild audit succeeded #0 · run [0-9a-f]{12} · ended /,
    );
    expect(plain(entry(done.body, 0, 1))).toMatch(
      /^ctx\.child thumbnail succeeded #1 · run [0-9a-f]{12} · ended /,
    );
    expect(done.body).not.toContain('secret-thumb');
    await app.close();

    const shown = await createDashboardApp({
      workflows,
      dashboard: { showPayloads: true },
    });
    const visible = await get(shown, `/underway/runs/${parent.id}`);
    expect(entry(visible.body, 0, 1)).toContain(
      '&quot;thumb&quot;: &quot;secret-thumb-1&quot;',
    );
    expect(entry(visible.body, 0, 0)).toContain('none');
    expect(entry(visible.body, 0, 3)).not.toContain('class="payload');
  });
});
