"""The shared ``gateward run`` helper (``testing.servers``): a server that cannot start fails the
test at once with the server's own reason, and one that starts serves and stops cleanly."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from testing.servers import GatewardRun, ServerFailed
from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("server-helper")
    url = f"sqlite:///{home / 'g.db'}"
    build_test_runtime(url, homes=3).close()
    return home, url


def test_a_server_that_exits_fails_with_its_reason(seeded: tuple[Path, str]) -> None:
    home, url = seeded
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"], port=port)
        with pytest.raises(ServerFailed, match=r"(?s)exited with 2.*cannot listen on 127\.0\.0\.1"), run:
            pass
    assert run.proc.poll() is not None  # nothing left running


@pytest.mark.slow
def test_a_server_serves_until_stopped(seeded: tuple[Path, str]) -> None:
    home, url = seeded
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"]) as run:
        assert httpx.get(f"{run.base}/api/ready", timeout=30).status_code == 200
        run.wait_log("serving on", 30)
        assert run.stop(signal.SIGINT) == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{run.base}/api/ready", timeout=2)
