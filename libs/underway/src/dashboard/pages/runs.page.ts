import type { RunsPageRow } from '../dashboard.sql';
import { formatTime } from '../format';
import { Html, html } from '../html';
import {
  ParsedRunsFilter,
  RUN_STATES,
  RUNS_PAGE_SIZE,
  RUNS_SCAN_WINDOW,
  RunsFilter,
} from '../runs-filter';
import {
  errorText,
  layout,
  PageContext,
  queryString,
  runLink,
  stateBadge,
} from './layout';

function filterParams(
  filter: RunsFilter,
  cursor: { before?: string; after?: string },
): Record<string, string | undefined> {
  return {
    workflow: filter.workflow,
    state: filter.state,
    from: filter.from,
    to: filter.to,
    ...cursor,
  };
}

/** The filter form, its values as typed. */
function filterForm(
  ctx: PageContext,
  filter: RunsFilter,
  workflows: readonly string[],
): Html {
  return html`<form class="filters" method="get" action="${ctx.base}/runs">
    <label
      >Workflow
      <input
        name="workflow"
        list="workflow-names"
        value="${filter.workflow ?? ''}"
        placeholder="any"
    /></label>
    <datalist id="workflow-names">
      ${workflows.map((w) => html`<option value="${w}"></option>`)}
    </datalist>
    <label
      >State
      <select name="state">
        <option value="">any</option>
        ${RUN_STATES.map(
          (s) =>
            html`<option
              value="${s}"
              ${s === filter.state ? html` selected` : ''}
            >
              ${s}
            </option>`,
        )}
      </select></label
    >
    <label
      >From
      <input
        name="from"
        type="datetime-local"
        step="1"
        value="${filter.from ?? ''}"
    /></label>
    <label
      >To
      <input
        name="to"
        type="datetime-local"
        step="1"
        value="${filter.to ?? ''}"
    /></label>
    <span class="muted">UTC, by enqueue time</span>
    <button type="submit">Filter</button>
    <a href="${ctx.base}/runs">Clear</a>
  </form>`;
}

/** The runs list: filters, a page of runs, links to the newer and older pages. */
export function runsPage(
  ctx: PageContext,
  parsed: ParsedRunsFilter,
  result: RunsPageRow,
  workflows: readonly string[],
): Html {
  const { filter } = parsed;
  const ascending = filter.after !== undefined;
  const more = result.runs.length > RUNS_PAGE_SIZE;
  // Rows come newest first; the extra row is past the page's far end.
  const runs = ascending
    ? result.runs.slice(more ? 1 : 0)
    : result.runs.slice(0, RUNS_PAGE_SIZE);
  const exhausted =
    result.scanned !== null &&
    result.scanned >= RUNS_SCAN_WINDOW &&
    !more &&
    result.frontier !== null;
  const newest = runs[0]?.id;
  const oldest = runs[runs.length - 1]?.id;
  let older: string | undefined;
  let newer: string | undefined;
  if (ascending) {
    older = oldest ?? filter.after;
    newer = more
      ? newest
      : exhausted
        ? (result.frontier ?? undefined)
        : undefined;
  } else {
    older = more
      ? oldest
      : exhausted
        ? (result.frontier ?? undefined)
        : undefined;
    newer = filter.before !== undefined ? (newest ?? filter.before) : undefined;
  }
  return layout(
    ctx,
    'runs',
    'Runs',
    html`<h1>Runs</h1>
      ${filterForm(ctx, filter, workflows)}
      ${parsed.problems.map((p) => html`<p class="notice">${p}</p>`)}
      <table class="grid" id="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Workflow</th>
            <th>State</th>
            <th>Step</th>
            <th>Attempt</th>
            <th>Enqueued</th>
            <th>Updated</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>
          ${runs.map(
            (r) =>
              html`<tr data-run-id="${r.id}">
                <td>${runLink(ctx, r.id)}</td>
                <td>
                  <a
                    href="${ctx.base}/runs${queryString({ workflow: r.workflow_name })}"
                    >${r.workflow_name}</a
                  >
                </td>
                <td>${stateBadge(r.state)}</td>
                <td>${r.step_index}</td>
                <td>${r.attempt}/${r.max_attempts}</td>
                <td>${formatTime(r.created_at)}</td>
                <td>${formatTime(r.updated_at)}</td>
                <td class="error-cell">${errorText(r.error)}</td>
              </tr>`,
          )}
          ${
            runs.length === 0
              ? html`<tr>
                  <td colspan="8" class="empty">
                    No runs
                    match${exhausted ? html` among the ${RUNS_SCAN_WINDOW.toLocaleString('en')} runs looked at` : ''}.
                  </td>
                </tr>`
              : ''
          }
        </tbody>
      </table>
      ${exhausted ? html`<p class="notice">These filters are checked against ${RUNS_SCAN_WINDOW.toLocaleString('en')} runs per page (in enqueue order), so a page stays fast on any number of runs; follow the link to look further.</p>` : ''}
      <nav class="pager">
        ${newer ? html`<a rel="prev" href="${ctx.base}/runs${queryString(filterParams(filter, { after: newer }))}">← Newer</a>` : html`<span></span>`}
        ${older ? html`<a rel="next" href="${ctx.base}/runs${queryString(filterParams(filter, { before: older }))}">Older →</a>` : ''}
      </nav>`,
  );
}
