'use strict';
// privlink dashboard: the topology (GET /v1/dashboard/topology) drawn in five
// columns joined by lines, with the endpoint and target actions. Loaded after
// app.js, whose helpers it uses.

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
  fillFaultKinds(t);
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
