import type { RunPage } from '../run-page.reader';
import { between, formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import { timeline } from './timeline';
import { sendSignalForm, signalsSection, waitingFor } from './run-signals';
import { childrenSection, parentFact } from './run-children';
import {
  LIVE_RUN_MAX_ROWS,
  RUN_ERROR_CHARS,
  RUN_PAYLOAD_CHARS,
} from '../page-bounds';
import {
  actionButton,
  errorText,
  layout,
  PageContext,
  payloadText,
  queryString,
  queueHref,
  runLink,
  stateBadge,
} from './layout';

const UNFINISHED = new Set(['pending', 'running', 'waiting']);

/** A payload as read, or why it is not shown. */
function payload(
  label: string,
  json: string | null,
  storedBytes: number | null,
): Html {
  return html`<h3>${label}</h3>
    <pre class="payload">
${payloadText(json, storedBytes, RUN_PAYLOAD_CHARS)}</pre>`;
}

/** One run: what it is, where it is, its parent, its attempts, calls, waits, children and signals (a bounded part), and its actions. */
export function runPage(ctx: PageContext, page: RunPage): Html {
  const { run } = page;
  const unfinished = UNFINISHED.has(run.state);
  const rows =
    page.summaries.reduce((n, s) => n + s.attempts + s.calls, 0) +
    page.signalCounts.total +
    page.childCounts.total;
  // A page refreshes itself by reading it all again: not for a run so big
  // that every refresh would count thousands of rows.
  const live = unfinished && rows <= LIVE_RUN_MAX_ROWS;
  const redriven = run.redriven_run_id !== null;
  const stepCount = page.stepCount;
  const stepName = page.stepNames[run.step_index];
  const actions = [
    unfinished
      ? actionButton(ctx, 'Cancel run', `${ctx.base}/runs/${run.id}/cancel`)
      : '',
    run.state === 'failed' && !redriven
      ? actionButton(ctx, 'Retry run', `${ctx.base}/runs/${run.id}/retry`)
      : '',
  ];
  return layout(
    ctx,
    'runs',
    `Run ${run.id}`,
    html`<h1>Run <code>${run.id}</code></h1>
      <section
        id="run"
        ${live ? html`data-live` : ''}
        data-state="${run.state}"
      >
        <div class="actions">${stateBadge(run.state)} ${actions}</div>
        <dl class="facts">
          <dt>Workflow</dt>
          <dd>
            <a
              href="${ctx.base}/runs${queryString({ workflow: run.workflow_name })}"
              >${run.workflow_name}</a
            >
            <span class="muted">version ${run.workflow_version}</span>
          </dd>
          ${parentFact(ctx, page)}
          <dt>Step</dt>
          <dd>
            ${run.step_index}${stepName ? html` <strong>${stepName}</strong>` : ''}${stepCount !== undefined ? html` of ${stepCount}` : ''}
          </dd>
          ${waitingFor(page)}
          <dt>Attempt</dt>
          <dd>${run.attempt}/${run.max_attempts}</dd>
          <dt>Enqueued</dt>
          <dd>${formatTime(run.created_at)}</dd>
          <dt>Started</dt>
          <dd>${formatTime(run.started_at) || '–'}</dd>
          <dt>Finished</dt>
          <dd>
            ${run.completed_at ? html`${formatTime(run.completed_at)} <span class="muted">(took ${between(run.started_at ?? run.created_at, run.completed_at)})</span>` : '–'}
          </dd>
          ${
            run.run_at && unfinished
              ? html`<dt>Due</dt>
                  <dd>${formatTime(run.run_at)}</dd>`
              : ''
          }
          <dt>Priority</dt>
          <dd>${run.priority}</dd>
          ${
            run.concurrency_key !== null
              ? html`<dt>Concurrency key</dt>
                  <dd><code>${run.concurrency_key}</code></dd>`
              : ''
          }
          ${
            run.idempotency_key !== null
              ? html`<dt>Idempotency key</dt>
                  <dd><code>${run.idempotency_key}</code></dd>`
              : ''
          }
          ${
            run.dead_letter !== null
              ? html`<dt>Dead letter</dt>
                  <dd>
                    <a href="${queueHref(ctx, run.dead_letter)}"
                      >${run.dead_letter}</a
                    >${redriven ? html` · redriven ${formatTime(run.redriven_at)} as ${runLink(ctx, run.redriven_run_id)}` : ''}
                  </dd>`
              : ''
          }
          ${
            run.error
              ? html`<dt>Last error</dt>
                  <dd>${errorText(run.error, RUN_ERROR_CHARS)}</dd>`
              : ''
          }
        </dl>
        <h2>Timeline</h2>
        ${unfinished && !live ? html`<p class="notice" id="not-live">This page does not refresh itself: the run has ${formatCount(rows)} attempts, activity calls, waits, signals and children. Reload it to see them change.</p>` : ''}
        ${timeline(ctx, page)} ${childrenSection(ctx, page)}
        ${signalsSection(ctx, page)}
        ${unfinished ? sendSignalForm(ctx, page) : ''}
        <h2>Payloads</h2>
        ${ctx.showPayloads ? html`${payload('Input', run.input, run.input_bytes)}${run.step_index > 0 ? payload('Current step input', run.step_input, run.step_input_bytes) : ''}${payload('Output', run.output, run.output_bytes)}` : html`<p class="muted">Inputs and outputs are hidden (<code>showPayloads: false</code>).</p>`}
      </section>`,
  );
}
