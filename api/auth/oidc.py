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

What the provider answers is read with bounds, and each exchange with it runs under one deadline
(:mod:`api.auth.provider_io`); a discovery document or key set read again is kept through a bad
answer (:mod:`api.auth.jwks`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from api.auth.jwks import BACKOFF_FIRST_S, BACKOFF_MAX_S, WHAT, KeyCache
from api.auth.provider_io import TRY_AGAIN, Deadline, checked_token_answer, get_json, json_object, provider_failure
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
MAX_ID_TOKEN = 64 * 1024

__all__ = ["LOGIN_TTL", "OidcFlow", "SignedIn", "provider_failure"]

log = logging.getLogger("gateward.auth")


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """What a finished callback gives: the verified claims and the provider's token answer (its
    refresh and access tokens let Gateward ask the provider again later: :mod:`api.auth.membership`)."""

    claims: JsonObject
    token: JsonObject


class OidcFlow:
    """The relying party for one provider (the discovery document and its keys cached here).

    A cached document or key set is kept when reading it again fails (:mod:`api.auth.jwks`): one bad
    answer from the provider does not lock everyone out; the next read waits a back-off."""

    def __init__(self, store: Store, oidc: OidcSettings, redirect_uri: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.oidc = oidc
        self.redirect_uri = redirect_uri
        self.clock = clock
        self._metadata: JsonObject | None = None
        self._metadata_at = 0.0
        self._metadata_failures = 0
        self._metadata_retry_at = 0.0
        self.keys = KeyCache(lambda: self.clock())
        self._lock = asyncio.Lock()

    def deadline(self) -> Deadline:
        """One exchange with the provider: ``GATEWARD_OIDC_TIMEOUT_S`` for all its requests together."""
        return Deadline(self.oidc.timeout_s)

    def client(self, **kw: Any) -> AsyncOAuth2Client:
        """Authlib's client for the token endpoint, its answers bounded (:mod:`api.auth.provider_io`)."""
        client = AsyncOAuth2Client(client_id=self.oidc.client_id, client_secret=self.oidc.client_secret,
                                   scope=self.oidc.scopes, redirect_uri=self.redirect_uri,
                                   code_challenge_method="S256", timeout=self.oidc.timeout_s, **kw)
        client.register_compliance_hook("access_token_response", checked_token_answer("token endpoint"))
        client.register_compliance_hook("refresh_token_response", checked_token_answer("token endpoint"))
        return client

    async def get_json(self, url: str, what: str, deadline: Deadline, **kw: Any) -> JsonObject:
        return await get_json(url, what, deadline, self.oidc.timeout_s, **kw)

    async def metadata(self, deadline: Deadline | None = None) -> dict[str, Any]:
        """The discovery document (read again hourly), refused unless it names our issuer. A read
        again that fails keeps the last good document (and retries after a back-off)."""
        now = self.clock()
        if self._metadata is not None and (now - self._metadata_at < METADATA_TTL_S
                                           or now < self._metadata_retry_at):
            return self._metadata
        async with self._lock:
            if self._metadata is not None and now - self._metadata_at < METADATA_TTL_S:
                return self._metadata  # another request read it meanwhile
            try:
                doc = await self._read_metadata(deadline or self.deadline())
            except AuthRefused as exc:
                if self._metadata is None:
                    raise
                self._metadata_failures += 1
                wait = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._metadata_failures - 1))
                self._metadata_retry_at = now + wait
                log.warning("reading the identity provider's discovery document again failed (%s); the last good "
                            "one stays in use, read again in %g s", exc.message, wait)
                return self._metadata
            self._metadata, self._metadata_at = doc, now
            self._metadata_failures, self._metadata_retry_at = 0, 0.0
            self.keys.mark_stale()
            return doc

    async def _read_metadata(self, deadline: Deadline) -> JsonObject:
        url = self.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self.get_json(url, "discovery document", deadline)
        if doc.get("issuer") != self.oidc.issuer:
            raise AuthRefused(f"sign-in is misconfigured: the provider at {url} says its issuer is "
                              f"{str(doc.get('issuer'))[:300]!r}, not GATEWARD_OIDC_ISSUER={self.oidc.issuer!r}",
                              "issuer_mismatch", 503, configured=self.oidc.issuer,
                              announced=str(doc.get("issuer"))[:300])
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
                   if not isinstance(doc.get(k), str) or not doc.get(k)]
        if missing:
            raise AuthRefused(f"the provider's discovery document lacks {', '.join(missing)}",
                              "provider_error", 503)
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise AuthRefused("the provider does not offer PKCE with S256", "provider_error", 503)
        return doc

    async def _key_set(self, deadline: Deadline, force: bool = False) -> KeySet:
        meta = await self.metadata(deadline)
        url = str(meta["jwks_uri"])
        return await self.keys.get(lambda: self.get_json(url, WHAT, deadline), refresh=force)

    # ------------------------------------------------------------------ start
    async def begin(self) -> tuple[str, str]:
        """A new login: the provider's authorization URL to send the browser to, and the browser
        binding to set as a cookie."""
        meta = await self.metadata(self.deadline())
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, nonce = secrets.token_urlsafe(64), secrets.token_urlsafe(24)
        # offline_access (a refresh token) is granted only with a consent prompt (OpenID Connect Core §11)
        extra = {"prompt": "consent"} if "offline_access" in self.oidc.scopes.split() else {}
        async with self.client() as client:
            url, _ = client.create_authorization_url(str(meta["authorization_endpoint"]), state=state,
                                                     code_verifier=verifier, nonce=nonce, **extra)
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
    async def finish(self, params: Mapping[str, str], binding: str | None) -> SignedIn:
        """The verified claims (and the provider's token answer) for the callback's query ``params``;
        :class:`AuthRefused` otherwise. Every request to the provider runs under one deadline."""
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
        deadline = self.deadline()
        meta = await self.metadata(deadline)
        token = await self._exchange(meta, code, verifier, deadline)
        claims = await self.id_claims(token, nonce, deadline)
        if self.oidc.groups_claim not in claims or self.oidc.username_claim not in claims:
            claims = await self.with_userinfo(meta, token, claims, deadline)
        return SignedIn(claims, token)

    async def _exchange(self, meta: Mapping[str, Json], code: str, verifier: str, deadline: Deadline) -> JsonObject:
        url = str(meta["token_endpoint"])
        try:
            async with deadline.step("token endpoint", url), self.client() as client:
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
            raise AuthRefused(f"the identity provider refused the code ({error[:64] or 'error'}: it was already used, "
                              "expired or not issued to this sign-in): start again at /auth/login",
                              "code_refused", 401, error=error[:64]) from exc
        except (httpx.HTTPError, httpx2.HTTPError) as exc:
            raise provider_failure(exc, "token endpoint", url, self.oidc.timeout_s) from exc
        except ValueError as exc:
            raise AuthRefused(f"the identity provider's token answer cannot be read ({str(exc)[:200]}); {TRY_AGAIN}",
                              "provider_error", 503, what="token endpoint") from exc
        if not isinstance(token.get("id_token"), str) or not token.get("id_token"):
            raise AuthRefused("the identity provider returned no ID token (is the openid scope allowed?)",
                              "no_id_token", 503)
        return token

    async def id_claims(self, token: Mapping[str, Json], nonce: str | None, deadline: Deadline) -> dict[str, Any]:
        """The ID token's claims, verified (signature, ``iss``, ``aud``, ``exp``/``iat``, ``nonce`` when
        given, ``at_hash``)."""
        meta = await self.metadata(deadline)
        algs = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algs if a != "none"], strict_check_header=False)
        id_token = str(token["id_token"])
        _bounded_jwt(id_token)
        try:
            try:
                decoded = jwt.decode(id_token, key=await self._key_set(deadline), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys: read them again, once
                if not self.keys.can_refresh():
                    raise _keys_unavailable() from None
                keys = await self._key_set(deadline, force=True)
                if self.keys.failures:
                    raise _keys_unavailable() from None
                decoded = jwt.decode(id_token, key=keys, registry=registry)
            options = {"iss": {"essential": True, "values": [self.oidc.issuer]}}
            params = {"client_id": self.oidc.client_id, "access_token": token.get("access_token")}
            if nonce is not None:
                params["nonce"] = nonce
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(leeway=LEEWAY_S)
        except (JoseError, ValueError) as exc:
            raise AuthRefused(f"the ID token does not verify ({type(exc).__name__}: {str(exc)[:200]})",
                              "bad_id_token", 401, error=type(exc).__name__) from exc
        return dict(claims)

    async def with_userinfo(self, meta: Mapping[str, Json], token: Mapping[str, Json],
                            claims: dict[str, Any], deadline: Deadline) -> JsonObject:
        """``claims`` completed from the userinfo endpoint (same ``sub``); the ID token's win."""
        url = meta.get("userinfo_endpoint")
        access = token.get("access_token")
        if not url or not access:
            return claims
        info = await self.get_json(str(url), "userinfo", deadline, headers={"Authorization": f"Bearer {access}"})
        if info.get("sub") != claims.get("sub"):
            raise AuthRefused("the provider's userinfo is about another subject than the ID token",
                              "userinfo_mismatch", 401)
        return {**info, **claims}  # the ID token's verified claims win over userinfo's


def _keys_unavailable() -> AuthRefused:
    return AuthRefused(f"the ID token is signed with a key the identity provider's {WHAT} did not list, and they "
                       f"could not be read again just now; {TRY_AGAIN}", "provider_error", 503, what=WHAT)


def _bounded_jwt(id_token: str) -> None:
    """The ID token's header and claims are JSON objects of bounded size and depth before the JOSE
    library parses them (with the standard library, whose parser raised ``RecursionError`` on deep
    nesting); a token that is not a JWS at all is left to it to refuse."""
    if len(id_token) > MAX_ID_TOKEN:
        raise AuthRefused(f"the identity provider's ID token is larger than {MAX_ID_TOKEN >> 10} KiB; {TRY_AGAIN}",
                          "provider_error", 503, what="ID token")
    parts = id_token.split(".")
    if len(parts) != 3:
        return
    for part in parts[:2]:
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (ValueError, binascii.Error):
            return
        json_object(raw, "ID token", "the token endpoint's answer")
