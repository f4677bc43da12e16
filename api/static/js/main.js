// The console shell: sign-in (the server's session when it offers OpenID Connect or local accounts,
// else or besides an API token kept in localStorage), hash routing between the
// four views, and keyboard shortcuts (g s / g a / g d / g c / g l, /, ?, and per-view keys).

import * as api from "./api.js";
import { h, toast, fill } from "./dom.js";
import { onChange, startFeed } from "./live.js";
import { showSignIn, takeRefusal } from "./signin.js";
import { approvalsView, refreshCount } from "./views/approvals.js";
import { auditView } from "./views/audit.js";
import { devicesView } from "./views/device.js";
import { faultsView } from "./views/faults.js";
import { fleetView } from "./views/fleet.js";
import { profilesView } from "./views/profiles.js";
import { supportView } from "./views/support.js";
import { campaignsView } from "/static/campaigns.js";
import { remediationView } from "/static/remediation.js";

const VIEWS = { support: supportView, approvals: approvalsView, fleet: fleetView, devices: devicesView, campaigns: campaignsView, remediation: remediationView, faults: faultsView, profiles: profilesView, audit: auditView };
let me = null;
let cleanup = null;
let routing = 0;  // which route() is the latest: a view mounted by an older one is unmounted at once
let viewKeys = {};

function parseRoute() {
  const [, view = "support", ...rest] = location.hash.replace(/^#/, "").split("/");
  return { view: VIEWS[view] ? view : "support", arg: rest.join("/") || null };
}

async function route() {
  if (!me) return;
  const mine = ++routing;
  const { view, arg } = parseRoute();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  viewKeys = {};
  const root = document.getElementById("view");
  root.dataset.view = view;
  try {
    const done = await VIEWS[view](root, { me, arg, keys: (k) => { viewKeys = k; } });
    // Another route() started while this view mounted (a second sign-in, a hash change): that one
    // owns the page, and this view's live subscriptions would otherwise keep rendering off-page.
    if (mine !== routing) { if (typeof done === "function") done(); return; }
    cleanup = done;
  } catch (e) {
    if (mine === routing) fill(root, h("p", { class: "error" }, e.message));
  }
  refreshCount(me);
}

async function signIn() {
  const signin = document.getElementById("signin");
  const view = document.getElementById("view");
  const refused = takeRefusal();  // this page is a refused sign-in's answer: say so first
  if (!api.token() || refused) {
    const s = await api.get("/auth/session").catch(() => null);
    if (s?.signed_in && !refused) api.setCsrf(s.csrf);
    else {
      signin.hidden = false; view.hidden = true;
      showSignIn(s, refused);
      return;
    }
  }
  try {
    me = await api.get("/api/me");
  } catch (e) {
    api.clearToken();
    api.setCsrf("");
    document.getElementById("signin-error").textContent = e.status === 401 ? "That token is not valid (or was revoked)." : e.message;
    signin.hidden = false; view.hidden = true;
    return;
  }
  signin.hidden = true; view.hidden = false;
  document.getElementById("nav").hidden = false;
  showWho();
  document.getElementById("signout").hidden = false;
  if (!location.hash) location.hash = me.roles.some((r) => r.includes("approver")) ? "#/approvals" : me.roles.includes("auditor") ? "#/audit" : "#/support";
  startFeed();
  route();
}

// A demo server (`gateward run --demo`) says so in /api/health, asked without a token so the
// banner shows on the sign-in page too; a server that cannot say shows none.
async function demoBanner() {
  try {
    const demo = (await api.get("/api/health"))?.demo === true;
    document.getElementById("demo-banner").hidden = !demo;
    for (const el of document.querySelectorAll(".demo-only")) el.hidden = !demo;
    document.body.dataset.demo = String(demo);
  } catch { /* not a demo as far as we know */ }
}

function showWho() {
  document.getElementById("whoami").textContent = `${me.id} · ${me.roles.join(", ").replaceAll("_", " ") || "no role"}`;
}

// The pending-approval count in the nav follows every proposal change.
onChange((c) => { if (me && (c.resync || c.proposals.length)) refreshCount(me); });
// The roles shown are the ones in force: when someone's roles change (their groups at the identity
// provider, read at a sign-in anywhere), the page asks again who it is; a session that change ended
// answers 401, which signs the page out (the gateward:unauthorized listener).
onChange(async (c) => {
  if (!me || !(c.resync || c.actions?.includes("user.roles_changed"))) return;
  try { me = await api.get("/api/me"); showWho(); refreshCount(me); } catch { /* 401: signed out below */ }
});

document.getElementById("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = document.getElementById("token").value.trim();
  if (!t) return;
  api.setToken(t);
  document.getElementById("token").value = "";
  signIn();
});
document.getElementById("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const pw = document.getElementById("pw-pass");
  try {
    const s = await api.post("/auth/password-login", { user: document.getElementById("pw-user").value.trim(), password: pw.value });
    api.setCsrf(s.csrf);
    signIn();
  } catch (err) {
    document.getElementById("signin-error").textContent = err.message;
  }
  pw.value = "";
});
document.getElementById("signout").addEventListener("click", async () => {
  if (api.onSession()) await api.post("/auth/logout").catch(() => null);
  api.clearToken(); api.setCsrf(""); me = null; location.hash = ""; location.reload();
});
window.addEventListener("gateward:unauthorized", () => { if (me) { toast("your sign-in is no longer valid; sign in again", "bad"); api.clearToken(); api.setCsrf(""); me = null; signIn(); } });
window.addEventListener("hashchange", route);

let pendingG = 0;
document.addEventListener("keydown", (e) => {
  const tag = e.target?.tagName;
  if (e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(tag)) {
    if (e.key === "Escape") e.target.blur?.();
    return;
  }
  if (!me) return;
  if (e.key === "?") { document.getElementById("help").showModal(); return; }
  if (e.key === "/") {
    const el = document.querySelector("#view [data-focus=slash]") || document.querySelector("#view textarea");
    if (el) { e.preventDefault(); el.focus(); }
    return;
  }
  if (Date.now() - pendingG < 1200) {
    const to = { s: "support", a: "approvals", f: "fleet", d: "devices", c: "campaigns", l: "audit" }[e.key];
    pendingG = 0;
    if (to) { location.hash = `#/${to}`; e.preventDefault(); }
    return;
  }
  if (e.key === "g") { pendingG = Date.now(); return; }
  const fn = viewKeys[e.key];
  if (fn) { e.preventDefault(); fn(); }
});

demoBanner();
signIn();
