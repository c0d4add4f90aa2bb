import { formatCount, formatDuration, formatTime } from '../format';
import { OVERVIEW_ROWS_BYTES, OVERVIEW_WORKFLOWS } from '../page-bounds';
import { Html, html } from '../html';
import type { Overview, WorkflowOverview } from '../dashboard.service';
import { layout, PageContext, queryString } from './layout';

function count(
  ctx: PageContext,
  value: number,
  workflow: string,
  state: string,
): Html {
  if (value === 0) {
    return html`<span class="zero">0</span>`;
  }
  return html`<a
    class="count count-${state}"
    href="${ctx.base}/runs${queryString({ workflow, state })}"
    >${value}</a
  >`;
}

/** One workflow's row: its name and counts, each a link to the runs they count. */
function workflowRow(ctx: PageContext, w: WorkflowOverview): Html {
  return html`<tr data-workflow="${w.name}">
    <th scope="row">
      <a href="${ctx.base}/runs${queryString({ workflow: w.name })}"
        >${w.name}</a
      >${w.registered ? '' : html` <span class="muted" title="Not registered by this instance">(not registered here)</span>`}
    </th>
    <td>${count(ctx, w.pending, w.name, 'pending')}</td>
    <td>${count(ctx, w.running, w.name, 'running')}</td>
    <td>${count(ctx, w.waiting, w.name, 'waiting')}</td>
    <td
      class="${w.oldestDueMs !== undefined && w.oldestDueMs > 60_000 ? 'alert' : ''}"
    >
      ${w.oldestDueMs === undefined ? html`<span class="zero">–</span>` : formatDuration(w.oldestDueMs)}
    </td>
    <td>${count(ctx, w.succeeded, w.name, 'succeeded')}</td>
    <td>${count(ctx, w.failed, w.name, 'failed')}</td>
    <td>${count(ctx, w.cancelled, w.name, 'cancelled')}</td>
  </tr>`;
}

/** The versions worth a look (`Overview.versions`): runs in flight, and who runs them. */
function versionsTable(overview: Overview): Html | string {
  if (overview.versions.length === 0) {
    return '';
  }
  const latest = new Map<string, number>();
  for (const v of overview.versions) {
    latest.set(
      v.workflowName,
      Math.max(latest.get(v.workflowName) ?? 0, v.version),
    );
  }
  return html`<h2>Versions</h2>
    <table class="grid" id="versions">
      <thead>
        <tr>
          <th>Workflow</th>
          <th>Version</th>
          <th>In flight</th>
          <th>Run by</th>
        </tr>
      </thead>
      <tbody>
        ${overview.versions.map((v) => {
          const orphaned = v.inFlight > 0 && v.instances.length === 0;
          const note = orphaned
            ? 'no running instance runs this version'
            : v.version !== latest.get(v.workflowName) && v.inFlight === 0
              ? 'no run in flight: its class can be deleted'
              : '';
          return html`<tr
            data-workflow="${v.workflowName}"
            data-version="${v.version}"
            class="${orphaned ? 'alert' : ''}"
          >
            <th scope="row">${v.workflowName}</th>
            <td>${v.version}</td>
            <td>${v.inFlight}</td>
            <td>
              ${v.instances.length > 0 ? v.instances.join(', ') : html`<span class="zero">none</span>`}${note ? html` <span class="muted">${note}</span>` : ''}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>`;
}

/** Per workflow: unfinished runs by state, the oldest due, and the last hour's outcomes. */
export function overviewPage(ctx: PageContext, overview: Overview): Html {
  const totals = overview.workflows.reduce(
    (sum, w) => ({
      pending: sum.pending + w.pending,
      running: sum.running + w.running,
      waiting: sum.waiting + w.waiting,
      succeeded: sum.succeeded + w.succeeded,
      failed: sum.failed + w.failed,
      cancelled: sum.cancelled + w.cancelled,
    }),
    {
      pending: 0,
      running: 0,
      waiting: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    },
  );
  const waitingLetters = overview.deadLettersWaiting;
  // At most OVERVIEW_WORKFLOWS rows, and as many as fit in OVERVIEW_ROWS_BYTES
  // (a row repeats its workflow's name in each count's link).
  const shown: Html[] = [];
  let bytes = 0;
  for (const w of overview.workflows.slice(0, OVERVIEW_WORKFLOWS)) {
    const row = workflowRow(ctx, w);
    bytes += Buffer.byteLength(row.text);
    if (bytes > OVERVIEW_ROWS_BYTES && shown.length > 0) {
      break;
    }
    shown.push(row);
  }
  const hidden = overview.workflows.length - shown.length;
  return layout(
    ctx,
    'overview',
    'Overview',
    html`<h1>Overview</h1>
      <section id="overview" data-live>
        <ul class="totals">
          <li><strong>${totals.pending}</strong> pending</li>
          <li><strong>${totals.running}</strong> running</li>
          <li><strong>${totals.waiting}</strong> waiting</li>
          <li>
            <strong>${totals.succeeded}</strong> succeeded in the last hour
          </li>
          <li class="${totals.failed > 0 ? 'alert' : ''}">
            <strong>${totals.failed}</strong> failed in the last hour
          </li>
          <li class="${waitingLetters > 0 ? 'alert' : ''}">
            <a href="${ctx.base}/dead-letters"
              ><strong>${waitingLetters}</strong> dead letters to redrive</a
            >
          </li>
        </ul>
        <table class="grid" id="workflows">
          <thead>
            <tr>
              <th>Workflow</th>
              <th>Pending</th>
              <th>Running</th>
              <th>Waiting</th>
              <th>Oldest due</th>
              <th>Succeeded <small>1 h</small></th>
              <th>Failed <small>1 h</small></th>
              <th>Cancelled <small>1 h</small></th>
            </tr>
          </thead>
          <tbody>
            ${shown}
            ${
              overview.workflows.length === 0
                ? html`<tr>
                    <td colspan="8" class="empty">
                      No workflows registered and no runs yet.
                    </td>
                  </tr>`
                : ''
            }
          </tbody>
        </table>
        ${versionsTable(overview)}
        ${hidden > 0 ? html`<p class="notice" id="workflows-hidden">The first ${shown.length} workflows by name are listed, ${formatCount(hidden)} more are not (the totals above count them all): filter the <a href="${ctx.base}/runs">runs</a> by workflow to see one.</p>` : ''}
        <p class="muted updated">
          Pending, running and waiting: now. Succeeded, failed, cancelled:
          finished in the last hour. Oldest due: the longest a due run has
          waited to start. As of
          <time data-now>${formatTime(new Date())}</time>, refreshed every
          ${formatDuration(ctx.refreshMs)}.
        </p>
      </section>`,
  );
}
