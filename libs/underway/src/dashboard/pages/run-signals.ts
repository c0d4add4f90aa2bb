import { clip, formatCount, formatTime } from '../format';
import { Html, html } from '../html';
import type { PageCursor } from '../keyset';
import { LIST_PAYLOAD_CHARS, SIGNAL_TEXT_CHARS } from '../page-bounds';
import type { RunPage } from '../run-page.reader';
import type { OpenWaitJson } from '../run-page.sql';
import type { SignalPageRow } from '../signals.sql';
import { awaitedChildren } from './run-children';
import {
  keysetPager,
  PageContext,
  payloadText,
  queryString,
  stateBadge,
} from './layout';

/*
 * What a run's page shows of its signals and waits: the waits its current
 * step is in (among its facts), and the signals sent to it, counted and
 * listed a page at a time (the latest by default: `?signals_before=`,
 * `?signals_after=`, `?signals=first`).
 */

const SEQ = /^[0-9]{1,18}$/;

/** The page of a run's signals its query string asks for (malformed: the latest). */
export function signalsCursor(
  query: Record<string, unknown>,
): PageCursor<string> {
  for (const kind of ['after', 'before'] as const) {
    const seq = query[`signals_${kind}`];
    if (typeof seq === 'string' && SEQ.test(seq)) {
      return { kind, key: seq };
    }
  }
  return query.signals === 'first' ? { kind: 'first' } : { kind: 'last' };
}

/** `approval or rejection`, `a or b or c or d or e and 7 more`: the names a wait takes. */
export function signalNames(
  names: readonly string[] | null,
  count: number | null,
): Html {
  const shown = names ?? [];
  const more = (count ?? shown.length) - shown.length;
  return html`${shown.map((name, i) => html`${i > 0 ? ' or ' : ''}<strong>${clip(name, SIGNAL_TEXT_CHARS)}</strong>`)}${more > 0 ? html` <span class="muted">and ${formatCount(more)} more</span>` : ''}`;
}

/** `ctx.waitForAny approval or rejection · until …`, `ctx.sleep until …`: an open wait. */
function openWait(wait: OpenWaitJson): Html {
  const until = wait.deadline
    ? html`until ${formatTime(wait.deadline)}`
    : html`no timeout`;
  if (wait.kind === 'sleep') {
    return html`<li data-call="${wait.call_index}">
      <span class="kind">ctx.sleep</span> ${until}
    </li>`;
  }
  return html`<li data-call="${wait.call_index}">
    <span class="kind"
      >${(wait.name_count ?? 0) > 1 ? 'ctx.waitForAny' : 'ctx.waitFor'}</span
    >
    ${signalNames(wait.names, wait.name_count)}
    <span class="muted">· ${until}</span>
  </li>`;
}

/** The facts' *Waiting for* entry: the waits and sleeps the current step is in, and the children it awaits. */
export function waitingFor(page: RunPage): Html {
  const waits = page.run.open_waits;
  const children = awaitedChildren(page);
  if (waits.length === 0 && children.text === '') {
    return html``;
  }
  return html`<dt>Waiting for</dt>
    <dd>
      <ul class="waits">
        ${waits.map(openWait)} ${children}
      </ul>
    </dd>`;
}

/** The wait that took a signal: its step and position. */
function takenBy(page: RunPage, s: SignalPageRow): Html {
  if (s.step_index === null) {
    return html``;
  }
  const name = s.step_name ?? page.stepNames[s.step_index];
  return html`step
    ${s.step_index}${name ? html` <strong>${clip(name, SIGNAL_TEXT_CHARS)}</strong>` : ''}
    <span class="muted">#${s.call_index} · ${formatTime(s.consumed_at)}</span>`;
}

function signalRow(ctx: PageContext, page: RunPage, s: SignalPageRow): Html {
  return html`<tr id="signal-${s.id}" data-signal="${s.id}">
    <td>${formatTime(s.created_at)}</td>
    <th scope="row">${clip(s.name, SIGNAL_TEXT_CHARS)}</th>
    <td>${stateBadge(s.state)}</td>
    <td>${takenBy(page, s)}</td>
    <td>
      ${s.idempotency_key === null ? '' : html`<code>${clip(s.idempotency_key, SIGNAL_TEXT_CHARS)}</code>`}
    </td>
    ${ctx.showPayloads ? html`<td><pre class="payload">${payloadText(s.payload, s.payload_bytes, LIST_PAYLOAD_CHARS)}</pre></td>` : ''}
  </tr>`;
}

/**
 * The signals sent to the run, counted, and a page of them in send order
 * (payloads only with `showPayloads`, as inputs), with keyset links.
 */
export function signalsSection(ctx: PageContext, page: RunPage): Html {
  const { total, pending } = page.signalCounts;
  const heading = html`<h2 id="signals">Signals</h2>`;
  if (total === 0) {
    return html`${heading}
      <p class="muted" id="no-signals">No signal was sent to this run.</p>`;
  }
  const href = (params: Record<string, string | undefined>): string => {
    // The pager's first page is `{}`, its last `{ last: '1' }`: here the
    // latest page is the default.
    const query =
      Object.keys(params).length === 0
        ? { signals: 'first' }
        : params.last === '1'
          ? {}
          : params;
    return `${ctx.base}/runs/${page.run.id}${queryString(query)}#signals`;
  };
  const pager = keysetPager(page.signals, href, (s, direction) => ({
    [`signals_${direction}`]: s.seq,
  }));
  return html`${heading}
    <p class="muted signal-counts">
      ${formatCount(total)} signal${total === 1 ? '' : 's'}:
      ${formatCount(pending)} pending, ${formatCount(total - pending)} taken by
      a
      wait${page.signals.rows.length < total ? html` · ${formatCount(page.signals.rows.length)} listed here, in send order` : ''}
    </p>
    <table class="grid" id="signal-list">
      <thead>
        <tr>
          <th>Sent</th>
          <th>Name</th>
          <th>State</th>
          <th>Taken by</th>
          <th>Idempotency key</th>
          ${ctx.showPayloads ? html`<th>Payload</th>` : ''}
        </tr>
      </thead>
      <tbody>
        ${page.signals.rows.map((s) => signalRow(ctx, page, s))}
        ${
          page.signals.rows.length === 0
            ? html`<tr>
                <td colspan="6" class="empty">No more signals.</td>
              </tr>`
            : ''
        }
      </tbody>
    </table>
    ${pager}`;
}

/** The signal names the run's step waits for: suggestions for the form's name. */
function waitedNames(page: RunPage): string[] {
  return [...new Set(page.run.open_waits.flatMap((w) => w.names ?? []))];
}

/**
 * A form that sends a signal to the run (an unfinished one, unless
 * `readOnly`): the script posts it as JSON with the action header, as the
 * action buttons are posted, and no refresh replaces it while it is in use.
 */
export function sendSignalForm(ctx: PageContext, page: RunPage): Html {
  if (ctx.readOnly) {
    return html``;
  }
  const action = `${ctx.base}/runs/${page.run.id}/signal`;
  const names = waitedNames(page);
  return html`<form
    class="signal-form"
    id="send-signal"
    method="post"
    action="${action}"
    data-action="${action}"
  >
    <h3>Send a signal</h3>
    <label
      >Name
      <input
        name="name"
        required
        maxlength="255"
        autocomplete="off"
        list="waited-signals"
        ${names.length === 1 ? html`value="${names[0]}"` : ''}
    /></label>
    <datalist id="waited-signals">
      ${names.map((name) => html`<option value="${name}"></option>`)}
    </datalist>
    <label
      >Payload (JSON; empty: none)
      <textarea
        name="payload"
        rows="3"
        spellcheck="false"
        placeholder='{"approved": true}'
      ></textarea>
    </label>
    <label
      >Idempotency key (optional)
      <input name="idempotencyKey" maxlength="255" autocomplete="off"
    /></label>
    <button type="submit">Send signal</button>
    <p class="form-flash" role="alert" hidden></p>
    <p class="muted">
      As <code>client.signal()</code>: stored, and taken by the run’s next wait
      for that name (at once if it waits for it now).
    </p>
  </form>`;
}
