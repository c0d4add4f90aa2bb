/*
 * Keyset pagination for the dashboard's lists (schedules, dead-letter
 * queues): a page is the rows after (or before) the key of a row of the page
 * next to it, read through an index whatever the page's depth.
 */

/** Where a page starts. */
export type PageCursor<K> =
  | { readonly kind: 'first' }
  | { readonly kind: 'after'; readonly key: K }
  | { readonly kind: 'before'; readonly key: K }
  | { readonly kind: 'last' };

/** Whether a cursor reads the rows in descending key order (then reversed). */
export function readsBackwards(cursor: PageCursor<unknown>): boolean {
  return cursor.kind === 'before' || cursor.kind === 'last';
}

/** A page in ascending order, and whether pages lie before and after it. */
export interface KeysetPage<R> {
  readonly rows: readonly R[];
  readonly hasPrevious: boolean;
  readonly hasNext: boolean;
}

/**
 * The page from `rows`, read with `size + 1` as the limit in the cursor's
 * direction (the extra row says there is more that way).
 */
export function keysetPage<R>(
  rows: readonly R[],
  cursor: PageCursor<unknown>,
  size: number,
): KeysetPage<R> {
  const more = rows.length > size;
  const page = rows.slice(0, size);
  switch (cursor.kind) {
    case 'first':
      return { rows: page, hasPrevious: false, hasNext: more };
    case 'after':
      return { rows: page, hasPrevious: true, hasNext: more };
    case 'before':
      return { rows: page.reverse(), hasPrevious: more, hasNext: true };
    case 'last':
      return { rows: page.reverse(), hasPrevious: more, hasNext: false };
  }
}

/** A query parameter given once, as text. */
export function textParam(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
