// The change feed: one GET /api/events stream per page. Each `change` frame (what moved: the
// proposals, devices and actions of new audit events) is re-dispatched as a window event; views
// re-read what they show. After a reconnect the views get a `resync` (something may have moved
// while the stream was down), so no list stays stale.

import * as api from "./api.js";

let controller = null;
let lastSeq = 0;
const subscribers = new Set();

function setStatus(state) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === "live" ? "● live" : "○ reconnecting…";
  el.title = state === "live" ? "this page updates by itself as changes happen" : "the change feed is down; retrying";
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
  (async () => {
    let delay = 500;
    let connected = false;
    while (!signal.aborted) {
      try {
        await api.listen("/api/events", (kind, data) => {
          if (kind === "hello") {
            lastSeq = data.seq;
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
        }, signal, lastSeq || undefined);
      } catch (e) {
        if (signal.aborted || e.status === 401) return;
      }
      setStatus("down");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();
}

export function stopFeed() {
  controller?.abort();
  controller = null;
}
