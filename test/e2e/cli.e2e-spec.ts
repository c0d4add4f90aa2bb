import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Client } from 'pg';
import {
  ChildWorkflowFailedError,
  defineSignal,
  Step,
  StepContext,
  StepError,
  Transition,
  Workflow,
} from '@underway/nestjs';
import { COMMANDS, runCli } from '@underway/nestjs/cli/cli';
import { createTestApp } from '../support/create-test-app';
import { databaseUrl, query } from '../support/database';
import { currentTestSchema } from '../support/test-schema';
import { waitFor } from '../support/wait-for';

// `npx underway` (SPEC §6): every command against the real database, as a
// child process through ts-node (as `npm start` runs the sources), with the
// exit codes 0 / 1 (not found, refused) / 2 (usage, connection, schema).
// A few more cases run the same entry point in-process, to keep the file fast.

const REPO_ROOT = resolve(__dirname, '..', '..');
// Each child process loads the sources through ts-node: seconds apiece on a
// loaded machine, and a test starts up to four.
jest.setTimeout(120_000);
const UNKNOWN_ID = '01936d1e-8f4a-7c3b-9d2e-5f6a7b8c9d0e';

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a bin of the package (`main.ts`: `underway`; `print-sql.ts`: `underway-sql`). */
function cli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  bin = 'main.ts',
): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['-r', './scripts/register.js', `libs/underway/src/cli/${bin}`, ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: databaseUrl(), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** The same entry point in this process: same code, no process start. */
async function inProcess(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    args,
    { out: (text) => (stdout += text), err: (text) => (stderr += text) },
    { ...process.env, DATABASE_URL: databaseUrl(), ...env },
  );
  return { code, stdout, stderr };
}

const behaviour = { declined: true };

@Workflow({
  name: 'cli-order',
  deadLetter: 'cli-dlq',
  retry: { maxAttempts: 2, initialInterval: 10 },
})
class CliOrderWorkflow {
  @Step()
  async charge({ n }: { n: number }) {
    if (behaviour.declined) {
      throw StepError.fatal('declined', 'Card declined');
    }
    return Transition.complete({ charged: n });
  }
}

const Approval = defineSignal<{ approved: boolean; by: string }>('approval');

@Workflow({ name: 'cli-expense' })
class CliExpenseWorkflow {
  @Step()
  async decide(_input: { amount: number }, ctx: StepContext) {
    const approval = await ctx.waitFor(Approval, { timeout: '1h' });
    return Transition.complete({ approval });
  }
}

const Release = defineSignal('release');

@Workflow({ name: 'cli-thumbnail' })
class CliThumbnailWorkflow {
  @Step()
  async render(input: { fileId: number; fail?: boolean }, ctx: StepContext) {
    if (input.fail) {
      throw StepError.fatal(
        'bad_image',
        `file ${input.fileId} is not an image`,
      );
    }
    await ctx.waitFor(Release);
    return Transition.complete({ thumb: `t${input.fileId}` });
  }
}

@Workflow({ name: 'cli-batch' })
class CliBatchWorkflow {
  @Step()
  async thumbnails(_input: unknown, ctx: StepContext) {
    await ctx.startChild(
      CliThumbnailWorkflow,
      { fileId: 0 },
      { parentClose: 'abandon' },
    );
    const thumbs = await Promise.all(
      [1, 2].map((fileId) =>
        ctx
          .child(CliThumbnailWorkflow, { fileId, fail: fileId === 2 })
          .catch((err: unknown) => {
            if (err instanceof ChildWorkflowFailedError) {
              return err.errorCode;
            }
            throw err;
          }),
      ),
    );
    return Transition.complete({ thumbs });
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function stateOf(schema: string, id: string): Promise<string> {
  const [row] = await query<{ state: string }>(
    `select state from ${schema}.workflow_run where id = $1`,
    [id],
  );
  return row!.state;
}

describe('underway (the CLI)', () => {
  beforeEach(() => {
    behaviour.declined = true;
  });

  it('prints help for every command, and refuses unknown commands, options and arguments (exit 2)', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) {
      expect(help.stdout).toContain(`  ${command.name}`);
      const own = await inProcess([command.name, '--help']);
      expect(own.code).toBe(0);
      expect(own.stdout).toMatch(
        new RegExp(`^usage: underway ${command.name}`),
      );
      expect(own.stdout).toContain('--schema <name>');
    }
    expect(help.stdout).toMatch(/Exit codes: 0 done; 1 not found or refused/);
    expect(help.stdout).toMatch(
      /DATABASE_URL and UNDERWAY_SCHEMA are read from the environment only: no \.env file\s+is read/,
    );
    const bare = await inProcess([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain('Commands:');
    for (const [args, error] of [
      [['frobnicate'], /^underway: unknown command "frobnicate"/],
      [['runs', '--bogus'], /^underway: Unknown option '--bogus'/],
      [['run'], /^underway: usage: underway run <id>/],
      [['stats', 'extra'], /^underway: stats takes no argument/],
      [['runs', '--limit', '0'], /^underway: --limit must be an integer/],
      [['runs', '--state', 'sleeping'], /^underway: --state must be one of/],
      [['run', 'not-a-uuid'], /^underway: "not-a-uuid" is not a run id/],
      [['runs', '--schema', 'Bad-Name'], /^underway: Invalid option --schema/],
    ] as const) {
      const result = await inProcess(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(error);
    }
  });

  it('takes --limit as a decimal integer only: 1e3, 0x10, 10.0, +5 or " 5" is a usage error naming the option (exit 2)', async () => {
    for (const args of [
      ['runs', '--limit', '1e3'],
      ['runs', '--limit', '0x10'],
      ['runs', '--limit', '0b11'],
      ['runs', '--limit', '10.0'],
      ['runs', '--limit', '+5'],
      ['runs', '--limit', ' 5'],
      ['runs', '--limit', ''],
      ['redrive', 'cli-dlq', '--limit', '1e2'],
    ]) {
      const result = await inProcess(args, { DATABASE_URL: undefined });
      expect({ args, result }).toEqual({
        args,
        result: {
          code: 2,
          stdout: '',
          stderr: `underway: --limit must be an integer from 1 to 10000, in decimal digits, got ${JSON.stringify(args[args.length - 1])}\n`,
        },
      });
    }
  });

  it('sql prints the migration SQL or the grants without connecting; underway-sql is the same command', async () => {
    const unreachable = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    const migration = await cli(['sql', '--schema', 'billing'], unreachable);
    expect(migration.code).toBe(0);
    expect(migration.stdout).toMatch(/create table "?billing"?\.workflow_run/i);
    expect(migration.stdout).toMatch(
      /alter table "?billing"?\.workflow_run add column trace_context jsonb/i,
    );
    const alias = await cli(
      ['--schema', 'billing', '--grant', 'app_runtime'],
      unreachable,
      'print-sql.ts',
    );
    expect(alias).toEqual({
      code: 0,
      stdout:
        'grant usage on schema "billing" to "app_runtime";\n' +
        'grant select, insert, update, delete on all tables in schema "billing" to "app_runtime";\n' +
        'grant execute on all functions in schema "billing" to "app_runtime";\n',
      stderr: '',
    });
  });

  it('migrate brings a schema to the current version, then finds it up to date', async () => {
    const schema = currentTestSchema();
    const first = await cli(['migrate', '--schema', schema]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(
      new RegExp(`^Schema "${schema}" migrated from version 0 to \\d+\\.\\n$`),
    );
    const again = await inProcess(['migrate', '--schema', schema, '--json']);
    expect(again.code).toBe(0);
    const { from, to } = JSON.parse(again.stdout) as {
      from: number;
      to: number;
    };
    expect(from).toBe(to);
    await query(`drop schema ${schema} cascade`);
  });

  it('refuses a schema PostgreSQL reserves (information_schema, pg_*) on every command (exit 2), creating nothing there', async () => {
    const tables = () =>
      query(
        `select tablename from pg_tables
         where schemaname = 'information_schema' and tablename in ('workflow_run', 'migration')`,
      );
    const migrate = await cli(['migrate', '--schema', 'information_schema']);
    expect(migrate).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'underway: Invalid option --schema: "information_schema" is reserved by PostgreSQL ' +
        '(information_schema, and every name starting with pg_): choose another name, such as underway.\n',
    });
    expect(await tables()).toEqual([]);
    for (const args of [
      ['migrate', '--schema', 'pg_underway'],
      ['migrate', '--schema', 'pg_catalog'],
      ['runs', '--schema', 'information_schema'],
      ['sql', '--schema', 'pg_toast'],
    ]) {
      const result = await inProcess(args);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({
        args,
        code: 2,
        stdout: '',
      });
      expect(result.stderr).toMatch(
        new RegExp(
          `^underway: Invalid option --schema: "${args[2]}" is reserved by PostgreSQL`,
        ),
      );
    }
    const fromEnv = await inProcess(['migrate'], {
      UNDERWAY_SCHEMA: 'information_schema',
    });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('is reserved by PostgreSQL');
    expect(await tables()).toEqual([]);
  });

  it('runs, run, schedules and stats show what the database holds, as tables and as JSON', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliOrderWorkflow],
    });
    const declined = await client.enqueue(CliOrderWorkflow, { n: 1 });
    await expect(declined.result({ timeout: 10_000 })).rejects.toThrow();
    const later = await client.enqueue(
      CliOrderWorkflow,
      { n: 2 },
      { delay: '1h' },
    );
    await client.schedule(CliOrderWorkflow, '0 3 * * *[Europe/Paris]', {
      n: 3,
    });
    const env = { UNDERWAY_SCHEMA: schema };

    const runs = await cli(['runs'], env);
    expect(runs.code).toBe(0);
    const lines = runs.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+WORKFLOW\s+STATE\s+STEP\s+ATTEMPT\s+ERROR\s+CREATED$/,
    );
    expect(lines[1]).toMatch(
      new RegExp(`^${later.id}\\s+cli-order\\s+pending\\s+0\\s+0/2\\s+-`),
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^${declined.id}\\s+cli-order\\s+failed\\s+0\\s+1/2\\s+declined`,
      ),
    );
    const failedOnly = await inProcess(
      ['runs', '--state', 'failed', '--json'],
      env,
    );
    expect(
      (JSON.parse(failedOnly.stdout) as { id: string }[]).map((r) => r.id),
    ).toEqual([declined.id]);
    const limited = await inProcess(['runs', '--limit', '1', '--json'], env);
    expect(JSON.parse(limited.stdout)).toHaveLength(1);

    const run = await cli(['run', declined.id, '--json'], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      id: declined.id,
      workflowName: 'cli-order',
      state: 'failed',
      input: { n: 1 },
      error: { code: 'declined', message: 'Card declined' },
      attempts: [{ stepIndex: 0, attempt: 1, state: 'failed' }],
      activityCalls: [],
    });
    const human = await inProcess(['run', declined.id], env);
    expect(human.stdout).toMatch(
      /^Run:\s+[0-9a-f-]{36}\nWorkflow:\s+cli-order\nState:\s+failed\nStep:\s+0 \(charge\)\n/,
    );
    expect(human.stdout).toContain('[declined] Card declined');
    expect(human.stdout).toMatch(/^Input:\s+\{"n":1\}$/m);
    expect(human.stdout).toMatch(/^Output:\s+-$/m);
    const unknown = await inProcess(['run', UNKNOWN_ID], env);
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: `underway: No run ${UNKNOWN_ID} in schema "${schema}"\n`,
    });

    const schedules = await cli(['schedules', '--json'], env);
    expect(schedules.code).toBe(0);
    expect(JSON.parse(schedules.stdout)).toMatchObject([
      {
        workflowName: 'cli-order',
        key: 'default',
        cron: '0 3 * * *',
        timezone: 'Europe/Paris',
        source: 'client',
      },
    ]);
    const scheduleTable = await inProcess(['schedules'], env);
    expect(scheduleTable.stdout).toMatch(
      /cli-order\s+default\s+0 3 \* \* \*\s+Europe\/Paris\s+allow/,
    );

    const stats = await cli(['stats', '--json'], env);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toEqual({
      workflows: [
        {
          workflowName: 'cli-order',
          pending: 1,
          running: 0,
          waiting: 0,
          due: 0,
          oldestDueMs: 0,
          lastHour: { succeeded: 0, failed: 1, cancelled: 0 },
        },
      ],
      deadLetterQueues: [{ queue: 'cli-dlq', waiting: 1, redriven: 0 }],
    });
    const statsTable = await inProcess(['stats'], env);
    expect(statsTable.stdout).toMatch(
      /^WORKFLOW\s+PENDING\s+RUNNING\s+WAITING\s+DUE\s+OLDEST DUE/,
    );
    expect(statsTable.stdout).toMatch(/cli-dlq\s+1\s+0/);
  });

  it('run <id> shows the input and output: on one line and cut in the table, whole with --json', async () => {
    behaviour.declined = false;
    const { client, schema } = await createTestApp({
      workflows: [CliOrderWorkflow],
    });
    const env = { UNDERWAY_SCHEMA: schema };
    const done = await client.enqueue(CliOrderWorkflow, { n: 5 });
    await expect(done.result({ timeout: 10_000 })).resolves.toEqual({
      charged: 5,
    });
    const finished = await inProcess(['run', done.id], env);
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(/^Input:\s+\{"n":5\}$/m);
    expect(finished.stdout).toMatch(/^Output:\s+\{"charged":5\}$/m);

    // A bidirectional control, an escape sequence, then 2,000 characters.
    const long = { n: 6, note: `\u202e\u001b[2J${'x'.repeat(2_000)}` };
    const pending = await client.enqueue(CliOrderWorkflow, long, {
      delay: '1h',
    });
    const table = await inProcess(['run', pending.id], env);
    const input = /^Input:\s+(.*)$/m.exec(table.stdout)?.[1] ?? '';
    expect(input).toBe(
      `{"n":6,"note":"\\u202e\\u001b[2J${'x'.repeat(500 - 25)}… (${JSON.stringify(long).length.toLocaleString('en-US')} characters; --json shows it whole)`,
    );
    expect(table.stdout).not.toContain('\u001b');
    expect(table.stdout).not.toContain('\u202e');
    const whole = await inProcess(['run', pending.id, '--json'], env);
    expect((JSON.parse(whole.stdout) as { input: unknown }).input).toEqual(
      long,
    );
  });

  it('prints the control characters of database values as visible escapes in tables, and as exact JSON with --json', async () => {
    const { schema } = await createTestApp({ underway: { runtime: false } });
    // A clipboard write (OSC 52), a screen clear, a carriage return that
    // would overwrite the line, a C1 CSI, DEL, a title change, a bell.
    const message =
      'Card declined\x1b]52;c;cHduZWQ=\x07\x1b[2J\rOK \x9b2J\x7f done';
    const workflow = 'evil\x1b]0;pwned\x07';
    const key = 'tenant\x1b[2J';
    const queue = 'dlq\r\x1b[1A';
    const id = '01936d1e-8f4a-7c3b-9d2e-5f6a7b8c9d0f';
    await query(
      `insert into ${schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms,
         error, attempt, completed_at, expires_at)
       values ($1, $2, 'failed', '{}', 1, 1000, 1209600000, $3, 1, now(), now() + interval '1 day')`,
      [id, workflow, JSON.stringify({ code: 'bad\x1b[31m', message })],
    );
    await query(
      `insert into ${schema}.step_attempt (run_id, step_index, attempt, state, error, worker, started_at)
       values ($1, 0, 1, 'failed', $2, $3, now())`,
      [id, JSON.stringify({ code: 'bad', message }), 'worker\x1b[8m'],
    );
    await query(
      `insert into ${schema}.schedule (workflow_name, key, cron, timezone, source, next_fire_at)
       values ($1, $2, '0 3 * * *', 'UTC', 'client', now() + interval '1 day')`,
      [workflow, key],
    );
    await query(
      `insert into ${schema}.dead_letter (queue, run_id, workflow_name, input, error)
       values ($1, $2, $3, '{}', $4)`,
      [queue, id, workflow, JSON.stringify({ code: 'bad', message })],
    );
    const env = { UNDERWAY_SCHEMA: schema };
    // Anything a terminal acts on: C0 but the newline, DEL, C1.
    // eslint-disable-next-line no-control-regex -- exactly what must not reach a terminal
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    const tables = [
      await cli(['run', id], env),
      await inProcess(['runs'], env),
      await inProcess(['schedules'], env),
      await inProcess(['stats'], env),
    ];
    for (const result of tables) {
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(raw.test(result.stdout)).toBe(false);
    }
    const [run, runs, schedules, stats] = tables.map((r) => r.stdout);
    expect(run).toContain(
      '[bad\\x1b[31m] Card declined\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\rOK \\x9b2J\\x7f done',
    );
    expect(run).toMatch(/\nWorkflow:\s+evil\\x1b\]0;pwned\\x07\n/);
    expect(run).toContain('worker\\x1b[8m');
    expect(runs).toMatch(
      /evil\\x1b\]0;pwned\\x07\s+failed\s+0\s+1\/1\s+bad\\x1b\[31m/,
    );
    expect(schedules).toMatch(
      /evil\\x1b\]0;pwned\\x07\s+tenant\\x1b\[2J\s+0 3/,
    );
    expect(stats).toContain('dlq\\r\\x1b[1A');
    // An error line on standard error too (the queue comes back in it).
    const unknown = await inProcess(['redrive', 'no\x1b[2Jqueue'], env);
    expect(unknown.code).toBe(1);
    expect(raw.test(unknown.stderr)).toBe(false);
    expect(unknown.stderr).toContain('"no\\x1b[2Jqueue"');

    // --json: the exact values, every control character escaped (C1 and
    // DEL too, which JSON.stringify writes as they are).
    for (const args of [
      ['run', id, '--json'],
      ['runs', '--json'],
      ['schedules', '--json'],
      ['stats', '--json'],
    ]) {
      const result = await inProcess(args, env);
      expect({ args, code: result.code }).toEqual({ args, code: 0 });
      expect({ args, raw: raw.test(result.stdout) }).toEqual({
        args,
        raw: false,
      });
    }
    const json = JSON.parse(
      (await inProcess(['run', id, '--json'], env)).stdout,
    ) as {
      workflowName: string;
      error: { code: string; message: string };
      attempts: { worker: string }[];
    };
    expect(json.workflowName).toBe(workflow);
    expect(json.error).toEqual({ code: 'bad\x1b[31m', message });
    expect(json.attempts[0]!.worker).toBe('worker\x1b[8m');
    const listed = JSON.parse(
      (await inProcess(['schedules', '--json'], env)).stdout,
    ) as {
      key: string;
    }[];
    expect(listed.map((s) => s.key)).toEqual([key]);
    const counted = JSON.parse(
      (await inProcess(['stats', '--json'], env)).stdout,
    ) as {
      deadLetterQueues: { queue: string }[];
    };
    expect(counted.deadLetterQueues.map((q) => q.queue)).toEqual([queue]);
  });

  it('versions lists each version with its runs in flight and the instances that run it, and says which class can go', async () => {
    @Workflow({ name: 'cli-order', version: 2 })
    class CliOrderV2 {
      @Step()
      async charge() {
        return Transition.complete();
      }
    }
    const app = await createTestApp({
      workflows: [CliOrderV2],
      underway: { runtime: { maintenanceInterval: '100ms' } },
    });
    const instance = `${hostname()}:${process.pid}`;
    // A run of version 1, which no running instance runs.
    await query(
      `insert into ${app.schema}.workflow_run (id, workflow_name, workflow_version, step_name, input,
         max_attempts, lease_ms, ttl_ms, run_at)
       values ($1, 'cli-order', 1, 'charge', '{}', 1, 1000, 1000, now() + interval '1 day')`,
      [UNKNOWN_ID],
    );
    const env = { UNDERWAY_SCHEMA: app.schema };
    await waitFor(async () =>
      (await inProcess(['versions'], env)).stdout.includes(instance),
    );
    const table = await inProcess(['versions'], env);
    expect(table.code).toBe(0);
    expect(table.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^WORKFLOW\s+VERSION\s+IN FLIGHT\s+INSTANCES\s+NOTE$/,
      ),
      expect.stringMatching(
        /^cli-order\s+1\s+1\s+runs in flight, and no running instance runs this version$/,
      ),
      expect.stringMatching(
        new RegExp(
          `^cli-order\\s+2\\s+0\\s+${escapeRegExp(instance)}\\s+latest$`,
        ),
      ),
    ]);
    const json = await inProcess(
      ['versions', '--workflow', 'cli-order', '--json'],
      env,
    );
    expect(JSON.parse(json.stdout)).toEqual([
      {
        workflowName: 'cli-order',
        version: 1,
        inFlight: 1,
        registeredHere: false,
        instances: [],
      },
      {
        workflowName: 'cli-order',
        version: 2,
        inFlight: 0,
        registeredHere: false,
        instances: [instance],
      },
    ]);
    // Version 1's run is gone: its class can be deleted.
    await query(`delete from ${app.schema}.workflow_run where id = $1`, [
      UNKNOWN_ID,
    ]);
    await app.close();
    const after = await inProcess(['versions'], env);
    expect(after.stdout).toBe('(none)\n');
  });

  it('cancel cancels an unfinished run, and refuses a finished or unknown one (exit 1)', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliOrderWorkflow],
    });
    const later = await client.enqueue(
      CliOrderWorkflow,
      { n: 1 },
      { delay: '1h' },
    );
    const env = { UNDERWAY_SCHEMA: schema };
    const cancelled = await cli(['cancel', later.id], env);
    expect(cancelled).toEqual({
      code: 0,
      stdout: `Run ${later.id} cancelled (it was pending).\n`,
      stderr: '',
    });
    expect(await stateOf(schema, later.id)).toBe('cancelled');
    const again = await inProcess(['cancel', later.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `underway: Run ${later.id} is cancelled: only a pending, running or waiting run can be cancelled\n`,
    );
    expect((await inProcess(['cancel', UNKNOWN_ID], env)).code).toBe(1);
  });

  it('retry gives a failed run its attempts again, and the worker finishes it; a run that is not failed is refused (exit 1)', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliOrderWorkflow],
    });
    const declined = await client.enqueue(CliOrderWorkflow, { n: 5 });
    await expect(declined.result({ timeout: 10_000 })).rejects.toThrow();
    behaviour.declined = false;
    const env = { UNDERWAY_SCHEMA: schema };
    const retried = await cli(['retry', declined.id, '--json'], env);
    expect(retried).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(retried.stdout)).toEqual({
      runId: declined.id,
      state: 'pending',
      stepIndex: 0,
      resetCalls: 0,
    });
    await expect(declined.result({ timeout: 10_000 })).resolves.toEqual({
      charged: 5,
    });
    const [row] = await query<{ max_attempts: number; attempt: number }>(
      `select max_attempts, attempt from ${schema}.workflow_run where id = $1`,
      [declined.id],
    );
    // One attempt made, then as many again as it had (2): 1 + 2.
    expect(row).toEqual({ max_attempts: 3, attempt: 2 });
    const refusedRetry = await inProcess(['retry', declined.id], env);
    expect(refusedRetry.code).toBe(1);
    expect(refusedRetry.stderr).toMatch(
      /is succeeded: only a failed run can be retried/,
    );
    expect((await inProcess(['retry', UNKNOWN_ID], env)).code).toBe(1);
  });

  it('redrive enqueues the dead letters again as new runs, once; an unknown queue is refused (exit 1)', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliOrderWorkflow],
    });
    const declined = await client.enqueue(CliOrderWorkflow, { n: 7 });
    await expect(declined.result({ timeout: 10_000 })).rejects.toThrow();
    behaviour.declined = false;
    // An entry whose workflow has no retained run: its new run gets the defaults.
    await query(
      `insert into ${schema}.dead_letter (queue, run_id, workflow_name, input)
       values ('cli-dlq', $1, 'cli-archived', '{"n": 8}')`,
      [UNKNOWN_ID],
    );
    const env = { UNDERWAY_SCHEMA: schema };

    const redriven = await cli(['redrive', 'cli-dlq', '--json'], env);
    expect(redriven.code).toBe(0);
    expect(redriven.stderr).toBe(
      'warning: no retained run of workflow "cli-archived" shows its first step\'s policy; ' +
        'its new runs got the defaults (5 attempts, 30000ms lease, priority 0)\n',
    );
    const { redriven: entries } = JSON.parse(redriven.stdout) as {
      redriven: { runId: string; workflowName: string; newRunId: string }[];
    };
    expect(entries.map((e) => [e.runId, e.workflowName])).toEqual([
      [declined.id, 'cli-order'],
      [UNKNOWN_ID, 'cli-archived'],
    ]);
    const newRun = entries[0]!.newRunId;
    await expect(
      client.run(newRun, 'cli-order').result({ timeout: 10_000 }),
    ).resolves.toEqual({ charged: 7 });
    const runs = await query<{
      workflow_name: string;
      max_attempts: number;
      lease_ms: number;
      dead_letter: string;
    }>(
      `select workflow_name, max_attempts, lease_ms, dead_letter from ${schema}.workflow_run
       where id = any($1) order by workflow_name`,
      [entries.map((e) => e.newRunId)],
    );
    expect(runs).toEqual([
      {
        workflow_name: 'cli-archived',
        max_attempts: 5,
        lease_ms: 30_000,
        dead_letter: 'cli-dlq',
      },
      {
        workflow_name: 'cli-order',
        max_attempts: 2,
        lease_ms: 30_000,
        dead_letter: 'cli-dlq',
      },
    ]);
    const marked = await query(
      `select 1 from ${schema}.dead_letter where redriven_at is not null and redriven_run_id = any($1)`,
      [entries.map((e) => e.newRunId)],
    );
    expect(marked).toHaveLength(2);

    const again = await inProcess(['redrive', 'cli-dlq'], env);
    expect(again).toEqual({
      code: 0,
      stdout: 'Nothing to redrive in "cli-dlq".\n',
      stderr: '',
    });
    const unknown = await inProcess(['redrive', 'no-such-queue'], env);
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: `underway: No dead-letter queue "no-such-queue" in schema "${schema}"\n`,
    });
    await waitFor(async () => (await stateOf(schema, newRun)) === 'succeeded');
  });

  it('signal sends a signal by name: a waiting run takes it, a resend with --key is a duplicate, a finished or unknown run is refused (exit 1); run <id> lists the waits and signals', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliExpenseWorkflow],
    });
    const env = { UNDERWAY_SCHEMA: schema };
    const run = await client.enqueue(CliExpenseWorkflow, { amount: 5 });
    await waitFor(async () => {
      const [row] = await query<{ state: string }>(
        `select state from ${schema}.workflow_run where id = $1 and open_calls = 1`,
        [run.id],
      );
      return row?.state === 'waiting';
    });
    const waiting = await inProcess(['run', run.id], env);
    expect(waiting.code).toBe(0);
    expect(waiting.stdout).toMatch(
      /\nWaits\nSTEP\s+CALL\s+KIND\s+SIGNALS\s+STATE\s+DEADLINE\s+TOOK\n0 \(decide\)\s+0\s+signal\s+approval\s+waiting\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+-\n/,
    );
    expect(waiting.stdout).toMatch(/\nSignals\n\(none\)\n$/);

    // A signal no wait takes yet: buffered (its name with an escape sequence).
    const note = await inProcess(
      ['signal', run.id, 'note\x1b[2J', '"hello"'],
      env,
    );
    expect(note).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        new RegExp(
          `^Signal "note\\\\x1b\\[2J" sent to run ${run.id}: [0-9a-f-]{36}, pending: the run’s next wait for "note\\\\x1b\\[2J" takes it\\.\\n$`,
        ),
      ) as string,
      stderr: '',
    });

    const sent = await cli(
      [
        'signal',
        run.id,
        'approval',
        '{"approved":true,"by":"ana"}',
        '--key',
        'exp:1',
        '--json',
      ],
      env,
    );
    expect(sent).toMatchObject({ code: 0, stderr: '' });
    const json = JSON.parse(sent.stdout) as { signalId: string };
    expect(json).toEqual({
      runId: run.id,
      signalId: expect.any(String) as string,
      name: 'approval',
      duplicate: false,
      state: 'consumed',
      consumedBy: { stepIndex: 0, stepName: 'decide', callIndex: 0 },
    });
    await expect(run.result({ timeout: 10_000 })).resolves.toEqual({
      approval: { approved: true, by: 'ana' },
    });

    // The same key again, even to the finished run: nothing stored.
    const again = await inProcess(
      [
        'signal',
        run.id,
        'approval',
        '{"approved":false,"by":"bob"}',
        '--key',
        'exp:1',
      ],
      env,
    );
    expect(again).toEqual({
      code: 0,
      stdout: `Not sent again: run ${run.id} already has signal ${json.signalId} ("approval") with key "exp:1"; it is taken by the wait of step 0 (decide), call 0.\n`,
      stderr: '',
    });
    const finished = await inProcess(['signal', run.id, 'approval'], env);
    expect(finished).toEqual({
      code: 1,
      stdout: '',
      stderr: `underway: Workflow run ${run.id} has finished (succeeded), so the signal was not stored: a finished run waits for nothing.\n`,
    });
    expect(
      await inProcess(['signal', UNKNOWN_ID, 'approval', '1'], env),
    ).toEqual({
      code: 1,
      stdout: '',
      stderr: `underway: No run ${UNKNOWN_ID} in schema "${schema}"\n`,
    });
    // A payload that starts with "-" goes after "--".
    expect(
      (await inProcess(['signal', UNKNOWN_ID, 'n', '--', '-1'], env)).code,
    ).toBe(1);

    const details = JSON.parse(
      (await inProcess(['run', run.id, '--json'], env)).stdout,
    ) as { waits: unknown[]; signals: unknown[] };
    expect(details.waits).toEqual([
      {
        stepIndex: 0,
        stepName: 'decide',
        callIndex: 0,
        kind: 'signal',
        names: ['approval'],
        state: 'received',
        deadline: expect.any(String) as string,
        signalId: json.signalId,
        createdAt: expect.any(String) as string,
        completedAt: expect.any(String) as string,
      },
    ]);
    expect(details.signals).toEqual([
      expect.objectContaining({
        name: 'note\x1b[2J',
        state: 'pending',
        idempotencyKey: null,
        consumedBy: null,
        consumedAt: null,
      }),
      expect.objectContaining({
        signalId: json.signalId,
        name: 'approval',
        state: 'consumed',
        idempotencyKey: 'exp:1',
        consumedBy: { stepIndex: 0, stepName: 'decide', callIndex: 0 },
        consumedAt: expect.any(String) as string,
      }),
    ]);
    const table = await inProcess(['run', run.id], env);
    expect(table.stdout).toMatch(
      new RegExp(
        `\\n0 \\(decide\\)\\s+0\\s+signal\\s+approval\\s+received\\s+\\S+\\s+approval ${json.signalId}\\n`,
      ),
    );
    expect(table.stdout).toMatch(
      /\nSignals\nID\s+NAME\s+STATE\s+TAKEN BY\s+SENT\s+KEY\n[0-9a-f-]{36}\s+note\\x1b\[2J\s+pending\s+-\s+\S+\s+-\n[0-9a-f-]{36}\s+approval\s+consumed\s+0 \(decide\) call 0\s+\S+\s+exp:1\n$/,
    );
    // eslint-disable-next-line no-control-regex -- exactly what must not reach a terminal
    expect(/[\u0000-\u0009\u000b-\u001f]/.test(table.stdout)).toBe(false);
  });

  it('run <id> shows a child’s parent (its step, entry and parentClose) and a parent’s children, counted by state and the first 1,000 listed, as tables and as JSON', async () => {
    const { client, schema } = await createTestApp({
      workflows: [CliBatchWorkflow, CliThumbnailWorkflow],
    });
    const env = { UNDERWAY_SCHEMA: schema };
    const batch = await client.enqueue(CliBatchWorkflow, {});
    // The started child and child 1 wait for a signal, child 2 failed.
    const children = await waitFor(async () => {
      const rows = await query<{ id: string; state: string }>(
        `select c.id, c.state from ${schema}.workflow_run c
         join ${schema}.workflow_run p on p.id = c.parent_run_id
         where p.id = $1 and p.state = 'waiting' and p.open_calls = 1
         order by c.parent_call_index`,
        [batch.id],
      );
      return rows.length === 3 &&
        rows.map((r) => r.state).join() === 'waiting,waiting,failed'
        ? rows
        : undefined;
    });
    const [started, first, failed] = children.map((c) => c.id);

    const table = await inProcess(['run', batch.id], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/\nParent: +-\n/);
    expect(table.stdout).toMatch(
      new RegExp(
        [
          '\\nChildren \\(3: 2 waiting, 1 failed\\)',
          'STEP\\s+CALL\\s+STARTED WITH\\s+RUN\\s+WORKFLOW\\s+STATE\\s+PARENT CLOSE\\s+COMPLETED',
          `0 \\(thumbnails\\)\\s+0\\s+ctx\\.startChild\\s+${started}\\s+cli-thumbnail\\s+waiting\\s+abandon\\s+-`,
          `0 \\(thumbnails\\)\\s+1\\s+ctx\\.child\\s+${first}\\s+cli-thumbnail\\s+waiting\\s+cancel\\s+-`,
          `0 \\(thumbnails\\)\\s+2\\s+ctx\\.child\\s+${failed}\\s+cli-thumbnail\\s+failed\\s+cancel\\s+\\d{4}-\\S+`,
          '\\nWaits',
        ].join('\\n'),
      ),
    );
    const json = JSON.parse(
      (await inProcess(['run', batch.id, '--json'], env)).stdout,
    ) as { parent: unknown; childCounts: unknown; children: unknown[] };
    expect(json.parent).toBeNull();
    expect(json.childCounts).toEqual({
      total: 3,
      pending: 0,
      running: 0,
      waiting: 2,
      succeeded: 0,
      failed: 1,
      cancelled: 0,
    });
    expect(json.children).toEqual([
      {
        runId: started,
        workflowName: 'cli-thumbnail',
        state: 'waiting',
        stepIndex: 0,
        stepName: 'thumbnails',
        callIndex: 0,
        startedWith: 'ctx.startChild',
        parentClose: 'abandon',
        createdAt: expect.any(String) as string,
        completedAt: null,
      },
      expect.objectContaining({
        runId: first,
        callIndex: 1,
        startedWith: 'ctx.child',
        parentClose: 'cancel',
      }),
      expect.objectContaining({
        runId: failed,
        state: 'failed',
        completedAt: expect.any(String) as string,
      }),
    ]);

    const child = await cli(['run', first!], env);
    expect(child.code).toBe(0);
    expect(child.stdout).toContain(
      `\nParent:    ${batch.id} (cli-batch, waiting), step 0 (thumbnails) call 1, ctx.child, parentClose cancel\n`,
    );
    expect(child.stdout).toMatch(/\nChildren\n\(none\)\n/);
    expect(
      JSON.parse((await inProcess(['run', started!, '--json'], env)).stdout),
    ).toMatchObject({
      parent: {
        runId: batch.id,
        workflowName: 'cli-batch',
        state: 'waiting',
        stepIndex: 0,
        stepName: 'thumbnails',
        callIndex: 0,
        startedWith: 'ctx.startChild',
        parentClose: 'abandon',
      },
      childCounts: { total: 0 },
      children: [],
    });

    // A fan-out of 1,200 (written as the engine writes them): the first
    // 1,000 are listed, all are counted.
    const parent = '01936d1e-8f4a-7c3b-9d2e-000000000001';
    await query(
      `insert into ${schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms, run_at)
       values ($1, 'fan-out', 'waiting', '{}', 5, 30000, 1209600000, 'infinity')`,
      [parent],
    );
    await query(
      `with kid as (select c, gen_random_uuid() as id from generate_series(0, 1199) c), runs as (
         insert into ${schema}.workflow_run (id, workflow_name, state, input, max_attempts, lease_ms, ttl_ms,
           completed_at, parent_run_id, parent_step_index, parent_call_index, parent_close)
         select id, 'kid', 'succeeded', '{}', 5, 30000, 1209600000, now(), $1, 0, c, 'cancel' from kid)
       insert into ${schema}.activity_call (run_id, step_index, call_index, kind, workflow_name, name, args,
         state, max_attempts, lease_ms, child_run_id, completed_at)
       select $1, 0, c, 'child', 'fan-out', 'kid', '[{}]', 'succeeded', 1, 1, id, now() from kid`,
      [parent],
    );
    const big = await inProcess(['run', parent], env);
    expect(big.stdout).toContain(
      '\nChildren (1,200: 1,200 succeeded; the first 1,000)\n',
    );
    const bigJson = JSON.parse(
      (await inProcess(['run', parent, '--json'], env)).stdout,
    ) as { childCounts: { total: number }; children: { callIndex: number }[] };
    expect(bigJson.childCounts.total).toBe(1_200);
    expect(bigJson.children.map((c) => c.callIndex)).toEqual(
      Array.from({ length: 1_000 }, (_, i) => i),
    );

    for (const id of [started!, first!]) {
      await client.signal(id, Release);
    }
    await expect(batch.result({ timeout: 10_000 })).resolves.toEqual({
      thumbs: [{ thumb: 't1' }, 'bad_image'],
    });
  });

  it('signal refuses a payload that is no JSON, null or over 1 MiB, a bad name or key, and a wrong count of arguments, before connecting (exit 2)', async () => {
    const noDatabase = { DATABASE_URL: undefined };
    for (const [args, error] of [
      [
        ['signal', UNKNOWN_ID, 'approval', '{approved: true}'],
        /^underway: <payload> is not JSON \(.+\): quote it for the shell, as '\{"approved":true\}' or '"a string"'\n$/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', 'yes'],
        /^underway: <payload> is not JSON/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', 'null'],
        /^underway: Invalid workflow signal payload at \$: a signal payload cannot be null \(ctx\.waitFor resolves with null on timeout\)/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', '{"note":"\\u0000"}'],
        /^underway: Invalid workflow signal payload at \$\.note: /,
      ],
      [
        [
          'signal',
          UNKNOWN_ID,
          'approval',
          JSON.stringify('x'.repeat(1024 * 1024)),
        ],
        /^underway: Workflow signal payload is 1048578 bytes as JSON, over the 1048576-byte limit/,
      ],
      [
        ['signal', UNKNOWN_ID, ''],
        /^underway: Invalid option <name>: a signal name must not be empty\.\n$/,
      ],
      [
        ['signal', UNKNOWN_ID, 'x'.repeat(256)],
        /^underway: Invalid option <name>: a signal name must be at most 255 characters long, got 256/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', '1', '--key', ''],
        /^underway: --key must not be empty\n$/,
      ],
      [
        ['signal', 'not-a-uuid', 'approval'],
        /^underway: "not-a-uuid" is not a run id/,
      ],
      [
        ['signal', UNKNOWN_ID],
        /^underway: usage: underway signal <id> <name> \[<payload>\]/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', '1', '2'],
        /^underway: usage: underway signal <id> <name> \[<payload>\]/,
      ],
      [
        ['signal', UNKNOWN_ID, 'approval', '-1'],
        /^underway: Unknown option '-1'/,
      ],
    ] as const) {
      const result = await inProcess(args, noDatabase);
      expect({
        args: args.slice(0, 3),
        code: result.code,
        stdout: result.stdout,
      }).toEqual({
        args: args.slice(0, 3),
        code: 2,
        stdout: '',
      });
      expect(result.stderr).toMatch(error);
    }
  });

  it('says clearly when DATABASE_URL is missing, malformed or unreachable, or the schema is not migrated (exit 2), never printing the password', async () => {
    const schema = currentTestSchema();
    const missing = await cli(['runs'], { DATABASE_URL: undefined });
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toMatch(/^underway: DATABASE_URL is not set/);
    for (const [url, error] of [
      [
        'not a url s3cret',
        /^underway: DATABASE_URL is not a valid URL; expected postgres:/,
      ],
      [
        'mysql://root:s3cret@127.0.0.1/db',
        /^underway: DATABASE_URL must be a postgres:\/\/ URL/,
      ],
      [
        'postgres://root:s3cret@127.0.0.1:1/db',
        /^underway: Cannot connect to the database at 127\.0\.0\.1:1\/db: .*ECONNREFUSED/,
      ],
    ] as const) {
      const result = await inProcess(['stats'], { DATABASE_URL: url });
      expect({ url, code: result.code }).toEqual({ url, code: 2 });
      expect(result.stderr).toMatch(error);
      expect(result.stderr).not.toContain('s3cret');
    }
    const unmigrated = await inProcess(['runs', '--schema', schema]);
    expect(unmigrated).toEqual({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(
        new RegExp(
          `^underway: Schema "${schema}" does not exist in this database\\. .* To create them in "${schema}": underway migrate --schema ${schema}\\n$`,
        ),
      ) as string,
    });
  });

  it('says when the schema does not exist or is empty, and lists the schemas that hold Underway’s tables before advising migrate (exit 2)', async () => {
    // A database of its own, so that the list is exactly what this test made.
    const database = `cli_schemas_${Date.now().toString(36)}`;
    const url = new URL(databaseUrl());
    url.pathname = `/${database}`;
    const env = { DATABASE_URL: url.toString(), UNDERWAY_SCHEMA: undefined };
    await query(`create database ${database}`);
    try {
      const none = await inProcess(['runs'], env);
      expect(none).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'underway: Schema "underway" does not exist in this database. No schema of this database holds Underway\'s tables. To create them in "underway": underway migrate --schema underway\n',
      });

      expect(
        (await inProcess(['migrate', '--schema', 'billing'], env)).code,
      ).toBe(0);
      const elsewhere = await inProcess(['stats'], env);
      expect(elsewhere).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'underway: Schema "underway" does not exist in this database. Underway\'s tables are in schema "billing": pass --schema billing (or set UNDERWAY_SCHEMA). To create them in "underway": underway migrate --schema underway\n',
      });

      expect((await inProcess(['migrate', '--schema', 'jobs'], env)).code).toBe(
        0,
      );
      const admin = new Client({ connectionString: url.toString() });
      await admin.connect();
      try {
        await admin.query('create schema reports');
      } finally {
        await admin.end();
      }
      const empty = await inProcess(['runs', '--schema', 'reports'], env);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(
        /^underway: Schema "reports" holds no Underway tables \(not migrated: this library needs version \d+\)\. Underway's tables are in schemas "billing", "jobs": pass --schema <name> \(or set UNDERWAY_SCHEMA\)\. To create them in "reports": underway migrate --schema reports\n$/,
      );
      expect((await inProcess(['runs', '--schema', 'jobs'], env)).code).toBe(0);
    } finally {
      await query(`drop database if exists ${database} with (force)`);
    }
  });
});
