// Campaigns: the list, and per campaign its rings' progress, the gate's verdicts, KPI charts
// (cumulative devices changed and failure rate over time) and the person's controls (start,
// pause, resume, promote, abort). Mount: `import { campaignsView } from "/static/campaigns.js"`
// and add `campaigns: campaignsView` to the console's VIEWS (route #/campaigns[/ID]).
// Every value goes in as text; nothing here decides permissions — the API answers 403 with why.

import * as api from "./js/api.js";
import { fmtTime, h, kv, loading, s, toast } from "./js/dom.js";

const STATE_CLASS = { created: "b-info", running: "b-busy", paused: "b-warn", aborting: "b-bad", aborted: "b-bad",
  completed: "b-ok", failed: "b-bad" };
const W = 340, H = 120, PAD = 30;

function stateBadge(state) {
  return h("span", { class: `badge ${STATE_CLASS[state] || ""}`, "data-testid": "campaign-state", "data-state": state }, state);
}

// verified (green), failed (red), rolled back (amber): after an abort the green goes and the
// amber says where the devices went back to.
function bar(done, failed, total, rolledBack = 0) {
  const outer = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total,
    "aria-valuenow": done + failed, title: `${done} verified · ${failed} failed · ${rolledBack} rolled back of ${total}` });
  outer.style.cssText = "background:#e5e7eb;height:12px;border-radius:6px;overflow:hidden;display:flex;min-width:220px";
  const ok = h("div");
  ok.style.cssText = `background:#1b7f3b;width:${total ? (100 * done) / total : 0}%`;
  const bad = h("div");
  bad.style.cssText = `background:#c2410c;width:${total ? (100 * failed) / total : 0}%`;
  const back = h("div");
  back.style.cssText = `background:#d97706;width:${total ? (100 * Math.max(0, rolledBack - failed)) / total : 0}%`;
  outer.append(ok, bad, back);
  return outer;
}

// One small SVG line chart: points are [x (ms), y]; no library, same look as the device charts.
function chart(title, series, yFmt = (v) => String(v)) {
  const pts = series.flatMap((x) => x.points);
  if (!pts.length) return h("div", { class: "empty" }, `${title}: no data yet`);
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [0, Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const X = (x) => PAD + ((x - x0) / (x1 - x0)) * (W - PAD - 6);
  const Y = (y) => H - 16 - ((y - y0) / (y1 - y0)) * (H - 24);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title },
    s("line", { class: "axis", x1: PAD, y1: H - 16, x2: W - 6, y2: H - 16 }),
    s("line", { class: "axis", x1: PAD, y1: 8, x2: PAD, y2: H - 16 }),
    s("text", { x: PAD - 3, y: 14, "text-anchor": "end" }, yFmt(y1)),
    s("text", { x: PAD - 3, y: H - 16, "text-anchor": "end" }, yFmt(y0)));
  for (const ser of series) {
    if (!ser.points.length) continue;
    svg.append(s("polyline", { points: ser.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" "),
      fill: "none", stroke: ser.colour, "stroke-width": 1.5 }));
  }
  const legend = h("div", { class: "legend" }, series.map((ser) => {
    const sw = h("i");
    sw.style.background = ser.colour;
    return h("span", {}, sw, ser.label);
  }));
  return h("figure", { class: "panel", "data-testid": "campaign-chart" }, h("figcaption", {}, h("strong", {}, title)), svg, legend);
}

function charts(timeline) {
  let v = 0, f = 0;
  const ok = [], bad = [];
  for (const b of timeline.batches) {
    const t = new Date(b.t).getTime();
    v += b.verified; f += b.failed;
    ok.push([t, v]); bad.push([t, f]);
  }
  const rate = timeline.analyses.map((a) => [new Date(a.ts).getTime(), 100 * (a.metrics.failure_rate || 0)]);
  const kpis = {};
  for (const a of timeline.analyses) {
    for (const [m, k] of Object.entries(a.metrics.kpis || {})) {
      (kpis[m] ||= { t: [], c: [] });
      kpis[m].t.push([new Date(a.ts).getTime(), k.treated]);
      kpis[m].c.push([new Date(a.ts).getTime(), k.control]);
    }
  }
  return h("div", { class: "row wrap" },
    chart("devices changed", [{ label: "verified", colour: "#1b7f3b", points: ok }, { label: "failed", colour: "#c2410c", points: bad }]),
    chart("failure rate at each analysis (%)", [{ label: "failed / executed", colour: "#c2410c", points: rate }], (x) => x.toFixed(1)),
    Object.entries(kpis).map(([m, k]) => chart(`KPI ${m}`, [{ label: "treated", colour: "#2458d6", points: k.t },
      { label: "control", colour: "#6b7280", points: k.c }], (x) => x.toFixed(1))));
}

async function act(id, action, body) {
  try {
    await api.post(`/api/campaigns/${encodeURIComponent(id)}/${action}`, body);
    toast(`${action}: done`);
  } catch (e) { toast(e.message, "bad"); }
}

function controls(st, refresh) {
  const reasonAsk = (what) => { const r = prompt(`Why ${what}? (goes into the audit trail)`); return r === null ? null : r.trim(); };
  const btn = (label, action, needsReason, show) => show ? h("button", { "data-testid": `campaign-${action}`, onclick: async () => {
    let body;
    if (needsReason) {
      const reason = reasonAsk(action);
      if (reason === null || (action === "abort" && !reason)) return;
      body = { reason };
    }
    await act(st.id, action, body);
    refresh();
  } }, label) : null;
  return h("div", { class: "row" },
    btn("Start", "start", false, st.state === "created"),
    btn("Pause", "pause", true, st.state === "running"),
    btn("Resume", "resume", false, st.state === "paused"),
    btn("Promote to next ring", "promote", false, st.state === "running" && st.ring_state === "waiting"),
    btn("Abort and roll back", "abort", true, ["created", "running", "paused"].includes(st.state)));
}

async function detail(root, id) {
  const [st, tl] = await Promise.all([api.get(`/api/campaigns/${encodeURIComponent(id)}`),
    api.get(`/api/campaigns/${encodeURIComponent(id)}/timeline`)]);
  const rings = h("table", { "data-testid": "campaign-rings" },
    h("thead", {}, h("tr", {}, ["ring", "share", "devices", "progress", "✓", "✗", "rolled back", "status"].map((c) => h("th", {}, c)))),
    h("tbody", {}, st.rings_detail.map((r) => h("tr", { "data-testid": "campaign-ring", "data-ring": r.ring },
      h("td", {}, r.name), h("td", {}, `${r.stage_pct}%`), h("td", {}, r.size), h("td", {}, bar(r.verified, r.failed, r.size, r.rolled_back)),
      h("td", {}, r.verified), h("td", {}, r.failed), h("td", {}, r.rolled_back), h("td", {}, r.status)))));
  const verdicts = h("ul", { "data-testid": "campaign-analyses" }, st.analyses.filter((a) => a.final || a.outcome !== "pending").slice(-8)
    .map((a) => h("li", {}, `${fmtTime(a.ts)} · ring ${a.ring + 1} · ${a.outcome}: ${a.reasons.join("; ")}`)));
  root.replaceChildren(h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, st.name, " ", stateBadge(st.state)), h("a", { href: "#/campaigns" }, "all campaigns")),
    st.halt_reason ? h("p", { class: "error", role: "alert" }, st.halt_reason) : null,
    (st.window_hold || []).length ? h("p", { class: "warn", role: "status" },
      `held: change window closed for ${st.window_hold.join(", ")}; it goes on when the window opens`) : null,
    st.error ? h("p", { class: "error" }, st.error) : null,
    kv([["campaign", h("span", { class: "mono" }, st.id)], ["proposal", h("a", { href: `#/approvals/${encodeURIComponent(st.proposal.id)}` }, `${st.proposal.id} (${st.proposal.state})`)],
      ["kind", st.kind], ["ring", `${st.ring + 1} of ${st.rings} (${st.ring_state})`],
      ["rate", `batches of ${st.rate.batch_size}, ${st.rate.window} in flight`], ["promotion", st.spec.promotion.mode],
      ["gate", `fail above ${(100 * st.spec.gate.failure_threshold).toFixed(1)}% after ${st.spec.gate.min_executed} executed → ${st.spec.gate.on_breach}`]]),
    controls(st, () => detail(root, id)), rings, charts(tl), h("h3", {}, "Gate verdicts"), verdicts));
  return st;
}

async function list(root) {
  const res = await api.get("/api/campaigns");
  root.replaceChildren(h("section", { class: "panel" }, h("h2", {}, "Campaigns"),
    res.items.length ? h("table", { "data-testid": "campaign-list" },
      h("thead", {}, h("tr", {}, ["name", "state", "kind", "ring", "devices", "note"].map((c) => h("th", {}, c)))),
      h("tbody", {}, res.items.map((c) => h("tr", {},
        h("td", {}, h("a", { href: `#/campaigns/${encodeURIComponent(c.id)}` }, c.name)), h("td", {}, stateBadge(c.state)),
        h("td", {}, c.kind), h("td", {}, `${c.ring + 1}/${c.rings}`), h("td", {}, c.devices), h("td", { class: "small" }, c.halt_reason || c.error || "")))))
      : h("p", { class: "empty" }, "no campaigns yet: `gateward campaign create` defines one")));
}

// The view contract of the console: render into root, return a cleanup function.
export async function campaignsView(root, { arg } = {}) {
  root.replaceChildren(loading());
  let timer = null;
  const render = async () => {
    try {
      if (arg) {
        const st = await detail(root, arg);
        if (st.terminal && timer) { clearInterval(timer); timer = null; }
      } else {
        await list(root);
      }
    } catch (e) {
      root.replaceChildren(h("p", { class: "error" }, e.message));
    }
  };
  await render();
  timer = setInterval(render, 3000);
  return () => { if (timer) clearInterval(timer); };
}
