import { clip, formatTime } from '../format';
import { Html, html } from '../html';
import type { KeysetPage, PageCursor } from '../keyset';
import { LIST_PAYLOAD_CHARS } from '../page-bounds';
import type { ScheduleKey, ScheduleRow } from '../schedules.sql';
import {
  keysetPager,
  layout,
  PageContext,
  payloadText,
  queryString,
  runLink,
  stateBadge,
} from './layout';

/** A cron expression or a zone, as shown (what a schedule stores is short; a row stays small). */
const SHORT_TEXT_CHARS = 200;

/** The cursor of the schedules list from its query string (a malformed one: the first page). */
export function schedulesCursor(
  query: Record<string, unknown>,
): PageCursor<ScheduleKey> {
  const text = (name: string): string | undefined =>
    typeof query[name] === 'string' ? query[name] : undefined;
  for (const kind of ['after', 'before'] as const) {
    const workflow = text(`${kind}_workflow`);
    const key = text(`${kind}_key`);
    if (workflow !== undefined && key !== undefined) {
      return { kind, key: [workflow, key] };
    }
  }
  return query.last === '1' ? { kind: 'last' } : { kind: 'first' };
}

/** A page of schedules (50): cron and zone, next and last fire, the last run. */
export function schedulesPage(
  ctx: PageContext,
  page: KeysetPage<ScheduleRow>,
): Html {
  const schedules = page.rows;
  const pager = keysetPager(
    page,
    (params) => `${ctx.base}/schedules${queryString(params)}`,
    (s, direction) => ({
      [`${direction}_workflow`]: s.workflow_name,
      [`${direction}_key`]: s.key,
    }),
  );
  return layout(
    ctx,
    'schedules',
    'Schedules',
    html`<h1>Schedules</h1>
      <table class="grid" id="schedules">
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Key</th>
            <th>Cron</th>
            <th>Zone</th>
            <th>Overlap</th>
            <th>Source</th>
            <th>Next fire</th>
            <th>Last fire</th>
            <th>Last run</th>
            <th>Skipped</th>
            ${ctx.showPayloads ? html`<th>Input</th>` : ''}
          </tr>
        </thead>
        <tbody>
          ${schedules.map(
            (s) =>
              html`<tr data-schedule="${s.workflow_name}/${s.key}">
                <th scope="row">${s.workflow_name}</th>
                <td>${s.key}</td>
                <td><code>${clip(s.cron, SHORT_TEXT_CHARS)}</code></td>
                <td>${clip(s.timezone, SHORT_TEXT_CHARS)}</td>
                <td>${s.overlap}</td>
                <td>${s.source}</td>
                <td>${formatTime(s.next_fire_at)}</td>
                <td>${formatTime(s.last_fire_at) || '–'}</td>
                <td>
                  ${s.last_run_id ? html`${runLink(ctx, s.last_run_id)} ${stateBadge(s.last_run_state ?? 'removed')}` : '–'}
                </td>
                <td>${s.skipped}</td>
                ${ctx.showPayloads ? html`<td><pre class="payload">${payloadText(s.input, s.input_bytes, LIST_PAYLOAD_CHARS)}</pre></td>` : ''}
              </tr>`,
          )}
          ${
            schedules.length === 0
              ? html`<tr>
                  <td colspan="11" class="empty">
                    ${page.hasPrevious ? 'No more schedules.' : html`No schedules. Declare one with <code>@Workflow({ schedule })</code> or <code>client.schedule()</code>.`}
                  </td>
                </tr>`
              : ''
          }
        </tbody>
      </table>
      ${pager}`,
  );
}
