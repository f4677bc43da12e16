"""The CLI's one line for a database that failed names the database that failed: the configured one,
or — when the error came from the other kind (a bench on ``GATEWARD_BENCH_DATABASE_URL``) — says the
command opened one of its own instead of sending the reader to the configured SQLite file (CI: "lost
the database sqlite:///…/gateward.db … connection to server at 127.0.0.1, port 5432 failed")."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from gateward.cli import database_problem


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refusal(url: str) -> OperationalError:
    """What SQLAlchemy raises when ``url`` cannot be opened."""
    engine = create_engine(url)
    try:
        with pytest.raises(OperationalError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    return caught.value


def _postgres_refusal() -> OperationalError:
    return _refusal(f"postgresql+psycopg://gw:secret@127.0.0.1:{_free_port()}/gw")


def _sqlite_refusal(tmp_path: Path) -> OperationalError:
    return _refusal(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")


def test_a_postgres_error_under_a_sqlite_configuration_is_not_blamed_on_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    line = database_problem(_postgres_refusal())
    assert line is not None
    assert line.startswith("cannot open the PostgreSQL database this command opened itself: ")
    assert "gateward.db" not in line and "127.0.0.1" in line


def test_a_postgres_error_under_a_postgres_configuration_names_its_url_without_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_DATABASE_URL", "postgresql+psycopg://gw:hunter2@db.internal:5432/gw")
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    line = database_problem(_postgres_refusal())
    assert line is not None
    assert line.startswith("cannot open the database postgresql+psycopg://gw:***@db.internal:5432/gw: ")
    assert "hunter2" not in line


def test_a_sqlite_error_under_a_postgres_configuration_says_so(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_DATABASE_URL", "postgresql+psycopg://gw@db.internal/gw")
    line = database_problem(_sqlite_refusal(tmp_path))
    assert line is not None and line.startswith("cannot open the SQLite database this command opened itself: ")


def test_a_sqlite_error_under_the_default_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    line = database_problem(OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file")))
    assert line is not None
    assert line.startswith(f"cannot open the database sqlite:///{(tmp_path / 'home' / 'gateward.db').resolve()}: ")


def test_a_connection_lost_mid_command_names_the_database_that_was_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    monkeypatch.delenv("GATEWARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path / "home"))
    cut = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
    line = database_problem(_wrapped(cut))
    assert line is not None
    assert line.startswith("lost the PostgreSQL database this command opened itself mid-command (")


def _wrapped(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except Exception as inner:
            raise RuntimeError("the step failed") from inner
    except RuntimeError as outer:
        return outer
