import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  initCluster,
  locatePostgres,
  PostgresProcess,
  startServer,
} from '../../scripts/embedded-postgres';
import { freePort } from './free-port';

/**
 * A throwaway PostgreSQL cluster of its own, on a free port, that a test may
 * stop, restart or start late (fault scenarios 5 and 6). Never the shared
 * server of DATABASE_URL.
 *
 * Runs the binaries of `@embedded-postgres/<platform>-<arch>` through
 * `scripts/embedded-postgres.ts` (as root, as the `postgres` OS user).
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

const clusters = new Set<PgCluster>();

/**
 * Creates a cluster (initdb) on a free port, without starting it: call
 * `start()`. Destroyed by `destroyClusters()` if the test does not.
 */
export async function createPgCluster(): Promise<PgCluster> {
  const installation = locatePostgres();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'underway-faults-pg-'));
  await initCluster(installation, dataDir);

  let server: PostgresProcess | undefined;
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
      const started = await startServer(installation, dataDir, {
        port,
        settings: {
          max_connections: 200,
          fsync: 'off',
          synchronous_commit: 'off',
          full_page_writes: 'off',
        },
      });
      server = started;
      void started.exited.then(() => {
        if (server === started) {
          server = undefined;
        }
      });
    },
    async stop(mode = 'fast') {
      await server?.stop(mode);
      server = undefined;
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
