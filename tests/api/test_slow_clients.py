"""Slow clients (issue 34, item 11): of 60 connections trickling their headers a byte at a time,
the server closed none, so anyone could hold its connections for as long as they liked. uvicorn
has no header-read timeout (``timeout_keep_alive`` covers only the wait between requests, and any
byte received resets it). Now headers must arrive within ``GATEWARD_API_HEADER_TIMEOUT_S`` and a
body within ``GATEWARD_API_BODY_TIMEOUT_S``; the client gets a 408 and the connection is closed.
And the server no longer names itself (``Server: uvicorn``). Checked on loopback against a real
``gateward run``, with both HTTP parsers; the counts and the wait are bounded.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 2
CONNECTIONS = 60
TIMEOUTS = {"GATEWARD_API_HEADER_TIMEOUT_S": str(TIMEOUT_S), "GATEWARD_API_BODY_TIMEOUT_S": str(TIMEOUT_S)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    from core.users import issue_token

    home = tmp_path_factory.mktemp("slow-clients")
    url = f"sqlite:///{home / 'g.db'}"
    rt = build_test_runtime(url, homes=3)
    token = issue_token(rt.store, "alice")
    rt.close()
    return home, url, token


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, seeded: tuple[Path, str, str]) -> Iterator[tuple[GatewardRun, str]]:
    home, url, token = seeded
    with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, env=TIMEOUTS,
                     args=["--no-worker", "--http", request.param],
                     log=home / f"server-{request.param}.log") as run:
        yield run, token


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (whatever it said first); never blocks."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_connections_trickling_their_headers_are_closed(server: tuple[GatewardRun, str]) -> None:
    run, _ = server
    socks = [socket.create_connection(("127.0.0.1", run.port), timeout=10) for _ in range(CONNECTIONS)]
    try:
        for s in socks:
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        open_ = set(range(CONNECTIONS))
        deadline = time.monotonic() + TIMEOUT_S + 8  # the timeout, plus slack for a loaded machine
        while open_ and time.monotonic() < deadline:
            for i in sorted(open_):
                try:
                    socks[i].sendall(b"X")  # one byte of a header line, never finished
                except OSError:
                    open_.discard(i)
                    continue
                if _closed(socks[i]):
                    open_.discard(i)
                socks[i].setblocking(True)
            time.sleep(0.25)
        assert not open_, f"{len(open_)} of {CONNECTIONS} trickling connections still open after {TIMEOUT_S + 8} s"
        # the server still serves everyone else
        assert httpx.get(f"{run.base}/api/health", timeout=10).status_code == 200
    finally:
        for s in socks:
            s.close()


def test_a_trickled_body_is_refused_with_408_and_closed(server: tuple[GatewardRun, str]) -> None:
    run, token = server
    with socket.create_connection(("127.0.0.1", run.port), timeout=10) as s:
        s.sendall(b"POST /api/proposals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        answer = b""
        s.settimeout(0.25)
        while time.monotonic() - started < TIMEOUT_S + 8:
            try:
                s.sendall(b" ")
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer


def test_the_server_does_not_name_itself(server: tuple[GatewardRun, str]) -> None:
    run, _ = server
    r = httpx.get(f"{run.base}/api/health", timeout=10)
    assert r.status_code == 200 and "server" not in r.headers, dict(r.headers)
