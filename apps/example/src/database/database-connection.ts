import { resolve } from 'node:path';
import { Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  EmbeddedPostgresServer,
  startEmbeddedPostgres,
} from './embedded-postgres';

const EMBEDDED_DATABASE = 'underway_example';
const EMBEDDED_PORT = 54329;

/**
 * The app's PostgreSQL: `DATABASE_URL` when set, otherwise an embedded server
 * (data in `.data/postgres`, port 54329 or `EXAMPLE_PG_PORT`) that this
 * provider starts and, at shutdown, stops.
 */
export class DatabaseConnection implements OnApplicationShutdown {
  private constructor(
    readonly url: string,
    private readonly embedded: EmbeddedPostgresServer | undefined,
  ) {}

  private static opened: Promise<DatabaseConnection> | undefined;

  /**
   * Once per process: `main.ts` opens it before Nest starts (so that an
   * embedded server that cannot start is reported on one line, not through
   * Nest's exception handler), and `DatabaseModule` gets the same connection.
   *
   * @throws EmbeddedPostgresError
   */
  static open(): Promise<DatabaseConnection> {
    DatabaseConnection.opened ??= DatabaseConnection.connect(process.env);
    return DatabaseConnection.opened;
  }

  private static async connect(
    env: NodeJS.ProcessEnv,
  ): Promise<DatabaseConnection> {
    if (env.DATABASE_URL) {
      return new DatabaseConnection(env.DATABASE_URL, undefined);
    }
    const server = await startEmbeddedPostgres({
      dataDir: resolve(process.cwd(), '.data', 'postgres'),
      port: parsePort(env.EXAMPLE_PG_PORT) ?? EMBEDDED_PORT,
      database: EMBEDDED_DATABASE,
      onStoppedFromOutside: () => {
        // Nothing left to drain into: exit now rather than wait out the
        // shutdown timeout. Steps in flight run again at the next start, once
        // their lease lapses (`defaults.heartbeat` in AppModule).
        new Logger(DatabaseConnection.name).warn(
          'The embedded PostgreSQL was stopped (Ctrl-C reaches it too): exiting now. ' +
            'Start the app again: unfinished runs go on once their lease lapses.',
        );
        process.exit(130);
      },
    });
    return new DatabaseConnection(server.url, server);
  }

  /**
   * Runs after the app's TypeORM DataSource and Underway's pools are closed:
   * `DatabaseModule` is global and imported first, so Nest calls its shutdown
   * hook after theirs.
   */
  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) {
      return;
    }
    await this.embedded.stop();
  }
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`EXAMPLE_PG_PORT must be a port number, got "${value}"`);
  }
  return port;
}
