// The portal's two static files, served from memory. portal.js is the only script (script-src 'self'): the
// pages work without it, except live updates and local times.

enum StaticFiles {
    static let css = #"""
    :root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b5cad; --bad: #a40e26; --bg: #fff; --soft: #f6f8fa; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
    .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px; }
    header.top { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; padding: 8px 16px; border-bottom: 1px solid var(--line); background: var(--soft); }
    .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
    nav ul { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; margin: 0; padding: 0; }
    nav a[aria-current] { font-weight: 700; }
    .signout { margin-left: auto; display: flex; gap: 8px; align-items: center; }
    main { max-width: 52rem; margin: 0 auto; padding: 12px 16px 32px; }
    footer { max-width: 52rem; margin: 0 auto; padding: 0 16px 24px; font-size: .85em; }
    a { color: var(--accent); }
    a:focus, button:focus, input:focus, select:focus, textarea:focus, summary:focus { outline: 3px solid #f0b429; outline-offset: 1px; }
    h1 { font-size: 1.5em; margin: .4em 0; }
    .card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 8px 0; background: var(--bg); }
    .narrow { max-width: 24rem; }
    ul.cards { list-style: none; padding: 0; }
    label { display: block; font-weight: 600; margin: 10px 0 4px; }
    input, select, textarea { width: 100%; max-width: 32rem; font: inherit; padding: 6px 8px; border: 1px solid #8c959f; border-radius: 4px; }
    input[type=hidden] { display: none; }
    button { font: inherit; margin-top: 10px; padding: 6px 14px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
    .signout button, .users button { margin-top: 0; }
    form.inline { display: inline; } form.inline button { margin: 0 0 0 8px; padding: 2px 10px; }
    button.danger { background: var(--bad); border-color: var(--bad); }
    form.card > button { display: block; }
    .actions { display: flex; gap: 10px; flex-wrap: wrap; }
    .notice { background: #ddf4ff; border: 1px solid #54aeff; padding: 8px 10px; border-radius: 4px; }
    .error { background: #ffebe9; border: 1px solid var(--bad); color: var(--bad); padding: 8px 10px; border-radius: 4px; }
    .muted { color: var(--muted); }
    .state { font-weight: 600; }
    dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
    dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
    ol.thread { list-style: none; padding: 0; }
    ol.thread li { border-left: 3px solid var(--line); padding: 4px 10px; margin: 8px 0; }
    ol.thread p { margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
    table { border-collapse: collapse; width: 100%; margin: 8px 0; } caption { text-align: left; font-weight: 600; }
    th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
    figure.cell img { width: 256px; max-width: 100%; image-rendering: pixelated; border: 1px solid var(--line); }
    code { font-size: .85em; overflow-wrap: anywhere; }
    @media (max-width: 600px) {
      body { font-size: 17px; }
      dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: 6px; }
      table.users thead { display: none; } table.users tr { display: block; border-bottom: 1px solid var(--line); padding: 6px 0; }
      table.users td { display: block; border: 0; padding: 2px 0; }
      .signout { margin-left: 0; }
    }
    """#

    static let script = #"""
    // leuknode portal: local times, and live updates over server-sent events. The pages work without it.
    (function () {
      'use strict';
      var format = { dateStyle: 'medium', timeStyle: 'short' };
      function localise(root) {
        root.querySelectorAll('time[datetime]').forEach(function (t) {
          var d = new Date(t.getAttribute('datetime'));
          if (!isNaN(d.getTime())) { t.textContent = d.toLocaleString(undefined, format); t.title = t.getAttribute('datetime'); }
        });
        root.querySelectorAll('option[data-datetime]').forEach(function (o) {
          var d = new Date(o.getAttribute('data-datetime'));
          if (!isNaN(d.getTime())) { o.textContent = d.toLocaleString(undefined, format) + (o.getAttribute('data-suffix') || ''); }
        });
      }
      localise(document);

      // A datetime-local field holds the browser's local time: send it as UTC too.
      document.querySelectorAll('form[data-local-times]').forEach(function (form) {
        form.addEventListener('submit', function () {
          var local = form.querySelector('input[name=start]'), utc = form.querySelector('input[name=start_utc]');
          if (local && utc && local.value) { var d = new Date(local.value); if (!isNaN(d.getTime())) { utc.value = d.toISOString(); } }
        });
      });

      var live = document.getElementById('live');
      function announce(text) { if (live) { live.textContent = text; live.hidden = false; } }

      var url = document.body.getAttribute('data-events');
      if (!url || !window.EventSource) { return; }
      var source = new EventSource(url);
      function selector(attribute, value) { return '[' + attribute + '="' + CSS.escape(value) + '"]'; }
      function timeElement(iso) { var t = document.createElement('time'); t.setAttribute('datetime', iso); t.textContent = iso; return t; }

      source.addEventListener('message', function (e) {
        var event = JSON.parse(e.data), m = event.message;
        if (!m) { return; }
        var thread = document.querySelector('ol.thread' + selector('data-appointment', event.appointment_id));
        if (thread) {
          if (document.getElementById('m-' + m.id)) { return; }
          var item = document.createElement('li'), who = document.createElement('strong'), body = document.createElement('p');
          item.id = 'm-' + m.id;
          who.textContent = m.sender_name;
          body.textContent = m.body;
          item.append(who, ' ', timeElement(m.sent_at), body);
          thread.appendChild(item);
          localise(item);
          var none = document.getElementById('no-messages');
          if (none) { none.remove(); }
        } else {
          announce('New message from ' + m.sender_name + '.');
        }
      });

      source.addEventListener('appointment', function (e) {
        var a = JSON.parse(e.data).appointment;
        if (!a) { return; }
        var states = document.querySelectorAll(selector('data-appointment-state', a.id));
        states.forEach(function (s) { s.textContent = a.state; });
        document.querySelectorAll(selector('data-appointment-start', a.id)).forEach(function (t) { t.setAttribute('datetime', a.start); localise(t.parentNode); });
        document.querySelectorAll(selector('data-appointment-end', a.id)).forEach(function (t) { t.setAttribute('datetime', a.end); localise(t.parentNode); });
        var list = document.getElementById('appointments');
        if (!states.length && list) {
          var item = document.createElement('li'), link = document.createElement('a'), state = document.createElement('span');
          item.className = 'card';
          link.href = '/appointments/' + encodeURIComponent(a.id);
          link.appendChild(timeElement(a.start));
          state.className = 'state';
          state.setAttribute('data-appointment-state', a.id);
          state.textContent = a.state;
          item.append(link, ' with ' + (document.body.getAttribute('data-role') === 'doctor' ? a.patient_name : a.doctor_name) + ' · ', state);
          list.appendChild(item);
          localise(item);
          var none = document.getElementById('no-upcoming');
          if (none) { none.remove(); }
        }
        announce('Appointment ' + (a.reason ? '(' + a.reason + ') ' : '') + 'is now ' + a.state + '.');
      });

      source.addEventListener('session-ended', function () {
        source.close();
        window.location.assign('/signin?ended=1');
      });
    })();
    """#
}
