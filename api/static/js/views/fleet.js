// Fleet: the whole fleet at a glance and over time (trends for a range, upstream outages), read-only. Presence by region / model / firmware as
// stacked bars (axis in devices, the exact numbers on hover and in the row label), open
// remediation cases by problem, active campaigns with progress, the compatibility matrix as a
// red / yellow / green grid with its evidence, recent changes with outcomes, pending onboarding.
// It re-reads itself when the change feed says something moved (at most every 5 s).

import * as api from "../api.js";
import { ago, badge, h, loading, s, fill } from "../dom.js";
import { fmt, timeChart } from "../chart.js";
import { onChange } from "../live.js";

const COLOURS = { online: "#1b7f3b", unreachable: "#b7791f", offline: "#b3261e", unknown: "#c5ccd6" };
const LABEL_W = 190, BAR_W = 360, ROW_H = 22;

// Stacked horizontal bars: one row per group, segments online / unreachable / offline / not asked.
// Offline and unreachable are told apart from online by texture as well as colour (hatched,
// dotted): nobody has to tell red from green.
const PATTERNS = { unreachable: "dots", offline: "hatch" };
function patternDefs(id) {
  return s("defs", {},
    s("pattern", { id: `${id}-hatch`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      s("rect", { width: 6, height: 6, fill: COLOURS.offline }), s("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#fff", "stroke-width": 2 })),
    s("pattern", { id: `${id}-dots`, width: 5, height: 5, patternUnits: "userSpaceOnUse" },
      s("rect", { width: 5, height: 5, fill: COLOURS.unreachable }), s("circle", { cx: 2.5, cy: 2.5, r: 1.2, fill: "#fff" })));
}
const fillFor = (id, kind) => (PATTERNS[kind] ? `url(#${id}-${PATTERNS[kind]})` : COLOURS[kind]);

// Each bar is a link to the device list filtered to its group.
function groupHref(filter, key) {
  const q = new URLSearchParams();
  if (filter === "firmware") {
    const i = key.lastIndexOf(" ");
    q.set("model", key.slice(0, i)); q.set("firmware", key.slice(i + 1));
  } else q.set(filter, key);
  return `#/devices/?${q}`;
}

function presenceChart(title, groups, testid, filter) {
  const rows = groups.slice(0, 12);
  const max = Math.max(1, ...rows.map((g) => g.devices));
  const height = rows.length * ROW_H + 34;
  const x = (n) => LABEL_W + (n / max) * BAR_W;
  const svg = s("svg", { viewBox: `0 0 ${LABEL_W + BAR_W + 60} ${height}`, class: "chart fleet-bars", role: "img",
    "aria-label": `${title}: devices online, unreachable and offline per group`, "data-testid": testid }, patternDefs(testid));
  rows.forEach((g, i) => {
    const y = 4 + i * ROW_H;
    const asked = g.online + g.unreachable + g.offline;
    const parts = [["online", g.online], ["unreachable", g.unreachable], ["offline", g.offline], ["unknown", g.devices - asked]];
    const row = s("a", { class: "bar-row", "data-key": g.key, href: groupHref(filter, g.key), "data-testid": "bar-link" },
      s("title", {}, `${g.key}: ${g.devices} devices — ${g.online} online, ${g.unreachable} unreachable, ${g.offline} offline`
        + (asked < g.devices ? `, ${g.devices - asked} not asked` : "")),
      s("text", { x: LABEL_W - 6, y: y + 14, "text-anchor": "end" }, g.key.length > 26 ? `${g.key.slice(0, 25)}…` : g.key));
    let at = 0;
    for (const [kind, n] of parts) {
      if (n <= 0) continue;
      row.append(s("rect", { x: x(at), y: y + 3, width: Math.max(1, x(at + n) - x(at)), height: ROW_H - 7, fill: fillFor(testid, kind), "data-kind": kind }));
      at += n;
    }
    row.append(s("text", { x: x(g.devices) + 4, y: y + 14 }, g.offline ? `${g.devices} (${g.offline} off)` : String(g.devices)));
    svg.append(row);
  });
  const axisY = 4 + rows.length * ROW_H + 2;
  svg.append(s("line", { class: "axis", x1: LABEL_W, y1: axisY, x2: LABEL_W + BAR_W, y2: axisY }));
  for (const t of [0, Math.round(max / 2), max]) {
    svg.append(s("text", { x: x(t), y: axisY + 12, "text-anchor": "middle", class: "tick" }, String(t)));
  }
  svg.append(s("text", { x: LABEL_W + BAR_W / 2, y: axisY + 26, "text-anchor": "middle", class: "axis-label" }, "devices"));
  return h("figure", { class: "panel" }, h("figcaption", {}, h("strong", {}, title),
    groups.length > rows.length ? h("span", { class: "muted small" }, ` (largest ${rows.length} of ${groups.length})`) : null),
    svg, legend(), h("p", { class: "muted small" }, "click a bar for those devices"));
}

// Presence tiles by the one definition (api/presence.py): of every device when all were asked, else
// the share of an even sample, labelled as the sample it is ("of 2,000 asked"), never "1999 online"
// beside "100000 active".
export function presenceTiles(ov, stat) {
  const asked = ov.presence_checked;
  const pct = (n) => `${(100 * n / asked).toFixed(1)} %`;
  if (!asked) return [stat("online when asked", "—", "fleet-online", "ok")];
  if (asked >= ov.devices) {
    return [stat(`online when asked (${pct(ov.online)} of ${asked.toLocaleString()})`, ov.online.toLocaleString(), "fleet-online", "ok"),
      stat("online, not reachable", ov.unreachable.toLocaleString(), "fleet-unreachable", "warn"),
      stat("offline", ov.offline.toLocaleString(), "fleet-offline", "bad")];
  }
  const of = `of a sample of ${asked.toLocaleString()} asked`;
  return [stat(`online, ${of} (${ov.online.toLocaleString()} said online)`, pct(ov.online), "fleet-online", "ok"),
    stat(`online, not reachable, ${of}`, pct(ov.unreachable), "fleet-unreachable", "warn"),
    stat(`offline, ${of}`, pct(ov.offline), "fleet-offline", "bad")];
}

function legend() {
  return h("div", { class: "legend" }, [["online", "online (solid)"], ["unreachable", "online, not reachable (dotted)"], ["offline", "offline (hatched)"],
    ["unknown", "not asked"]].map(([k, label]) => {
    const sw = s("svg", { width: 14, height: 10, "aria-hidden": "true" }, patternDefs(`lg-${k}`), s("rect", { width: 14, height: 10, fill: fillFor(`lg-${k}`, k) }));
    return h("span", {}, sw, ` ${label}`);
  }));
}

// ---------------------------------------------------------------------------- trends
const RANGES = [[6, "6 h"], [24, "24 h"], [168, "7 days"], [720, "30 days"]];
let range = 24;

// A trend per bucket (about 48 over the range): each bucket's value holds until the next one (the
// newest until now), a bucket with no reports is a gap, the time axis spans the whole range and the
// values under the pointer are read out in the legend.
// ln.at: away from the plot the legend names the bucket its latest value measured ("93.5 % of
// reports, 14:00–14:30"), so it is not read as the same thing as a count asked just now.
function trendChart(title, unit, tr, lines, testid, yRange = null, integer = false, note = null) {
  const pct = unit.startsWith("%");
  const hm = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const now = Date.now();
  return timeChart(lines.map((ln) => ({ label: ln.label, colour: ln.colour, dash: ln.dash, step: true, bridge: true,
    points: tr.points.map((p) => [p.ts, p[ln.key] ?? null]),
    value: (v, t, away) => `${fmt(v)}${pct ? ` ${ln.of || "%"}` : ""}${ln.at && away ? `, ${hm(t)}–${hm(t + tr.bucket_s * 1000)}` : ""}` })),
  { title, unit, testid, xRange: [tr.since, now], holdTo: now, yRange, integer, note });
}

// `asked`: the trends' request when the caller sent it already (the page sends it beside its others).
async function trendsPanel(box, asked = null) {
  fill(box, loading());
  try {
    const tr = await (asked || api.get("/api/fleet/trends", { hours: range }));
    const t = tr.totals;
    fill(box, h("div", { class: "muted small", "data-testid": "trend-totals" },
      `last ${RANGES.find(([n]) => n === range)?.[1] || `${range} h`}: ${t.changes} change${t.changes === 1 ? "" : "s"} verified, ${t.failures} failed or rolled back, ${t.cases_opened} case${t.cases_opened === 1 ? "" : "s"} opened, ${t.cases_closed} closed`),
    h("div", { class: "charts" },
      // the devices' own wan.up reports over time: not the tile's "online" (presence asked just now)
      trendChart("Internet link up, as the devices reported it", "% of reports", tr,
        [{ key: "online_pct", label: "link-up reports", of: "% of reports", at: true, colour: "#1b7f3b" }], "trend-online", [0, 100], false,
        h("p", { class: "muted small", "data-testid": "trend-online-note" },
          `The share of the devices' wan.up reports that said up, per ${Math.round(tr.bucket_s / 60)} min — not the “online when asked” tile above, which counts the devices whose presence said online when asked.`)),
      trendChart("Changes", `verified per hour (bucket ${Math.round(tr.bucket_s / 60)} min)`, tr, [{ key: "changes_per_hour", label: "verified changes", colour: "#2458d6" }], "trend-changes"),
      trendChart("Failure rate", "% of device writes", tr, [{ key: "failure_pct", label: "failed or rolled back", colour: "#b3261e", dash: [4, 2] }], "trend-failures", [0, 100]),
      trendChart("Remediation cases", `per ${Math.round(tr.bucket_s / 60)} min`, tr, [{ key: "cases_opened", label: "opened", colour: "#b7791f" }, { key: "cases_closed", label: "closed", colour: "#0b6b8a", dash: [5, 3] }], "trend-cases", null, true)));
  } catch (e) { fill(box, h("p", { class: "error" }, e.message)); }
}

// ---------------------------------------------------------------------------- outages
function outagePanel(res) {
  const items = res.items || [];
  return h("section", { class: "panel", "data-testid": "fleet-outages" }, h("h2", {}, `Upstream outages (${items.length})`),
    h("p", { class: "muted small" }, `an upstream where at least half of its devices reported the WAN down or degraded in the last ${res.hours} h`),
    items.length ? h("table", {}, h("thead", {}, h("tr", {}, ["upstream", "above it", "degraded", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, items.map((o) => {
        const share = o.devices ? o.degraded / o.devices : 0;
        const bar = h("span");
        bar.style.cssText = `width:${Math.round(100 * share)}%`;
        return h("tr", { "data-testid": "outage-row", "data-upstream": o.upstream_id },
          h("td", {}, h("span", { "aria-hidden": "true" }, "⚡ "), o.label, h("span", { class: "muted small" }, ` (${o.kind.replaceAll("_", " ")})`)),
          h("td", { class: "small" }, o.parent ? nodeName(o.parent) : "—"),
          h("td", { "data-testid": "outage-count" }, h("span", { class: "bar wide hatched" }, bar), ` ${o.degraded} of ${o.devices} degraded`),
          h("td", {}, h("a", { href: `#/devices/?upstream=${encodeURIComponent(o.upstream_id)}` }, "devices")));
      }))) : h("p", { class: "muted", "data-testid": "no-outage" }, "no upstream is in trouble"));
}

// "OLT DE-01 Hamburg", never "OLT OLT DE-01 Hamburg": the kind only when the label does not say it
function nodeName(n) {
  const kind = n.kind.replaceAll("_", " ").toUpperCase();
  return n.label.toUpperCase().startsWith(kind) ? n.label : `${kind} ${n.label}`;
}

function countBars(title, counts, testid, unit) {
  const entries = Object.entries(counts);
  if (!entries.length) return h("figure", { class: "panel", "data-testid": testid }, h("figcaption", {}, h("strong", {}, title)),
    h("p", { class: "muted" }, `none`));
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h("figure", { class: "panel", "data-testid": testid }, h("figcaption", {}, h("strong", {}, title)),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "problem"), h("th", {}, unit), h("th", {}, ""))),
      h("tbody", {}, entries.map(([k, n]) => {
        const fillEl = h("span");
        fillEl.style.cssText = `width:${(100 * n) / max}%;background:var(--warn)`;
        return h("tr", { title: `${k}: ${n} ${unit}` }, h("td", {}, k.replaceAll("_", " ")), h("td", { class: "num" }, n),
          h("td", {}, h("span", { class: "bar wide" }, fillEl)));
      }))));
}

function campaignsPanel(items) {
  return h("section", { class: "panel", "data-testid": "fleet-campaigns" }, h("h2", {}, "Active campaigns"),
    items.length ? h("table", {}, h("thead", {}, h("tr", {}, ["campaign", "state", "ring", "progress", "✓", "✗", "rolled back"].map((c) => h("th", {}, c)))),
      h("tbody", {}, items.map((c) => {
        const done = h("span");
        done.style.cssText = `width:${c.devices ? (100 * c.verified) / c.devices : 0}%;background:var(--ok)`;
        return h("tr", { title: `${c.verified} of ${c.devices} devices verified` },
          h("td", {}, h("a", { href: `#/campaigns/${encodeURIComponent(c.id)}` }, c.name)), h("td", {}, badge(c.state)),
          h("td", {}, `${c.ring + 1} / ${c.rings}`), h("td", {}, h("span", { class: "bar wide" }, done), ` ${c.verified} / ${c.devices}`),
          h("td", { class: "num" }, c.verified), h("td", { class: "num" }, c.failed), h("td", { class: "num" }, c.rolled_back));
      }))) : h("p", { class: "muted" }, "no campaign is running"));
}

// The compatibility matrix: one row per vendor · model · firmware, one column per workflow.
function compatGrid(matrix) {
  const items = matrix.items || [];
  const workflows = [...new Set(items.map((r) => r.workflow))];
  const rows = new Map();
  for (const r of items) {
    const key = `${r.vendor} ${r.model} ${r.firmware}`;
    if (!rows.has(key)) rows.set(key, {});
    rows.get(key)[r.workflow] = r;
  }
  const cell = (r) => {
    if (!r) return h("td", { class: "muted" }, "—");
    const evidence = r.executions ? `${r.succeeded} succeeded, ${r.failed} failed (${(100 * (r.failure_rate || 0)).toFixed(1)}%)`
      : "no executions yet";
    return h("td", { class: `compat c-${r.status}`, title: `${r.workflow}: ${r.status} from ${r.source} · ${evidence}`
      + (r.last_error ? ` · last error: ${r.last_error}` : ""), "data-status": r.status },
      r.status, h("div", { class: "small" }, r.executions ? `${r.succeeded}✓ ${r.failed}✗` : "matrix only"));
  };
  return h("section", { class: "panel", "data-testid": "compat-grid" }, h("h2", {}, "Compatibility matrix"),
    h("p", { class: "muted small" }, "green: supported · yellow: pilot (small rings) · red: unsupported; evidence from real executions overrides the static matrix once there is enough. Hover a cell for its evidence."),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "vendor · model · firmware"), workflows.map((w) => h("th", {}, w)))),
      h("tbody", {}, [...rows.entries()].map(([key, byWf]) => h("tr", {}, h("td", { class: "small" }, key), workflows.map((w) => cell(byWf[w]))))))));
}

function recentPanel(res) {
  return h("section", { class: "panel", "data-testid": "fleet-recent" }, h("h2", {}, "Recent changes"),
    res.items.length ? h("ul", { class: "list" }, res.items.map((p) => h("li", {},
      h("div", { class: "row spread" }, h("a", { href: `#/approvals/${encodeURIComponent(p.id)}` }, p.intent), badge(p.state)),
      h("div", { class: "muted small" }, `${p.author} · ${p.target_count} device${p.target_count === 1 ? "" : "s"} · ${ago(p.updated_at)}`))))
      : h("p", { class: "muted" }, "no finished change yet"));
}

function onboardingPanel(items, total) {
  return h("section", { class: "panel", "data-testid": "fleet-onboarding" }, h("h2", {}, `Pending onboarding (${total})`),
    items === null ? h("p", { class: "muted" }, "not visible to your role")
      : items.length ? h("table", {}, h("thead", {}, h("tr", {}, ["endpoint", "OUI · class · serial", "attempts", "last seen"].map((c) => h("th", {}, c)))),
        h("tbody", {}, items.slice(0, 10).map((r) => h("tr", {}, h("td", { class: "mono small" }, r.endpoint_id),
          h("td", { class: "small" }, `${r.oui} · ${r.product_class} · ${r.serial}`), h("td", { class: "num" }, r.attempts), h("td", {}, ago(r.last_seen))))))
        : h("p", { class: "muted" }, "no agent is waiting to be accepted"));
}

async function render(root) {
  // The trends go out with the page's other requests, not after them: one round trip, not two.
  const trends = api.get("/api/fleet/trends", { hours: range });
  trends.catch(() => {});  // its error is the panel's to show
  const [ov, outages, compat, recent, onboarding] = await Promise.all([
    api.get("/api/fleet"),
    api.get("/api/fleet/outages").catch(() => ({ hours: 6, items: [] })),
    api.get("/api/compat").catch(() => ({ items: [] })),
    api.get("/api/proposals", { state: ["done", "rolled_back", "failed"], limit: 10 }).catch(() => ({ items: [] })),
    api.get("/api/onboarding").catch(() => null),
  ]);
  const asked = ov.presence_checked;
  const stat = (label, value, testid, cls = "") => h("div", { class: `stat ${cls}`, "data-testid": testid }, h("div", { class: "value" }, value), h("div", { class: "muted small" }, label));
  const cases = Object.values(ov.cases_by_problem).reduce((a, b) => a + b, 0);
  const picker = h("select", { "aria-label": "time range", "data-testid": "range-picker" },
    RANGES.map(([n, label]) => h("option", { value: n, selected: n === range }, `last ${label}`)));
  const trendsBox = h("div");
  picker.addEventListener("change", () => { range = Number(picker.value); trendsPanel(trendsBox); });
  fill(root,
    h("div", { class: "row spread" }, h("h1", {}, "Fleet"), h("span", { class: "muted small" },
      `${asked < ov.devices ? `presence asked of ${asked} of ${ov.devices} devices (an even sample)` : `presence asked of all ${asked} devices`} ${ov.presence_at ? ago(ov.presence_at) : "just now"}`)),
    h("div", { class: "stats" },
      stat("active devices", ov.devices.toLocaleString(), "fleet-devices"),
      // presence asked (when: the line above), not the devices' reports (the trend below). Of a
      // sample, the tiles are the sample's share, never a count beside the fleet's own count.
      ...presenceTiles(ov, stat),
      stat("open remediation cases", cases, "fleet-cases"), stat("applied, being verified", ov.cases_applied ?? 0, "fleet-cases-applied"),
      stat("active campaigns", ov.active_campaigns ?? ov.campaigns.length, "fleet-active-campaigns"),
      stat("pending onboarding", ov.pending_onboarding, "fleet-pending")),
    h("section", { class: "panel", "data-testid": "fleet-trends" }, h("div", { class: "row spread" }, h("h2", {}, "Trends"), picker), trendsBox),
    outagePanel(outages),
    h("div", { class: "grid-2" },
      presenceChart("Devices by region", ov.by_region, "fleet-by-region", "region"),
      presenceChart("Devices by model", ov.by_model, "fleet-by-model", "model")),
    h("div", { class: "grid-2" },
      presenceChart("Devices by firmware", ov.by_firmware, "fleet-by-firmware", "firmware"),
      countBars("Open remediation cases by problem", ov.cases_by_problem, "fleet-cases-by-problem", "cases")),
    campaignsPanel(ov.campaigns),
    compatGrid(compat),
    h("div", { class: "grid-2" }, recentPanel(recent), onboardingPanel(onboarding, ov.pending_onboarding)));
  await trendsPanel(trendsBox, trends);
}

export async function fleetView(root) {
  fill(root, loading());
  try { await render(root); } catch (e) { fill(root, h("p", { class: "error" }, e.message)); return null; }
  let last = Date.now();
  let pending = null;
  const unsubscribe = onChange(() => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      last = Date.now();
      try { await render(root); } catch { /* keep the last view */ }
    }, Math.max(0, 5000 - (Date.now() - last)));
  });
  return () => { unsubscribe(); if (pending) clearTimeout(pending); };
}
