"""The provider's signing keys kept through bad answers (issue 56), without a provider: the back-off
between reads of a failing key set, and what a refresh asked for during it does.

The same behaviour against the real ``oidc-provider`` behind a proxy that breaks its JWKS:
``tests/api/test_auth_provider_failures.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from api.auth.jwks import BACKOFF_FIRST_S, BACKOFF_MAX_S, KeyCache
from api.auth.refusals import AuthRefused

GOOD = {"keys": [RSAKey.generate_key(2048, parameters={"kid": "k1"}).as_dict(private=False)]}


class Provider:
    """A key set answer the test changes, and how often it was asked."""

    def __init__(self) -> None:
        self.answer: Any = GOOD
        self.asked = 0

    async def fetch(self) -> Any:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_failing_key_set_is_asked_again_after_a_doubling_back_off_and_the_good_keys_stay() -> None:
    now = [100.0]
    cache, idp = KeyCache(clock=lambda: now[0]), Provider()
    good = asyncio.run(cache.get(idp.fetch))
    assert [k.kid for k in good.keys] == ["k1"]
    idp.answer = {"keys": "none"}
    waits = []
    for _ in range(9):
        before = idp.asked
        assert asyncio.run(cache.get(idp.fetch, refresh=True)) is good  # the good keys, whatever the answer
        assert idp.asked == before + 1
        assert asyncio.run(cache.get(idp.fetch, refresh=True)) is good  # inside the back-off: not asked
        assert idp.asked == before + 1
        waits.append(cache.retry_at - now[0])
        now[0] = cache.retry_at
    assert waits[:3] == [BACKOFF_FIRST_S, 2 * BACKOFF_FIRST_S, 4 * BACKOFF_FIRST_S]
    assert max(waits) == BACKOFF_MAX_S and waits == sorted(waits)
    idp.answer = GOOD
    fresh = asyncio.run(cache.get(idp.fetch, refresh=True))
    assert fresh is not good and cache.failures == 0 and cache.can_refresh()


@pytest.mark.parametrize("answer", [{"keys": []}, {"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}, {},
                                    AuthRefused("down", "provider_unreachable", 503)])
def test_without_a_good_key_set_ever_read_a_sign_in_is_refused_and_asked_again_only_after_the_back_off(
        answer: Any) -> None:
    now = [0.0]
    cache, idp = KeyCache(clock=lambda: now[0]), Provider()
    idp.answer = answer
    with pytest.raises(AuthRefused) as first:
        asyncio.run(cache.get(idp.fetch))
    assert first.value.http_status == 503
    with pytest.raises(AuthRefused) as second:
        asyncio.run(cache.get(idp.fetch))
    assert second.value.reason == "provider_error" and "read again in 1 s" in second.value.message
    assert idp.asked == 1
    idp.answer = GOOD
    now[0] += BACKOFF_FIRST_S
    assert [k.kid for k in asyncio.run(cache.get(idp.fetch)).keys] == ["k1"]
