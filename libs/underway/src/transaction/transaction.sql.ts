import { sql, SqlQuery } from '../database/sql';

/**
 * Cancels the query a backend of the app's pool is running for an abandoned
 * transactional attempt (sent on the library's own pool; the attempt still
 * holds that connection, so the pid cannot be another request's yet).
 */
export function cancelBackend(pid: number): SqlQuery {
  return sql`select pg_cancel_backend(${pid}::int)`;
}
