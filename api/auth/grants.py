"""What Gateward keeps to ask the identity provider about a person again: their grant, sealed.

The provider's token answer at sign-in holds an access token (userinfo answers with the person's
groups *now* while it is valid) and, where the provider issues one, a refresh token (a new access
token without the person). :mod:`api.auth.membership` uses them to re-check a person's groups every
few minutes. They are credentials, so the row holds them sealed — JWE, ``dir`` + ``A256GCM`` — with a
key derived from the client secret, which lives in a file the database does not hold: a copy of the
database alone yields no usable token (and a refresh token is useless without the client secret
anyway). A secret changed at the provider makes old grants unreadable: those people sign in again.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from core.kernel.jsontypes import Json, JsonObject

_INFO = b"gateward oidc grant v1"
_HEADER = {"alg": "dir", "enc": "A256GCM"}
EARLY_S = 30.0  # an access token this close to its expiry is not used (it may expire on the way)


@dataclass(frozen=True)
class Grant:
    """A person's tokens at the provider; ``access_expires`` in seconds since the epoch (0: unknown)."""

    access_token: str | None
    access_expires: float
    refresh_token: str | None

    def access_usable(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return bool(self.access_token) and (self.access_expires == 0 or self.access_expires - EARLY_S > now)

    @classmethod
    def from_token(cls, token: JsonObject, before: Grant | None = None, now: float | None = None) -> Grant:
        """The grant in a token endpoint's answer (a refresh that returns no new refresh token keeps
        the one it used, RFC 6749 §6)."""
        now = time.time() if now is None else now
        access = token.get("access_token")
        expires_in = token.get("expires_in")
        expires = now + float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 0.0
        refresh = token.get("refresh_token")
        return cls(access_token=access if isinstance(access, str) and access else None,
                   access_expires=expires,
                   refresh_token=refresh if isinstance(refresh, str) and refresh
                   else (before.refresh_token if before is not None else None))


def _key(client_secret: str) -> OctKey:
    return OctKey.import_key(hmac.new(client_secret.encode(), _INFO, hashlib.sha256).digest())


def seal(grant: Grant, client_secret: str) -> str:
    body: dict[str, Json] = {"a": grant.access_token, "x": grant.access_expires, "r": grant.refresh_token}
    return jwe.encrypt_compact(_HEADER, orjson.dumps(body), _key(client_secret))


def unseal(sealed: str | None, client_secret: str) -> Grant | None:
    """The grant, or ``None`` when there is none or it cannot be opened (another client secret)."""
    if not sealed:
        return None
    try:
        doc = orjson.loads(jwe.decrypt_compact(sealed, _key(client_secret)).plaintext or b"")
    except (JoseError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    a, x, r = doc.get("a"), doc.get("x"), doc.get("r")
    return Grant(access_token=a if isinstance(a, str) else None,
                 access_expires=float(x) if isinstance(x, (int, float)) else 0.0,
                 refresh_token=r if isinstance(r, str) else None)
