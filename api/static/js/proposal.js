// One proposal on screen: before → after per device, the verdict in plain words, risk,
// evidence, blast radius, approvals, executions — and the actions the viewer may try.
// The server decides every action (roles, separation of duties, hash-bound approval);
// buttons here are conveniences and the server's refusal is shown verbatim.

import * as api from "./api.js";
import { lineChart } from "./chart.js";
import { ago, badge, fmtTime, fmtValue, h, kv, presenceBadge, riskMeter, toast, fill, withArticle } from "./dom.js";

export const REVIEW_ROLES = ["approver", "senior_approver"];
export const APPLY_ROLES = ["support_agent", "approver", "senior_approver", "admin", "automation"];
const IN_FLIGHT = ["backed_up", "applying", "verifying"];
const MAX_DEVICES_SHOWN = 8;

export const hasRole = (me, roles) => (me?.roles || []).some((r) => roles.includes(r));

function diffTable(dev) {
  if (dev.error && !dev.lines?.length) return h("p", { class: "error" }, dev.error);
  const rows = (dev.lines || []).map((ln) => h("tr", { class: ln.unchanged ? "unchanged" : "", "data-testid": "diff-row" },
    // what is written on the device: a TR-098 device's own name for it (native, said by the API with
    // what a Set writes besides), or the name the read found when it differs
    h("td", { class: "path" }, ln.path, ln.native || (ln.device_path && ln.device_path !== ln.path)
      ? h("div", { class: "muted small", "data-testid": "diff-native" }, `on the device: ${ln.native || ln.device_path}`) : null),
    h("td", { class: "before" }, fmtValue(ln.before)),
    h("td", { class: "arrow" }, "→"),
    h("td", { class: "after" }, fmtValue(ln.after), ln.secret ? h("span", { class: "muted small" }, " (secret, masked)") : null,
      ln.unchanged ? h("span", { class: "muted small" }, " (already set)") : null),
  ));
  const ops = (dev.operations || []).map((op) => h("tr", {},
    h("td", { class: "path" }, `operation: ${op.command}`), h("td", { colspan: 3 }, JSON.stringify(op.args || {}))));
  return h("table", { class: "diff" },
    h("thead", {}, h("tr", {}, h("th", {}, "parameter"), h("th", {}, "before"), h("th", {}, ""), h("th", {}, "after"))),
    h("tbody", {}, rows, ops));
}

function diffSection(detail) {
  const p = detail.proposal;
  const devices = detail.preview?.devices || [];
  if (!devices.length) {
    const changes = (p.changes || []).map((c) => h("tr", {}, h("td", { class: "path" }, c.path, c.target ? h("div", { class: "muted small" }, `for ${c.target} only`) : null),
      h("td", { class: "after" }, fmtValue(c.value))));
    return h("div", {}, h("p", { class: "muted" }, "No live preview yet: the proposed values are"),
      h("table", { class: "diff" }, h("tbody", {}, changes)));
  }
  const shown = devices.slice(0, MAX_DEVICES_SHOWN);
  return h("div", { "data-testid": "diff" },
    shown.map((d) => h("div", { class: "stack" },
      h("div", { class: "row" }, h("a", { href: `#/devices/${encodeURIComponent(d.device_id)}`, class: "mono" }, d.device_id),
        d.present ? badge("online") : badge("offline"), d.error ? h("span", { class: "error small" }, d.error) : null),
      diffTable(d))),
    devices.length > shown.length ? h("p", { class: "muted" },
      `+ ${devices.length - shown.length} more devices (${p.per_device?.length ? "each with its own values: see values per device" : "same change; see blast radius"})`) : null,
    detail.preview?.taken_at ? h("p", { class: "muted small" }, `values read live ${ago(detail.preview.taken_at)}`) : null);
}

// A per-target proposal (e.g. a joint channel plan) gives each device its own values: one row per
// device and parameter, so the approver sees who gets what, not just "same change on N devices".
function perDeviceSection(detail) {
  const rows = detail.proposal.per_device || [];
  if (!rows.length) return null;
  return h("table", { class: "diff", "data-testid": "per-device-values" },
    h("thead", {}, h("tr", {}, h("th", {}, "device"), h("th", {}, "parameter"), h("th", {}, "value"))),
    h("tbody", {}, rows.flatMap((d) => d.changes.map((c, i) => h("tr", { "data-testid": "per-device-row", "data-device": d.device_id },
      h("td", { class: "mono" }, i === 0 ? h("a", { href: `#/devices/${encodeURIComponent(d.device_id)}` }, d.device_id) : ""),
      h("td", { class: "path" }, c.path),
      h("td", { class: "after" }, fmtValue(c.value), c.own ? null : h("span", { class: "muted small" }, " (every device)")))))));
}

function verdictSection(detail) {
  const dec = detail.decision;
  const p = detail.proposal;
  // An invalid proposal never reaches policy: say why it stopped, not "not decided yet".
  if (!dec && p.state === "invalid") {
    return h("div", { class: "verdict deny", "data-testid": "verdict" }, h("strong", {}, "Invalid: policy never saw it"),
      h("p", { class: "error", "data-testid": "invalid-reason" }, p.error || "the change did not pass validation"));
  }
  if (!dec && ["cancelled", "failed"].includes(p.state)) {
    return h("div", { class: "verdict", "data-testid": "verdict" }, `No policy decision: the proposal is ${p.state}.`);
  }
  if (!dec) return h("div", { class: "verdict", "data-testid": "verdict" }, "Policy has not decided yet.");
  const approvals = (detail.approvals || []).filter((a) => a.verdict === "approve" && a.current);
  const required = dec.approvals_required || [];
  const cls = !dec.allow ? "deny" : required.length ? "approval" : "allow";
  const head = !dec.allow ? "Denied by policy" : required.length ? "Allowed once approved" : "Allowed, no approval needed";
  // one line per role: policy may ask the same role once per parameter, with the same words
  const byRole = new Map();
  for (const r of required) byRole.set(r.role, [...new Set([...(byRole.get(r.role) || []), r.reason])]);
  const reqRows = [...byRole.entries()].map(([role, reasons]) => {
    const by = approvals.find((a) => a.role === role);
    return h("li", { "data-testid": "approval-required", "data-role": role }, h("strong", {}, role), `: ${reasons.join("; ")} `,
      by ? h("span", { class: "badge b-ok" }, `approved by ${by.actor}`) : h("span", { class: "badge b-warn" }, "waiting"));
  });
  return h("div", { class: `verdict ${cls}`, "data-testid": "verdict" },
    h("div", { class: "row spread" }, h("strong", {}, head), riskMeter(dec.risk)),
    dec.deny?.length ? h("ul", {}, distinct(dec.deny, dec.deny_items).map((d) => h("li", { class: "error" }, d))) : null,
    reqRows.length ? h("ul", {}, reqRows) : null,
    dec.obligations?.length ? h("div", {}, h("h3", {}, "obligations"), h("ul", { "data-testid": "obligations" }, obligationLines(dec).map((o) => h("li", {}, o)))) : null,
    dec.warnings?.length ? h("div", {}, h("h3", {}, "warnings"), h("ul", { "data-testid": "warnings" }, distinct(dec.warnings, dec.warning_items).map((o) => h("li", {}, o)))) : null,
    dec.would_deny?.length ? h("div", {}, h("h3", {}, "dry-run rules would deny"), h("ul", {}, dec.would_deny.map((o) => h("li", {}, o)))) : null,
    dec.current === false ? h("p", { class: "error" }, "This decision was made on an earlier version of the proposal.") : null,
    dec.explanation ? h("details", {}, h("summary", {}, "in plain words"), h("pre", {}, dec.explanation)) : null,
    h("p", { class: "muted small" }, `${dec.engine} engine · rules ${String(dec.revision || "").slice(0, 12)} · ${Math.round(dec.duration_us || 0) / 1000} ms`));
}

// Policy's obligations as a person reads them: its stages are one plan, in order ("roll out in rings:
// canary 5 % → 25 % → 100 %"), never the rule's own "stage: {canary 5, ring 25…}"; the rest one line
// per distinct statement.
export function obligationLines(dec) {
  const items = dec.obligation_items || [];
  const isStage = (m, i) => (items[i] && items[i].message === m ? items[i].code === "obligation.stage" : /^stage: /.test(m));
  const stages = (dec.obligations || []).map((m, i) => [m, i]).filter(([m, i]) => isStage(m, i));
  const restIdx = (dec.obligations || []).map((m, i) => i).filter((i) => !isStage(dec.obligations[i], i));
  const lines = [];
  if (stages.length) {
    const step = ([m, i]) => {
      const pr = items[i]?.message === m ? items[i].params || {} : {};
      const [kind, pct] = pr.percent !== undefined ? [pr.kind, pr.percent] : m.replace(/^stage: /, "").split(" ");
      return `${kind === "canary" ? "canary " : ""}${String(pct).replace(/%$/, "")} %`;
    };
    lines.push(`roll out in rings: ${stages.map(step).join(" → ")} of the targets, a gate after each`);
  }
  return lines.concat(distinct(restIdx.map((i) => dec.obligations[i]), restIdx.map((i) => items[i])));
}

// One line per distinct statement: policy states a warning once per matching item — "a rollback
// cannot restore …AccessPoint.1…", "…AccessPoint.2…", "…AccessPoint.3…" — which read as three
// warnings (issue 39). Items of one code become one line: the words they share, and what differs
// between them in braces; identical messages become one line with ×N.
export function distinct(messages, items) {
  const groups = new Map();
  (messages || []).forEach((m, i) => {
    const code = items && items[i] && items[i].message === m ? items[i].code : `msg:${m}`;
    (groups.get(code) || groups.set(code, []).get(code)).push(m);
  });
  return [...groups.values()].map((ms) => {
    const uniq = [...new Set(ms)];
    if (uniq.length === 1) return ms.length > 1 ? `${uniq[0]} (×${ms.length})` : uniq[0];
    let pre = 0, suf = 0;
    const a = uniq[0];
    while (uniq.every((m) => m[pre] === a[pre]) && pre < a.length) pre++;
    while (uniq.every((m) => m[m.length - 1 - suf] === a[a.length - 1 - suf]) && suf < a.length - pre
      && uniq.every((m) => m.length - suf > pre)) suf++;
    return `${a.slice(0, pre)}{${uniq.map((m) => m.slice(pre, m.length - suf)).join(", ")}}${a.slice(a.length - suf)}`;
  });
}

// Evidence as a person weighs it: the facts first (what was found, by whom, what the subscriber
// said), each with its numbers; the assistant's tool calls ("tool:read_parameters: 51 live
// value(s)") are how it found out, folded away beneath (issue 39). A fact carrying a series
// (data.series) is drawn as the chart behind the change.
function evidenceItem(e, drafted) {
  const facts = e.kind === "finding" && e.data ? Object.entries(e.data).filter(([k, v]) => k !== "series" && v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`) : [];
  return h("li", {},
    h("strong", {}, e.kind.replace(/^tool:/, "").replaceAll("_", " ")), ": ", e.summary,
    e.untrusted ? h("span", { class: "badge b-warn", title: "text from a device or subscriber" }, " untrusted") : null,
    e.kind === "finding" && e.data ? (facts.length ? h("span", { class: "muted", "data-testid": "finding-facts" }, " — ", facts.join(" · ")) : null) :
    e.data && Object.keys(e.data).length ? h("details", {}, h("summary", {}, "data"), h("pre", { class: "json" }, JSON.stringify(e.data, null, 2))) : null,
    evidenceChart(e.data?.series, drafted));
}

// data.series: the measured series a planner's finding was judged on ({metric, name, unit, labels,
// points: [[t, v], …], threshold, threshold_text}) or bare points; drawn with the device page's
// chart, with the threshold line and a marker at the time the proposal was drafted.
function evidenceChart(raw, drafted) {
  const ser = Array.isArray(raw) ? { points: raw } : raw && typeof raw === "object" ? raw : {};
  const points = (Array.isArray(ser.points) ? ser.points : [])
    .filter((x) => Array.isArray(x) && x.length === 2 && Number.isFinite(Number(x[1])) && !Number.isNaN(new Date(x[0]).getTime()))
    .map(([t, v]) => [t, Number(v)]);
  if (!points.length) return null;
  const threshold = Number.isFinite(ser.threshold) ? ser.threshold : undefined;
  return h("div", { class: "evidence-chart", "data-testid": "evidence-chart" },
    lineChart(String(ser.metric || "value"), [{ labels: ser.labels || {}, points, stats: { last: points[points.length - 1][1] } }], [],
      { name: ser.name, unit: ser.unit, threshold, thresholdText: ser.threshold_text, at: drafted, atText: "drafted" }));
}

function evidenceSection(p) {
  if (!p.evidence?.length) return h("p", { class: "muted" }, "No evidence attached.");
  const facts = p.evidence.filter((e) => !String(e.kind).startsWith("tool:"));
  const tools = p.evidence.filter((e) => String(e.kind).startsWith("tool:"));
  return h("div", { "data-testid": "evidence" },
    facts.length ? h("ul", { "data-testid": "evidence-facts" }, facts.map((e) => evidenceItem(e, p.created_at)))
      : h("p", { class: "muted" }, "No finding attached: only the reads below."),
    tools.length ? h("details", { "data-testid": "evidence-tools" }, h("summary", {},
      `how it was found: ${tools.length} read${tools.length === 1 ? "" : "s"} by the assistant`),
    h("ul", {}, tools.map((e) => evidenceItem(e, p.created_at)))) : null);
}

function countTable(title, counts) {
  return h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, title), h("th", { class: "num" }, "devices"))),
    h("tbody", {}, Object.entries(counts || {}).map(([k, n]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, n)))));
}

function blastSection(br) {
  if (!br) return null;
  return h("div", { "data-testid": "blast-radius" },
    h("p", {}, h("strong", {}, `${br.targets} device${br.targets === 1 ? "" : "s"}`), ` · ${br.subscribers} subscriber${br.subscribers === 1 ? "" : "s"}`),
    h("div", { class: "grid-2" }, countTable("model", br.by_model), countTable("firmware", br.by_firmware)),
    countTable("region", br.by_region));
}

function executionsSection(detail) {
  const ex = detail.executions || [];
  if (!ex.length) return null;
  return h("table", { "data-testid": "executions" }, h("thead", {}, h("tr", {}, h("th", {}, "device"), h("th", {}, "status"), h("th", {}, "detail"))),
    h("tbody", {}, ex.map((e) => h("tr", {}, h("td", { class: "mono" }, e.device_id), h("td", {}, badge(e.status)),
      h("td", { class: "small" }, e.error || (e.detail?.mismatch ? `mismatch: ${JSON.stringify(e.detail.mismatch)}` : ""),
        // a device behind NAT: its task waits in the ACS's queue for its next inform (issue 46)
        e.detail?.waiting_for_inform ? h("div", { class: "badge b-warn", "data-testid": "waiting-for-inform" },
          e.detail.waiting_for_inform.due_at ? `waiting for its next inform (due ${fmtTime(e.detail.waiting_for_inform.due_at)})`
            : "waiting for its next inform") : null,
        e.finished_at ? h("div", { class: "muted" }, fmtTime(e.finished_at)) : null)))));
}

function approvalsSection(detail) {
  const a = detail.approvals || [];
  if (!a.length) return null;
  return h("ul", {}, a.map((x) => h("li", {}, badge(x.verdict === "approve" ? "approved" : "rejected"), ` ${x.actor}`,
    x.role ? h("span", { class: "muted" }, ` as ${x.role}`) : null, x.comment ? ` — “${x.comment}”` : "",
    h("span", { class: "muted small" }, ` ${fmtTime(x.created_at)}`), x.current ? null : h("span", { class: "badge" }, "for an earlier version"))));
}

function logSection(detail) {
  const log = detail.log || [];
  if (!log.length) return null;
  return h("details", {}, h("summary", {}, `execution log (${log.length} audit events)`),
    h("table", {}, h("tbody", {}, log.map((e) => h("tr", {}, h("td", { class: "mono small" }, `#${e.seq}`), h("td", { class: "small" }, fmtTime(e.ts)),
      h("td", {}, e.actor), h("td", {}, e.action), h("td", { class: "mono small" }, e.device_id || ""))))));
}

function backupSection(detail) {
  const b = detail.backup || [];
  if (!b.length) return null;
  return h("details", {}, h("summary", {}, `backup of ${b.length} device${b.length === 1 ? "" : "s"}`),
    b.map((x) => h("div", {}, h("div", { class: "mono small" }, x.device_id),
      h("table", {}, h("tbody", {}, Object.entries(x.params || {}).map(([path, v]) => h("tr", {},
        h("td", { class: "path" }, path), h("td", { class: "mono" }, v.secret ? "(secret, not kept: cannot be restored)" : fmtValue(v.value)))))))));
}

// What an approval did, in words: "approved — ready to apply", or who else must still approve.
function approvedText(d) {
  const p = d.proposal;
  if (p.state === "approved") return `you approved ${p.id}: it is ready to apply`;
  if (p.state === "awaiting_approval") {
    const approvals = (d.approvals || []).filter((a) => a.verdict === "approve" && a.current).map((a) => a.role);
    const waiting = (d.decision?.approvals_required || []).map((r) => r.role).filter((r) => !approvals.includes(r));
    return `you approved ${p.id}: it still needs ${waiting.length ? waiting.map((r) => withArticle(r.replaceAll("_", " "))).join(" and ") : "another approval"}`;
  }
  return `you approved ${p.id}: it is now ${p.state.replaceAll("_", " ")}`;
}

// A proposal whose not_before is still ahead: pressing Apply asks the worker to start it then.
const scheduledAhead = (p) => Boolean(p.not_before) && new Date(p.not_before) > new Date();

// What pressing Apply came to, in words (never "apply ended: approved" for a scheduled write).
function applyWords(p) {
  if (p.state === "done") return "applied and verified";
  if (p.state === "approved" && p.start_requested_by && p.not_before) {
    return `scheduled: it starts at ${fmtTime(p.not_before, { zone: true })}; nothing was written yet`;
  }
  return `apply ended: ${p.state.replaceAll("_", " ")}${p.error ? ` — ${p.error}` : ""}`;
}

// The action bar. `onChange(detail)` re-renders with what the server answered.
function actions(detail, me, onChange) {
  const p = detail.proposal;
  const bar = h("div", { class: "stack", "data-testid": "actions" });
  const mine = me && p.author === me.id;
  const run = async (btn, label, fn) => {
    btn.disabled = true;
    const old = btn.textContent;
    btn.textContent = label;
    try {
      const d = await fn();
      onChange(d);
      return d;
    } catch (e) {
      toast(`${e.message}`, "bad");
      btn.disabled = false;
      btn.textContent = old;
      if (e.status === 409) onChange(await api.get(`/api/proposals/${p.id}`));
      return null;
    }
  };
  const myApproval = (detail.approvals || []).find((a) => me && a.actor === me.id && a.verdict === "approve" && a.current);
  if (p.state === "awaiting_approval" && myApproval) {
    // a partial approval: the buttons give way to who must still sign (a second submit is a 409)
    bar.append(h("p", { class: "warn", "data-testid": "still-needs" }, approvedText(detail)));
  } else if (p.state === "awaiting_approval" && hasRole(me, REVIEW_ROLES)) {
    if (mine) {
      bar.append(h("p", { class: "muted" }, "You wrote this proposal: a different approver must review it."));
    } else {
      const comment = h("textarea", { rows: 2, placeholder: "comment (required to reject)", "data-testid": "review-comment", maxlength: 2000 });
      const approveBtn = h("button", { class: "approve", "data-testid": "approve", title: "approve (a)" }, "Approve");
      const rejectBtn = h("button", { class: "reject", "data-testid": "reject", title: "reject (r)" }, "Reject");
      approveBtn.addEventListener("click", () => run(approveBtn, "approving…",
        () => api.post(`/api/proposals/${p.id}/approve`, { hash: p.hash, comment: comment.value.trim() })).then((d) => d && toast(approvedText(d), "ok")));
      rejectBtn.addEventListener("click", () => {
        if (!comment.value.trim()) { comment.focus(); toast("say why you reject it (comment)", "bad"); return; }
        run(rejectBtn, "rejecting…", () => api.post(`/api/proposals/${p.id}/reject`, { reason: comment.value.trim() }));
      });
      comment.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          const btn = bar.dataset.intent === "reject" ? rejectBtn : approveBtn;
          if (!btn.disabled) btn.click(); // one submit: Ctrl+Enter while a verdict is on its way does nothing
        }
        if (ev.key === "Escape") { comment.blur(); delete bar.dataset.intent; }
      });
      bar.append(h("label", { class: "muted small" }, `You are approving content ${p.hash.slice(0, 12)}… — if it changes, the server refuses.`),
        comment, h("div", { class: "row" }, approveBtn, rejectBtn));
    }
  }
  if (p.source === "campaign") {
    // a campaign's one staged proposal is applied ring by ring from its campaign, never here
    const link = h("a", { "data-testid": "campaign-link" }, "its campaign");
    api.get("/api/campaigns", { limit: 500 }).then((res) => {
      const c = res.items.find((x) => x.proposal_id === p.id);
      if (c) { link.href = `#/campaigns/${encodeURIComponent(c.id)}`; link.textContent = `campaign “${c.name}” (${c.state})`; }
    }).catch(() => {});
    bar.append(h("p", { "data-testid": "campaign-proposal" }, "This is a campaign's proposal: it is started, promoted and rolled back from ",
      link, p.state === "approved" ? ", which can now be started." : "."));
  } else if (p.state === "approved" && scheduledAhead(p) && p.start_requested_by) {
    // asked to start at its time: nothing to press again, the worker applies it then
    bar.append(h("p", { "data-testid": "apply-scheduled" }, `Scheduled: the worker applies it at ${fmtTime(p.not_before, { zone: true })}, `
      + `for ${p.start_requested_by}, with every gate checked again then.`));
  } else if (p.state === "approved" && hasRole(me, APPLY_ROLES)) {
    const ahead = scheduledAhead(p);
    const applyBtn = h("button", { class: "primary", "data-testid": "apply" }, ahead
      ? `Apply at ${fmtTime(p.not_before, { zone: true })} (backup → write → verify then)` : "Apply (backup → write → verify)");
    applyBtn.addEventListener("click", async () => {
      // Show the real state while the server works: poll the proposal until apply returns.
      let live = true;
      const poll = async () => {
        while (live) {
          await new Promise((r) => setTimeout(r, 700));
          if (!live) break;
          try { const d = await api.get(`/api/proposals/${p.id}`); if (live && IN_FLIGHT.includes(d.proposal.state)) onChange(d, { keepBusy: true }); } catch { /* next tick */ }
        }
      };
      poll();
      const d = await run(applyBtn, ahead ? "scheduling…" : "applying…", () => api.post(`/api/proposals/${p.id}/apply`));
      live = false;
      if (d) toast(applyWords(d.proposal), ["done", "approved"].includes(d.proposal.state) ? "ok" : "bad");
    });
    bar.append(h("div", { class: "row" }, applyBtn));
  }
  if (p.state === "done" && p.source !== "campaign" && hasRole(me, [...REVIEW_ROLES, "admin"])) {
    const reason = h("input", { placeholder: "reason to roll back", maxlength: 2000, "data-testid": "rollback-reason" });
    const rb = h("button", { "data-testid": "rollback" }, "Roll back");
    rb.addEventListener("click", () => {
      if (!reason.value.trim()) { reason.focus(); toast("say why (reason)", "bad"); return; }
      run(rb, "rolling back…", () => api.post(`/api/proposals/${p.id}/rollback`, { reason: reason.value.trim() }));
    });
    bar.append(h("div", { class: "row" }, reason, rb));
  }
  if (mine && ["awaiting_approval", "approved", "denied", "invalid", "draft"].includes(p.state)) {
    const cancel = h("button", { "data-testid": "cancel" }, "Cancel proposal");
    cancel.addEventListener("click", () => run(cancel, "cancelling…", () => api.post(`/api/proposals/${p.id}/cancel`, { reason: "cancelled in the console" })));
    bar.append(h("div", { class: "row" }, cancel));
  }
  return bar.childElementCount ? bar : null;
}

// What the agent asked, as the planner understood it, with its time and conditions (issue 44): the approver
// signs off on these too (they are part of the hash).
function requestSection(p) {
  const rows = [];
  if (p.readback) rows.push(h("p", { "data-testid": "proposal-readback" }, h("span", { class: "muted" }, "asked: "), p.readback));
  if (p.not_before) {
    const waiting = scheduledAhead(p);
    rows.push(h("p", { "data-testid": "proposal-not-before", class: waiting ? "badge b-busy" : "" },
      `not before ${fmtTime(p.not_before, { zone: true })}` + (waiting ? (p.start_requested_by ? ` — ${p.start_requested_by} asked it to start then; the worker starts it`
        : " — waits for its time") : "")));
  }
  if ((p.preconditions || []).length) {
    rows.push(h("div", { "data-testid": "proposal-preconditions" }, h("span", { class: "muted" }, "only if (read again when the write starts): "),
      h("ul", {}, ...p.preconditions.map((c) => h("li", {}, c.text)))));
  }
  return rows.length ? [h("h3", {}, "request"), ...rows] : null;
}

export function renderProposal(detail, { me, onChange, compact = false } = {}) {
  const p = detail.proposal;
  const inFlight = IN_FLIGHT.includes(p.state);
  const root = h("article", { class: "card proposal", "data-testid": "proposal", "data-proposal-id": p.id, "data-state": p.state },
    h("div", { class: "row spread" },
      h("div", {}, h("strong", { "data-testid": "proposal-intent" }, p.intent), " ",
        h("a", { href: `#/approvals/${encodeURIComponent(p.id)}`, class: "mono small" }, p.id)),
      badge(p.state)),
    h("p", { class: "muted small" }, `by ${p.author} · ${p.source} · ${fmtTime(p.created_at)} · updated ${ago(p.updated_at)} · hash ${String(p.hash).slice(0, 12)}`),
    inFlight ? h("p", { class: "badge b-busy" }, "a change is in flight on the device — this page updates by itself") : null,
    p.error && !["denied", "invalid"].includes(p.state) ? h("p", { class: p.state === "failed" ? "error" : "muted" }, p.error) : null,
    p.rationale ? h("p", {}, h("span", { class: "muted" }, "why: "), p.rationale) : null,
    requestSection(p),
    perDeviceSection(detail) ? [h("h3", {}, `values per device (${p.per_device.length} devices, each its own)`), perDeviceSection(detail)] : null,
    h("h3", {}, "change, per device"), diffSection(detail),
    h("h3", {}, "policy verdict"), verdictSection(detail),
    executionsSection(detail) ? [h("h3", {}, "execution"), executionsSection(detail)] : null,
    approvalsSection(detail) ? [h("h3", {}, "reviews"), approvalsSection(detail)] : null,
    compact ? null : [h("h3", {}, "evidence"), evidenceSection(p), h("h3", {}, "blast radius"), blastSection(detail.blast_radius)],
    compact ? null : [backupSection(detail), logSection(detail)],
  );
  const bar = actions(detail, me, onChange || (() => {}));
  if (bar) root.append(h("h3", {}, "actions"), bar);
  return root;
}

// Re-render a proposal in place as its state moves; stops polling once it is terminal.
export function liveProposal(container, pid, me, opts = {}) {
  let stopped = false;
  let last = null;
  const TERMINAL = ["done", "rolled_back", "failed", "rejected", "denied", "invalid", "cancelled"];
  const render = (d) => {
    last = d;
    fill(container, renderProposal(d, { me, onChange: render, compact: opts.compact }));
    opts.onState?.(d);
  };
  const moved = (d) => !last || d.proposal.state !== last.proposal.state || d.proposal.updated_at !== last.proposal.updated_at
    || (d.executions || []).length !== (last.executions || []).length
    || (d.executions || []).some((e, i) => e.status !== last.executions[i]?.status);
  const tick = async () => {
    while (!stopped) {
      try {
        const d = await api.get(`/api/proposals/${encodeURIComponent(pid)}`);
        if (moved(d)) render(d);
        if (TERMINAL.includes(d.proposal.state)) break;
      } catch (e) {
        if (e.status === 404 || e.status === 401) break;
      }
      await new Promise((r) => setTimeout(r, opts.interval || 1500));
    }
  };
  tick();
  // refresh(): the change feed says this proposal moved (e.g. rolled back after it was done).
  const refresh = async () => {
    if (stopped) return;
    try {
      const d = await api.get(`/api/proposals/${encodeURIComponent(pid)}`);
      if (moved(d)) render(d); // unchanged: keep the element (and whatever the person is reading)
    } catch { /* the poll goes on */ }
  };
  return { stop() { stopped = true; }, refresh, get detail() { return last; } };
}

export { presenceBadge };
