import type { ActivityCallDetails } from '../../activity/activity-call-details';
import type { AttemptDetails } from '../../client/run-details.interface';
import type { RunPage } from '../dashboard.service';
import { between, formatTime } from '../format';
import { Html, html } from '../html';
import {
  actionButton,
  errorText,
  layout,
  PageContext,
  queryString,
  queueHref,
  runLink,
  stateBadge,
} from './layout';

const UNFINISHED = new Set(['pending', 'running', 'waiting']);

/** Pretty JSON of a payload, as text; or why it is not shown. */
function payload(ctx: PageContext, label: string, json: unknown): Html {
  if (!ctx.showPayloads) {
    return html``;
  }
  const text = json === undefined ? 'none' : JSON.stringify(json, null, 2);
  return html`<h3>${label}</h3>
    <pre class="payload">${text}</pre>`;
}

function attemptRows(attempts: readonly AttemptDetails[]): Html {
  return html`<table class="attempts">
    <thead>
      <tr>
        <th>Attempt</th>
        <th>Outcome</th>
        <th>Worker</th>
        <th>Started</th>
        <th>Took</th>
        <th>Error</th>
      </tr>
    </thead>
    <tbody>
      ${attempts.map(
        (a) =>
          html`<tr>
            <td>${a.attempt}</td>
            <td>${stateBadge(a.state)}</td>
            <td>${a.worker ?? ''}</td>
            <td>${formatTime(a.startedAt)}</td>
            <td>${between(a.startedAt, a.completedAt)}</td>
            <td>${errorText(a.error)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function callItem(call: ActivityCallDetails): Html {
  return html`<li class="call" data-call="${call.stepIndex}/${call.callIndex}">
    <div class="call-head">
      <span class="kind"
        >${call.kind === 'call' ? 'ctx.call' : 'ctx.emit'}</span
      >
      <strong>${call.name}</strong> ${stateBadge(call.state)}
      <span class="muted"
        >#${call.callIndex} · attempt ${call.attempt}/${call.maxAttempts} ·
        ${call.startedAt ? html`started ${formatTime(call.startedAt)}` : 'not started'}${call.completedAt ? html` · took ${between(call.startedAt ?? call.createdAt, call.completedAt)}` : ''}</span
      >
    </div>
    ${call.error ? html`<div>${errorText(call.error)}</div>` : ''}
    ${
      call.attempts.length > 0
        ? html`<table class="attempts">
            <tbody>
              ${call.attempts.map(
                (a) =>
                  html`<tr>
                    <td>${a.attempt}</td>
                    <td>${stateBadge(a.state)}</td>
                    <td>${a.worker ?? ''}</td>
                    <td>${formatTime(a.startedAt)}</td>
                    <td>${between(a.startedAt, a.completedAt)}</td>
                    <td>${errorText(a.error)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : ''
    }
  </li>`;
}

/** The timeline: each step, its attempts and its activity calls, in order. */
function timeline(page: RunPage): Html {
  const { run, extras } = page;
  const steps = Math.max(
    run.stepCount ?? 0,
    run.currentStep.index + 1,
    ...run.attempts.map((a) => a.stepIndex + 1),
    ...run.activityCalls.map((c) => c.stepIndex + 1),
  );
  const items: Html[] = [];
  for (let index = 0; index < steps; index++) {
    const attempts = run.attempts.filter((a) => a.stepIndex === index);
    const calls = run.activityCalls.filter((c) => c.stepIndex === index);
    const current = index === run.currentStep.index;
    const status =
      index < run.currentStep.index || (current && run.state === 'succeeded')
        ? 'done'
        : current
          ? run.state
          : 'not reached';
    const name = page.stepNames?.[index] ?? attempts[0]?.stepName ?? '';
    items.push(
      html`<li
        class="step step-${status.replace(/ /g, '-')}"
        data-step="${index}"
      >
        <div class="step-head">
          <span class="step-index">${index}</span>
          <strong>${name || '(unknown step)'}</strong>
          <span class="muted">${status}</span>${
            current && run.state === 'running' && extras.attempt_started_at
              ? html` <span class="muted"
                  >· attempt ${run.attempt} running since
                  ${formatTime(extras.attempt_started_at)}${extras.lease_owner ? html` on ${extras.lease_owner}` : ''}</span
                >`
              : ''
          }${current && extras.open_calls > 0 ? html` <span class="muted">· waiting on ${extras.open_calls} call(s)</span>` : ''}
        </div>
        ${attempts.length > 0 ? attemptRows(attempts) : ''}
        ${
          calls.length > 0
            ? html`<ul class="calls">
                ${calls.map(callItem)}
              </ul>`
            : ''
        }
      </li>`,
    );
  }
  return html`<ol class="timeline">
    ${items}
  </ol>`;
}

/** One run: what it is, where it is, every attempt and call, and its actions. */
export function runPage(ctx: PageContext, page: RunPage): Html {
  const { run, extras } = page;
  const live = UNFINISHED.has(run.state);
  const redriven = extras.redriven_run_id !== null;
  const actions = [
    live
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
              href="${ctx.base}/runs${queryString({ workflow: run.workflowName })}"
              >${run.workflowName}</a
            >
          </dd>
          <dt>Step</dt>
          <dd>
            ${run.currentStep.index}${run.currentStep.name ? html` <strong>${run.currentStep.name}</strong>` : ''}${run.stepCount !== undefined ? html` of ${run.stepCount}` : ''}
          </dd>
          <dt>Attempt</dt>
          <dd>${run.attempt}/${run.maxAttempts}</dd>
          <dt>Enqueued</dt>
          <dd>${formatTime(run.createdAt)}</dd>
          <dt>Started</dt>
          <dd>${formatTime(run.startedAt) || '–'}</dd>
          <dt>Finished</dt>
          <dd>
            ${run.completedAt ? html`${formatTime(run.completedAt)} <span class="muted">(took ${between(run.startedAt ?? run.createdAt, run.completedAt)})</span>` : '–'}
          </dd>
          ${
            run.runAt && live
              ? html`<dt>Due</dt>
                  <dd>${formatTime(run.runAt)}</dd>`
              : ''
          }
          <dt>Priority</dt>
          <dd>${run.priority}</dd>
          ${
            extras.concurrency_key !== null
              ? html`<dt>Concurrency key</dt>
                  <dd><code>${extras.concurrency_key}</code></dd>`
              : ''
          }
          ${
            run.idempotencyKey !== undefined
              ? html`<dt>Idempotency key</dt>
                  <dd><code>${run.idempotencyKey}</code></dd>`
              : ''
          }
          ${
            extras.dead_letter !== null
              ? html`<dt>Dead letter</dt>
                  <dd>
                    <a href="${queueHref(ctx, extras.dead_letter)}"
                      >${extras.dead_letter}</a
                    >${redriven ? html` · redriven ${formatTime(extras.redriven_at)} as ${runLink(ctx, extras.redriven_run_id)}` : ''}
                  </dd>`
              : ''
          }
          ${
            run.error
              ? html`<dt>Last error</dt>
                  <dd>${errorText(run.error)}</dd>`
              : ''
          }
        </dl>
        <h2>Timeline</h2>
        ${timeline(page)}
        <h2>Payloads</h2>
        ${ctx.showPayloads ? html`${payload(ctx, 'Input', run.input)}${run.currentStep.index > 0 ? payload(ctx, 'Current step input', extras.step_input === null ? undefined : JSON.parse(extras.step_input)) : ''}${payload(ctx, 'Output', run.output)}` : html`<p class="muted">Inputs and outputs are hidden (<code>showPayloads: false</code>).</p>`}
      </section>`,
  );
}
