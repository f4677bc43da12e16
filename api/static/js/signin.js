// The sign-in page (docs/auth.md). For an ISP's staff the identity provider is the way in: its
// "Sign in with <provider>" button comes first and holds the focus; a local password form follows
// where the server offers local accounts; the API token box is last and folded away (tokens are
// for automation and the CLI), open only where nothing else is offered. Demo words show only on a
// demo server (main.js's demo check un-hides `.demo-only`).
//
// A sign-in the server refused (no mapped group, a bad claim, the provider down or failing) comes
// back as this same page with the refusal in <meta name="gateward-refusal"> (api/auth/page.py): it is
// shown here, once, with the sign-in button as the way back, and the address bar leaves the spent
// /auth/callback?code=… for /.

const GENERIC_PROVIDER = "your organisation's account";

// The refusal this page was served with, once (null when there is none or it was shown already).
export function takeRefusal() {
  const meta = document.querySelector('meta[name="gateward-refusal"]');
  if (!meta) return null;
  meta.remove();
  if (location.pathname.startsWith("/auth/")) history.replaceState(null, "", "/");
  try {
    return JSON.parse(meta.content);
  } catch {
    return { reason: "refused", detail: "the sign-in did not go through" };
  }
}

// Show the methods `session` (GET /auth/session) offers, and `refused` when there is one.
export function showSignIn(session, refused) {
  const oidc = Boolean(session?.methods?.oidc);
  const password = Boolean(session?.methods?.password);
  const provider = session?.provider || GENERIC_PROVIDER;
  const sso = document.getElementById("sso-signin");
  document.getElementById("signin-sso").hidden = !oidc;
  sso.textContent = `${refused ? "Try again" : "Sign in"} with ${provider}`;
  document.getElementById("password-form").hidden = !password;
  document.getElementById("token-signin").open = !(oidc || password);
  const box = document.getElementById("signin-refused");
  box.hidden = !refused;
  if (refused) {
    const detail = refused.detail || "the sign-in did not go through";
    document.getElementById("signin-refused-detail").textContent = detail[0].toUpperCase() + detail.slice(1);
    document.getElementById("signin-refused-reason").textContent = refused.reason || "";
  }
  (oidc ? sso : document.getElementById(password ? "pw-user" : "token")).focus();
}
