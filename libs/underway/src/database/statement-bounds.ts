import type { ConnectionRole } from './connection-role';

/**
 * How long a statement on one of the library's connections may take, on each
 * side of the wire. PostgreSQL cancels a statement that runs past `serverMs`
 * (57014, the connection stays usable) and ends a transaction left idle that
 * long (its locks released); the client gives up on an answer after
 * `clientMs` and drops the connection. The client waits longer than the
 * server, so that the server's own cancel arrives first whenever the server
 * can still answer: only a connection that stops answering altogether (a
 * half-open TCP connection) is dropped by the client.
 */
export interface StatementBounds {
  readonly serverMs: number;
  readonly clientMs: number;
}

/** Retention deletes batches of finished runs: more room than a claim. */
const MAINTENANCE_FACTOR = 3;

/** The bounds of the connections of `role`, from `connections.statementTimeout`. */
export function statementBounds(
  role: ConnectionRole,
  statementTimeoutMs: number,
): StatementBounds {
  const serverMs =
    role === 'maintenance'
      ? statementTimeoutMs * MAINTENANCE_FACTOR
      : statementTimeoutMs;
  return { serverMs, clientMs: serverMs + clientGraceMs(serverMs) };
}

/** Time for the server's cancel to reach the client: half the bound, 250 ms to 5 s. */
function clientGraceMs(serverMs: number): number {
  return Math.min(5_000, Math.max(250, Math.round(serverMs / 2)));
}

/** The startup parameters that set the server's side of `bounds`. */
export function serverSettings(bounds: StatementBounds): string {
  return (
    `-c statement_timeout=${bounds.serverMs} ` +
    `-c idle_in_transaction_session_timeout=${bounds.serverMs}`
  );
}
