// Faults (issue 39): device writes that did not hold — failed, verify failed (rolled back),
// rollback failed — newest first across the fleet, each with its device, its proposal and why. A
// rollback a person decided on (an abort, a manual rollback) is not a fault (api/fleet_trends.py).

import * as api from "../api.js";
import { badge, fill, fmtTime, h, loading } from "../dom.js";

const enc = encodeURIComponent;

export async function faultsView(root) {
  const body = h("tbody");
  const more = h("button", { "data-testid": "faults-more", hidden: true }, "Older faults");
  let next = null;
  const load = async (append) => {
    if (!append) fill(body, h("tr", {}, h("td", { colspan: 5 }, loading())));
    const res = await api.get("/api/fleet/faults", next && append ? { limit: 50, before: next } : { limit: 50 });
    if (!append) fill(body);
    for (const f of res.items) {
      body.append(h("tr", { "data-testid": "fault-row", "data-execution": f.execution_id },
        h("td", { class: "small" }, fmtTime(f.finished_at)),
        h("td", {}, h("a", { href: `#/devices/${enc(f.device_id)}`, class: "mono" }, f.device_id)),
        h("td", {}, badge(f.status)),
        h("td", {}, h("a", { href: `#/approvals/${enc(f.proposal_id)}` }, f.intent)),
        h("td", { class: "small", "data-testid": "fault-reason" }, f.error || "—")));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "no write has failed")));
    next = res.next; more.hidden = !next;
  };
  more.addEventListener("click", () => load(true));
  fill(root, h("section", { class: "panel" }, h("h2", {}, "Faults"),
    h("p", { class: "muted small" }, "Device writes that did not hold, newest first — failed, failed verification, "
      + "or a rollback that failed: the lifecycle restored each from its backup, or says why it could not. "
      + "A rollback a person decided on (a campaign's abort, a rollback asked for by hand) undid a write that held: "
      + "it is in the audit trail, not here."),
    h("table", { "data-testid": "faults-table" }, h("thead", {}, h("tr", {}, ["when", "device", "outcome", "proposal", "why"].map((c) => h("th", {}, c)))), body),
    more));
  try { await load(false); } catch (e) { fill(body, h("tr", {}, h("td", { colspan: 5, class: "error" }, e.message))); }
  return null;
}
