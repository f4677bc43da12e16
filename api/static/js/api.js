// The API client: a bearer token from localStorage, or the session cookie of a person who signed in
// (then every request carries the session's X-CSRF-Token, from /auth/session), JSON in and out, errors as ApiError with the
// server's own words ({"error", "detail"}), and server-sent events read from a fetch stream
// (EventSource cannot POST or send an Authorization header).

const TOKEN_KEY = "gateward.token";

export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(t) { localStorage.setItem(TOKEN_KEY, t); }
export function clearToken() { localStorage.removeItem(TOKEN_KEY); }

let csrf = "";  // set while the console runs on a session cookie (docs/auth.md)
export function setCsrf(t) { csrf = t || ""; }
export function onSession() { return !token() && Boolean(csrf); }

function headers(extra = {}) {
  const hd = { Accept: "application/json", ...extra };
  const t = token();
  if (t) hd.Authorization = `Bearer ${t}`;
  else if (csrf) hd["X-CSRF-Token"] = csrf;
  return hd;
}

async function parse(res) {
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: "http_error", detail: text.slice(0, 200) }; }
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent("gateward:unauthorized"));
    throw new ApiError(res.status, body?.error, body?.detail || `HTTP ${res.status}`, body);
  }
  return body;
}

// A request that never reached the server (network down, server gone) says so to the header.
async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (e.name !== "AbortError") window.dispatchEvent(new CustomEvent("gateward:unreachable"));
    throw new ApiError(0, "unreachable", "the server cannot be reached; check your connection — the console retries by itself", null);
  }
}

export async function get(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, v);
  }
  return call(url, { headers: headers() }, true);
}

export async function post(path, body, method = "POST") {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  return call(path, init, false);
}

// A create (POST /api/proposals): sent with an Idempotency-Key of its own, so that the console may
// send it again when the server was too busy to answer (below): a retry gets the first attempt's
// answer, never a second proposal (docs/api.md, "Idempotency-Key").
export async function create(path, body) {
  const init = { method: "POST", body: JSON.stringify(body),
    headers: headers({ "Content-Type": "application/json", "Idempotency-Key": newKey() }) };
  return call(path, init, true);
}

function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));  // randomUUID needs a secure context; this does not
  return `console-${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

// A busy server sheds a request before doing any work (429 too_many_requests: this console has
// too many requests in flight; 503 overloaded: every slot is taken, or the database is saturated),
// and a create sent again while its first attempt runs is told so (409 idempotency_key_in_flight).
// Each says Retry-After. A read, or a create carrying its key, is sent again after that wait, a few
// times, so a busy moment costs the person a short wait rather than a click that did nothing; what
// is still refused after that is shown as the server's own words. Other writes are not repeated:
// their retry is the person's call.
const RETRY_CODES = new Set(["too_many_requests", "overloaded", "idempotency_key_in_flight"]);
const RETRIES = 4;
const MAX_WAIT_S = 10;

async function call(url, init, retryable) {
  for (let attempt = 0; ; attempt++) {
    const res = await send(url, init);
    if (retryable && attempt < RETRIES && [409, 429, 503].includes(res.status)) {
      const body = await res.clone().json().catch(() => null);
      if (RETRY_CODES.has(body?.error)) {
        const s = Number(res.headers.get("retry-after"));
        await new Promise((r) => setTimeout(r, 1000 * Math.min(MAX_WAIT_S, Number.isFinite(s) && s > 0 ? s : 1)));
        continue;
      }
    }
    return parse(res);
  }
}

export const put = (path, body) => post(path, body, "PUT");

// POST and read text/event-stream; calls onEvent(kind, data) per frame. Resolves when the
// stream ends; rejects with ApiError when the server refuses before streaming.
export async function stream(path, body, onEvent, signal) {
  const res = await fetch(path, {
    method: "POST", signal,
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return readStream(res, onEvent);
}

// GET an event stream (the change feed): like stream(), with Last-Event-ID to resume.
// `onBytes` is called for every chunk read, keep-alive comments included (the feed's watchdog).
export async function listen(path, onEvent, signal, lastId, onBytes) {
  const extra = { Accept: "text/event-stream" };
  if (lastId) extra["Last-Event-ID"] = String(lastId);
  const res = await fetch(path, { signal, headers: headers(extra) });
  return readStream(res, onEvent, onBytes);
}

async function readStream(res, onEvent, onBytes) {
  if (!res.ok || !(res.headers.get("content-type") || "").startsWith("text/event-stream")) {
    await parse(res);
    throw new ApiError(res.status, "bad_stream", "the server did not answer with an event stream");
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onBytes?.();
    buf += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      let payload;
      try { payload = JSON.parse(data.join("\n")); } catch { payload = { text: data.join("\n") }; }
      onEvent(kind, payload);
    }
  }
}

// GET a file (an export) with this session's credentials and hand it to the browser as a download.
export async function download(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const res = await send(url, { headers: headers({ Accept: "*/*" }) });
  if (!res.ok) await parse(res);
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "")?.[1] || "export";
  const href = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
  return name;
}
