import { isUuid } from '../common/uuid';
import type { RunsPageQuery } from './dashboard.sql';

/** Runs shown per page of the runs list. */
export const RUNS_PAGE_SIZE = 50;

/**
 * How many runs a page walks, at most, when its filters are not served by an
 * index (a workflow, a final state): about 10 ms on the reference machine,
 * whatever the table's size. A filter matching fewer runs than that shows
 * what it found there, and a link to go on walking.
 */
export const RUNS_SCAN_WINDOW = 10_000;

/** States whose runs are few and indexed (the claim and lease indexes). */
const ACTIVE_STATES = new Set(['pending', 'running', 'waiting']);
export const RUN_STATES = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;

/** The runs list's filters, as the page's form (and its links) carry them. */
export interface RunsFilter {
  readonly workflow: string | undefined;
  readonly state: string | undefined;
  /** `YYYY-MM-DDTHH:MM[:SS]`, UTC, as typed (`from` inclusive, `to` exclusive). */
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

export interface ParsedRunsFilter {
  readonly filter: RunsFilter;
  readonly query: RunsPageQuery;
  /** What was ignored, and why, to show above the list. */
  readonly problems: readonly string[];
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?Z?$/;

/** A `from`/`to` value as UTC milliseconds, or `undefined` when malformed. */
export function parseUtcTime(value: string): number | undefined {
  const m = TIME.exec(value.trim());
  if (!m) {
    return undefined;
  }
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  const ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
  );
  return Number.isFinite(ms) && ms >= 0 && ms < 2 ** 48 ? ms : undefined;
}

/**
 * The smallest UUIDv7 of millisecond `ms`: every run enqueued at `ms` or
 * later has an id at least this, every earlier one an id below it.
 */
export function uuidv7Floor(ms: number): string {
  const hex = Math.floor(ms).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

function text(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.trim() !== ''
    ? first.trim()
    : undefined;
}

/** Reads the runs list's query string; bad values are dropped and reported. */
export function parseRunsFilter(
  params: Record<string, unknown>,
): ParsedRunsFilter {
  const problems: string[] = [];
  const workflow = text(params.workflow);
  let state = text(params.state);
  if (
    state !== undefined &&
    !(RUN_STATES as readonly string[]).includes(state)
  ) {
    problems.push(`Unknown state "${state}": showing every state.`);
    state = undefined;
  }
  const time = (
    name: 'from' | 'to',
  ): [string | undefined, string | undefined] => {
    const value = text(params[name]);
    if (value === undefined) {
      return [undefined, undefined];
    }
    const ms = parseUtcTime(value);
    if (ms === undefined) {
      problems.push(
        `"${value}" is not a time (YYYY-MM-DDTHH:MM, UTC): "${name}" ignored.`,
      );
      return [undefined, undefined];
    }
    return [value, uuidv7Floor(ms)];
  };
  const [from, fromId] = time('from');
  const [to, toId] = time('to');
  const cursor = (name: 'before' | 'after'): string | undefined => {
    const value = text(params[name]);
    if (value !== undefined && !isUuid(value)) {
      problems.push(`"${name}" must be a run id: ignored.`);
      return undefined;
    }
    return value?.toLowerCase();
  };
  const before = cursor('before');
  const after = before === undefined ? cursor('after') : undefined;
  const indexed =
    (workflow === undefined && state === undefined) ||
    (state !== undefined && ACTIVE_STATES.has(state));
  return {
    filter: { workflow, state, from, to, before, after },
    query: {
      workflow,
      state,
      fromId,
      toId,
      before,
      after,
      limit: RUNS_PAGE_SIZE + 1,
      window: indexed ? undefined : RUNS_SCAN_WINDOW,
    },
    problems,
  };
}
