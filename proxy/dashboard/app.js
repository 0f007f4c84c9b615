'use strict';
// privlink dashboard (SPEC §13). Draws GET /v1/dashboard/topology, shows the
// frames of GET /v1/dashboard/live (Server-Sent Events) and acts through the
// admin API's JSON endpoints, as a script would. Plain DOM, no framework.

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

// ---- topology --------------------------------------------------------------

let topo = null;
let drawnTargets = '';
let wires = [];

const key = (...parts) => parts.join('|');

function targetsSig(list) {
  return list.map(t => key(t.service, t.target_group, t.target)).sort().join(',');
}

function drawnTargetList(t) {
  const out = [];
  for (const s of t.services) for (const g of s.target_groups) for (const x of g.targets) out.push(x);
  return out;
}

let topoBusy = false;
let topoAgain = false;

async function scheduleTopology() {
  if (topoBusy) { topoAgain = true; return; }
  topoBusy = true;
  try {
    topo = await api('GET', '/v1/dashboard/topology');
    renderTopology(topo);
  } catch (e) {
    say('loading the topology: ' + e.message, false);
  } finally {
    topoBusy = false;
    if (topoAgain) { topoAgain = false; scheduleTopology(); }
  }
}

// keep remembers, across a redraw, the focused control and the open
// <details> by their card (data-node or data-endpoint) and their own name.
function keep() {
  const where = el => {
    const card = el.closest('[data-node], [data-endpoint]');
    if (!card) return null;
    const c = card.dataset.node ? `[data-node="${CSS.escape(card.dataset.node)}"]` : `[data-endpoint="${CSS.escape(card.dataset.endpoint)}"]`;
    const own = el.dataset.action ? `[data-action="${el.dataset.action}"]` : el.name ? `[name="${CSS.escape(el.name)}"]` : el.tagName.toLowerCase();
    return c + ' ' + own;
  };
  const a = document.activeElement;
  const focus = a && a !== document.body && $('#graph').contains(a) ? where(a) : null;
  const open = $$('#graph details[open]').map(where).filter(Boolean);
  return () => {
    for (const sel of open) { const d = $(sel); if (d) d.open = true; }
    const f = focus && $(focus);
    if (f) f.focus();
  };
}

function renderTopology(t) {
  const restore = keep();
  wires = [];
  $('#region').textContent = t.region ? '· ' + t.region : '';
  drawnTargets = targetsSig(drawnTargetList(t));
  fill('#col-clients', t.clients.map(clientCard));
  fill('#col-interfaces', t.endpoints.map(endpointCard));
  fill('#col-nodes', t.services.map(serviceCard));
  fill('#col-groups', t.services.flatMap(s => s.target_groups.map(g => groupCard(s, g))));
  fill('#col-targets', t.services.flatMap(s => s.target_groups.flatMap(g => g.targets.map(x => targetCard(s, g, x)))));
  fillExplainEndpoints(t);
  if (lastFrame) applyFrame(lastFrame);
  restore();
  drawWires();
}

function fill(col, cards) {
  const ul = $(col + ' .cards');
  ul.replaceChildren(...(cards.length ? cards : [h('li', {class: 'empty'}, 'none')]));
}

function clientCard(c) {
  for (const ep of topo.endpoints) {
    for (const i of ep.interfaces) {
      if (c.kind === 'subnet' ? i.subnet === c.subnet : i.az === c.az) wires.push(['client:' + c.cidr, 'iface:' + ep.id + ':' + i.ip]);
    }
  }
  const title = c.kind === 'subnet' ? 'Subnet ' + c.subnet : 'Client ' + c.cidr;
  return h('li', {class: 'card', 'data-node': 'client:' + c.cidr},
    h('h4', {}, title),
    h('p', {}, c.cidr + ' · ' + (c.az || 'no AZ')),
    rules(sgText(c.security_groups, ''), naclText(c.nacl) + ' (egress)'));
}

function endpointCard(ep) {
  const st = h('span', {'data-endpoint-state': ep.id}, badge(ep.state, ep.reason));
  const accept = h('button', {type: 'button', 'data-action': 'accept', 'data-endpoint': ep.id,
    onclick: () => act('accept ' + ep.id, 'POST', '/v1/endpoints/' + encodeURIComponent(ep.id) + '/accept')}, 'Accept');
  const reject = h('button', {type: 'button', 'data-action': 'reject', 'data-endpoint': ep.id,
    onclick: () => act('reject ' + ep.id, 'POST', '/v1/endpoints/' + encodeURIComponent(ep.id) + '/reject')}, 'Reject');
  setEndpointButtons(ep.id, ep.state, accept, reject);
  return h('li', {class: 'card group', 'data-endpoint': ep.id},
    h('h4', {}, 'Endpoint ', h('code', {}, ep.id)),
    h('p', {}, 'State: ', st),
    h('p', {class: 'muted'}, 'to ' + ep.service),
    h('div', {class: 'actions'}, accept, reject),
    h('ul', {class: 'sub'}, ep.interfaces.map(i => ifaceCard(ep, i))));
}

function setEndpointButtons(id, state, accept, reject) {
  accept = accept || $(`button[data-action="accept"][data-endpoint="${CSS.escape(id)}"]`);
  reject = reject || $(`button[data-action="reject"][data-endpoint="${CSS.escape(id)}"]`);
  if (accept) accept.disabled = !(state === 'pendingAcceptance' || state === 'rejected');
  if (reject) reject.disabled = !(state === 'pendingAcceptance' || state === 'available');
}

function ifaceCard(ep, i) {
  const svc = topo.services.find(s => s.id === ep.service);
  if (svc) wires.push(['iface:' + ep.id + ':' + i.ip, 'node:' + svc.id + ':' + i.node]);
  return h('li', {class: 'card', 'data-node': 'iface:' + ep.id + ':' + i.ip},
    h('h4', {}, i.ip + ' :' + i.ports.join(', :')),
    h('p', {}, i.az + ' · ' + i.subnet + ' → node ' + i.node),
    rules(sgText(ep.security_groups, 'no SG'), naclText(i.nacl)),
    h('p', {class: 'live', 'data-zone': key(ep.service, i.az), title: 'the service in this AZ, all its endpoints'}, '…'));
}

function serviceCard(s) {
  return h('li', {class: 'card group', 'data-service': s.id},
    h('h4', {}, 'NLB ', s.load_balancer || '(unnamed)'),
    h('p', {class: 'muted'}, s.id),
    h('p', {}, 'cross-zone ' + (s.cross_zone ? 'on' : 'off') + ' · listeners ' +
      s.listeners.map(l => ':' + l.port + ' → ' + l.target_group).join(', ')),
    h('ul', {class: 'sub'}, s.nodes.map(n => nodeCard(s, n))));
}

function nodeCard(s, n) {
  for (const l of s.listeners) wires.push(['node:' + s.id + ':' + n.ip, 'tg:' + s.id + ':' + l.target_group]);
  return h('li', {class: 'card', 'data-node': 'node:' + s.id + ':' + n.ip},
    h('h4', {}, 'Node ' + n.ip),
    h('p', {}, n.az + ' · ' + n.subnet),
    rules(sgText(s.security_groups, 'no NLB SG'), naclText(n.nacl)));
}

function groupCard(s, g) {
  const form = h('form', {class: 'register', 'data-group': g.name, onsubmit: e => register(e, s, g)},
    h('label', {}, 'IP ', h('input', {name: 'ip', required: true, size: 13, autocomplete: 'off'})),
    h('label', {}, 'Port ', h('input', {name: 'port', size: 5, inputmode: 'numeric', placeholder: String(g.port)})),
    h('label', {}, 'AZ ', h('input', {name: 'az', size: 9, placeholder: 'of subnet'})),
    h('button', {type: 'submit'}, 'Register'));
  return h('li', {class: 'card', 'data-node': 'tg:' + s.id + ':' + g.name},
    h('h4', {}, 'Target group ' + g.name),
    h('p', {}, 'port ' + g.port + ' · PROXY v2 ' + (g.proxy_protocol_v2 ? 'on' : 'off') +
      ' · health checks ' + (g.health_check ? 'on' : 'off')),
    h('details', {}, h('summary', {}, 'Register a target'), form));
}

function register(e, s, g) {
  e.preventDefault();
  const f = new FormData(e.target);
  const t = {ip: f.get('ip').trim()};
  if (f.get('port')) t.port = Number(f.get('port'));
  if (f.get('az')) t.az = f.get('az').trim();
  act('register ' + t.ip + ' in ' + g.name, 'POST', groupPath(s, g, 'register'), {targets: [t]});
}

function groupPath(s, g, verb) {
  return '/v1/target-groups/' + encodeURIComponent(g.name) + '/' + verb + '?service=' + encodeURIComponent(s.id);
}

function targetCard(s, g, x) {
  wires.push(['tg:' + s.id + ':' + g.name, 'target:' + s.id + ':' + g.name + ':' + x.target]);
  const [ip, port] = splitAddr(x.target);
  return h('li', {class: 'card', 'data-node': 'target:' + s.id + ':' + g.name + ':' + x.target},
    h('h4', {}, x.target),
    h('p', {'data-target': key(s.id, g.name, x.target)}, badge(x.state, x.reason)),
    h('p', {}, x.az + ' · ' + x.subnet + (x.from_api ? ' · registered by API' : '')),
    rules(sgText(x.security_groups, 'no SG'), naclText(x.nacl)),
    h('p', {class: 'live', 'data-target-flows': key(s.id, g.name, x.target)}, 'active flows ' + x.active_flows),
    h('div', {class: 'actions'}, h('button', {type: 'button', 'data-action': 'deregister',
      onclick: () => act('deregister ' + x.target, 'POST', groupPath(s, g, 'deregister'), {targets: [{ip, port: Number(port), az: x.az}]})},
    'Deregister')));
}

function splitAddr(a) {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), a.slice(i + 1)];
}

// ---- wires between the columns -------------------------------------------

function drawWires() {
  const svg = $('#wires');
  const g = $('#graph');
  const box = g.getBoundingClientRect();
  svg.setAttribute('width', g.scrollWidth);
  svg.setAttribute('height', g.scrollHeight);
  const paths = [];
  for (const [a, b] of wires) {
    const ea = $(`[data-node="${CSS.escape(a)}"]`);
    const eb = $(`[data-node="${CSS.escape(b)}"]`);
    if (!ea || !eb) continue;
    const ra = ea.getBoundingClientRect();
    const rb = eb.getBoundingClientRect();
    if (rb.left < ra.right) continue; // stacked (narrow window): the text says where each leads
    const x1 = ra.right - box.left, y1 = ra.top + Math.min(ra.height / 2, 24) - box.top;
    const x2 = rb.left - box.left, y2 = rb.top + Math.min(rb.height / 2, 24) - box.top;
    const dx = (x2 - x1) / 2;
    const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    p.setAttribute('d', `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`);
    paths.push(p);
  }
  svg.replaceChildren(...paths);
}

// ---- live frames -----------------------------------------------------------

let lastFrame = null;
let frameTopology = '';

function onFrame(f) {
  lastFrame = f;
  if (topo) {
    // A reload (new topology) or a target registered or removed redraws.
    const changed = (frameTopology && f.topology !== frameTopology) || targetsSig(f.targets) !== drawnTargets;
    frameTopology = f.topology;
    if (changed) scheduleTopology();
  }
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
];

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
  new ResizeObserver(() => drawWires()).observe($('#graph'));
  scheduleTopology().then(connectLive);
});
