import { terminalCell } from './terminal-text';

/** A cell: what `String()` prints; `null` and `undefined` print as `-`. */
export type Cell = string | number | boolean | Date | null | undefined;

/**
 * Columns padded to their widest cell, under a header, for people; one line
 * per row. `(none)` when there are no rows.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
): string {
  if (rows.length === 0) {
    return '(none)\n';
  }
  const text = rows.map((row) => row.map(cellText));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...text.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...text.map(line)].join('\n')}\n`;
}

/** `key: value` lines, keys aligned, for one record. */
export function formatRecord(
  entries: readonly (readonly [string, Cell])[],
): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  return `${entries.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${cellText(value)}`).join('\n')}\n`;
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) {
    return '-';
  }
  if (cell instanceof Date) {
    return cell.toISOString();
  }
  // One line per row: a value with a newline (an error message) stays on its
  // row; any other control character is shown as an escape (`\x1b`, `\r`).
  return terminalCell(String(cell).replace(/\s*\n\s*/g, ' '));
}

/** `1.2s`, `3m04s`, `2h05m`: an age for a table. */
export function formatAge(ms: number): string {
  if (ms < 1_000) {
    return `${Math.round(ms)}ms`;
  }
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 60) {
    return `${(ms / 1_000).toFixed(1)}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * A step as the CLI can name it: its index (0-based, in declaration order),
 * and its method's name where the run's details carry it. The CLI has no
 * workflow code, so that is only where the database records it.
 */
export function stepLabel(index: number, name: string | null): string {
  return name === null ? String(index) : `${index} (${name})`;
}
