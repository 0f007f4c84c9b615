'use strict';
// privlink dashboard (docs/dashboard.md). Draws GET /v1/dashboard/topology, shows the
// frames of GET /v1/dashboard/live (Server-Sent Events) and acts through the
// admin API's JSON endpoints, as a script would. Plain DOM, no framework.
// This file: helpers, the API, the live frames, the panels, explain, start;
// topology.js (loaded next): the topology and its actions.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// h builds an element: attributes (on* are listeners), then children.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k !== null && k !== undefined && k !== false) el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

// States are shown as an icon and a word; the colour only repeats them.
const STATE_ICON = {
  available: '✔', healthy: '✔', initial: '○', pendingAcceptance: '○', draining: '↘',
  unused: '–', deleted: '–', unhealthy: '✖', rejected: '✖',
};
const STATE_TONE = {
  available: 'ok', healthy: 'ok', initial: 'wait', pendingAcceptance: 'wait', draining: 'warn',
  unused: 'off', deleted: 'off', unhealthy: 'bad', rejected: 'bad',
};

function badge(state, reason) {
  const b = h('span', {class: 'badge tone-' + (STATE_TONE[state] || 'off')}, (STATE_ICON[state] || '•') + ' ' + state);
  return reason ? [b, ' ', h('code', {class: 'reason'}, reason)] : [b];
}

function fmtCount(n) { return Number.isInteger(n) ? String(n) : n.toFixed(1); }

function fmtBytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
}

function naclText(id) { return id ? 'NACL ' + id : 'default NACL'; }

// rules lists the rule layers a box is judged by.
function rules(...layers) {
  const parts = layers.filter(Boolean);
  return h('p', {class: 'rules'}, h('span', {class: 'label'}, 'Rules: '), parts.join(' · ') || 'none');
}

function sgText(ids, none) { return ids && ids.length ? 'SG ' + ids.join(', ') : none; }

function say(msg, ok) {
  const el = $('#action-status');
  el.dataset.ok = ok ? 'yes' : 'no';
  el.textContent = (ok ? '✔ ' : '✖ ') + msg;
}

// ---- admin API -----------------------------------------------------------

async function api(method, path, body) {
  const init = {method, headers: {Accept: 'application/json'}};
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, init);
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || r.status + ' ' + r.statusText);
  return j;
}

async function act(what, method, path, body) {
  try {
    await api(method, path, body);
    say(what + ': done', true);
  } catch (e) {
    say(what + ': ' + e.message, false);
  }
  scheduleTopology();
}

// ---- live frames -----------------------------------------------------------

let lastFrame = null;
let frameTopology = '';

function onFrame(f) {
  lastFrame = f;
  // A reload (new topology) or a target registered or removed redraws; so
  // does a frame after the first load failed.
  const changed = !topo || (frameTopology && f.topology !== frameTopology) || targetsSig(f.targets) !== drawnTargets;
  frameTopology = f.topology;
  if (changed) scheduleTopology();
  applyFrame(f);
}

function applyFrame(f) {
  for (const e of f.endpoints) {
    const el = $(`[data-endpoint-state="${CSS.escape(e.id)}"]`);
    if (el && el.dataset.state !== e.state + e.reason) {
      el.dataset.state = e.state + e.reason;
      el.replaceChildren(...badge(e.state, e.reason));
      setEndpointButtons(e.id, e.state);
    }
  }
  for (const t of f.targets) {
    const k = key(t.service, t.target_group, t.target);
    const el = $(`[data-target="${CSS.escape(k)}"]`);
    if (el) el.replaceChildren(...badge(t.state, t.reason));
    const fl = $(`[data-target-flows="${CSS.escape(k)}"]`);
    if (fl) fl.textContent = 'active flows ' + t.active_flows;
  }
  for (const z of f.zones) {
    for (const el of $$(`p[data-zone="${CSS.escape(key(z.service, z.az))}"]`)) {
      el.textContent = `active ${z.active_flows} · new ${fmtCount(z.new_flows_per_s)}/s · ${fmtBytes(z.bytes_per_s)}/s`;
    }
  }
  hopCounts(f);
  for (const p of PANELS) p.render(f);
}

function hopCounts(f) {
  for (const col of $$('#graph .col')) {
    const hops = col.dataset.hops.split(' ').filter(Boolean);
    const out = $('.hopcount', col);
    if (!hops.length) { out.textContent = ''; continue; }
    const here = f.rejected.filter(r => hops.includes(r.hop) && r.total > 0);
    const n = here.reduce((a, r) => a + r.total, 0);
    out.textContent = n ? `✖ rejected here: ${n} (${here.map(r => r.hop + ' ' + r.total).join(', ')})` : 'rejected here: 0';
    out.dataset.rejected = n ? 'yes' : 'no';
  }
}

// rows replaces a table's body; an empty list shows one "none" row.
function rows(panel, list, row, cols) {
  const body = $(panel + ' tbody');
  body.replaceChildren(...(list.length ? list.map(row)
    : [h('tr', {}, h('td', {colspan: cols, class: 'muted'}, 'none yet'))]));
}

const td = (...kids) => h('td', {}, ...kids);

// PANELS render the live frame below the topology. A panel is a
// <section class="panel"> in index.html and an entry here.
const PANELS = [
  {name: 'traffic', render: f => rows('#panel-traffic', f.zones, z => h('tr', {'data-zone': key(z.service, z.az)},
    td(h('code', {}, z.service)), td(z.az), h('td', {class: 'active'}, fmtCount(z.active_flows)),
    h('td', {class: 'new'}, fmtCount(z.new_flows)), td(fmtCount(z.new_flows_per_s)), td(fmtBytes(z.bytes_per_s))), 6)},
  {name: 'rejected', render: f => rows('#panel-rejected', f.rejected.filter(r => r.total > 0), r => h('tr', {'data-hop': r.hop},
    td(h('code', {}, r.service)), td(h('code', {}, r.hop)), td(fmtCount(r.total)), td(fmtCount(r.per_s))), 4)},
  {name: 'denied', render: f => rows('#panel-denied', f.denied, d => h('tr', {'data-hop': d.hop},
    td(new Date(d.time).toLocaleTimeString()), td(d.client), td(d.interface + ' (' + d.az + ')'),
    td('✖ ', h('code', {}, d.hop)), td(d.rule)), 5)},
  {name: 'ports', render: f => rows('#panel-ports', f.ports, p => h('tr', {},
    td(p.node), td(p.target), td(String(p.in_use)), td(String(p.budget))), 4)},
  {name: 'faults', render: renderFaults},
];

// ---- faults --------------------------------------------------------------------

const FAULT_ICON = {pending: '○', active: '⚡', ended: '–'};
let drawnFaults = '';

function scopeText(sc) {
  const parts = Object.entries(sc || {}).filter(([, v]) => v !== '' && v !== 0 && v != null);
  return parts.length ? parts.map(([k, v]) => k + '=' + v).join(' ') : 'everything';
}

// renderFaults redraws the table only when a fault or its count changed,
// so the Remove buttons keep focus between frames.
function renderFaults(f) {
  const list = f.faults || [];
  const sig = JSON.stringify(list.map(x => [x.id, x.state, x.flows]));
  if (sig === drawnFaults) return;
  drawnFaults = sig;
  rows('#panel-faults', list, x => h('tr', {'data-fault': x.id},
    td(h('code', {}, x.id)), td(x.kind), td(scopeText(x.scope)),
    h('td', {class: 'fault-state'}, (FAULT_ICON[x.state] || '•') + ' ' + x.state), td(String(x.flows)), td(x.source),
    td(h('button', {type: 'button', 'aria-label': 'Remove fault ' + x.id,
      onclick: () => act('remove fault ' + x.id, 'DELETE', '/v1/faults/' + encodeURIComponent(x.id))}, 'Remove'))), 7);
}

function fillFaultKinds(t) {
  const sel = $('#fault-form select[name="kind"]');
  if (sel.options.length) return;
  sel.replaceChildren(...(t.fault_kinds || []).map(k => h('option', {value: k}, k)));
}

// faultBody builds POST /v1/faults's body from the form; the API checks
// it and its error names the field.
function faultBody(form) {
  const f = new FormData(form);
  let body = {};
  const params = f.get('params').trim();
  if (params) {
    body = JSON.parse(params); // a syntax error is reported by addFault
    if (typeof body !== 'object' || Array.isArray(body) || body === null) throw new Error('parameters: want a JSON object');
  }
  body.kind = f.get('kind');
  const k = f.get('scope_key'), v = f.get('scope_value').trim();
  if (k) body.scope = {[k]: k === 'listener' ? Number(v) : v};
  return body;
}

async function addFault(e) {
  e.preventDefault();
  let body;
  try {
    body = faultBody(e.target);
  } catch (err) {
    say('add fault: ' + err.message, false);
    return;
  }
  await act('add fault ' + body.kind, 'POST', '/v1/faults', body);
}

function feed(state, text) {
  const el = $('#feed');
  el.dataset.state = state;
  el.textContent = text;
}

function connectLive() {
  const es = new EventSource('/v1/dashboard/live');
  es.addEventListener('frame', e => {
    if ($('#feed').dataset.state !== 'live') feed('live', '● live');
    onFrame(JSON.parse(e.data));
  });
  es.addEventListener('error', () => feed('down', '◌ live feed lost; reconnecting…'));
}

// ---- explain -----------------------------------------------------------------

function fillExplainEndpoints(t) {
  const sel = $('#explain-form select[name="endpoint"]');
  const was = sel.value;
  sel.replaceChildren(...t.endpoints.map(ep => h('option', {value: ep.id}, ep.id)));
  if (was) sel.value = was;
}

async function explain(e) {
  e.preventDefault();
  const f = new FormData(e.target);
  const q = new URLSearchParams({from: f.get('from').trim(), endpoint: f.get('endpoint')});
  if (f.get('port').trim()) q.set('port', f.get('port').trim());
  const out = $('#explain-out');
  try {
    out.replaceChildren(explainTable(await api('GET', '/v1/explain?' + q)));
  } catch (err) {
    out.replaceChildren(h('p', {class: 'error'}, '✖ ' + err.message));
  }
}

const VERDICT_ICON = {allow: '✔', deny: '✖', skip: '–'};

function hopRow(where, hp) {
  return h('tr', {'data-verdict': hp.verdict}, td(where), td(h('code', {}, hp.hop)), td(hp.place), td(hp.rule),
    h('td', {class: 'verdict-' + hp.verdict}, (VERDICT_ICON[hp.verdict] || '') + ' ' + hp.verdict));
}

function explainTable(r) {
  const trs = [hopRow('endpoint', r.endpoint_state)];
  for (const p of r.paths) {
    for (const hp of p.consumer) trs.push(hopRow(p.interface + ' (' + p.az + ')', hp));
    for (const t of p.targets) {
      for (const hp of t.hops) trs.push(hopRow('→ ' + t.target + (t.check === 'health_check' ? ' health check' : ''), hp));
    }
  }
  const verdict = (r.allowed ? '✔ ' : '✖ ') + r.verdict;
  return h('div', {},
    h('p', {class: 'verdict'}, 'From ' + r.from + ' to ' + r.endpoint + ': ', h('strong', {}, verdict)),
    h('table', {class: 'hops'},
      h('thead', {}, h('tr', {}, ['Where', 'Hop', 'Place', 'Rule', 'Verdict'].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, trs)),
    r.suggestions.length ? h('ul', {class: 'suggestions'}, r.suggestions.map(s => h('li', {}, s))) : null);
}

// ---- start -------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('#explain-form').addEventListener('submit', explain);
  $('#fault-form').addEventListener('submit', addFault);
  new ResizeObserver(() => drawWires()).observe($('#graph'));
  scheduleTopology().then(connectLive);
});
