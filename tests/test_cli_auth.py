"""``gateward users passwd`` / ``sessions`` / ``end-sessions`` (issue 36): the password comes from
stdin (never an argument), is stored as argon2, and the session commands list and end sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each command is a process that builds the runtime


def _gw(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], env=env, input=stdin, text=True,
                          capture_output=True, timeout=240)


def test_passwd_reads_stdin_and_sessions_can_be_listed_and_ended(tmp_path: Path) -> None:
    from datetime import timedelta

    from api.auth.passwords import Lockout, verify_password
    from api.auth.sessions import SessionLimits, create_session, list_sessions
    from core.store import Store

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWARD_")},
           "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(tmp_path), "COLUMNS": "200"}
    assert _gw(env, "users", "add", "ann", "--role", "approver").returncode == 0
    twin = _gw(env, "users", "add", "ANN", "--role", "admin")  # the same name to a reader (issue 45)
    assert twin.returncode == 2 and "another case or Unicode form" in twin.stderr and "Traceback" not in twin.stderr
    assert len(twin.stderr.strip().splitlines()) == 1, twin.stderr
    short = _gw(env, "users", "passwd", "ann", stdin="short\n")
    assert short.returncode != 0 and "12.." in short.stderr and "Traceback" not in short.stderr
    ok = _gw(env, "users", "passwd", "ann", stdin="a long enough passphrase\n")
    assert ok.returncode == 0 and "password set for ann" in ok.stdout, ok.stderr

    store = Store(url)
    lockout = Lockout(failures=5, period=timedelta(minutes=1))
    assert verify_password(store, "ann", "a long enough passphrase", lockout).id == "ann"
    limits = SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=1))
    _, info = create_session(store, verify_password(store, "ann", "a long enough passphrase", lockout),
                             "password", limits)
    listed = _gw(env, "users", "sessions", "ann")
    assert info.id in listed.stdout and "password" in listed.stdout
    assert _gw(env, "users", "end-sessions", "ann").returncode == 2  # who ends them: --as
    ended = _gw(env, "users", "end-sessions", "ann", "--as", "ann")
    assert ended.returncode == 0 and "1 session(s) ended" in ended.stdout
    assert list_sessions(store, "ann") == []
    store.dispose()
