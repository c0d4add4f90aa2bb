import { Html, html, HtmlValue } from '../html';
import { DASHBOARD_ASSETS } from '../assets/dashboard-assets';
import { clip, formatCount } from '../format';
import type { KeysetPage } from '../keyset';
import { LIST_ERROR_CHARS } from '../page-bounds';

/** What every page needs to know about where and how it is served. */
export interface PageContext {
  /** The dashboard's URL prefix as the browser sees it: `/underway`. */
  readonly base: string;
  readonly readOnly: boolean;
  readonly showPayloads: boolean;
  readonly refreshMs: number;
}

export type Section = 'overview' | 'runs' | 'dead-letters' | 'schedules';

const NAV: readonly [Section, string, string][] = [
  ['overview', 'Overview', ''],
  ['runs', 'Runs', '/runs'],
  ['dead-letters', 'Dead letters', '/dead-letters'],
  ['schedules', 'Schedules', '/schedules'],
];

/** A whole page: the assets come from the dashboard itself (no CDN, no inline script). */
export function layout(
  ctx: PageContext,
  section: Section | undefined,
  title: string,
  body: HtmlValue,
): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>${title} · Underway</title>
        <link
          rel="icon"
          type="image/svg+xml"
          href="${ctx.base}/assets/${DASHBOARD_ASSETS.icon.name}"
        />
        <link
          rel="stylesheet"
          href="${ctx.base}/assets/${DASHBOARD_ASSETS.css.name}"
        />
        <script
          src="${ctx.base}/assets/${DASHBOARD_ASSETS.js.name}"
          defer
        ></script>
      </head>
      <body data-refresh-ms="${ctx.refreshMs}">
        <header class="top">
          <a class="brand" href="${ctx.base}">Underway</a>
          <nav>
            ${NAV.map(
              ([key, label, href]) =>
                html`<a
                  href="${ctx.base}${href}"
                  ${key === section ? html` aria-current="page"` : ''}
                  >${label}</a
                >`,
            )}
          </nav>
          ${ctx.readOnly ? html`<span class="badge read-only" title="readOnly: true">read-only</span>` : ''}
        </header>
        <main>
          <div id="flash" role="status" aria-live="polite" hidden></div>
          ${body}
        </main>
      </body>
    </html> `;
}

/** `<span class="state state-failed">failed</span>` */
export function stateBadge(state: string | null | undefined): Html {
  if (!state) {
    return html``;
  }
  return html`<span
    class="state state-${/^[a-z_]+$/.test(state) ? state : 'unknown'}"
    >${state}</span
  >`;
}

/** A button the script turns into a `POST` (two clicks: the first asks to confirm). */
export function actionButton(
  ctx: PageContext,
  label: string,
  url: string,
  body: Record<string, unknown> = {},
): Html {
  if (ctx.readOnly) {
    return html``;
  }
  return html`<button
    type="button"
    class="action"
    data-action="${url}"
    data-body="${JSON.stringify(body)}"
  >
    ${label}
  </button>`;
}

/**
 * A recorded error: its code, class name and message, all as text, the
 * message cut at `maxChars` (LIST_ERROR_CHARS in lists).
 */
export function errorText(
  error: { code?: string; message?: string; name?: string } | null | undefined,
  maxChars: number = LIST_ERROR_CHARS,
): Html {
  if (!error) {
    return html``;
  }
  return html`<span class="error"
    ><code>${clip(String(error.code ?? 'error'), MAX_CODE_CHARS)}</code
    >${error.name ? html` <span class="muted">${clip(String(error.name), MAX_CODE_CHARS)}</span>` : ''}
    ${clip(String(error.message ?? ''), maxChars)}</span
  >`;
}

/** An error's code and class name: 200 characters when recorded. */
const MAX_CODE_CHARS = 200;

/**
 * A payload as read (see payload.sql.ts): the start of its JSON, or `null`
 * when it is too big to read, and its stored size; pretty-printed when
 * whole, and cut at `maxChars` either way.
 */
export function payloadText(
  json: string | null,
  storedBytes: number | null,
  maxChars: number,
): string {
  if (storedBytes === null) {
    return 'none';
  }
  if (json === null) {
    return `(${formatCount(storedBytes)} bytes as stored: too big to show here; getRun(), getDeadLetters() or npx underway … --json read it whole)`;
  }
  if (json.length > maxChars) {
    return `${clip(json, maxChars)} (cut at ${formatCount(maxChars)} characters; ${formatCount(storedBytes)} bytes as stored)`;
  }
  let pretty = json;
  try {
    pretty = JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    // Shown as read.
  }
  return pretty.length > maxChars
    ? `${clip(pretty, maxChars)} (cut at ${formatCount(maxChars)} characters)`
    : pretty;
}

/**
 * The links of a keyset-paginated list: the first and the previous page,
 * the next and the last. `href` builds a link from its query parameters;
 * `keyOf` gives a row's key as parameters (`after_…` or `before_…`).
 */
export function keysetPager<R>(
  page: KeysetPage<R>,
  href: (params: Record<string, string | undefined>) => string,
  keyOf: (row: R, direction: 'after' | 'before') => Record<string, string>,
): Html {
  const first = page.rows[0];
  const last = page.rows[page.rows.length - 1];
  return html`<nav class="pager">
    <span
      >${page.hasPrevious ? html`<a class="first" href="${href({})}">⇤ First</a> ` : ''}${page.hasPrevious && first ? html`<a rel="prev" href="${href(keyOf(first, 'before'))}">← Previous</a>` : ''}</span
    >
    <span
      >${page.hasNext && last ? html`<a rel="next" href="${href(keyOf(last, 'after'))}">Next →</a>` : ''}${page.hasNext ? html` <a class="last" href="${href({ last: '1' })}">Last ⇥</a>` : ''}</span
    >
  </nav>`;
}

/** A link to a run's page, its id shortened. */
export function runLink(ctx: PageContext, id: string | null | undefined): Html {
  if (!id) {
    return html``;
  }
  return html`<a class="run-id" href="${ctx.base}/runs/${id}" title="${id}"
    >${id.slice(-12)}</a
  >`;
}

/** A query string from the set values, `?a=1&b=2`, or `''`. */
export function queryString(
  params: Record<string, string | undefined>,
): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  return entries.length === 0
    ? ''
    : `?${new URLSearchParams(entries).toString()}`;
}

/**
 * A dead-letter queue's page (or, with `action`, the URL its redrive posts
 * to), with `params`. A queue name travels in the path
 * (`/dead-letters/orders-dlq`), except `.` and `..`: a browser (and the URL
 * standard) resolves those segments away, percent-encoded or not, so that
 * `/dead-letters/..` would open the overview. Those two travel in the query
 * string instead (`/dead-letters?queue=..`), which nothing rewrites.
 */
export function queueHref(
  ctx: PageContext,
  queue: string,
  params: Record<string, string | undefined> = {},
  action?: 'redrive',
): string {
  if (queue === '.' || queue === '..') {
    return `${ctx.base}/dead-letters${action ? `/${action}` : ''}${queryString({ queue, ...params })}`;
  }
  return `${ctx.base}/dead-letters/${encodeURIComponent(queue)}${action ? `/${action}` : ''}${queryString(params)}`;
}
