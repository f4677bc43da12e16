"""Sign-in for people: OpenID Connect (Authorization Code with PKCE, through Authlib) and
optional local accounts (argon2), both ending in a server-side session held by an HttpOnly cookie.

One job per module: ``settings`` (what the operator configured), ``sessions`` (the session rows:
create, check, end, list), ``csrf`` (the per-session header every cookie-authenticated write must
carry), ``passwords`` (local accounts), ``people`` (the person an identity provider signed in, and
their roles from the group map), ``oidc`` (the flow against the provider; ``provider_io`` its deadline
and bounded answers, ``jwks`` its signing keys kept through a bad answer), ``membership`` (a person's
groups asked again every few minutes, with the tokens ``grants`` keeps sealed), ``refusals`` (the audit
line and error for a refused sign-in), ``routes`` (``/auth/*``). Bearer API tokens stay as they are
(``api.deps``): automation and the CLI use them; the console uses the session when sign-in is
configured. docs/auth.md says how to set it up.
"""
