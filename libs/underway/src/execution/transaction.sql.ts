import { sql, SqlQuery } from '../database/sql';

/**
 * Cancels the query a backend of the app's pool is running for an abandoned
 * transactional attempt (sent on the library's own pool; the attempt still
 * holds that connection, so the pid cannot be another request's yet).
 */
export function cancelBackend(pid: number): SqlQuery {
  return sql`select pg_cancel_backend(${pid}::int)`;
}

export interface OpenedTransactionRow {
  /** The transaction's id, assigned now (64 bits, as text). */
  xact: string;
  pid: number;
}

/**
 * Sent first in a transactional attempt's transaction: its id (assigned
 * now, so that it can be told apart from any later transaction on the same
 * connection) and its backend.
 */
export function openedTransaction(): SqlQuery {
  return sql`select pg_current_xact_id()::text as xact, pg_backend_pid() as pid`;
}

export interface CurrentTransactionRow {
  /** `null` outside a transaction, or in one that has no id yet. */
  xact: string | null;
}

/**
 * Sent before a transactional attempt's outcome: the id of the transaction
 * the connection is in now (without assigning one), to compare with the
 * attempt's. Fails (SQLSTATE 25P02) when the transaction is aborted.
 */
export function currentTransaction(): SqlQuery {
  return sql`select pg_current_xact_id_if_assigned()::text as xact`;
}

/**
 * Ends whatever transaction the connection is in (a warning, not an error,
 * when there is none), before it goes back to the pool.
 */
export function rollbackAny(): SqlQuery {
  return sql`rollback`;
}
