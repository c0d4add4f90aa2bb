import { hostname } from 'node:os';
import { Pool } from 'pg';
import { LATEST_SCHEMA_VERSION } from '../../../../migrations';
import { applicationName } from '../database/connection-role';
import { PoolExecutor, SqlExecutor } from '../database/sql-executor';
import { parseSchema, Schema } from '../database/sql';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { SchemaVersionError } from '../errors/schema-version.error';
import { usageError } from './cli.error';
import { schemaExists, schemaVersion, underwaySchemas } from './cli.sql';

const CONNECT_TIMEOUT_MS = 10_000;

/** The CLI's connection to `DATABASE_URL`, in one schema. */
export interface CliDatabase {
  readonly schema: Schema;
  readonly pool: Pool;
  readonly executor: SqlExecutor;
  /** The schema's version (0: not migrated). */
  version(): Promise<number>;
  /** @throws CliError (exit 2) unless the schema is at this library's version */
  assertMigrated(): Promise<void>;
  close(): Promise<void>;
}

/** `--schema`, checked as the module checks its `schema` option. */
export function cliSchema(name: string): Schema {
  try {
    return parseSchema(name, '--schema');
  } catch (err) {
    if (err instanceof InvalidOptionsError) {
      throw usageError(err.message);
    }
    throw err;
  }
}

/**
 * Connects to `DATABASE_URL` (once, to fail fast with a clear line), on a
 * small pool of its own (`application_name` `underway:cli@<host>:<pid>:exec`).
 *
 * @throws CliError (exit 2) when the URL is missing or malformed, or the
 *   database cannot be reached (the message never shows the password)
 */
export async function openDatabase(
  url: string | undefined,
  schema: Schema,
): Promise<CliDatabase> {
  const where = describeUrl(url);
  const pool = new Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: applicationName(
      `cli@${hostname()}:${process.pid}`,
      'exec',
    ),
    // Every statement is schema-qualified, as on the library's own connections.
    options: '-c search_path=pg_catalog',
  });
  pool.on('error', () => undefined); // an idle connection lost: the next statement says so
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw usageError(
      `Cannot connect to the database at ${where}: ${(err as Error).message || String(err)}`,
    );
  }
  const executor = new PoolExecutor(pool);
  const version = () => schemaVersion(executor, schema);
  return {
    schema,
    pool,
    executor,
    version,
    async assertMigrated() {
      const current = await version();
      if (current === 0) {
        throw usageError(await notMigrated(executor, schema));
      }
      if (current !== LATEST_SCHEMA_VERSION) {
        const error = new SchemaVersionError(
          schema,
          current,
          LATEST_SCHEMA_VERSION,
        );
        throw usageError(
          current < LATEST_SCHEMA_VERSION
            ? `${error.message.replace(/ Apply .*$/, '')} Run: underway migrate --schema ${schema}`
            : error.message,
        );
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Why `schema` has no Underway tables, and what to do. `migrate` is advised
 * only after the schemas that do hold Underway's tables: on a production
 * database, `--schema` is far more often missing (the default, `underway`,
 * where the app uses another) than the tables, and migrating there would
 * create an empty schema beside the real one.
 */
async function notMigrated(
  executor: SqlExecutor,
  schema: Schema,
): Promise<string> {
  const [exists, found] = await Promise.all([
    schemaExists(executor, schema),
    underwaySchemas(executor),
  ]);
  const what = exists
    ? `Schema "${schema}" holds no Underway tables (not migrated: this library needs version ${LATEST_SCHEMA_VERSION}).`
    : `Schema "${schema}" does not exist in this database.`;
  const elsewhere =
    found.length === 0
      ? " No schema of this database holds Underway's tables."
      : ` Underway's tables are in ${found.length === 1 ? 'schema' : 'schemas'} ${found
          .map((name) => `"${name}"`)
          .join(
            ', ',
          )}: pass --schema ${found.length === 1 ? found[0] : '<name>'} (or set UNDERWAY_SCHEMA).`;
  const create = ` To create them in "${schema}": underway migrate --schema ${schema}`;
  return `${what}${elsewhere}${create}`;
}

/**
 * `host:port/database` of a PostgreSQL URL, for messages (no user, no
 * password).
 * @throws CliError (exit 2) when it is missing or not a `postgres://` URL
 */
function describeUrl(url: string | undefined): string {
  const example = 'postgres://user:password@host:5432/database';
  if (!url) {
    throw usageError(
      `DATABASE_URL is not set: set it to the database to operate on (${example})`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: it may hold a password.
    throw usageError(`DATABASE_URL is not a valid URL; expected ${example}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw usageError(
      `DATABASE_URL must be a postgres:// URL (${example}), got a ${parsed.protocol}// one`,
    );
  }
  return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname || '/'}`;
}
