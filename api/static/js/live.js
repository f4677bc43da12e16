// The change feed: one GET /api/events stream per page. Each `change` frame (what moved: the
// proposals, devices and actions of new audit events) is re-dispatched as a window event; views
// re-read what they show. After a reconnect the views get a `resync` (something may have moved
// while the stream was down), so no list stays stale.
//
// Honest state (issue 39): the header says "live" only while frames arrive. The server says in its
// `hello` how often it sends a keep-alive (GATEWARD_LIVE_HEARTBEAT_S, 15 s by default); a stream
// silent for two of them and 5 s (a server stopped, a network gone without a reset) is given up and
// retried, and any request that cannot reach the server says so at once.
// While it is down the header says the server is unreachable and when it retries; a click retries now.

import * as api from "./api.js";

const STALL_MS = 35000;  // until a server says its heartbeat (an older one sends every 15 s)
let stallMs = STALL_MS;
let controller = null;
let attempt = null;  // the current connection attempt's controller (aborted to retry now)
let wake = null;  // ends the wait before the next retry
let lastSeq = 0;
let refusedWhy = "";  // the server refused this page a stream (429: too many of this person's pages open)
const subscribers = new Set();

function setStatus(state, retryMs = 0) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = state;
  el.dataset.stallMs = String(stallMs);  // how long a silent stream is given before it is retried
  const secs = Math.round(retryMs / 1000);
  const retry = `retrying${secs ? ` in ${secs} s` : "…"}`;
  el.textContent = state === "live" ? "● live" : state === "connecting" ? "○ connecting…"
    : refusedWhy ? `○ not live: too many pages open — ${retry}` : `○ server unreachable — ${retry}`;
  el.title = state === "live" ? "this page updates by itself as changes happen"
    : refusedWhy ? `${refusedWhy}. What you see may be out of date. Click to retry now.`
    : "the server does not answer; what you see may be out of date. Click to retry now.";
}

function deliver(change) {
  for (const fn of [...subscribers]) {
    try { fn(change); } catch (e) { console.warn("change handler failed", e); }
  }
}

// Subscribe to changes; `fn({ proposals, devices, actions, resync })`. Returns the unsubscribe.
export function onChange(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

export function touches(change, { proposal, device, prefix } = {}) {
  if (change.resync) return true;
  if (proposal && change.proposals?.includes(proposal)) return true;
  if (device && change.devices?.includes(device)) return true;
  if (prefix && change.actions?.some((a) => a.startsWith(prefix))) return true;
  return false;
}

export function startFeed() {
  if (controller) return;
  controller = new AbortController();
  const signal = controller.signal;
  const el = document.getElementById("live-status");
  el?.addEventListener("click", () => { if (el.dataset.state !== "live") wake?.(); });
  // A request elsewhere on the page could not reach the server: the stream is suspect too.
  window.addEventListener("gateward:unreachable", () => { if (el?.dataset.state === "live") attempt?.abort(); });
  (async () => {
    let delay = 500;
    let connected = false;
    while (!signal.aborted) {
      attempt = new AbortController();
      const mine = attempt;
      const stop = () => mine.abort();
      signal.addEventListener("abort", stop);
      let stall = setTimeout(stop, stallMs);
      const alive = () => { clearTimeout(stall); stall = setTimeout(stop, stallMs); };
      const began = Date.now();
      let ended = false;
      try {
        await api.listen("/api/events", (kind, data) => {
          if (kind === "hello") {
            lastSeq = data.seq;
            if (data.heartbeat_s > 0) stallMs = 2 * data.heartbeat_s * 1000 + 5000;
            alive();
            if (connected) deliver({ resync: true, proposals: [], devices: [], actions: [] });
            connected = true;
            delay = 500;
            setStatus("live");
          } else if (kind === "change") {
            lastSeq = data.seq;
            deliver({ ...data, resync: false });
          } else if (kind === "unauthorized") {
            window.dispatchEvent(new CustomEvent("gateward:unauthorized"));
          }
        }, mine.signal, lastSeq || undefined, alive);
        ended = true;
        refusedWhy = "";
      } catch (e) {
        if (signal.aborted || e.status === 401) { clearTimeout(stall); return; }
        refusedWhy = e.status === 429 ? e.message : "";
      } finally {
        clearTimeout(stall);
        signal.removeEventListener("abort", stop);
      }
      if (signal.aborted) return;
      // A stream the server ended after a while (max_s) reconnects at once, still "live"; one that
      // failed, stalled or ended at once waits, longer each time, and the header says so.
      if (ended && !mine.signal.aborted && Date.now() - began > 2000) continue;
      const until = Date.now() + delay;
      setStatus("down", delay);
      const tick = setInterval(() => setStatus("down", Math.max(0, until - Date.now())), 1000);
      await new Promise((r) => {
        const t = setTimeout(r, delay);
        wake = () => { clearTimeout(t); r(); };
      });
      clearInterval(tick);
      wake = null;
      if (el?.dataset.state === "down") setStatus("down");  // trying now: "retrying…"
      delay = Math.min(delay * 2, 10000);
    }
  })();
}

export function stopFeed() {
  controller?.abort();
  controller = null;
}
