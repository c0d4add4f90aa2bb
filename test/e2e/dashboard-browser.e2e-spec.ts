import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { uuidv7 } from '../../libs/underway/src/common/uuid';
import {
  chromiumPath,
  launchChromium,
  SKIP_LINE,
} from '../browser/support/chromium';
import { RunningExample, startExample } from '../browser/support/example-app';
import { waitFor } from '../support/wait-for';

// The dashboard of the example app (npm start), driven in a real headless
// Chromium (Debian's package): every page, a filter, a run's timeline, each
// action checked in the database, and hostile values shown as text. Skipped,
// with one line saying how to install Chromium, where there is none.
// UNDERWAY_SCREENSHOTS=docs writes the README's screenshots to docs/.

const chromium = chromiumPath();
if (!chromium && process.env.UNDERWAY_REQUIRE_CHROMIUM === '1') {
  // .ci/run installs it: there, a missing browser is a failure, not a skip.
  throw new Error(
    `${SKIP_LINE} (UNDERWAY_REQUIRE_CHROMIUM=1: failing instead)`,
  );
}
if (!chromium) {
  process.stdout.write(`${SKIP_LINE}\n`);
}
const describeInBrowser = chromium ? describe : describe.skip;

const XSS_NAME = '<script>alert("name")</script>"><img src=x onerror=alert(1)>';
const XSS_MESSAGE =
  '"><img src=x onerror=alert(2)><script>alert(3)</script> could not ship';
const MISSING_USER = 424_242;
const WEEK_MS = 7 * 86_400_000;

/** What the page functions below use of the DOM (this file has no DOM types). */
interface PageDocument {
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ src?: string }>;
  body: { innerText: string };
}

/** The page's global object, typed for the functions Playwright runs in the page. */
type PageGlobal = { document: PageDocument };

interface RunRow {
  id: string;
  state: string;
}

describeInBrowser(
  'the dashboard in headless Chromium, on the example app',
  () => {
    jest.setTimeout(120_000);
    let example: RunningExample;
    let browser: Browser;
    let page: Page;
    const dialogs: string[] = [];
    const consoleErrors: string[] = [];
    const shots = mkdtempSync(join(tmpdir(), 'underway-dashboard-'));

    const runs = (workflow: string): Promise<RunRow[]> =>
      example.sql<RunRow>(
        'select id, state from underway.workflow_run where workflow_name = $1 order by id',
        [workflow],
      );

    /** A run inserted as the client would (the example has no failing path of its own). */
    async function insertRun(
      workflow: string,
      input: unknown,
      options: { runAt?: string; state?: string; error?: unknown } = {},
    ): Promise<string> {
      const id = uuidv7();
      await example.sql(
        `insert into underway.workflow_run (id, workflow_name, input, max_attempts, lease_ms, ttl_ms,
         run_at, state, error, attempt, completed_at, expires_at, step_name, step_key)
       values ($1, $2, $3, 5, 5000, 1209600000, coalesce($4::timestamptz, now()),
         coalesce($5, 'pending'), $6, case when $5 = 'failed' then 1 else 0 end,
         case when $5 = 'failed' then now() end,
         case when $5 = 'failed' then now() + interval '14 days' end,
         case when $2 = 'signup' then 'resolve' end,
         case when $2 = 'signup' then '1:7:resolve:signup' end)`,
        [
          id,
          workflow,
          JSON.stringify(input),
          options.runAt ?? null,
          options.state ?? null,
          options.error === undefined ? null : JSON.stringify(options.error),
        ],
      );
      return id;
    }

    async function open(path: string): Promise<void> {
      const response = await page.goto(`${example.dashboard}${path}`);
      expect(response?.status()).toBe(200);
    }

    /** Clicks an action button twice (the first click asks to confirm) and waits for the reload. */
    async function act(label: string): Promise<string> {
      const button = page.getByRole('button', { name: label }).first();
      await button.click();
      await page
        .getByRole('button', { name: /^Confirm: / })
        .first()
        .waitFor();
      await Promise.all([
        page.waitForEvent('load'),
        page
          .getByRole('button', { name: /^Confirm: / })
          .first()
          .click(),
      ]);
      const flash = page.locator('#flash');
      await flash.waitFor({ state: 'visible' });
      return (await flash.textContent()) ?? '';
    }

    async function screenshot(name: string): Promise<void> {
      const file = join(shots, name);
      await page.screenshot({ path: file, fullPage: true });
      expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
      if (process.env.UNDERWAY_SCREENSHOTS === 'docs') {
        copyFileSync(file, resolve(__dirname, '..', '..', 'docs', name));
      }
    }

    beforeAll(async () => {
      example = await startExample();
      browser = await launchChromium(chromium!);
      // The demo's signup and order receipt, and the report's fires (every 10 s).
      await waitFor(
        async () =>
          (await runs('signup')).some((r) => r.state === 'succeeded') &&
          (await runs('order-receipt')).some((r) => r.state === 'succeeded'),
        { timeoutMs: 60_000, message: 'the demo finished' },
      );
    });

    beforeEach(async () => {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 860 },
      });
      page = await context.newPage();
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      page.on('console', (message) => {
        if (message.type() === 'error') {
          consoleErrors.push(message.text());
        }
      });
      page.on('pageerror', (error) => consoleErrors.push(error.message));
    });

    afterEach(async () => {
      await page.context().close();
      // No script of a value ran (no alert), and nothing broke the CSP or the script.
      expect(dialogs).toEqual([]);
      expect(consoleErrors).toEqual([]);
    });

    afterAll(async () => {
      await browser?.close();
      await example?.stop();
    });

    it('shows the example’s signup, order-receipt and scheduled runs on the overview, refreshed live, under 150 KB', async () => {
      let bytes = 0;
      page.on('response', (response) => {
        void response
          .body()
          .then((body) => (bytes += body.length))
          .catch(() => undefined);
      });
      await open('');
      await page.waitForLoadState('networkidle');
      for (const workflow of ['signup', 'order-receipt', 'daily-report']) {
        await expect(
          page.locator(`#workflows tr[data-workflow="${workflow}"]`).count(),
        ).resolves.toBe(1);
      }
      expect(bytes).toBeGreaterThan(1_000);
      expect(bytes).toBeLessThan(150 * 1024);
      const pending = page.locator(
        '#workflows tr[data-workflow="signup"] td:nth-of-type(1)',
      );
      expect((await pending.textContent())?.trim()).toBe('0');
      // A run enqueued meanwhile shows up without a reload.
      await insertRun(
        'signup',
        { userId: 1 },
        {
          runAt: new Date(Date.now() + WEEK_MS).toISOString(),
        },
      );
      await page.waitForFunction(
        () =>
          (globalThis as unknown as PageGlobal).document
            .querySelector(
              '#workflows tr[data-workflow="signup"] td:nth-of-type(1)',
            )
            ?.textContent?.trim() === '1',
        undefined,
        { timeout: 20_000 },
      );
      await screenshot('dashboard-overview.png');
    });

    it('filters the runs list and opens a run with its steps, attempts and activity calls', async () => {
      await open('/runs');
      await page.getByLabel('Workflow').fill('order-receipt');
      await Promise.all([
        page.waitForURL(/workflow=order-receipt/),
        page.getByRole('button', { name: 'Filter' }).click(),
      ]);
      const workflows = await page
        .locator('#runs tbody tr td:nth-of-type(2)')
        .allTextContents();
      expect(workflows.length).toBeGreaterThan(0);
      expect(new Set(workflows.map((w) => w.trim()))).toEqual(
        new Set(['order-receipt']),
      );

      await page.getByLabel('Workflow').fill('signup');
      await page.getByLabel('State').selectOption('succeeded');
      await Promise.all([
        page.waitForURL(/state=succeeded/),
        page.getByRole('button', { name: 'Filter' }).click(),
      ]);
      const [signup] = (await runs('signup')).filter(
        (r) => r.state === 'succeeded',
      );
      await Promise.all([
        page.waitForURL(/\/runs\/[0-9a-f-]{36}$/),
        page.locator(`#runs tr[data-run-id="${signup!.id}"] a.run-id`).click(),
      ]);
      const timeline = page.locator('.timeline');
      await expect(timeline.locator('.step').count()).resolves.toBe(2);
      const text = (await timeline.textContent()) ?? '';
      expect(text).toContain('resolve');
      expect(text).toContain('sendWelcomeEmail');
      expect(text).toContain('ctx.call');
      expect(text).toContain('lookup-email');
      expect(text).toContain('ctx.emit');
      expect(text).toContain('trackSignupMetric');
      await screenshot('dashboard-run.png');
    });

    it('cancels a run, retries a run failed by an activity, and redrives a dead letter, each checked in the database', async () => {
      // Cancel: a signup due next week.
      const delayed = await insertRun(
        'signup',
        { userId: 1 },
        {
          runAt: new Date(Date.now() + WEEK_MS).toISOString(),
        },
      );
      await open(`/runs/${delayed}`);
      expect(await act('Cancel run')).toBe(`Run ${delayed} cancelled.`);
      expect(
        await example.sql(
          'select state from underway.workflow_run where id = $1',
          [delayed],
        ),
      ).toEqual([{ state: 'cancelled' }]);

      // Retry: a signup of a user that did not exist fails in its lookup-email
      // activity; once the user exists, a retry runs that call again.
      const failing = await insertRun('signup', { userId: MISSING_USER });
      await waitFor(
        async () =>
          (
            await example.sql<{ state: string }>(
              'select state from underway.workflow_run where id = $1',
              [failing],
            )
          )[0]?.state === 'failed',
        { timeoutMs: 20_000 },
      );
      await example.sql(
        `insert into app_user (id, email, name) values ($1, 'ada@example.com', 'Ada Lovelace')`,
        [MISSING_USER],
      );
      await open(`/runs/${failing}`);
      expect(await page.locator('.facts').textContent()).toContain(
        'activity_failed',
      );
      expect(await act('Retry run')).toContain(`Run ${failing} retried`);
      await waitFor(
        async () =>
          (
            await example.sql<{ state: string }>(
              'select state from underway.workflow_run where id = $1',
              [failing],
            )
          )[0]?.state === 'succeeded',
        { timeoutMs: 30_000, message: 'the retried run succeeded' },
      );
      expect(
        await example.sql(
          `select name, state, attempt from underway.activity_call
         where run_id = $1 and kind = 'call' order by step_index, call_index`,
          [failing],
        ),
      ).toEqual([{ name: 'lookup-email', state: 'succeeded', attempt: 2 }]);
      await page.reload();
      expect(await page.locator('#run').getAttribute('data-state')).toBe(
        'succeeded',
      );

      // Redrive: a signup recorded in a dead-letter queue.
      const dead = uuidv7();
      await example.sql(
        `insert into underway.dead_letter (queue, run_id, workflow_name, input, error)
       values ('signups-dlq', $1, 'signup', $2, '{"code":"smtp_down","message":"SMTP down"}')`,
        [dead, JSON.stringify({ userId: MISSING_USER })],
      );
      await open('/dead-letters');
      await Promise.all([
        page.waitForURL(/\/dead-letters\/signups-dlq$/),
        page.getByRole('link', { name: 'signups-dlq' }).click(),
      ]);
      expect(await act('Redrive')).toBe('1 run(s) redriven from signups-dlq.');
      const [entry] = await example.sql<{ redriven_run_id: string | null }>(
        'select redriven_run_id from underway.dead_letter where run_id = $1',
        [dead],
      );
      expect(entry?.redriven_run_id).toEqual(expect.any(String));
      await waitFor(
        async () =>
          (
            await example.sql<{ state: string }>(
              'select state from underway.workflow_run where id = $1',
              [entry!.redriven_run_id],
            )
          )[0]?.state === 'succeeded',
        { timeoutMs: 30_000, message: 'the redriven run succeeded' },
      );
    });

    it('prints a workflow name and an error message holding <script> and "><img onerror> as text', async () => {
      const hostile = await insertRun(
        XSS_NAME,
        {},
        {
          state: 'failed',
          error: { code: 'xss', message: XSS_MESSAGE, name: XSS_NAME },
        },
      );
      await example.sql(
        `insert into underway.dead_letter (queue, run_id, workflow_name, input, error)
       values ($1, $2, $1, '{}', $3)`,
        [
          XSS_NAME,
          hostile,
          JSON.stringify({ code: 'xss', message: XSS_MESSAGE }),
        ],
      );
      const pages = [
        '',
        `/runs?workflow=${encodeURIComponent(XSS_NAME)}`,
        `/runs/${hostile}`,
        '/dead-letters',
        `/dead-letters/${encodeURIComponent(XSS_NAME)}`,
      ];
      for (const path of pages) {
        await open(path);
        const found = await page.evaluate(() => {
          const document = (globalThis as unknown as PageGlobal).document;
          return {
            images: document.querySelectorAll('img').length,
            scripts: Array.from(document.querySelectorAll('script')).map(
              (script) => script.src ?? '',
            ),
            text: document.body.innerText,
          };
        });
        expect({ path, images: found.images }).toEqual({ path, images: 0 });
        expect(found.scripts).toHaveLength(1);
        expect(found.scripts[0]).toMatch(
          /\/underway\/assets\/dashboard-[0-9a-f]{12}\.js$/,
        );
        expect(found.text).toContain(XSS_NAME);
        if (path !== '' && path !== '/dead-letters') {
          expect(found.text).toContain(XSS_MESSAGE);
        }
      }
      await open('/schedules');
      expect(await page.locator('#schedules').textContent()).toContain(
        'daily-report',
      );
    });
  },
);
