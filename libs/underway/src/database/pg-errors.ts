/**
 * The one place that knows SQLSTATEs and socket error codes, and decides which
 * database errors are transient (worth retrying after a pause).
 */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_UNDEFINED_TABLE = '42P01';
export const PG_INVALID_SCHEMA_NAME = '3F000';
export const PG_IN_FAILED_TRANSACTION = '25P02';

const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown (pg_terminate_backend, server restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
  '57014', // query_canceled (statement_timeout: see statement-bounds.ts)
  '25P03', // idle_in_transaction_session_timeout
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** pg's error when `query_timeout` passes without an answer from the server. */
const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'timeout exceeded when trying to connect',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end',
  QUERY_TIMEOUT_MESSAGE,
];

/** The SQLSTATE (or Node socket code) of an error from `pg` or TypeORM. */
export function pgErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) {
    return undefined;
  }
  const driverError = (err as { driverError?: unknown }).driverError;
  const source =
    typeof driverError === 'object' && driverError !== null ? driverError : err;
  const code = (source as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True when retrying the same statement later may succeed. */
export function isTransientPgError(err: unknown): boolean {
  const code = pgErrorCode(err);
  if (code !== undefined && TRANSIENT_CODES.has(code)) {
    return true;
  }
  const message = err instanceof Error ? err.message : '';
  return TRANSIENT_MESSAGES.some((m) => message.includes(m));
}

/**
 * True when the client gave up waiting for an answer (`query_timeout`): the
 * connection may be half-open, so it is dropped rather than reused, and
 * nothing more (not even a rollback) is sent on it.
 */
export function isQueryTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === QUERY_TIMEOUT_MESSAGE;
}

export function isUniqueViolation(err: unknown): boolean {
  return pgErrorCode(err) === PG_UNIQUE_VIOLATION;
}

export function isUndefinedTable(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code === PG_UNDEFINED_TABLE || code === PG_INVALID_SCHEMA_NAME;
}

/**
 * True when a statement was refused because an earlier one failed in the
 * same transaction (`current transaction is aborted…`, 25P02).
 */
export function isInFailedTransaction(err: unknown): boolean {
  return pgErrorCode(err) === PG_IN_FAILED_TRANSACTION;
}

/**
 * True when the server answered a statement with an error of its own (a
 * SQLSTATE that is not transient): the statement did not take effect, and
 * the connection is fine.
 */
export function isDefiniteServerError(err: unknown): boolean {
  const code = pgErrorCode(err);
  return (
    code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !isTransientPgError(err)
  );
}
