/** How the dashboard writes times and durations: UTC, to the second. */

/** `2026-12-01 10:00:00Z`, or `''` for none. */
export function formatTime(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) {
    return '';
  }
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `850 ms`, `12.3 s`, `4 min 5 s`, `3 h 2 min`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '';
  }
  if (ms < 1_000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  }
  const s = Math.floor(ms / 1_000);
  if (s < 3_600) {
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  if (s < 86_400) {
    return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
  }
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3_600)} h`;
}

/** The time between two instants, `''` when either is missing. */
export function between(
  start: Date | string | null | undefined,
  end: Date | string | null | undefined,
): string {
  if (!start || !end) {
    return '';
  }
  return formatDuration(new Date(end).getTime() - new Date(start).getTime());
}

/** A run id, shortened for tables (its random tail: the head is a time). */
export function shortId(id: string): string {
  return id.slice(-12);
}

/**
 * `text` cut to `max` characters (never inside a surrogate pair), ending
 * with `…`: a long value from the database keeps a page small.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) {
    end -= 1;
  }
  return `${text.slice(0, end)}…`;
}

/** `12,345` */
export function formatCount(n: number): string {
  return n.toLocaleString('en');
}
