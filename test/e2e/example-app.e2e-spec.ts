import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { databaseUrl } from '../support/database';
import { waitFor } from '../support/wait-for';

// The example app (apps/example), started as `npm start` does, in a child
// process against a database of its own on the test server.

const REPO_ROOT = resolve(__dirname, '..', '..');
const RUN_ID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface ExampleApp {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  /** Everything the app printed so far (stdout and stderr). */
  output(): string;
}

interface RunRow {
  readonly state: string;
  readonly step_index: number;
}

interface RunResponse {
  readonly state: string;
  readonly input: unknown;
  readonly output: unknown;
  readonly attempts: readonly {
    readonly stepName: string;
    readonly attempt: number;
    readonly state: string;
  }[];
  readonly activityCalls: readonly {
    readonly stepIndex: number;
    readonly callIndex: number;
    readonly name: string;
    readonly kind: string;
    readonly state: string;
    readonly attempts: readonly { readonly state: string }[];
  }[];
  readonly waits: readonly {
    readonly stepName: string;
    readonly callIndex: number;
    readonly kind: string;
    readonly names: readonly string[];
    readonly state: string;
    /** JSON: an ISO string, or absent without a timeout. */
    readonly deadline?: string;
    readonly signalId?: string;
  }[];
  readonly signals: readonly {
    readonly signalId: string;
    readonly name: string;
    readonly state: string;
    readonly idempotencyKey?: string;
    readonly consumedBy?: { readonly stepName: string };
  }[];
}

/** An order's approval columns in the app's own table. */
interface OrderRow {
  readonly amountCents: number;
  readonly approval: string;
  readonly decidedBy: string | null;
  readonly decidedAt: Date | null;
  readonly escalatedAt: Date | null;
  readonly receiptId: string | null;
}

interface ActivityCallRow {
  readonly step_index: number;
  readonly call_index: number;
  readonly kind: string;
  readonly name: string;
  readonly state: string;
  readonly attempt: number;
}

/** What the signup workflow logs for one run, in order, without the Nest prefix. */
const SIGNUP_STEP_AND_ACTIVITY_LINES = /\[SignupWorkflow\] (.*)$/;

const databases: string[] = [];
const apps: ExampleApp[] = [];

async function withDatabase<T>(
  url: string,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database on the test server; dropped after the file. */
async function createDatabase(): Promise<string> {
  const name = `example_${randomBytes(6).toString('hex')}`;
  await withDatabase(databaseUrl(), (client) =>
    client.query(`create database ${escapeIdentifier(name)}`),
  );
  databases.push(name);
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

function startExample(
  url: string,
  env: Record<string, string> = {},
): ExampleApp {
  const inherited = { ...process.env };
  delete inherited.EXAMPLE_EXIT_AFTER_DEMO; // only where a test asks for it
  const child = spawn(
    process.execPath,
    ['-r', './scripts/register.js', 'apps/example/src/main.ts'],
    {
      cwd: REPO_ROOT,
      env: {
        ...inherited,
        DATABASE_URL: url,
        PORT: '0',
        NO_COLOR: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<Exit>((resolveExit) =>
    child.on('exit', (code, signal) => resolveExit({ code, signal })),
  );
  const app = { child, exited, output: () => output };
  apps.push(app);
  return app;
}

async function exitOf(app: ExampleApp, timeoutMs: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `The example did not exit within ${timeoutMs}ms. Output:\n${app.output()}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([app.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for a line of the app's output; returns the first capture group. */
function waitForOutput(
  app: ExampleApp,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  return waitFor(() => pattern.exec(app.output())?.[1], {
    timeoutMs,
    intervalMs: 25,
    message: `no output matching ${pattern}. Output:\n${app.output()}`,
  });
}

async function runRow(url: string, runId: string): Promise<RunRow | undefined> {
  const { rows } = await withDatabase(url, (client) =>
    client.query<RunRow>(
      'select state, step_index from underway.workflow_run where id = $1',
      [runId],
    ),
  );
  return rows[0];
}

/** The receipt rows of the order a run's input names. */
async function receiptRows(
  url: string,
  input: unknown,
): Promise<{ id: string }[]> {
  const { rows } = await withDatabase(url, (client) =>
    client.query<{ id: string }>(
      'select id from app_receipt where "orderId" = $1',
      [(input as { orderId: number }).orderId],
    ),
  );
  return rows;
}

async function getRun(
  app: ExampleApp,
  runId: string,
): Promise<{ status: number; body: RunResponse }> {
  const port = await waitForOutput(
    app,
    /Listening on http:\/\/localhost:(\d+)/,
  );
  const response = await fetch(`http://127.0.0.1:${port}/runs/${runId}`);
  return {
    status: response.status,
    body: (await response.json()) as RunResponse,
  };
}

/** POSTs `body` as JSON to the app; answers its status and JSON body. */
async function postJson(
  app: ExampleApp,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const port = await waitForOutput(
    app,
    /Listening on http:\/\/localhost:(\d+)/,
  );
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** Places an order over HTTP: its id and the id of its order-receipt run. */
async function placeOrder(
  app: ExampleApp,
  customerEmail: string,
  amountCents: number,
): Promise<{ orderId: number; approval: string; runId: string }> {
  const { status, body } = await postJson(app, '/orders', {
    customerEmail,
    item: 'Jacquard loom cards',
    amountCents,
  });
  expect({ status, body }).toMatchObject({ status: 201 });
  const order = body.order as { id: number; approval: string };
  return {
    orderId: order.id,
    approval: order.approval,
    runId: body.runId as string,
  };
}

/** Waits until GET /runs/:id shows what `check` looks for. */
function waitForRun(
  app: ExampleApp,
  runId: string,
  check: (run: RunResponse) => boolean,
  what: string,
): Promise<RunResponse> {
  let last: RunResponse | undefined;
  return waitFor(
    async () => {
      last = (await getRun(app, runId)).body;
      return check(last) ? last : undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: `run ${runId} ${what}. Last: ${JSON.stringify(last)}. Output:\n${app.output()}`,
    },
  );
}

async function orderRow(url: string, orderId: number): Promise<OrderRow> {
  const { rows } = await withDatabase(url, (client) =>
    client.query<OrderRow>(
      `select "amountCents", approval, "decidedBy", "decidedAt", "escalatedAt", "receiptId"
       from app_order where id = $1`,
      [orderId],
    ),
  );
  return rows[0]!;
}

function describeAttempts(run: RunResponse): string[] {
  return run.attempts.map((a) => `${a.stepName}#${a.attempt} ${a.state}`);
}

/**
 * The signup workflow's log lines of one run, in order, with the run id
 * replaced by `<run>` and the user's id and email by `<user>` / `<email>`.
 */
function signupLines(
  output: string,
  runId: string,
  user: { id: number | string; email: string },
): string[] {
  return output
    .split('\n')
    .map((line) => SIGNUP_STEP_AND_ACTIVITY_LINES.exec(line)?.[1])
    .filter(
      (line): line is string => line?.startsWith(`Run ${runId} `) ?? false,
    )
    .map((line) =>
      line
        .replaceAll(runId, '<run>')
        .replaceAll(user.email, '<email>')
        .replaceAll(`user ${user.id}`, 'user <user>'),
    );
}

/** The signup run's step and activity log: the step suspends on ctx.call, then replays. */
const SIGNUP_LOG = [
  // First execution: ctx.call records the call and suspends the step.
  'Run <run> signup#resolve attempt 1/5: looking up the email of user <user> (the first execution suspends here until lookup-email has run; a replay gets the stored email at once)',
  'Run <run> signup activity lookup-email attempt 1/10: reading user <user>',
  // The replay: the same attempt, and ctx.call returns the stored email.
  'Run <run> signup#resolve attempt 1/5: looking up the email of user <user> (the first execution suspends here until lookup-email has run; a replay gets the stored email at once)',
  'Run <run> signup#resolve attempt 1: replayed with the stored email <email>',
];

/** The emitted metric runs beside the next step, in either order. */
function withoutMetric(lines: readonly string[]): string[] {
  return lines.filter((line) => !line.includes('trackSignupMetric'));
}

async function activityCalls(
  url: string,
  runId: string,
): Promise<ActivityCallRow[]> {
  const { rows } = await withDatabase(url, (client) =>
    client.query<ActivityCallRow>(
      `select step_index, call_index, kind, name, state, attempt
       from underway.activity_call where run_id = $1
       order by step_index, call_index`,
      [runId],
    ),
  );
  return rows;
}

describe('the example app', () => {
  afterEach(async () => {
    for (const app of apps.splice(0)) {
      if (app.child.exitCode === null && app.child.signalCode === null) {
        app.child.kill('SIGKILL');
        await app.exited;
      }
    }
  });

  afterAll(async () => {
    await withDatabase(databaseUrl(), async (client) => {
      for (const name of databases) {
        await client.query(
          `drop database if exists ${escapeIdentifier(name)} with (force)`,
        );
      }
    });
  });

  it('runs the signup and order-receipt workflows to completion at start-up, an order approved over HTTP and one escalated among them', async () => {
    const url = await createDatabase();
    const app = startExample(url, {
      EXAMPLE_EXIT_AFTER_DEMO: '1',
      ORDER_APPROVAL_TIMEOUT: '1s',
    });

    const exit = await exitOf(app, 60_000);
    const output = app.output();
    expect({ ...exit, output }).toMatchObject({ code: 0 });
    expect(output).toMatch(new RegExp(`Demo: signup run ${RUN_ID} succeeded`));
    // The signup step suspended on ctx.call('lookupEmail'), the activity ran
    // once, and the step was replayed with the stored email, in one attempt.
    const [, userId = '', signupRunId = ''] =
      new RegExp(
        `Demo: user (\\d+) signed up; signup run (${RUN_ID}) enqueued`,
      ).exec(output) ?? [];
    const email = /ada\.\d+@example\.com/.exec(output)?.[0] ?? '';
    const lines = signupLines(output, signupRunId, { id: userId, email });
    expect(withoutMetric(lines)).toEqual([
      ...SIGNUP_LOG,
      'Run <run> signup#sendWelcomeEmail attempt 1/3: welcome email sent to <email> (user <user>)',
    ]);
    expect(lines).toContain(
      'Run <run> signup activity trackSignupMetric: 1 signup(s) from example.com so far',
    );
    expect(output).toContain(
      `Demo: signup run ${signupRunId} succeeded; attempts: resolve #1 succeeded, sendWelcomeEmail #1 succeeded`,
    );
    expect(await activityCalls(url, signupRunId)).toEqual([
      {
        step_index: 0,
        call_index: 0,
        kind: 'call',
        name: 'lookup-email',
        state: 'succeeded',
        attempt: 1,
      },
      {
        step_index: 0,
        call_index: 1,
        kind: 'emit',
        name: 'trackSignupMetric',
        state: 'succeeded',
        attempt: 1,
      },
    ]);
    expect(output).toMatch(
      new RegExp(
        `Demo: order-receipt run ${RUN_ID} succeeded with \\{"receiptId":"RCPT-\\d+"\\}`,
      ),
    );
    // The report's schedules, declared on its workflow, were synced at boot.
    expect(output).toContain(
      'Schedule daily-report/default added from @Workflow({ schedule }): @daily[Europe/Paris]',
    );
    expect(output).toContain(
      'Schedule daily-report/demo added from @Workflow({ schedule }): */10 * * * * *',
    );
    // The first email attempt fails on purpose, and the retry succeeds.
    expect(output).toMatch(/order-receipt#emailReceipt attempt 1\/5: emailing/);
    expect(output).toMatch(/order-receipt#emailReceipt attempt 2\/5: emailing/);
    expect(output).toContain(
      'emailReceipt #1 failed (SMTP server busy (simulated)), emailReceipt #2 succeeded',
    );

    // The order under the threshold went straight through.
    expect(output).toMatch(
      new RegExp(
        `Run ${RUN_ID} order-receipt#awaitApproval: order \\d+ is under the approval threshold: no approval needed`,
      ),
    );
    // The first order above it waited, was refused to its own customer (the
    // signal rolled back with the row), approved over HTTP, then resent.
    const waitingRunId = new RegExp(
      `Demo: order-receipt run (${RUN_ID}) is waiting for 'approval' until `,
    ).exec(output)?.[1];
    expect(waitingRunId).toBeDefined();
    expect(output).toMatch(
      /Demo: POST \/orders\/\d+\/approval by its own customer: 422 \(ada\.\d+@example\.com placed order \d+, and cannot decide on it: someone else must\); the signal sent in that transaction rolled back with it: the run is waiting with 0 signal\(s\)/,
    );
    const signalId = new RegExp(
      `by max\\.approver@example\\.com: 200; the order's row \\(approved\\) and signal (${RUN_ID}) committed in one transaction`,
    ).exec(output)?.[1];
    expect(signalId).toBeDefined();
    expect(output).toContain(
      `Demo: the same approval sent again: 200, duplicate: true (signal ${signalId}, by the order's idempotency key): nothing changed`,
    );
    expect(output).toMatch(
      new RegExp(
        `Demo: order-receipt run ${waitingRunId} of order \\d+ succeeded with \\{"receiptId":"RCPT-\\d+"\\}`,
      ),
    );
    // The second one got no decision: it escalated after 1s, and a manager
    // rejected it.
    expect(output).toMatch(
      new RegExp(
        `Run ${RUN_ID} order-receipt activity escalate-approval: no decision on order \\d+ within 1s: escalated, a manager is notified`,
      ),
    );
    expect(output).toMatch(
      new RegExp(
        `Demo: order-receipt run ${RUN_ID} of order \\d+ succeeded with \\{"rejectedBy":"mia\\.manager@example\\.com"\\}`,
      ),
    );
    expect(output).toContain('Demo: every workflow finished');

    // The duplicate signup of the demo rolled back, and its run with it.
    const rows = await withDatabase(url, (client) =>
      client.query<{ workflow_name: string; state: string; count: number }>(
        // The demo's own runs: the report schedules may fire meanwhile too.
        `select workflow_name, state, count(*)::int as count from underway.workflow_run
         where workflow_name in ('signup', 'order-receipt')
         group by workflow_name, state order by workflow_name desc`,
      ),
    );
    expect(rows.rows).toEqual([
      { workflow_name: 'signup', state: 'succeeded', count: 1 },
      { workflow_name: 'order-receipt', state: 'succeeded', count: 3 },
    ]);
    // The app's own rows say the same.
    const orders = await withDatabase(url, (client) =>
      client.query<{
        amountCents: number;
        approval: string;
        decidedBy: string | null;
        escalated: boolean;
        receipted: boolean;
      }>(
        `select "amountCents", approval, "decidedBy", "escalatedAt" is not null as escalated,
           "receiptId" is not null as receipted
         from app_order order by "amountCents"`,
      ),
    );
    expect(orders.rows).toEqual([
      {
        amountCents: 4_200,
        approval: 'not_required',
        decidedBy: null,
        escalated: false,
        receipted: true,
      },
      {
        amountCents: 98_000,
        approval: 'rejected',
        decidedBy: 'mia.manager@example.com',
        escalated: true,
        receipted: false,
      },
      {
        amountCents: 125_000,
        approval: 'approved',
        decidedBy: 'max.approver@example.com',
        escalated: false,
        receipted: true,
      },
    ]);
  }, 90_000);

  it('signs a user up over HTTP: the signup run suspends on its activity call and replays, as GET /runs/:id shows', async () => {
    const url = await createDatabase();
    const app = startExample(url);
    const port = await waitForOutput(
      app,
      /Listening on http:\/\/localhost:(\d+)/,
    );
    const email = `grace.${Date.now()}@example.com`;
    const response = await fetch(`http://127.0.0.1:${port}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, name: 'Grace Hopper' }),
    });
    expect(response.status).toBe(201);
    const { user, runId } = (await response.json()) as {
      user: { id: number };
      runId: string;
    };

    // Finished: the run, and the metric emitted beside its second step.
    const run = await waitFor(
      async () => {
        const { body } = await getRun(app, runId);
        return body.state === 'succeeded' &&
          body.activityCalls.every((c) => c.state === 'succeeded')
          ? body
          : undefined;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: `run ${runId} did not finish. Output:\n${app.output()}`,
      },
    );
    expect(describeAttempts(run)).toEqual([
      'resolve#1 succeeded',
      'sendWelcomeEmail#1 succeeded',
    ]);
    expect(
      run.activityCalls.map((c) => ({
        stepIndex: c.stepIndex,
        callIndex: c.callIndex,
        name: c.name,
        kind: c.kind,
        state: c.state,
        attempts: c.attempts.map((a) => a.state),
      })),
    ).toEqual([
      {
        stepIndex: 0,
        callIndex: 0,
        name: 'lookup-email',
        kind: 'call',
        state: 'succeeded',
        attempts: ['succeeded'],
      },
      {
        stepIndex: 0,
        callIndex: 1,
        name: 'trackSignupMetric',
        kind: 'emit',
        state: 'succeeded',
        attempts: ['succeeded'],
      },
    ]);
    const lines = signupLines(app.output(), runId, { id: user.id, email });
    expect(withoutMetric(lines)).toEqual([
      ...SIGNUP_LOG,
      'Run <run> signup#sendWelcomeEmail attempt 1/3: welcome email sent to <email> (user <user>)',
    ]);
    // Counted with the demo's signup, which may run before or after it.
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^Run <run> signup activity trackSignupMetric: [12] signup\(s\) from example\.com so far$/,
      ),
    );

    app.child.kill('SIGTERM');
    await exitOf(app, 20_000);
  }, 90_000);

  it('resumes a run stopped mid-step (SIGTERM) at the next step when started again', async () => {
    const url = await createDatabase();
    const first = startExample(url);
    const runId = await waitForOutput(
      first,
      new RegExp(
        `Run (${RUN_ID}) order-receipt#renderReceipt attempt 1/\\d+: rendering`,
      ),
    );

    first.child.kill('SIGTERM');
    await exitOf(first, 20_000);
    // The step in flight finished while the app shut down; the next one waits.
    expect(first.output()).toContain(
      `Run ${runId} order-receipt#renderReceipt: receipt`,
    );
    expect(await runRow(url, runId)).toEqual({
      state: 'pending',
      step_index: 2,
    });

    const second = startExample(url);
    await waitFor(
      async () => (await runRow(url, runId))?.state === 'succeeded',
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: `run ${runId} did not succeed. Output:\n${second.output()}`,
      },
    );
    // The finished step did not run again.
    expect(second.output()).not.toContain(
      `Run ${runId} order-receipt#renderReceipt`,
    );
    expect(second.output()).toContain(
      `Run ${runId} order-receipt#emailReceipt: receipt`,
    );

    const { status, body } = await getRun(second, runId);
    expect(status).toBe(200);
    expect(body.state).toBe('succeeded');
    expect(body.output).toEqual({
      receiptId: expect.stringMatching(/^RCPT-\d+$/),
    });
    expect(describeAttempts(body)).toEqual([
      'awaitApproval#1 succeeded',
      'renderReceipt#1 succeeded',
      'emailReceipt#1 failed',
      'emailReceipt#2 succeeded',
    ]);
    expect(
      (await getRun(second, '01a20be9-0000-7000-8000-000000000000')).status,
    ).toBe(404);

    second.child.kill('SIGTERM');
    await exitOf(second, 20_000);
  }, 90_000);

  it('takes over a step whose app was killed (SIGKILL) once its lease lapses', async () => {
    const url = await createDatabase();
    const first = startExample(url);
    const runId = await waitForOutput(
      first,
      new RegExp(
        `Run (${RUN_ID}) order-receipt#renderReceipt attempt 1/\\d+: rendering`,
      ),
    );

    first.child.kill('SIGKILL');
    await exitOf(first, 10_000);
    expect(await runRow(url, runId)).toEqual({
      state: 'running',
      step_index: 1,
    });

    const second = startExample(url);
    await waitFor(
      async () => (await runRow(url, runId))?.state === 'succeeded',
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: `run ${runId} did not succeed. Output:\n${second.output()}`,
      },
    );
    const { body } = await getRun(second, runId);
    expect(describeAttempts(body)).toEqual([
      'awaitApproval#1 succeeded',
      'renderReceipt#1 lease_expired',
      'renderReceipt#2 succeeded',
      'emailReceipt#1 failed',
      'emailReceipt#2 succeeded',
    ]);
    // The killed attempt's receipt row died with its transaction: one row.
    expect(await receiptRows(url, body.input)).toEqual([
      { id: (body.output as { receiptId: string }).receiptId },
    ]);

    second.child.kill('SIGTERM');
    await exitOf(second, 20_000);
  }, 90_000);

  it('holds an order above the approval threshold in a waiting run until approved over HTTP: the approval and the order row commit together, a refused one delivers nothing, a resend is a duplicate', async () => {
    const url = await createDatabase();
    // No escalation while the test runs.
    const app = startExample(url, { ORDER_APPROVAL_TIMEOUT: '1h' });
    const customer = `lin.${Date.now()}@example.com`;

    // Under the threshold: no approval, nothing to decide.
    const small = await placeOrder(app, customer, 49_999);
    expect(small.approval).toBe('not_required');
    expect(
      await postJson(app, `/orders/${small.orderId}/approval`, {
        approved: true,
        by: 'max@example.com',
      }),
    ).toMatchObject({
      status: 409,
      body: { message: `Order ${small.orderId} needs no approval` },
    });

    // At the threshold: the run suspends on ctx.waitFor, holding no slot.
    const { orderId, approval, runId } = await placeOrder(
      app,
      customer,
      50_000,
    );
    expect(approval).toBe('awaiting');
    const waiting = await waitForRun(
      app,
      runId,
      (run) => run.state === 'waiting' && run.waits.length === 1,
      'did not wait for its approval',
    );
    expect(waiting.waits).toEqual([
      expect.objectContaining({
        stepName: 'awaitApproval',
        callIndex: 0,
        kind: 'signal',
        names: ['approval'],
        state: 'waiting',
      }),
    ]);
    expect(Date.parse(waiting.waits[0]!.deadline!)).toBeGreaterThan(
      Date.now() + 59 * 60_000,
    );
    expect(waiting.signals).toEqual([]);
    expect(waiting.attempts).toEqual([]);

    // The customer cannot decide: the order row's four-eyes check fails
    // after the signal, in its transaction, and the rollback takes it.
    expect(
      await postJson(app, `/orders/${orderId}/approval`, {
        approved: true,
        by: customer.toUpperCase(),
      }),
    ).toMatchObject({ status: 422 });
    const refused = (await getRun(app, runId)).body;
    expect(refused).toMatchObject({ state: 'waiting', signals: [] });
    expect(refused.waits.map((w) => w.state)).toEqual(['waiting']);
    expect(await orderRow(url, orderId)).toMatchObject({
      approval: 'awaiting',
      decidedBy: null,
      decidedAt: null,
    });

    // An approver can: the row and the signal commit, and the run goes on.
    const approved = await postJson(app, `/orders/${orderId}/approval`, {
      approved: true,
      by: 'Max@Example.com',
    });
    expect(approved).toMatchObject({
      status: 200,
      body: {
        duplicate: false,
        order: {
          id: orderId,
          approval: 'approved',
          decidedBy: 'max@example.com',
        },
      },
    });
    const signalId = approved.body.signalId as string;
    const row = await orderRow(url, orderId);
    expect(row).toMatchObject({
      approval: 'approved',
      decidedBy: 'max@example.com',
      decidedAt: expect.any(Date),
      escalatedAt: null,
    });
    const done = await waitForRun(
      app,
      runId,
      (run) => run.state === 'succeeded',
      'did not succeed',
    );
    expect(done.output).toEqual({
      receiptId: expect.stringMatching(/^RCPT-\d+$/),
    });
    expect(describeAttempts(done)).toEqual([
      'awaitApproval#1 succeeded',
      'renderReceipt#1 succeeded',
      'emailReceipt#1 failed',
      'emailReceipt#2 succeeded',
    ]);
    expect(done.waits).toEqual([
      expect.objectContaining({ state: 'received', signalId }),
    ]);
    expect(done.signals).toEqual([
      expect.objectContaining({
        signalId,
        name: 'approval',
        state: 'consumed',
        idempotencyKey: `order-${orderId}-approval`,
        consumedBy: expect.objectContaining({ stepName: 'awaitApproval' }),
      }),
    ]);

    // The same decision again: a duplicate, by the order's idempotency key,
    // even though the run has finished. Another decision: a conflict.
    expect(
      await postJson(app, `/orders/${orderId}/approval`, {
        approved: true,
        by: 'max@example.com',
      }),
    ).toMatchObject({ status: 200, body: { duplicate: true, signalId } });
    expect(
      await postJson(app, `/orders/${orderId}/approval`, {
        approved: false,
        by: 'max@example.com',
      }),
    ).toMatchObject({
      status: 409,
      body: {
        message: `Order ${orderId} was approved by max@example.com already`,
      },
    });
    expect(await orderRow(url, orderId)).toMatchObject({
      approval: row.approval,
      decidedBy: row.decidedBy,
      decidedAt: row.decidedAt,
    });
    expect((await getRun(app, runId)).body.signals).toHaveLength(1);
    expect(
      (
        await postJson(app, '/orders/999999/approval', {
          approved: true,
          by: 'max@example.com',
        })
      ).status,
    ).toBe(404);

    app.child.kill('SIGTERM');
    // The demo's order that waits for an hour does not hold the shutdown.
    await exitOf(app, 20_000);
  }, 90_000);

  it('escalates an order nobody decides on within ORDER_APPROVAL_TIMEOUT, then takes a decision still', async () => {
    const url = await createDatabase();
    const app = startExample(url, { ORDER_APPROVAL_TIMEOUT: '1s' });
    const { orderId, runId } = await placeOrder(
      app,
      `ivy.${Date.now()}@example.com`,
      80_000,
    );

    // The wait timed out, escalate-approval ran once, and the step waits on.
    const escalated = await waitForRun(
      app,
      runId,
      (run) => run.state === 'waiting' && run.waits[1]?.state === 'waiting',
      'did not escalate',
    );
    expect(
      escalated.waits.map(({ kind, names, state, deadline }) => ({
        kind,
        names,
        state,
        timeout: deadline !== undefined,
      })),
    ).toEqual([
      {
        kind: 'signal',
        names: ['approval'],
        state: 'timed_out',
        timeout: true,
      },
      { kind: 'signal', names: ['approval'], state: 'waiting', timeout: false },
    ]);
    expect(
      escalated.activityCalls.map(({ name, kind, state, attempts }) => ({
        name,
        kind,
        state,
        attempts: attempts.length,
      })),
    ).toEqual([
      {
        name: 'escalate-approval',
        kind: 'call',
        state: 'succeeded',
        attempts: 1,
      },
    ]);
    expect(await orderRow(url, orderId)).toMatchObject({
      approval: 'escalated',
      escalatedAt: expect.any(Date),
      decidedBy: null,
    });
    expect(app.output()).toContain(
      `Run ${runId} order-receipt activity escalate-approval: no decision on order ${orderId} within 1s: escalated, a manager is notified`,
    );

    // A manager approves the escalated order: the run renders its receipt.
    expect(
      await postJson(app, `/orders/${orderId}/approval`, {
        approved: true,
        by: 'mia.manager@example.com',
      }),
    ).toMatchObject({ status: 200, body: { duplicate: false } });
    const done = await waitForRun(
      app,
      runId,
      (run) => run.state === 'succeeded',
      'did not succeed',
    );
    expect(done.output).toEqual({
      receiptId: expect.stringMatching(/^RCPT-\d+$/),
    });
    expect(done.waits.map((w) => w.state)).toEqual(['timed_out', 'received']);
    expect(await orderRow(url, orderId)).toMatchObject({
      approval: 'approved',
      decidedBy: 'mia.manager@example.com',
      escalatedAt: expect.any(Date),
      receiptId: (done.output as { receiptId: string }).receiptId,
    });

    app.child.kill('SIGTERM');
    await exitOf(app, 20_000);
  }, 90_000);
});
