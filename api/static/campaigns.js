// Campaigns end to end: the list; a create form (selector with a live device count, a change or a
// firmware, rings, gate, promotion and rate, emergency); per campaign the preview (per-class diff,
// counts, the policy verdict with its reasons, the change windows and when they open), the rehearsal
// on twin copies of the targets (before Start), the ring timeline (steps, gate verdicts, pauses,
// rollbacks per ring), each KPI's effect against the control with its interval, and the person's controls
// (start, pause, resume, promote, abort with a reason). Route #/campaigns, #/campaigns/new,
// #/campaigns/ID. Every value goes in as text; nothing here decides permissions — the API answers
// 403/409 with why, and the console shows that answer.

import * as api from "./js/api.js";
import { timeChart } from "./js/chart.js";
import { badge, fill, fmtTime, fmtValue, h, kv, loading, plural, riskMeter, toast } from "./js/dom.js";

const STATE_CLASS = { created: "b-info", running: "b-busy", paused: "b-warn", aborting: "b-bad", aborted: "b-bad",
  completed: "b-ok", failed: "b-bad", denied: "b-bad", rejected: "b-bad" };
const CLOSED = ["aborted", "failed", "denied", "rejected"]; // finished without rolling out: clone or retry

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

// The campaign's charts (js/chart.js): a time axis from its start, values under the pointer. What
// is measured now and then (an analysis, a batch finishing) is a step that holds until the next
// measurement, with a dot at each one: one analysis is one dot, two are not a steady climb.
function chart(title, series, opts = {}) {
  const lines = series.filter((x) => x.level === undefined).map((x) => ({ label: x.label, colour: x.colour, dash: x.dash, step: true,
    points: x.points, value: opts.value }));
  const thresholds = series.filter((x) => x.level !== undefined).map((x) => ({ value: x.level, text: x.label, testid: "chart-threshold" }));
  if (!lines.some((x) => x.points.length)) return h("div", { class: "empty", "data-testid": "campaign-chart-empty" }, `${title}: no data yet`);
  return timeChart(lines, { title, unit: opts.unit, testid: "campaign-chart", thresholds, xRange: opts.xRange, yRange: opts.yRange,
    integer: opts.integer });
}

function charts(timeline, gate, st) {
  let v = 0, f = 0;
  const ok = [], bad = [];
  for (const b of timeline.batches) {
    const t = new Date(b.t).getTime();
    v += b.verified; f += b.failed;
    ok.push([t, v]); bad.push([t, f]);
  }
  const start = st.started_at ? new Date(st.started_at).getTime() : null;
  const end = st.finished_at ? new Date(st.finished_at).getTime() : Date.now();
  if (start !== null) { ok.unshift([start, 0]); bad.unshift([start, 0]); } // nothing changed before it started
  // After a rollback (an abort, a failed gate) the devices verified then are back where they were:
  // the line says what is verified now, and the rolled-back devices have a line of their own.
  const rolled = st.rings_detail.reduce((a, r) => a + r.rolled_back, 0);
  const back = [];
  if (rolled) {
    const at = Math.max(end, ...ok.map((p) => p[0]));
    ok.push([at, st.rings_detail.reduce((a, r) => a + r.verified, 0)]);
    back.push(...(start !== null ? [[start, 0]] : []), [at, rolled]);
  }
  const xRange = start !== null ? [start, Math.max(end, ...ok.map((p) => p[0]))] : undefined;
  const at = (a) => new Date(a.ts).getTime();
  const rate = timeline.analyses.map((a) => [at(a), 100 * (a.metrics.failure_rate || 0)]);
  // every gate signal against its own limit: unreached devices of the ring, and for a firmware or
  // reboot campaign the share of a sample of changed devices that came back
  const unreached = timeline.analyses.map((a) => [at(a), a.metrics.size ? 100 * (a.metrics.unreached || 0) / a.metrics.size : 0]);
  const present = timeline.analyses.filter((a) => a.metrics.reregistered !== null && a.metrics.reregistered !== undefined && a.metrics.reregister_sampled)
    .map((a) => [at(a), 100 * a.metrics.reregistered / a.metrics.reregister_sampled]);
  // Each KPI's effect (changed devices' change minus the matched control's, campaigns/effects.py)
  // at every measurement, with its interval: a win or a harm only where the interval leaves zero.
  const kpis = {};
  for (const a of timeline.analyses) {
    for (const [m, k] of Object.entries(a.metrics.kpis || {})) {
      if (k.estimate === null || k.estimate === undefined) continue;
      (kpis[m] ||= { k, e: [], lo: [], hi: [] });
      kpis[m].k = k;
      kpis[m].e.push([at(a), k.estimate]); kpis[m].lo.push([at(a), k.low]); kpis[m].hi.push([at(a), k.high]);
    }
  }
  const pctOpts = { unit: "%", xRange, value: (x) => `${x.toFixed(1)} %` };
  return h("div", { class: "charts" },
    chart("devices changed", [{ label: rolled ? "verified, still in place" : "verified", colour: "#1b7f3b", points: ok },
      { label: "failed", colour: "#c2410c", points: bad },
      ...(rolled ? [{ label: "rolled back", colour: "#d97706", points: back }] : [])],
    { unit: "devices", xRange, value: (x) => String(x), integer: true }),
    chart("failure rate at each analysis", [{ label: "failed / executed", colour: "#c2410c", points: rate },
      { label: `threshold ${(100 * gate.failure_threshold).toFixed(1)} %: above it the gate fails`, level: 100 * gate.failure_threshold, points: [] }], pctOpts),
    gate.max_unreached !== undefined ? chart("unreached devices at each analysis (of the ring)", [
      { label: "unreached", colour: "#6b7280", points: unreached },
      { label: `limit ${(100 * gate.max_unreached).toFixed(1)} %: above it the ring pauses`, level: 100 * gate.max_unreached, points: [] }], pctOpts) : null,
    present.length ? chart("changed devices present again (of a sample)", [
      { label: "re-registered", colour: "#1b7f3b", points: present },
      { label: `floor ${(100 * gate.min_reregistered).toFixed(1)} %: below it the gate fails`, level: 100 * gate.min_reregistered, points: [] }],
    { ...pctOpts, yRange: [0, 100] }) : null,
    Object.entries(kpis).map(([m, x]) => effectChart(m, x, xRange)));
}

// One KPI's effect: the estimate at each look with its interval (both ends drawn alike: one
// interval, not two series), zero, and the tolerance on the worse side — the line a harm must
// clear as a whole interval to halt the ring. Below it, what the interval means for an approver.
function effectChart(metric, x, xRange) {
  const k = x.k;
  const signed = (v) => `${v > 0 ? "+" : ""}${v.toFixed(2)}`;
  const tol = typeof k.tolerance === "number" && k.gating !== false ? (k.higher_is_worse ? k.tolerance : -k.tolerance) : null;
  const conf = +(100 * k.confidence).toPrecision(4);
  const look = k.look || {};
  const band = { colour: "#7d93c9", dash: [4, 3] };
  return h("div", { "data-testid": "campaign-effect", "data-metric": metric },
    chart(`Effect on ${k.title}: changed vs ${k.gating === false ? "their own hours before" : "matched control"}`, [
      { label: "effect", colour: "#2458d6", points: x.e },
      { label: "interval, lower end", ...band, points: x.lo }, { label: "interval, upper end", ...band, points: x.hi },
      { label: "no effect", level: 0, points: [] },
      ...(tol !== null ? [{ label: `tolerance ${signed(tol)}${k.unit ? ` ${k.unit}` : ""}: a whole interval worse than this halts the ring`,
        level: tol, points: [] }] : [])], { unit: k.unit, xRange, value: signed }),
    h("p", { class: k.verdict === "worse" ? "error small" : "small", "data-testid": "campaign-effect-text" }, k.text),
    k.tail ? h("p", { class: "small", "data-testid": "campaign-effect-tail" },
      `${k.tail.worse} of ${k.tail.of} changed homes did worse than expected by more than the tolerance`
      + (k.tail.control_of ? ` (${k.tail.control_worse} of ${k.tail.control_of} control homes moved that much on their own)` : "")) : null,
    h("p", { class: "small muted", "data-testid": "campaign-effect-ci" },
      `What the interval means: the change's true effect lies inside it with the confidence shown (${conf} % over the whole observation). `
      + `The gate looks once an hour${look.of ? ` (look ${look.k || 0} of ${look.of})` : ""} and spends its ${+(100 - conf).toPrecision(3)} % `
      + "chance of a false alarm over those looks — strict early, most kept for the last — so looking often does not add false alarms. "
      + "Better or worse only when the whole interval is on one side of zero; the ring halts only when it is wholly worse and worse by more than the tolerance."
      + (k.method ? ` Estimated by ${k.method}.` : "")));
}

// What the effects are measured against: the control cohort's balance with the changed devices
// before the change, and every warning given at creation (a poor match, no observation).
function measuredAgainst(st) {
  const plan = st.plan || {};
  const cohort = plan.cohort;
  const warnings = [...(plan.warnings || []), ...((cohort && cohort.warnings) || [])];
  if (!(st.spec.gate.kpis || []).length && !warnings.length) return null;
  return h("section", { class: "panel", "data-testid": "campaign-measured-against" }, h("h3", {}, "Measured against"),
    cohort ? h("p", { class: "small" }, `a control group of ${cohort.size} devices, held back until the last ring, matched on `
      + `${(cohort.matched_on || []).join(", ")}`) : h("p", { class: "small warn" }, "no control group"),
    cohort ? kv(Object.entries(cohort.balance || {}).map(([m, b]) => [m, b.smd === null || b.smd === undefined ? "no baseline"
      : `before the change: changed ${b.treated_mean}, control ${b.control_mean} (standardised difference ${b.smd})`])) : null,
    warnings.length ? h("ul", { class: "warn small", "data-testid": "campaign-warnings" }, warnings.map((w) => h("li", {}, w))) : null);
}

// The gate's failure threshold is a percentage wherever a person reads or types it (console and
// CLI: 2 means 2 %); the stored spec keeps the fraction (gate.failure_threshold = 0.02).
const pct = (fraction) => `${(100 * fraction).toFixed(1)} %`;

// "promotes in 4 min 05 s": the server says when (promote_at); the page counts down to it.
function countdown(at) {
  const secs = Math.max(0, Math.round((new Date(at).getTime() - Date.now()) / 1000));
  if (secs === 0) return "promoting now";
  const m = Math.floor(secs / 60), r = secs % 60;
  return `promotes automatically in ${m ? `${m} min ` : ""}${String(r).padStart(m ? 2 : 1, "0")} s`;
}

function phase(st) {
  if (st.state === "running" && st.ring_state === "waiting") {
    if (st.spec.promotion.mode === "auto" && st.promote_at) {
      return h("span", { "data-testid": "campaign-phase" }, `ring ${st.ring + 1} of ${st.rings} passed: `,
        h("strong", { "data-testid": "promote-countdown", "data-at": st.promote_at }, countdown(st.promote_at)));
    }
    return h("span", { "data-testid": "campaign-phase" }, `ring ${st.ring + 1} of ${st.rings} passed: `,
      h("strong", { class: "warn" }, "waiting for a person to promote"));
  }
  return h("span", { "data-testid": "campaign-phase" }, st.phase);
}

const enc = encodeURIComponent;
// The server names the rings (ring 1 is the canary), the same in the CLI, the API and here.
const ringName = (plan, i) => (plan.names || [])[i] || `ring ${i + 1}`;
const ui = { editing: false }; // a reason form is open: the 3 s refresh waits, so typing is never lost

// ------------------------------------------------------------------ change windows, in words
function inWords(secs) {
  const mins = Math.round(secs / 60);
  if (mins < 60) return `in ${Math.max(0, mins)} min`;
  return `in ${Math.floor(mins / 60)} h ${mins % 60} min`;
}
const duration = (secs) => (secs < 90 ? `${Math.round(secs)} s` : inWords(secs).slice(3));

function windowsPanel(st) {
  const ws = st.windows || [];
  const lines = ws.map((w) => h("li", { "data-testid": "campaign-window", "data-open": w.open ? "yes" : "no" },
    w.open ? `${w.text}: open now` : `${w.text}: closed; opens ${new Date(w.opens_at).toISOString().slice(11, 16)} UTC (${inWords(w.opens_in_s)})`));
  return h("div", { class: "verdict", "data-testid": "campaign-windows" },
    h("strong", {}, "Change windows"),
    ws.length ? h("ul", {}, lines) : h("p", { class: "small" }, st.emergency
      ? "an emergency campaign: not bound to a change window (a senior approver signs it)"
      : "not bound to a change window (policy applies windows to fleet changes and disruptive operations)"),
    st.emergency && !ws.length ? null // the line above says it already
      : h("p", { class: "small muted", "data-testid": "emergency-path" }, `${st.emergency ? "" : "Emergency path: "}${st.emergency_path}.`));
}

// Where an allowed, approved rollout is — never the staged proposal's own state ("applying"), which
// stays so from ring 1 to the last while the campaign runs, waits and pauses.
function rolloutWords(st) {
  if (st.state === "completed" || st.proposal.state === "done") return "The rollout is done: every ring ran.";
  if (st.state === "paused") return "The rollout is paused; nothing more is written until it is resumed.";
  if (st.state === "running" && st.ring_state === "waiting") {
    return `Ring ${st.ring + 1} of ${st.rings} passed; the rollout waits to be promoted to the next ring.`;
  }
  if (st.state === "running") return `The rollout is running: ${st.phase}.`;
  return `The campaign is ${st.state.replaceAll("_", " ")}.`;
}

// ------------------------------------------------------------------ the policy verdict, inline
function verdictPanel(st, pv) {
  const p = st.proposal;
  const d = (pv && pv.decision) || {};
  const reasons = (xs) => h("ul", {}, xs.map((x) => h("li", {}, x)));
  let cls = "verdict", head;
  if (p.state === "denied" || d.allow === false) {
    cls += " deny";
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, "Policy denied this campaign; it cannot be started. "),
      "Why:");
  } else if (p.state === "awaiting_approval") {
    cls += " approval";
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, "Allowed by policy, waiting for approval: "),
      (d.approvals_required || []).map((a) => `${a.role.replaceAll("_", " ")} (${a.reason})`).join("; ") || "an approver",
      " — ", h("a", { href: `#/approvals/${enc(p.id)}` }, "open it in Approvals"));
  } else if (p.state === "approved") {
    cls += " allow";
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, "Allowed and approved"),
      st.state === "created" ? ": ready to start." : ".");
  } else if (p.state === "rejected") {
    cls += " deny";
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, "An approver rejected this campaign; it cannot be started."),
      p.error ? ` ${p.error}` : "");
  } else if (["aborting", "aborted", "failed"].includes(st.state) || ["rolled_back", "failed", "rollback_pending"].includes(p.state)) {
    // it was allowed and approved, but what a person needs now is that it did not hold: no green
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, st.state === "failed" ? "Failed. " : "Aborted. "),
      `It had been allowed by policy and approved; the change is now ${p.state.replaceAll("_", " ")}${p.error ? ` (${p.error})` : ""}.`);
  } else if (["backed_up", "applying", "verifying", "done"].includes(p.state)) {
    cls += " allow"; // it ran, so it was allowed and approved; where the rollout is, in the campaign's words
    head = h("p", { "data-testid": "verdict-text" }, h("strong", {}, "Allowed by policy and approved. "), rolloutWords(st));
  } else {
    head = h("p", { "data-testid": "verdict-text" }, `proposal ${p.state.replaceAll("_", " ")}${p.error ? `: ${p.error}` : ""}`);
  }
  const windowDenied = (d.deny || []).some((x) => x.includes("outside the change window")) && !st.emergency;
  return h("div", { class: cls, "data-testid": "campaign-verdict", "data-state": p.state },
    head, (d.deny || []).length ? reasons(d.deny) : null,
    windowDenied ? h("p", {}, h("button", { "data-testid": "campaign-as-emergency", title: st.emergency_path, onclick: async (e) => {
      e.target.disabled = true;
      try { // the same definition, declared an emergency: policy asks a senior approver instead of denying
        const again = await api.post("/api/campaigns", { ...st.spec, name: `${st.name} (emergency)`.slice(0, 120), emergency: true });
        location.hash = `#/campaigns/${enc(again.id)}`;
      } catch (err) { toast(err.message, "bad"); e.target.disabled = false; }
    } }, "Create again as an emergency"), " — or wait until the window opens (below).") : null,
    (d.warnings || []).length ? h("div", { class: "small" }, "Warnings:", reasons(d.warnings)) : null,
    obligationsList(st, d),
    h("p", { class: "small" }, "proposal ", h("a", { class: "mono", href: `#/approvals/${enc(p.id)}` }, p.id), " · ",
      badge(p.state), " · risk ", riskMeter(p.risk)));
}

// Policy's obligations as this campaign keeps them: its own rings, every one of them (a campaign may
// run a stricter plan than policy's stages: more rings, smaller ones), then the other obligations.
function obligationsList(st, d) {
  const items = st.plan.policy_items || [];
  const other = items.length ? items.filter((o) => o.code !== "obligation.stage").map((o) => o.message)
    : (d.obligations || []).filter((o) => !o.startsWith("stage:"));
  const stages = items.filter((o) => o.code === "obligation.stage");
  const rings = st.rings_detail.map((r) => `${r.name} ${r.stage_pct} %`).join(" → ");
  const lines = [h("li", { "data-testid": "obligation-rings" }, `rings: ${rings}`,
    stages.length ? h("span", { class: "muted" }, ` (policy's stages: ${stages.map((o) => `${o.params.percent} %`).join(", ")})`) : null),
  ...other.map((o) => h("li", {}, o))];
  return h("div", { class: "small", "data-testid": "campaign-obligations" }, "Obligations:", h("ul", {}, lines));
}

// ------------------------------------------------------------------ rehearsal (before Start)
// The change replayed on a twin copy of every target (campaigns/rehearsal.py): shown to approvers
// before ring 1, with what the twin cannot know said plainly.
function rehearsalPanel(id, rh, refresh) {
  const r = rh.rehearsal;
  const run = h("button", { type: "button", "data-testid": "campaign-rehearse" }, r ? "Rehearse again" : "Rehearse");
  run.addEventListener("click", async () => {
    run.disabled = true; run.textContent = "replaying on the twins…";
    try {
      const out = await api.post(`/api/campaigns/${enc(id)}/rehearse`, {});
      if (out.state === "queued") toast(out.detail, "ok");
    } catch (e) { toast(e.message, "error"); }
    await refresh();
  });
  const need = h("div", {}, rh.required ? h("p", { class: "warn", "data-testid": "rehearsal-required" },
    `Policy requires a clean rehearsal before this campaign starts (${rh.required}).`) : null,
  rh.job ? h("p", { class: "small", "data-testid": "rehearsal-job" }, `A rehearsal is queued as job ${rh.job.job} (by ${rh.job.by}, `
    + `${fmtTime(rh.job.queued_at)}): a worker replays every target; its report replaces this one.`) : null);
  if (!r) return h("section", { class: "panel", "data-testid": "campaign-rehearsal" }, h("h3", {}, "Rehearsal"), need,
    h("p", { class: "muted" }, "Not rehearsed yet: replay the change on twin copies of every target before ring 1."), run);
  const n = r.counts;
  const cell = (c) => Object.entries(c || {}).map(([s, v]) => `${v} ${s}`).join(", ") || "-";
  const rows = r.classes.map((k) => h("tr", { "data-testid": "rehearsal-class" }, h("td", {}, `${k.vendor} ${k.model} ${k.firmware}`),
    h("td", {}, String(k.devices)), h("td", {}, cell(k.validate)), h("td", {}, cell(k.land)), h("td", {}, cell(k.verify)),
    h("td", { class: "small" }, k.reasons.map((x) => `${x.reason} (${x.devices})`).join("; "))));
  return h("section", { class: "panel", "data-testid": "campaign-rehearsal" }, h("h3", {}, "Rehearsal"), need,
    h("p", { class: r.clean ? "" : "error", "data-testid": "rehearsal-verdict" },
      `${r.clean ? "Clean" : "Not clean"}${rh.current ? "" : " (of an earlier version of the proposal)"}: ${n.fail} of ${r.devices} would fail, `
      + `${n.unknown} not rehearsed, ${n.offline} offline, ${n.closed_window} in a closed change window, ${n.degraded_upstream} behind a degraded upstream`
      + `${n.inventory_drift ? `, ${n.inventory_drift} running another firmware than the inventory says` : ""}. ${fmtTime(r.taken_at)} by ${r.by}.`),
    r.trees ? h("p", { class: "small", "data-testid": "rehearsal-trees" }, `Trees replayed: the oldest stored one is `
      + `${r.trees.oldest_h === null ? "-" : `${r.trees.oldest_h} h`} old (median ${r.trees.median_h === null ? "-" : `${r.trees.median_h} h`}, `
      + `${r.trees.missing} missing); older than ${r.trees.max_age_h} h or silent on a changed path: read from the device for `
      + `${n.refreshed}, ${n.tree_too_old} could not be read (not rehearsed).`) : null,
    (r.changed_since_last || []).length ? h("p", { class: "warn small", "data-testid": "rehearsal-changed" },
      `${n.changed_since_last} target(s) changed (model, firmware or presence) since the rehearsal before this one: `
      + `${r.changed_since_last.slice(0, 20).join(", ")}${n.changed_since_last > 20 ? " …" : ""}`) : null,
    h("table", {}, h("thead", {}, h("tr", {}, ...["class (its own tree)", "devices", "validate", "land", "verify", "why"].map((x) => h("th", {}, x)))),
      h("tbody", {}, ...rows)),
    ...r.drift.map((d) => h("p", { class: "small", "data-testid": "rehearsal-drift" }, `drift on ${d.path}: `
      + Object.entries(d.firmwares).map(([fw, v]) => `${fw}: ${Object.entries(v).map(([x, c]) => `${x} ×${c}`).join(", ")}`).join("; "))),
    ...r.rollback.not_restorable.map((x) => h("p", { class: "warn small" }, `a rollback cannot restore ${x.path || x.operation}: ${x.why}`)),
    h("p", { class: "small", "data-testid": "rehearsal-timing" }, `the rings take about ${duration(r.timing.seconds)} at the campaign's rate (${r.timing.device_s_from}): `
      + r.timing.rings.map((x) => `ring ${x.ring}: ${x.devices} devices ~${duration(x.seconds)}${x.waits.length ? ` + ${x.waits.join(", ")}` : ""}`).join("; ")),
    h("p", { class: "muted small", "data-testid": "rehearsal-cannot-know" }, `the twin cannot know: ${r.cannot_know.join("; ")}`), run);
}

// ------------------------------------------------------------------ preview: counts and per-class diff
function previewPanel(pv) {
  if (!pv) return null;
  const sel = pv.selection;
  const regions = Object.entries(sel.regions || {}).map(([r, n]) => `${r} ${n}`).join(", ");
  const classes = (pv.classes || []).map((c) => h("div", { class: "card", "data-testid": "preview-class" },
    h("strong", {}, `${c.vendor ? `${c.vendor} ` : ""}${c.model} · ${c.firmware}`), ` — ${plural(c.count, "device")}`,
    c.no_snapshot ? h("span", { class: "warn small" }, ` · ${c.no_snapshot} without a snapshot`) : null,
    // A fleet too large to read every snapshot: the before values are counted over a random sample.
    c.sampled ? h("span", { class: "muted small", "data-testid": "preview-sampled" },
      ` · before values from a random sample of ${c.values_read} of ${c.count} (counts are the sample's)`) : null,
    h("table", { class: "diff" }, h("tbody", {}, (c.lines || []).map((ln) => h("tr", {},
      h("td", { class: "path" }, ln.path),
      h("td", { class: "before" }, Object.entries(ln.before || {}).map(([v, n]) => `${v} ×${n}`).join(", ") || "∅"),
      h("td", { class: "arrow" }, "→"), h("td", { class: "after" }, fmtValue(ln.after)),
      h("td", { class: "small muted" }, ln.unchanged ? `${ln.unchanged} already so` : "")))))));
  return h("section", { class: "panel", "data-testid": "campaign-preview" }, h("h3", {}, "Preview"),
    kv([["selection", h("span", { "data-testid": "preview-count" }, `${sel.devices} of ${sel.fleet} devices`)],
      ["regions", regions || "-"],
      ["rings", pv.plan.stages.map((st, i) => `${ringName(pv.plan, i)} ${st}% (${pv.plan.sizes[i]})`).join(" → ")],
      ["control group", `${plural(pv.plan.control, "device")} held back for comparison`],
      ["absent", pv.absent ? `${plural(pv.absent, "device")} not present now: they wait until they check in` : "none"]]),
    h("h4", {}, "What changes, per class"), classes.length ? classes : h("p", { class: "empty" }, "no diff (an operation-only campaign)"));
}

// ------------------------------------------------------------------ ring timeline
function ringTimeline(st) {
  const byRing = {};
  for (const a of st.analyses) (byRing[a.ring] ||= []).push(a);
  return h("ol", { class: "stack", "data-testid": "campaign-rings" }, st.rings_detail.map((r) => {
    const verdicts = (byRing[r.ring] || []).filter((a) => a.final || a.outcome !== "pending").slice(-4);
    // the mark follows what happened to the ring's devices: never a ✓ beside "rolled back"
    const mark = { done: "✓", "rolled back": "↺", "rolling back": "↺", "never ran": "–", stopped: "✗", pending: "○" }[r.status]
      || (st.state === "created" ? "○" : "●");
    const share = r.one_per_class
      ? `asked ${r.stage_pct} %, holds ${r.size} of ${st.devices} devices (${r.share_pct} %): one of each of its ${r.classes} model × firmware classes`
      : `${r.stage_pct} % (${r.size} devices)`;
    return h("li", { class: "card", "data-testid": "campaign-ring", "data-ring": r.ring, "data-number": r.number, "data-status": r.status },
      h("div", { class: "row spread" },
        h("strong", { "data-testid": "ring-title" }, `${mark} ${r.name} — ${share}`),
        h("span", { class: "badge", "data-testid": "ring-status" }, st.state === "created" ? "not started" : r.status)),
      h("div", { class: "row" }, bar(r.verified, r.failed, r.size, r.rolled_back),
        h("span", { class: "small", "data-testid": "ring-counts" },
          `${plural(r.batches, "batch", "batches")} · ✓ ${r.verified} verified · ✗ ${r.failed} failed · ↺ ${r.rolled_back} rolled back`
          + (r.rollback_failed ? ` · ${r.rollback_failed} ROLLBACK FAILED` : ""))),
      // what the abort could not undo (a firmware download), in the service's words
      r.not_undone ? h("p", { class: "small warn", "data-testid": "ring-not-undone" }, `${r.status} — ${r.not_undone}`) : null,
      verdicts.length ? h("ul", { class: "small", "data-testid": "ring-analyses" }, verdicts.map((a) => h("li", {},
        `${fmtTime(a.ts)} · analysis ${a.outcome}${a.final ? " (final)" : ""}: ${a.reasons.join("; ") || "-"}`))) : null);
  }));
}

// ------------------------------------------------------------------ controls (abort and pause ask why)
async function act(id, action, body) {
  try {
    await api.post(`/api/campaigns/${enc(id)}/${action}`, body);
    toast(`campaign ${action}: done`, "ok");
    return true;
  } catch (e) {
    toast(e.message, "bad");
    const el = document.querySelector("[data-testid=campaign-action-error]");
    if (el) el.textContent = e.message;
    return false;
  }
}

function reasonForm(st, action, label, refresh, slot) {
  const input = h("input", { type: "text", "data-testid": "campaign-reason", maxlength: 2000, required: action === "abort",
    placeholder: "why (goes into the audit trail)", "aria-label": `reason to ${action}`, size: 50 });
  const done = () => { ui.editing = false; slot.replaceChildren(); refresh(); };
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const reason = input.value.trim();
    if (action === "abort" && !reason) { input.focus(); return; }
    await act(st.id, action, { reason });
    done();
  } }, h("label", {}, `${label}: `, input), h("button", { type: "submit", class: action === "abort" ? "reject" : "",
    "data-testid": `campaign-${action}-confirm` }, label), h("button", { type: "button", class: "link", onclick: done }, "cancel"));
  ui.editing = true;
  slot.replaceChildren(form);
  input.focus();
}

function controls(st, refresh) {
  const slot = h("div", { "data-testid": "campaign-reason-slot" });
  const approved = st.proposal.state === "approved";
  const why = st.state === "created" && !approved ? (st.proposal.state === "denied"
    ? "policy denied it" : `its proposal is ${st.proposal.state.replaceAll("_", " ")}`) : "";
  const btn = (label, action, show, extra = {}) => show ? h("button", { "data-testid": `campaign-${action}`, ...extra, onclick: async () => {
    if (action === "abort" || action === "pause") { reasonForm(st, action, action === "abort" ? "Abort" : "Pause", refresh, slot); return; }
    await act(st.id, action);
    refresh();
  } }, label) : null;
  return h("div", {},
    h("div", { class: "row" },
      btn("Start", "start", st.state === "created", { class: "primary", disabled: !approved,
        title: approved ? "start the canary" : `cannot start: ${why}` }),
      why ? h("span", { class: "small muted", "data-testid": "start-blocked" }, `cannot start: ${why}`) : null,
      btn("Pause", "pause", st.state === "running"),
      btn("Resume", "resume", st.state === "paused"),
      btn("Promote to next ring", "promote", ["running", "paused"].includes(st.state) && st.ring_state === "waiting"),
      btn(st.state === "created" ? "Abort (nothing ran yet)" : "Abort and roll back", "abort",
        ["created", "running", "paused"].includes(st.state), { class: "reject" }),
      CLOSED.includes(st.state) ? retryButtons(st) : null),
    slot, h("p", { class: "error small", role: "alert", "data-testid": "campaign-action-error" }));
}

// After an abort (or a denial, a rejection, a failure): the same definition again as a new campaign
// — its own proposal, policy decision and approvals; nothing of the old one is reused — or a copy in
// the create form to change first.
const CLONE_KEY = "gateward.campaign.clone";
// "Campaign from selection" on the device list hands the picked ids over here (device_list.js):
// the campaign then targets exactly them (target.devices); kept until created or cleared.
const SELECTION_KEY = "gateward.campaign.selection";

function readSelection() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(SELECTION_KEY) || "null");
    return Array.isArray(ids) && ids.length ? ids.map(String) : null;
  } catch { return null; }
}

function retryButtons(st) {
  const retry = h("button", { type: "button", "data-testid": "campaign-retry", onclick: async () => {
    retry.disabled = true;
    try {
      const again = await api.post("/api/campaigns", { ...st.spec, name: `${st.name} (retry)`.slice(0, 120) });
      location.hash = `#/campaigns/${enc(again.id)}`;
    } catch (err) { toast(err.message, "bad"); retry.disabled = false; }
  } }, "Retry (same definition)");
  const clone = h("button", { type: "button", "data-testid": "campaign-clone", onclick: () => {
    sessionStorage.setItem(CLONE_KEY, JSON.stringify({ ...st.spec, name: `${st.name} (copy)`.slice(0, 120) }));
    location.hash = "#/campaigns/new";
  } }, "Clone and edit");
  return h("span", { class: "row" }, retry, clone);
}

// Who the campaign's device writes are made for, and the workers that carried them out: the audit
// names the same person as actor and the worker in "via" (issue 34; never an anonymous robot).
function actingFor(st) {
  if (!st.run_by) {
    return h("span", { "data-testid": "campaign-acting" }, st.started_at || st.terminal ? "nobody: it never ran"
      : "not started: its device writes will be made for the person who starts it");
  }
  const workers = (st.workers || []).map((w) => `worker ${w.worker} (${w.batches} batch${w.batches === 1 ? "" : "es"})`);
  return h("span", { "data-testid": "campaign-acting" }, st.run_by,
    workers.length ? `, carried out by ${workers.join(", ")}` : ", no batch has run yet");
}

// The rate as defined (the same for a campaign and its copy), and where a running one stands now.
function rateText(st) {
  const r = st.spec.rate || {};
  const plan = `batches of ${r.initial_batch} growing ×${r.factor} after each clean batch to ${r.max_batch}; `
    + `${r.initial_window} in flight, up to ${r.max_window}`;
  return ["running", "paused"].includes(st.state) ? `${plan} (now batches of ${st.rate.batch_size}, ${st.rate.window} in flight)` : plan;
}

// Why it is not moving, while that is so: paused (a person or the gate), or stopped for good
// (aborting, aborted, failed). A campaign resumed after a pause keeps its halt_reason on record,
// but the banner goes: it is running again.
const STOPPED = ["aborting", "aborted", "failed"];
function haltBanner(st) {
  const paused = st.state === "paused";
  if (!paused && !(STOPPED.includes(st.state) && (st.halt_reason || st.halted_by))) return null;
  return h("p", { class: paused ? "warn" : "error", role: "alert", "data-testid": "campaign-halt" },
    `${paused ? "Paused" : "Stopped"}${st.halted_at ? ` at ${fmtTime(st.halted_at)}` : ""}: ${st.halt_reason || `by ${st.halted_by}`}`);
}

async function detail(root, id, cache) {
  // The preview and the rehearsal are asked beside the campaign, by the state the last poll saw (at
  // the first, whatever it turns out to be): one round trip where there were three.
  const was = cache.state;
  const pvAsked = !cache.preview || was === undefined || was === "created" ? api.get(`/api/campaigns/${enc(id)}/preview`) : null;
  const rhAsked = was === undefined || was === "created" || was === "denied" ? api.get(`/api/campaigns/${enc(id)}/rehearsal`) : null;
  pvAsked?.catch(() => {}); rhAsked?.catch(() => {});  // awaited below when wanted, their errors with them
  const [st, tl] = await Promise.all([api.get(`/api/campaigns/${enc(id)}`), api.get(`/api/campaigns/${enc(id)}/timeline`)]);
  cache.state = st.state;
  if (!cache.preview || st.state === "created") cache.preview = await (pvAsked || api.get(`/api/campaigns/${enc(id)}/preview`));
  const pv = cache.preview;
  if (st.state === "created" || st.state === "denied") cache.rehearsal = await (rhAsked || api.get(`/api/campaigns/${enc(id)}/rehearsal`));
  const rh = cache.rehearsal;
  // Polled every 3 s: rebuild only when something moved, so a button under the pointer (abort,
  // promote) is not swapped for a copy between a person's press and release.
  const key = JSON.stringify([st, tl, pv, rh]);
  if (key === cache.key && root.isConnected && root.querySelector("[data-testid=campaign-verdict]")) return st;
  cache.key = key;
  const refresh = () => { cache.key = null; return detail(root, id, cache); };
  const pause = haltBanner(st);
  fill(root, h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, st.name, " ", stateBadge(st.state)), h("a", { href: "#/campaigns" }, "all campaigns")),
    pause,
    (st.window_hold || []).length ? h("p", { class: "warn", role: "status", "data-testid": "campaign-window-hold" },
      `held: change window closed for ${st.window_hold.join(", ")}; it goes on by itself when the window opens`) : null,
    st.error ? h("p", { class: "error" }, st.error) : null,
    verdictPanel(st, pv), windowsPanel(st),
    kv([["campaign", h("span", { class: "mono" }, st.id)], ["kind", st.kind], ["author", st.author],
      ["runs for", actingFor(st)],
      ["where", phase(st)],
      ["rate", rateText(st)],
      ["promotion", st.spec.promotion.mode === "auto" ? `automatic, ${st.spec.promotion.pause_s} s after a passing analysis` : "manual (a person promotes each ring)"],
      ["gate", `fail above ${pct(st.spec.gate.failure_threshold)} after ${st.spec.gate.min_executed} executed → ${st.spec.gate.on_breach}`],
      ["started", st.started_at ? fmtTime(st.started_at) : "-"], ["finished", st.finished_at ? fmtTime(st.finished_at) : "-"]]),
    controls(st, refresh)),
    h("section", { class: "panel" }, h("h3", {}, "Rings"), ringTimeline(st)),
    st.state === "created" ? previewPanel(pv) : null,
    rh && ["created", "denied"].includes(st.state) ? rehearsalPanel(id, rh, refresh) : null,
    h("section", { class: "panel" }, h("h3", {}, "Progress"), charts(tl, st.spec.gate, st)),
    measuredAgainst(st),
    st.state !== "created" ? h("details", {}, h("summary", {}, "Preview as approved"), previewPanel(pv)) : null);
  return st;
}

// ------------------------------------------------------------------ create
function parseValue(raw) {
  const v = raw.trim();
  if (v === "true" || v === "false") return v === "true";
  if (/^-?\d+$/.test(v) && Math.abs(Number(v)) < 2 ** 53) return Number(v);
  return v.replace(/^"(.*)"$/, "$1");
}

function parseChanges(text) {
  const out = [], bad = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf("=");
    if (i < 1) { bad.push(line); continue; }
    out.push({ path: line.slice(0, i).trim(), value: parseValue(line.slice(i + 1)) });
  }
  return { out, bad };
}

const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

async function createForm(root) {
  const first = await api.get("/api/campaigns/selection");
  const facets = first.facets;
  const pick = (name) => h("select", { name, "data-testid": `sel-${name}` }, h("option", { value: "" }, `any ${name}`),
    Object.entries(facets[name] || {}).map(([v, n]) => h("option", { value: v }, `${v} (${n})`)));
  const el = {
    name: h("input", { name: "name", required: true, maxlength: 120, "data-testid": "c-name", placeholder: "e.g. hide-ssid-gb" }),
    intent: h("input", { name: "intent", maxlength: 300, placeholder: "what and why, in one line" }),
    model: pick("model"), firmware: pick("firmware"), region: pick("region"), vendor: pick("vendor"),
    tags: h("input", { name: "tags", placeholder: "comma separated" }),
    all: h("input", { type: "checkbox", name: "all_fleet", "data-testid": "c-all" }),
    kindChange: h("input", { type: "radio", name: "kind", value: "change", checked: true }),
    kindFw: h("input", { type: "radio", name: "kind", value: "firmware", "data-testid": "c-kind-firmware" }),
    changes: h("textarea", { name: "changes", rows: 3, cols: 60, "data-testid": "c-changes", spellcheck: "false",
      placeholder: "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled = false" }),
    fwUrl: h("input", { name: "fw_url", size: 60, placeholder: "https://firmware.example/…bin", "data-testid": "c-fw-url" }),
    fwVersion: h("input", { name: "fw_version", placeholder: "target version", "data-testid": "c-fw-version" }),
    canary: h("input", { type: "number", name: "canary_pct", min: 0.1, max: 50, step: "any", placeholder: "policy", "data-testid": "c-canary" }),
    rings: h("input", { name: "rings", placeholder: "policy, e.g. 25, 100", "data-testid": "c-rings" }),
    control: h("input", { type: "number", name: "control_pct", min: 0, max: 20, step: "any", value: 0 }),
    threshold: h("input", { type: "number", name: "failure_threshold", min: 0, max: 100, step: "any", placeholder: "policy", "data-testid": "c-threshold" }),
    minExec: h("input", { type: "number", name: "min_executed", min: 1, value: 20, "data-testid": "c-min-executed" }),
    breach: h("select", { name: "on_breach" }, h("option", { value: "abort" }, "abort and roll back"), h("option", { value: "pause" }, "pause")),
    promo: h("select", { name: "promotion", "data-testid": "c-promotion" }, h("option", { value: "manual" }, "manual: a person promotes each ring"),
      h("option", { value: "auto" }, "automatic after a passing analysis")),
    pauseS: h("input", { type: "number", name: "pause_s", min: 0, value: 60, "data-testid": "c-pause-s" }),
    batch: h("input", { type: "number", name: "initial_batch", min: 1, value: 10 }),
    maxBatch: h("input", { type: "number", name: "max_batch", min: 1, value: 200 }),
    emergency: h("input", { type: "checkbox", name: "emergency", "data-testid": "c-emergency" }),
    kpi: h("select", { name: "kpi", "data-testid": "c-kpi" }, h("option", { value: "" }, "none"),
      (first.kpis || []).map((k) => h("option", { value: k.id, "data-wifi": k.wifi ? "yes" : "no" }, `${k.title}${k.unit ? ` (${k.unit})` : ""}`))),
    kpiBand: h("select", { name: "kpi_band", "data-testid": "c-kpi-band" }, h("option", { value: "" }, "every band"),
      ["2.4GHz", "5GHz", "6GHz"].map((b) => h("option", { value: b }, b))),
    kpiMargin: h("input", { type: "number", name: "kpi_margin", min: 0, step: "any", placeholder: "20 % of its level", "data-testid": "c-kpi-margin" }),
    kpiWindow: h("input", { type: "number", name: "kpi_window_h", min: 0.25, max: 24, step: "any", value: 6, "data-testid": "c-kpi-window" }),
  };
  // A KPI is measured against the control group: picking one with no group asks for 10 %.
  el.kpi.addEventListener("change", () => { if (el.kpi.value && !num(el.control.value)) el.control.value = 10; });
  const count = h("strong", { "data-testid": "selection-count", "aria-live": "polite" }, "…");
  let selected = readSelection();
  const selBox = h("p", { class: "small", "data-testid": "selected-devices" });
  const drawSelected = () => {
    fill(selBox, selected ? [h("span", {}, `Exactly the ${selected.length} selected device${selected.length === 1 ? "" : "s"}`,
      " from the device list; model, firmware and region below must hold for each of them. "),
    h("button", { type: "button", class: "link", "data-testid": "selected-clear", onclick: () => {
      sessionStorage.removeItem(SELECTION_KEY); selected = null; drawSelected(); recount();
    } }, "target by model / firmware / region instead")] : []);
    selBox.hidden = !selected;
  };
  const error = h("div", { class: "error", role: "alert", "data-testid": "create-error" });
  let seq = 0;
  const recount = async () => {
    const my = ++seq;
    try {
      const r = await api.get("/api/campaigns/selection", { model: el.model.value, firmware: el.firmware.value,
        region: el.region.value, vendor: el.vendor.value, tag: el.tags.value.split(",").map((x) => x.trim()).filter(Boolean),
        op: el.kindFw.checked ? ["download"] : [] });
      if (my !== seq) return;
      showWindows(r.windows || []);
      if (selected) {
        count.textContent = `${selected.length} selected device${selected.length === 1 ? "" : "s"}`;
        count.dataset.devices = selected.length; count.title = selected.join(", "); count.className = "";
        return;
      }
      count.textContent = `${r.devices} of ${r.fleet} devices match`;
      count.dataset.devices = r.devices;
      count.title = r.whole_fleet ? "the whole fleet: tick 'whole fleet' to confirm" : r.target;
      count.className = r.devices === 0 || (r.whole_fleet && !el.all.checked) ? "warn" : "";
      if (r.whole_fleet && !el.all.checked) count.textContent += " — the whole fleet; tick “whole fleet” to confirm";
    } catch (e) { count.textContent = e.message; }
  };
  // The change windows policy will bind this selection to, checked before create: a closed one
  // means "denied" unless the campaign is an emergency (a senior approver signs it).
  const windowsBox = h("div", { class: "small", "data-testid": "create-windows", "aria-live": "polite" });
  const showWindows = (ws) => {
    const closed = ws.filter((w) => !w.open);
    windowsBox.dataset.closed = closed.length;
    fill(windowsBox, !ws.length ? "No change window applies to this selection."
      : h("ul", {}, ws.map((w) => h("li", { "data-open": w.open ? "yes" : "no", class: w.open ? "" : "warn" },
        w.open ? `${w.text}: open now` : `${w.text}: closed; opens ${new Date(w.opens_at).toISOString().slice(11, 16)} UTC (${inWords(w.opens_in_s)})`))),
      closed.length && !el.emergency.checked ? h("p", { class: "warn", "data-testid": "create-window-warning" },
        "Policy will deny this campaign while a window is closed: wait for it, or tick “emergency” (a senior approver signs it).") : null);
  };
  el.emergency.addEventListener("change", recount);
  const fwBox = h("div", { class: "row", hidden: true }, field("firmware image URL", el.fwUrl), field("version", el.fwVersion));
  const chBox = h("div", {}, field("parameter changes, one per line: PATH = VALUE", el.changes, "true/false and whole numbers are typed; anything else is a string"));
  const kindSwitch = () => { const fw = el.kindFw.checked; fwBox.hidden = !fw; chBox.hidden = fw; recount(); };
  for (const k of ["model", "firmware", "region", "vendor", "all"]) el[k].addEventListener("change", recount);
  el.tags.addEventListener("input", recount);
  el.kindChange.addEventListener("change", kindSwitch);
  el.kindFw.addEventListener("change", kindSwitch);

  let base = null; // the definition a clone started from: what the form does not show is kept from it
  const submit = async (e) => {
    e.preventDefault();
    error.textContent = "";
    const body = { name: el.name.value.trim(), intent: el.intent.value.trim(),
      target: { model: el.model.value || undefined, firmware: el.firmware.value || undefined, region: el.region.value || undefined,
        vendor: el.vendor.value || undefined, tags: el.tags.value.split(",").map((x) => x.trim()).filter(Boolean), all_fleet: el.all.checked },
      control_pct: num(el.control.value) ?? 0, emergency: el.emergency.checked,
      gate: { min_executed: num(el.minExec.value), on_breach: el.breach.value },
      promotion: { mode: el.promo.value, pause_s: num(el.pauseS.value) ?? 60 },
      rate: { initial_batch: num(el.batch.value), max_batch: num(el.maxBatch.value) } };
    if (selected) body.target.devices = selected;
    if (el.kindFw.checked) body.firmware = { url: el.fwUrl.value.trim(), version: el.fwVersion.value.trim() };
    else {
      const { out, bad } = parseChanges(el.changes.value);
      if (bad.length || !out.length) { error.textContent = bad.length ? `not PATH = VALUE: ${bad.join(" | ")}` : "give at least one change"; return; }
      body.changes = out;
    }
    if (num(el.canary.value) !== undefined) body.canary_pct = num(el.canary.value);
    if (el.rings.value.trim()) body.rings = el.rings.value.split(",").map((x) => Number(x.trim()));
    if (num(el.threshold.value) !== undefined) body.gate.failure_threshold = num(el.threshold.value) / 100;
    if (el.kpi.value) {
      body.gate.kpis = [{ metric: el.kpi.value, labels: el.kpiBand.value ? { band: el.kpiBand.value } : {},
        window_h: num(el.kpiWindow.value) ?? 6, ...(num(el.kpiMargin.value) !== undefined ? { margin: num(el.kpiMargin.value) } : {}) }];
    } else body.gate.kpis = []; // "none" (a clone's KPI is not kept behind the person's back)
    if (base) Object.assign(body, keptFrom(base, body));
    const btn = e.submitter || form.querySelector("button[type=submit]");
    btn.disabled = true; btn.textContent = "previewing and asking policy…";
    try {
      const st = await api.post("/api/campaigns", body);
      if (selected) sessionStorage.removeItem(SELECTION_KEY);
      toast(`campaign ${st.name} created: ${st.proposal.state.replaceAll("_", " ")}`, st.proposal.state === "denied" ? "bad" : "ok");
      location.hash = `#/campaigns/${enc(st.id)}`;
    } catch (err) {
      error.textContent = err.message;
      btn.disabled = false; btn.textContent = "Create and preview";
    }
  };
  const form = h("form", { class: "stack", "data-testid": "campaign-form", onsubmit: submit },
    h("div", { class: "row" }, field("name", el.name), field("intent", el.intent)),
    h("fieldset", {}, h("legend", {}, "Which devices"),
      h("div", { class: "row" }, field("model", el.model), field("firmware", el.firmware), field("region", el.region),
        field("vendor", el.vendor), field("tags", el.tags), h("label", {}, el.all, " whole fleet (confirm)")), selBox, h("p", {}, count), windowsBox),
    h("fieldset", {}, h("legend", {}, "What"),
      h("div", { class: "row" }, h("label", {}, el.kindChange, " parameter change"), h("label", {}, el.kindFw, " firmware")), chBox, fwBox),
    h("fieldset", {}, h("legend", {}, "Rings and gate"),
      h("div", { class: "row" }, field("canary %", el.canary, "blank: policy's plan"), field("rings (cumulative %)", el.rings, "blank: policy's plan"),
        field("control group %", el.control), field("fail above %", el.threshold, "blank: policy's limit"),
        field("after executed", el.minExec), field("on breach", el.breach)),
      h("div", { class: "row" }, field("KPI measured against the control group", el.kpi,
        "the gate halts a ring whose devices do measurably worse than the control by more than the tolerance"),
      field("band", el.kpiBand), field("tolerance (in its unit)", el.kpiMargin, "blank: 20 % of its level before"),
      field("observed for (hours)", el.kpiWindow, "after each ring, looked at hourly"))),
    h("fieldset", {}, h("legend", {}, "Schedule"),
      h("div", { class: "row" }, field("promotion", el.promo), field("pause before widening (s)", el.pauseS),
        field("first batch", el.batch), field("largest batch", el.maxBatch)),
      h("p", { class: "small muted" }, "Fleet changes run inside each region's change window: a campaign approved inside it holds new batches while a window is closed and goes on when it opens."),
      h("label", {}, el.emergency, " emergency: run outside the change window (policy asks a senior approver to sign)")),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "campaign-create" }, "Create and preview"),
      h("a", { href: "#/campaigns" }, "cancel")));
  root.replaceChildren(h("section", { class: "panel" }, h("h2", {}, "New campaign"),
    h("p", { class: "small muted" }, "Creating runs the lifecycle's gates on one staged proposal: validate, a fleet preview and one policy decision per class. An approver then approves the proposal; you start the campaign."),
    form));
  base = prefill(el, kindSwitch);
  drawSelected();
  recount();
  el.name.focus();
}

// A clone keeps every setting of its original that the form has no field for (the rate's windows
// and factor, the gate's other limits …): the copy's figures are the original's unless edited.
function keptFrom(base, body) {
  const { name, intent, target, changes, firmware, operations, canary_pct, rings, control_pct, emergency, ...rest } = base;
  const defined = (o) => Object.fromEntries(Object.entries(o || {}).filter(([, v]) => v !== undefined));
  const out = { ...rest };
  for (const k of ["gate", "promotion", "rate"]) out[k] = { ...(base[k] || {}), ...defined(body[k]) };
  if (body.gate.failure_threshold === undefined) delete out.gate.failure_threshold; // blank: policy's limit
  return out;
}

// A clone ("Clone and edit" on a finished campaign) fills the form with that definition, and
// returns it (see keptFrom).
function prefill(el, kindSwitch) {
  const raw = sessionStorage.getItem(CLONE_KEY);
  if (!raw) return null;
  sessionStorage.removeItem(CLONE_KEY);
  let spec;
  try { spec = JSON.parse(raw); } catch { return null; }
  const set = (input, v) => { if (v !== undefined && v !== null) input.value = String(v); };
  const tg = spec.target || {};
  set(el.name, spec.name); set(el.intent, spec.intent);
  for (const k of ["model", "firmware", "region", "vendor"]) set(el[k], tg[k]);
  set(el.tags, (tg.tags || []).join(", "));
  el.all.checked = Boolean(tg.all_fleet);
  el.emergency.checked = Boolean(spec.emergency);
  if (spec.firmware) {
    el.kindFw.checked = true; set(el.fwUrl, spec.firmware.url); set(el.fwVersion, spec.firmware.version);
  } else {
    el.changes.value = (spec.changes || []).map((c) => `${c.path} = ${typeof c.value === "string" ? c.value : JSON.stringify(c.value)}`).join("\n");
  }
  kindSwitch();
  set(el.canary, spec.canary_pct);
  if (spec.rings) set(el.rings, spec.rings.join(", "));
  set(el.control, spec.control_pct);
  const g = spec.gate || {};
  if (g.failure_threshold !== undefined) set(el.threshold, +(100 * g.failure_threshold).toFixed(4));
  set(el.minExec, g.min_executed); set(el.breach, g.on_breach);
  const kpi = (g.kpis || [])[0];
  if (kpi) { set(el.kpi, kpi.metric); set(el.kpiBand, (kpi.labels || {}).band || ""); set(el.kpiMargin, kpi.margin || undefined); set(el.kpiWindow, kpi.window_h); }
  set(el.promo, (spec.promotion || {}).mode); set(el.pauseS, (spec.promotion || {}).pause_s);
  set(el.batch, (spec.rate || {}).initial_batch); set(el.maxBatch, (spec.rate || {}).max_batch);
  return spec;
}

async function list(root) {
  const res = await api.get("/api/campaigns");
  root.replaceChildren(h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, "Campaigns"), h("button", { type: "button", class: "primary", "data-testid": "campaign-new",
      onclick: () => { location.hash = "#/campaigns/new"; } }, "New campaign")),
    res.items.length ? h("table", { "data-testid": "campaign-list" },
      h("thead", {}, h("tr", {}, ["name", "state", "kind", "where", "devices", "note"].map((c) => h("th", {}, c)))),
      h("tbody", {}, res.items.map((c) => h("tr", {},
        h("td", {}, h("a", { href: `#/campaigns/${enc(c.id)}` }, c.name)), h("td", {}, stateBadge(c.state)),
        h("td", {}, c.kind), h("td", { "data-testid": "campaign-list-phase" }, c.phase), h("td", {}, c.devices), h("td", { class: "small" }, c.halt_reason || c.error || "")))))
      : h("p", { class: "empty" }, "no campaigns yet: “New campaign” defines one (or `gateward campaign create`)")));
}

// The view contract of the console: render into root, return a cleanup function.
export async function campaignsView(root, { arg } = {}) {
  root.replaceChildren(loading());
  ui.editing = false;
  if (arg === "new") {
    try { await createForm(root); } catch (e) { root.replaceChildren(h("p", { class: "error" }, e.message)); }
    return () => {};
  }
  let timer = null;
  const cache = {};
  const render = async () => {
    if (ui.editing) return;
    try {
      if (arg) {
        const st = await detail(root, arg, cache);
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
  const tick = setInterval(() => { // the countdown to an automatic promotion, every second between refreshes
    for (const el of root.querySelectorAll("[data-testid=promote-countdown]")) el.textContent = countdown(el.dataset.at);
  }, 1000);
  return () => { if (timer) clearInterval(timer); clearInterval(tick); ui.editing = false; };
}
