import { INT32_MAX } from '../../common/limits';
import type { ChildKey, ChildPageRow } from '../children.sql';
import { clip, formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import type { PageCursor } from '../keyset';
import { CHILD_TEXT_CHARS } from '../page-bounds';
import type { RunPage } from '../run-page.reader';
import {
  keysetPager,
  PageContext,
  queryString,
  runLink,
  stateBadge,
} from './layout';

/*
 * What a run's page shows of its parent and children: a child's parent
 * (among its facts, linked to the entry that started it), the children its
 * current step waits on, and the children it started, counted by state and
 * listed a page at a time in the order they were started (the latest by
 * default: `?children_before=1.14`, `?children_after=`, `?children=first`;
 * a key is the starting entry's step and position).
 */

const KEY = /^([0-9]{1,10})\.([0-9]{1,10})$/;

/** The page of a run's children its query string asks for (malformed: the latest). */
export function childrenCursor(
  query: Record<string, unknown>,
): PageCursor<ChildKey> {
  for (const kind of ['after', 'before'] as const) {
    const value = query[`children_${kind}`];
    const match = typeof value === 'string' ? KEY.exec(value) : null;
    const [stepIndex, callIndex] = [Number(match?.[1]), Number(match?.[2])];
    if (match && stepIndex <= INT32_MAX && callIndex <= INT32_MAX) {
      return { kind, key: { stepIndex, callIndex } };
    }
  }
  return query.children === 'first' ? { kind: 'first' } : { kind: 'last' };
}

/** A link to a run's page with one of its step's entries first in the timeline. */
function entryHref(
  ctx: PageContext,
  runId: string,
  step: number,
  call: number,
): string {
  return `${ctx.base}/runs/${runId}${queryString({
    step: String(step),
    calls_after: call > 0 ? String(call - 1) : undefined,
  })}#step-${step}`;
}

/** `step 1 thumbnails #3`: where an entry is (its step's name: `null` in a list, where every row would repeat it). */
function entryPlace(step: number, name: string | null, call: number): Html {
  return html`step
    ${step}${name ? html` <strong>${clip(name, CHILD_TEXT_CHARS)}</strong>` : ''}
    <span class="muted">#${call}</span>`;
}

const PARENT_CLOSE = {
  cancel: 'cancelled if the parent fails or is cancelled',
  abandon: 'runs on whatever becomes of the parent',
} as const;

/**
 * The facts' *Parent* entry of a child: a link to its parent (its workflow
 * and state), the step and entry that started it, linked to that entry in
 * the parent's timeline, and its `parentClose`.
 */
export function parentFact(ctx: PageContext, page: RunPage): Html {
  const { run } = page;
  const parent = run.parent_run_id;
  const step = run.parent_step_index;
  const call = run.parent_call_index;
  if (parent === null || step === null || call === null) {
    return html``;
  }
  const kept = run.parent_workflow !== null;
  const place = entryPlace(step, run.parent_step_name, call);
  return html`<dt>Parent</dt>
    <dd id="parent">
      ${runLink(ctx, parent)}
      ${kept ? html`<a href="${ctx.base}/runs${queryString({ workflow: run.parent_workflow ?? undefined })}">${run.parent_workflow}</a> ${stateBadge(run.parent_state)}` : html`<span class="muted">(no longer retained)</span>`}
      · started by
      ${kept ? html`<a class="parent-entry" href="${entryHref(ctx, parent, step, call)}">${place}</a>` : place}
      ${run.parent_entry_kind ? html`<span class="kind">${run.parent_entry_kind === 'child' ? 'ctx.child' : 'ctx.startChild'}</span>` : ''}
      ${run.parent_close ? html`· <span class="muted">parentClose</span> <code>${run.parent_close}</code> <span class="muted">(${PARENT_CLOSE[run.parent_close]})</span>` : ''}
    </dd>`;
}

/** The *Waiting for* item of a step waiting on its children (`ctx.child`). */
export function awaitedChildren(page: RunPage): Html {
  const { run } = page;
  const open =
    run.state === 'waiting'
      ? (page.summaries.find((s) => s.step_index === run.step_index)
          ?.open_children ?? 0)
      : 0;
  if (open === 0) {
    return html``;
  }
  return html`<li>
    <span class="kind">ctx.child</span> ${formatCount(open)} child
    run${open === 1 ? '' : 's'} to end
    <span class="muted">· <a href="#children">children</a></span>
  </li>`;
}

/** A child's state: its run's now, or, no longer retained, as its entry recorded it. */
function childState(c: ChildPageRow): string {
  if (c.state !== null) {
    return c.state;
  }
  return c.entry_state === 'failed' && c.entry_error_state === 'cancelled'
    ? 'cancelled'
    : c.entry_state;
}

function childRow(ctx: PageContext, page: RunPage, c: ChildPageRow): Html {
  return html`<tr id="child-${c.run_id}" data-child="${c.run_id}">
    <td>
      ${runLink(ctx, c.run_id)}${c.state === null ? html` <span class="muted">(no longer retained)</span>` : ''}
    </td>
    <th scope="row">${clip(c.workflow_name, CHILD_TEXT_CHARS)}</th>
    <td>${stateBadge(childState(c))}</td>
    <td>
      <a href="${entryHref(ctx, page.run.id, c.step_index, c.call_index)}"
        >${entryPlace(c.step_index, null, c.call_index)}</a
      >
      <span class="kind"
        >${c.kind === 'child' ? 'ctx.child' : 'ctx.startChild'}</span
      >
    </td>
    <td>${formatTime(c.created_at)}</td>
    <td>${formatTime(c.completed_at) || '–'}</td>
  </tr>`;
}

const STATES = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;

/**
 * The children the run started, counted by state, and a page of them in
 * the order they were started, with keyset links (the latest by default).
 */
export function childrenSection(ctx: PageContext, page: RunPage): Html {
  const counts = page.childCounts;
  const heading = html`<h2 id="children">Children</h2>`;
  if (counts.total === 0 && page.children.rows.length === 0) {
    return html`${heading}
      <p class="muted" id="no-children">This run started no child run.</p>`;
  }
  const href = (params: Record<string, string | undefined>): string => {
    // The pager's first page is `{}`, its last `{ last: '1' }`: here the
    // latest page is the default.
    const query =
      Object.keys(params).length === 0
        ? { children: 'first' }
        : params.last === '1'
          ? {}
          : params;
    return `${ctx.base}/runs/${page.run.id}${queryString(query)}#children`;
  };
  const pager = keysetPager(page.children, href, (c, direction) => ({
    [`children_${direction}`]: `${c.step_index}.${c.call_index}`,
  }));
  const states = STATES.filter((state) => counts[state] > 0).map(
    (state) => `${formatCount(counts[state])} ${state}`,
  );
  return html`${heading}
    <p class="muted child-counts">
      ${formatCount(counts.total)} ${counts.total === 1 ? 'child' : 'children'}:
      ${states.join(', ')}${page.children.rows.length < counts.total ? html` · ${formatCount(page.children.rows.length)} listed here, in the order they were started` : ''}
    </p>
    <table class="grid" id="child-list">
      <thead>
        <tr>
          <th>Run</th>
          <th>Workflow</th>
          <th>State</th>
          <th>Started by</th>
          <th>Enqueued</th>
          <th>Finished</th>
        </tr>
      </thead>
      <tbody>
        ${page.children.rows.map((c) => childRow(ctx, page, c))}
        ${
          page.children.rows.length === 0
            ? html`<tr>
                <td colspan="6" class="empty">No more children.</td>
              </tr>`
            : ''
        }
      </tbody>
    </table>
    ${pager}`;
}
