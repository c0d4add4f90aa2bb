import { fragment, SqlFragment } from '../database/sql';

/** How much of a payload a page reads: characters, and the largest stored size read at all. */
export interface PayloadRead {
  readonly chars: number;
  readonly maxStoredBytes: number;
}

/**
 * The first `chars + 1` characters of a jsonb column's text (one more: to
 * know it was cut), when its stored size is at most `maxStoredBytes`; else
 * null, as when `read` is null (`showPayloads: false`). PostgreSQL writes
 * a jsonb value out whole before cutting it: a value too big to show is not
 * written out at all.
 */
export function payloadText(
  column: SqlFragment,
  read: PayloadRead | null,
): SqlFragment {
  if (read === null) {
    return fragment`null::text`;
  }
  return fragment`case when pg_column_size(${column}) <= ${read.maxStoredBytes}::int
    then left(${column}::text, ${read.chars + 1}::int) end`;
}

/** A jsonb column's stored size in bytes (compressed, as PostgreSQL keeps it); null without `read`. */
export function payloadBytes(
  column: SqlFragment,
  read: PayloadRead | null,
): SqlFragment {
  return read === null
    ? fragment`null::int`
    : fragment`pg_column_size(${column})`;
}
