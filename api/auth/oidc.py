"""The OpenID Connect Authorization Code flow with PKCE, as the relying party, through Authlib.

Authlib does the protocol: the authorization URL with ``code_challenge_method=S256`` and a
nonce, the token request with the client's credentials and the PKCE verifier, and the ID token's
checks (signature against the provider's JWKS, ``iss``, ``aud``, ``exp``/``iat``, ``nonce``,
``at_hash``; :class:`authlib.oidc.core.CodeIDToken`). This module keeps what a web app must keep
itself, server-side so that any replica can finish a login another started:

* the discovery document, whose ``issuer`` must be exactly ``GATEWARD_OIDC_ISSUER`` (a provider
  answering for another issuer is refused, OpenID Connect Discovery §4.3);
* one ``auth_logins`` row per login under way: the state and a browser binding (both hashed; the
  binding is an HttpOnly cookie, so a state lifted from one browser does not finish a login in
  another), the PKCE verifier and the nonce. The callback deletes the row before it uses it, so a
  replayed or forged state finds nothing, and a replayed code is refused by the provider (a code is
  single-use, and its PKCE verifier is gone with the row);
* the claims: the ID token's, completed from the userinfo endpoint (same ``sub``) when the groups
  or name claim is only served there (as providers that keep ID tokens small do).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import httpx2  # Authlib's client (the token exchange) is built on it and raises its errors, not httpx's
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import delete
from starlette.concurrency import run_in_threadpool

from api.auth.refusals import AuthRefused
from api.auth.settings import OidcSettings
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import utcnow
from core.store import Store
from core.store.schema import AuthLoginRow

with warnings.catch_warnings():
    # Authlib 1.9 warns when its client falls back from httpx2 to httpx; Gateward installs httpx2.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oidc.core import CodeIDToken

LOGIN_TTL = timedelta(minutes=10)
METADATA_TTL_S = 3600.0
LEEWAY_S = 60
# Errors the provider's own answer carries that mean "the provider failed", not "your code is bad"
# (RFC 6749 §4.1.2.1; some providers answer them at the token endpoint too).
PROVIDER_SIDE_ERRORS = frozenset({"server_error", "temporarily_unavailable"})
TRY_AGAIN = "try again in a moment"


def provider_failure(exc: Exception, what: str, url: str, timeout_s: float) -> AuthRefused:
    """The refusal for a request to the provider that failed in transport or in HTTP: down or
    unreachable (``provider_unreachable``), too slow (``provider_timeout``), or answering an HTTP
    error (``provider_error``). Both HTTP stacks count: ours (httpx) for discovery, JWKS and userinfo,
    Authlib's (httpx2) for the token exchange."""
    if isinstance(exc, (httpx.TimeoutException, httpx2.TimeoutException)):
        return AuthRefused(f"the identity provider did not answer within {timeout_s:g} s for its {what} "
                           f"({url}); {TRY_AGAIN}", "provider_timeout", 503, what=what)
    if isinstance(exc, (httpx.HTTPStatusError, httpx2.HTTPStatusError)):
        return AuthRefused(f"the identity provider failed: it answered {exc.response.status_code} for its {what} "
                           f"({url}); {TRY_AGAIN}", "provider_error", 503, what=what,
                           provider_status=exc.response.status_code)
    return AuthRefused(f"the identity provider cannot be reached for its {what} ({url}: {type(exc).__name__}); "
                       f"{TRY_AGAIN}", "provider_unreachable", 503, what=what)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OidcFlow:
    """The relying party for one provider (the discovery document and its keys cached here)."""

    def __init__(self, store: Store, oidc: OidcSettings, redirect_uri: str) -> None:
        self.store = store
        self.oidc = oidc
        self.redirect_uri = redirect_uri
        self._metadata: JsonObject | None = None
        self._metadata_at = 0.0
        self._jwks: JsonObject | None = None
        self._lock = asyncio.Lock()

    def _client(self, **kw: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=self.oidc.client_id, client_secret=self.oidc.client_secret,
                                 scope=self.oidc.scopes, redirect_uri=self.redirect_uri,
                                 code_challenge_method="S256", timeout=self.oidc.timeout_s, **kw)

    async def _get_json(self, url: str, what: str, **kw: Any) -> JsonObject:
        try:
            async with httpx.AsyncClient(timeout=self.oidc.timeout_s) as c:
                resp = await c.get(url, **kw)
        except httpx.HTTPError as exc:
            raise provider_failure(exc, what, url, self.oidc.timeout_s) from exc
        if resp.status_code != 200:
            raise AuthRefused(f"the identity provider failed: it answered {resp.status_code} for its {what} "
                              f"({url}); {TRY_AGAIN}", "provider_error", 503, what=what,
                              provider_status=resp.status_code)
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise AuthRefused(f"the identity provider's {what} at {url} is not a JSON object (a fault on its side); "
                              f"{TRY_AGAIN}", "provider_error", 503, what=what)
        return doc

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (cached an hour), refused unless it names our issuer."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
            return self._metadata
        async with self._lock:
            url = self.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._get_json(url, "discovery document")
            if doc.get("issuer") != self.oidc.issuer:
                raise AuthRefused(f"sign-in is misconfigured: the provider at {url} says its issuer is "
                                  f"{doc.get('issuer')!r}, not GATEWARD_OIDC_ISSUER={self.oidc.issuer!r}",
                                  "issuer_mismatch", 503, configured=self.oidc.issuer,
                                  announced=str(doc.get("issuer"))[:300])
            missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
            if missing:
                raise AuthRefused(f"the provider's discovery document lacks {', '.join(missing)}",
                                  "provider_error", 503)
            methods = doc.get("code_challenge_methods_supported")
            if isinstance(methods, list) and "S256" not in methods:
                raise AuthRefused("the provider does not offer PKCE with S256", "provider_error", 503)
            self._metadata, self._metadata_at, self._jwks = doc, time.monotonic(), None
            return doc

    async def _key_set(self, force: bool = False) -> KeySet:
        meta = await self.metadata()
        if self._jwks is None or force:
            self._jwks = await self._get_json(str(meta["jwks_uri"]), "signing keys (JWKS)")
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AuthRefused(f"the identity provider's signing keys (JWKS) cannot be read; {TRY_AGAIN}",
                              "provider_error", 503, what="signing keys (JWKS)") from exc

    # ------------------------------------------------------------------ start
    async def begin(self) -> tuple[str, str]:
        """A new login: the provider's authorization URL to send the browser to, and the browser
        binding to set as a cookie."""
        meta = await self.metadata()
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, nonce = secrets.token_urlsafe(64), secrets.token_urlsafe(24)
        async with self._client() as client:
            url, _ = client.create_authorization_url(str(meta["authorization_endpoint"]), state=state,
                                                     code_verifier=verifier, nonce=nonce)
        await run_in_threadpool(self._save_login, state, binding, verifier, nonce)
        return str(url), binding

    def _save_login(self, state: str, binding: str, verifier: str, nonce: str) -> None:
        now = utcnow()
        with self.store.write() as s:
            s.execute(delete(AuthLoginRow).where(AuthLoginRow.created_at < now - LOGIN_TTL))  # abandoned logins
            s.add(AuthLoginRow(state_hash=_h(state), binding_hash=_h(binding), code_verifier=verifier,
                               nonce=nonce, created_at=now))

    def _take_login(self, state: str) -> tuple[str, str, str, Any] | None:
        """The login row for ``state``, deleted in the same transaction (used once)."""
        with self.store.write() as s:
            row = s.get(AuthLoginRow, _h(state))
            if row is None:
                return None
            out = (row.binding_hash, row.code_verifier, row.nonce, row.created_at)
            s.delete(row)
        return out

    # ------------------------------------------------------------------ callback
    async def finish(self, params: Mapping[str, str], binding: str | None) -> JsonObject:
        """The verified claims for the callback's query ``params``; :class:`AuthRefused` otherwise."""
        if params.get("error"):
            desc = str(params.get("error_description") or "")[:200]
            raise AuthRefused(f"the identity provider refused the sign-in: {params['error'][:64]}"
                              + (f" ({desc})" if desc else ""), "provider_refused", 401,
                              error=str(params["error"])[:64])
        state, code = params.get("state") or "", params.get("code") or ""
        if not state or not code or len(state) > 200 or len(code) > 2000:
            raise AuthRefused("the callback lacks its code or state: start again at /auth/login", "bad_callback")
        login = await run_in_threadpool(self._take_login, state)
        if login is None:
            raise AuthRefused("unknown or already used sign-in state (forged, replayed or expired): "
                              "start again at /auth/login", "bad_state")
        binding_hash, verifier, nonce, created_at = login
        if not binding or not secrets.compare_digest(_h(binding), binding_hash):
            raise AuthRefused("this sign-in was started in another browser: start again at /auth/login",
                              "state_not_this_browser")
        if utcnow() - created_at > LOGIN_TTL:
            raise AuthRefused("the sign-in took too long: start again at /auth/login", "login_expired")
        meta = await self.metadata()
        token = await self._exchange(meta, code, verifier)
        claims = await self._id_claims(token, nonce)
        if self.oidc.groups_claim not in claims or self.oidc.username_claim not in claims:
            claims = await self._with_userinfo(meta, token, claims)
        return claims

    async def _exchange(self, meta: Mapping[str, Json], code: str, verifier: str) -> JsonObject:
        url = str(meta["token_endpoint"])
        try:
            async with self._client() as client:
                token: JsonObject = await client.fetch_token(
                    url, grant_type="authorization_code", code=code, code_verifier=verifier)
        except OAuthError as exc:
            error = str(exc.error or "")
            if error in ("invalid_client", "unauthorized_client"):
                raise AuthRefused("sign-in is misconfigured: the identity provider refused Gateward's client "
                                  f"credentials ({error}); check GATEWARD_OIDC_CLIENT_ID and the secret file",
                                  "client_refused", 503, error=error) from exc
            if error in PROVIDER_SIDE_ERRORS:
                raise AuthRefused(f"the identity provider failed to finish the sign-in ({error}); {TRY_AGAIN}",
                                  "provider_error", 503, what="token endpoint", error=error) from exc
            raise AuthRefused(f"the identity provider refused the code ({error or 'error'}: it was already used, "
                              "expired or not issued to this sign-in): start again at /auth/login",
                              "code_refused", 401, error=error[:64]) from exc
        except (httpx.HTTPError, httpx2.HTTPError) as exc:
            raise provider_failure(exc, "token endpoint", url, self.oidc.timeout_s) from exc
        except ValueError as exc:
            raise AuthRefused(f"the identity provider's token answer cannot be read ({exc}); {TRY_AGAIN}",
                              "provider_error", 503, what="token endpoint") from exc
        if not token.get("id_token"):
            raise AuthRefused("the identity provider returned no ID token (is the openid scope allowed?)",
                              "no_id_token", 503)
        return token

    async def _id_claims(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        algs = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algs if a != "none"], strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(token["id_token"], key=await self._key_set(), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys: read them again, once
                decoded = jwt.decode(token["id_token"], key=await self._key_set(force=True), registry=registry)
            options = {"iss": {"essential": True, "values": [self.oidc.issuer]}}
            params = {"nonce": nonce, "client_id": self.oidc.client_id, "access_token": token.get("access_token")}
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(leeway=LEEWAY_S)
        except (JoseError, ValueError) as exc:
            raise AuthRefused(f"the ID token does not verify ({type(exc).__name__}: {exc})", "bad_id_token",
                              401, error=type(exc).__name__) from exc
        return dict(claims)

    async def _with_userinfo(self, meta: Mapping[str, Json], token: Mapping[str, Json],
                             claims: dict[str, Any]) -> JsonObject:
        url = meta.get("userinfo_endpoint")
        access = token.get("access_token")
        if not url or not access:
            return claims
        info = await self._get_json(str(url), "userinfo", headers={"Authorization": f"Bearer {access}"})
        if info.get("sub") != claims.get("sub"):
            raise AuthRefused("the provider's userinfo is about another subject than the ID token",
                              "userinfo_mismatch", 401)
        return {**info, **claims}  # the ID token's verified claims win over userinfo's
