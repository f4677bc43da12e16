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

// The finished tab: people's changes apart from automation's and from drafts that never validated;
// filtered by author, kind and device, sorted, and paged by the server (PAGE at a time).
const PAGE = 50;
const AUTOMATION_SOURCES = ["remediation", "ztp", "automation", "job"];
function kindOf(p) {
  if (["invalid", "draft"].includes(p.state)) return "invalid";
  if (AUTOMATION_SOURCES.includes(p.source) || /^(system|automation)[:-]/.test(p.author)) return "automation";
  return "people";
}
const KIND_LABEL = { people: "People's changes", automation: "Automation", invalid: "Invalid drafts" };
const SORTS = {
  newest: (a, b) => b.updated_at.localeCompare(a.updated_at),
  oldest: (a, b) => a.updated_at.localeCompare(b.updated_at),
  risk: (a, b) => (b.risk || 0) - (a.risk || 0),
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
  const fin = { author: "", device: "", kind: "all", sort: "newest", offset: 0, total: 0 };
  const finBar = h("div", { class: "stack", "data-testid": "finished-filters", hidden: true });
  fill(root, h("div", { class: "grid-approvals" },
    h("section", { class: "panel" }, h("h2", {}, "Review queue"), tabs, h("p", { class: "muted small" },
      "j / k to move, a approve, r reject, Ctrl+Enter to confirm"), finBar, list),
    h("section", { class: "panel" }, detail)));

  const renderFinBar = () => {
    finBar.hidden = filter !== "recent";
    if (finBar.hidden) return;
    const from = fin.total ? fin.offset + 1 : 0, to = Math.min(fin.offset + PAGE, fin.total);
    const typing = document.activeElement?.tagName === "INPUT" && finBar.contains(document.activeElement);
    if (typing && finBar.childElementCount) {
      // someone is typing a filter: a refresh (theirs, or pushed by the change feed) keeps the
      // inputs and only moves the page count and the pager
      const q = (id) => finBar.querySelector(`[data-testid=${id}]`);
      q("fin-page").textContent = `${from}–${to} of ${fin.total}`;
      q("fin-prev").disabled = fin.offset === 0;
      q("fin-next").disabled = fin.offset + PAGE >= fin.total;
      return;
    }
    const author = h("input", { placeholder: "author", value: fin.author, size: 10, "data-testid": "fin-author" });
    const device = h("input", { placeholder: "device id", value: fin.device, size: 16, "data-testid": "fin-device" });
    const kind = h("select", { "data-testid": "fin-kind" }, ["all", "people", "automation", "invalid"].map((k) =>
      h("option", { value: k, selected: k === fin.kind }, k === "all" ? "every kind" : KIND_LABEL[k])));
    const sort = h("select", { "data-testid": "fin-sort" }, Object.keys(SORTS).map((k) =>
      h("option", { value: k, selected: k === fin.sort }, `sort: ${k === "risk" ? "highest risk" : k}`)));
    const apply = () => { Object.assign(fin, { author: author.value.trim(), device: device.value.trim(), kind: kind.value,
      sort: sort.value, offset: 0 }); load(); };
    for (const el of [author, device]) el.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
    for (const el of [kind, sort]) el.addEventListener("change", apply);
    const prev = h("button", { "data-testid": "fin-prev", disabled: fin.offset === 0 }, "← newer");
    const next = h("button", { "data-testid": "fin-next", disabled: fin.offset + PAGE >= fin.total }, "older →");
    prev.addEventListener("click", () => { fin.offset = Math.max(0, fin.offset - PAGE); load(); });
    next.addEventListener("click", () => { fin.offset += PAGE; load(); });
    fill(finBar, h("div", { class: "row" }, author, device, kind, sort, h("button", { onclick: apply }, "filter")),
      h("div", { class: "row small muted" }, prev, h("span", { "data-testid": "fin-page" }, `${from}–${to} of ${fin.total}`), next));
  };

  const renderTabs = () => {
    clear(tabs);
    for (const [key, f] of Object.entries(FILTERS)) {
      const b = h("button", { class: key === filter ? "primary" : "", "data-testid": `filter-${key}` }, f.label);
      b.addEventListener("click", () => { filter = key; fin.offset = 0; renderTabs(); load(); });
      tabs.append(b);
    }
  };

  // quiet: a refresh pushed by the change feed — redraw the list, keep the open proposal and
  // whatever the reviewer is typing; never steal focus.
  async function load(keepId, quiet = false) {
    const finished = filter === "recent";
    try {
      const res = await api.get("/api/proposals", finished
        ? { state: FILTERS[filter].states, limit: PAGE, offset: fin.offset, author: fin.author, device: fin.device }
        : { state: FILTERS[filter].states, limit: 200 });
      items = res.items;
      if (finished) {
        fin.total = res.total;
        const order = ["people", "automation", "invalid"];
        items = items.filter((p) => fin.kind === "all" || kindOf(p) === fin.kind)
          .sort((a, b) => order.indexOf(kindOf(a)) - order.indexOf(kindOf(b)) || SORTS[fin.sort](a, b));
      }
    } catch (e) { if (!quiet) toast(e.message, "bad"); if (quiet) return; items = []; }
    renderFinBar();
    clear(list);
    if (!items.length) list.append(h("li", { class: "empty" }, "Nothing here. "));
    let group = null;
    items.forEach((p, i) => {
      if (finished && kindOf(p) !== group) { // the group's heading: not a queue item (j/k skip it)
        group = kindOf(p);
        list.append(h("li", { class: "muted small", "data-testid": "queue-group", "data-kind": group }, h("strong", {}, KIND_LABEL[group])));
      }
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
    fill(detail, renderProposal(d, { me, onChange: (nd) => { render(nd); refreshCount(me); load(nd.proposal.id, true); } }),
      secretsFor(d));
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

// The count of proposals awaiting approval, in the nav: only for a person who may approve (an
// auditor or a support agent has nothing to do with it).
export async function refreshCount(me) {
  const el = document.getElementById("queue-count");
  if (!me?.can_approve) { el.hidden = true; return; }
  try {
    const res = await api.get("/api/proposals", { state: ["awaiting_approval"], limit: 1 });
    el.textContent = String(res.total);
    el.hidden = res.total === 0;
  } catch { el.hidden = true; }
}

// What each secret the proposal writes is for (issue 54): its parameter, the network it protects (SSID,
// role, band, as last read), current → new, and the new value's fingerprint — the one the support
// agent saw when they submitted it. Nobody sees the value; the fingerprint tells a mix-up apart.
function secretsFor(d) {
  if (!d.secrets?.length) return null;
  return h("section", { class: "panel", "data-testid": "proposal-secrets" },
    h("h3", {}, "Secrets"),
    h("table", { class: "diff" },
      h("thead", {}, h("tr", {}, ...["device", "parameter", "for", "current → new", "fingerprint"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...d.secrets.map((x) => h("tr", {},
        h("td", {}, x.device_id),
        h("td", {}, x.what, h("div", { class: "muted small" }, x.path)),
        h("td", {}, [x.ssid ? `“${x.ssid}”` : null, x.role, x.band].filter(Boolean).join(" · ") || "—"),
        h("td", { class: "muted small" }, "current (never read back) → new"),
        h("td", {}, h("code", { "data-testid": "secret-fingerprint" }, x.new_fingerprint || "?")))))));
}
