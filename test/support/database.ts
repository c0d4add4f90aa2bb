import { Pool } from 'pg';

let pool: Pool | undefined;

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'DATABASE_URL is not set: the global setup should have set it',
    );
  }
  return url;
}

/** A plain pg pool for assertions and fixtures (shared per test file). */
export function testPool(): Pool {
  if (!pool) {
    pool = new Pool({
      connectionString: databaseUrl(),
      max: 4,
      application_name: 'underway-tests',
      idleTimeoutMillis: 0, // no idle timers: the leak test counts timers
    });
    pool.on('error', () => undefined);
  }
  return pool;
}

export async function query<R extends object = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const result = await testPool().query<R>(text, values);
  return result.rows;
}

export async function closeTestPool(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.end();
}

/** How many connections the library holds open for `instanceName` (any role). */
export async function libraryConnections(
  instanceName: string,
): Promise<number> {
  const rows = await query(
    `select 1 from pg_stat_activity where application_name like $1`,
    [`underway:${instanceName}:%`],
  );
  return rows.length;
}
