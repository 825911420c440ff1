// qplane dashboard, part 2 of 2 (topology.js, loaded first, holds the shared state and helpers):
// the requests (table, event streams, plots, submit and cancel), the agents, the service's
// health, and the start of it all.
"use strict";

// ------------------------------------------------------------------ requests
function newRequest(summary) {
  return {
    id: summary.id, src: summary.src, dst: summary.dst, status: summary.status, final: summary.final,
    delivered: summary.delivered, path: null, reroutes: 0, fmean: null, fsum: 0, fcount: 0,
    points: [], rate: null, stream: null, row: null, dirty: true, fetched: false,
  };
}

async function refreshRequests() {
  for (;;) {
    const page = await api("GET", `/requests?after=${st.lastId}&limit=1000`);
    for (const s of page) {
      if (!st.requests.has(s.id)) st.requests.set(s.id, newRequest(s));
      st.lastId = Math.max(st.lastId, s.id);
    }
    if (page.length < 1000) break;
  }
  const ids = [...st.requests.keys()].sort((a, b) => b - a);
  const shown = new Set(ids.slice(0, ROWS));
  if (st.selected !== null) shown.add(st.selected);
  const fetches = [];
  for (const [id, r] of st.requests) {
    if (!shown.has(id)) {
      if (r.stream) { r.stream.close(); r.stream = null; }
      if (r.row) { r.row.remove(); r.row = null; }
      continue;
    }
    // the stream brings pairs and status changes; the state brings the path, re-routes and the mean
    if (!r.fetched || !r.final) fetches.push(fetchRequest(r));
  }
  await Promise.all(fetches);
  for (const id of shown) {
    const r = st.requests.get(id);
    if (r && !r.final && !r.stream) follow(r);
  }
  renderRequests(ids.filter(id => shown.has(id)));
}

async function fetchRequest(r) {
  const s = await api("GET", `/requests/${r.id}`);
  if (!r.final || s.final) { r.status = s.status; r.final = s.final; r.reason = s.reason; }
  r.delivered = Math.max(r.delivered, s.delivered); r.path = s.path; r.reroutes = s.reroutes;
  r.fmean = s.fidelity_mean; r.fetched = true; r.dirty = true;
  if (s.final && s.stats && s.stats.first_at_s !== null && s.stats.last_at_s > s.stats.first_at_s && r.rate === null)
    r.rate = (s.delivered - 1) / (s.stats.last_at_s - s.stats.first_at_s);
  if (r.id === st.selected) drawPath();
  if (s.final && !r.points.length && s.delivered > 0 && !r.stream) {
    // finished before it was followed: its plot from the recent pairs the service keeps
    const page = await api("GET", `/requests/${r.id}/pairs?after=${Math.max(-1, s.delivered - KEEP_POINTS - 1)}&limit=${KEEP_POINTS}`);
    r.points = page.pairs.map(q => [q.sim_time_s, q.fidelity]);
    r.dirty = true;
  }
}

function follow(r) {
  const es = new EventSource(`/requests/${r.id}/events`);
  r.stream = es;
  es.addEventListener("status", ev => {
    const d = JSON.parse(ev.data);
    r.status = d.status; r.final = d.final; r.delivered = d.delivered; r.reason = d.reason;
    if (d.path) r.path = d.path;
    r.dirty = true;
    if (r.id === st.selected) drawPath();
    if (d.final) {
      es.close();
      r.stream = null;
      fetchRequest(r).catch(() => {});  // the exact mean and path of the finished request
    }
  });
  es.addEventListener("pair", ev => {
    const d = JSON.parse(ev.data);
    r.delivered = Math.max(r.delivered, d.index + 1);
    r.fsum += d.fidelity; r.fcount += 1;
    r.points.push([d.sim_time_s, d.fidelity]);
    if (r.points.length > KEEP_POINTS) r.points.splice(0, r.points.length - KEEP_POINTS);
    r.dirty = true;
  });
  es.addEventListener("gap", () => { r.fetched = false; });
  es.onerror = () => {
    if (r.final) { es.close(); r.stream = null; }
  };
}

function recentRate(r) {
  const p = r.points;
  if (p.length < 2) return r.rate;
  const span = p[p.length - 1][0] - p[0][0];
  return span > 0 ? (p.length - 1) / span : r.rate;
}

function sparkline(r) {
  const w = 150, h = 30;
  const svg = el("svg:svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "spark" });
  const p = r.points;
  if (p.length < 4) return svg;
  const n = Math.min(CHUNKS, Math.floor(p.length / 2));
  const size = p.length / n;
  const fs = [], rs = [];
  for (let i = 0; i < n; i++) {
    const lo = Math.floor(i * size), hi = Math.floor((i + 1) * size);
    const chunk = p.slice(lo, hi);
    fs.push(chunk.reduce((s, q) => s + q[1], 0) / chunk.length);
    const t0 = lo > 0 ? p[lo - 1][0] : chunk[0][0];
    const span = chunk[chunk.length - 1][0] - t0;
    rs.push(span > 0 ? (lo > 0 ? chunk.length : chunk.length - 1) / span : null);
  }
  const fmin = Math.min(...fs), fmax = Math.max(...fs);
  const fpad = Math.max(0.01, (fmax - fmin) * 0.15);
  const rvals = rs.filter(x => x !== null);
  const rmax = rvals.length ? Math.max(...rvals) * 1.1 : 1;
  const x = i => 2 + (i * (w - 4)) / Math.max(1, n - 1);
  const yf = f => h - 2 - ((f - (fmin - fpad)) / (fmax - fmin + 2 * fpad)) * (h - 4);
  const yr = v => h - 2 - (v / rmax) * (h - 4);
  const rPts = rs.map((v, i) => v === null ? null : `${x(i).toFixed(1)},${yr(v).toFixed(1)}`).filter(Boolean);
  svg.append(el("svg:polyline", { points: rPts.join(" "), class: "spark-rate" }));
  svg.append(el("svg:polyline", { points: fs.map((f, i) => `${x(i).toFixed(1)},${yf(f).toFixed(1)}`).join(" "),
                                  class: "spark-fidelity" }));
  svg.append(el("svg:title", {}, `fidelity ${fmin.toFixed(3)}–${fmax.toFixed(3)}; rate up to ${fmtRate(rmax / 1.1)} /s`));
  return svg;
}

function makeRow(r) {
  const tr = el("tr", { "data-id": r.id });
  for (const cls of ["id", "ends", "status", "delivered", "rate", "fmean", "plot", "path", "actions"])
    tr.append(el("td", { class: cls }));
  const cancel = el("button", { class: "cancel" }, "cancel");
  cancel.addEventListener("click", async ev => {
    ev.stopPropagation();
    try {
      await api("DELETE", `/requests/${r.id}`);
      message(`request ${r.id} cancelled`, "ok");
      await fetchRequest(r);
    } catch (e) {
      message(`cancel ${r.id} failed: ${e.message}`, "error");
    }
  });
  tr.querySelector(".actions").append(cancel);
  tr.addEventListener("click", () => {
    st.selected = st.selected === r.id ? null : r.id;
    for (const row of document.querySelectorAll("#requests tbody tr")) row.classList.remove("selected");
    if (st.selected !== null) tr.classList.add("selected");
    drawPath();
  });
  r.row = tr;
  return tr;
}

function renderRow(r) {
  const c = name => r.row.querySelector("." + name);
  c("id").textContent = r.id;
  c("ends").textContent = `${r.src} → ${r.dst}`;
  c("status").textContent = r.status;
  c("status").className = "status s-" + r.status;
  c("status").title = r.reason || "";
  c("delivered").textContent = r.delivered;
  const rate = r.final && r.rate !== null ? r.rate : recentRate(r);
  c("rate").textContent = fmtRate(rate);
  const mean = r.fmean !== null ? r.fmean : (r.fcount ? r.fsum / r.fcount : null);
  c("fmean").textContent = fmt(mean);
  c("plot").replaceChildren(sparkline(r));
  c("path").textContent = r.path ? r.path.join(" › ") + (r.reroutes ? `  (re-routed ×${r.reroutes})` : "") : "–";
  c("actions").querySelector("button").disabled = r.final;
  r.dirty = false;
}

function renderRequests(ids) {
  const body = $("requests").querySelector("tbody");
  const rows = ids.map(id => {
    const r = st.requests.get(id);
    if (!r.row) { makeRow(r); r.dirty = true; }
    return r.row;
  });
  rows.forEach((row, i) => { if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null); });
  while (body.children.length > rows.length) body.lastChild.remove();
  for (const id of ids) { const r = st.requests.get(id); if (r.dirty) renderRow(r); }
}

function renderDirty() {
  for (const r of st.requests.values()) if (r.row && r.dirty) renderRow(r);
}

async function submitRequest(ev) {
  ev.preventDefault();
  const body = { src: $("f-src").value, dst: $("f-dst").value, min_fidelity: Number($("f-minf").value || 0) };
  const rate = $("f-rate").value.trim(), end = $("f-end").value.trim();
  if (rate) body.rate = Number(rate); else body.pairs = Math.round(Number($("f-pairs").value));
  if (end) body.end = Number(end);
  try {
    const s = await api("POST", "/requests", body);
    const r = newRequest(s);
    st.requests.set(s.id, r);
    st.lastId = Math.max(st.lastId, s.id);
    st.selected = s.id;
    for (const row of document.querySelectorAll("#requests tbody tr.selected")) row.classList.remove("selected");
    message(`request ${s.id} accepted: ${s.src} → ${s.dst}`, "ok");
    await refreshRequests();
    r.row && r.row.classList.add("selected");
  } catch (e) {
    message(`request refused: ${e.message}`, "error");
  }
}

// ------------------------------------------------------------------ alerts
function renderAlerts() {
  const list = $("alerts");
  const items = [...st.alerts.values()].sort((a, b) => a.id - b.id).map(a => {
    const li = el("li", { "data-alert": a.id, class: "alert-" + a.kind });
    li.append(el("b", {}, `${a.link[0]} – ${a.link[1]}`), document.createTextNode(" " + alertText(a)),
              el("span", { class: "note" }, ` · t=${a.raised_sim_s.toFixed(2)} s`));
    return li;
  });
  list.replaceChildren(...items);
  $("alerts-none").hidden = items.length > 0;
  if (st.drawn) updateTopology();
}

function followAlerts() {
  // the browser resumes a broken stream with Last-Event-ID; only active alerts are kept
  const es = new EventSource("/alerts/events");
  es.addEventListener("alert", ev => { const a = JSON.parse(ev.data); st.alerts.set(a.id, a); renderAlerts(); });
  es.addEventListener("resolved", ev => { st.alerts.delete(JSON.parse(ev.data).id); renderAlerts(); });
  es.addEventListener("gap", async () => {
    // events were missed: the active alerts from GET /alerts
    const active = await api("GET", "/alerts?active=true");
    st.alerts = new Map(active.map(a => [a.id, a]));
    renderAlerts();
  });
}

// ------------------------------------------------------------------ agents, health
async function refreshAgents() {
  const agents = await api("GET", "/agents");
  const body = $("agents").querySelector("tbody");
  if (!agents.length) {
    body.replaceChildren(el("tr", {}, ""));
    body.firstChild.append(el("td", { colspan: 4, class: "note" }, "no node agents: every device is simulated in the twin"));
    return;
  }
  body.replaceChildren(...agents.map(a => {
    const versions = Object.entries(a).filter(([k]) => /version/.test(k))
      .map(([k, v]) => typeof v === "object" && v !== null
        ? Object.entries(v).map(([n, x]) => `${n} ${x}`).join(", ") : `${k.replace(/_?versions?$/, "") || "v"} ${v}`)
      .join("; ");
    const tr = el("tr", { "data-node": a.node });
    tr.append(el("td", {}, a.node), el("td", { class: "agent-" + a.state }, a.state),
              el("td", {}, a.agent || "–"), el("td", {}, versions || "–"));
    return tr;
  }));
}

async function refreshHealth() {
  const resp = await fetch("/health");
  const h = await resp.json();
  $("health").textContent = h.state + (h.speed === null ? " · max speed" : ` · speed ${h.speed}`);
  $("health").className = "pill " + (h.state === "running" ? "ok" : "bad");
  $("health").title = h.error || "";
}

// ------------------------------------------------------------------ start
function every(ms, fn) {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try { await fn(); } catch (e) { message(e.message, "error"); } finally { busy = false; }
  };
  tick();
  return setInterval(tick, ms);
}

async function start() {
  const meta = document.querySelector('meta[name="qplane-token"]');
  st.needToken = meta !== null;
  $("token-box").hidden = !st.needToken;
  const saved = sessionStorage.getItem("qplane-token");
  if (saved) $("token").value = saved;
  $("token").addEventListener("change", () => sessionStorage.setItem("qplane-token", $("token").value.trim()));
  const name = document.querySelector('meta[name="qplane-scenario"]');
  if (name) $("scenario").textContent = "· " + name.content;
  $("request-form").addEventListener("submit", submitRequest);
  $("d-link-down").addEventListener("click", () => drill("link", "down"));
  $("d-link-up").addEventListener("click", () => drill("link", "up"));
  $("d-node-down").addEventListener("click", () => drill("node", "down"));
  $("d-node-up").addEventListener("click", () => drill("node", "up"));
  try {
    await refreshLinks().catch(() => {});
    await refreshTopology();
  } catch (e) {
    message(e.message, "error");
  }
  every(400, refreshTopology);
  every(3000, refreshLinks);
  every(700, refreshRequests);
  every(3000, refreshAgents);
  every(1000, refreshHealth);
  followAlerts();
  setInterval(renderDirty, 250);
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
