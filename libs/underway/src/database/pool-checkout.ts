import type { Pool, PoolClient } from 'pg';
import { isQueryTimeout } from './pg-errors';

/**
 * Checking out the library's connections, with what a statement that got no
 * answer says about the others.
 *
 * A statement that gets no answer in time (pg's `query_timeout`: see
 * `statement-bounds.ts`) makes every idle connection of its pool suspect: a
 * network partition or a dropped NAT entry leaves them all half-open, and
 * finding that out one timeout at a time would stall the worker for the pool
 * size times the timeout. So a connection that has not answered since its
 * pool's last unanswered statement is dropped at checkout rather than used,
 * and a new one is opened in its place.
 */
const unansweredAt = new WeakMap<Pool, number>();
const answeredAt = new WeakMap<PoolClient, number>();

/** A connection of `pool` that has answered since the pool's last timeout (or is new). */
export async function checkout(pool: Pool): Promise<PoolClient> {
  for (;;) {
    const client = await pool.connect();
    const suspectSince = unansweredAt.get(pool);
    const lastAnswer = answeredAt.get(client);
    if (
      suspectSince === undefined ||
      lastAnswer === undefined ||
      lastAnswer > suspectSince
    ) {
      return client;
    }
    drop(
      client,
      new Error('not used since a statement of its pool got no answer'),
    );
  }
}

/**
 * Gives `client` back after a statement: kept when it answered, dropped when
 * it failed (as `pool.query` does), and every idle connection of `pool` made
 * suspect when it did not answer at all.
 */
export function giveBack(pool: Pool, client: PoolClient, err?: unknown): void {
  if (err === undefined) {
    answeredAt.set(client, Date.now());
    client.release();
    return;
  }
  if (isQueryTimeout(err)) {
    unansweredAt.set(pool, Date.now());
  }
  drop(client, err instanceof Error ? err : new Error('statement failed'));
}

/** Discards a connection, its socket closed now: a half-open one never ends by itself. */
function drop(client: PoolClient, err: Error): void {
  client.release(err);
  (
    client as unknown as { connection?: { stream?: { destroy(): void } } }
  ).connection?.stream?.destroy();
}
