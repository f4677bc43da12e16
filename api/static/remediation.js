// Remediation: the queue's state (case counts, each problem's ramp and breaker), the cases with
// their evidence and proposals, profile conflicts, and the actions a person takes (close, adopt,
// resume a halted problem). Mount: `import { remediationView } from "/static/remediation.js"` and
// add `remediation: remediationView` to the console's VIEWS (route #/remediation[/CASE]).
// Every value goes in as text; nothing here decides permissions — the API answers 403 with why.

import * as api from "./js/api.js";
import { fmtTime, h, kv, loading, plural, toast } from "./js/dom.js";

const STATUS_CLASS = { open: "b-info", dispatched: "b-busy", proposed: "b-warn", applied: "b-ok",
  escalated: "b-bad", closed: "", suppressed: "" };
const FILTERS = ["", "open", "dispatched", "proposed", "applied", "escalated", "closed", "suppressed"];

function statusBadge(st) {
  return h("span", { class: `badge ${STATUS_CLASS[st] || ""}`, "data-testid": "case-status", "data-status": st }, st);
}

function proposalLinks(ids) {
  if (!ids || !ids.length) return "-";
  return ids.map((id, i) => [i ? ", " : "", h("a", { href: `#/approvals/${encodeURIComponent(id)}`, class: "mono" }, id)]);
}

async function act(path, body, done) {
  try {
    await api.post(path, body);
    toast("done");
  } catch (e) { toast(e.message, "bad"); }
  done();
}

let lastDetect = ""; // the last "detect now" result, kept across the 5 s re-render

function summary(st, conflicts, refresh) {
  const counts = Object.entries(st.cases).sort().map(([k, v]) => h("span", { class: "badge", "data-testid": `count-${k}` }, `${k} ${v}`));
  const problems = st.problems.length ? h("table", { "data-testid": "remediation-problems" },
    h("thead", {}, h("tr", {}, ["problem", "state", "next proposal covers", "failed / executed", "reason", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, st.problems.map((p) => h("tr", { "data-problem": p.problem },
      h("td", {}, p.problem),
      h("td", {}, h("span", { class: `badge ${p.state === "halted" ? "b-bad" : "b-ok"}` }, p.state)),
      h("td", {}, plural(p.batch_size, "device")), h("td", {}, `${p.failed} / ${p.executed}`),
      h("td", { class: "small" }, p.reason || ""),
      h("td", {}, p.state === "halted"
        ? h("button", { "data-testid": "problem-resume", onclick: () => act(`/api/remediation/problems/${encodeURIComponent(p.problem)}/resume`, undefined, refresh) }, "Resume")
        : h("button", { class: "link", onclick: () => {
          const reason = prompt(`Why halt ${p.problem}? (goes into the audit trail)`);
          if (reason !== null) act(`/api/remediation/problems/${encodeURIComponent(p.problem)}/halt`, { reason }, refresh);
        } }, "Halt"))))))
    : h("p", { class: "empty" }, "no remediation has run yet");
  const conflictList = conflicts.pairs.length
    ? h("ul", { "data-testid": "profile-conflicts", class: "error" }, conflicts.pairs.map((c) => h("li", {}, `${c.a} v${c.a_version} vs ${c.b} v${c.b_version}: ${c.text}`)),
      conflicts.fleet.map((f) => h("li", {}, `${plural(f.devices, "device")} ${f.vendor} ${f.model} ${f.region} ${f.service} held back from provisioning`)))
    : h("p", { class: "small", "data-testid": "profile-conflicts-none" }, "provisioning profiles: no conflicts");
  const detectNow = h("button", { "data-testid": "detect-now", title: "run every detector rule over the fleet now (they also run on a schedule in `gateward run`)",
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        const r = await api.post("/api/remediation/detect", {});
        const text = `detectors ran: ${plural(r.detections, "detection")} on ${plural(r.devices, "device")}; ${plural(r.opened, "case")} opened, ${r.duplicates} already open`;
        lastDetect = `${text} (${new Date().toLocaleTimeString()})`;
        toast(text);
      } catch (err) { toast(err.message, "bad"); }
      e.target.disabled = false;
      refresh();
    } }, "Detect now");
  return h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, "Remediation"), h("div", { class: "row" }, h("span", { class: "small muted", "data-testid": "detect-result" }, lastDetect), detectNow)),
    h("div", { class: "row wrap" }, counts, h("span", { class: "badge" }, `queue depth ${st.queue_depth}`),
      h("span", { class: "badge" }, `global tokens ${st.global_tokens ?? "-"}`)),
    problems, conflictList);
}

function caseTable(res, filter, onFilter) {
  const select = h("select", { "aria-label": "status filter", "data-testid": "case-filter",
    onchange: (e) => onFilter(e.target.value) }, FILTERS.map((f) => h("option", { value: f, selected: f === filter }, f || "all statuses")));
  return h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h3", {}, `Cases (${res.items.length} of ${res.total})`), select),
    res.items.length ? h("table", { "data-testid": "case-list" },
      h("thead", {}, h("tr", {}, ["case", "device", "problem", "status", "proposals", "updated", "resolution"].map((c) => h("th", {}, c)))),
      h("tbody", {}, res.items.map((c) => h("tr", { "data-testid": "case-row", "data-case": c.id },
        h("td", {}, h("a", { href: `#/remediation/${encodeURIComponent(c.id)}`, class: "mono" }, c.id)),
        h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(c.device_id)}`, class: "mono" }, c.device_id)),
        h("td", {}, c.problem), h("td", {}, statusBadge(c.status)), h("td", {}, proposalLinks(c.proposal_ids)),
        h("td", {}, fmtTime(c.updated_at)), h("td", { class: "small" }, (c.resolution || "").slice(0, 160))))))
      : h("p", { class: "empty" }, "no cases"));
}

async function detail(root, id) {
  const c = await api.get(`/api/remediation/cases/${encodeURIComponent(id)}`);
  const refresh = () => detail(root, id);
  const close = h("button", { "data-testid": "case-close", onclick: () => {
    const reason = prompt("Why close this case? (goes into the audit trail)");
    if (reason) act(`/api/remediation/cases/${encodeURIComponent(id)}/close`, { reason }, refresh);
  } }, "Close");
  const adopt = h("button", { "data-testid": "case-adopt", onclick: () => act(`/api/remediation/cases/${encodeURIComponent(id)}/adopt`, undefined, refresh) },
    "Adopt (propose the fix as me)");
  const rules = (c.evidence.rules || []).map((r) => h("li", {}, `${r.rule}: ${typeof r.value === "object" ? JSON.stringify(r.value) : r.value} (${r.threshold})`));
  root.replaceChildren(h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, `${c.problem} `, statusBadge(c.status)), h("a", { href: "#/remediation" }, "all cases")),
    c.status === "escalated" && c.resolution ? h("p", { class: "error", role: "alert" }, c.resolution) : null,
    kv([["case", h("span", { class: "mono" }, c.id)], ["device", h("a", { href: `#/devices/${encodeURIComponent(c.device_id)}` }, c.device_id)],
      ["kind", c.kind], ["class", c.class || "-"], ["upstream", c.upstream_id || "-"], ["proposals", proposalLinks(c.proposal_ids)],
      ["opened", fmtTime(c.opened_at)], ["applied", c.applied_at ? fmtTime(c.applied_at) : "-"],
      ["closed", c.closed_at ? fmtTime(c.closed_at) : "-"], ["cooldown until", c.cooldown_until ? fmtTime(c.cooldown_until) : "-"],
      ["detections", c.hits], ["attempts", c.attempts], ["resolution", c.resolution || "-"]]),
    h("h3", {}, "Evidence"), c.evidence.summary ? h("p", {}, c.evidence.summary) : null,
    rules.length ? h("ul", { "data-testid": "case-evidence" }, rules) : h("pre", { class: "small" }, JSON.stringify(c.evidence, null, 2)),
    h("div", { class: "row" }, ["closed", "suppressed", "dispatched"].includes(c.status) ? null : close,
      c.status === "escalated" && c.kind === "detector" ? adopt : null)));
}

// What each problem's fix did to the KPI its detector reads (brain/remediation/effects.py): the
// fixed homes after minus the same hours the day before, against matched homes not yet fixed (or,
// said as weaker evidence, the same homes before). "Not enough data" where nothing was measured —
// never a zero. The interval is explained where it is shown.
const CI_WORDS = "The interval is the range the fix's true effect lies in with the confidence shown; "
  + "better or worse only when the whole interval is on one side of zero, otherwise no measurable effect.";
const EFFECT_EVERY_MS = 30000; // the effects read hours of telemetry: not on every 5 s refresh

function effectsPanel(res) {
  if (!res) return null;
  const verdict = (e) => (e ? e.verdict : "nothing to measure");
  const cls = (e) => (!e ? "muted" : e.verdict === "worse" ? "error" : e.verdict === "better" ? "ok" : "");
  return h("section", { class: "panel", "data-testid": "remediation-effects" },
    h("h3", {}, "What each fix did"),
    h("p", { class: "small muted", "data-testid": "remediation-effects-ci" }, CI_WORDS),
    h("table", {}, h("thead", {}, h("tr", {}, ["problem", "fix", "cases fixed", "effect", "measured against"].map((c) => h("th", {}, c)))),
      h("tbody", {}, res.items.map((x) => h("tr", { "data-testid": "remediation-effect", "data-problem": x.problem,
        "data-verdict": verdict(x.effect) },
      h("td", {}, x.problem), h("td", { class: "small" }, x.fix || "none (escalates)"), h("td", {}, `${x.fixed} of ${x.cases}`),
      h("td", { class: `small ${cls(x.effect)}` }, x.effect ? x.effect.text : x.note),
      h("td", { class: "small" }, x.effect ? x.against + (x.against === "the same homes before" ? " (weaker: anything else that changed counts too)" : "") : "-"))))));
}

async function overview(root, state) {
  const stale = !state.effects || Date.now() - state.effectsAt > EFFECT_EVERY_MS;
  const [st, conflicts, res, effects] = await Promise.all([api.get("/api/remediation/status"), api.get("/api/remediation/profiles/check"),
    api.get("/api/remediation/cases", state.filter ? { status: state.filter, limit: 200 } : { limit: 200 }),
    stale ? api.get("/api/remediation/effects").catch(() => state.effects) : Promise.resolve(state.effects)]);
  if (stale) { state.effects = effects; state.effectsAt = Date.now(); }
  const refresh = () => overview(root, state);
  root.replaceChildren(summary(st, conflicts, refresh), effectsPanel(state.effects),
    caseTable(res, state.filter, (f) => { state.filter = f; refresh(); }));
}

// The view contract of the console: render into root, return a cleanup function.
export async function remediationView(root, { arg } = {}) {
  root.replaceChildren(loading());
  const state = { filter: "" };
  const render = async () => {
    try {
      if (arg) await detail(root, arg);
      else await overview(root, state);
    } catch (e) {
      root.replaceChildren(h("p", { class: "error" }, e.message));
    }
  };
  await render();
  const timer = arg ? null : setInterval(render, 5000);
  return () => { if (timer) clearInterval(timer); };
}
