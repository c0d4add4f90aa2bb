import type { ScheduleRow } from '../dashboard.sql';
import { formatTime } from '../format';
import { Html, html } from '../html';
import { layout, PageContext, runLink, stateBadge } from './layout';

/** Every schedule: its cron and zone, next and last fire, and its last run. */
export function schedulesPage(
  ctx: PageContext,
  schedules: readonly ScheduleRow[],
): Html {
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
                <td><code>${s.cron}</code></td>
                <td>${s.timezone}</td>
                <td>${s.overlap}</td>
                <td>${s.source}</td>
                <td>${formatTime(s.next_fire_at)}</td>
                <td>${formatTime(s.last_fire_at) || '–'}</td>
                <td>
                  ${s.last_run_id ? html`${runLink(ctx, s.last_run_id)} ${stateBadge(s.last_run_state ?? 'removed')}` : '–'}
                </td>
                <td>${s.skipped}</td>
                ${ctx.showPayloads ? html`<td><pre class="payload">${s.input ?? 'none'}</pre></td>` : ''}
              </tr>`,
          )}
          ${
            schedules.length === 0
              ? html`<tr>
                  <td colspan="11" class="empty">
                    No schedules. Declare one with
                    <code>@Workflow({ schedule })</code> or
                    <code>client.schedule()</code>.
                  </td>
                </tr>`
              : ''
          }
        </tbody>
      </table>`,
  );
}
