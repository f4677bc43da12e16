"""A connection refused because PostgreSQL has no session free waits for one
(``core.store.admission``); any other refusal fails at once, and so does the wait's end.

The rule on its own with an injected clock, then against the shared PostgreSQL: a role with
``CONNECTION LIMIT 1`` makes the server refuse exactly as a full server does ("too many connections
for role"), without taking the slots the rest of the suite needs.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.store.admission import FIRST_PAUSE_S, LONGEST_PAUSE_S, connect_when_admitted, server_full
from core.store.db import make_engine


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.pauses.append(s)
        self.now += s


def _refusing(times: int, message: str = "FATAL:  sorry, too many clients already") -> tuple[list[int], object]:
    calls = [0]

    def connect() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise RuntimeError(message)
        return "conn"
    return calls, connect


@pytest.mark.parametrize("message", [
    "FATAL:  sorry, too many clients already",
    'FATAL:  too many connections for role "gw"',
    "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
    "ERROR: no more connections allowed (max_client_conn)",
])
def test_each_wording_of_a_full_server_is_waited_out(message: str, caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    calls, connect = _refusing(3, message)
    with caplog.at_level(logging.INFO, logger="core.store.admission"):
        assert connect_when_admitted(connect, 10, clock=clock, sleep=clock.sleep) == "conn"  # type: ignore[arg-type]
    assert calls[0] == 4
    assert clock.pauses == [FIRST_PAUSE_S, 2 * FIRST_PAUSE_S, 4 * FIRST_PAUSE_S]
    # one warning for the whole wait, quoting the server's own words; one line when it ends
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "core.store.admission"]
    assert said == [(logging.WARNING, f"database has no free session ({message}); waiting up to 10 s for one"),
                    (logging.INFO, "database session admitted after 3 refusals")]


def test_the_warning_quotes_the_last_line_of_a_long_refusal(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    long_line = "FATAL:  sorry, too many clients already " + "x" * 300
    _calls, connect = _refusing(1, f"connection failed: server said\n{long_line}\n")
    with caplog.at_level(logging.INFO, logger="core.store.admission"):
        connect_when_admitted(connect, 10, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warning == f"database has no free session ({long_line[:200]}); waiting up to 10 s for one"


def test_a_connection_admitted_at_once_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    _calls, connect = _refusing(0)
    with caplog.at_level(logging.DEBUG, logger="core.store.admission"):
        assert connect_when_admitted(connect, 10, clock=clock, sleep=clock.sleep) == "conn"  # type: ignore[arg-type]
    assert [r for r in caplog.records if r.name == "core.store.admission"] == []


@pytest.mark.parametrize("message", [
    'FATAL:  password authentication failed for user "gw"',
    'FATAL:  database "nope" does not exist',
    "connection refused",
    "the database system is starting up",
])
def test_any_other_refusal_fails_at_once(message: str) -> None:
    clock = _Clock()
    calls, connect = _refusing(1, message)
    with pytest.raises(RuntimeError, match=message.split()[-1]):
        connect_when_admitted(connect, 10, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert calls[0] == 1 and clock.pauses == []
    assert not server_full(RuntimeError(message))


def test_the_pause_doubles_to_its_cap_and_never_runs_past_the_deadline() -> None:
    clock = _Clock()
    calls, connect = _refusing(10_000)
    with pytest.raises(RuntimeError, match="too many clients"):
        connect_when_admitted(connect, 3.0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert clock.pauses[:6] == [0.05, 0.1, 0.2, 0.4, 0.8, LONGEST_PAUSE_S]
    assert max(clock.pauses) == LONGEST_PAUSE_S
    assert sum(clock.pauses) == pytest.approx(3.0)  # the last pause is cut to what was left
    assert calls[0] == len(clock.pauses) + 1  # one try after the last pause, then the refusal is raised


def test_no_wait_means_the_first_refusal_is_raised() -> None:
    clock = _Clock()
    calls, connect = _refusing(1)
    with pytest.raises(RuntimeError):
        connect_when_admitted(connect, 0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert calls[0] == 1 and clock.pauses == []


# ---------------------------------------------------------------- against PostgreSQL

@pytest.fixture
def one_session_role() -> Iterator[str]:
    """A login role the server admits once at a time; its URL (trust authentication)."""
    base = os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not base:
        pytest.skip("GATEWARD_TEST_DATABASE_URL is not set")
    base = base.split("?", 1)[0]
    role = f"gw_admit_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    try:
        yield base.replace("://postgres@", f"://{role}@", 1)
    finally:
        admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def _hold(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


@pytest.mark.postgres
def test_a_store_connection_waits_for_the_session_a_neighbour_hands_back(
        one_session_role: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GATEWARD_DB_CONNECT_WAIT_S", "60")
    neighbour = _hold(one_session_role)
    engine = make_engine(one_session_role)
    refused = threading.Event()

    class _SeeRefusal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "no free session" in record.getMessage():
                refused.set()

    watcher = _SeeRefusal()
    logging.getLogger("core.store.admission").addHandler(watcher)
    # the neighbour hands its session back only once the store has been refused at least once
    def hand_back() -> None:
        refused.wait(60)
        neighbour.close()

    releaser = threading.Thread(target=hand_back)
    releaser.start()
    try:
        with caplog.at_level(logging.INFO, logger="core.store.admission"), engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == one_session_role.split("://")[1].split("@")[0]
    finally:
        releaser.join()
        logging.getLogger("core.store.admission").removeHandler(watcher)
        engine.dispose()
    assert refused.is_set()
    assert any("admitted after" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
def test_with_no_wait_the_full_server_refusal_reaches_the_caller(
        one_session_role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_DB_CONNECT_WAIT_S", "0")
    neighbour = _hold(one_session_role)
    engine = make_engine(one_session_role)
    try:
        with pytest.raises(OperationalError, match="too many connections for role"):
            engine.connect()
    finally:
        engine.dispose()
        neighbour.close()


@pytest.mark.postgres
def test_an_unknown_database_is_not_waited_for(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    base = os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not base:
        pytest.skip("GATEWARD_TEST_DATABASE_URL is not set")
    monkeypatch.setenv("GATEWARD_DB_CONNECT_WAIT_S", "60")
    engine = make_engine(base.split("?", 1)[0].rsplit("/", 1)[0] + f"/nope_{uuid.uuid4().hex[:8]}")
    try:
        with caplog.at_level(logging.WARNING, logger="core.store.admission"), \
                pytest.raises(OperationalError, match="does not exist"):
            engine.connect()
    finally:
        engine.dispose()
    assert not [r for r in caplog.records if r.name == "core.store.admission"]
