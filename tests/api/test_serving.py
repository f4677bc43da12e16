"""``gateward run`` serving options (issue 15): the C HTTP parser and loop when installed, a clear
error for one that is not, and ``--workers N`` processes that share everything through the
database — a proposal created through one is listed by all, and a token revoked from another
process stops working on every worker within ``GATEWARD_TOKEN_CACHE_S``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateward.runtime import server_impls
from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[2]


def test_auto_picks_the_c_parser_and_loop_when_installed() -> None:
    want_http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    want_loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert server_impls() == (want_http, want_loop)
    assert server_impls("h11", "asyncio") == ("h11", "asyncio")


@pytest.mark.parametrize(("http", "loop", "message"), [
    ("zttp", "auto", "--http is one of"), ("auto", "trio", "--loop is one of")])
def test_an_unknown_server_option_is_a_clear_error(http: str, loop: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        server_impls(http, loop)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--http", "nope"], {}, "--http is one of"),
    (["--workers", "2"], {"GATEWARD_TOKEN_CACHE_S": "99"}, "GATEWARD_TOKEN_CACHE_S is 0..60 seconds"),
    ([], {"GATEWARD_SHUTDOWN_S": "soon"}, "GATEWARD_SHUTDOWN_S must be a number of seconds"),
    ([], {"GATEWARD_SHUTDOWN_S": "0"}, "GATEWARD_SHUTDOWN_S must be more than 0"),
    (["--workers", "2"], {"GATEWARD_API_START_TIMEOUT_S": "0"}, "GATEWARD_API_START_TIMEOUT_S must be more than 0"),
    (["--workers", "2"], {"GATEWARD_API_START_TIMEOUT_S": "a while"}, "GATEWARD_API_START_TIMEOUT_S must be a number")])
def test_run_refuses_a_bad_option_before_serving(tmp_path: Path, args: list[str], env: dict[str, str],
                                                 message: str) -> None:
    env = {**os.environ, "GATEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "GATEWARD_HOME": str(tmp_path),
           **env}
    done = subprocess.run([sys.executable, "-m", "gateward.cli", "run", "--port", "1", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and message in done.stderr and "serving on" not in done.stdout


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts worker processes through /proc")
def test_two_workers_share_the_database_and_revocation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    rt = build_test_runtime(url, homes=3)
    from core.store import repo
    from core.users import issue_token

    with rt.store.read() as s:
        device = repo.list_devices(s, limit=1)[0][0].id
    token = issue_token(rt.store, "alice")
    rt.close()
    hdr = {"Authorization": f"Bearer {token}"}
    with GatewardRun(home=tmp_path, database_url=url, homes=3, cwd=ROOT, args=["--no-worker", "--workers", "2"],
                     env={"GATEWARD_TOKEN_CACHE_S": "1"}) as run:
        run.wait_log("API processes: 2", 30)
        deadline = time.monotonic() + 30
        while len(_children(run.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(run.proc.pid)) >= 2
        r = httpx.post(f"{run.base}/api/proposals", headers=hdr, timeout=60, json={
            "intent": "workers", "targets": [device], "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
        assert r.status_code == 201, r.text
        pid = r.json()["proposal"]["id"]
        for _ in range(12):  # a new connection each: the kernel spreads them over both workers
            listed = httpx.get(f"{run.base}/api/proposals", headers=hdr, timeout=30)
            assert listed.status_code == 200 and pid in [p["id"] for p in listed.json()["items"]]
        env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(tmp_path)}
        revoked = subprocess.run([sys.executable, "-m", "gateward.cli", "users", "revoke", "alice"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=120, check=False)
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(1.2)  # the cache TTL set above
        codes = {httpx.get(f"{run.base}/api/me", headers=hdr, timeout=30).status_code for _ in range(12)}
        assert codes == {401}


@pytest.mark.slow
def test_an_api_process_slow_to_start_is_given_its_start_time_not_killed(tmp_path: Path) -> None:
    """A spawned API process answers its supervisor only once its interpreter has started and
    imported the app. Held longer than uvicorn's 5 s ping (as on a loaded host), it must be waited
    for — each one used to be killed and replaced in turn, and the server never became ready."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=2).close()
    with GatewardRun(home=tmp_path, database_url=url, homes=2, cwd=ROOT, args=["--no-worker", "--workers", "2"],
                     env={"GATEWARD_FAILPOINTS": "serving.api_process_start=sleep:8"}) as run:
        assert httpx.get(f"{run.base}/api/health", timeout=30).status_code == 200
        assert len(_workers(run, 2)) == 2
    assert "replacing it" not in run.log.read_text(), run.log_tail()


@pytest.mark.slow
def test_an_api_process_that_never_answers_is_replaced_after_its_start_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=2).close()
    run = GatewardRun(home=tmp_path, database_url=url, homes=2, cwd=ROOT, args=["--no-worker", "--workers", "2"],
                      env={"GATEWARD_FAILPOINTS": "serving.api_process_start=sleep:60",
                           "GATEWARD_API_START_TIMEOUT_S": "2"}).start()
    try:
        run.wait_log("did not answer within GATEWARD_API_START_TIMEOUT_S=2 s of its start; replacing it", 60)
    finally:
        run.stop()


def _tcp_sockets(port: int) -> dict[int, str]:
    """{socket inode: state} of every IPv4 TCP socket on local ``port`` (/proc/net/tcp: 0A listen,
    01 established)."""
    out = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            out[int(fields[9])] = fields[3]
    return out


def _held(pid: int, inodes: dict[int, str], state: str) -> set[int]:
    """The sockets among ``inodes`` in ``state`` that process ``pid`` has open."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inodes.get(inode) == state:
                    held.add(inode)
    return held


def _workers(run: GatewardRun, n: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = [k for k in _children(run.proc.pid) if _held(k, _tcp_sockets(run.port), "0A")]
        if len(kids) == n:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"expected {n} workers listening, saw {_children(run.proc.pid)}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists() or not hasattr(socket, "SO_REUSEPORT"),
                    reason="reads sockets through /proc; needs SO_REUSEPORT")
def test_each_worker_accepts_on_a_socket_of_its_own(tmp_path: Path) -> None:
    """Two workers each listen on a socket of their own on the one port; keep-alive connections
    opened together spread over both (on one shared socket, one worker often took them all); a
    killed worker is replaced on its own socket, and a second server on the port is refused."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=2).close()
    with GatewardRun(home=tmp_path, database_url=url, homes=2, cwd=ROOT, args=["--no-worker", "--workers", "2"]) as run:
        a, b = _workers(run, 2)
        listening = {k: _held(k, _tcp_sockets(run.port), "0A") for k in (a, b)}
        assert all(len(s) == 1 for s in listening.values()) and listening[a] != listening[b], listening
        conns = [socket.create_connection(("127.0.0.1", run.port), timeout=10) for _ in range(16)]
        try:
            for c in conns:  # one request each, the connection kept open
                c.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert c.recv(64).startswith(b"HTTP/1.1 200")
            served = {k: len(_held(k, _tcp_sockets(run.port), "01")) for k in (a, b)}
            assert sum(served.values()) == 16 and min(served.values()) >= 1, served  # all 16 on one: p = 3e-5
        finally:
            for c in conns:
                c.close()
        os.kill(b, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = [k for k in _children(run.proc.pid) if k != b and _held(k, _tcp_sockets(run.port), "0A")]
            if len(kids) == 2:
                break
            time.sleep(0.2)
        replacement = next(k for k in kids if k != a)
        assert _held(replacement, _tcp_sockets(run.port), "0A") == listening[b]  # the dead worker's socket
        assert httpx.get(f"{run.base}/api/health", timeout=10).status_code == 200
        # A second server started on the port is refused, though its sockets would allow sharing.
        env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(tmp_path)}
        second = subprocess.run([sys.executable, "-m", "gateward.cli", "run", "--host", "127.0.0.1", "--port",
                                 str(run.port), "--workers", "2", "--no-worker"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 2 and "cannot listen" in second.stderr, second.stderr[-500:]
