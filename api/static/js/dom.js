// Small DOM helpers. Every piece of data goes in as text (textContent), never as HTML, its control
// and bidirectional characters made visible: SSIDs, host names and chat text come from devices and
// subscribers and are untrusted.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM, allowed by the CSP (a style attribute is not)
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(visible(String(c))));
  }
  return el;
}

// Control and bidirectional characters a device or a person put in text, shown as visible escapes
// (issue 56): a right-to-left override showed "\u202eexe.gnp" as "png.exe", and a NUL or an escape
// sequence reached the page as it was. Newline and tab stay. The CLI does the same (gateward/cli_text.py).
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
export function visible(text) {
  return text.replace(CONTROLS, (ch) => {
    const c = ch.charCodeAt(0);
    return c < 0x100 ? `\\x${c.toString(16).padStart(2, "0")}` : `\\u${c.toString(16).padStart(4, "0")}`;
  });
}

// Replace an element's children; arrays are flattened and null/false dropped (unlike
// replaceChildren, which would print "null" or "[object HTMLElement]").
export function fill(el, ...children) {
  clear(el);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Lifecycle states in words and colours; 'applying' and friends pulse so nobody mistakes
// an in-flight change for a finished one.
const STATES = {
  draft: ["draft", ""], validated: ["validated", "b-info"], invalid: ["invalid", "b-bad"],
  previewed: ["previewed", "b-info"], denied: ["denied by policy", "b-bad"],
  awaiting_approval: ["pending approval", "b-warn"], approved: ["approved", "b-ok"], rejected: ["rejected", "b-bad"],
  backed_up: ["backed up", "b-busy"], applying: ["applying", "b-busy"], verifying: ["verifying", "b-busy"],
  done: ["applied and verified", "b-ok"], rolled_back: ["rolled back", "b-warn"], failed: ["FAILED", "b-bad"],
  rollback_pending: ["restore unconfirmed: re-checking", "b-warn"],
  cancelled: ["cancelled", ""],
  // executions
  pending: ["pending", ""], applied: ["applied", "b-info"], verified: ["verified", "b-ok"],
  verify_failed: ["verify failed", "b-bad"], rolling_back: ["rolling back", "b-busy"],
  rollback_failed: ["ROLLBACK FAILED", "b-bad"], skipped: ["skipped", ""],
  // devices
  online: ["online", "b-ok"], offline: ["offline", "b-bad"], unreachable: ["online, not reachable", "b-warn"],
  busy: ["open proposal", "b-info"],
  green: ["green", "b-ok"], yellow: ["yellow (pilot)", "b-warn"], red: ["red (unsupported)", "b-bad"],
};

// A state in the console's words (what a badge says), for text that is not a badge.
export const stateWords = (state) => (STATES[state] || [String(state).replaceAll("_", " ")])[0];

export function badge(state, extra = "") {
  const [label, cls] = STATES[state] || [String(state).replaceAll("_", " "), ""];
  return h("span", { class: `badge ${cls} ${extra}`.trim(), "data-state": state, "data-testid": "state-badge" }, label);
}

export function presenceBadge(p) {
  if (!p) return badge("unknown");
  if (!p.online) return badge("offline");
  return p.reachable ? badge("online") : badge("unreachable");
}

export function riskMeter(risk) {
  if (risk === null || risk === undefined) return h("span", { class: "muted" }, "risk not scored yet");
  const pct = Math.round(Math.max(0, Math.min(1, Number(risk))) * 100);
  const colour = pct >= 60 ? "var(--bad)" : pct >= 30 ? "var(--warn)" : "var(--ok)";
  const word = pct >= 60 ? "high" : pct >= 30 ? "medium" : "low";
  const bar = h("span", { class: "bar" });
  bar.append(h("span", { style: `width:${pct}%;background:${colour}` }));
  return h("span", { class: "risk", title: `risk ${Number(risk).toFixed(2)} (0 routine, 1 highest)` },
    bar, `${word} ${Number(risk).toFixed(2)}`);
}

// One time format everywhere; { zone: true } names the zone (a time a person will wait for).
export function fmtTime(iso, { zone = false } = {}) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    ...(zone ? { timeZoneName: "short" } : {}) });
}

export function ago(iso) {
  if (!iso) return "never";
  const secs = (Date.now() - new Date(iso).getTime()) / 1000;
  if (secs < 90) return `${Math.max(0, Math.round(secs))} s ago`;
  if (secs < 5400) return `${Math.round(secs / 60)} min ago`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

// A device's contact in two true facts (issue 47): presence as it was asked just now, with the
// time it was asked, and the last inform (CWMP: periodic, so an online device may have informed an
// hour ago) or USP message the device sent. Never one "last contact" beside "online": read
// together, "online" and "last contact 57 min ago" contradict each other.
export function presenceNow(p) {
  if (!p) return "unknown";
  const word = !p.online ? "offline" : p.reachable ? "online" : "online, not reachable";
  if (!p.checked_at) return word;
  const secs = (Date.now() - new Date(p.checked_at).getTime()) / 1000;
  const clock = new Date(p.checked_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return `${word} — checked ${secs < 10 ? "just now" : ago(p.checked_at)} (${clock})`;
}

export function lastHeard(dev) {
  const label = dev.protocol === "cwmp" ? "last periodic inform" : dev.protocol === "usp" ? "last message from the agent" : "last contact";
  return [label, dev.last_seen ? `${ago(dev.last_seen)} (${fmtTime(dev.last_seen)})` : "never"];
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "∅";
  if (v === "") return '""';
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function toast(text, kind = "") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "status" }, text);
  box.append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 8000 : 4000);
}

export function kv(rows) {
  return h("table", { class: "kv" }, rows.filter(Boolean).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

export function loading(text = "loading…") {
  return h("div", { class: "empty" }, text);
}

// "1 escalation", "3 escalations": a count with its noun, never "(s)".
export function plural(n, noun, many = `${noun}s`) {
  return `${n} ${n === 1 ? noun : many}`;
}

// "an approver", "a senior approver".
export function withArticle(noun) {
  return `${/^[aeiou]/i.test(noun) ? "an" : "a"} ${noun}`;
}
