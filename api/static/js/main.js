// The console shell: sign-in (the server's session when it offers OpenID Connect or local accounts,
// else or besides an API token kept in localStorage), hash routing between the
// four views, and keyboard shortcuts (g s / g a / g d / g c / g l, /, ?, and per-view keys).

import * as api from "./api.js";
import { h, toast, fill } from "./dom.js";
import { onChange, startFeed } from "./live.js";
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
let viewKeys = {};

function parseRoute() {
  const [, view = "support", ...rest] = location.hash.replace(/^#/, "").split("/");
  return { view: VIEWS[view] ? view : "support", arg: rest.join("/") || null };
}

async function route() {
  if (!me) return;
  const { view, arg } = parseRoute();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  viewKeys = {};
  const root = document.getElementById("view");
  root.dataset.view = view;
  try {
    cleanup = await VIEWS[view](root, { me, arg, keys: (k) => { viewKeys = k; } });
  } catch (e) {
    fill(root, h("p", { class: "error" }, e.message));
  }
  refreshCount();
}

async function signIn() {
  const signin = document.getElementById("signin");
  const view = document.getElementById("view");
  if (!api.token()) {
    const s = await api.get("/auth/session").catch(() => null);
    if (s?.signed_in) api.setCsrf(s.csrf);
    else {
      document.getElementById("signin-sso").hidden = !s?.methods?.oidc;
      document.getElementById("password-form").hidden = !s?.methods?.password;
      signin.hidden = false; view.hidden = true;
      document.getElementById(s?.methods?.password ? "pw-user" : "token").focus();
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
  document.getElementById("whoami").textContent = `${me.id} · ${me.roles.join(", ").replaceAll("_", " ")}`;
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
    document.body.dataset.demo = String(demo);
  } catch { /* not a demo as far as we know */ }
}

// The pending-approval count in the nav follows every proposal change.
onChange((c) => { if (c.resync || c.proposals.length) refreshCount(); });

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
