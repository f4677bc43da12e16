"""The token check is cached for a few seconds per process (issue 15) and revocation stays
effective: at once when revoked in this process, within the cache TTL when revoked elsewhere.

"Elsewhere" is simulated by changing the token row with plain SQL on the same database, which is
what another process (``gateward users revoke`` on another host, another replica) does; the
cache's clock is advanced instead of sleeping through the TTL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, update

from core.kernel.errors import Invalid
from core.kernel.models import utcnow
from core.store.schema import ApiTokenRow, UserRow
from core.users import TOKEN_CACHE, TokenCache, add_user, cache_ttl_from_env, issue_token, revoke_user, rotate_token
from tests.api.conftest import Api

_n = iter(range(1_000_000))


def _user(api: Api) -> tuple[str, dict[str, str]]:
    uid = f"cache-{api.backend}-{next(_n)}"
    add_user(api.rt.store, uid, ["support_agent"])
    return uid, {"Authorization": f"Bearer {issue_token(api.rt.store, uid)}"}


def _after_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = TOKEN_CACHE.clock
    monkeypatch.setattr(TOKEN_CACHE, "clock", lambda: clock() + TOKEN_CACHE.ttl_s)


@pytest.fixture
def statements(api: Api) -> Iterator[list[str]]:
    """Every SQL statement the store's engine runs while the test holds the list."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(api.rt.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(api.rt.store.engine, "before_cursor_execute", record)


def test_a_repeated_check_reads_no_token_row(api: Api, statements: list[str]) -> None:
    uid, hdr = _user(api)
    assert api.client.get("/api/me", headers=hdr).json()["id"] == uid
    first = [q for q in statements if "api_tokens" in q]
    statements.clear()
    for _ in range(3):
        assert api.client.get("/api/me", headers=hdr).json()["id"] == uid
    assert first, "the first check reads the token row"
    assert [q for q in statements if "api_tokens" in q or "users" in q] == []


def test_revocation_in_this_process_applies_at_once(api: Api) -> None:
    uid, hdr = _user(api)
    assert api.client.get("/api/me", headers=hdr).status_code == 200
    revoke_user(api.rt.store, uid)
    r = api.client.get("/api/me", headers=hdr)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert api.client.get("/api/proposals", headers=hdr).status_code == 401  # the hot list route too


def test_rotation_in_this_process_applies_at_once(api: Api) -> None:
    uid, hdr = _user(api)
    assert api.client.get("/api/proposals?limit=1", headers=hdr).status_code == 200
    new, _ = rotate_token(api.rt.store, uid)
    assert api.client.get("/api/proposals?limit=1", headers=hdr).status_code == 401
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).json()["id"] == uid


@pytest.mark.parametrize("change", ["revoke_token", "deactivate_user"])
def test_revocation_elsewhere_applies_within_the_ttl(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                      change: str) -> None:
    uid, hdr = _user(api)
    assert api.client.get("/api/me", headers=hdr).status_code == 200
    with api.rt.store.write() as s:  # another process's revocation: the cache here is not told
        if change == "revoke_token":
            s.execute(update(ApiTokenRow).where(ApiTokenRow.user_id == uid).values(revoked_at=utcnow()))
        else:
            s.execute(update(UserRow).where(UserRow.id == uid).values(active=False))
    _after_ttl(monkeypatch)
    for path in ("/api/me", "/api/proposals"):
        r = api.client.get(path, headers=hdr)
        assert r.status_code == 401 and r.json()["detail"] == "invalid or revoked API token", r.text


def test_a_cached_token_still_expires_on_time(api: Api) -> None:
    _, hdr = _user(api)
    assert api.client.get("/api/me", headers=hdr).status_code == 200
    key = hdr["Authorization"].split(" ", 1)[1]
    from datetime import timedelta

    from core.users import TokenRejected, verify_token

    with pytest.raises(TokenRejected, match="token expired"):
        verify_token(api.rt.store, key, now=utcnow() + timedelta(days=31))


def test_bad_tokens_are_never_cached(api: Api, statements: list[str]) -> None:
    for _ in range(2):
        statements.clear()
        assert api.client.get("/api/me", headers={"Authorization": "Bearer gw_nope"}).status_code == 401
        assert [q for q in statements if "api_tokens" in q], "every bad token is checked against the database"


def test_cache_is_bounded_and_ttl_zero_turns_it_off() -> None:
    from core.kernel.models import Actor

    now = [0.0]
    cache = TokenCache(ttl_s=5, max_entries=3, clock=lambda: now[0])
    far = utcnow().replace(year=utcnow().year + 1)
    for i in range(4):
        cache.put("db", f"h{i}", Actor(id=f"u{i}", roles=("auditor",)), far)
    assert cache.get("db", "h3") is not None and len(cache._entries) <= 3
    assert cache.get("other-db", "h3") is None  # per database
    now[0] = 5.0
    assert cache.get("db", "h3") is None
    off = TokenCache(ttl_s=0)
    off.put("db", "h", Actor(id="u", roles=("auditor",)), far)
    assert off.get("db", "h") is None


@pytest.mark.parametrize("raw", ["-1", "61", "soon"])
def test_a_bad_cache_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("GATEWARD_TOKEN_CACHE_S", raw)
    with pytest.raises(Invalid, match="GATEWARD_TOKEN_CACHE_S"):
        cache_ttl_from_env()
    with pytest.raises(Invalid, match="GATEWARD_TOKEN_CACHE_S"):  # where the cache is first used, not on import
        _ = TokenCache().ttl_s
    monkeypatch.setenv("GATEWARD_TOKEN_CACHE_S", "2.5")
    assert cache_ttl_from_env() == 2.5
