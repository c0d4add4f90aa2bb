import { DEAD_LETTER_PAGE_SIZE } from '../dashboard.service';
import type {
  DeadLetterPageRow,
  DeadLetterQueueRow,
} from '../dead-letters.sql';
import { formatTime } from '../format';
import { Html, html } from '../html';
import type { KeysetPage, PageCursor } from '../keyset';
import { LIST_PAYLOAD_CHARS } from '../page-bounds';
import {
  actionButton,
  errorText,
  keysetPager,
  layout,
  PageContext,
  payloadText,
  queryString,
  queueHref,
  runLink,
} from './layout';

/** The cursor of the queues list from its query string (a malformed one: the first page). */
export function queuesCursor(
  query: Record<string, unknown>,
): PageCursor<string> {
  for (const kind of ['after', 'before'] as const) {
    const queue = query[`${kind}_queue`];
    if (typeof queue === 'string') {
      return { kind, key: queue };
    }
  }
  return query.last === '1' ? { kind: 'last' } : { kind: 'first' };
}

/** A page of dead-letter queues (50), with their entries still to redrive. */
export function deadLetterQueuesPage(
  ctx: PageContext,
  page: KeysetPage<DeadLetterQueueRow>,
): Html {
  const queues = page.rows;
  const pager = keysetPager(
    page,
    (params) => `${ctx.base}/dead-letters${queryString(params)}`,
    (q, direction) => ({ [`${direction}_queue`]: q.queue }),
  );
  return layout(
    ctx,
    'dead-letters',
    'Dead letters',
    html`<h1>Dead-letter queues</h1>
      <table class="grid" id="queues">
        <thead>
          <tr>
            <th>Queue</th>
            <th>To redrive</th>
            <th>All entries</th>
            <th>Oldest to redrive</th>
            <th>Latest failure</th>
          </tr>
        </thead>
        <tbody>
          ${queues.map(
            (q) =>
              html`<tr data-queue="${q.queue}">
                <th scope="row">
                  <a href="${queueHref(ctx, q.queue)}">${q.queue}</a>
                </th>
                <td class="${q.waiting > 0 ? 'alert' : ''}">${q.waiting}</td>
                <td>${q.total}</td>
                <td>${formatTime(q.oldest_failed_at) || '–'}</td>
                <td>${formatTime(q.latest_failed_at)}</td>
              </tr>`,
          )}
          ${
            queues.length === 0
              ? html`<tr>
                  <td colspan="5" class="empty">
                    ${page.hasPrevious ? 'No more queues.' : html`No dead letters. A workflow gets a queue with <code>@Workflow({ deadLetter: 'name' })</code>.`}
                  </td>
                </tr>`
              : ''
          }
        </tbody>
      </table>
      ${pager}`,
  );
}

/** One queue's entries, newest first, each with its redrive button. */
export function deadLettersPage(
  ctx: PageContext,
  queue: string,
  rows: readonly DeadLetterPageRow[],
  options: { includeRedriven: boolean; before: string | undefined },
): Html {
  const entries = rows.slice(0, DEAD_LETTER_PAGE_SIZE);
  const older =
    rows.length > DEAD_LETTER_PAGE_SIZE
      ? entries[entries.length - 1]?.id
      : undefined;
  const waiting = entries.filter((e) => e.redriven_at === null).length;
  const all = options.includeRedriven ? '1' : undefined;
  const redrive = queueHref(ctx, queue, {}, 'redrive');
  return layout(
    ctx,
    'dead-letters',
    `Dead letters: ${queue}`,
    html`<h1>Dead letters: <span class="queue-name">${queue}</span></h1>
      <div class="actions">
        ${waiting > 0 ? actionButton(ctx, 'Redrive every entry to redrive', redrive) : ''}
        ${options.includeRedriven ? html`<a href="${queueHref(ctx, queue)}">Hide redriven entries</a>` : html`<a href="${queueHref(ctx, queue, { all: '1' })}">Show redriven entries too</a>`}
      </div>
      <table class="grid" id="dead-letters">
        <thead>
          <tr>
            <th>Failed run</th>
            <th>Workflow</th>
            <th>Error</th>
            <th>Failed</th>
            <th>Redriven</th>
            ${ctx.showPayloads ? html`<th>Input</th>` : ''}
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${entries.map(
            (e) =>
              html`<tr data-run-id="${e.run_id}">
                <td>${runLink(ctx, e.run_id)}</td>
                <td>${e.workflow_name}</td>
                <td class="error-cell">${errorText(e.error)}</td>
                <td>${formatTime(e.failed_at)}</td>
                <td>
                  ${e.redriven_at ? html`${formatTime(e.redriven_at)} as ${runLink(ctx, e.redriven_run_id)}` : '–'}
                </td>
                ${ctx.showPayloads ? html`<td><pre class="payload">${payloadText(e.input, e.input_bytes, LIST_PAYLOAD_CHARS)}</pre></td>` : ''}
                <td>
                  ${e.redriven_at === null ? actionButton(ctx, 'Redrive', redrive, { runIds: [e.run_id] }) : ''}
                </td>
              </tr>`,
          )}
          ${
            entries.length === 0
              ? html`<tr>
                  <td colspan="7" class="empty">
                    No entries${options.includeRedriven ? '' : ' to redrive'}.
                  </td>
                </tr>`
              : ''
          }
        </tbody>
      </table>
      <nav class="pager">
        <span></span
        >${older ? html`<a rel="next" href="${queueHref(ctx, queue, { all, before: older })}">Older →</a>` : ''}
      </nav>`,
  );
}
