// Support: find the caller's device, see it at a glance, and talk to the planner beside it.
// The planner's steps stream in as they happen; a proposal appears as a live card whose state
// follows the lifecycle (pending approval → approved → applying → applied and verified).

import * as api from "../api.js";
import { ago, badge, clear, fmtValue, h, kv, loading, presenceBadge, toast, fill } from "../dom.js";
import { liveProposal } from "../proposal.js";
import { onChange, touches } from "../live.js";

const state = { deviceId: null, threadId: null, threads: [], cards: new Map(), sending: false, echo: null };

export async function supportView(root, ctx) {
  const { me } = ctx;
  if (ctx.arg) state.deviceId = decodeURIComponent(ctx.arg);
  const search = h("input", { type: "search", placeholder: "device id, subscriber or model  ( / )", "data-testid": "device-search",
    "aria-label": "search devices", "data-focus": "slash" });
  const results = h("ul", { class: "list", "data-testid": "device-results" });
  const panel = h("div", { "data-testid": "device-panel" });
  const log = h("div", { class: "chat-log", "data-testid": "chat-log", role: "log" });
  const input = h("textarea", { placeholder: "Describe the problem, e.g. “Wi-Fi dies every evening” — Enter to send, Shift+Enter for a new line",
    "data-testid": "chat-input", maxlength: 4000, "aria-label": "message to the planner" });
  const send = h("button", { class: "primary", "data-testid": "chat-send" }, "Send");
  const threadSel = h("select", { "data-testid": "thread-select", "aria-label": "conversation" });
  const newBtn = h("button", { "data-testid": "new-thread" }, "New conversation");
  const notice = h("p", { class: "muted small" });

  fill(root, h("div", { class: "grid-support" },
    h("div", { class: "stack" },
      h("section", { class: "panel" }, h("h2", {}, "Find the device"), search, results),
      h("section", { class: "panel" }, panel)),
    h("section", { class: "panel chat" },
      h("div", { class: "row spread" }, h("h2", {}, "Planner"), h("div", { class: "row" }, threadSel, newBtn)),
      notice, log, h("div", { class: "chat-input" }, input, send))));

  // ------------------------------------------------------------------ devices
  let timer = null;
  const runSearch = async () => {
    const q = search.value.trim();
    try {
      const res = await api.get("/api/devices", { q, limit: 15, presence: true });
      clear(results);
      if (!res.items.length) results.append(h("li", { class: "muted" }, "no device matches"));
      for (const d of res.items) {
        const li = h("li", { tabindex: 0, "data-device-id": d.id, class: d.id === state.deviceId ? "selected" : "" },
          h("div", { class: "row spread" }, h("span", { class: "mono" }, d.id), presenceBadge(d.presence)),
          h("div", { class: "muted small" }, `${d.subscriber || "no subscriber"} · ${d.model} ${d.firmware} · ${d.region}`,
            d.busy ? [" · ", badge("busy")] : null));
        const pick = () => selectDevice(d.id);
        li.addEventListener("click", pick);
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
        results.append(li);
      }
    } catch (e) { toast(e.message, "bad"); }
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(runSearch, 200); });

  async function selectDevice(id) {
    state.deviceId = id;
    for (const li of results.querySelectorAll("li")) li.classList.toggle("selected", li.dataset.deviceId === id);
    fill(panel, loading());
    try {
      const d = await api.get(`/api/devices/${encodeURIComponent(id)}`);
      renderDevice(d);
    } catch (e) { fill(panel, h("p", { class: "error" }, e.message)); }
  }

  function renderDevice(d) {
    const dev = d.device;
    const params = Object.fromEntries((d.parameters || []).map((p) => [p.path, p.value]));
    const radios = [];
    for (let i = 1; i <= 4; i++) {
      const band = params[`Device.WiFi.Radio.${i}.OperatingFrequencyBand`];
      if (band === undefined) continue;
      radios.push(h("tr", {}, h("td", {}, band), h("td", { class: "mono" }, fmtValue(params[`Device.WiFi.Radio.${i}.Channel`])),
        h("td", {}, params[`Device.WiFi.Radio.${i}.AutoChannelEnable`] === true || params[`Device.WiFi.Radio.${i}.AutoChannelEnable`] === "true" ? "auto" : "fixed"),
        h("td", { class: "mono" }, fmtValue(params[`Device.WiFi.Radio.${i}.OperatingChannelBandwidth`]))));
    }
    // The same form element across re-renders (live updates), so nothing typed into it is lost.
    if (state.formFor !== dev.id) { state.form = manualForm(dev); state.formFor = dev.id; }
    const form = state.form;
    fill(panel, 
      h("div", { class: "row spread" }, h("h2", { class: "mono" }, dev.id), presenceBadge(d.presence)),
      kv([["subscriber", dev.subscriber || "—"], ["model", `${dev.vendor} ${dev.model}`], ["firmware", dev.firmware],
        ["region · service", `${dev.region} · ${dev.service}`], ["protocol · root", `${dev.protocol} · ${dev.root}`],
        ["last seen", ago(dev.last_seen)], ["compatibility", badge(d.compat?.overall || "yellow")],
        d.busy ? ["in flight", h("span", { "data-testid": "in-flight" }, d.live_proposals.map((p) => h("a", { href: `#/approvals/${p.id}`, class: "mono" }, `${p.id} `)))] : null]),
      radios.length ? [h("h3", {}, "Wi-Fi radios (last snapshot)"), h("table", {}, h("thead", {}, h("tr", {},
        h("th", {}, "band"), h("th", {}, "channel"), h("th", {}, "mode"), h("th", {}, "width"))), h("tbody", {}, radios))] : null,
      h("p", {}, h("a", { href: `#/devices/${encodeURIComponent(dev.id)}`, "data-testid": "open-device" }, "Open the device page (parameters, history, neighbourhood) →")),
      form);
  }

  // A change without the planner: the same gates apply (validate → preview → policy → approval).
  function manualForm(dev) {
    const path = h("input", { placeholder: "Device.WiFi.Radio.2.Channel", "data-testid": "manual-path", maxlength: 256, class: "mono" });
    const value = h("input", { placeholder: "value", "data-testid": "manual-value", maxlength: 256 });
    const intent = h("input", { placeholder: "why (one line)", "data-testid": "manual-intent", maxlength: 300 });
    const go = h("button", { "data-testid": "manual-submit" }, "Propose");
    go.addEventListener("click", async () => {
      if (!path.value.trim() || !intent.value.trim()) { toast("path and why are needed", "bad"); return; }
      let v = value.value.trim();
      if (/^-?\d+$/.test(v)) v = Number(v); else if (v === "true" || v === "false") v = v === "true";
      go.disabled = true;
      try {
        const d = await api.post("/api/proposals", { intent: intent.value.trim(), targets: [dev.id],
          changes: [{ path: path.value.trim(), value: v }], rationale: "entered by hand in the support console" });
        addCard(d.proposal.id);
        const bad = d.proposal.state === "denied" || d.proposal.state === "invalid";
        toast(`proposal ${d.proposal.id}: ${d.proposal.state.replaceAll("_", " ")}${bad && d.proposal.error ? ` — ${d.proposal.error}` : ""}`, bad ? "bad" : "ok");
      } catch (e) { toast(e.message, "bad"); } finally { go.disabled = false; }
    });
    const field = (label, input, hint) => h("label", { class: "field" }, h("span", {}, label), input,
      hint ? h("small", { class: "muted" }, hint) : null);
    return h("details", {}, h("summary", {}, "Propose a change by hand"),
      h("div", { class: "stack", "data-testid": "manual-form" },
        field("Parameter path", path, "TR-181 path, e.g. Device.WiFi.Radio.2.Channel"),
        field("New value", value, "numbers and true / false are sent as such"),
        field("Why", intent, "one line; it goes into the audit trail"), go));
  }

  // ------------------------------------------------------------------ chat
  function bubble(kind, text, who) {
    const el = h("div", { class: `msg ${kind}`, "data-kind": kind, "data-testid": `chat-${kind}` }, who ? h("span", { class: "who" }, who) : null, text);
    log.append(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function addCard(pid) {
    if (state.cards.has(pid)) return state.cards.get(pid);
    const holder = h("div", { "data-testid": "proposal-card" });
    log.append(holder);
    const live = liveProposal(holder, pid, me, { compact: true, onState: () => { log.scrollTop = log.scrollHeight; } });
    state.cards.set(pid, live);
    return live;
  }

  // live: the event arrives on the stream of a message this console just sent (its own words
  // are already on screen); otherwise it is history being replayed.
  function showEvent(ev, live = false) {
    const k = ev.kind;
    if (k === "step" && ev.data?.role === "user") {
      // The server's copy has secrets redacted: it replaces what this console echoed.
      if (live && state.echo) { state.echo.lastChild.textContent = ev.text; state.echo = null; return null; }
      return bubble("user", ev.text, ev.data?.actor || "agent");
    }
    if (k === "step") return bubble("step", ev.text || ev.data?.node || "step");
    if (k === "tool") return bubble("tool", ev.text || `${ev.data?.name}: ${ev.data?.summary || ""}`);
    if (k === "proposal") {
      if (ev.text) bubble("answer", ev.text, "planner");
      if (ev.data?.proposal_id) addCard(ev.data.proposal_id);
      return null;
    }
    if (k === "outcome" && ev.data?.proposal_id) {
      bubble("outcome", ev.text || `proposal ${ev.data.proposal_id}: ${ev.data.state}`, "planner");
      const card = state.cards.get(ev.data.proposal_id);
      if (!card) addCard(ev.data.proposal_id);
      return null;
    }
    if (k === "user" || k === "message") return bubble("user", ev.text, ev.data?.actor || "you");
    if (k === "error") return bubble("error", ev.text || ev.error || "error");
    return bubble(k, ev.text, k === "notice" ? null : "planner");
  }

  async function loadThreads() {
    try {
      const res = await api.get("/api/chat/threads");
      state.threads = res.items;
      notice.textContent = "";
    } catch (e) {
      state.threads = [];
      notice.textContent = e.status === 503 ? "The planner is not available on this server; you can still propose a change by hand (left)." : e.message;
    }
    clear(threadSel);
    threadSel.append(h("option", { value: "" }, "— new conversation —"));
    for (const t of state.threads) {
      threadSel.append(h("option", { value: t.thread_id, selected: t.thread_id === state.threadId },
        `${t.title || t.thread_id} · ${t.status.replaceAll("_", " ")}`));
    }
  }

  async function openThread(tid) {
    state.threadId = tid || null;
    state.cards.forEach((c) => c.stop());
    state.cards.clear();
    clear(log);
    if (!tid) return;
    try {
      const res = await api.get(`/api/chat/threads/${encodeURIComponent(tid)}`);
      for (const ev of res.events) showEvent(ev);
      if (res.thread.device_id && res.thread.device_id !== state.deviceId) selectDevice(res.thread.device_id);
    } catch (e) { toast(e.message, "bad"); }
  }

  async function sendMessage() {
    const text = input.value.trim();
    if (!text || state.sending) return;
    state.sending = true;
    send.disabled = true;
    try {
      if (!state.threadId) {
        // No title from the message: it may hold a passphrase; the server names the thread.
        const t = await api.post("/api/chat/threads", { device_id: state.deviceId });
        state.threadId = t.thread_id;
        await loadThreads();
        threadSel.value = t.thread_id;
      }
      input.value = "";
      state.echo = bubble("user", text, me.id);
      const working = bubble("step", "planner is working…");
      working.classList.add("b-busy");
      await api.stream(`/api/chat/threads/${encodeURIComponent(state.threadId)}/messages`, { text }, (kind, data) => {
        if (kind === "end") return;
        showEvent({ ...data, kind: data.kind || kind }, true);
      });
      working.remove();
      state.echo = null;
      loadThreads();
    } catch (e) {
      bubble("error", e.message);
    } finally {
      state.sending = false;
      send.disabled = false;
      input.focus();
    }
  }

  send.addEventListener("click", sendMessage);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendMessage(); } });
  threadSel.addEventListener("change", () => openThread(threadSel.value));
  newBtn.addEventListener("click", () => { threadSel.value = ""; openThread(null); input.focus(); });

  // The change feed: the device panel ("in flight", radios) and the proposal cards re-read what
  // moved, so nothing says "in flight" after the apply finished.
  async function refreshPanel() {
    const id = state.deviceId;
    const active = document.activeElement;
    if (!id || (active && panel.contains(active) && ["INPUT", "TEXTAREA"].includes(active.tagName))) return;
    try {
      const d = await api.get(`/api/devices/${encodeURIComponent(id)}`);
      if (state.deviceId !== id) return;
      renderDevice(d);
    } catch { /* keep the last view */ }
  }
  const unsubscribe = onChange((change) => {
    // Any proposal change may start or end work on this device (one cheap read per change).
    if (state.deviceId && (touches(change, { device: state.deviceId }) || change.proposals.length)) refreshPanel();
    for (const [pid, card] of state.cards) if (touches(change, { proposal: pid })) card.refresh();
    if (change.resync) runSearch();
  });

  search.value = state.deviceId || "";
  await Promise.all([runSearch(), loadThreads()]);
  if (state.deviceId) selectDevice(state.deviceId);
  if (state.threadId) { threadSel.value = state.threadId; openThread(state.threadId); }
  return () => { unsubscribe(); state.cards.forEach((c) => c.stop()); };
}
