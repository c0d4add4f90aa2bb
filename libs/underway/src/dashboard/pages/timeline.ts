import { formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import type { StepSummaryRow } from '../run-timeline.sql';
import type { RunPage } from '../run-page.reader';
import { fitTimeline, StepView } from '../run-timeline';
import { PageContext, queryString } from './layout';
import { attemptTable, entryItem } from './timeline-entries';

/*
 * A run's timeline, as its page shows it: the steps listed (see
 * run-timeline.ts), each with its attempts and its entries (activity calls
 * and emits, waits and sleeps, children, in their order: timeline-entries.ts)
 * as they fit, its counts, and the links that page through it.
 */

/** `10,000 activity calls: 9,990 succeeded, 10 failed · 3 waits or sleeps, 1 open · 120 children, 15 awaited and not ended` */
function callCounts(summary: StepSummaryRow): string {
  const calls = summary.calls - summary.waits - summary.children;
  const states = (
    ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const
  )
    .filter((state) => summary[state] > 0)
    .map((state) => `${formatCount(summary[state])} ${state}`);
  return [
    calls > 0
      ? `${formatCount(calls)} activity call${calls === 1 ? '' : 's'}: ${states.join(', ')}`
      : '',
    summary.waits > 0
      ? `${formatCount(summary.waits)} ${summary.waits === 1 ? 'wait or sleep' : 'waits or sleeps'}, ${formatCount(summary.open_waits)} open`
      : '',
    summary.children > 0
      ? `${formatCount(summary.children)} ${summary.children === 1 ? 'child' : 'children'}${summary.open_children > 0 ? `, ${formatCount(summary.open_children)} awaited and not ended` : ''}`
      : '',
  ]
    .filter((text) => text !== '')
    .join(' · ');
}

/** A link to this run's page showing one step's attempts or calls from a cursor. */
function stepHref(
  ctx: PageContext,
  page: RunPage,
  step: number,
  cursor: Record<string, string | undefined> = {},
): string {
  return `${ctx.base}/runs/${page.run.id}${queryString({ step: String(step), ...cursor })}#step-${step}`;
}

/** What a step shows beyond what it lists: its counts, and links to page through it. */
function stepMore(ctx: PageContext, page: RunPage, view: StepView): Html {
  const summary = view.summary;
  if (!summary) {
    return html``;
  }
  const focus =
    page.plan.focus?.step === view.index ? page.plan.focus : undefined;
  const oldest = view.attempts[view.attempts.length - 1]?.attempt;
  const lastCall = view.calls[view.calls.length - 1]?.call.call_index;
  const links: Html[] = [];
  if (focus?.attemptsBefore !== undefined) {
    links.push(
      html`<a class="latest-attempts" href="${stepHref(ctx, page, view.index)}"
        >Latest attempts</a
      >`,
    );
  }
  if (view.earlierAttempts) {
    links.push(
      html`<a
        class="earlier-attempts"
        href="${stepHref(ctx, page, view.index, { attempts_before: oldest === undefined ? focus?.attemptsBefore?.toString() : String(oldest), calls_after: focus?.callsAfter?.toString() })}"
        >${oldest === undefined ? 'Show its attempts →' : 'Earlier attempts →'}</a
      >`,
    );
  }
  if (
    focus?.callsAfter !== undefined &&
    summary.first_call !== null &&
    focus.callsAfter >= summary.first_call
  ) {
    links.push(
      html`<a
        class="first-calls"
        href="${stepHref(ctx, page, view.index, { attempts_before: focus.attemptsBefore?.toString() })}"
        >First calls</a
      >`,
    );
  }
  if (view.moreCalls) {
    links.push(
      html`<a
        class="more-calls"
        href="${stepHref(ctx, page, view.index, { attempts_before: focus?.attemptsBefore?.toString(), calls_after: lastCall === undefined ? focus?.callsAfter?.toString() : String(lastCall) })}"
        >${lastCall === undefined ? 'Show its calls →' : 'Next calls →'}</a
      >`,
    );
  }
  const listed = view.attempts.length + view.calls.length;
  if (listed === summary.attempts + summary.calls && links.length === 0) {
    return html``;
  }
  const counts = [
    summary.attempts > 0
      ? `${formatCount(summary.attempts)} finished attempt${summary.attempts === 1 ? '' : 's'}`
      : '',
    summary.calls > 0 ? callCounts(summary) : '',
    `${formatCount(view.attempts.length)} attempt(s) and ${formatCount(view.calls.length)} call(s) listed here`,
  ].filter((text) => text !== '');
  return html`<p class="step-more muted">
    ${counts.join(' · ')}${links.map((link) => html` · ${link}`)}
  </p>`;
}

/** `waiting on 2 call(s), 1 wait(s) and 3 child run(s)`: what the current step is suspended on. */
function openEntries(
  open: number,
  summary: StepSummaryRow | undefined,
): string {
  const waits = Math.min(summary?.open_waits ?? 0, open);
  const children = Math.min(summary?.open_children ?? 0, open - waits);
  const calls = open - waits - children;
  const parts = [
    calls > 0 ? `${formatCount(calls)} call(s)` : '',
    waits > 0 ? `${formatCount(waits)} wait(s)` : '',
    children > 0 ? `${formatCount(children)} child run(s)` : '',
  ].filter((text) => text !== '');
  return `waiting on ${parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}` : parts.join('')}`;
}

/** The timeline: the steps around the current one, each with what fits of its attempts and calls. */
export function timeline(ctx: PageContext, page: RunPage): Html {
  const { run, plan } = page;
  const views = fitTimeline(plan, page.summaries, page.details);
  const items = views.map((view) => {
    const index = view.index;
    const current = index === run.step_index;
    const status =
      index < run.step_index || (current && run.state === 'succeeded')
        ? 'done'
        : current
          ? run.state
          : 'not reached';
    const name = page.stepNames[index] ?? '';
    return html`<li
      class="step step-${status.replace(/ /g, '-')}"
      id="step-${index}"
      data-step="${index}"
    >
      <div class="step-head">
        <span class="step-index">${index}</span>
        <strong>${name || '(unknown step)'}</strong>
        <span class="muted">${status}</span>${
          current && run.state === 'running' && run.attempt_started_at
            ? html` <span class="muted"
                >· attempt ${run.attempt} running since
                ${formatTime(run.attempt_started_at)}${run.lease_owner ? html` on ${run.lease_owner}` : ''}</span
              >`
            : ''
        }${current && run.open_calls > 0 ? html` <span class="muted">· ${openEntries(run.open_calls, view.summary)}</span>` : ''}
      </div>
      ${view.attempts.length > 0 ? attemptTable(view.attempts, true) : ''}
      ${
        view.calls.length > 0
          ? html`<ul class="calls">
              ${view.calls.map((call) => entryItem(ctx, call))}
            </ul>`
          : ''
      }
      ${stepMore(ctx, page, view)}
    </li>`;
  });
  const base = `${ctx.base}/runs/${run.id}`;
  return html`${plan.from > 0 ? html`<p class="muted steps-before"><a href="${base}${queryString({ step: String(Math.max(0, plan.from - 1)) })}#step-${Math.max(0, plan.from - 1)}">← ${formatCount(plan.from)} earlier step(s)</a></p>` : ''}
    <ol class="timeline" start="${plan.from}">
      ${items}
    </ol>
    ${plan.to < plan.steps ? html`<p class="muted steps-after"><a href="${base}${queryString({ step: String(plan.to) })}#step-${plan.to}">${formatCount(plan.steps - plan.to)} later step(s) →</a></p>` : ''}`;
}
