"""Ended sign-in sessions do not pile up (issue 36): a session over — signed out, revoked, or past its
idle or absolute limit — for longer than ``GATEWARD_SESSION_RETENTION_DAYS`` is deleted, a bounded
batch at each sign-in and all at once by ``gateward users purge-sessions``; a cookie for a deleted
session is refused 401 like any unknown one. Through the real app and CLI on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from api.auth.passwords import set_password
from api.auth.sessions import SessionLimits, purge_sessions, revoke_sessions
from api.auth.settings import AuthSettings
from core.kernel.models import Actor, utcnow
from core.store.schema import AuditEventRow, AuthSessionRow
from tests.api.auth_helpers import browser
from tests.api.conftest import Api, make_api
from tests.conftest import BACKENDS, seeded_runtime

PASSWORD = "correct horse battery staple"
SETTINGS = AuthSettings(local_accounts=True, public_url="http://testserver", session_idle_minutes=30,
                        session_max_hours=12, session_retention_days=7)
LIMITS = SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12), retention=timedelta(days=7))
ALICE = Actor(id="alice", roles=("support_agent",))


@dataclass
class World:
    api: Api
    url: str


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp(f"auth-purge-{request.param}")
    rt, cleanup = seeded_runtime(request.param, tmp, homes=12)
    a = make_api(rt, request.param, auth=SETTINGS)
    set_password(rt.store, "alice", PASSWORD)
    try:
        yield World(a, rt.store.url)
    finally:
        a.client.close()
        cleanup()


def _clear(store: Any) -> None:
    with store.write() as s:
        s.execute(delete(AuthSessionRow))


def _session(store: Any, *, started_ago: timedelta, idle: timedelta = timedelta(0),
             ended_ago: timedelta | None = None, why: str = "signed_out") -> tuple[str, str]:
    """A session of alice's, moved back in time: begun ``started_ago``, last seen ``idle`` after it
    began, ended ``ended_ago`` (``why``) or still open; (cookie token, session id)."""
    import secrets

    from api.auth.sessions import TOKEN_PREFIX, hash_token
    from core.kernel.ids import new_id

    token, sid = TOKEN_PREFIX + secrets.token_urlsafe(32), new_id("s")
    start = utcnow() - started_ago
    with store.write() as s:  # stored as create_session stores it (which would purge the ones made before)
        s.add(AuthSessionRow(id=sid, token_hash=hash_token(token), user_id=ALICE.id, method="password",
                             created_at=start, last_seen_at=start + idle, expires_at=start + LIMITS.absolute,
                             ended_at=None if ended_ago is None else utcnow() - ended_ago,
                             end_reason=None if ended_ago is None else why))
    return token, sid


def _ids(store: Any) -> set[str]:
    with store.read() as s:
        return set(s.scalars(select(AuthSessionRow.id)))


def test_sessions_over_for_longer_than_the_retention_are_deleted_at_sign_in(world: World) -> None:
    store = world.api.rt.store
    _clear(store)
    day = timedelta(days=1)
    gone = {
        "signed out 8 days ago": _session(store, started_ago=8 * day + timedelta(hours=1), ended_ago=8 * day),
        "revoked 9 days ago": _session(store, started_ago=9 * day + timedelta(hours=1), ended_ago=9 * day,
                                       why="revoked"),
        "idle since 8 days, never ended": _session(store, started_ago=8 * day, idle=timedelta(minutes=5)),
        # busy to the end: its idle limit passed less than 7 days ago, its absolute limit more
        "past its absolute limit 7 days ago": _session(store, started_ago=7 * day + timedelta(hours=12, minutes=5),
                                                       idle=timedelta(hours=11, minutes=59)),
    }
    kept = {
        "signed out yesterday": _session(store, started_ago=day + timedelta(hours=1), ended_ago=day),
        "idle-expired 6 days ago": _session(store, started_ago=6 * day),
        "open": _session(store, started_ago=timedelta(minutes=5)),
    }
    old_token = gone["signed out 8 days ago"][0]
    head = _audit_head(store)

    b = browser(world.api.client.app)
    r = b.post("/auth/password-login", json={"user": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text

    left = _ids(store)
    assert not {sid for _, sid in gone.values()} & left, "sessions over for more than 7 days are still stored"
    assert {sid for _, sid in kept.values()} <= left
    # A cookie for a deleted session is refused like any unknown one: 401, never a 500.
    stale = browser(world.api.client.app)
    stale.cookies.set("gateward_session", old_token)
    r = stale.get("/api/me")
    assert r.status_code == 401 and "sign in again" in r.json()["detail"], r.text
    # Nothing secret reaches the audit trail: no token, no token hash.
    with store.read() as s:
        rows = [str(d) for d in s.scalars(select(AuditEventRow.data).where(AuditEventRow.seq > head))]
    assert not any(old_token in d or "token_hash" in d for d in rows), rows


def test_the_sign_in_purge_is_bounded(world: World) -> None:
    store = world.api.rt.store
    _clear(store)
    for _ in range(5):
        _session(store, started_ago=timedelta(days=20), ended_ago=timedelta(days=19))
    now = utcnow()
    assert purge_sessions(store, LIMITS, now=now, batch=2) == 2
    assert len(_ids(store)) == 3
    assert purge_sessions(store, LIMITS, now=now, batch=None) == 3  # None: everything due, in batches
    assert _ids(store) == set()


def test_a_retention_of_zero_deletes_ended_sessions_at_once(world: World) -> None:
    store = world.api.rt.store
    _clear(store)
    _, ended = _session(store, started_ago=timedelta(minutes=10))
    _, open_ = _session(store, started_ago=timedelta(minutes=10))
    revoke_sessions(store, by="erin", session_id=ended)
    zero = SessionLimits(idle=LIMITS.idle, absolute=LIMITS.absolute, retention=timedelta(0))
    assert purge_sessions(store, zero, now=utcnow() + timedelta(seconds=1)) == 1
    assert _ids(store) == {open_}


def test_purge_sessions_command(world: World) -> None:
    from testing.cli import run_cli

    store = world.api.rt.store
    _clear(store)
    for _ in range(3):
        _session(store, started_ago=timedelta(days=30), ended_ago=timedelta(days=29))
    _, recent = _session(store, started_ago=timedelta(days=2), ended_ago=timedelta(days=1))
    env = {"GATEWARD_DATABASE_URL": world.url, "GATEWARD_SESSION_RETENTION_DAYS": "7"}
    out = run_cli("users", "purge-sessions", env=env)
    assert out.returncode == 0, out.stderr
    assert "3 session(s) deleted" in out.stdout, out.stdout
    assert _ids(store) == {recent}
    bad = run_cli("users", "purge-sessions", env={**env, "GATEWARD_SESSION_RETENTION_DAYS": "-1"})
    assert bad.returncode != 0 and "GATEWARD_SESSION_RETENTION_DAYS" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AuthSessionRow)) == 1


def _audit_head(store: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.max(AuditEventRow.seq))) or 0)


def test_retention_setting_is_read_and_checked() -> None:
    from core.kernel.errors import Invalid

    assert AuthSettings.from_env({}).session_retention_days == 7
    assert AuthSettings.from_env({"GATEWARD_SESSION_RETENTION_DAYS": "0"}).session_retention_days == 0
    with pytest.raises(Invalid, match="GATEWARD_SESSION_RETENTION_DAYS"):
        AuthSettings.from_env({"GATEWARD_SESSION_RETENTION_DAYS": "400"})
