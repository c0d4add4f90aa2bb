import { between, formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import type { AttemptJson, CallJson } from '../run-page.sql';
import type { CallView } from '../run-timeline';
import { errorText, stateBadge } from './layout';
import { signalNames } from './run-signals';

/*
 * The rows of a run's timeline: a step's attempts, and each of its entries
 * (an activity call or emit with its attempts, a wait or a sleep) as its
 * kind reads.
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

export function entryItem({ call, attempts }: CallView): Html {
  if (call.kind === 'wait' || call.kind === 'sleep') {
    return waitItem(call);
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
