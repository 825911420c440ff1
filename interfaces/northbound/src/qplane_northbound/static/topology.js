// qplane dashboard, part 1 of 2 (app.js is the other; both plain scripts sharing the page's
// global scope): the shared state and helpers, the API call, and the topology drawing (SVG)
// with the failure drill.
//
// Reads GET /topology/layout once, polls GET /topology, /links, /requests, /agents and /health,
// follows each request it shows through GET /requests/{id}/events and the health monitor's
// alerts through GET /alerts/events (server-sent events).
// Mutating calls (POST /requests, DELETE /requests/{id}, POST /links/{a}/{b}/down|up,
// POST /nodes/{name}/down|up) carry the token, when one is given, as a bearer header.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const W = 1000, H = 700, MX = 100, MY = 40;  // names stick out sideways more than up
const ROWS = 12;            // requests shown (newest first); each unfinished one has a stream
const KEEP_POINTS = 400;    // recent pairs kept per request for its plot and rate
const CHUNKS = 24;          // points of a plot

const st = {
  layout: null, topo: null, links: new Map(), nodes: new Map(), linkInfo: new Map(),
  requests: new Map(), lastId: -1, selected: null, needToken: false, drawn: false,
  alerts: new Map(),        // the active alerts by id (the resolved ones are dropped)
};

// ------------------------------------------------------------------ helpers
function $(id) { return document.getElementById(id); }
function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function linkKey(a, b) { return a + "|" + b; }
function fmt(x, digits = 3) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
function fmtP(p) { return p >= 0.01 ? p.toFixed(2) : p.toExponential(1); }
function fmtRate(r) {
  if (r === null || r === undefined || !isFinite(r)) return "–";
  return r >= 1000 ? (r / 1000).toFixed(1) + "k" : r.toFixed(r >= 10 ? 0 : 1);
}

function message(text, kind = "info") {
  const m = $("message");
  m.textContent = text;
  m.className = kind;
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = $("token").value.trim();
  if (method !== "GET" && token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    let detail = data && data.detail !== undefined ? data.detail : resp.statusText;
    if (Array.isArray(detail)) detail = detail.map(d => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    if (resp.status === 401) {
      $("token-box").hidden = false;
      detail = "this service needs its token: enter it above (" + detail + ")";
    }
    const err = new Error(detail);
    err.status = resp.status;
    throw err;
  }
  return data;
}

// ------------------------------------------------------------------ topology
let frame = { x0: 0, y0: 0, sx: W - 2 * MX, sy: H - 2 * MY, ox: MX, oy: MY };

function fitFrame(points) {
  // fill the drawing: each axis scaled to its room, their ratio kept within 1.5
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), y0 = Math.min(...ys);
  const dx = Math.max(...xs) - x0 || 1, dy = Math.max(...ys) - y0 || 1;
  let sx = (W - 2 * MX) / dx, sy = (H - 2 * MY) / dy;
  sx = Math.min(sx, 1.5 * sy); sy = Math.min(sy, 1.5 * sx);
  frame = { x0, y0, sx, sy, ox: (W - sx * dx) / 2, oy: (H - sy * dy) / 2 };
}

function project(xy) {
  return [frame.ox + (xy[0] - frame.x0) * frame.sx, frame.oy + (xy[1] - frame.y0) * frame.sy];
}

function linkState(l) {
  if (l.operational && l.in_view) return "up";
  if (!l.operational && !l.in_view) return "down";
  return l.operational ? "unseen" : "undetected";
}

function nodeState(n) {
  if (n.up && n.in_view) return "up";
  if (!n.up && !n.in_view) return "down";
  return n.up ? "unseen" : "undetected";
}

function drawTopology() {
  const svg = $("topology");
  svg.replaceChildren();
  const pos = st.layout.nodes;
  fitFrame(Object.values(pos));
  // each node's name goes opposite the mean direction of its links (outwards for a leaf)
  const away = new Map(st.topo.nodes.map(n => [n.name, [0, 0]]));
  for (const l of st.topo.links) {
    const [xa, ya] = project(pos[l.a]), [xb, yb] = project(pos[l.b]);
    const d = Math.hypot(xb - xa, yb - ya) || 1;
    away.get(l.a)[0] -= (xb - xa) / d; away.get(l.a)[1] -= (yb - ya) / d;
    away.get(l.b)[0] -= (xa - xb) / d; away.get(l.b)[1] -= (ya - yb) / d;
  }
  svg.append(el("svg:g", { id: "path-layer" }));
  const linkLayer = el("svg:g", { id: "link-layer" });
  const labelLayer = el("svg:g", { id: "label-layer" });
  const nodeLayer = el("svg:g", { id: "node-layer" });
  svg.append(linkLayer, labelLayer, nodeLayer);
  st.links.clear();
  st.nodes.clear();
  for (const l of st.topo.links) {
    const [x1, y1] = project(pos[l.a]), [x2, y2] = project(pos[l.b]);
    const key = linkKey(l.a, l.b);
    const g = el("svg:g", { class: "link", "data-link": key });
    const title = el("svg:title", {}, `${l.a} – ${l.b}, ${l.length_km} km`);
    const ring = el("svg:line", { x1, y1, x2, y2, class: "alert-ring" });  // dashed, while alerted
    const line = el("svg:line", { x1, y1, x2, y2, class: "wire" });
    const hit = el("svg:line", { x1, y1, x2, y2, class: "hit" });
    g.append(title, ring, line, hit);
    g.addEventListener("click", () => pickLink(key));
    linkLayer.append(g);
    // the label sits at the middle, along the line (never upside down), just above it
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    let angle = Math.atan2(y2 - y1, x2 - x1) * 180 / Math.PI;
    if (angle > 90) angle -= 180;
    if (angle < -90) angle += 180;
    const label = el("svg:text", { x: mx, y: my, class: "link-label", "text-anchor": "middle", dy: "-0.45em",
                                   transform: `rotate(${angle.toFixed(1)} ${mx.toFixed(1)} ${my.toFixed(1)})` });
    labelLayer.append(label);
    st.links.set(key, { g, label, data: l, title, room: Math.hypot(x2 - x1, y2 - y1) - 16 });
  }
  for (const n of st.topo.nodes) {
    const [x, y] = project(pos[n.name]);
    const g = el("svg:g", { class: "node", "data-node": n.name, transform: `translate(${x},${y})` });
    const circle = el("svg:circle", { r: 9 });
    const text = el("svg:text", { class: "node-label" }, n.name);
    const title = el("svg:title", {}, n.name);
    g.append(title, circle, text);
    g.addEventListener("click", () => pickNode(n.name));
    nodeLayer.append(g);
    st.nodes.set(n.name, { g, data: n, title, text, x, y });
  }
  placeNames(away);
  st.drawn = true;
}

function placeName(text, dx, dy) {
  const norm = Math.hypot(dx, dy) || 1;
  dx /= norm; dy /= norm;
  text.setAttribute("text-anchor", dx > 0.35 ? "start" : dx < -0.35 ? "end" : "middle");
  text.setAttribute("x", (dx * 15).toFixed(1));
  text.setAttribute("y", (dy * 15 + (Math.abs(dy) > 0.5 ? (dy > 0 ? 10 : -2) : 5)).toFixed(1));
}

function placeNames(away) {
  // each name on the side away from its links, or the first other side where it covers no
  // name placed before and no node
  const boxes = [];
  const hits = (b) => boxes.some(o => b.x < o.x + o.width && o.x < b.x + b.width && b.y < o.y + o.height && o.y < b.y + b.height)
    || [...st.nodes.values()].some(o => o.x > b.x - 9 && o.x < b.x + b.width + 9 && o.y > b.y - 9 && o.y < b.y + b.height + 9);
  const sides = [[0, 1], [0, -1], [1, 0], [-1, 0], [1, 1], [-1, 1], [1, -1], [-1, -1]];
  for (const [name, item] of st.nodes) {
    let [dx, dy] = away.get(name);
    if (Math.hypot(dx, dy) < 0.2) { dx = 0; dy = 1; }  // balanced: below
    let box = null;
    for (const [sx, sy] of [[dx, dy], ...sides]) {
      placeName(item.text, sx, sy);
      const b = item.text.getBBox();
      box = { x: b.x + item.x, y: b.y + item.y, width: b.width, height: b.height };
      if (!hits(box)) break;
      placeName(item.text, dx, dy);
      const b0 = item.text.getBBox();
      box = { x: b0.x + item.x, y: b0.y + item.y, width: b0.width, height: b0.height };
    }
    boxes.push(box);
  }
}

function updateTopology() {
  for (const l of st.topo.links) {
    const item = st.links.get(linkKey(l.a, l.b));
    if (!item) { st.drawn = false; return; }
    const s = linkState(l);
    const alerts = alertsOf(l.a, l.b);
    item.g.setAttribute("class", "link state-" + s + (alerts.length ? " alerted" : ""));
    item.g.dataset.state = s;
    item.g.dataset.alerts = alerts.map(a => a.kind).join(" ");
    const info = st.linkInfo.get(linkKey(l.a, l.b));
    if (info) {
      // the whole label where it fits between the two nodes, the fidelity alone, or nothing
      // (the tooltip always has it all)
      const text = `p=${fmtP(info.success_probability)} F=${info.pair_fidelity.toFixed(3)}`;
      if (item.label.dataset.full !== text) {
        item.label.dataset.full = text;
        for (const t of [text, `F=${info.pair_fidelity.toFixed(3)}`, ""]) {
          item.label.textContent = t;
          if (!t || item.label.getComputedTextLength() <= item.room) break;
        }
      }
      item.title.textContent = `${l.a} – ${l.b}: ${l.length_km} km, ${info.scheme}, ${s}; ` +
        `p=${info.success_probability.toPrecision(3)}, F=${info.pair_fidelity.toFixed(4)}, ` +
        `${info.pairs_generated} pairs of ${info.attempts} attempts, ${info.outages} outages` +
        alerts.map(a => `; ALERT ${alertText(a)}`).join("");
    }
  }
  for (const n of st.topo.nodes) {
    const item = st.nodes.get(n.name);
    if (!item) { st.drawn = false; return; }
    const s = nodeState(n);
    item.g.setAttribute("class", "node state-" + s);
    item.g.dataset.state = s;
    item.title.textContent = `${n.name}: ${s}, ${n.memories} memories` + (n.remote ? `, agent ${n.agent}` : "");
  }
  drawPath();
}

function drawPath() {
  const layer = $("path-layer");
  if (!layer || !st.layout) return;
  layer.replaceChildren();
  const r = st.selected !== null ? st.requests.get(st.selected) : null;
  if (!r || !r.path || r.path.length < 2) return;
  const pts = r.path.filter(n => st.layout.nodes[n]).map(n => project(st.layout.nodes[n]).join(",")).join(" ");
  layer.append(el("svg:polyline", { points: pts, class: "path" }));
}

function fillSelect(select, values, labels) {
  const keep = select.value;
  select.replaceChildren(...values.map((v, i) => el("option", { value: v }, labels ? labels[i] : v)));
  if (values.includes(keep)) select.value = keep;
}

function fillForms() {
  const names = st.topo.nodes.map(n => n.name);
  fillSelect($("f-src"), names);
  fillSelect($("f-dst"), names);
  if ($("f-dst").selectedIndex === 0 && names.length > 1) $("f-dst").selectedIndex = names.length - 1;
  fillSelect($("d-node"), names);
  const keys = st.topo.links.map(l => linkKey(l.a, l.b));
  fillSelect($("d-link"), keys, st.topo.links.map(l => `${l.a} – ${l.b}`));
}

function pickLink(key) { $("d-link").value = key; }
function pickNode(name) { $("d-node").value = name; }

async function refreshTopology() {
  const topo = await api("GET", "/topology");
  const first = st.topo === null;
  st.topo = topo;
  $("simtime").textContent = `t = ${topo.sim_time_s.toFixed(3)} s simulated`;
  $("manager").textContent = `topology manager: ${topo.manager}${topo.ready ? "" : " (discovering)"}`;
  if (first || !st.drawn || topo.nodes.length !== st.nodes.size || topo.links.length !== st.links.size) {
    st.layout = await api("GET", "/topology/layout");
    drawTopology();
    fillForms();
  }
  updateTopology();
}

async function refreshLinks() {
  for (const l of await api("GET", "/links")) st.linkInfo.set(linkKey(l.a, l.b), l);
  if (st.topo) updateTopology();
}

async function drill(kind, state) {
  const target = kind === "link" ? $("d-link").value : $("d-node").value;
  if (!target) return;
  const path = kind === "link"
    ? `/links/${target.split("|").map(encodeURIComponent).join("/")}/${state}`
    : `/nodes/${encodeURIComponent(target)}/${state}`;
  try {
    await api("POST", path);
    message(`${kind} ${target.replace("|", " – ")} taken ${state}`, "ok");
    await refreshTopology();
  } catch (e) {
    message(`${kind} ${state} failed: ${e.message}`, "error");
  }
}


// ------------------------------------------------------------------ health alerts
function alertsOf(a, b) {
  return [...st.alerts.values()].filter(x => (x.link[0] === a && x.link[1] === b) || (x.link[0] === b && x.link[1] === a));
}

function alertText(a) {
  const digits = a.kind === "rate" ? 4 : 3;
  return `${a.kind} ${fmt(a.observed, digits)} < ${fmt(a.threshold, digits)} (expected ${fmt(a.expected, digits)})` +
    (a.drained ? ", out of routing" : "");
}
