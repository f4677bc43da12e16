"""The provider's signing keys (JWKS), kept through a bad answer.

Why: the key set was cached as the provider last answered it, so one unusable answer — an HTML
error page, ``{"keys": "none"}``, a key that does not parse — replaced the good keys, and every later
sign-in was refused (also those signed with the good, known key id) until the hourly discovery
refresh or a restart. Now a refresh that fails keeps the last good keys, and the next refresh waits
a back-off (:data:`BACKOFF_FIRST_S`, doubling to :data:`BACKOFF_MAX_S`) so a failing provider is not
asked at every sign-in. A key the set cannot import (an unknown ``kty``, a broken modulus) is skipped,
not a reason to refuse the others; a set with no usable signing key is an unusable answer.

Keys are read again when the discovery document is (hourly: :meth:`KeyCache.mark_stale`) and when an
ID token names a key id the set lacks (the provider rotated its keys).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from api.auth.provider_io import TRY_AGAIN
from api.auth.refusals import AuthRefused
from core.kernel.jsontypes import JsonObject

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
WHAT = "signing keys (JWKS)"

log = logging.getLogger("gateward.auth")


def usable_keys(doc: JsonObject) -> KeySet:
    """The signing keys of a JWKS document that import; ``provider_error`` when there is none."""
    listed = doc.get("keys")
    keys: list[Key] = []
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) or entry.get("use") == "enc":
            continue
        try:
            keys.extend(KeySet.import_key_set({"keys": [entry]}).keys)
        except (JoseError, ValueError, TypeError, KeyError):
            continue  # one key this library cannot read is no reason to refuse the others
    if not keys:
        raise AuthRefused(f"the identity provider's {WHAT} hold no usable signing key; {TRY_AGAIN}",
                          "provider_error", 503, what=WHAT)
    return KeySet(keys)


class KeyCache:
    """The last good key set, refreshed on demand, kept when a refresh fails."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.good: KeySet | None = None
        self.stale = True
        self.failures = 0
        self.retry_at = 0.0

    def mark_stale(self) -> None:
        """Read the keys again at the next need (the good ones stay until a refresh brings better)."""
        self.stale = True

    async def get(self, fetch: Callable[[], Awaitable[JsonObject]], *, refresh: bool = False) -> KeySet:
        """The keys: the good ones, read again first when stale, missing or ``refresh`` (a key id the
        set lacks) and the back-off allows; a failed read keeps the good ones. Refused
        (``provider_error``) only when no good key set was ever read."""
        now = self.clock()
        want = self.good is None or self.stale or refresh
        if want and now >= self.retry_at:
            try:
                keys = usable_keys(await fetch())
            except AuthRefused as exc:
                self.failures += 1
                self.retry_at = now + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self.failures - 1))
                log.warning("reading the identity provider's signing keys failed (%s); %s, read again in %g s",
                            exc.message, "the last good keys stay in use" if self.good is not None
                            else "no good keys yet", self.retry_at - now)
                if self.good is None:
                    raise
            else:
                self.good, self.stale, self.failures, self.retry_at = keys, False, 0, 0.0
        if self.good is None:
            raise AuthRefused(f"the identity provider's {WHAT} could not be read a moment ago; they are read again "
                              f"in {max(self.retry_at - now, 0):.0f} s: {TRY_AGAIN}", "provider_error", 503, what=WHAT)
        return self.good

    def can_refresh(self) -> bool:
        """Whether a read now would go to the provider (not held back by the back-off)."""
        return self.clock() >= self.retry_at
