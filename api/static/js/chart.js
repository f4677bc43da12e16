// Inline SVG line charts for telemetry: one chart per metric, one line per label set.
// No library: the console must run from a fresh clone with no build and no CDN.

import { h, s } from "./dom.js";

const COLOURS = ["#2458d6", "#c2410c", "#1b7f3b", "#6b3fb3", "#0b6b8a", "#a16207", "#be185d"];
const W = 320, H = 130, PAD_L = 38, PAD_R = 8, PAD_T = 8, PAD_B = 18;

function labelText(labels) {
  const parts = Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(" ") : "value";
}

export function lineChart(metric, series) {
  const all = series.flatMap((x) => x.points.map(([t, v]) => [new Date(t).getTime(), v]));
  if (!all.length) return h("div", { class: "empty" }, `${metric}: no data`);
  let [t0, t1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [v0, v1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (t1 === t0) t1 = t0 + 1;
  if (v1 === v0) { v1 += 1; v0 = Math.min(0, v0); }
  const x = (t) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - PAD_R);
  const y = (v) => H - PAD_B - ((v - v0) / (v1 - v0)) * (H - PAD_T - PAD_B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${metric} over time` },
    s("line", { class: "axis", x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B }),
    s("line", { class: "axis", x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B }),
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
      svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: colour, "stroke-width": 1.4 }));
    }
  });
  const legend = h("div", { class: "legend" }, series.map((ser, i) => {
    const sw = h("i");
    sw.style.background = COLOURS[i % COLOURS.length];
    return h("span", {}, sw, `${labelText(ser.labels)} (last ${fmt(ser.stats?.last)})`);
  }));
  return h("figure", { class: "panel", "data-testid": "chart", "data-metric": metric },
    h("figcaption", {}, h("strong", {}, metric)), svg, legend);
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

export function chartsFor(history) {
  const byMetric = new Map();
  for (const ser of history.series || []) {
    if (!byMetric.has(ser.metric)) byMetric.set(ser.metric, []);
    byMetric.get(ser.metric).push(ser);
  }
  return h("div", { class: "charts" }, [...byMetric.entries()].map(([m, ser]) => lineChart(m, ser)));
}
