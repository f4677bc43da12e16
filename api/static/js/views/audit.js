// Audit: the hash-chained trail, filterable by who, what and a time range, newest first, with the
// chain verification and an export of what the filters select (CSV or JSON, with the hashes).

import * as api from "../api.js";
import { clear, fmtTime, h, loading, toast, fill } from "../dom.js";

export async function auditView(root) {
  const field = (name, placeholder) => h("input", { name, placeholder, "aria-label": name, maxlength: 128, "data-testid": `audit-${name}` });
  const filters = [field("proposal", "proposal id"), field("device", "device id"), field("actor", "actor"),
    field("action", "action (e.g. proposal. for a prefix)")];
  // the time range: from (inclusive) and to (exclusive), in the browser's time zone; quick picks fill them
  const from = h("input", { type: "datetime-local", name: "since", "aria-label": "from", "data-testid": "audit-since" });
  const to = h("input", { type: "datetime-local", name: "until", "aria-label": "to (not included)", "data-testid": "audit-until" });
  const pick = h("select", { "aria-label": "time range", "data-testid": "audit-range" },
    [["", "any time"], ["1", "last hour"], ["24", "last 24 h"], ["168", "last 7 days"], ["720", "last 30 days"], ["custom", "from … to …"]]
      .map(([v, label]) => h("option", { value: v }, label)));
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const rangeBox = h("span", { class: "row", hidden: true }, h("label", {}, "from ", from), h("label", {}, "to ", to));
  const csvBtn = h("button", { "data-testid": "audit-export-csv" }, "Export CSV");
  const jsonBtn = h("button", { "data-testid": "audit-export-json" }, "Export JSON");
  const body = h("tbody");
  const more = h("button", { "data-testid": "audit-more" }, "Older events");
  const verifyBtn = h("button", { "data-testid": "audit-verify" }, "Verify the chain");
  const verdict = h("span", { "data-testid": "audit-verdict" });
  let next = null;
  fill(root, h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, "Audit trail"), h("div", { class: "row" }, verdict, verifyBtn)),
    h("div", { class: "row" }, filters),
    h("div", { class: "row" }, pick, rangeBox, h("span", { class: "muted small" }, "export what the filters select:"), csvBtn, jsonBtn),
    h("table", { "data-testid": "audit-table" }, h("thead", {}, h("tr", {}, ["#", "time", "actor", "action", "proposal", "device", "what"].map((c) => h("th", {}, c)))), body),
    h("div", { class: "row" }, more)));

  const iso = (v) => (v ? new Date(v).toISOString() : undefined); // datetime-local is the browser's zone
  const params = () => ({ ...Object.fromEntries(filters.filter((f) => f.value.trim()).map((f) => [f.name, f.value.trim()])),
    since: iso(from.value), until: iso(to.value) });
  async function load(append = false) {
    if (!append) fill(body, h("tr", {}, h("td", { colspan: 7 }, loading())));
    try {
      const res = await api.get("/api/audit", { ...params(), limit: 100, before_seq: append ? next : undefined });
      if (!append) clear(body);
      for (const e of res.items) {
        const what = h("details", {}, h("summary", {}, summarise(e)), h("pre", { class: "json" }, JSON.stringify(e.data, null, 2)),
          h("div", { class: "mono small muted" }, `hash ${e.hash.slice(0, 16)}… prev ${e.prev_hash.slice(0, 16)}…`));
        body.append(h("tr", { "data-testid": "audit-row", "data-action": e.action }, h("td", { class: "mono small" }, e.seq), h("td", { class: "small" }, fmtTime(e.ts)),
          h("td", {}, e.actor), h("td", {}, e.action),
          h("td", {}, e.proposal_id ? h("a", { href: `#/approvals/${encodeURIComponent(e.proposal_id)}`, class: "mono small" }, e.proposal_id) : ""),
          h("td", {}, e.device_id ? h("a", { href: `#/devices/${encodeURIComponent(e.device_id)}`, class: "mono small" }, e.device_id) : ""),
          h("td", { class: "small" }, what)));
      }
      if (!res.items.length && !append) body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "no events match")));
      next = res.next_before_seq;
      more.hidden = !next;
    } catch (e) { toast(e.message, "bad"); }
  }

  let timer = null;
  for (const f of [...filters, from, to]) f.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(false), 250); });
  pick.addEventListener("change", () => {
    rangeBox.hidden = pick.value !== "custom";
    if (pick.value && pick.value !== "custom") { from.value = local(new Date(Date.now() - Number(pick.value) * 3600e3)); to.value = ""; }
    if (!pick.value) { from.value = ""; to.value = ""; }
    load(false);
  });
  for (const [btn, format] of [[csvBtn, "csv"], [jsonBtn, "json"]]) {
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try { toast(`saved ${await api.download("/api/audit/export", { ...params(), format })}`, "ok"); } catch (e) { toast(e.message, "bad"); } finally { btn.disabled = false; }
    });
  }
  more.addEventListener("click", () => load(true));
  verifyBtn.addEventListener("click", async () => {
    verifyBtn.disabled = true;
    fill(verdict, h("span", { class: "badge b-busy" }, "verifying"));
    try {
      const r = await api.get("/api/audit/verify");
      fill(verdict, h("span", { class: `badge ${r.ok ? "b-ok" : "b-bad"}` }, r.message));
    } catch (e) { fill(verdict, h("span", { class: "badge b-bad" }, e.message)); } finally { verifyBtn.disabled = false; }
  });
  await load(false);
  return null;
}

function summarise(e) {
  const d = e.data || {};
  if (d.from && d.to) return `${d.from} → ${d.to}${d.reason ? `: ${d.reason}` : ""}`;
  if (d.status) return `${d.status}${d.error ? `: ${d.error}` : ""}`;
  if (d.intent) return d.intent;
  if (d.comment) return `“${d.comment}”`;
  if (d.reason) return d.reason;
  return Object.keys(d).slice(0, 4).join(", ") || "—";
}
