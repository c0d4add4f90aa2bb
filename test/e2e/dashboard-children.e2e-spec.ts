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
import { uuidv7 } from '../../libs/underway/src/common/uuid';
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

const workflows = [BatchWorkflow, ThumbnailWorkflow, AuditWorkflow];

/**
 * A batch of files 1, 2 and 3 (3 fails) waiting on its children: an audit
 * (`ctx.startChild`, abandon) and thumbnails 1 and 2 waiting for a signal,
 * thumbnail 3 failed.
 */
async function waitingBatch(app: DashboardApp) {
  const parent = await app.client.enqueue(BatchWorkflow, {
    files: [1, 2, 3],
    failing: [3],
  });
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
  return {
    parent,
    children,
    audit: audit!,
    first: first!,
    second: second!,
    failed: failed!,
  };
}

describe('the dashboard’s parents and children', () => {
  afterEach(async () => {
    await closeDashboardApps();
  });

  it('lists a step’s ctx.startChild and ctx.child entries in its timeline: the workflow, the child run’s state and link, a failed child’s error, outputs only with showPayloads', async () => {
    const app = await createDashboardApp({ workflows });
    const { parent, children, audit, first, second, failed } =
      await waitingBatch(app);
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
    expect(started).toContain(`data-child="${audit.id}"`);
    expect(started).toContain(`href="/underway/runs/${audit.id}"`);
    expect(plain(started)).toMatch(
      /^ctx\.startChild audit waiting #0 · run [0-9a-f]{12} · started \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    );
    for (const [call, child] of [
      [1, first],
      [2, second],
    ] as const) {
      const html = entry(waiting.body, 0, call);
      expect(html).toContain(`href="/underway/runs/${child.id}"`);
      expect(html).toContain('state-waiting');
      expect(plain(html)).toMatch(
        new RegExp(
          `^ctx\\.child thumbnail waiting #${call} · run ${child.id.slice(-12)} · started `,
        ),
      );
    }
    const failure = entry(waiting.body, 0, 3);
    expect(failure).toContain(`href="/underway/runs/${failed.id}"`);
    expect(failure).toContain('state-failed');
    expect(plain(failure)).toMatch(
      /^ctx\.child thumbnail failed #3 · run [0-9a-f]{12} · ended \S+ \S+ · took .+? bad_image( StepError)? file 3 is not an image$/,
    );

    for (const child of [audit, first, second]) {
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

  it('links a child to its parent and a parent to its children: the child’s parent, step, entry and parentClose; the parent’s children counted by state, listed with their workflow, state and entry', async () => {
    const app = await createDashboardApp({ workflows });
    const { parent, audit, first, second, failed } = await waitingBatch(app);

    const page = await get(app, `/underway/runs/${parent.id}`);
    expect(page.body).not.toContain('<dt>Parent</dt>');
    expect(
      plain(
        /<dt>Waiting for<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(page.body)![1]!,
      ),
    ).toBe('ctx.child 2 child runs to end · children');
    expect(plain(page.body)).toContain(
      'Children 4 children: 3 waiting, 1 failed Run Workflow State Started by Enqueued Finished',
    );
    const rows = [
      ...page.body.matchAll(
        /<tr id="child-([^"]+)" data-child="[^"]+">([\s\S]*?)<\/tr>/g,
      ),
    ].map((m) => [m[1]!, plain(m[2]!)]);
    const place = (call: number, kind: string, href: string) => {
      expect(page.body).toContain(href);
      return expect.stringMatching(
        new RegExp(
          `^[0-9a-f]{12} \\S+ \\S+ step 0 #${call} ${kind.replace('.', '\\.')} \\d{4}-\\S+ \\S+ \\S+`,
        ),
      ) as string;
    };
    expect(rows).toEqual([
      [
        audit.id,
        place(
          0,
          'ctx.startChild',
          `href="/underway/runs/${parent.id}?step=0#step-0"`,
        ),
      ],
      [
        first.id,
        place(
          1,
          'ctx.child',
          `href="/underway/runs/${parent.id}?step=0&amp;calls_after=0#step-0"`,
        ),
      ],
      [
        second.id,
        place(
          2,
          'ctx.child',
          `href="/underway/runs/${parent.id}?step=0&amp;calls_after=1#step-0"`,
        ),
      ],
      [
        failed.id,
        place(
          3,
          'ctx.child',
          `href="/underway/runs/${parent.id}?step=0&amp;calls_after=2#step-0"`,
        ),
      ],
    ]);
    expect(rows.map(([, text]) => text!.split(' ').slice(1, 3))).toEqual([
      ['audit', 'waiting'],
      ['thumbnail', 'waiting'],
      ['thumbnail', 'waiting'],
      ['thumbnail', 'failed'],
    ]);
    for (const child of [audit, first, second, failed]) {
      expect(page.body).toContain(
        `<a class="run-id" href="/underway/runs/${child.id}"`,
      );
    }

    const parentFact = (body: string): string =>
      /<dt>Parent<\/dt>\s*<dd id="parent">([\s\S]*?)<\/dd>/.exec(body)![1]!;
    const child = await get(app, `/underway/runs/${first.id}`);
    const fact = parentFact(child.body);
    expect(fact).toContain(`href="/underway/runs/${parent.id}"`);
    expect(fact).toContain(
      `class="parent-entry" href="/underway/runs/${parent.id}?step=0&amp;calls_after=0#step-0"`,
    );
    expect(plain(fact)).toBe(
      `${parent.id.slice(-12)} batch waiting · started by step 0 thumbnails #1 ctx.child · parentClose cancel (cancelled if the parent fails or is cancelled)`,
    );
    expect(plain(child.body)).toContain('This run started no child run.');
    expect(
      plain(parentFact((await get(app, `/underway/runs/${audit.id}`)).body)),
    ).toBe(
      `${parent.id.slice(-12)} batch waiting · started by step 0 thumbnails #0 ctx.startChild · parentClose abandon (runs on whatever becomes of the parent)`,
    );
    // The entry the link opens is the first of the parent's step 0.
    const entryPage = await get(
      app,
      `/underway/runs/${parent.id}?step=0&calls_after=1#step-0`,
    );
    expect(
      [
        ...entryPage.body.matchAll(/<li\s+class="call"\s+data-call="(\d+)"/g),
      ].map((m) => Number(m[1])),
    ).toEqual([2, 3]);
  });

  it('pages through the children of several steps both ways, and says when a child’s or a parent’s run is no longer retained', async () => {
    const app = await createDashboardApp();
    const parent = uuidv7();
    // 25 children at step 0, 10 calls at step 1, 25 children at step 2.
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, step_index, max_attempts,
         lease_ms, ttl_ms, run_at)
       values ($1, 'fan-out', 'waiting', '{}', 2, 5, 30000, 1209600000, 'infinity')`,
      [parent],
    );
    await query(
      `insert into ${app.schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name,
         args, state, attempt, max_attempts, lease_ms, run_at, child_run_id, completed_at)
       select $1, step, c, case when step = 1 then 'call' else 'child' end, 'fan-out',
         case when step = 1 then 'lookup' else 'kid-' || step || '-' || lpad(c::text, 2, '0') end,
         '[]', 'succeeded', 1, 1, 1, now(), case when step <> 1 then gen_random_uuid() end, now()
       from generate_series(0, 2) step, generate_series(0, 24) c
       where step <> 1 or c < 10`,
      [parent],
    );
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms,
         ttl_ms, completed_at, parent_run_id, parent_step_index, parent_call_index, parent_close)
       select child_run_id, name, 'succeeded', '{}', 5, 30000, 1209600000, now(), run_id, step_index,
         call_index, 'cancel'
       from ${app.schema}.activity_call where run_id = $1 and kind = 'child'`,
      [parent],
    );
    const kids = (body: string): string[] =>
      [...body.matchAll(/<th scope="row">(kid-\d-\d\d)</g)].map((m) => m[1]!);
    const all = [0, 2].flatMap((step) =>
      Array.from(
        { length: 25 },
        (_, c) => `kid-${step}-${String(c).padStart(2, '0')}`,
      ),
    );
    const href = (body: string, rel: string): string | undefined =>
      new RegExp(`<a rel="${rel}" href="([^"]+)"`)
        .exec(body)?.[1]
        ?.replace(/&amp;/g, '&');

    const walk = async (start: string, rel: 'next' | 'prev') => {
      const seen: string[] = [];
      let path: string | undefined = start;
      while (path !== undefined) {
        const page = await get(app, path);
        expect({ path, status: page.status }).toEqual({ path, status: 200 });
        const rows = kids(page.body);
        seen.push(...(rel === 'next' ? rows : rows.reverse()));
        path = href(page.body, rel);
      }
      return seen;
    };
    const latest = await get(app, `/underway/runs/${parent}`);
    expect(kids(latest.body)).toEqual(all.slice(30));
    expect(plain(latest.body)).toContain(
      '50 children: 50 succeeded · 20 listed here',
    );
    expect(
      await walk(`/underway/runs/${parent}?children=first`, 'next'),
    ).toEqual(all);
    expect(await walk(`/underway/runs/${parent}`, 'prev')).toEqual(
      [...all].reverse(),
    );
    // A malformed cursor shows the latest.
    expect(
      kids(
        (await get(app, `/underway/runs/${parent}?children_before=1.x`)).body,
      ),
    ).toEqual(all.slice(30));

    // A child whose run is gone (it was written by hand: retention deletes
    // a tree together), and a child whose parent is gone.
    const [gone] = await query<{ id: string }>(
      `delete from ${app.schema}.workflow_run where parent_run_id = $1 and parent_step_index = 2
         and parent_call_index = 24 returning id`,
      [parent],
    );
    const page = await get(app, `/underway/runs/${parent}`);
    expect(plain(page.body)).toContain(
      '49 children: 49 succeeded · 20 listed here',
    );
    expect(
      plain(
        /<tr id="child-[^"]+" data-child="[^"]+">[\s\S]*?<\/tr>/.exec(
          page.body.slice(page.body.indexOf(`data-child="${gone!.id}"`) - 100),
        )![0],
      ),
    ).toMatch(
      /^[0-9a-f]{12} \(no longer retained\) kid-2-24 succeeded step 2 #24 ctx\.child /,
    );
    const [orphan] = await query<{ id: string }>(
      `select id from ${app.schema}.workflow_run where parent_run_id = $1 and parent_call_index = 0
         and parent_step_index = 0`,
      [parent],
    );
    await query(`delete from ${app.schema}.workflow_run where id = $1`, [
      parent,
    ]);
    const child = await get(app, `/underway/runs/${orphan!.id}`);
    const fact = /<dt>Parent<\/dt>\s*<dd id="parent">([\s\S]*?)<\/dd>/.exec(
      child.body,
    )![1]!;
    expect(plain(fact)).toBe(
      `${parent.slice(-12)} (no longer retained) · started by step 0 #0 ctx.child · parentClose cancel (cancelled if the parent fails or is cancelled)`,
    );
    expect(fact).not.toContain('parent-entry');
  });
});
