// Parts of one device's page (issue 39): the parameter tree (a level at a time, a subtree re-read
// live, writable marks, "propose this value" inline), the action buttons (each opens a proposal
// through the gates, or runs the read-only diagnostic), pending work and faults, and events in words.

import * as api from "../api.js";
import { badge, fill, fmtTime, fmtValue, h, loading } from "../dom.js";

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------- proposals
async function propose(body, out) {
  fill(out, h("span", { class: "muted" }, "submitting through validate → preview → policy…"));
  try {
    // a person's form: a value validation refuses is answered here and recorded nowhere
    const res = await api.create("/api/proposals", { ...body, record_invalid: false });
    const p = res.proposal;
    const why = p.state === "denied" || p.state === "invalid" ? (res.decision?.reasons || []).concat(p.error ? [p.error] : []).join("; ") : "";
    fill(out, h("span", { "data-testid": "proposal-result", "data-state": p.state }, badge(p.state), " ",
      h("a", { href: `#/approvals/${enc(p.id)}`, class: "mono" }, p.id),
      p.state === "approved" ? " — apply it from the proposal" : p.state === "awaiting_approval" ? " — an approver has it now" : "",
      why ? h("span", { class: "small" }, ` — ${why}`) : null));
  } catch (e) { fill(out, h("span", { class: "error", role: "alert" }, e.message)); }
}

function typed(value, type) {
  const t = String(type || "").toLowerCase();
  if (t === "boolean") return ["true", "1", "yes", "on"].includes(String(value).trim().toLowerCase());
  if (/int|long|unsigned/.test(t) && /^-?\d+$/.test(String(value).trim())) return Number(value);
  return value;
}

// ---------------------------------------------------------------------------- the tree
export function paramTree(dev) {
  const box = h("div", { class: "tree", "data-testid": "param-tree" });
  // Every device's tree is read, stored and changed in TR-181 names: a TR-098 device's adapter
  // translates, and each parameter says what the device itself calls it (native).
  const root = "Device.";
  const status = h("span", { class: "muted small", "data-testid": "tree-source" });
  const levels = new Map();  // prefix → the element its level is drawn in (the levels opened so far)
  const drawLevel = (prefix, into, res) => {
    fill(into, res.nodes.length ? h("ul", { role: "group" }, res.nodes.map((n) => node(n, res.source))) : h("p", { class: "muted small" }, "nothing stored under here"));
    if (prefix === root) status.textContent = res.source === "live" ? `read live ${new Date().toLocaleTimeString()}` : "last stored snapshot";
  };
  const openLevel = async (prefix, into, live = false) => {
    levels.set(prefix, into);
    fill(into, loading(live ? "reading from the device…" : "loading…"));
    try {
      const res = await api.get(`/api/devices/${enc(dev.id)}/tree`, { prefix, live });
      if (res.error) { fill(into, h("p", { class: "error", role: "alert" }, `live read failed: ${res.error}`)); return; }
      drawLevel(prefix, into, res);
    } catch (e) { fill(into, h("p", { class: "error" }, e.message)); }
  };
  // After a change to the device: every open level re-read from the stored snapshot, its values
  // updated in place, so what a person expanded, and a value they are typing, stay as they were. A
  // level whose members changed (an instance added or deleted) is drawn again.
  const refreshStored = async () => {
    for (const [prefix, into] of [...levels]) {
      if (!into.isConnected) { levels.delete(prefix); continue; }
      let res;
      try { res = await api.get(`/api/devices/${enc(dev.id)}/tree`, { prefix, live: false }); } catch { continue; }
      if (res.error) continue;
      const shown = [...into.querySelectorAll(":scope > ul > li")];
      const same = shown.length === res.nodes.length && res.nodes.every((n, i) => shown[i].dataset.path === n.path);
      if (!same) { drawLevel(prefix, into, res); continue; }
      res.nodes.forEach((n, i) => {
        const v = shown[i].querySelector(":scope > [data-testid=tree-value]");
        if (v && v.textContent !== fmtValue(n.value)) v.textContent = fmtValue(n.value);
      });
      if (prefix === root) status.textContent = "last stored snapshot";
    }
  };
  const node = (n, source) => {
    if (n.kind === "object") {
      const kids = h("div", { class: "kids", hidden: true });
      const toggle = h("button", { class: "link twisty", "aria-expanded": "false", "data-testid": "tree-toggle", "data-path": n.path }, `▸ ${n.name}`);
      const refresh = h("button", { class: "link small", title: `read ${n.path} from the device now`, "data-testid": "tree-refresh", "data-path": n.path }, "↻ refresh live");
      toggle.addEventListener("click", () => {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        toggle.textContent = `${open ? "▾" : "▸"} ${n.name}`;
        kids.hidden = !open;
        if (open && !kids.dataset.loaded) { kids.dataset.loaded = "1"; openLevel(n.path, kids); }
      });
      refresh.addEventListener("click", () => {
        toggle.setAttribute("aria-expanded", "true"); toggle.textContent = `▾ ${n.name}`; kids.hidden = false; kids.dataset.loaded = "1";
        openLevel(n.path, kids, true).then(() => { note.textContent = ` read live ${new Date().toLocaleTimeString()}`; });
      });
      const note = h("span", { class: "muted small", "data-testid": "tree-live-note" });
      return h("li", { class: "obj", "data-path": n.path }, toggle, h("span", { class: "muted small" }, ` ${n.parameters} parameter${n.parameters === 1 ? "" : "s"} `), refresh, note, kids);
    }
    const out = h("span", { class: "small" });
    const mark = n.writable ? h("span", { class: "badge b-info", title: n.writable_source === "device" ? "the device says it is writable" : "writable in the standard" }, "✎ writable")
      : h("span", { class: "muted small" }, "read-only");
    const li = h("li", { class: "param", "data-testid": "tree-param", "data-path": n.path },
      h("span", { class: "name" }, n.name), " ", h("span", { class: "mono", "data-testid": "tree-value" }, fmtValue(n.value)), " ",
      h("span", { class: "muted small" }, n.type), " ", mark,
      n.native ? h("div", { class: "muted small mono", "data-testid": "tree-native" }, `on the device: ${n.native}`) : null);
    if (n.writable) {
      const btn = h("button", { class: "link small", "data-testid": "propose-open" }, "propose a value");
      btn.addEventListener("click", () => { btn.hidden = true; li.append(proposeForm(dev, n, out)); });
      li.append(" ", btn, " ", out);
    }
    return li;
  };
  const refreshAll = () => openLevel(root, rootBox, true);
  const rootBox = h("div");
  const tr098 = String(dev.root || "").startsWith("InternetGatewayDevice.")
    ? h("p", { class: "muted small", "data-testid": "tree-tr098" }, "This device runs TR-098 firmware (InternetGatewayDevice.): "
      + "its parameters are shown, read and changed by their TR-181 names; under each, what the device itself calls it.") : null;
  fill(box, tr098, h("div", { class: "row" }, status), rootBox);
  openLevel(root, rootBox);
  return { el: box, refreshAll, refreshStored };
}

function proposeForm(dev, n, out) {
  const input = n.allowed ? h("select", { "aria-label": `new value of ${n.path}`, "data-testid": "propose-value" }, n.allowed.map((v) => h("option", { value: v, selected: String(v) === String(n.value) }, v)))
    : h("input", { "aria-label": `new value of ${n.path}`, "data-testid": "propose-value", value: n.value === null || n.value === undefined ? "" : String(n.value), size: 18 });
  const reason = h("input", { "aria-label": "why", placeholder: "why (shown to the approver)", "data-testid": "propose-reason", size: 28 });
  const form = h("form", { class: "row inline-propose" }, input, reason, h("button", { type: "submit", class: "primary", "data-testid": "propose-submit" }, "Propose"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = typed(input.value, n.type);
    propose({ intent: `set ${n.path.replace(/^Device\./, "")} to ${fmtValue(value)}`.slice(0, 300), targets: [dev.id],
      changes: [{ path: n.path, value }], rationale: reason.value || "proposed from the device page" }, out);
  });
  return form;
}

// ---------------------------------------------------------------------------- actions
const PING_REPETITIONS = 3;

// An IPPing's answer in words: the operation's status and its output, named as TR-181 names them
// (IPPing's SuccessCount, FailureCount, Average/Minimum/MaximumResponseTime in ms; TR-069's
// DiagnosticsState, a USP IPPing()'s Status). A figure the device did not report is said so.
export function pingWords(host, r) {
  const o = r.output || {};
  const state = o.DiagnosticsState || o.Status || "";
  if (r.status === "pending") return `${host}: the device is still pinging (${state || "requested"}); run it again for the result`;
  if (r.status !== "done") return `${host}: the ping did not complete${state ? ` (${state.replaceAll("_", " ")})` : ""}`;
  const ok = o.SuccessCount, lost = o.FailureCount;
  const sent = o.NumberOfRepetitions ?? (ok !== undefined && lost !== undefined ? ok + lost : PING_REPETITIONS);
  const answered = ok === undefined ? "answers not reported" : `${ok} of ${sent} answered${lost ? `, ${lost} lost` : ""}`;
  const ms = (v) => (v === undefined || v === null ? "—" : String(v));
  const times = [o.MinimumResponseTime, o.AverageResponseTime, o.MaximumResponseTime];
  return `${host}: ${answered}` + (ok ? `; round trip min ${ms(times[0])} / average ${ms(times[1])} / max ${ms(times[2])} ms` : "");
}

export function actionBar(dev, onRefresh) {
  const out = h("div", { class: "small", "data-testid": "action-result" });
  const form = h("div", { class: "row" });
  const reasonInput = (ph) => h("input", { placeholder: ph, "aria-label": "why", "data-testid": "action-reason", size: 30 });
  const opForm = (label, operation, extra = []) => {
    const reason = reasonInput("why (shown to the approver)");
    const f = h("form", { class: "row" }, extra, reason, h("button", { type: "submit", class: "primary", "data-testid": "action-submit" }, `Propose ${label}`));
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const args = operation.args ? operation.args() : {};
      propose({ intent: `${label} ${dev.id}`.slice(0, 300), targets: [dev.id], operations: [{ command: operation.command, args }],
        rationale: reason.value || `proposed from the device page` }, out);
    });
    return f;
  };
  const fwUrl = h("input", { placeholder: "https://… image URL", "aria-label": "firmware image URL", "data-testid": "fw-url", size: 34 });
  const fwVersion = h("input", { placeholder: "version", "aria-label": "firmware version", "data-testid": "fw-version", size: 10 });
  const host = h("input", { placeholder: "host to ping, e.g. 8.8.8.8", "aria-label": "host", "data-testid": "ping-host", value: "8.8.8.8" });
  const forms = {
    reboot: () => opForm("reboot", { command: "reboot" }),
    factory_reset: () => opForm("factory reset", { command: "factory_reset" }, [h("strong", { class: "warn" }, "erases the subscriber's settings")]),
    firmware: () => opForm("firmware", { command: "download", args: () => ({ url: fwUrl.value, ...(fwVersion.value ? { version: fwVersion.value } : {}) }) }, [fwUrl, fwVersion]),
    diagnostics: () => {
      const f = h("form", { class: "row" }, host, h("button", { type: "submit", class: "primary", "data-testid": "action-submit" }, "Run IPPing (read-only)"));
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        fill(out, h("span", { class: "muted" }, "pinging from the device…"));
        try {
          const r = await api.post(`/api/devices/${enc(dev.id)}/diagnostics/ipping`, { host: host.value, repetitions: PING_REPETITIONS });
          fill(out, h("span", { "data-testid": "ping-result", "data-status": r.status }, pingWords(host.value, r)));
        } catch (err) { fill(out, h("span", { class: "error", role: "alert" }, err.message)); }
      });
      return f;
    },
  };
  const button = (key, label) => {
    const b = h("button", { "data-testid": `action-${key}` }, label);
    b.addEventListener("click", () => {
      if (key === "refresh") { onRefresh(); return; }
      fill(form, forms[key]()); fill(out);
    });
    return b;
  };
  return h("section", { class: "panel", "data-testid": "device-actions" },
    h("div", { class: "row" }, h("h2", {}, "Actions"), button("refresh", "↻ Refresh"), button("reboot", "Reboot"), button("factory_reset", "Factory reset"),
      button("diagnostics", "Diagnostics"), button("firmware", "Firmware")),
    h("p", { class: "muted small" }, "Reboot, factory reset and firmware open a proposal: validation, preview, policy and approval decide, then it is applied with a backup."),
    form, out);
}

// ---------------------------------------------------------------------------- pending work and faults
const FAULTS = ["failed", "rolled_back", "rollback_pending", "denied", "invalid"];
export function workAndFaults(d, events) {
  const pending = d.live_proposals || [];
  const faults = (d.recent_proposals || []).filter((p) => FAULTS.includes(p.state));
  const trouble = (events || []).filter((e) => ["wan_down", "wan_degraded", "dns_lost", "los", "offline"].includes(e.kind)).slice(0, 5);
  return h("div", { "data-testid": "work-and-faults" },
    h("h3", {}, `pending work (${pending.length})`),
    pending.length ? h("ul", {}, pending.map((p) => h("li", {}, badge(p.state), " ", h("a", { href: `#/approvals/${enc(p.id)}`, class: "mono" }, p.id), ` ${p.intent}`)))
      : h("p", { class: "muted small" }, "nothing pending"),
    d.lock ? h("p", { class: "small" }, `locked by ${d.lock.proposal_id} since ${fmtTime(d.lock.since)}`) : null,
    h("h3", {}, `faults (${faults.length + trouble.length})`),
    faults.length || trouble.length ? h("ul", { "data-testid": "fault-list" },
      faults.map((p) => h("li", {}, badge(p.state), " ", h("a", { href: `#/approvals/${enc(p.id)}`, class: "mono" }, p.id), ` ${p.intent}`)),
      trouble.map((e) => h("li", {}, h("span", { class: "small" }, fmtTime(e.ts)), " ", eventWords(e))))
      : h("p", { class: "muted small" }, "none"));
}

// ---------------------------------------------------------------------------- events in words
const CAUSES = { power_cycle: "power cut or unplugged", watchdog: "the watchdog restarted it", remote: "restarted remotely" };
export function eventWords(e) {
  const d = e.data || {};
  switch (e.kind) {
    case "boot": return `Restarted${d.cause ? ` (${CAUSES[d.cause] || String(d.cause).replaceAll("_", " ")})` : ""}${d.firmware ? ` on firmware ${d.firmware}` : ""}${d.boot_count ? `, boot number ${d.boot_count}` : ""}.`;
    case "dns_lost": return `Lost its DNS servers${d.cause ? `: ${d.cause}` : ""}${(d.servers_before || []).length ? ` (had ${d.servers_before.join(", ")})` : ""}.`;
    case "wan_down": return `Internet link went down${d.cause ? `: ${d.cause}` : ""}${d.upstream_id ? ` (upstream ${d.upstream_id})` : ""}.`;
    case "wan_degraded": return `Internet link degraded${d.cause ? `: ${d.cause}` : ""}${d.upstream_id ? ` (upstream ${d.upstream_id})` : ""}.`;
    case "value_change": return `${String(d.path || "a parameter").replace(/^Device\./, "")} was changed${d.source === "local_gui" ? " by someone on the router's own web page" : d.source ? ` (${d.source})` : ""}.`;
    case "dfs_radar": return `Radar detected on ${d.band || ""} channel ${d.channel}; the radio ${d.action === "channel_switch" ? `moved to channel ${d.fallback_channel}` : String(d.action || "reacted").replaceAll("_", " ")}${d.clients_disconnected ? `, ${d.clients_disconnected} client${d.clients_disconnected === 1 ? "" : "s"} dropped` : ""}.`;
    case "inform": return "Checked in with the ACS.";
    case "agent_connected": return "The USP agent connected.";
    case "operation_complete": return `An operation finished${d.command ? `: ${d.command}` : ""}${d.status ? ` (${d.status})` : ""}.`;
    default: {
      const words = e.kind.replaceAll("_", " ");
      const facts = Object.entries(d).filter(([, v]) => ["string", "number", "boolean"].includes(typeof v)).slice(0, 4).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`);
      return `${words.charAt(0).toUpperCase()}${words.slice(1)}${facts.length ? ` (${facts.join(", ")})` : ""}.`;
    }
  }
}

export function eventList(events) {
  return events.length ? h("div", { class: "scroll" }, h("table", { "data-testid": "event-list" }, h("tbody", {}, events.map((e) => h("tr", { "data-kind": e.kind },
    h("td", { class: "small nowrap" }, fmtTime(e.ts)), h("td", { "data-testid": "event-words" }, eventWords(e))))))) : h("p", { class: "muted" }, "none");
}
