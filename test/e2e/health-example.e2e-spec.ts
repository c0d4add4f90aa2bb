import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { databaseUrl } from '../support/database';
import { waitFor } from '../support/wait-for';

// The example app's GET /health (apps/example/src/health): terminus with
// UnderwayHealthIndicator, in the app started as `npm start` starts it, in a
// database of its own on the test server.

const REPO_ROOT = resolve(__dirname, '..', '..');

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('the example app’s /health', () => {
  const database = `example_health_${randomBytes(6).toString('hex')}`;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await admin((client) =>
      client.query(`create database ${escapeIdentifier(database)}`),
    );
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await admin((client) =>
      client.query(
        `drop database if exists ${escapeIdentifier(database)} with (force)`,
      ),
    );
  });

  it('answers 200 with the Underway check up (worker running, listening, oldest due run within a minute)', async () => {
    const url = new URL(databaseUrl());
    url.pathname = `/${database}`;
    const inherited = { ...process.env };
    delete inherited.EXAMPLE_EXIT_AFTER_DEMO;
    child = spawn(
      process.execPath,
      ['-r', './scripts/register.js', 'apps/example/src/main.ts'],
      {
        cwd: REPO_ROOT,
        env: {
          ...inherited,
          DATABASE_URL: url.toString(),
          PORT: '0',
          NO_COLOR: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const port = await waitFor(
      () => /Listening on http:\/\/localhost:(\d+)/.exec(output)?.[1],
      { timeoutMs: 60_000, message: 'the example did not start' },
    );
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return {
        status: response.status,
        body: await response.json(),
      };
    };
    const up = await waitFor(
      async () => {
        const answer = await health();
        return answer.status === 200 ? answer : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(up.body).toMatchObject({
      status: 'ok',
      info: {
        underway: {
          status: 'up',
          database: 'up',
          worker: 'running',
          listener: 'listening',
          maxOldestDueAgeMs: 60_000,
        },
      },
    });
  }, 120_000);
});
