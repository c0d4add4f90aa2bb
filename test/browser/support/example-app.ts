import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { databaseUrl } from '../../support/database';
import { waitFor } from '../../support/wait-for';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** The example app (apps/example), started as `npm start` does, on a database of its own. */
export interface RunningExample {
  readonly child: ChildProcess;
  /** `http://localhost:<port>/underway`, as the app printed it. */
  readonly dashboard: string;
  /** The app's database. */
  readonly url: string;
  output(): string;
  /** Runs SQL in the app's database. */
  sql<R>(text: string, values?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

async function withClient<T>(
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

export async function startExample(): Promise<RunningExample> {
  const name = `dashboard_${randomBytes(6).toString('hex')}`;
  await withClient(databaseUrl(), (client) =>
    client.query(`create database ${escapeIdentifier(name)}`),
  );
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  const env = { ...process.env };
  delete env.EXAMPLE_EXIT_AFTER_DEMO;
  const child = spawn(
    process.execPath,
    ['-r', './scripts/register.js', 'apps/example/src/main.ts'],
    {
      cwd: REPO_ROOT,
      env: { ...env, DATABASE_URL: url.toString(), PORT: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => child.on('exit', () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    await withClient(databaseUrl(), (client) =>
      client.query(
        `drop database if exists ${escapeIdentifier(name)} with (force)`,
      ),
    );
  };
  try {
    const dashboard = await waitFor(
      () => /Dashboard: (http:\/\/localhost:\d+\/underway)/.exec(output)?.[1],
      { timeoutMs: 60_000, message: 'the example printed its dashboard' },
    );
    return {
      child,
      dashboard,
      url: url.toString(),
      output: () => output,
      sql: <R>(text: string, values: unknown[] = []) =>
        withClient(
          url.toString(),
          async (client) => (await client.query(text, values)).rows as R[],
        ),
      stop,
    };
  } catch (err) {
    await stop();
    throw new Error(
      `${(err as Error).message}\n--- example output ---\n${output}`,
      { cause: err },
    );
  }
}
