import { ChildProcess, execFile, spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as ts from 'typescript';
import { Client, escapeIdentifier } from 'pg';
import { databaseUrl, query } from '../support/database';
import { packedLibrary } from '../support/packed-library';
import { waitFor } from '../support/wait-for';

/**
 * The first hour of a NestJS developer, as the README's guide tells it: an app
 * laid out as `nest new` (Nest 11) lays it out, with its tsconfig.json (and
 * the same with `strict`), its Jest e2e setup, the packages of the guide's
 * Nest 11 install line, and every file the guide shows, taken from the
 * README's own text. It must compile, start and serve, and its Jest test must
 * pass against PostgreSQL: a guide that stops working fails here.
 *
 * The library comes packed (support/packed-library.ts, shared with
 * package.e2e-spec.ts); the other packages at this repository's versions, from
 * the npm cache (the registry for what it lacks), but for `typeorm`: the
 * Nest 11 line resolves it to 1.x, pinned to compat/nest12's (the version the
 * Nest 12 leg runs). The app gets a database of its own.
 */
const run = promisify(execFile);
const REPO_ROOT = resolve(__dirname, '..', '..');
const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const STEP_MS = 300_000;

/** `tsconfig.json` as `nest new` writes it (@nestjs/schematics 11.1, not strict). */
const NEST_NEW_TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    resolvePackageJsonExports: true,
    esModuleInterop: true,
    isolatedModules: true,
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2023',
    sourceMap: true,
    outDir: './dist',
    baseUrl: './',
    incremental: true,
    skipLibCheck: true,
    strictNullChecks: true,
    forceConsistentCasingInFileNames: true,
    noImplicitAny: false,
    strictBindCallApply: false,
    noFallthroughCasesInSwitch: false,
  },
};
/** `tsconfig.build.json`, `test/jest-e2e.json` and package.json's `jest`, as `nest new` writes them. */
const NEST_NEW_TSCONFIG_BUILD = {
  extends: './tsconfig.json',
  exclude: ['node_modules', 'test', 'dist', '**/*spec.ts'],
};
const NEST_NEW_JEST_E2E = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  testEnvironment: 'node',
  testRegex: '.e2e-spec.ts$',
  transform: { '^.+\\.(t|j)s$': 'ts-jest' },
};
/** What `nest new` installs, besides what the guide adds. */
const NEST_NEW_DEPENDENCIES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  'reflect-metadata',
  'rxjs',
];
const NEST_NEW_DEV_DEPENDENCIES = [
  '@nestjs/testing',
  '@types/jest',
  '@types/node',
  'jest',
  'ts-jest',
  'typescript',
];

function installedVersion(name: string): string {
  const manifest = JSON.parse(
    readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string };
  return manifest.version;
}

/** The typeorm 1.x that the Nest 12 leg (compat/nest12) runs. */
function typeorm1Version(): string {
  const lock = JSON.parse(
    readFileSync(
      join(REPO_ROOT, 'compat', 'nest12', 'package-lock.json'),
      'utf8',
    ),
  ) as { packages: Record<string, { version: string }> };
  return lock.packages['node_modules/typeorm']!.version;
}

/** The guide's files: each ```ts block whose first line is `// <path>`. */
function guideFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [, code] of README.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const path = /^\/\/ ((?:src|test)\/[\w./-]+\.ts)\n/.exec(code!)?.[1];
    if (path) {
      files.set(path, code!.slice(code!.indexOf('\n') + 1));
    }
  }
  return files;
}

/** The packages of the guide's install line for a Nest major: `name` → range given. */
function installLine(major: number): Map<string, string> {
  const lines = README.split('\n');
  const comment = lines.findIndex((line) =>
    new RegExp(`^# Nest ${major}\\b`).test(line),
  );
  const line = lines[comment + 1] ?? '';
  expect(line).toMatch(/^npm install /);
  return new Map(
    line
      .replace(/^npm install /, '')
      .split(/\s+/)
      .map((spec) => {
        const at = spec.lastIndexOf('@');
        return at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, ''];
      }),
  );
}

/** Runs a child to its end; rejects with its output when it fails. */
async function succeed(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, {
      maxBuffer: 32 * 1024 * 1024,
      timeout: STEP_MS / 2,
      ...options,
    });
  } catch (err) {
    const { stdout, stderr, message } = err as {
      stdout?: string;
      stderr?: string;
      message: string;
    };
    throw new Error(
      `${[file, ...args].join(' ')} failed: ${message}\n${stdout ?? ''}\n${stderr ?? ''}`,
      { cause: err },
    );
  }
}

/** The environment of the app's processes: this one's, without Jest's own variables. */
function appEnv(url: string): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('JEST')),
    ),
    DATABASE_URL: url,
    NO_COLOR: '1',
    NODE_ENV: 'test',
  };
}

describe('the first hour: an app built from the guide', () => {
  let work: string;
  let database: string;
  let server: ChildProcess | undefined;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'underway-first-hour-'));
    database = `first_hour_${Date.now().toString(36)}_${process.pid}`;
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    await query(
      `drop database if exists ${escapeIdentifier(database)} with (force)`,
    );
  });

  it('keeps the nest new tsconfig of the type tests (test/types/tsconfig.nest-new.json) the one this test builds with', () => {
    const path = join(REPO_ROOT, 'test', 'types', 'tsconfig.nest-new.json');
    const { config } = ts.parseConfigFileTextToJson(
      path,
      readFileSync(path, 'utf8'),
    ) as { config: { compilerOptions: Record<string, unknown> } };
    // This repository's own: a check without output, the package from its sources.
    const { noEmit, incremental, baseUrl, paths, ...options } =
      config.compilerOptions;
    expect({ noEmit, incremental, baseUrl }).toEqual({
      noEmit: true,
      incremental: false,
      baseUrl: '../..',
    });
    expect(paths).toEqual({
      '@underway/nestjs': ['libs/underway/src'],
      '@underway/nestjs/testing': ['libs/underway/src/testing'],
    });
    const template: Record<string, unknown> = {
      ...NEST_NEW_TSCONFIG.compilerOptions,
    };
    delete template.incremental;
    delete template.baseUrl;
    expect(options).toEqual(template);
  });

  it(
    'compiles (nest new tsconfig, and with strict), serves, runs the workflow and passes its Jest e2e test',
    async () => {
      // 1. The guide: its Nest 11 install line and its files.
      const install = installLine(11);
      expect([...install.keys()]).toEqual([
        '@underway/nestjs',
        '@nestjs/typeorm',
        'typeorm',
        'pg',
      ]);
      expect(install.get('@nestjs/typeorm')).toBe('^11');
      expect(installedVersion('@nestjs/typeorm')).toMatch(/^11\./);
      const files = guideFiles();
      expect([...files.keys()].sort()).toEqual([
        'src/app.module.ts',
        'src/invoices/charge-invoice.workflow.ts',
        'src/invoices/invoice.entity.ts',
        'src/invoices/invoices.controller.ts',
        'src/invoices/invoices.module.ts',
        'src/invoices/invoices.service.ts',
        'src/invoices/payments.service.ts',
        'src/main.ts',
        'test/invoices.e2e-spec.ts',
      ]);

      // 2. The app: nest new's layout, the guide's packages and files.
      const tarball = await packedLibrary();
      const app = join(work, 'app');
      mkdirSync(app);
      const versions: Record<string, string> = {
        '@underway/nestjs': `file:${tarball}`,
        '@nestjs/typeorm': installedVersion('@nestjs/typeorm'),
        typeorm: typeorm1Version(),
        pg: installedVersion('pg'),
      };
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify(
          {
            name: 'invoices',
            private: true,
            scripts: {
              build: 'tsc -p tsconfig.build.json',
              'start:prod': 'node dist/main',
              'test:e2e': 'jest --config ./test/jest-e2e.json',
            },
            dependencies: {
              ...Object.fromEntries(
                NEST_NEW_DEPENDENCIES.map((name) => [
                  name,
                  installedVersion(name),
                ]),
              ),
              ...Object.fromEntries(
                [...install.keys()].map((name) => [name, versions[name]!]),
              ),
            },
            devDependencies: Object.fromEntries(
              NEST_NEW_DEV_DEPENDENCIES.map((name) => [
                name,
                installedVersion(name),
              ]),
            ),
          },
          null,
          2,
        ),
      );
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify(NEST_NEW_TSCONFIG, null, 2),
      );
      writeFileSync(
        join(app, 'tsconfig.strict.json'),
        JSON.stringify({
          extends: './tsconfig.json',
          compilerOptions: { strict: true, noEmit: true, incremental: false },
        }),
      );
      writeFileSync(
        join(app, 'tsconfig.build.json'),
        JSON.stringify(NEST_NEW_TSCONFIG_BUILD, null, 2),
      );
      mkdirSync(join(app, 'test'));
      writeFileSync(
        join(app, 'test', 'jest-e2e.json'),
        JSON.stringify(NEST_NEW_JEST_E2E, null, 2),
      );
      for (const [path, code] of files) {
        mkdirSync(dirname(join(app, path)), { recursive: true });
        writeFileSync(join(app, path), code);
      }
      await succeed(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
        ],
        { cwd: app },
      );
      const typeormInstalled = JSON.parse(
        readFileSync(
          join(app, 'node_modules', 'typeorm', 'package.json'),
          'utf8',
        ),
      ) as { version: string };
      expect(typeormInstalled.version).toMatch(/^1\./);

      // 3. Compiles: nest new's tsconfig, then with strict; then builds.
      const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
      for (const project of ['tsconfig.json', 'tsconfig.strict.json']) {
        const checked = await succeed(
          process.execPath,
          [tsc, '-p', project, '--noEmit'],
          { cwd: app },
        );
        expect({ project, output: checked.stdout }).toEqual({
          project,
          output: '',
        });
      }
      await succeed(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
        cwd: app,
      });

      // 4. Serves: POST an invoice, and it is paid a moment later.
      await query(`create database ${escapeIdentifier(database)}`);
      const url = new URL(databaseUrl());
      url.pathname = `/${database}`;
      let output = '';
      server = spawn(process.execPath, [join('dist', 'main.js')], {
        cwd: app,
        env: { ...appEnv(url.toString()), PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout!.on('data', (chunk: Buffer) => (output += String(chunk)));
      server.stderr!.on('data', (chunk: Buffer) => (output += String(chunk)));
      const exited = new Promise<{
        code: number | null;
        signal: NodeJS.Signals | null;
      }>((done) =>
        server!.on('exit', (code, signal) => done({ code, signal })),
      );
      const base = await waitFor(
        () => /Listening on (http:\/\/\S+)/.exec(output)?.[1],
        { timeoutMs: 60_000, intervalMs: 50, message: 'the app to listen' },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      });
      const created = await fetch(`${base}/invoices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customer: 'ada', cents: 4200 }),
      });
      expect(created.status).toBe(201);
      const { id, runId } = (await created.json()) as {
        id: number;
        runId: string;
      };
      expect(runId).toMatch(/^[0-9a-f-]{36}$/);
      const paid = await waitFor(
        async () => {
          const invoice = (await (
            await fetch(`${base}/invoices/${id}`)
          ).json()) as { status: string; receipt: string | null };
          return invoice.status === 'paid' ? invoice : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'the invoice paid' },
      );
      expect(paid).toMatchObject({ receipt: 'ch_ada_4200' });
      const appDatabase = new Client({ connectionString: url.toString() });
      await appDatabase.connect();
      try {
        const { rows } = await appDatabase.query<{ state: string }>(
          'select state from underway.workflow_run where id = $1',
          [runId],
        );
        expect(rows).toEqual([{ state: 'succeeded' }]);
      } finally {
        await appDatabase.end();
      }
      // SIGTERM: enableShutdownHooks() closes the app (the worker drains),
      // then Nest raises the signal again, so the process ends by it.
      server.kill('SIGTERM');
      expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect(output).toMatch(/\[WorkerService\] Worker stopped/);
      server = undefined;

      // 5. Its Jest e2e test passes, as `npm run test:e2e` runs it.
      const jest = await succeed(
        process.execPath,
        [
          join(app, 'node_modules', 'jest', 'bin', 'jest.js'),
          '--config',
          './test/jest-e2e.json',
          '--ci',
        ],
        { cwd: app, env: appEnv(url.toString()) },
      );
      expect(jest.stderr).toMatch(/Tests:\s+3 passed, 3 total/);
    },
    STEP_MS,
  );
});
