import type { Browser, Page } from 'playwright-core';
import {
  defineSignal,
  Step,
  StepContext,
  Transition,
  Workflow,
} from '@underway/nestjs';
import {
  chromiumPath,
  launchChromium,
  SKIP_LINE,
} from '../browser/support/chromium';
import {
  closeDashboardApps,
  createDashboardApp,
  DashboardApp,
} from '../browser/support/dashboard-app';
import { query } from '../support/database';
import { waitFor } from '../support/wait-for';

// A run's "Send a signal" form, driven in headless Chromium: the dashboard's
// script posts it (the only way the action guard lets it through), shows a
// refusal in the form with what was typed kept, and reloads with the outcome
// once the signal is sent. Skipped, with one line, where there is no Chromium.

const chromium = chromiumPath();
if (!chromium && process.env.UNDERWAY_REQUIRE_CHROMIUM === '1') {
  throw new Error(
    `${SKIP_LINE} (UNDERWAY_REQUIRE_CHROMIUM=1: failing instead)`,
  );
}
if (!chromium) {
  process.stdout.write(`${SKIP_LINE}\n`);
}
const describeInBrowser = chromium ? describe : describe.skip;

const Approval = defineSignal<{ approved: boolean; by: string }>('approval');

@Workflow({ name: 'form-approval' })
class FormApprovalWorkflow {
  @Step()
  async decide(_input: { amount: number }, ctx: StepContext) {
    const approval = await ctx.waitFor(Approval, { timeout: '1h' });
    return Transition.complete({ approval });
  }
}

describeInBrowser('the signal form in headless Chromium', () => {
  jest.setTimeout(60_000);
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium(chromium!);
  });

  beforeEach(async () => {
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') {
        problems.push(message.text());
      }
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });

  afterEach(async () => {
    await page.close();
    await closeDashboardApps();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('keeps what was typed and shows a refusal in the form, then sends the signal, which the waiting run takes, and shows it', async () => {
    // A 400 in the console is the refusal asked for; nothing else may show there.
    const app: DashboardApp = await createDashboardApp({
      workflows: [FormApprovalWorkflow],
      dashboard: { refreshInterval: '500ms' },
    });
    const run = await app.client.enqueue(FormApprovalWorkflow, { amount: 5 });
    await waitFor(async () => (await run.status()) === 'waiting');
    const signals = () =>
      query<{ name: string; state: string }>(
        `select name, state from ${app.schema}.signal where run_id = $1`,
        [run.id],
      );
    await page.goto(`${app.origin}/underway/runs/${run.id}`);
    const form = page.locator('form#send-signal');
    // The one name the step waits for is filled in.
    expect(await form.locator('input[name="name"]').inputValue()).toBe(
      'approval',
    );

    await form.locator('textarea[name="payload"]').fill('{approved: true}');
    await form.locator('input[name="idempotencyKey"]').fill('exp:1');
    await form.getByRole('button', { name: 'Send signal' }).click();
    const refusal = form.locator('.form-flash');
    await refusal.waitFor({ state: 'visible' });
    expect(await refusal.textContent()).toMatch(/^payload is not JSON \(/);
    expect(await form.locator('textarea[name="payload"]').inputValue()).toBe(
      '{approved: true}',
    );
    expect(await signals()).toEqual([]);

    await form
      .locator('textarea[name="payload"]')
      .fill('{"approved": true, "by": "ana"}');
    await Promise.all([
      page.waitForEvent('load'),
      form.getByRole('button', { name: 'Send signal' }).click(),
    ]);
    const flash = page.locator('#flash');
    await flash.waitFor({ state: 'visible' });
    expect(await flash.textContent()).toMatch(
      new RegExp(`^Signal "approval" sent to run ${run.id} \\(`),
    );
    expect(await signals()).toEqual([{ name: 'approval', state: 'consumed' }]);
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      approval: { approved: true, by: 'ana' },
    });
    // The page, reloaded, lists it taken; the run finished, no form is left.
    await page.reload();
    expect(
      await page.locator('#signal-list tbody tr').first().innerText(),
    ).toMatch(/approval\s+consumed\s+step 0 decide/);
    expect(await page.locator('form#send-signal').count()).toBe(0);
    expect(problems.filter((p) => !p.includes('status of 400'))).toEqual([]);
  });
});
