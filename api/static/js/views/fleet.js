// Fleet: the whole fleet at a glance, read-only. Presence by region / model / firmware as
// stacked bars (axis in devices, the exact numbers on hover and in the row label), open
// remediation cases by problem, active campaigns with progress, the compatibility matrix as a
// red / yellow / green grid with its evidence, recent changes with outcomes, pending onboarding.
// It re-reads itself when the change feed says something moved (at most every 5 s).

import * as api from "../api.js";
import { ago, badge, h, loading, s, fill } from "../dom.js";
import { onChange } from "../live.js";

const COLOURS = { online: "#1b7f3b", unreachable: "#b7791f", offline: "#b3261e", unknown: "#c5ccd6" };
const LABEL_W = 190, BAR_W = 360, ROW_H = 22;

// Stacked horizontal bars: one row per group, segments online / unreachable / offline / not asked.
function presenceChart(title, groups, testid) {
  const rows = groups.slice(0, 12);
  const max = Math.max(1, ...rows.map((g) => g.devices));
  const height = rows.length * ROW_H + 34;
  const x = (n) => LABEL_W + (n / max) * BAR_W;
  const svg = s("svg", { viewBox: `0 0 ${LABEL_W + BAR_W + 60} ${height}`, class: "chart fleet-bars", role: "img",
    "aria-label": `${title}: devices online, unreachable and offline per group`, "data-testid": testid });
  rows.forEach((g, i) => {
    const y = 4 + i * ROW_H;
    const asked = g.online + g.unreachable + g.offline;
    const parts = [["online", g.online], ["unreachable", g.unreachable], ["offline", g.offline], ["unknown", g.devices - asked]];
    const row = s("g", { class: "bar-row", "data-key": g.key },
      s("title", {}, `${g.key}: ${g.devices} devices — ${g.online} online, ${g.unreachable} unreachable, ${g.offline} offline`
        + (asked < g.devices ? `, ${g.devices - asked} not asked` : "")),
      s("text", { x: LABEL_W - 6, y: y + 14, "text-anchor": "end" }, g.key.length > 26 ? `${g.key.slice(0, 25)}…` : g.key));
    let at = 0;
    for (const [kind, n] of parts) {
      if (n <= 0) continue;
      row.append(s("rect", { x: x(at), y: y + 3, width: Math.max(1, x(at + n) - x(at)), height: ROW_H - 7, fill: COLOURS[kind] }));
      at += n;
    }
    row.append(s("text", { x: x(g.devices) + 4, y: y + 14 }, String(g.devices)));
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
    svg, legend());
}

function legend() {
  return h("div", { class: "legend" }, [["online", "online"], ["unreachable", "online, not reachable"], ["offline", "offline"],
    ["unknown", "not asked"]].map(([k, label]) => {
    const sw = h("i");
    sw.style.background = COLOURS[k];
    return h("span", {}, sw, label);
  }));
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
  const [ov, compat, recent, onboarding] = await Promise.all([
    api.get("/api/fleet"),
    api.get("/api/compat").catch(() => ({ items: [] })),
    api.get("/api/proposals", { state: ["done", "rolled_back", "failed"], limit: 10 }).catch(() => ({ items: [] })),
    api.get("/api/onboarding").catch(() => null),
  ]);
  const asked = ov.presence_checked;
  const stat = (label, value, testid, cls = "") => h("div", { class: `stat ${cls}`, "data-testid": testid }, h("div", { class: "value" }, value), h("div", { class: "muted small" }, label));
  const cases = Object.values(ov.cases_by_problem).reduce((a, b) => a + b, 0);
  fill(root,
    h("div", { class: "row spread" }, h("h1", {}, "Fleet"), h("span", { class: "muted small" },
      asked < ov.devices ? `presence asked of ${asked} of ${ov.devices} devices (an even sample)` : `presence asked of all ${asked} devices just now`)),
    h("div", { class: "stats" },
      stat("active devices", ov.devices, "fleet-devices"), stat("online", ov.online, "fleet-online", "ok"),
      stat("online, not reachable", ov.unreachable, "fleet-unreachable", "warn"), stat("offline", ov.offline, "fleet-offline", "bad"),
      stat("open remediation cases", cases, "fleet-cases"), stat("active campaigns", ov.campaigns.length, "fleet-active-campaigns"),
      stat("pending onboarding", ov.pending_onboarding, "fleet-pending")),
    h("div", { class: "grid-2" },
      presenceChart("Devices by region", ov.by_region, "fleet-by-region"),
      presenceChart("Devices by model", ov.by_model, "fleet-by-model")),
    h("div", { class: "grid-2" },
      presenceChart("Devices by firmware", ov.by_firmware, "fleet-by-firmware"),
      countBars("Open remediation cases by problem", ov.cases_by_problem, "fleet-cases-by-problem", "cases")),
    campaignsPanel(ov.campaigns),
    compatGrid(compat),
    h("div", { class: "grid-2" }, recentPanel(recent), onboardingPanel(onboarding, ov.pending_onboarding)));
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
