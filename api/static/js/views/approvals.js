// Approvals: the queue on the left (j/k), the proposal on the right with before → after per
// device, the verdict, risk, evidence and blast radius; a approve / r reject with a comment.

import * as api from "../api.js";
import { ago, badge, clear, h, loading, riskMeter, toast, fill } from "../dom.js";
import { renderProposal } from "../proposal.js";
import { onChange, touches } from "../live.js";

const FILTERS = {
  pending: { label: "Pending approval", states: ["awaiting_approval"] },
  approved: { label: "Approved, not applied", states: ["approved"] },
  inflight: { label: "In flight", states: ["backed_up", "applying", "verifying"] },
  recent: { label: "Finished", states: ["done", "rolled_back", "failed", "rejected", "denied", "invalid", "cancelled"] },
};

export async function approvalsView(root, ctx) {
  const { me } = ctx;
  let filter = "pending";
  let items = [];
  let index = -1;
  let current = null;
  let poll = null;
  const list = h("ul", { class: "list", "data-testid": "queue" });
  const detail = h("div", { "data-testid": "queue-detail" });
  const tabs = h("div", { class: "row" });
  fill(root, h("div", { class: "grid-approvals" },
    h("section", { class: "panel" }, h("h2", {}, "Review queue"), tabs, h("p", { class: "muted small" },
      "j / k to move, a approve, r reject, Ctrl+Enter to confirm"), list),
    h("section", { class: "panel" }, detail)));

  const renderTabs = () => {
    clear(tabs);
    for (const [key, f] of Object.entries(FILTERS)) {
      const b = h("button", { class: key === filter ? "primary" : "", "data-testid": `filter-${key}` }, f.label);
      b.addEventListener("click", () => { filter = key; renderTabs(); load(); });
      tabs.append(b);
    }
  };

  // quiet: a refresh pushed by the change feed — redraw the list, keep the open proposal and
  // whatever the reviewer is typing; never steal focus.
  async function load(keepId, quiet = false) {
    try {
      const res = await api.get("/api/proposals", { state: FILTERS[filter].states, limit: 200 });
      items = res.items;
    } catch (e) { if (!quiet) toast(e.message, "bad"); if (quiet) return; items = []; }
    clear(list);
    if (!items.length) list.append(h("li", { class: "empty" }, "Nothing here. "));
    items.forEach((p, i) => {
      const li = h("li", { tabindex: 0, "data-proposal-id": p.id, "data-testid": "queue-item" },
        h("div", { class: "row spread" }, h("strong", {}, p.intent), badge(p.state)),
        h("div", { class: "row muted small" }, `${p.author} · ${p.target_count} device${p.target_count === 1 ? "" : "s"} · ${ago(p.updated_at)}`,
          riskMeter(p.risk)));
      li.addEventListener("click", () => select(i));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") select(i); });
      list.append(li);
    });
    const want = keepId ? items.findIndex((p) => p.id === keepId) : -1;
    if (quiet) {
      index = want;
      markSelected();
      if (!current && items.length && !ctx.arg) select(0, false);
      return;
    }
    if (want >= 0) select(want, false);
    else if (items.length && !ctx.arg) select(0, false);
    else if (!items.length && !ctx.arg) fill(detail, h("div", { class: "empty" }, "Select a proposal."));
  }

  async function show(pid) {
    fill(detail, loading());
    try {
      const d = await api.get(`/api/proposals/${encodeURIComponent(pid)}`);
      render(d);
    } catch (e) { fill(detail, h("p", { class: "error" }, e.message)); }
  }

  function render(d) {
    current = d;
    fill(detail, renderProposal(d, { me, onChange: (nd) => { render(nd); refreshCount(); load(nd.proposal.id, true); } }));
    markSelected();
  }

  function markSelected() {
    for (const li of list.querySelectorAll("li[data-proposal-id]")) li.classList.toggle("selected", li.dataset.proposalId === current?.proposal.id);
  }

  const typing = () => {
    const active = document.activeElement;
    return active && detail.contains(active) && ["TEXTAREA", "INPUT"].includes(active.tagName);
  };

  // Every change anywhere (another approver, an apply, a campaign): the list is re-read, and the
  // open proposal re-rendered when it is the one that moved.
  const unsubscribe = onChange(async (change) => {
    if (!change.resync && !change.proposals.length) return;
    await load(current?.proposal.id, true);
    if (current && touches(change, { proposal: current.proposal.id }) && !typing()) {
      try {
        const nd = await api.get(`/api/proposals/${encodeURIComponent(current.proposal.id)}`);
        if (nd.proposal.updated_at !== current.proposal.updated_at || nd.proposal.state !== current.proposal.state
            || (nd.executions || []).length !== (current.executions || []).length) render(nd);
      } catch { /* keep the last view */ }
    }
  });

  const LIVE = ["backed_up", "applying", "verifying", "awaiting_approval", "approved"];
  poll = setInterval(async () => {
    if (!current || !LIVE.includes(current.proposal.state)) return;
    if (typing()) return;
    try {
      const nd = await api.get(`/api/proposals/${encodeURIComponent(current.proposal.id)}`);
      if (nd.proposal.updated_at !== current.proposal.updated_at || nd.proposal.state !== current.proposal.state) render(nd);
    } catch { /* keep the last view */ }
  }, 3000);

  function select(i, focus = true) {
    if (i < 0 || i >= items.length) return;
    index = i;
    const li = list.querySelectorAll("li[data-proposal-id]")[i];
    if (li && focus) li.focus();
    if (history.replaceState) history.replaceState(null, "", `#/approvals/${encodeURIComponent(items[i].id)}`);
    show(items[i].id);
  }

  ctx.keys({
    j: () => select(Math.min(items.length - 1, index + 1)),
    k: () => select(Math.max(0, index - 1)),
    a: () => focusReview("approve"),
    r: () => focusReview("reject"),
  });

  function focusReview(intent) {
    const box = detail.querySelector("[data-testid=review-comment]");
    if (!box) { toast(current ? `nothing to ${intent} here (it is ${current.proposal.state.replaceAll("_", " ")})` : "open a proposal first", "bad"); return; }
    box.closest("[data-testid=actions]").dataset.intent = intent;
    box.placeholder = intent === "approve" ? "comment (optional) — Ctrl+Enter approves" : "why you reject it — Ctrl+Enter rejects";
    box.focus();
  }

  renderTabs();
  if (ctx.arg) {
    const pid = decodeURIComponent(ctx.arg);
    await load(pid);
    if (!items.some((p) => p.id === pid)) show(pid);
  } else {
    await load();
  }
  return () => { clearInterval(poll); unsubscribe(); };
}

export async function refreshCount() {
  const el = document.getElementById("queue-count");
  try {
    const res = await api.get("/api/proposals", { state: ["awaiting_approval"], limit: 1 });
    el.textContent = String(res.total);
    el.hidden = res.total === 0;
  } catch { el.hidden = true; }
}
