/**
 * The dashboard's one script, served from the dashboard itself: the
 * Content-Security-Policy allows no inline script and no other origin.
 *
 * - Action buttons (`data-action`) take two clicks (the first asks to
 *   confirm), then `POST` with the header `X-Underway-Dashboard: 1`, which no
 *   cross-site form can send (and cross-site `fetch` cannot without a CORS
 *   preflight the dashboard never answers), and reload the page with the
 *   outcome. An action form (`form[data-action]`: send a signal) is posted
 *   the same way on submit, its fields as a JSON object of strings; a
 *   refusal is shown in the form (`.form-flash`), its fields kept.
 * - Sections marked `data-live` are refreshed every `data-refresh-ms` while
 *   the tab is visible: the page is fetched again and each section replaced
 *   by its new version (rendered and escaped by the server, parsed inertly),
 *   except while an action form has the focus or anything typed in it.
 *
 * Plain ES2017, written as a string so that it ships as is: no build step.
 */
export const DASHBOARD_SCRIPT = `'use strict';
(function () {
  var FLASH_KEY = 'underway-dashboard-flash';

  function showFlash() {
    var flash = document.getElementById('flash');
    var stored = null;
    try { stored = JSON.parse(sessionStorage.getItem(FLASH_KEY) || 'null'); } catch (e) { stored = null; }
    sessionStorage.removeItem(FLASH_KEY);
    if (flash && stored && typeof stored.message === 'string') {
      flash.textContent = stored.message;
      flash.className = stored.ok ? '' : 'bad';
      flash.hidden = false;
    }
  }

  // onRefused: keeps the page (a form's fields) and shows the refusal there;
  // without it, the page reloads with the outcome either way.
  function post(url, body, onRefused) {
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-underway-dashboard': '1' },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        var message = json && typeof json.message === 'string' ? json.message
          : (response.ok ? 'Done.' : 'Refused (' + response.status + ').');
        if (!response.ok && onRefused) { onRefused(message); return; }
        sessionStorage.setItem(FLASH_KEY, JSON.stringify({ ok: response.ok, message: message }));
        location.reload();
      });
    }, function (error) {
      if (onRefused) { onRefused('Request failed: ' + error); return; }
      sessionStorage.setItem(FLASH_KEY, JSON.stringify({ ok: false, message: 'Request failed: ' + error }));
      location.reload();
    });
  }

  document.addEventListener('click', function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest('button[data-action]') : null;
    if (!button || button.disabled) { return; }
    event.preventDefault();
    if (button.getAttribute('data-confirming') === '1') {
      button.disabled = true;
      post(button.getAttribute('data-action'), button.getAttribute('data-body') || '{}');
      return;
    }
    var label = button.textContent;
    button.setAttribute('data-confirming', '1');
    button.classList.add('confirming');
    button.textContent = 'Confirm: ' + label.toLowerCase() + '?';
    setTimeout(function () {
      if (!button.disabled) {
        button.removeAttribute('data-confirming');
        button.classList.remove('confirming');
        button.textContent = label;
      }
    }, 5000);
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches('form[data-action]')) { return; }
    event.preventDefault();
    if (form.getAttribute('data-sending') === '1') { return; }
    form.setAttribute('data-sending', '1');
    var body = {};
    new FormData(form).forEach(function (value, name) { body[name] = String(value); });
    var submit = form.querySelector('button[type="submit"]');
    var refusal = form.querySelector('.form-flash');
    if (submit) { submit.disabled = true; }
    post(form.getAttribute('data-action'), JSON.stringify(body), function (message) {
      if (refusal) { refusal.textContent = message; refusal.hidden = false; }
      if (submit) { submit.disabled = false; }
      form.removeAttribute('data-sending');
    });
  });

  function editing() {
    var forms = document.querySelectorAll('form[data-action]');
    for (var i = 0; i < forms.length; i++) {
      if (forms[i].contains(document.activeElement)) { return true; }
      var fields = forms[i].querySelectorAll('input, textarea');
      for (var j = 0; j < fields.length; j++) {
        if (fields[j].value !== fields[j].defaultValue) { return true; }
      }
    }
    return false;
  }

  function refresh() {
    var live = document.querySelectorAll('[data-live][id]');
    if (live.length === 0 || document.hidden || document.querySelector('[data-confirming]') || editing()) { return; }
    fetch(location.href, { credentials: 'same-origin', headers: { 'x-underway-refresh': '1' } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var next = new DOMParser().parseFromString(text, 'text/html');
        live.forEach(function (section) {
          var replacement = next.getElementById(section.id);
          if (replacement) { section.replaceWith(document.importNode(replacement, true)); }
        });
        document.body.setAttribute('data-refreshed-at', String(Date.now()));
      })
      .catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener('DOMContentLoaded', function () {
    showFlash();
    var ms = Number(document.body.getAttribute('data-refresh-ms'));
    if (ms > 0) { setInterval(refresh, ms); }
  });
})();
`;
