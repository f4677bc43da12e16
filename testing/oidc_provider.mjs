// A real OpenID Provider for the sign-in tests: the npm package oidc-provider (OpenID Certified),
// configured here, never a hand-written double. Started by testing/oidc_provider.py with its
// settings in the environment; prints READY when it listens on 127.0.0.1.
//
//   OIDC_ISSUER    the issuer (http://127.0.0.1:PORT)
//   OIDC_PORT      the port to listen on
//   OIDC_CLIENTS   JSON list of static clients (client_id, client_secret, redirect_uris)
//   OIDC_ACCOUNTS  JSON object: account id -> { groups: [...], name?, preferred_username? }
//   OIDC_ACCOUNTS_FILE  (optional) a file holding that object, read again at every sign-in, so a
//                  test can take someone out of a group while the provider runs
//
// Sign-in is oidc-provider's own development interaction (devInteractions): a login form that
// accepts any password for a known account, then a consent form.
import fs from "node:fs";
import http from "node:http";
import Provider from "oidc-provider";

const issuer = process.env.OIDC_ISSUER;
const port = Number(process.env.OIDC_PORT);
const clients = JSON.parse(process.env.OIDC_CLIENTS || "[]");
const fixedAccounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");
const accountsFile = process.env.OIDC_ACCOUNTS_FILE;
const accounts = () => (accountsFile ? JSON.parse(fs.readFileSync(accountsFile, "utf8")) : fixedAccounts);

const provider = new Provider(issuer, {
  clients,
  async findAccount(ctx, id) {
    if (!accounts()[id]) return undefined;
    return {
      accountId: id,
      async claims() {
        const acct = accounts()[id] ?? {};
        const out = { sub: id, preferred_username: acct.preferred_username ?? id, name: acct.name ?? id };
        if (acct.groups !== undefined) out.groups = acct.groups;
        return out;
      },
    };
  },
  claims: { openid: ["sub"], profile: ["name", "preferred_username"], groups: ["groups"] },
  scopes: ["openid", "profile", "groups", "offline_access"],
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ["gateward-test-only-cookie-key"] },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));

http.createServer(provider.callback()).listen(port, "127.0.0.1", () => console.log("READY"));
