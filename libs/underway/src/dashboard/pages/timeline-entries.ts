import { between, clip, formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import type { AttemptJson, CallJson } from '../run-timeline.sql';
import type { CallView } from '../run-timeline';
import {
  CHILD_ERROR_CHARS,
  CHILD_OUTPUT_CHARS,
  CHILD_TEXT_CHARS,
} from '../page-bounds';
import {
  errorText,
  PageContext,
  payloadText,
  runLink,
  stateBadge,
} from './layout';
import { signalNames } from './run-signals';

/*
 * The rows of a run's timeline: a step's attempts, and each of its entries
 * (an activity call or emit with its attempts, a wait or a sleep, a child)
 * as its kind reads.
 */

function attemptRow(a: AttemptJson): Html {
  return html`<tr data-attempt="${a.attempt}">
    <td>${a.attempt}</td>
    <td>${stateBadge(a.state)}</td>
    <td>${a.worker ?? ''}</td>
    <td>${formatTime(a.started_at)}</td>
    <td>${between(a.started_at, a.completed_at)}</td>
    <td>${errorText(a.error)}</td>
  </tr>`;
}

export function attemptTable(
  attempts: readonly AttemptJson[],
  head: boolean,
): Html {
  return html`<table class="attempts">
    ${
      head
        ? html`<thead>
            <tr>
              <th>Attempt</th>
              <th>Outcome</th>
              <th>Worker</th>
              <th>Started</th>
              <th>Took</th>
              <th>Error</th>
            </tr>
          </thead>`
        : ''
    }
    <tbody>
      ${attempts.map(attemptRow)}
    </tbody>
  </table>`;
}

/** A wait's or sleep's state, as a person reads it (`getRun().waits` says `received` too). */
function waitState(call: CallJson): string {
  if (call.kind === 'wait' && call.state === 'succeeded') {
    return 'received';
  }
  return call.kind === 'sleep' && call.state === 'timed_out'
    ? 'done'
    : call.state;
}

/** A `ctx.waitFor` / `waitForAny` / `sleep`: what it waits for, until when, and what it took. */
function waitItem(call: CallJson): Html {
  const label =
    call.kind === 'sleep'
      ? 'ctx.sleep'
      : (call.name_count ?? 0) > 1
        ? 'ctx.waitForAny'
        : 'ctx.waitFor';
  const when =
    call.state === 'waiting'
      ? call.deadline
        ? `until ${formatTime(call.deadline)}`
        : 'no timeout'
      : `ended ${formatTime(call.completed_at)}`;
  const took =
    call.state !== 'succeeded'
      ? ''
      : call.signal_id
        ? html` · took
            <a href="#signal-${call.signal_id}" title="${call.signal_id}"
              >${call.signal_name ?? 'a signal'}</a
            >`
        : ' · took a signal';
  return html`<li
    class="call"
    data-call="${call.call_index}"
    data-kind="${call.kind}"
  >
    <div class="call-head">
      <span class="kind">${label}</span>
      ${signalNames(call.names, call.name_count)} ${stateBadge(waitState(call))}
      <span class="muted">#${call.call_index} · ${when}${took}</span>
    </div>
  </li>`;
}

/**
 * A child's state: its run's now, or, once its run is no longer retained,
 * what its entry recorded (`failed` with the child's final state).
 */
function childState(call: CallJson): string {
  if (call.child_state !== null) {
    return call.child_state;
  }
  const recorded = (call.error as { state?: unknown } | null)?.state;
  return call.state === 'failed' && recorded === 'cancelled'
    ? 'cancelled'
    : call.state;
}

/**
 * A `ctx.child` / `ctx.startChild`: the child's workflow, its run's state and
 * a link to it, when it was started or ended, its error, and its output (as
 * its entry recorded it) only with `showPayloads`.
 */
function childItem(ctx: PageContext, call: CallJson): Html {
  const when = call.completed_at
    ? `ended ${formatTime(call.completed_at)} · took ${between(call.created_at, call.completed_at)}`
    : `started ${formatTime(call.created_at)}`;
  return html`<li
    class="call"
    data-call="${call.call_index}"
    data-kind="${call.kind}"
    data-child="${call.child_run_id ?? ''}"
  >
    <div class="call-head">
      <span class="kind"
        >${call.kind === 'child' ? 'ctx.child' : 'ctx.startChild'}</span
      >
      <strong>${clip(call.name, CHILD_TEXT_CHARS)}</strong>
      ${stateBadge(childState(call))}
      <span class="muted"
        >#${call.call_index} · run
        ${runLink(ctx, call.child_run_id)}${call.child_run_id !== null && call.child_state === null ? ' (no longer retained)' : ''}
        · ${when}</span
      >
    </div>
    ${call.error ? html`<div>${errorText(call.error, CHILD_ERROR_CHARS)}</div>` : ''}
    ${ctx.showPayloads && call.state === 'succeeded' ? html`<pre class="payload child-output">${payloadText(call.child_output, call.child_output_bytes, CHILD_OUTPUT_CHARS)}</pre>` : ''}
  </li>`;
}

export function entryItem(
  ctx: PageContext,
  { call, attempts }: CallView,
): Html {
  if (call.kind === 'wait' || call.kind === 'sleep') {
    return waitItem(call);
  }
  if (call.kind === 'child' || call.kind === 'start') {
    return childItem(ctx, call);
  }
  const earlier =
    call.attempt - attempts.length - (call.state === 'running' ? 1 : 0);
  return html`<li class="call" data-call="${call.call_index}">
    <div class="call-head">
      <span class="kind"
        >${call.kind === 'call' ? 'ctx.call' : 'ctx.emit'}</span
      >
      <strong>${call.name}</strong> ${stateBadge(call.state)}
      <span class="muted"
        >#${call.call_index} · attempt ${call.attempt}/${call.max_attempts} ·
        ${call.started_at ? html`started ${formatTime(call.started_at)}` : 'not started'}${call.completed_at ? html` · took ${between(call.started_at ?? call.created_at, call.completed_at)}` : ''}</span
      >
    </div>
    ${call.error ? html`<div>${errorText(call.error)}</div>` : ''}
    ${attempts.length > 0 ? attemptTable(attempts, false) : ''}
    ${attempts.length > 0 && earlier > 0 ? html`<p class="muted more">and ${formatCount(earlier)} earlier attempt(s)</p>` : ''}
  </li>`;
}
