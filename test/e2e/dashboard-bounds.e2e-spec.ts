import { uuidv7 } from '../../libs/underway/src/common/uuid';
import {
  closeDashboardApps,
  createDashboardApp,
  DashboardApp,
} from '../browser/support/dashboard-app';
import { query } from '../support/database';

// Every page of the dashboard stays well under 150 KB (with its stylesheet,
// script and icon) whatever the tables hold: 100,000 schedules, a run with
// 10,000 activity calls, a run with 10,000 signals, a run with 10,000
// children, 1,000 workflows, 5,000 dead-letter queues, errors of 2,000
// characters and inputs of 1 MiB. Lists page through keyset links to their
// last row; a run's page through each step's calls, its signals and its
// children.

jest.setTimeout(120_000);

const LIMIT = 150 * 1024;
const RUN_UUID = `(lpad(to_hex(1700000000000 + g), 12, '0') || '7' || substr(md5(g::text), 1, 3) || '8'
  || substr(md5(g::text), 4, 15))::uuid`;

async function get(
  app: DashboardApp,
  path: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${app.origin}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A page's weight in bytes: its HTML and the assets it loads. */
async function weight(app: DashboardApp, body: string): Promise<number> {
  let bytes = Buffer.byteLength(body);
  for (const [, asset] of body.matchAll(
    /(?:src|href)="(\/underway\/assets\/[^"]+)"/g,
  )) {
    bytes += Buffer.byteLength((await get(app, asset!)).body);
  }
  return bytes;
}

/** The href of the page's link `<a rel="next">` (or `class="…"`), unescaped. */
function link(body: string, name: string): string | undefined {
  const match = new RegExp(
    `<a\\s+(?:rel|class)="${name}"\\s+href="([^"]+)"|<a\\s+href="([^"]+)"\\s+(?:rel|class)="${name}"`,
  ).exec(body);
  const href = match?.[1] ?? match?.[2];
  return href?.replace(/&amp;/g, '&');
}

function range<T>(from: number, to: number, format: (n: number) => T): T[] {
  return Array.from({ length: to - from + 1 }, (_, i) => format(from + i));
}

const tenant = (n: number): string => `tenant-${String(n).padStart(6, '0')}`;

describe('the dashboard’s pages stay bounded', () => {
  afterEach(async () => {
    await closeDashboardApps();
  });

  it('pages through 100,000 schedules 50 at a time, each page well under 150 KB, to the last schedule and back', async () => {
    const app = await createDashboardApp({ dashboard: { showPayloads: true } });
    await query(
      `insert into ${app.schema}.schedule (workflow_name, key, cron, timezone, input, source, next_fire_at)
       select 'tenant-report', 'tenant-' || lpad(g::text, 6, '0'), '0 3 * * *', 'Europe/Paris',
         jsonb_build_object('tenantId', g, 'note', repeat('x', 2000)), 'client', now() + interval '1 day'
       from generate_series(1, 100000) g`,
    );
    const keys = (body: string): string[] =>
      [
        ...body.matchAll(/<tr data-schedule="tenant-report\/(tenant-\d+)"/g),
      ].map((m) => m[1]!);

    const first = await get(app, '/underway/schedules');
    expect(first.status).toBe(200);
    expect(await weight(app, first.body)).toBeLessThan(LIMIT);
    expect(keys(first.body)).toEqual(range(1, 50, tenant));
    expect(first.body).not.toContain('rel="prev"');
    let page = first;
    for (const start of [51, 101]) {
      page = await get(app, link(page.body, 'next')!);
      expect(keys(page.body)).toEqual(range(start, start + 49, tenant));
    }
    const back = await get(app, link(page.body, 'prev')!);
    expect(keys(back.body)).toEqual(range(51, 100, tenant));

    const last = await get(app, link(first.body, 'last')!);
    expect(last.status).toBe(200);
    expect(await weight(app, last.body)).toBeLessThan(LIMIT);
    expect(keys(last.body)).toEqual(range(99_951, 100_000, tenant));
    expect(link(last.body, 'next')).toBeUndefined();
    const beforeLast = await get(app, link(last.body, 'prev')!);
    expect(keys(beforeLast.body)).toEqual(range(99_901, 99_950, tenant));
    expect(link((await get(app, link(last.body, 'first')!)).body, 'prev')).toBe(
      undefined,
    );
  });

  it('walks every page of schedules and of dead-letter queues with Next to the last row, and back with Previous', async () => {
    const app = await createDashboardApp();
    await query(
      `insert into ${app.schema}.schedule (workflow_name, key, cron, timezone, source, next_fire_at)
       select w, 'tenant-' || lpad(g::text, 6, '0'), '0 3 * * *', 'UTC', 'client', now() + interval '1 day'
       from generate_series(1, 70) g, unnest(array['a-report', 'b-report']) w`,
    );
    await query(
      `insert into ${app.schema}.dead_letter (queue, run_id, workflow_name, input, error)
       select 'queue-' || lpad(g::text, 4, '0'), ${RUN_UUID}, 'order', '{}', '{"code": "x", "message": "x"}'
       from generate_series(1, 120) g`,
    );
    const walk = async (
      start: string,
      pattern: RegExp,
      rel: 'next' | 'prev',
    ): Promise<string[]> => {
      const seen: string[] = [];
      let path: string | undefined = start;
      while (path !== undefined) {
        const page = await get(app, path);
        expect({ path, status: page.status }).toEqual({ path, status: 200 });
        const rows = [...page.body.matchAll(pattern)].map((m) => m[1]!);
        expect(rows.length).toBeLessThanOrEqual(50);
        seen.push(...(rel === 'next' ? rows : rows.reverse()));
        path = link(page.body, rel);
      }
      return seen;
    };
    const schedules = [
      ...range(1, 70, (n) => `a-report/${tenant(n)}`),
      ...range(1, 70, (n) => `b-report/${tenant(n)}`),
    ];
    const scheduleRow = /<tr data-schedule="([^"]+)"/g;
    expect(await walk('/underway/schedules', scheduleRow, 'next')).toEqual(
      schedules,
    );
    expect(
      await walk('/underway/schedules?last=1', scheduleRow, 'prev'),
    ).toEqual([...schedules].reverse());

    const queues = range(1, 120, (n) => `queue-${String(n).padStart(4, '0')}`);
    const queueRow = /<tr data-queue="([^"]+)"/g;
    expect(await walk('/underway/dead-letters', queueRow, 'next')).toEqual(
      queues,
    );
    expect(
      await walk('/underway/dead-letters?last=1', queueRow, 'prev'),
    ).toEqual([...queues].reverse());
  });

  it('shows a run with 10,000 activity calls well under 150 KB, with counts, pages through them to the last call, and does not refresh itself', async () => {
    const app = await createDashboardApp({ dashboard: { showPayloads: true } });
    const id = uuidv7();
    const long = (c: string) => `repeat('${c}', 2000)`;
    // Waiting at step 1 on its calls; a 1 MiB input; step 0 took 30 attempts.
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, step_input, step_index,
         max_attempts, lease_ms, ttl_ms, attempt, run_at, open_calls, error)
       values ($1, 'fan-out', 'waiting', jsonb_build_object('blob', repeat('y', 1048576)),
         jsonb_build_object('blob', repeat('z', 1048576)), 1, 50, 30000, 1209600000, 1, 'infinity', 10,
         jsonb_build_object('code', 'boom', 'message', ${long('e')}))`,
      [id],
    );
    await query(
      `insert into ${app.schema}.step_attempt (run_id, step_index, attempt, state, error, worker, started_at)
       select $1, 0, g, case when g = 30 then 'succeeded' else 'failed' end,
         case when g < 30 then jsonb_build_object('code', 'boom', 'message', ${long('a')}) end,
         'worker-' || repeat('w', 240), now()
       from generate_series(1, 30) g`,
      [id],
    );
    // 10,000 calls: every 1,000th failed after 3 attempts, the others succeeded at once.
    await query(
      `insert into ${app.schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name,
         args, state, attempt, max_attempts, lease_ms, error, started_at, completed_at)
       select $1, 1, g, 'call', 'fan-out', 'charge-' || repeat('c', 150), '{}',
         case when g % 1000 = 999 then 'failed' else 'succeeded' end,
         case when g % 1000 = 999 then 3 else 1 end, 3, 30000,
         case when g % 1000 = 999 then jsonb_build_object('code', 'declined', 'message', ${long('d')}) end,
         now(), now()
       from generate_series(0, 9999) g`,
      [id],
    );
    await query(
      `insert into ${app.schema}.activity_attempt (run_id, step_index, call_index, attempt, state, error, worker, started_at)
       select $1, 1, g, a, case when g % 1000 = 999 then 'failed' else 'succeeded' end,
         case when g % 1000 = 999 then jsonb_build_object('code', 'declined', 'message', ${long('d')}) end,
         'worker-1', now()
       from generate_series(0, 9999) g, generate_series(1, 3) a
       where a = 1 or g % 1000 = 999`,
      [id],
    );
    const calls = (body: string): number[] =>
      [...body.matchAll(/<li class="call" data-call="(\d+)"/g)].map((m) =>
        Number(m[1]),
      );

    const page = await get(app, `/underway/runs/${id}`);
    expect(page.status).toBe(200);
    expect(await weight(app, page.body)).toBeLessThan(LIMIT);
    expect(page.body).toContain(
      '10,000 activity calls: 9,990 succeeded, 10 failed',
    );
    expect(page.body).toContain('30 finished attempts');
    expect(page.body).toMatch(/cut at 4,000 characters|too big to show here/);
    // Unfinished, but too big to refresh itself every 5 s.
    expect(page.body).not.toMatch(/<section\s+id="run"\s+data-live/);
    expect(page.body).toContain('does not refresh itself');
    expect(calls(page.body).length).toBeGreaterThan(0);
    expect(calls(page.body).length).toBeLessThanOrEqual(80);

    // Every call, in order, page after page of step 1, each page bounded.
    const seen: number[] = [];
    let path = link(page.body, 'more-calls');
    let pages = 0;
    seen.push(...calls(page.body));
    while (path !== undefined) {
      const next = await get(app, path);
      expect({ path, status: next.status }).toEqual({ path, status: 200 });
      pages += 1;
      if (pages % 50 === 0) {
        expect(await weight(app, next.body)).toBeLessThan(LIMIT);
      }
      expect(calls(next.body).length).toBeLessThanOrEqual(80);
      seen.push(...calls(next.body));
      path = link(next.body, 'more-calls');
    }
    expect(seen).toEqual(range(0, 9_999, (n) => n));

    // Step 0's 30 attempts, newest first, page after page.
    const attempts: number[] = [];
    let attemptsPath: string | undefined = `/underway/runs/${id}?step=0#step-0`;
    while (attemptsPath !== undefined) {
      const next = await get(app, attemptsPath);
      const step0 = /<li[^>]*id="step-0"[\s\S]*?<\/li>\s*<li/.exec(
        next.body,
      )![0];
      attempts.push(
        ...[...step0.matchAll(/<tr data-attempt="(\d+)"/g)].map((m) =>
          Number(m[1]),
        ),
      );
      attemptsPath = link(step0, 'earlier-attempts');
    }
    expect(attempts).toEqual(range(1, 30, (n) => 31 - n));

    // A small unfinished run still refreshes itself.
    const small = uuidv7();
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms)
       values ($1, 'fan-out', 'pending', '{}', 5, 30000, 1209600000)`,
      [small],
    );
    expect((await get(app, `/underway/runs/${small}`)).body).toMatch(
      /<section\s+id="run"\s+data-live/,
    );
  });

  it('shows a run with 10,000 signals and a wait for 1,000 names well under 150 KB, the latest 20 signals, and pages back through them to the first', async () => {
    const app = await createDashboardApp({ dashboard: { showPayloads: true } });
    const id = uuidv7();
    const quotes = (n: number) => `repeat('"', ${n})`;
    // Waiting at step 0 on a waitForAny of 1,000 names (of 255 characters)
    // and a sleep; 10,000 signals with long names, keys and payloads of
    // characters that escaping makes six times longer.
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, step_name,
         max_attempts, lease_ms, ttl_ms, run_at, open_calls)
       values ($1, 'inbox', 'waiting', '{}', ${quotes(255)}, 5, 30000, 1209600000, 'infinity', 2)`,
      [id],
    );
    await query(
      `insert into ${app.schema}.activity_call (run_id, step_index, step_name, call_index, kind,
         workflow_name, name, args, state, attempt, max_attempts, lease_ms, run_at)
       select $1, 0, ${quotes(255)}, c, case when c = 0 then 'wait' else 'sleep' end, 'inbox', 'w',
         case when c = 0 then (select jsonb_agg(lpad(g::text, 4, '0') || ${quotes(251)})
           from generate_series(1, 1000) g) else '[]' end,
         'waiting', 0, 1, 1, now() + interval '1 day'
       from generate_series(0, 1) c`,
      [id],
    );
    await query(
      `insert into ${app.schema}.signal (id, run_id, name, payload, idempotency_key, state,
         step_index, step_name, call_index, consumed_at)
       select ${RUN_UUID}, $1, 's' || lpad(g::text, 5, '0') || ${quotes(249)},
         jsonb_build_object('blob', ${quotes(5000)}), 'k' || lpad(g::text, 5, '0') || ${quotes(249)},
         case when g % 2 = 0 then 'consumed' else 'pending' end,
         case when g % 2 = 0 then 7 end, case when g % 2 = 0 then ${quotes(255)} end,
         case when g % 2 = 0 then 2147483647 end, case when g % 2 = 0 then now() end
       from generate_series(1, 10000) g order by g`,
      [id],
    );
    const signals = (body: string): number[] =>
      [...body.matchAll(/<th scope="row">s(\d{5})/g)].map((m) => Number(m[1]));

    const page = await get(app, `/underway/runs/${id}`);
    expect(page.status).toBe(200);
    expect(await weight(app, page.body)).toBeLessThan(LIMIT);
    expect(signals(page.body)).toEqual(range(9_981, 10_000, (n) => n));
    expect(page.body).toMatch(
      /10,000 signals:\s+5,000 pending, 5,000 taken by/,
    );
    expect(page.body).toContain('and 995 more');
    expect(page.body).not.toMatch(/<section\s+id="run"\s+data-live/);
    expect(link(page.body, 'next')).toBeUndefined();

    // Every signal, page after page, back to the first.
    const seen: number[] = [];
    let path = link(page.body, 'prev');
    let pages = 0;
    while (path !== undefined) {
      const next = await get(app, path);
      expect({ path, status: next.status }).toEqual({ path, status: 200 });
      pages += 1;
      if (pages % 100 === 0) {
        expect(await weight(app, next.body)).toBeLessThan(LIMIT);
      }
      seen.unshift(...signals(next.body));
      path = link(next.body, 'prev');
    }
    seen.push(...signals(page.body));
    expect(seen).toEqual(range(1, 10_000, (n) => n));
    const first = await get(app, link(page.body, 'first')!);
    expect(signals(first.body)).toEqual(range(1, 20, (n) => n));
    const second = await get(app, link(first.body, 'next')!);
    expect(signals(second.body)).toEqual(range(21, 40, (n) => n));
    const latest = await get(app, link(first.body, 'last')!);
    expect(signals(latest.body)).toEqual(range(9_981, 10_000, (n) => n));
  });

  it('shows a parent of 10,000 children well under 150 KB: counted by state, the latest 20 listed, paged back to the first; its timeline lists the step’s entries with their outputs, 40 a page; a child links back', async () => {
    const app = await createDashboardApp({ dashboard: { showPayloads: true } });
    const id = uuidv7();
    const quotes = (n: number) => `repeat('"', ${n})`;
    // Waiting at step 1 (a step name of 255 quotes) on 900 of its 10,000
    // children (100 more were not awaited), whose workflow names are 255 characters that escaping makes
    // six times longer; 9,000 succeeded with outputs of 5,000 quotes, and
    // failed ones with errors of 2,000.
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, step_index, step_name,
         max_attempts, lease_ms, ttl_ms, run_at, open_calls)
       values ($1, 'fan-out', 'waiting', '{}', 1, ${quotes(255)}, 5, 30000, 1209600000, 'infinity', 900)`,
      [id],
    );
    const childState = `case when g % 20 = 0 then 'running' when g % 20 = 1 then 'waiting'
      when g % 20 < 18 then 'succeeded' when g % 20 = 18 then 'failed' else 'cancelled' end`;
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, output, error, max_attempts,
         lease_ms, ttl_ms, run_at, lease_expires_at, completed_at, parent_run_id, parent_step_index,
         parent_call_index, parent_close)
       select ${RUN_UUID}, 'c' || lpad(g::text, 5, '0') || ${quotes(249)}, s, '{}',
         case when s = 'succeeded' then jsonb_build_object('blob', ${quotes(5000)}) end,
         case when s in ('failed', 'cancelled') then jsonb_build_object('code', 'boom', 'message', ${quotes(2000)}) end,
         5, 30000, 1209600000, case when s = 'waiting' then 'infinity'::timestamptz else now() end,
         case when s = 'running' then now() + interval '1 day' end,
         case when s in ('succeeded', 'failed', 'cancelled') then now() end,
         $1, 1, g - 1, case when g % 2 = 0 then 'cancel' else 'abandon' end
       from (select g, ${childState} as s from generate_series(1, 10000) g) x`,
      [id],
    );
    await query(
      `insert into ${app.schema}.activity_call (run_id, step_index, step_name, call_index, kind, workflow_name,
         name, args, state, attempt, max_attempts, lease_ms, run_at, child_run_id, result, error, completed_at)
       select $1, 1, ${quotes(255)}, g - 1, case when g % 100 = 0 then 'start' else 'child' end, 'fan-out',
         'c' || lpad(g::text, 5, '0') || ${quotes(249)}, '[{}]',
         case when s in ('running', 'waiting') then 'waiting' when s = 'succeeded' then 'succeeded' else 'failed' end,
         0, 1, 1, 'infinity', ${RUN_UUID},
         case when s = 'succeeded' then jsonb_build_object('blob', ${quotes(5000)}) end,
         case when s in ('failed', 'cancelled')
           then jsonb_build_object('code', 'boom', 'message', ${quotes(2000)}, 'state', s) end,
         case when s in ('succeeded', 'failed', 'cancelled') then now() end
       from (select g, ${childState} as s from generate_series(1, 10000) g) x`,
      [id],
    );
    const children = (body: string): number[] =>
      [...body.matchAll(/<th scope="row">c(\d{5})/g)].map((m) => Number(m[1]));
    const entries = (body: string): number[] =>
      [
        ...body.matchAll(
          /<li\s+class="call"\s+data-call="(\d+)"\s+data-kind="(?:child|start)"/g,
        ),
      ].map((m) => Number(m[1]));

    const page = await get(app, `/underway/runs/${id}`);
    expect(page.status).toBe(200);
    expect(await weight(app, page.body)).toBeLessThan(LIMIT);
    expect(children(page.body)).toEqual(range(9_981, 10_000, (n) => n));
    expect(page.body).toMatch(
      /10,000\s+children:\s+500 running, 500 waiting, 8,000 succeeded, 500 failed, 500 cancelled/,
    );
    expect(page.body).toContain('10,000 children, 900 awaited and not ended');
    expect(page.body).toContain('waiting on 900 child run(s)');
    expect(page.body).not.toMatch(/<section\s+id="run"\s+data-live/);
    expect(page.body).toContain('does not refresh itself');
    // The timeline lists the step's first entries, with their outputs cut.
    expect(entries(page.body).slice(0, 3)).toEqual([0, 1, 2]);
    expect(entries(page.body).length).toBeLessThanOrEqual(80);
    expect(page.body).toContain('cut at 100 characters');
    expect(link(page.body, 'next')).toBeUndefined();
    // A page of the step's entries, 80 rows: two for each with an output or
    // an error, one for each of the 5 unfinished ones among them.
    const focused = await get(
      app,
      `/underway/runs/${id}?step=1&calls_after=4999`,
    );
    expect(await weight(app, focused.body)).toBeLessThan(LIMIT);
    expect(entries(focused.body)).toEqual(range(5_000, 5_041, (n) => n));
    expect(link(focused.body, 'more-calls')).toBe(
      `/underway/runs/${id}?step=1&calls_after=5041#step-1`,
    );

    // Every child, page after page, back to the first.
    const seen: number[] = [];
    let path = link(page.body, 'prev');
    let pages = 0;
    while (path !== undefined) {
      const next = await get(app, path);
      expect({ path, status: next.status }).toEqual({ path, status: 200 });
      pages += 1;
      if (pages % 100 === 0) {
        expect(await weight(app, next.body)).toBeLessThan(LIMIT);
      }
      seen.unshift(...children(next.body));
      path = link(next.body, 'prev');
    }
    seen.push(...children(page.body));
    expect(seen).toEqual(range(1, 10_000, (n) => n));
    const first = await get(app, link(page.body, 'first')!);
    expect(children(first.body)).toEqual(range(1, 20, (n) => n));
    const second = await get(app, link(first.body, 'next')!);
    expect(children(second.body)).toEqual(range(21, 40, (n) => n));
    const latest = await get(app, link(first.body, 'last')!);
    expect(children(latest.body)).toEqual(range(9_981, 10_000, (n) => n));

    // The last child's page links back to its entry, the parent's last one.
    const [last] = await query<{ id: string }>(
      `select id from ${app.schema}.workflow_run where parent_run_id = $1 and parent_call_index = 9999`,
      [id],
    );
    const child = await get(app, `/underway/runs/${last!.id}`);
    expect(await weight(app, child.body)).toBeLessThan(LIMIT);
    const entry = await get(
      app,
      `/underway/runs/${id}?step=1&calls_after=9998`,
    );
    expect(child.body).toContain(
      `href="/underway/runs/${id}?step=1&amp;calls_after=9998#step-1"`,
    );
    expect(entries(entry.body)).toEqual([9_999]);
  });

  it('lists the first workflows of 1,000 on the overview and 50 of 5,000 dead-letter queues, well under 150 KB', async () => {
    const app = await createDashboardApp();
    const name = (n: string) =>
      `'workflow-' || lpad(${n}::text, 4, '0') || '-' || repeat('n', 50)`;
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms)
       select ${RUN_UUID}, ${name('g')}, 'pending', '{}', 5, 30000, 1209600000
       from generate_series(1, 1000) g`,
    );
    await query(
      `insert into ${app.schema}.dead_letter (queue, run_id, workflow_name, input, error)
       select 'queue-' || lpad(g::text, 5, '0') || '-' || repeat('q', 200), ${RUN_UUID}, 'order', '{}',
         jsonb_build_object('code', 'x', 'message', repeat('m', 2000))
       from generate_series(1, 5000) g`,
    );
    const overview = await get(app, '/underway');
    expect(overview.status).toBe(200);
    expect(await weight(app, overview.body)).toBeLessThan(LIMIT);
    const listed = [...overview.body.matchAll(/<tr data-workflow="/g)].length;
    expect(listed).toBeGreaterThan(0);
    expect(listed).toBeLessThanOrEqual(50);
    expect(overview.body).toContain(
      `${(1000 - listed).toLocaleString('en')} more are not`,
    );
    expect(overview.body).toContain('<strong>1000</strong> pending');

    const queues = await get(app, '/underway/dead-letters');
    expect(await weight(app, queues.body)).toBeLessThan(LIMIT);
    expect([...queues.body.matchAll(/<tr data-queue="/g)]).toHaveLength(50);
    const last = await get(app, link(queues.body, 'last')!);
    expect(await weight(app, last.body)).toBeLessThan(LIMIT);
    expect(last.body).toContain(`data-queue="queue-05000-${'q'.repeat(200)}"`);
  });

  it('cuts long values: 50 runs with 2,000-character errors, 50 dead letters with 1 MiB inputs, stay well under 150 KB', async () => {
    const app = await createDashboardApp({ dashboard: { showPayloads: true } });
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms,
         error, attempt, completed_at, expires_at)
       select ${RUN_UUID}, 'w' || repeat('x', 199), 'failed', '{}', 1, 1000, 1209600000,
         jsonb_build_object('code', repeat('c', 200), 'name', repeat('n', 200), 'message', repeat('"', 2000)),
         1, now(), now() + interval '1 day'
       from generate_series(1, 60) g`,
    );
    await query(
      `insert into ${app.schema}.dead_letter (queue, run_id, workflow_name, input, error)
       select 'big', ${RUN_UUID}, 'w' || repeat('x', 199), jsonb_build_object('blob', repeat('"', 1048576)),
         jsonb_build_object('code', 'x', 'message', repeat('<', 2000))
       from generate_series(1, 60) g`,
    );
    for (const path of [
      '/underway/runs',
      '/underway/runs?state=failed',
      '/underway/dead-letters/big',
      '/underway/dead-letters/big?all=1',
    ]) {
      const page = await get(app, path);
      expect({ path, status: page.status }).toEqual({ path, status: 200 });
      const bytes = await weight(app, page.body);
      expect({ path, underLimit: bytes < LIMIT }).toEqual({
        path,
        underLimit: true,
      });
    }
  });
});
