// Support: find the caller's device, see it at a glance, and talk to the planner beside it.
// The planner's steps stream in as they happen, folded under "how I checked" in words; a proposal
// appears as a live card whose state follows the lifecycle (pending approval → approved →
// applying → applied and verified), and once applied the new value is read back from the device
// and said. The address (#/support/DEVICE/THREAD) follows what is open, so a reload comes back to
// it. A support agent asks for a rollback (an approver decides); an outage upstream is said above
// the device, with an "escalate" that opens a case for the PON port / OLT (issue 39).

import * as api from "../api.js";
import { badge, clear, fmtValue, h, kv, loading, lastHeard, plural, presenceBadge, presenceNow, stateWords, toast, fill } from "../dom.js";
import { hasRole, liveProposal, REVIEW_ROLES } from "../proposal.js";
import { onChange, touches } from "../live.js";

const state = { deviceId: null, threadId: null, threads: [], cards: new Map(), sending: false, echo: null, steps: null };

// The planner's graph steps, in words (a step with its own text keeps it).
const STEP_WORDS = {
  message: "Read your message", understand: "Worked out what you asked", gather: "Read the device's facts and recent history",
  diagnose: "Looked for what is wrong", draft: "Drafted a change", self_check: "Checked the draft against policy before proposing it",
  present: "Put the proposal in front of you", await_decision: "Waited for the approvers' decision",
  apply: "Backed up the device, applied and read it back", report: "Reported the outcome",
};

// #/support/DEVICE/THREAD: what is open, in the address (replaceState: no re-route, no history spam).
function remember() {
  const parts = ["#/support"];
  if (state.deviceId) parts.push(encodeURIComponent(state.deviceId));
  if (state.deviceId && state.threadId) parts.push(encodeURIComponent(state.threadId));
  const want = parts.join("/");
  if (location.hash !== want && location.hash.startsWith("#/support")) history.replaceState(null, "", want);
}

// "Device.WiFi.Radio.1.Channel" → "Channel"; "TransmitPower" → "Transmit power".
// A thread in the list: its proposal's state now when it has one (the planner's own status is
// as its last turn left it: "awaiting approval" after the change was approved and verified).
function threadWords(t) {
  return t.proposal_state ? `change ${stateWords(t.proposal_state)}` : t.status.replaceAll("_", " ");
}

// A parameter in words, with the object it belongs to when that is a numbered one: "DNS server 2",
// "Radio 1 channel", "SSID 3 SSID" — two servers never read as the same "Dnsserver".
export function paramWords(path) {
  const segs = path.split(".").filter(Boolean);
  const leaf = segs.pop() || path;
  const words = (name) => name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(" ").map((w) => (/^[A-Z0-9]{2,}$/.test(w) ? w : w.toLowerCase())).join(" ");
  const n = segs.length >= 2 && /^\d+$/.test(segs[segs.length - 1]) ? segs[segs.length - 1] : null;
  const obj = n ? words(segs[segs.length - 2]) : null;
  const leafWords = words(leaf);
  let out;
  if (!obj) out = leafWords;
  else if (leafWords.toLowerCase().endsWith(obj.toLowerCase())) out = `${leafWords} ${n}`;  // Server.2.DNSServer: "DNS server 2"
  else out = `${obj} ${n} ${leafWords}`;
  return out.charAt(0).toUpperCase() + out.slice(1);
}

export async function supportView(root, ctx) {
  const { me } = ctx;
  if (ctx.arg) {
    const [dev, thread] = ctx.arg.split("/");
    state.deviceId = decodeURIComponent(dev);
    state.threadId = thread ? decodeURIComponent(thread) : null;
  }
  const search = h("input", { type: "search", placeholder: "device id, subscriber or model  ( / )", "data-testid": "device-search",
    "aria-label": "search devices", "data-focus": "slash" });
  const results = h("ul", { class: "list", "data-testid": "device-results" });
  const panel = h("div", { "data-testid": "device-panel" });
  const outage = h("div", { "data-testid": "outage" });
  const log = h("div", { class: "chat-log", "data-testid": "chat-log", role: "log" });
  const input = h("textarea", { placeholder: "Describe the problem, e.g. “Wi-Fi dies every evening” — Enter to send, Shift+Enter for a new line",
    "data-testid": "chat-input", maxlength: 4000, "aria-label": "message to the planner" });
  // The secret field (issue 54): a new Wi-Fi passphrase goes here, never into the message. Sent with
  // the next message as `secret`, cleared at once; the server keeps only its fingerprint in the thread.
  const secretIn = h("input", { type: "password", autocomplete: "new-password", maxlength: 64, "data-testid": "chat-secret",
    placeholder: "secret (Wi-Fi passphrase)", "aria-label": "secret field: a new Wi-Fi passphrase, never typed in the message" });
  const send = h("button", { class: "primary", "data-testid": "chat-send" }, "Send");
  const threadSel = h("select", { "data-testid": "thread-select", "aria-label": "conversation" });
  const newBtn = h("button", { "data-testid": "new-thread" }, "New conversation");
  const notice = h("p", { class: "muted small" });

  fill(root, h("div", { class: "grid-support" },
    h("div", { class: "stack" },
      h("section", { class: "panel" }, h("h2", {}, "Find the device"), search, results),
      h("section", { class: "panel" }, outage, panel)),
    h("section", { class: "panel chat" },
      h("div", { class: "row spread" }, h("h2", {}, "Planner"), h("div", { class: "row" }, threadSel, newBtn)),
      notice, log, h("div", { class: "chat-input" }, input, secretIn, send))));

  // The chat fills the window below where it starts (the bar and a demo banner above it vary), so
  // its input and Send stay on screen at any window height.
  const chat = root.querySelector(".chat");
  const fit = () => { if (chat.isConnected) chat.style.height = `${Math.max(420, window.innerHeight - (chat.getBoundingClientRect().top + window.scrollY) - 12)}px`; };
  fit();
  window.addEventListener("resize", fit);

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
    if (state.deviceId !== id) clear(outage);
    state.deviceId = id;
    remember();
    showUpstream(id);
    for (const li of results.querySelectorAll("li")) li.classList.toggle("selected", li.dataset.deviceId === id);
    fill(panel, loading());
    try {
      const d = await api.get(`/api/devices/${encodeURIComponent(id)}`);
      renderDevice(d);
    } catch (e) { fill(panel, h("p", { class: "error" }, e.message)); }
  }

  function renderDevice(d) {
    // A view no longer on the page renders nothing: the form below is one element shared by every
    // render, and an off-page render would take it off the page.
    if (!panel.isConnected) return;
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
        ["presence", h("span", { "data-testid": "presence-now" }, presenceNow(d.presence))],
        [lastHeard(dev)[0], h("span", { "data-testid": "last-heard" }, lastHeard(dev)[1])], ["compatibility", badge(d.compat?.overall || "yellow")],
        d.busy ? ["in flight", h("span", { "data-testid": "in-flight" }, d.live_proposals.map((p) => h("a", { href: `#/approvals/${p.id}`, class: "mono" }, `${p.id} `)))] : null]),
      radios.length ? [h("h3", {}, "Wi-Fi radios (last snapshot)"), h("table", {}, h("thead", {}, h("tr", {},
        h("th", {}, "band"), h("th", {}, "channel"), h("th", {}, "mode"), h("th", {}, "width"))), h("tbody", {}, radios))] : null,
      h("p", {}, h("a", { href: `#/devices/${encodeURIComponent(dev.id)}`, "data-testid": "open-device" }, "Open the device page (parameters, history, neighbourhood) →")),
      form);
  }

  // ------------------------------------------------------------------ outage upstream
  // When most homes on the same PON port / CMTS are degraded, no setting here helps: say so above
  // the device, and let the agent escalate it (one case for the upstream node).
  async function showUpstream(id) {
    let up;
    try { up = await api.get(`/api/support/devices/${encodeURIComponent(id)}/upstream`); } catch { return; }
    if (state.deviceId !== id) return;
    if (!up.suspected_outage && !up.case) { clear(outage); state.outageKey = null; return; }
    // The change feed asks again on every remediation event: redraw only when the answer moved, and
    // keep the note input across redraws, so what the agent is typing (or clicking) stays put.
    const key = `${id} ${JSON.stringify(up)}`;
    if (key === state.outageKey && outage.firstChild) return;
    state.outageKey = key;
    if (state.outageNoteFor !== id) {
      state.outageNote = h("input", { placeholder: "what callers report (optional)", maxlength: 2000, "data-testid": "escalate-note" });
      state.outageNoteFor = id;
    }
    const note = state.outageNote;
    const where = up.chain.map((n) => n.label || n.id).join(" on ") || up.upstream_id;  // "PON 1/1 on OLT DE-01 Hamburg"
    const go = h("button", { class: "primary", "data-testid": "escalate" }, up.case ? "Add to the case" : "Escalate to the network team");
    go.addEventListener("click", async () => {
      go.disabled = true;
      try {
        const c = await api.post(`/api/support/devices/${encodeURIComponent(id)}/escalate`, { note: note.value.trim() });
        toast(c.added ? `added to case ${c.id}` : `case ${c.id} opened for ${c.device_id}`, "ok");
        note.value = "";
        showUpstream(id);
      } catch (e) { toast(e.message, "bad"); go.disabled = false; }
    });
    fill(outage, h("div", { class: "outage-banner", role: "alert", "data-testid": "outage-banner" },
      h("strong", {}, up.suspected_outage ? "Likely outage upstream" : "Outage case open upstream"),
      h("p", {}, up.suspected_outage
        ? `${up.degraded_siblings} of ${up.siblings} other homes on ${where} are degraded (last ${up.window_hours} h). No setting on this gateway will fix that: tell the caller, and escalate.`
        : `${where}: the homes around it look better now; the case stays open until the network team closes it.`),
      up.case ? h("p", { "data-testid": "outage-case" }, "Case ", h("a", { href: "#/remediation", class: "mono" }, up.case.id),
        ` is ${up.case.status} for ${up.case.device_id} (${plural((up.case.evidence?.escalations || []).length, "escalation")}).`) : null,
      h("div", { class: "row" }, note, go)));
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
        const d = await api.create("/api/proposals", { intent: intent.value.trim(), targets: [dev.id],
          changes: [{ path: path.value.trim(), value: v }], rationale: "entered by hand in the support console",
          record_invalid: false });
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
    if (kind === "user") state.steps = null;  // the next turn's steps get a fold of their own
    return el;
  }

  // The planner's steps and tool calls of one turn, folded under "how I checked" (closed: the
  // answer is what the agent reads first; the steps are there to check it).
  function step(kind, text) {
    if (!state.steps || !state.steps.isConnected) {
      const list = h("ol", { class: "steps" });
      const summary = h("summary", {}, "How I checked");
      const fold = h("details", { class: "how-checked", "data-testid": "how-checked" }, summary, list);
      log.append(fold);
      state.steps = { fold, list, summary, n: 0, get isConnected() { return fold.isConnected; } };
    }
    const g = state.steps;
    g.n += 1;
    g.summary.textContent = `How I checked · ${g.n} step${g.n === 1 ? "" : "s"}`;
    const li = h("li", { class: kind, "data-testid": `chat-${kind}` }, text);
    g.list.append(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function stepWords(ev) {
    const node = ev.data?.node;
    const words = STEP_WORDS[node];
    if (ev.text && ev.text !== node) return words ? `${words}: ${ev.text}` : ev.text;
    return words || ev.text || node || "step";
  }

  // After an apply: the new value read back from the device, said in words, with when it was verified.
  const said = new Set();
  async function readBack(d) {
    const p = d.proposal;
    if (p.state !== "done" || said.has(p.id)) return;
    said.add(p.id);
    const dev = p.targets.includes(state.deviceId) ? state.deviceId : p.targets[0];
    const ex = (d.executions || []).find((e) => e.device_id === dev && e.status === "verified");
    if (!dev || !ex) return;
    const at = new Date(ex.finished_at || p.updated_at).toLocaleTimeString("en-GB");
    const lines = [];
    for (const c of p.changes || []) {
      if (/AutoChannelEnable$/.test(c.path) && (p.changes || []).length > 1) continue;  // the channel says it
      let value = null;
      try {
        const r = await api.get(`/api/devices/${encodeURIComponent(dev)}/parameters`, { live: true, prefix: c.path });
        value = (r.live || []).find((x) => x.path === c.path)?.value ?? null;
      } catch { /* unreadable now: say what was verified */ }
      const secret = value === "********" || /Passphrase|Password|PreSharedKey/i.test(c.path);
      lines.push(secret ? `${paramWords(c.path)} changed, verified ${at}`
        : value === null ? `${paramWords(c.path)} was set to ${fmtValue(c.value)} and verified ${at}; the device cannot be read right now`
          : `${paramWords(c.path)} is now ${fmtValue(value)}, verified ${at}`);
    }
    if (lines.length) bubble("readback", lines.join("\n"), `read back from ${dev}`);
  }

  // A support agent may not roll an applied change back; they ask, and an approver decides.
  function rollbackRequest(holder, d) {
    const p = d.proposal;
    holder.querySelector("[data-testid=request-rollback]")?.remove();
    if (p.state !== "done" || p.source === "campaign" || hasRole(me, [...REVIEW_ROLES, "admin"])) return;
    const dev = p.targets.includes(state.deviceId) ? state.deviceId : p.targets[0];
    const reason = h("input", { placeholder: "why (the caller's words)", maxlength: 2000, "data-testid": "rollback-request-reason" });
    const go = h("button", { "data-testid": "rollback-request-send" }, "Send to an approver");
    go.addEventListener("click", async () => {
      if (!reason.value.trim()) { reason.focus(); toast("say why it should be rolled back", "bad"); return; }
      go.disabled = true;
      try {
        const r = await api.post("/api/support/rollback-requests", { proposal_id: p.id, device_id: dev, reason: reason.value.trim() });
        const st = r.proposal.state;
        const waits = st === "awaiting_approval";
        toast(`rollback requested: ${r.proposal.id} is ${st.replaceAll("_", " ")}`, waits ? "ok" : "bad");
        bubble("notice", waits
          ? `Rollback of ${p.id} requested as ${r.proposal.id}; it waits for an approver — nothing changes on the device until then.`
          : `Rollback of ${p.id} requested as ${r.proposal.id}, but it is ${st.replaceAll("_", " ")}${r.proposal.error ? `: ${r.proposal.error}` : ""} — nothing changes on the device.`);
        addCard(r.proposal.id);
        fold.open = false;
      } catch (e) { toast(e.message, "bad"); go.disabled = false; }
    });
    const fold = h("details", { class: "request-rollback", "data-testid": "request-rollback" },
      h("summary", {}, "Request rollback"),
      h("p", { class: "muted small" }, "An approver decides; the old values are put back only after they approve."),
      h("div", { class: "row" }, reason, go));
    holder.append(fold);
  }

  function addCard(pid) {
    if (state.cards.has(pid)) return state.cards.get(pid);
    const holder = h("div", { "data-testid": "proposal-card" });
    const card = h("div", {});
    holder.append(card);
    log.append(holder);
    const live = liveProposal(card, pid, me, { compact: true, onState: (d) => {
      rollbackRequest(holder, d);
      readBack(d);
      log.scrollTop = log.scrollHeight;
    } });
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
    if (k === "step") return step("step", stepWords(ev));
    if (k === "tool") return step("tool", ev.text || `${ev.data?.name}: ${ev.data?.summary || ""}`);
    if (k === "secret") {
      // a passphrase Gateward generated: shown this once, in this stream only (never stored)
      const b = bubble("answer", ev.text, "planner");
      b.append(h("p", {}, h("code", { "data-testid": "generated-secret" }, ev.data?.value || "")));
      return b;
    }
    if (k === "question" && ev.data?.secret_field && live) { secretIn.classList.add("wanted"); secretIn.focus(); }
    if (k === "proposal") {
      if (ev.text) bubble("answer", ev.text, "planner");
      for (const x of ev.data?.secrets || []) {
        bubble("secret-for", `secret: ${x.what} of ${[x.ssid ? `“${x.ssid}”` : null, x.role, x.band].filter(Boolean).join(" · ") || x.path}`
          + ` — fingerprint ${x.new_fingerprint || "?"} (the approver sees the same)`, "planner");
      }
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
        `${t.title || t.thread_id} · ${threadWords(t)}`));
    }
  }

  async function openThread(tid) {
    state.threadId = tid || null;
    remember();
    state.cards.forEach((c) => c.stop());
    state.cards.clear();
    said.clear();
    state.steps = null;
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
    const secret = secretIn.value;
    if ((!text && !secret) || state.sending) return;
    secretIn.value = "";  // never kept in the page past this send
    secretIn.classList.remove("wanted");
    state.sending = true;
    send.disabled = true;
    try {
      if (!state.threadId) {
        // No title from the message: it may hold a passphrase; the server names the thread.
        const t = await api.post("/api/chat/threads", { device_id: state.deviceId });
        state.threadId = t.thread_id;
        remember();
        await loadThreads();
        threadSel.value = t.thread_id;
      }
      input.value = "";
      state.echo = bubble("user", text || "(secret)", me.id);
      const working = bubble("step", "planner is working…");
      working.classList.add("b-busy");
      await api.stream(`/api/chat/threads/${encodeURIComponent(state.threadId)}/messages`, secret ? { text, secret } : { text }, (kind, data) => {
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
  secretIn.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); sendMessage(); } });
  threadSel.addEventListener("change", () => openThread(threadSel.value));
  newBtn.addEventListener("click", () => { threadSel.value = ""; openThread(null); input.focus(); });

  // The change feed: the device panel ("in flight", radios) and the proposal cards re-read what
  // moved, so nothing says "in flight" after the apply finished.
  // Not while the person types in the panel: a render re-attaches the form, and an input taken
  // off the page loses focus — the keys after it went nowhere. Checked again once the read is
  // back, since they may have started typing while it was on its way.
  const typing = () => {
    const active = document.activeElement;
    return Boolean(active && panel.contains(active) && ["INPUT", "TEXTAREA"].includes(active.tagName));
  };
  async function refreshPanel() {
    const id = state.deviceId;
    if (!id || typing()) return;
    try {
      const d = await api.get(`/api/devices/${encodeURIComponent(id)}`);
      if (state.deviceId !== id || typing()) return;
      renderDevice(d);
    } catch { /* keep the last view */ }
  }
  const unsubscribe = onChange((change) => {
    // Any proposal change may start or end work on this device (one cheap read per change).
    if (state.deviceId && (touches(change, { device: state.deviceId }) || change.proposals.length)) refreshPanel();
    if (state.deviceId && (change.resync || change.actions?.some((a) => a.startsWith("remediation.")))) showUpstream(state.deviceId);
    for (const [pid, card] of state.cards) if (touches(change, { proposal: pid })) card.refresh();
    if (change.resync) runSearch();
  });

  search.value = state.deviceId || "";
  await Promise.all([runSearch(), loadThreads()]);
  if (state.deviceId) selectDevice(state.deviceId);
  if (state.threadId) { threadSel.value = state.threadId; openThread(state.threadId); }
  return () => { unsubscribe(); state.cards.forEach((c) => c.stop()); window.removeEventListener("resize", fit); };
}
