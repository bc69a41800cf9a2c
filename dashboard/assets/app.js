// brisk dashboard: polls api/stats every second and api/registry every five, and sends the
// call form to api/call. Every text from the server goes into the page with textContent.
(function () {
  'use strict';

  var schemas = {}; // "Service.Method" -> JSON Schema of its arguments

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function num(v, digits) {
    if (typeof v !== 'number' || !isFinite(v)) { return '–'; }
    return v.toFixed(digits);
  }

  // Latencies: milliseconds, or microseconds under 0.1 ms.
  function ms(v) {
    if (!(v > 0)) { return '–'; }
    return v < 0.1 ? num(1000 * v, 1) + ' µs' : num(v, v < 10 ? 3 : 1) + ' ms';
  }

  function setText(id, text) {
    var e = $(id);
    if (e && e.textContent !== text) { e.textContent = text; }
  }

  function rowFor(tbody, key, service, method) {
    for (var i = 0; i < tbody.rows.length; i++) {
      if (tbody.rows[i].dataset.key === key) { return tbody.rows[i]; }
    }
    var tr = el('tr');
    tr.dataset.key = key;
    tr.appendChild(el('td', service));
    tr.appendChild(el('td', method));
    tr.appendChild(el('td', ''));
    ['calls', 'errors', 'rate', 'error_rate', 'p50_ms', 'p90_ms', 'p99_ms', 'in_flight'].forEach(function (f) {
      var td = el('td', '0', 'n');
      td.dataset.f = f;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
    return tr;
  }

  function updateMethods(methods) {
    var tbody = $('methods').tBodies[0];
    methods.forEach(function (m) {
      var key = m.method ? m.service + '.' + m.method : m.service;
      var tr = rowFor(tbody, key, m.service, m.method);
      var values = {
        calls: String(m.calls), errors: String(m.errors), rate: num(m.rate, 1),
        error_rate: m.window_calls > 0 ? num(100 * m.error_rate, 1) + ' %' : '–',
        p50_ms: ms(m.p50_ms), p90_ms: ms(m.p90_ms), p99_ms: ms(m.p99_ms), in_flight: String(m.in_flight)
      };
      for (var i = 0; i < tr.cells.length; i++) {
        var f = tr.cells[i].dataset.f;
        if (f && values[f] !== undefined && tr.cells[i].textContent !== values[f]) {
          tr.cells[i].textContent = values[f];
        }
      }
      tr.classList.toggle('failing', m.window_calls > 0 && m.error_rate > 0);
    });
  }

  function updateClients(snap) {
    var tbody = $('clients').tBodies[0];
    var rows = [];
    if (!snap.clients_tracked && (!snap.clients || snap.clients.length === 0)) {
      var td = el('td', 'not tracked: install st.ConnHooks() in the server');
      td.colSpan = 4;
      rows.push(el('tr'));
      rows[0].appendChild(td);
    }
    (snap.clients || []).forEach(function (c) {
      var tr = el('tr');
      tr.appendChild(el('td', c.address));
      tr.appendChild(el('td', c.network));
      tr.appendChild(el('td', c.since && c.since.indexOf('0001-') !== 0 ? new Date(c.since).toLocaleString() : '–'));
      tr.appendChild(el('td', String(c.calls), 'n'));
      rows.push(tr);
    });
    tbody.replaceChildren.apply(tbody, rows);
  }

  function pollStats() {
    fetch('api/stats', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (s) {
        setText('t-rate', num(s.totals.rate, 1));
        setText('t-calls', String(s.totals.calls));
        setText('t-errors', String(s.totals.errors));
        setText('t-inflight', String(s.totals.in_flight));
        setText('t-clients', String(s.totals.clients));
        setText('window', String(s.window_seconds));
        updateMethods(s.methods || []);
        updateClients(s);
        setText('status', 'updated ' + new Date(s.time).toLocaleTimeString());
        $('status').classList.remove('bad');
      })
      .catch(function (e) {
        setText('status', 'cannot reach the server: ' + e.message);
        $('status').classList.add('bad');
      })
      .finally(function () { setTimeout(pollStats, 1000); });
  }

  function pollRegistry() {
    fetch('api/registry', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (reg) {
        if (!reg.configured) { return; }
        var out = [];
        reg.services.forEach(function (svc) {
          out.push(el('h3', svc.name));
          if (!svc.known) { out.push(el('p', 'no discovery for this service', 'note')); return; }
          var table = el('table');
          var head = el('tr');
          ['Server', 'State', 'Weight', 'Groups', 'Metadata'].forEach(function (h, i) {
            head.appendChild(el('th', h, i === 2 ? 'n' : ''));
          });
          table.appendChild(el('thead')).appendChild(head);
          var body = table.appendChild(el('tbody'));
          if (svc.servers.length === 0) {
            var td = el('td', 'the registry lists no server');
            td.colSpan = 5;
            body.appendChild(el('tr')).appendChild(td);
          }
          svc.servers.forEach(function (s) {
            var tr = el('tr');
            var key = tr.appendChild(el('td'));
            key.appendChild(el('code', s.key));
            if (s.self) { key.appendChild(document.createTextNode(' ')); key.appendChild(el('span', 'this server', 'tag')); }
            tr.appendChild(el('td', s.state, 'state-' + (s.state === 'inactive' ? 'inactive' : 'active')));
            tr.appendChild(el('td', String(s.weight), 'n'));
            tr.appendChild(el('td', (s.groups || []).join(', ')));
            tr.appendChild(el('td')).appendChild(el('code', s.metadata));
            body.appendChild(tr);
          });
          out.push(table);
        });
        var box = $('registry');
        box.replaceChildren.apply(box, out);
      })
      .catch(function () { /* the stats poll reports an unreachable server */ })
      .finally(function () { setTimeout(pollRegistry, 5000); });
  }

  function loadSchemas() {
    fetch('api/services', { cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        (s.services || []).forEach(function (svc) {
          (svc.methods || []).forEach(function (m) {
            if (m.args) { schemas[svc.name + '.' + m.name] = m.args; }
          });
        });
        showSchema();
      })
      .catch(function () {});
  }

  function showSchema() {
    var box = $('call-schema-box');
    if (!box) { return; }
    var schema = schemas[$('call-method').value];
    box.hidden = !schema;
    $('call-schema').textContent = schema ? JSON.stringify(schema, null, 2) : '';
  }

  function callStatus(text, bad) {
    var st = $('call-status');
    st.textContent = text;
    st.classList.toggle('bad', !!bad);
  }

  function submitCall(ev) {
    ev.preventDefault();
    var method = $('call-method').value.trim();
    var argsText = $('call-args').value.trim() || '{}';
    var mdText = $('call-metadata').value.trim();
    $('call-result').textContent = '';
    try { JSON.parse(argsText); } catch (e) { callStatus('the arguments are not valid JSON: ' + e.message, true); return; }
    if (mdText) {
      try { JSON.parse(mdText); } catch (e) { callStatus('the metadata is not valid JSON: ' + e.message, true); return; }
    }
    // The arguments go as written (JSON.parse would round large integers).
    var body = '{"method":' + JSON.stringify(method) + ',"args":' + argsText + (mdText ? ',"metadata":' + mdText : '') + '}';
    callStatus('calling ' + method + '…', false);
    $('call-submit').disabled = true;
    fetch('api/call', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
      })
      .then(function (res) {
        if (res.ok) {
          callStatus('OK in ' + num(res.data.elapsed_ms, 3) + ' ms', false);
          $('call-result').textContent = JSON.stringify(res.data.reply, null, 2);
        } else {
          callStatus('error (HTTP ' + res.status + ', ' + res.data.kind + '): ' + res.data.error, true);
        }
      })
      .catch(function (e) { callStatus('the call failed: ' + e.message, true); })
      .finally(function () { $('call-submit').disabled = false; });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('call-form');
    if (form) {
      form.addEventListener('submit', submitCall);
      $('call-method').addEventListener('input', showSchema);
      loadSchemas();
    }
    pollStats();
    pollRegistry();
  });
})();
