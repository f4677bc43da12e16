// Every chart of the console: a time axis with readable ticks, the values under the pointer in the
// legend (hover read-out), thresholds and moments (a change applied, a proposal drafted) marked on
// the plot. Drawn by uPlot (MIT, vendored from npm under /static/vendor/uplot: no build, no CDN),
// which does the axes, the ticks and the cursor; this module says what to draw and draws the marks
// as elements over the plot, so a person can hover them and a test can find them.
//
// Honesty rules every chart keeps: the x axis spans the window asked for (one sample is a dot at its
// time, not a line across the chart); a measurement taken now and then is drawn as a step that holds
// until the next one (two analyses are not a steady climb); a 1/0 series has a 0–1 axis that says
// down / up; gaps in the data stay gaps.

import { h } from "./dom.js";

const uPlot = window.uPlot;
const COLOURS = ["#2458d6", "#c2410c", "#1b7f3b", "#6b3fb3", "#0b6b8a", "#a16207", "#be185d"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3], [1, 3], [6, 2, 1, 2], [3, 3]]; // lines differ in more than colour
const HEIGHT = 170;

export function fmt(v) {
  if (v === undefined || v === null || Number.isNaN(Number(v))) return "–";
  const n = Number(v);
  const a = Math.abs(n);
  if (Number.isInteger(n)) return String(n); // a count stays a count: "10", not "10.0"
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : String(Number(n.toFixed(2)));
}

export function shortTime(ms) {
  return new Date(ms).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const sameDay = (a, b) => new Date(a).toDateString() === new Date(b).toDateString();

// Tick labels for a time axis: dates for day-sized steps, hours:minutes otherwise, with the date
// under the first tick and under each tick that starts a new day.
function timeTicks(splits, incr) {
  return splits.map((t, i) => {
    const d = new Date(t);
    const day = d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    if (incr >= 86400e3) return day;
    const hm = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    return i === 0 || !sameDay(t, splits[i - 1]) ? `${hm}\n${day}` : hm;
  });
}

// series: [{ label, points: [[time, value|null], …], colour?, dash?, step?, bridge?, value?(v, t) → text }]
// opts: { title, unit, testid, metric, yRange: [min, max], yTicks: {value: text}, integer (counts:
//         whole-number ticks), xRange: [t0, t1],
//         thresholds: [{ value, text, testid? }], marks: [{ t, label, title, cls, testid }], note }
// A y axis as wide as its widest label, measured in the axis's own font (a guess per character
// clipped "down" and "-60"): the labels, the tick and the gap between them, and a margin.
let measure = null;
function axisSize(u, values, axisIdx) {
  if (!values || !values.length) return 40;
  const ax = u.axes[axisIdx];
  measure = measure || document.createElement("canvas").getContext("2d");
  measure.font = ax.font[0];
  const ratio = window.devicePixelRatio || 1; // the font is scaled to the canvas's pixels
  const widest = Math.max(...values.map((v) => measure.measureText(String(v)).width)) / ratio;
  return Math.ceil(widest) + (ax.ticks?.show === false ? 0 : ax.ticks?.size ?? 10) + (ax.gap ?? 5) + 6;
}

export function timeChart(series, opts = {}) {
  const title = opts.title || "";
  const unit = opts.unit || "";
  const all = series.flatMap((s) => s.points.map(([t]) => new Date(t).getTime()));
  const figure = h("figure", { class: "panel tchart", "data-testid": opts.testid || "chart", "data-metric": opts.metric || null },
    h("figcaption", {}, h("strong", {}, title), unit ? h("span", { class: "muted small" }, ` (${unit})`) : null));
  if (!all.length && !(opts.thresholds || []).length) {
    figure.append(h("p", { class: "empty" }, opts.empty || "no data in this window"));
    return figure;
  }
  // one x for every series: the union of their times; a series with no value at a time has
  // `undefined` there (spanned), an explicit null (no report) stays a gap
  const xs = [...new Set(all)].sort((a, b) => a - b);
  const at = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const col = new Array(xs.length).fill(undefined);
    for (const [t, v] of s.points) col[at.get(new Date(t).getTime())] = v === null || v === undefined ? null : Number(v);
    // s.bridge: a lone empty slot between two values is bridged (hourly reports in half-hour
    // buckets); two or more in a row stay a gap: no reports there, not zero
    if (s.bridge) for (let i = 1; i < col.length - 1; i += 1) if (col[i] === null && col[i - 1] != null && col[i + 1] != null) col[i] = undefined;
    return col;
  });
  // opts.holdTo: a stepped series' newest value holds until then (the trends' "now"): without a
  // point there the step would end where the newest bucket starts, short of the axis's end.
  const held = Number.isFinite(opts.holdTo) && xs.length && opts.holdTo > xs[xs.length - 1];
  if (held) {
    xs.push(opts.holdTo);
    ys.forEach((col, i) => col.push(series[i].step ? col[col.length - 1] ?? null : undefined));
  }
  figure.dataset.heldTo = held ? String(opts.holdTo) : "";
  const marks = (opts.marks || []).filter((m) => Number.isFinite(m.t));
  let [t0, t1] = opts.xRange ? opts.xRange.map((t) => new Date(t).getTime())
    : [Math.min(...xs, ...marks.map((m) => m.t)), Math.max(...xs, ...marks.map((m) => m.t))];
  if (t1 - t0 < 60e3) { t0 -= 30 * 60e3; t1 += 30 * 60e3; } // one moment: a window around it
  const levels = (opts.thresholds || []).map((x) => Number(x.value)).filter(Number.isFinite);
  const plot = h("div", { class: "tchart-plot" });
  figure.append(plot);
  const yTicks = opts.yTicks || null;
  const yFmt = (v) => (yTicks && yTicks[v] !== undefined ? yTicks[v] : Number.isInteger(v) ? String(v) : fmt(v));
  const config = (width) => ({
    width, height: HEIGHT, ms: 1, padding: [14, 18, 0, 4],
    cursor: { points: { size: 7 }, drag: { x: false, y: false } },
    legend: { live: true },
    scales: {
      x: { time: true, range: () => [t0, t1] },
      y: { range: opts.yRange ? () => opts.yRange : (u, lo, hi) => {
        const vmin = Math.min(lo ?? 0, ...levels, 0), vmax = Math.max(hi ?? 1, ...levels);
        return vmax === vmin ? [vmin, vmin + 1] : [vmin, vmax + (vmax - vmin) * 0.08];
      } },
    },
    axes: [
      { values: (u, splits, ax, space, incr) => { const out = timeTicks(splits, incr); figure.dataset.xticks = out.join("|"); return out; },
        space: 70, size: 44, grid: { stroke: "#eef0f3" } },
      { values: (u, splits) => splits.map(yFmt),
        ...(yTicks ? { splits: () => Object.keys(yTicks).map(Number) } : {}),
        ...(opts.integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6] } : {}),
        size: axisSize,
        grid: { stroke: "#eef0f3" } },
    ],
    series: [
      // away from the plot the legend reads the latest values; under the pointer, the pointer's
      { label: "time", value: (u, t) => (t === null || t === undefined ? "latest" : shortTime(t)) },
      ...series.map((s, i) => ({
        label: s.label, stroke: s.colour || COLOURS[i % COLOURS.length], width: 1.6,
        dash: s.dash || DASHES[i % DASHES.length],
        ...(s.step ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}), // an explicit undefined would draw no line
        points: { ...(s.points.length <= 16 ? { show: true } : {}), size: 5, fill: s.colour || COLOURS[i % COLOURS.length] },
        value: (u, v, si, idx) => {
          let k = idx;
          if (k === null || k === undefined) { // not hovering: the newest value of the series
            k = u.data[si].length - (held ? 2 : 1); // the hold point repeats the newest value's
            while (k >= 0 && (u.data[si][k] === null || u.data[si][k] === undefined)) k -= 1;
            if (k < 0) return "no data";
            v = u.data[si][k];
          }
          if (v === null || v === undefined) return "no report";
          // away from the plot, s.value is told so (idx null): it may name the latest value's time
          return s.value ? s.value(v, u.data[0][k], idx === null || idx === undefined)
            : `${yFmt(v)}${unit && unit.length <= 3 ? ` ${unit}` : ""}`;
        },
      })),
    ],
    hooks: { draw: [(u) => overlay(u, opts.thresholds || [], marks)] },
  });
  // uPlot needs a width: the chart is made when its box is laid out, and follows its box's width
  let chart = null;
  const ro = new ResizeObserver(() => {
    const width = Math.floor(plot.clientWidth);
    if (width <= 0) return;
    if (!chart) { chart = new uPlot(config(width), [xs, ...ys], plot); figure.__chart = chart; return; }
    if (Math.abs(chart.width - width) > 1) chart.setSize({ width, height: HEIGHT });
  });
  ro.observe(plot);
  if (opts.note) figure.append(opts.note);
  return figure;
}

// Thresholds and moments as elements over the plot (re-placed on every redraw): hoverable, with
// their words beside them.
function overlay(u, thresholds, marks) {
  for (const el of u.over.querySelectorAll(".tmark")) el.remove();
  for (const th of thresholds) {
    const top = u.valToPos(Number(th.value), "y");
    if (!Number.isFinite(top)) continue;
    const el = h("div", { class: "tmark threshold", "data-testid": th.testid || "threshold", "data-value": th.value, "data-level": th.value, title: th.text },
      h("span", {}, th.text));
    el.style.top = `${top}px`;
    u.over.append(el);
  }
  for (const m of marks) {
    const left = u.valToPos(m.t, "x");
    if (!Number.isFinite(left) || left < -1 || left > u.over.clientWidth + 1) continue;
    const el = h("div", { class: `tmark moment ${m.cls || ""}`, "data-testid": m.testid || "mark", title: m.title || m.label },
      h("span", { class: left > u.over.clientWidth / 2 ? "left" : "" }, m.label));
    el.style.left = `${left}px`;
    u.over.append(el);
  }
}

// ---------------------------------------------------------------------------- device telemetry
const LABEL_WORDS = { band: "", radio: "radio", client: "client", interface: "" };

function labelText(labels) {
  const parts = Object.entries(labels || {}).map(([k, v]) => (LABEL_WORDS[k] === "" ? String(v) : `${LABEL_WORDS[k] || k} ${v}`));
  return parts.length ? parts.join(", ") : "value";
}

// A series measured on a channel says which channel at each time: the channel is part of the
// read-out under the pointer, and the legend says when it changed.
function channelAt(ser, t) {
  let ch = null;
  for (const seg of ser.channels || []) if (new Date(seg.from).getTime() <= t) ch = seg.channel;
  return ch;
}

function channelNote(ser) {
  const segs = ser.channels || [];
  if (!segs.length) return "";
  return segs.length === 1 ? ` (channel ${segs[0].channel})`
    : ` (channel ${segs.map((s, i) => (i ? `${s.channel} from ${shortTime(new Date(s.from).getTime())}` : s.channel)).join(", then ")})`;
}

// A count per interval ("per interval": DNS failures, radar events) or of things ("devices"): a
// step that holds each report until the next, with whole-number ticks — two reports are two
// counts, not a steady climb between them.
const COUNT_UNIT = /^(per\b|devices$|clients$|events$|count$)/;

// A 1/0 series ("1 = up, 0 = down"): a 0–1 axis that says the words.
function binary(unit) {
  const m = /^1 = (.+), 0 = (.+)$/.exec(unit || "");
  return m ? { 0: m[2], 1: m[1] } : null;
}

// opts (all optional): name and unit in words (the server names each series: core.history), since
// and until (the window asked for), threshold and thresholdText (a line: the level a diagnosis held
// the series against), at and atText (one moment marked, e.g. when a proposal was drafted).
export function lineChart(metric, series, markers = [], opts = {}) {
  const [name, unit] = [opts.name || metric, opts.unit || ""];
  const words = binary(unit);
  const marks = markers.map((m) => ({ t: new Date(m.ts).getTime(), label: String(m.n), cls: `m-${m.state}`, testid: "change-marker",
    title: `${m.n}: ${m.intent} (${m.state})` }));
  if (opts.at) marks.push({ t: new Date(opts.at).getTime(), label: opts.atText || "now", cls: "m-at", testid: "at-marker",
    title: `${opts.atText || ""} ${shortTime(new Date(opts.at).getTime())}`.trim() });
  const thresholds = Number.isFinite(opts.threshold)
    ? [{ value: opts.threshold, text: opts.thresholdText || `threshold ${fmt(opts.threshold)} ${unit}` }] : [];
  const count = !words && COUNT_UNIT.test(unit);
  const lines = series.map((ser) => ({
    label: `${labelText(ser.labels)}${channelNote(ser)}`, points: ser.points, step: Boolean(words) || count,
    value: (v, t) => {
      const ch = t === null ? null : channelAt(ser, t);
      return `${words ? words[v] ?? fmt(v) : `${fmt(v)} ${unit}`}${ch ? ` on channel ${ch}` : ""}`;
    },
  }));
  const xRange = opts.since ? [new Date(opts.since).getTime(), Math.max(Date.now(), ...marks.map((m) => m.t))] : null;
  return timeChart(lines, { title: name, unit: words ? "" : unit, metric, testid: "chart", thresholds, marks, xRange,
    yRange: words ? [-0.05, 1.05] : null, yTicks: words, integer: count });
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
  return h("div", {}, h("div", { class: "charts" }, [...byMetric.entries()].map(([m, ser]) =>
    lineChart(m, ser, markers, { name: ser[0].name, unit: ser[0].unit, since: history.since }))), list);
}
