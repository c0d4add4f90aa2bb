import { EmbeddedPostgresError } from '../../scripts/embedded-postgres';
import { startEmbeddedPostgres } from './embedded-postgres';

/**
 * Uses DATABASE_URL when set; otherwise starts an embedded PostgreSQL for the
 * whole run, so a fresh machine needs nothing but Node.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    return;
  }
  let cluster;
  try {
    cluster = await startEmbeddedPostgres();
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) {
      // Its message says what happened and what to do: Jest prints the
      // stack, and a stack would only bury that line.
      err.stack = `${err.name}: ${err.message}`;
    }
    throw err;
  }
  process.env.DATABASE_URL = cluster.url;
  (globalThis as { __UNDERWAY_PG__?: unknown }).__UNDERWAY_PG__ = cluster;
  console.log(
    `\nStarted an embedded PostgreSQL for the tests on port ${cluster.port}`,
  );
}
