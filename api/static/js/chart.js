// Inline SVG line charts for telemetry: one chart per metric, one line per label set, with the
// changes applied to the device drawn as numbered dashed markers ("did my channel change help?").
// The proposal page draws the series behind a change with the same chart: the threshold its
// diagnosis used as a line, the time it was drafted as a marker (issue 39).
// No library: the console must run from a fresh clone with no build and no CDN.

import { h, s } from "./dom.js";

const COLOURS = ["#2458d6", "#c2410c", "#1b7f3b", "#6b3fb3", "#0b6b8a", "#a16207", "#be185d"];
const DASHES = ["", "5 3", "2 2", "8 3 2 3", "1 3", "6 2 1 2", "3 3"]; // lines differ in more than colour
const W = 320, H = 140, PAD_L = 44, PAD_R = 8, PAD_T = 14, PAD_B = 18;

const LABEL_WORDS = { band: "", radio: "radio", client: "client", interface: "" };

function labelText(labels) {
  const parts = Object.entries(labels || {}).map(([k, v]) => (LABEL_WORDS[k] === "" ? String(v) : `${LABEL_WORDS[k] || k} ${v}`));
  return parts.length ? parts.join(", ") : "value";
}

// opts (all optional): name and unit in words (the server names each series: core.history), threshold and
// thresholdText (a horizontal line: the level a diagnosis held the series against), at and atText
// (one moment marked, e.g. when a proposal was drafted).
export function lineChart(metric, series, markers = [], opts = {}) {
  const [name, unit] = [opts.name || metric, opts.unit || ""];
  const all = series.flatMap((x) => x.points.map(([t, v]) => [new Date(t).getTime(), v]));
  if (!all.length) return h("div", { class: "empty" }, `${name}: no data`);
  // The time axis spans the samples and the changes: a change after the last sample still shows,
  // at the right edge, with no line after it yet (the answer to "did it help?" is still to come).
  const at = opts.at ? new Date(opts.at).getTime() : NaN;
  const marks = [...markers.map((m) => new Date(m.ts).getTime()), at].filter((t) => !Number.isNaN(t));
  const level = Number.isFinite(opts.threshold) ? [opts.threshold] : [];
  let [t0, t1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]), ...marks)];
  let [v0, v1] = [Math.min(...all.map((p) => p[1]), ...level), Math.max(...all.map((p) => p[1]), ...level)];
  if (t1 === t0) t1 = t0 + 1;
  if (v1 === v0) { v1 += 1; v0 = Math.min(0, v0); }
  const x = (t) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - PAD_R);
  const y = (v) => H - PAD_B - ((v - v0) / (v1 - v0)) * (H - PAD_T - PAD_B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${name} (${unit}) over time` },
    s("line", { class: "axis", x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B }),
    s("line", { class: "axis", x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B }),
    s("text", { x: 2, y: 9, class: "unit" }, unit),
    s("text", { x: PAD_L - 4, y: PAD_T + 8, "text-anchor": "end" }, fmt(v1)),
    s("text", { x: PAD_L - 4, y: H - PAD_B, "text-anchor": "end" }, fmt(v0)),
    s("text", { x: PAD_L, y: H - 4 }, shortTime(t0)),
    s("text", { x: W - PAD_R, y: H - 4, "text-anchor": "end" }, shortTime(t1)));
  series.forEach((ser, i) => {
    const pts = ser.points.map(([t, v]) => `${x(new Date(t).getTime()).toFixed(1)},${y(v).toFixed(1)}`);
    const colour = COLOURS[i % COLOURS.length];
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(",");
      svg.append(s("circle", { cx, cy, r: 2.5, fill: colour }));
    } else {
      svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: colour, "stroke-width": 1.4,
        "stroke-dasharray": DASHES[i % DASHES.length] || null, "data-testid": "series-line" }));
    }
  });
  if (level.length) {
    const ly = y(level[0]).toFixed(1), words = opts.thresholdText || `threshold ${fmt(level[0])} ${unit}`;
    svg.append(s("g", { class: "threshold", "data-testid": "threshold", "data-value": level[0] },
      s("line", { x1: PAD_L, y1: ly, x2: W - PAD_R, y2: ly }),
      s("text", { x: W - PAD_R, y: Number(ly) - 3, "text-anchor": "end" }, words), s("title", {}, words)));
  }
  if (!Number.isNaN(at)) {
    const ax = x(at).toFixed(1), words = opts.atText || shortTime(at);
    svg.append(s("g", { class: "marker m-at", "data-testid": "at-marker" },
      s("line", { x1: ax, y1: PAD_T, x2: ax, y2: H - PAD_B }),
      s("text", { x: ax, y: PAD_T - 3, "text-anchor": Number(ax) > W / 2 ? "end" : "start" }, words),
      s("title", {}, `${words} (${shortTime(at)})`)));
  }
  const shown = markers.filter((m) => { const t = new Date(m.ts).getTime(); return t >= t0 && t <= t1; });
  for (const m of shown) {
    const mx = x(new Date(m.ts).getTime()).toFixed(1);
    svg.append(s("g", { class: `marker m-${m.state}`, "data-testid": "change-marker" },
      s("line", { x1: mx, y1: PAD_T, x2: mx, y2: H - PAD_B }),
      s("text", { x: mx, y: PAD_T - 3, "text-anchor": "middle" }, String(m.n)),
      s("title", {}, `${m.n}: ${m.intent} (${m.state})`)));
  }
  const legend = h("div", { class: "legend" }, series.map((ser, i) => {
    const sw = h("i");
    sw.style.background = COLOURS[i % COLOURS.length];
    return h("span", {}, sw, `${labelText(ser.labels)}: last ${fmt(ser.stats?.last)} ${unit}`);
  }));
  return h("figure", { class: "panel", "data-testid": "chart", "data-metric": metric },
    h("figcaption", {}, h("strong", {}, name), h("span", { class: "muted small" }, ` (${unit})`)), svg, legend);
}

function fmt(v) {
  if (v === undefined || v === null) return "";
  const n = Number(v);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function shortTime(ms) {
  const d = new Date(ms);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const STATE_WORDS = { done: "applied and verified", rolled_back: "rolled back", failed: "failed", rollback_pending: "restore unconfirmed" };

// The changes of the window, numbered in time order: the same number marks every chart and the
// list under them, which says what each one set and how it ended, in words.
export function chartsFor(history) {
  const byMetric = new Map();
  for (const ser of history.series || []) {
    if (!byMetric.has(ser.metric)) byMetric.set(ser.metric, []);
    byMetric.get(ser.metric).push(ser);
  }
  const markers = (history.changes || []).map((c, i) => ({ ...c, n: i + 1 }));
  const list = markers.length ? h("ol", { class: "change-list small", "data-testid": "change-list" }, markers.map((m) =>
    h("li", { "data-testid": "change-item" }, h("strong", {}, `${m.n}. `), `${shortTime(new Date(m.ts).getTime())} — ${m.intent}: `,
      m.what.join(", "), " — ", h("a", { href: `#/approvals/${encodeURIComponent(m.proposal_id)}` }, STATE_WORDS[m.state] || m.state)))) : null;
  return h("div", {}, h("div", { class: "charts" }, [...byMetric.entries()].map(([m, ser]) => lineChart(m, ser, markers, { name: ser[0].name, unit: ser[0].unit }))), list);
}
