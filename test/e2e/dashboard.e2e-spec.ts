import {
  CanActivate,
  ExecutionContext,
  Injectable,
  Module,
  UnauthorizedException,
} from '@nestjs/common';
import {
  defineSignal,
  InvalidOptionsError,
  Step,
  StepContext,
  StepError,
  Transition,
  UnderwayDashboardModule,
  Workflow,
} from '@underway/nestjs';
import { uuidv7 } from '../../libs/underway/src/common/uuid';
import {
  actionHeaders,
  closeDashboardApps,
  createDashboardApp,
  DashboardApp,
  Platform,
} from '../browser/support/dashboard-app';
import { query } from '../support/database';
import { deferred, waitFor } from '../support/wait-for';

// The dashboard over HTTP, on Express and on Fastify: pages, assets, security
// headers, escaping, guards, readOnly, the cross-site check, and every
// action checked in the database afterwards. (test/e2e/dashboard-browser
// drives it in a real Chromium.)

const XSS_NAME = '<script>alert("name")</script>"><img src=x onerror=alert(1)>';
const XSS_MESSAGE = '"><img src=x onerror=alert(2)><script>alert(3)</script>';

const gate = { open: deferred() };
let shipping = false;

@Workflow({
  name: 'order',
  deadLetter: 'orders-dlq',
  retry: { maxAttempts: 1 },
})
class OrderWorkflow {
  @Step()
  async charge(input: { orderId: number }) {
    return Transition.next(input);
  }

  @Step()
  async ship(input: { orderId: number; secret?: string }, ctx: StepContext) {
    if (!shipping) {
      throw StepError.fatal(
        'carrier_down',
        `Carrier down for run ${ctx.runId}`,
      );
    }
    return Transition.complete({ shipped: input.orderId });
  }
}

@Workflow({ name: 'slow' })
class SlowWorkflow {
  @Step()
  async wait() {
    await gate.open.promise;
    return Transition.complete();
  }
}

const Approval = defineSignal<{ approved: boolean; by: string }>('approval');
const Rejection = defineSignal<{ reason: string }>('rejection');

@Workflow({ name: 'expense-review' })
class ExpenseReviewWorkflow {
  @Step()
  async review(_input: { amount: number }, ctx: StepContext) {
    const first = await ctx.waitForAny(
      { approved: Approval, rejected: Rejection },
      { timeout: '1h' },
    );
    return Transition.next({ first });
  }

  @Step()
  async settle(input: unknown, ctx: StepContext) {
    await ctx.sleep('1h');
    return Transition.complete(input);
  }
}

/** Until the run is suspended at `step` on one open wait or sleep. */
async function waitingAt(
  app: DashboardApp,
  runId: string,
  step: number,
): Promise<void> {
  await waitFor(async () => {
    const [row] = await query<{ state: string }>(
      `select state from ${app.schema}.workflow_run where id = $1 and step_index = $2 and open_calls = 1`,
      [runId, step],
    );
    return row?.state === 'waiting';
  });
}

@Injectable()
class TokenService {
  readonly token = 'let-me-in';
}

@Injectable()
class TokenGuard implements CanActivate {
  constructor(private readonly tokens: TokenService) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined> }>();
    if (request.headers.authorization !== `Bearer ${this.tokens.token}`) {
      throw new UnauthorizedException('A token is needed');
    }
    return true;
  }
}

@Module({ providers: [TokenService], exports: [TokenService] })
class TokenModule {}

async function get(
  app: DashboardApp,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await fetch(`${app.origin}${path}`, { headers });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

async function post(
  app: DashboardApp,
  path: string,
  body: unknown = {},
  headers: Record<string, string> = actionHeaders(app.origin),
): Promise<{ status: number; json: { ok: boolean; message: string } }> {
  const response = await fetch(`${app.origin}${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    json: (await response.json()) as { ok: boolean; message: string },
  };
}

async function failedOrder(app: DashboardApp, orderId = 1): Promise<string> {
  const run = await app.client.enqueue(OrderWorkflow, {
    orderId,
    secret: 'card-4242',
  });
  await run.result({ timeout: 10_000 }).catch(() => undefined);
  return run.id;
}

/** A run of a workflow no instance registers, failed, with a hostile name and message. */
async function insertHostileRun(schema: string): Promise<string> {
  const id = uuidv7();
  await query(
    `insert into ${schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms,
       error, attempt, completed_at, expires_at)
     values ($1, $2, 'failed', '{"x":1}', 1, 1000, 1209600000, $3, 1, now(), now() + interval '14 days')`,
    [
      id,
      XSS_NAME,
      JSON.stringify({ code: 'xss', message: XSS_MESSAGE, name: XSS_NAME }),
    ],
  );
  await query(
    `insert into ${schema}.step_attempt (run_id, step_index, attempt, state, error, worker, started_at)
     values ($1, 0, 1, 'failed', $2, $3, now())`,
    [id, JSON.stringify({ code: 'xss', message: XSS_MESSAGE }), XSS_NAME],
  );
  await query(
    `insert into ${schema}.dead_letter (queue, run_id, workflow_name, input, error)
     values ($1, $2, $3, '{}', $4)`,
    [
      XSS_NAME,
      id,
      XSS_NAME,
      JSON.stringify({ code: 'xss', message: XSS_MESSAGE }),
    ],
  );
  return id;
}

/** A page's text: its tags taken out, its white space collapsed. */
function plain(body: string): string {
  return body
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function expectEscaped(body: string): void {
  expect(body).not.toContain('<script>alert');
  expect(body).not.toContain('<img src=x');
  expect(body).toContain(
    '&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;',
  );
  expect(body).toContain('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
}

// In a describe block: its afterEach closes the apps before the setup's
// afterEach drops the test's schema (a live worker would race the drop).
describe('the dashboard over HTTP', () => {
  afterEach(async () => {
    gate.open.resolve();
    await closeDashboardApps();
  });

  beforeEach(() => {
    gate.open = deferred();
    shipping = false;
  });

  describe.each<Platform>(['express', 'fastify'])(
    'the dashboard on %s',
    (platform) => {
      it('serves every page and its assets under path, with a strict CSP, no inline script and under 150 KB', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow, SlowWorkflow],
        });
        const failed = await failedOrder(app);
        await app.client.schedule(
          SlowWorkflow,
          '0 3 * * *[Europe/Paris]',
          undefined,
        );

        const pages = [
          '/underway',
          '/underway/runs',
          `/underway/runs/${failed}`,
          '/underway/dead-letters',
          '/underway/dead-letters/orders-dlq',
          '/underway/schedules',
        ];
        for (const path of pages) {
          const page = await get(app, path);
          expect({ path, status: page.status }).toEqual({ path, status: 200 });
          expect(page.headers.get('content-type')).toBe(
            'text/html; charset=utf-8',
          );
          const csp = page.headers.get('content-security-policy') ?? '';
          expect(csp).toContain("default-src 'none'");
          expect(csp).toContain("script-src 'self'");
          expect(csp).not.toContain('unsafe-inline');
          expect(page.headers.get('x-frame-options')).toBe('DENY');
          expect(page.headers.get('x-content-type-options')).toBe('nosniff');
          expect(page.headers.get('cache-control')).toBe('no-store');
          // Every script is a file of the dashboard's own: no inline script, no handler attribute.
          const scripts = [
            ...page.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g),
          ];
          expect(scripts).toHaveLength(1);
          expect(scripts[0]![1]).toMatch(
            /src="\/underway\/assets\/dashboard-[0-9a-f]{12}\.js"/,
          );
          expect(scripts[0]![2]).toBe('');
          expect(page.body).not.toMatch(/\son[a-z]+=/i);
          expect(page.body).not.toMatch(/https?:\/\//);

          const assets = [
            ...page.body.matchAll(
              /(?:src|href)="(\/underway\/assets\/[^"]+)"/g,
            ),
          ].map((m) => m[1]!);
          expect(assets).toHaveLength(3); // icon, stylesheet, script
          let weight = Buffer.byteLength(page.body);
          for (const asset of assets) {
            const file = await get(app, asset);
            expect(file.status).toBe(200);
            expect(file.headers.get('cache-control')).toContain('immutable');
            expect(file.headers.get('content-type')).toMatch(
              asset.endsWith('.js')
                ? /^text\/javascript/
                : asset.endsWith('.css')
                  ? /^text\/css/
                  : /^image\/svg\+xml/,
            );
            weight += Buffer.byteLength(file.body);
          }
          expect(weight).toBeLessThan(150 * 1024);
        }

        const unknown = await get(
          app,
          '/underway/runs/0190a2b4-0000-7000-8000-000000000000',
        );
        expect(unknown.status).toBe(404);
        expect(unknown.headers.get('content-type')).toBe(
          'text/html; charset=utf-8',
        );
        expect(unknown.headers.get('content-security-policy')).toContain(
          "default-src 'none'",
        );
        expect(unknown.body).toContain('No run 0190a2b4-');
        expect((await get(app, '/underway/runs/not-a-uuid')).status).toBe(404);

        const overview = await get(app, '/underway');
        expect(overview.body).toContain('data-workflow="order"');
        const run = await get(app, `/underway/runs/${failed}`);
        expect(run.body).toContain('carrier_down');
        expect(run.body).toContain('Retry run');
        const schedules = await get(app, '/underway/schedules');
        expect(schedules.body).toContain('<code>0 3 * * *</code>');
        expect(schedules.body).toContain('Europe/Paris');
      });

      it('prints every value from the database as text: a workflow name and an error message with <script> and "><img onerror>', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow],
        });
        const id = await insertHostileRun(app.schema);
        for (const path of [
          '/underway',
          '/underway/runs',
          `/underway/runs/${id}`,
          `/underway/dead-letters/${encodeURIComponent(XSS_NAME)}`,
        ]) {
          const page = await get(app, path);
          expect({ path, status: page.status }).toEqual({ path, status: 200 });
          if (path.endsWith('/underway')) {
            expect(page.body).toContain(
              '&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;',
            );
            expect(page.body).not.toContain('<script>alert');
          } else {
            expectEscaped(page.body);
          }
        }
        const queues = await get(app, '/underway/dead-letters');
        expect(queues.body).not.toContain('<script>alert');
        expect(queues.body).toContain(
          `href="/underway/dead-letters/${encodeURIComponent(XSS_NAME).replace(/'/g, '&#39;')}"`,
        );
      });

      it('opens and redrives dead-letter queues named "." and "..", whose path a browser would resolve away', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow],
        });
        const ids: Record<string, string> = {};
        for (const queue of ['.', '..']) {
          const id = uuidv7();
          ids[queue] = id;
          await query(
            `insert into ${app.schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms,
               ttl_ms, error, attempt, completed_at, expires_at, dead_letter)
             values ($1, 'order', 'failed', '{"orderId": 9}', 1, 1000, 1209600000,
               '{"code": "lost", "message": "lost"}', 1, now(), now() + interval '1 day', $2)`,
            [id, queue],
          );
          await query(
            `insert into ${app.schema}.dead_letter (queue, run_id, workflow_name, input, error)
             values ($1, $2, 'order', '{"orderId": 9}', '{"code": "lost", "message": "lost"}')`,
            [queue, id],
          );
        }
        /** A link of a page, resolved as a browser resolves it (dot segments removed). */
        const follow = (href: string): string => {
          const url = new URL(href.replace(/&amp;/g, '&'), app.origin);
          return `${url.pathname}${url.search}`;
        };
        const queues = await get(app, '/underway/dead-letters');
        for (const queue of ['.', '..']) {
          const row = new RegExp(
            `<tr data-queue="${queue.replace(/\./g, '\\.')}">[\\s\\S]*?href="([^"]+)"`,
          ).exec(queues.body);
          expect(row).not.toBeNull();
          const page = await get(app, follow(row![1]!));
          expect({ queue, status: page.status }).toEqual({
            queue,
            status: 200,
          });
          expect(page.body).toContain(`data-run-id="${ids[queue]}"`);
          expect(page.body).not.toContain(
            `data-run-id="${ids[queue === '.' ? '..' : '.']}"`,
          );
          // "Show redriven entries too" stays on the queue.
          const all = /href="([^"]+)">Show redriven entries too/.exec(
            page.body,
          )![1]!;
          const allPage = await get(app, follow(all));
          expect(allPage.status).toBe(200);
          expect(allPage.body).toContain(`data-run-id="${ids[queue]}"`);
          // The run's page links to its queue.
          const run = await get(app, `/underway/runs/${ids[queue]}`);
          const link =
            /<dt>Dead letter<\/dt>\s*<dd>\s*<a\s+href="([^"]+)"/.exec(
              run.body,
            )![1]!;
          expect(follow(link)).toBe(follow(row![1]!));
        }
        // The redrive button of queue "..", posted where the browser would post it.
        const page = await get(
          app,
          follow(
            /<tr data-queue="\.\.">[\s\S]*?href="([^"]+)"/.exec(
              queues.body,
            )![1]!,
          ),
        );
        const action = /data-action="([^"]+)"\s+data-body="\{&quot;runIds/.exec(
          page.body,
        )![1]!;
        const redriven = await post(app, follow(action), {
          runIds: [ids['..']],
        });
        expect(redriven).toMatchObject({
          status: 200,
          json: { ok: true, message: '1 run(s) redriven from ...' },
        });
        expect(
          await query(
            `select queue, redriven_at is not null as redriven from ${app.schema}.dead_letter
             where queue in ('.', '..') order by queue`,
          ),
        ).toEqual([
          { queue: '.', redriven: false },
          { queue: '..', redriven: true },
        ]);
      });

      it('cancels, retries and redrives through POST actions, checked in the database', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow, SlowWorkflow],
        });
        const delayed = await app.client.enqueue(SlowWorkflow, undefined, {
          delay: '1h',
        });
        const cancel = await post(app, `/underway/runs/${delayed.id}/cancel`);
        expect(cancel).toEqual({
          status: 200,
          json: { ok: true, message: `Run ${delayed.id} cancelled.` },
        });
        expect(
          await query(
            `select state from ${app.schema}.workflow_run where id = $1`,
            [delayed.id],
          ),
        ).toEqual([{ state: 'cancelled' }]);
        expect(
          (await post(app, `/underway/runs/${delayed.id}/cancel`)).status,
        ).toBe(409);

        const failed = await failedOrder(app, 1);
        shipping = true;
        const retry = await post(app, `/underway/runs/${failed}/retry`);
        expect(retry.status).toBe(200);
        await waitFor(async () => {
          const [row] = await query<{ state: string }>(
            `select state from ${app.schema}.workflow_run where id = $1`,
            [failed],
          );
          return row?.state === 'succeeded';
        });
        const again = await post(app, `/underway/runs/${failed}/retry`);
        expect(again.status).toBe(409);
        expect(again.json.message).toContain(
          'only a failed run can be retried',
        );

        shipping = false;
        const first = await failedOrder(app, 2);
        const second = await failedOrder(app, 3);
        shipping = true;
        const one = await post(
          app,
          '/underway/dead-letters/orders-dlq/redrive',
          {
            runIds: [first],
          },
        );
        expect(one.status).toBe(200);
        const rows = await query<{ run_id: string; redriven: boolean }>(
          `select run_id, redriven_at is not null as redriven from ${app.schema}.dead_letter
       where queue = 'orders-dlq' order by id`,
        );
        expect(rows).toEqual([
          { run_id: first, redriven: true },
          { run_id: second, redriven: false },
        ]);
        const all = await post(
          app,
          '/underway/dead-letters/orders-dlq/redrive',
        );
        expect(all.json.message).toBe('1 run(s) redriven from orders-dlq.');
        const [counted] = await query<{ waiting: number }>(
          `select count(*)::int as waiting from ${app.schema}.dead_letter where redriven_at is null`,
        );
        expect(counted?.waiting).toBe(0);
        const bad = await post(
          app,
          '/underway/dead-letters/orders-dlq/redrive',
          {
            runIds: ['nope'],
          },
        );
        expect(bad.status).toBe(400);
      });

      it('sends a signal through its POST action and form: taken by the waiting run, a resend with its key a duplicate, a bad body, payload or name refused with nothing stored, a finished run refused', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [ExpenseReviewWorkflow],
        });
        const run = await app.client.enqueue(ExpenseReviewWorkflow, {
          amount: 5,
        });
        await waitingAt(app, run.id, 0);
        const url = `/underway/runs/${run.id}/signal`;
        const stored = () =>
          query<{ name: string; state: string; idempotency_key: string }>(
            `select name, state, idempotency_key from ${app.schema}.signal where run_id = $1 order by seq`,
            [run.id],
          );

        // The form: posted by the script, the names waited for suggested.
        const page = await get(app, `/underway/runs/${run.id}`);
        const form = /<form[\s\S]*?<\/form>/.exec(page.body)![0];
        expect(form).toContain(`data-action="${url}"`);
        expect(form).toMatch(/<input\s+name="name"/);
        expect(form).toContain('<textarea');
        expect(form).toMatch(/<input\s+name="idempotencyKey"/);
        expect(form).toContain('<option value="approval"></option>');
        expect(form).toContain('<option value="rejection"></option>');

        const refusals: [unknown, number, string][] = [
          [
            { name: 'approval', payload: '{approved: true}' },
            400,
            'payload is not JSON (',
          ],
          [
            { name: 'approval', payload: 'null' },
            400,
            'a signal payload cannot be null',
          ],
          [
            { name: 'approval', payload: { approved: true } },
            400,
            "payload must be the payload's JSON",
          ],
          [
            { name: 'approval', payload: '"\\u0000"' },
            400,
            'Invalid workflow signal payload at $',
          ],
          [
            { name: '' },
            400,
            'Invalid option name: a signal name must not be empty.',
          ],
          [{ payload: '1' }, 400, "name must be the signal's name"],
          [
            { name: 'approval', key: 'exp:1' },
            400,
            'The body of a signal has an unknown key "key" (known: name, payload, idempotencyKey',
          ],
          [{ name: 'approval\u0000' }, 400, 'NUL'],
          [[], 400, 'must be a JSON object'],
        ];
        for (const [body, status, message] of refusals) {
          const refused = await post(app, url, body);
          expect({ body, status: refused.status }).toEqual({ body, status });
          expect(refused.json.message).toContain(message);
        }
        expect(await stored()).toEqual([]);
        const unknown = await post(app, `/underway/runs/${uuidv7()}/signal`, {
          name: 'approval',
        });
        expect(unknown.status).toBe(404);

        const sent = await post(app, url, {
          name: 'approval',
          payload: '{"approved": true, "by": "ana"}',
          idempotencyKey: 'exp:1',
        });
        expect(sent).toEqual({
          status: 200,
          json: {
            ok: true,
            message: expect.stringMatching(
              new RegExp(
                `^Signal "approval" sent to run ${run.id} \\([0-9a-f-]{36}\\)\\.$`,
              ),
            ) as string,
          },
        });
        await waitingAt(app, run.id, 1);
        // As the form sends it: every field, empty ones too.
        const again = await post(app, url, {
          name: 'rejection',
          payload: '',
          idempotencyKey: 'exp:1',
        });
        expect(again.status).toBe(200);
        expect(again.json.message).toMatch(
          new RegExp(
            `^Not sent again: run ${run.id} already has signal [0-9a-f-]{36} with key "exp:1"\\.$`,
          ),
        );
        const buffered = await post(app, url, {
          name: 'memo',
          payload: '',
          idempotencyKey: '',
        });
        expect(buffered.status).toBe(200);
        expect(await stored()).toEqual([
          { name: 'approval', state: 'consumed', idempotency_key: 'exp:1' },
          { name: 'memo', state: 'pending', idempotency_key: null },
        ]);

        await app.client.cancel(run.id);
        const finished = await post(app, url, { name: 'approval' });
        expect(finished).toEqual({
          status: 409,
          json: {
            ok: false,
            statusCode: 409,
            message: `Workflow run ${run.id} has finished (cancelled), so the signal was not stored: a finished run waits for nothing.`,
          },
        });
        expect((await get(app, `/underway/runs/${run.id}`)).body).not.toContain(
          '<form',
        );
        expect(await stored()).toHaveLength(2);
      });

      it('refuses an action body with an unknown key (a misspelt runIds) or that is no object, naming the key, and writes nothing', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow, SlowWorkflow],
        });
        const first = await failedOrder(app, 1);
        const second = await failedOrder(app, 2);
        const entries = () =>
          query<{ run_id: string; redriven: boolean }>(
            `select run_id, redriven_at is not null as redriven from ${app.schema}.dead_letter order by id`,
          );
        const untouched = [
          { run_id: first, redriven: false },
          { run_id: second, redriven: false },
        ];
        const redrive = '/underway/dead-letters/orders-dlq/redrive';
        for (const key of ['runId', 'runids', 'RunIds', 'ids']) {
          const refused = await post(app, redrive, { [key]: [first] });
          expect({ key, status: refused.status }).toEqual({
            key,
            status: 400,
          });
          expect(refused.json.message).toContain(`unknown key "${key}"`);
          expect(refused.json.message).toContain('known: runIds');
        }
        const typo = await post(app, redrive, { runId: [first] });
        expect(typo.json.message).toBe(
          'The body of a redrive has an unknown key "runId" (known: runIds; did you mean runIds?): nothing was done.',
        );
        const extra = await post(app, redrive, {
          runIds: [first],
          all: true,
        });
        expect(extra.status).toBe(400);
        expect(extra.json.message).toContain('unknown key "all"');
        for (const body of [[], [first], 'everything', 42, true]) {
          const refused = await post(app, redrive, body);
          expect({ body, status: refused.status }).toEqual({
            body,
            status: 400,
          });
        }
        expect(await entries()).toEqual(untouched);
        const runs = await query<{ n: number }>(
          `select count(*)::int as n from ${app.schema}.workflow_run`,
        );
        expect(runs).toEqual([{ n: 2 }]);

        const delayed = await app.client.enqueue(SlowWorkflow, undefined, {
          delay: '1h',
        });
        const cancel = await post(app, `/underway/runs/${delayed.id}/cancel`, {
          reason: 'oops',
        });
        expect(cancel).toEqual({
          status: 400,
          json: {
            ok: false,
            statusCode: 400,
            message:
              'The body of a cancel has an unknown key "reason" (it takes none): nothing was done.',
          },
        });
        expect(await delayed.status()).toBe('pending');
        const retry = await post(app, `/underway/runs/${first}/retry`, {
          force: true,
        });
        expect(retry.status).toBe(400);
        expect(retry.json.message).toContain('unknown key "force"');
        expect(await app.client.status(first)).toBe('failed');
        expect(
          (await post(app, `/underway/runs/${delayed.id}/cancel`, [])).status,
        ).toBe(400);
        expect(await delayed.status()).toBe('pending');
        expect(await entries()).toEqual(untouched);
      });

      it('answers 400, not 500, to a NUL byte in a filter, a path or an action', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow],
        });
        const failed = await failedOrder(app);
        for (const path of [
          '/underway/runs?workflow=%00',
          '/underway/runs?workflow=order%00x&state=failed',
          '/underway/runs?state=%00',
          '/underway/runs?from=%00',
          '/underway/runs?before=%00',
          '/underway/dead-letters/%00',
          '/underway/dead-letters/orders-dlq%00',
          '/underway/dead-letters/orders-dlq?before=%00',
          '/underway/dead-letters/orders-dlq?all=%00',
          '/underway/runs/%00',
        ]) {
          const page = await get(app, path);
          expect({ path, status: page.status }).toEqual({ path, status: 400 });
          expect(page.headers.get('content-type')).toBe(
            'text/html; charset=utf-8',
          );
          expect(page.body).toContain('NUL');
        }
        for (const path of [
          '/underway/dead-letters/orders-dlq%00/redrive',
          `/underway/runs/${failed}%00/retry`,
          `/underway/runs/${failed}%00/cancel`,
        ]) {
          const refused = await post(app, path);
          expect({ path, status: refused.status }).toEqual({
            path,
            status: 400,
          });
        }
        const redrive = await post(
          app,
          '/underway/dead-letters/orders-dlq/redrive',
          { runIds: [`${failed}\u0000`] },
        );
        expect(redrive.status).toBe(400);
        expect(await app.client.status(failed)).toBe('failed');
        expect(
          await query(
            `select 1 from ${app.schema}.dead_letter where redriven_at is not null`,
          ),
        ).toEqual([]);
        // No unhandled error reached Nest's exception handler (a 500).
        expect(
          app.logs.entries.filter((e) => e.context === 'ExceptionsHandler'),
        ).toEqual([]);
      });

      it('refuses an action without the dashboard header, from another origin or another site, and changes nothing', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [SlowWorkflow],
        });
        const run = await app.client.enqueue(SlowWorkflow, undefined, {
          delay: '1h',
        });
        const url = `/underway/runs/${run.id}/cancel`;
        const signal = `/underway/runs/${run.id}/signal`;
        const refusals: Record<string, string>[] = [
          { 'content-type': 'application/json' },
          // What a cross-site form post sends.
          {
            'content-type': 'application/x-www-form-urlencoded',
            origin: 'https://evil.example',
          },
          {
            ...actionHeaders(app.origin),
            origin: 'https://evil.example',
            'sec-fetch-site': 'same-origin',
          },
          { ...actionHeaders(app.origin), 'sec-fetch-site': 'cross-site' },
          { ...actionHeaders(app.origin), 'sec-fetch-site': 'same-site' },
          { ...actionHeaders(app.origin), origin: 'null' },
        ];
        for (const [path, headers] of [url, signal].flatMap((path) =>
          refusals.map((headers) => [path, headers] as const),
        )) {
          const response = await fetch(`${app.origin}${path}`, {
            method: 'POST',
            headers,
            body:
              headers['content-type'] === 'application/json'
                ? '{"name": "go"}'
                : 'name=go',
          });
          expect({ path, headers, status: response.status }).toEqual({
            path,
            headers,
            status: 403,
          });
          const json = (await response.json()) as { message: string };
          expect(json.message).toMatch(
            /^Refused as a possible cross-site request/,
          );
        }
        // A GET never acts.
        expect((await get(app, url)).status).toBe(404);
        expect((await get(app, `${signal}?name=go`)).status).toBe(404);
        expect(await run.status()).toBe('pending');
        expect((await app.client.getRun(run.id))?.signals).toEqual([]);
        // What a script that is no browser sends (no Origin, no Sec-Fetch-Site): accepted.
        const script = await post(
          app,
          url,
          {},
          {
            'content-type': 'application/json',
            'x-underway-dashboard': '1',
          },
        );
        expect(script.status).toBe(200);
        expect(await run.status()).toBe('cancelled');
      });

      it('in readOnly mode, shows no action and refuses every one', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow, SlowWorkflow],
          dashboard: { readOnly: true },
        });
        const failed = await failedOrder(app);
        const delayed = await app.client.enqueue(SlowWorkflow, undefined, {
          delay: '1h',
        });
        const page = await get(app, `/underway/runs/${failed}`);
        expect(page.body).toContain('read-only');
        expect(page.body).not.toContain('data-action');
        expect(
          (await get(app, '/underway/dead-letters/orders-dlq')).body,
        ).not.toContain('data-action');
        expect(
          (await get(app, `/underway/runs/${delayed.id}`)).body,
        ).not.toContain('<form');
        for (const path of [
          `/underway/runs/${failed}/retry`,
          `/underway/runs/${delayed.id}/cancel`,
          '/underway/dead-letters/orders-dlq/redrive',
          `/underway/runs/${delayed.id}/signal`,
        ]) {
          const refused = await post(app, path, { name: 'go' });
          expect(refused.status).toBe(403);
          expect(refused.json.message).toContain('read-only');
        }
        expect(await app.client.status(failed)).toBe('failed');
        expect(await delayed.status()).toBe('pending');
        expect((await app.client.getRun(delayed.id))?.signals).toEqual([]);
        expect(await app.client.getDeadLetters('orders-dlq')).toEqual([
          expect.objectContaining({ runId: failed, redrivenAt: undefined }),
        ]);
      });

      it('runs the guards on every route, pages, assets and actions alike', async () => {
        const app = await createDashboardApp({
          platform,
          workflows: [SlowWorkflow],
          imports: [TokenModule],
          dashboardModule: UnderwayDashboardModule.forRootAsync({
            path: '/ops/jobs',
            imports: [TokenModule],
            inject: [TokenService],
            useFactory: (tokens: TokenService) => ({
              guards: [
                TokenGuard,
                { canActivate: () => tokens.token.length > 0 },
              ],
              showPayloads: true,
            }),
          }),
        });
        const run = await app.client.enqueue(SlowWorkflow, undefined, {
          delay: '1h',
        });
        const overview = await get(app, '/ops/jobs');
        const asset = /href="(\/ops\/jobs\/assets\/[^"]+)"/.exec(
          (await get(app, '/ops/jobs', { authorization: 'Bearer let-me-in' }))
            .body,
        )?.[1];
        expect(asset).toBeDefined();
        for (const path of [
          '/ops/jobs',
          '/ops/jobs/runs',
          `/ops/jobs/runs/${run.id}`,
          asset!,
        ]) {
          const refused = await get(app, path);
          expect({ path, status: refused.status }).toEqual({
            path,
            status: 401,
          });
          expect(refused.headers.get('content-security-policy')).toContain(
            "default-src 'none'",
          );
          const allowed = await get(app, path, {
            authorization: 'Bearer let-me-in',
          });
          expect({ path, status: allowed.status }).toEqual({
            path,
            status: 200,
          });
        }
        expect(overview.body).toContain('A token is needed');
        const refused = await post(app, `/ops/jobs/runs/${run.id}/cancel`);
        expect(refused.status).toBe(401);
        expect(await run.status()).toBe('pending');
        const cancelled = await post(
          app,
          `/ops/jobs/runs/${run.id}/cancel`,
          {},
          {
            ...actionHeaders(app.origin),
            authorization: 'Bearer let-me-in',
          },
        );
        expect(cancelled.status).toBe(200);
        expect(await run.status()).toBe('cancelled');
        // Nothing under the default path.
        expect((await get(app, '/underway')).status).toBe(404);
      });

      it('answers 403 when a guard returns false, and serves nothing when the module is not imported', async () => {
        const refusing = await createDashboardApp({
          platform,
          dashboard: {
            guards: [{ canActivate: () => Promise.resolve(false) }],
          },
        });
        const page = await get(refusing, '/underway');
        expect(page.status).toBe(403);
        expect(page.body).toContain('A dashboard guard refused this request.');
        await refusing.close();

        const without = await createDashboardApp({
          platform,
          dashboard: false,
        });
        expect((await get(without, '/underway')).status).toBe(404);
        expect((await get(without, '/underway/runs')).status).toBe(404);
      });

      it('hides inputs and outputs unless showPayloads is set', async () => {
        const hidden = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow],
        });
        const id = await failedOrder(hidden);
        const page = await get(hidden, `/underway/runs/${id}`);
        expect(page.body).not.toContain('card-4242');
        expect(page.body).toContain('showPayloads: false');
        await hidden.close();

        const shown = await createDashboardApp({
          platform,
          workflows: [OrderWorkflow],
          dashboard: { showPayloads: true },
        });
        const visible = await get(shown, `/underway/runs/${id}`);
        expect(visible.body).toContain('card-4242');
        expect(
          (await get(shown, '/underway/dead-letters/orders-dlq')).body,
        ).toContain('card-4242');
      });
    },
  );

  describe('the dashboard', () => {
    it('pages through runs newest first with keyset links, and filters by workflow, state and time', async () => {
      const app = await createDashboardApp({
        workflows: [OrderWorkflow, SlowWorkflow],
      });
      const runs = await app.client.enqueueMany(
        SlowWorkflow,
        Array.from({ length: 120 }, () => undefined),
        { delay: '1h' },
      );
      const ids = runs.map((r) => r.id).reverse(); // newest first
      const failed = await failedOrder(app);
      const rowIds = (body: string): string[] =>
        [...body.matchAll(/<tr data-run-id="([^"]+)"/g)].map((m) => m[1]!);

      const first = await get(app, '/underway/runs?workflow=slow');
      expect(rowIds(first.body)).toEqual(ids.slice(0, 50));
      expect(first.body).not.toContain('← Newer');
      const older = /href="([^"]+)">Older →/
        .exec(first.body)![1]!
        .replace(/&amp;/g, '&');
      expect(older).toBe(`/underway/runs?workflow=slow&before=${ids[49]}`);
      const second = await get(app, older);
      expect(rowIds(second.body)).toEqual(ids.slice(50, 100));
      const third = await get(
        app,
        /href="([^"]+)">Older →/.exec(second.body)![1]!.replace(/&amp;/g, '&'),
      );
      expect(rowIds(third.body)).toEqual(ids.slice(100));
      expect(third.body).not.toContain('Older →');
      const back = await get(
        app,
        /href="([^"]+)">← Newer/.exec(third.body)![1]!.replace(/&amp;/g, '&'),
      );
      expect(rowIds(back.body)).toEqual(ids.slice(50, 100));

      const failedOnly = await get(app, '/underway/runs?state=failed');
      expect(rowIds(failedOnly.body)).toEqual([failed]);
      const pending = await get(
        app,
        '/underway/runs?state=pending&workflow=slow',
      );
      expect(rowIds(pending.body)).toHaveLength(50);
      const future = await get(app, '/underway/runs?from=2999-01-01T00:00');
      expect(rowIds(future.body)).toEqual([]);
      const past = await get(app, '/underway/runs?to=2000-01-01T00:00');
      expect(rowIds(past.body)).toEqual([]);
      const now = new Date(Date.now() + 60_000).toISOString().slice(0, 19);
      const all = await get(app, `/underway/runs?to=${now}&workflow=order`);
      expect(rowIds(all.body)).toEqual([failed]);
      const bad = await get(
        app,
        '/underway/runs?state=exploded&from=yesterday',
      );
      expect(bad.status).toBe(200);
      expect(bad.body).toContain('Unknown state');
      expect(bad.body).toContain('is not a time');
    });

    it('shows a run’s waits and signals: what its step waits for and until when, each wait’s signal names, state and the signal it took, and its signals with the step that took them, payloads only with showPayloads', async () => {
      const app = await createDashboardApp({
        workflows: [ExpenseReviewWorkflow],
      });
      const run = await app.client.enqueue(ExpenseReviewWorkflow, {
        amount: 5,
      });
      await waitingAt(app, run.id, 0);
      // Buffered: no wait takes these (a hostile name, a secret payload).
      const memo = await app.client.signal(
        run.id,
        defineSignal<{ secret: string }>('memo'),
        { secret: 'memo-4242' },
        { idempotencyKey: 'memo:1' },
      );
      await app.client.signal(run.id, defineSignal<number>(XSS_NAME), 1);

      const waiting = await get(app, `/underway/runs/${run.id}`);
      expect(waiting.status).toBe(200);
      const facts = /<dt>Waiting for<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(
        waiting.body,
      )![1]!;
      expect(plain(facts)).toMatch(
        /^ctx\.waitForAny approval or rejection · until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
      );
      const wait = (body: string, step: number): string =>
        new RegExp(
          `<li[^>]*id="step-${step}"[\\s\\S]*?(<li\\s+class="call"\\s+data-call="0"\\s+data-kind="(?:wait|sleep)"\\s*>[\\s\\S]*?</li>)`,
        ).exec(body)![1]!;
      expect(wait(waiting.body, 0)).toContain('state-waiting');
      expect(plain(wait(waiting.body, 0))).toMatch(
        /^ctx\.waitForAny approval or rejection waiting #0 · until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
      );
      expect(waiting.body).toContain('waiting on 1 wait(s)');
      expect(waiting.body).not.toContain('ctx.emit');
      expect(plain(waiting.body)).toContain(
        'Signals 2 signals: 2 pending, 0 taken by a wait Sent Name',
      );
      const rows = (body: string): string[][] =>
        [
          ...body.matchAll(
            /<tr id="signal-([^"]+)" data-signal="[^"]+">([\s\S]*?)<\/tr>/g,
          ),
        ].map((m) => [
          m[1]!,
          ...[...m[2]!.matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((c) =>
            c[1]!
              .replace(/<[^>]+>/g, '')
              .replace(/\s+/g, ' ')
              .trim(),
          ),
        ]);
      expect(
        rows(waiting.body).map(([id, , name, state, taken, key]) => [
          id,
          name,
          state,
          taken,
          key,
        ]),
      ).toEqual([
        [memo.signalId, 'memo', 'pending', '', 'memo:1'],
        [expect.any(String), expect.any(String), 'pending', '', ''],
      ]);
      expect(waiting.body).not.toContain('<script>alert');
      expect(waiting.body).not.toContain('<img src=x');
      expect(waiting.body).toContain(
        '&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;',
      );
      expect(waiting.body).not.toContain('memo-4242');
      expect(waiting.body).not.toContain('<th>Payload</th>');

      const approval = await app.client.signal(run.id, Approval, {
        approved: true,
        by: 'ana',
      });
      await waitingAt(app, run.id, 1);
      const sleeping = await get(app, `/underway/runs/${run.id}`);
      expect(
        plain(
          /<dt>Waiting for<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(
            sleeping.body,
          )![1]!,
        ),
      ).toMatch(/^ctx\.sleep until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
      const received = wait(sleeping.body, 0);
      expect(received).toContain('state-received');
      expect(received).toContain(
        `href="#signal-${approval.signalId}" title="${approval.signalId}"`,
      );
      expect(plain(received)).toMatch(
        /^ctx\.waitForAny approval or rejection received #0 · ended \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ · took approval$/,
      );
      expect(plain(wait(sleeping.body, 1))).toMatch(
        /^ctx\.sleep waiting #0 · until \d{4}-/,
      );
      expect(plain(sleeping.body)).toContain(
        '3 signals: 2 pending, 1 taken by a wait',
      );
      const listed = rows(sleeping.body);
      expect(listed[2]).toEqual([
        approval.signalId,
        expect.any(String),
        'approval',
        'consumed',
        expect.stringMatching(/^step 0 review #0 · \d{4}-/) as string,
        '',
      ]);
      await app.close();

      const shown = await createDashboardApp({
        workflows: [ExpenseReviewWorkflow],
        dashboard: { showPayloads: true },
      });
      const visible = await get(shown, `/underway/runs/${run.id}`);
      expect(visible.body).toContain('<th>Payload</th>');
      expect(visible.body).toContain('memo-4242');
      expect(visible.body).toContain('&quot;approved&quot;: true');
    });

    it('shows the overview counts per workflow: unfinished runs, the last hour’s outcomes and the oldest due', async () => {
      const app = await createDashboardApp({
        workflows: [OrderWorkflow, SlowWorkflow],
        underway: { runtime: { workflows: ['order'] } },
      });
      await failedOrder(app);
      await app.client.enqueueMany(SlowWorkflow, [undefined, undefined]);
      await app.client.enqueue(SlowWorkflow, undefined, { delay: '1h' });
      await query(
        `update ${app.schema}.workflow_run set run_at = now() - interval '2 minutes'
       where workflow_name = 'slow' and run_at <= now()`,
      );
      const page = await get(app, '/underway');
      const row = (name: string): string[] => {
        const html = new RegExp(
          `<tr data-workflow="${name}">([\\s\\S]*?)</tr>`,
        ).exec(page.body)![1]!;
        return [...html.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) =>
          m[1]!.replace(/<[^>]+>/g, '').trim(),
        );
      };
      // pending, running, waiting, oldest due, succeeded, failed, cancelled
      expect(row('order')).toEqual(['0', '0', '0', '–', '0', '1', '0']);
      const slow = row('slow');
      expect(slow.slice(0, 3)).toEqual(['3', '0', '0']);
      expect(slow[3]).toMatch(/^2 min \d+ s$/);
    });

    it('follows a global prefix in its links, and refuses a path given by the async factory', async () => {
      const app = await createDashboardApp({
        workflows: [SlowWorkflow],
        globalPrefix: 'admin',
      });
      const page = await get(app, '/admin/underway/runs');
      expect(page.status).toBe(200);
      expect(page.body).toContain('href="/admin/underway/schedules"');
      expect(page.body).toContain('src="/admin/underway/assets/');
      expect((await get(app, '/admin/underway')).body).toContain(
        'href="/admin/underway/dead-letters"',
      );
      await app.close();

      await expect(
        createDashboardApp({
          dashboardModule: UnderwayDashboardModule.forRootAsync({
            useFactory: () => ({ path: '/elsewhere' }) as never,
          }),
        }),
      ).rejects.toThrow(InvalidOptionsError);
      expect(() =>
        UnderwayDashboardModule.forRoot({ path: 'no-slash' }),
      ).toThrow(/Invalid option dashboard.path/);
      expect(() =>
        UnderwayDashboardModule.forRoot({ path: '/a/../b' }),
      ).toThrow(InvalidOptionsError);
      expect(() =>
        UnderwayDashboardModule.forRoot({ path: '/ops/jobs/' }),
      ).not.toThrow();
      expect(() => UnderwayDashboardModule.forRoot({ path: '/a b' })).toThrow(
        InvalidOptionsError,
      );
    });
  });
});
