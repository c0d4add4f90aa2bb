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
  readonly output: unknown;
  readonly attempts: readonly {
    readonly stepName: string;
    readonly attempt: number;
    readonly state: string;
  }[];
}

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

function describeAttempts(run: RunResponse): string[] {
  return run.attempts.map((a) => `${a.stepName}#${a.attempt} ${a.state}`);
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

  it('runs the signup and order-receipt workflows to completion at start-up', async () => {
    const url = await createDatabase();
    const app = startExample(url, { EXAMPLE_EXIT_AFTER_DEMO: '1' });

    const exit = await exitOf(app, 60_000);
    const output = app.output();
    expect({ ...exit, output }).toMatchObject({ code: 0 });
    expect(output).toMatch(new RegExp(`Demo: signup run ${RUN_ID} succeeded`));
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

    // The duplicate signup of the demo rolled back, and its run with it.
    const rows = await withDatabase(url, (client) =>
      client.query<{ workflow_name: string; state: string }>(
        // The demo's own runs: the report schedules may fire meanwhile too.
        `select workflow_name, state from underway.workflow_run
         where workflow_name in ('signup', 'order-receipt') order by created_at`,
      ),
    );
    expect(rows.rows).toEqual([
      { workflow_name: 'signup', state: 'succeeded' },
      { workflow_name: 'order-receipt', state: 'succeeded' },
    ]);
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
      step_index: 0,
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
      'renderReceipt#1 lease_expired',
      'renderReceipt#2 succeeded',
      'emailReceipt#1 failed',
      'emailReceipt#2 succeeded',
    ]);

    second.child.kill('SIGTERM');
    await exitOf(second, 20_000);
  }, 90_000);
});
