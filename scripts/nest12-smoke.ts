/**
 * The Nest 12 leg of `npm test` (SPEC §1 compatibility promise). Jest (CommonJS)
 * cannot load Nest 12, which is ESM-only, on Node 20; plain Node ≥ 20.19 can
 * require() it. So this script installs Nest 12 + TypeORM 1 into
 * compat/nest12, boots the example app on them (scripts/nest12-register.js
 * redirects every @nestjs/*, typeorm, rxjs and reflect-metadata import there),
 * and checks that both demo workflows finish.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { startEmbeddedPostgres } from '../test/setup/embedded-postgres';

const root = join(__dirname, '..');
const compat = join(root, 'compat', 'nest12');

function installCompatPackages(): void {
  const lock = readFileSync(join(compat, 'package-lock.json'), 'utf8');
  const stamp = join(compat, 'node_modules', '.lock-stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === lock) {
    return;
  }
  console.log('Installing Nest 12 + TypeORM 1 into compat/nest12 (npm ci)…');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: compat,
    stdio: 'inherit',
  });
  writeFileSync(stamp, lock);
}

function runExample(
  databaseUrl: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', './scripts/nest12-register.js', 'apps/example/src/main.ts'],
      {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          EXAMPLE_EXIT_AFTER_DEMO: '1',
          PORT: '0',
          NO_COLOR: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function main(): Promise<void> {
  installCompatPackages();
  const cluster = process.env.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres();
  const serverUrl = process.env.DATABASE_URL ?? cluster!.url;
  const database = `nest12_smoke_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${escapeIdentifier(database)}`);
  try {
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    const { code, output } = await runExample(url.toString());
    const nest =
      /Nest (\d+)\.\d+\.\d+ and TypeORM (\d+)\.\S+ from compat\/nest12/.exec(
        output,
      );
    const checks: [string, boolean][] = [
      ['the example exited with code 0', code === 0],
      [
        'it ran on Nest 12 and TypeORM 1',
        nest?.[1] === '12' && nest[2] === '1',
      ],
      [
        'the signup workflow finished',
        /Demo: signup run \S+ succeeded/.test(output),
      ],
      [
        'the order-receipt workflow finished',
        /Demo: order-receipt run \S+ succeeded/.test(output),
      ],
    ];
    const failed = checks.filter(([, ok]) => !ok);
    for (const [what, ok] of checks) {
      console.log(`${ok ? '✓' : '✕'} ${what}`);
    }
    if (failed.length > 0) {
      console.log(output);
      process.exitCode = 1;
    }
  } finally {
    await admin.query(
      `drop database if exists ${escapeIdentifier(database)} with (force)`,
    );
    await admin.end();
    await cluster?.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
