import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  initCluster,
  locatePostgres,
  PostgresProcess,
  startServer,
} from '../../scripts/embedded-postgres';
import { freePort } from '../support/free-port';

/** The PostgreSQL of a test run without DATABASE_URL (global setup). */
export interface EmbeddedCluster {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
}

/**
 * A throwaway cluster on a free port, with trust authentication on 127.0.0.1
 * and a `database` created in it. @throws EmbeddedPostgresError
 */
export async function startEmbeddedPostgres(
  database = 'test',
): Promise<EmbeddedCluster> {
  const installation = locatePostgres();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'underway-pg-'));
  let server: PostgresProcess | undefined;
  try {
    await initCluster(installation, dataDir);
    server = await startServer(installation, dataDir, {
      port,
      settings: { fsync: 'off' },
    });
    const client = new Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
    });
    await client.connect();
    await client.query(`create database "${database}"`);
    await client.end();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      port,
      dataDir,
      destroy: async () => {
        await server?.stop('fast');
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.stop('immediate');
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
