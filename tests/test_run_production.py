"""Issue 34, item 1: ``gateward run`` is production by default, the demo only with ``--demo``.

Before, every start seeded an empty database with 200 simulated homes, (re-)created the demo people
(admin ``dave`` included) and printed a fresh 30-day token for every active person — a person an
admin added later too — so a production service log held every user's credentials. Now:

- ``gateward run`` never seeds, never creates a person, never prints a token; on a database with
  no people it says how to create the first admin;
- ``gateward users add NAME --role admin`` + ``gateward users token NAME`` on a fresh, empty
  database give a working first admin;
- ``gateward run --demo`` seeds, creates the demo people and prints their tokens, and the API tells
  the console it is a demo (``GET /api/health`` ``demo``) — but only for demo people it created or
  owns: against a database that holds real people it creates none and prints no real person's token.

Real processes, as an operator runs them.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.store import Store
from core.store.schema import DeviceRow, UserRow
from testing.cli import CliResult, run_cli
from testing.servers import GatewardRun

ROOT = Path(__file__).resolve().parents[1]
TOKEN = re.compile(r"gw_[A-Za-z0-9_-]{20,}")
DEMO_PEOPLE = {"alice", "sam", "bob", "carol", "dave", "erin"}

pytestmark = pytest.mark.slow


def _env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWARD_SIM_DATABASE_URL", "OPENAI_API_KEY")}
    return {**env, "GATEWARD_HOME": str(home), "GATEWARD_DATABASE_URL": url, "COLUMNS": "200"}


def _gw(home: Path, url: str, *args: str) -> CliResult:
    return run_cli(*args, env={"GATEWARD_HOME": str(home), "GATEWARD_DATABASE_URL": url}, cwd=home,
                   unset=("GATEWARD_SIM_DATABASE_URL", "OPENAI_API_KEY"))


def _fresh(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    home.mkdir()
    return home, f"sqlite:///{home / 'gateward.db'}"


def _users(url: str) -> dict[str, tuple[list[str], str, bool]]:
    store = Store(url)
    try:
        with store.read() as s:
            return {r.id: (list(r.roles), r.kind, r.active) for r in s.scalars(select(UserRow))}
    finally:
        store.dispose()


def _devices(url: str) -> int:
    store = Store(url)
    try:
        with store.read() as s:
            return int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
    finally:
        store.dispose()


def _printed_tokens(log: str) -> dict[str, str]:
    """``name  roles  gw_…`` lines of a demo start: name → token."""
    out = {}
    for line in log.splitlines():
        parts = line.split()
        if parts and TOKEN.fullmatch(parts[-1]):
            out[parts[0]] = parts[-1]
    return out


def _health(base: str) -> dict[str, object]:
    r = httpx.get(f"{base}/api/health", timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_run_on_an_empty_database_seeds_nothing_creates_no_person_prints_no_token_and_the_first_admin_works(
        tmp_path: Path) -> None:
    home, url = _fresh(tmp_path)
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"],
                     log=home / "first.log") as run:
        assert _health(run.base)["demo"] is False
        log = run.log.read_text()
    assert not TOKEN.search(log), log
    assert _devices(url) == 0, "a production start seeded a simulated fleet"
    people = {u for u, (_, kind, _) in _users(url).items() if kind == "human"}
    assert people == set(), f"a production start created people: {people}"
    assert "no users yet" in log and "gateward users add NAME --role admin" in log, log

    # The first admin of a real deployment, on that database (no demo people anywhere).
    added = _gw(home, url, "users", "add", "ops-root", "--role", "admin")
    assert added.returncode == 0, added.stdout + added.stderr
    issued = _gw(home, url, "users", "token", "ops-root")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    token = TOKEN.search(issued.stdout)
    assert token, issued.stdout

    # Restarted: the admin's token works, and the start hands nobody a token.
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"],
                     log=home / "second.log") as run:
        me = httpx.get(f"{run.base}/api/me", headers={"Authorization": f"Bearer {token.group(0)}"}, timeout=10)
        assert me.status_code == 200 and me.json()["roles"] == ["admin"], me.text
        # what the start built is frozen out of the collector's walks (gateward.heap)
        scrape = httpx.get(f"{run.base}/metrics", headers={"Authorization": f"Bearer {token.group(0)}"}, timeout=30)
        frozen = re.search(r"^gateward_gc_frozen_objects (\S+)$", scrape.text, re.M)
        assert frozen and float(frozen.group(1)) > 10_000, scrape.text[:2000]
        log = run.log.read_text()
    assert not TOKEN.search(log), log
    assert "no users yet" not in log
    assert {u for u, (_, kind, _) in _users(url).items() if kind == "human"} == {"ops-root"}


def test_run_refuses_homes_without_demo_before_serving(tmp_path: Path) -> None:
    home, url = _fresh(tmp_path)
    with socket.socket() as taken:  # were the check to come late, the start fails here: never hangs serving
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        done = _gw(home, url, "run", "--port", str(taken.getsockname()[1]), "--homes", "5")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--homes" in done.stderr and "--demo" in done.stderr and "serving on" not in done.stdout
    assert _devices(url) == 0


def test_run_demo_seeds_prints_demo_tokens_and_says_demo_from_every_api_process(tmp_path: Path) -> None:
    home, url = _fresh(tmp_path)
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT,
                     args=["--demo", "--no-worker", "--workers", "2"]) as run:
        # 16 fresh connections: the kernel spreads them over both processes' sockets
        assert {bool(_health(run.base)["demo"]) for _ in range(16)} == {True}
        log = run.log.read_text()
        tokens = _printed_tokens(log)
        assert set(tokens) == DEMO_PEOPLE, log  # the automation identity is no person signing in
        me = httpx.get(f"{run.base}/api/me", headers={"Authorization": f"Bearer {tokens['dave']}"}, timeout=10)
        assert me.status_code == 200 and me.json()["roles"] == ["admin"]
    assert "demo" in log.lower() and _devices(url) > 0


def test_run_demo_never_creates_demo_people_or_prints_tokens_beside_real_people(tmp_path: Path) -> None:
    """A real ``dave`` (the demo admin's very name and role) added by ``users add``: ``--demo``
    must not take him for the demo's, print his token, or add the other demo people."""
    home, url = _fresh(tmp_path)
    assert _gw(home, url, "users", "add", "dave", "--role", "admin").returncode == 0
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--demo", "--no-worker"]) as run:
        assert _health(run.base)["demo"] is True
        log = run.log.read_text()
    assert not TOKEN.search(log), log
    assert "not the demo's" in log, log
    people = {u for u, (_, kind, _) in _users(url).items() if kind == "human"}
    assert people == {"dave"}, people


def test_run_demo_prints_no_token_for_a_person_an_admin_added_to_a_demo(tmp_path: Path) -> None:
    """A demo database (``--demo`` created its people) to which an admin then added ``frank``, and
    revoked ``bob``: the next ``--demo`` start prints the active demo people's tokens only — not
    frank's, and bob is neither re-activated nor handed a token."""
    home, url = _fresh(tmp_path)
    with GatewardRun(home=home, database_url=url, homes=2, cwd=ROOT, args=["--demo", "--no-worker"],
                     log=home / "first.log") as run:
        assert set(_printed_tokens(run.log.read_text())) == DEMO_PEOPLE
    assert _gw(home, url, "users", "add", "frank", "--role", "approver").returncode == 0
    assert _gw(home, url, "users", "revoke", "bob").returncode == 0
    with GatewardRun(home=home, database_url=url, homes=2, cwd=ROOT, args=["--demo", "--no-worker"],
                     log=home / "second.log") as run:
        log = run.log.read_text()
    assert set(_printed_tokens(log)) == DEMO_PEOPLE - {"bob"}, log
    assert len(TOKEN.findall(log)) == len(DEMO_PEOPLE) - 1
    assert _users(url)["bob"][2] is False  # still revoked
