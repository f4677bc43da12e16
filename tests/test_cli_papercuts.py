"""CLI papercuts from issue 16, run as a person runs them (the real entry point, in process —
``testing/cli.py`` — with one smoke test of the installed command in a real process):

- the default ``GATEWARD_HOME`` is a per-user data directory, so ``gateward status`` run from two
  different directories reads the same database (it used to be ``./var``: another directory, an
  empty fleet) and says which database it uses;
- ``gateward run`` says "serving on" only once the port is bound, and fails clearly when it is
  taken; with ``--demo`` it prints a token for every demo person;
- the CLI refuses an auditor a planner chat, as the API does.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testing.cli import CliResult, run_cli

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTEST = ".venv/bin/pytest"


# what these runs must not inherit from the test's own environment
CLEARED = ("GATEWARD_HOME", "GATEWARD_DATABASE_URL", "GATEWARD_SIM_DATABASE_URL", "OPENAI_API_KEY")


def _env(**extra: str) -> dict[str, str]:
    return {"COLUMNS": "200", **extra}


def _gw(cwd: Path, env: dict[str, str], *args: str, timeout: float = 240) -> CliResult:
    """``gateward *args`` from ``cwd``, in process (``timeout``: kept from the process days, unused)."""
    return run_cli(*args, env=env, unset=tuple(k for k in CLEARED if k not in env), cwd=cwd)


def test_the_installed_command_runs_in_a_process(tmp_path: Path) -> None:
    """The one smoke test of the real ``gateward`` entry point in a process of its own (the
    console script pip installed): a read command answers and a bad one exits 2 on one line."""
    exe = Path(sys.executable).parent / "gateward"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="200")
    ok = subprocess.run([str(exe), "status"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert f"database: sqlite:///{tmp_path / 'data' / 'gateward' / 'gateward.db'}" in ok.stdout
    bad = subprocess.run([str(exe), "device", "NOPE-NOPE-1"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr


def test_default_home_is_per_user_and_not_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.config import Settings

    monkeypatch.delenv("GATEWARD_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    home = Settings().home
    assert home == tmp_path / "data" / "gateward" and home.is_absolute()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "u"))
    assert Settings().home == tmp_path / "u" / ".local" / "share" / "gateward"


def test_status_from_two_directories_reads_the_same_database(tmp_path: Path) -> None:
    env = _env(XDG_DATA_HOME=str(tmp_path / "data"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deeper").mkdir(parents=True)
    first = _gw(tmp_path / "a", env, "status")
    second = _gw(tmp_path / "b" / "deeper", env, "status")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    db = f"sqlite:///{tmp_path / 'data' / 'gateward' / 'gateward.db'}"
    for out in (first.stdout, second.stdout):
        assert f"database: {db}" in out, out
        assert "fleet:" in out and "devices" in out
    assert not (tmp_path / "a" / "var").exists() and not (tmp_path / "b" / "deeper" / "var").exists()


def test_status_hides_a_database_password(tmp_path: Path) -> None:
    from gateward.cli import _db_label

    assert _db_label("postgresql+psycopg://gw:s3cret@db.example:5432/gw") == \
        "postgresql+psycopg://gw:***@db.example:5432/gw"


def _seeded(tmp_path: Path) -> str:
    from tests.conftest import build_test_runtime

    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=3).close()
    return url


def test_run_on_a_taken_port_fails_before_saying_it_serves(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        handlers = list(logging.getLogger().handlers)
        out = _gw(tmp_path, _env(GATEWARD_HOME=str(tmp_path), GATEWARD_DATABASE_URL=_seeded(tmp_path)),
                  "run", "--port", str(port), "--no-worker", timeout=120)
        assert logging.getLogger().handlers == handlers  # run configured logging for its run only
    assert out.returncode == 2, out.stdout + out.stderr
    assert "serving on" not in out.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_run_demo_prints_a_token_for_every_demo_person(tmp_path: Path) -> None:
    """``--demo`` over a database ``gateward seed`` made (its directory is exactly the demo users:
    adopted as the demo's). Without ``--demo`` no token is printed (tests/test_run_production.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "run.log"
    with open(log, "w") as fh:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(_env(GATEWARD_HOME=str(tmp_path), GATEWARD_DATABASE_URL=_seeded(tmp_path), PYTHONUNBUFFERED="1"))
        proc = subprocess.Popen([sys.executable, "-m", "gateward.cli", "run", "--demo", "--port", str(port),
                                 "--homes", "3", "--no-worker"], cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    try:
        deadline = time.monotonic() + 120
        while "serving on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        import httpx

        text = log.read_text()
        tokens = {}
        for line in text.splitlines():
            parts = line.split()
            if parts and parts[-1].startswith("gw_"):
                tokens[parts[0]] = parts[-1]
        assert {"alice", "sam", "bob", "carol", "dave", "erin"} <= set(tokens), text
        assert "remediator" not in tokens  # automation identities are not people signing in
        me = httpx.get(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {tokens['erin']}"})
        assert me.status_code == 200 and me.json()["roles"] == ["auditor"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_cli_refuses_an_auditor_a_chat_as_the_api_does(tmp_path: Path) -> None:
    url = _seeded(tmp_path)
    out = _gw(tmp_path, _env(GATEWARD_HOME=str(tmp_path), GATEWARD_DATABASE_URL=url),
              "chat", "--device", "any", "--as", "erin", "-m", "hello", "--planner", "offline")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "erin is an auditor; auditors read threads but do not chat with the planner" in out.stderr


def test_seeding_nothing_finishes_at_once_and_twice(tmp_path: Path) -> None:
    """``gateward seed`` with nothing new to seed (``--homes 0`` on a fresh home, then the same
    fleet again) opened a second write transaction inside its own: on SQLite it waited on itself
    for ~30 s and died with "database is locked"."""
    env = _env(GATEWARD_HOME=str(tmp_path / "home"))
    for args in (("--homes", "0"), ("--homes", "0"), ("--homes", "1"), ("--homes", "1")):
        r = _gw(tmp_path, env, "seed", *args, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "locked" not in r.stderr and "fleet:" in r.stdout


@pytest.mark.parametrize("level, said", [("", False), ("DEBUG", True)])
def test_a_first_start_does_not_print_the_migrations(tmp_path: Path, level: str, said: bool) -> None:
    """A first ``gateward run`` migrates an empty database with its logging set up as it serves:
    Alembic's forty-odd INFO lines ("Running upgrade 0001 -> 0002 …") came before the banner and the
    tokens a newcomer looks for. They are said at ``GATEWARD_LOG_LEVEL=DEBUG`` only."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = f"from gateward.logs import configure; configure('text'); from core.store.db import Store; Store({url!r})"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED and k != "GATEWARD_LOG_LEVEL"}
    env["GATEWARD_LOG_LEVEL"] = level
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert ("Running upgrade" in out.stderr) is said, out.stderr[-2000:]


def _make_n(*args: str, makefile: Path = ROOT / "Makefile") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "PYTEST_ARGS", "PORT", "HOST"))}
    out = subprocess.run(["make", "-n", "-f", str(makefile), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_test_says_its_seed_and_runs_with_it() -> None:
    """``-q`` hides pytest-randomly's header, so ``make test`` said nothing of the order it ran in;
    it prints the seed it passes, and a seed given in PYTEST_ARGS (or the files' order) is left alone."""
    lines = _make_n("test").splitlines()
    said = next(ln for ln in lines if "seed" in ln and ln.startswith("echo"))
    seed = said.split("seed ", 1)[1].split()[0]
    assert any(ln.startswith(f"{VENV_PYTEST}") and f"--randomly-seed={seed}" in ln for ln in lines), lines
    plain = _make_n("test", "PYTEST_ARGS=-p no:randomly")
    assert "--randomly-seed" not in plain and "-p no:randomly" in plain


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_run_takes_a_port_and_a_host() -> None:
    run = [ln for ln in _make_n("run", "PORT=9123", "HOST=0.0.0.0").splitlines() if "gateward run" in ln]
    assert run and "--port 9123" in run[-1] and "--host 0.0.0.0" in run[-1], run
