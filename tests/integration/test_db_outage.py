"""Issue 45, item 8: a database outage mid-apply ends cleanly, in a live server and in the CLI.

The outage is real: the application reaches PostgreSQL through a TCP proxy the test cuts
(``testing.tcp_proxy``) — every open connection is closed at once and new ones are refused — and
then restores. The machine's PostgreSQL keeps running (other suites use it); the simulated fleet's
twin is reached directly (``GATEWARD_SIM_DATABASE_URL``), so the devices stay reachable while the
control plane's database is away, as real devices would.

It used to end with the proposal ``applying`` and its device locks held by the live, healthy
server that ran it: ``gateward recover`` said "nothing to recover" (a live holder), the retry the
503 advised was refused (409), the half-applied change stayed on the devices until someone
restarted the server, requests met stale pooled connections with 500s, and the CLI printed
SQLAlchemy tracebacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.kernel.models import ExecutionStatus, ProposalState
from core.store.schema import DeviceLockRow, ExecutionRow
from testing.servers import GatewardRun
from testing.tcp_proxy import TcpProxy
from tests.conftest import PG_URL, REQUIRE, seeded_db_url
from tests.integration.test_apply_fanout import SSID1, _approved
from tests.integration.test_staged import _cwmp_tr181

pytestmark = pytest.mark.postgres
S = ProposalState
ROOT = Path(__file__).resolve().parents[2]
SETTLE_WAIT_S = 60  # how long the test waits for the server to finish what the outage cut (a liveness bound)


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[str]:
    """A seeded PostgreSQL database of its own (the address the proxy forwards to)."""
    if not PG_URL:
        if REQUIRE:
            pytest.fail("GATEWARD_TEST_DATABASE_URL is not set")
        pytest.skip("needs PostgreSQL (GATEWARD_TEST_DATABASE_URL)")
    url, drop = seeded_db_url("postgres", tmp_path)
    yield url
    drop()


@pytest.fixture
def proxy(direct: str) -> Iterator[TcpProxy]:
    from sqlalchemy.engine import make_url

    u = make_url(direct)
    with TcpProxy(u.host or "127.0.0.1", u.port or 5432) as p:
        yield p


@pytest.fixture
def rt(direct: str) -> Iterator[Any]:
    """The test's own runtime on the direct address: it sets up and inspects, never applies."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    runtime = build_runtime(Settings(database_url=direct))
    yield runtime
    runtime.close()


def _wait(what: str, check: Callable[[], bool], timeout: float = SETTLE_WAIT_S) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)


def _locks(rt: Any, pid: str) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceLockRow)
                            .where(DeviceLockRow.proposal_id == pid)) or 0)


def _started(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(ExecutionRow.device_id).where(
            ExecutionRow.proposal_id == pid, ExecutionRow.status == str(ExecutionStatus.APPLYING))))


def _ssids(rt: Any, devices: list[Any]) -> list[Any]:
    return [rt.router.reader(d).read(d, [SSID1])[SSID1].value for d in devices]


def _gw(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env={**os.environ, "GATEWARD_DATABASE_URL": url, "COLUMNS": "400", **env})


def _server(tmp_path: Path, proxy: TcpProxy, direct: str, failpoints: str) -> GatewardRun:
    return GatewardRun(home=tmp_path, database_url=proxy.url_for(direct), homes=12, cwd=ROOT,
                       env={"GATEWARD_SIM_DATABASE_URL": direct, "GATEWARD_FAILPOINTS": failpoints})


def _post_apply(base: str, token: str, pid: str, out: dict[str, httpx.Response]) -> threading.Thread:
    def go() -> None:
        out["r"] = httpx.post(f"{base}/api/proposals/{pid}/apply", headers={"Authorization": f"Bearer {token}"},
                              timeout=120)

    t = threading.Thread(target=go)
    t.start()
    return t


def test_a_server_finishes_an_apply_the_database_cut_and_the_retry_gets_its_outcome(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    from core.users import issue_token

    devices = _cwmp_tr181(rt, 3)
    before = _ssids(rt, devices)
    p = _approved(rt, devices, "cut-mid-apply")
    token = issue_token(rt.store, "alice")
    go = tmp_path / "go"
    with _server(tmp_path, proxy, direct, f"lifecycle.after_write=wait:{go}") as srv:
        out: dict[str, httpx.Response] = {}
        t = _post_apply(srv.base, token, p.id, out)
        _wait("the first device written", lambda: len(_started(rt, p.id)) == 1)
        first = _started(rt, p.id)[0]
        proxy.cut()  # the database goes away with one of three devices written
        go.touch()
        t.join(120)
        r = out["r"]
        assert r.status_code == 503, r.text
        assert r.headers.get("retry-after"), r.headers
        body = r.json()
        assert body["error"] == "database_unavailable", body
        assert "1 of 3 device(s) written" in body["detail"] and first in body["detail"], body
        assert "gateward recover" in body["detail"], body
        assert rt.lifecycle.get(p.id).state is S.APPLYING and _locks(rt, p.id) == 3  # nothing settled yet

        # Another process that can reach the database while the server cannot: the live holder is
        # named, never "nothing to recover", and nothing of it is taken over.
        rec = _gw(direct, "recover")
        assert rec.returncode == 0, rec.stderr
        assert "nothing to recover" not in rec.stdout, rec.stdout
        assert p.id in rec.stdout and "live process" in rec.stdout, rec.stdout
        assert rt.lifecycle.get(p.id).state is S.APPLYING

        proxy.restore()  # the server finishes it by itself: one device written → rolled back
        # rolled back, then its locks released (the next transaction)
        _wait("the cut apply settled", lambda: rt.lifecycle.get(p.id).state is S.ROLLED_BACK and _locks(rt, p.id) == 0)
        assert _ssids(rt, devices) == before  # the half-applied change is gone from the device

        retry = httpx.post(f"{srv.base}/api/proposals/{p.id}/apply", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
        assert retry.status_code == 200, retry.text
        assert retry.json()["proposal"]["state"] == "rolled_back"
    rec = _gw(direct, "recover")
    assert rec.returncode == 0 and "nothing to recover" in rec.stdout, rec.stdout + rec.stderr


def test_an_apply_cut_before_any_write_is_approved_again_and_the_retry_applies_it(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    from core.users import issue_token

    devices = _cwmp_tr181(rt, 2)
    p = _approved(rt, devices, "retried-after-outage")
    token = issue_token(rt.store, "alice")
    go = tmp_path / "go"
    with _server(tmp_path, proxy, direct, f"lifecycle.after_backup=wait:{go}") as srv:
        out: dict[str, httpx.Response] = {}
        t = _post_apply(srv.base, token, p.id, out)
        _wait("the backup taken", lambda: rt.lifecycle.get(p.id).state is S.APPLYING)
        proxy.cut()
        go.touch()
        t.join(120)
        assert out["r"].status_code == 503 and "no device was written" in out["r"].json()["detail"], out["r"].text
        proxy.restore()
        _wait("approved again", lambda: rt.lifecycle.get(p.id).state is S.APPROVED and _locks(rt, p.id) == 0)
        retry = httpx.post(f"{srv.base}/api/proposals/{p.id}/apply", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
        assert retry.status_code == 200, retry.text
        assert retry.json()["proposal"]["state"] == "done"
    assert _ssids(rt, devices) == ["retried-after-outage"] * 2


def test_every_request_during_and_after_an_outage_is_answered_never_500(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    """One keep-alive client and a few others, through a cut and a restore: each request gets an
    answer (200, or 503 with Retry-After while the database is away), never a 500 or a dropped
    connection; once it is back, stale pooled connections are not handed to requests."""
    from core.users import issue_token

    token = issue_token(rt.store, "bob")
    headers = {"Authorization": f"Bearer {token}"}
    paths = ["/api/proposals?limit=5", "/api/devices?limit=5", "/api/audit?limit=5", "/api/ready"]
    with _server(tmp_path, proxy, direct, "") as srv, httpx.Client(base_url=srv.base, headers=headers,
                                                                 timeout=30) as client:
        def sweep(n: int) -> list[httpx.Response]:
            return [client.get(paths[k % len(paths)]) for k in range(n)]

        warm = sweep(40)  # every pooled connection in use once
        assert {r.status_code for r in warm} == {200}, [r.text for r in warm if r.status_code != 200]
        proxy.cut()
        during = sweep(20)
        assert all(r.status_code in (200, 503) for r in during), [(r.status_code, r.text) for r in during]
        refused = [r for r in during if r.status_code == 503]
        assert refused and all(r.headers.get("retry-after") for r in refused)
        assert all(r.json().get("error") == "database_unavailable" or r.json().get("ready") is False
                   for r in refused), [r.text for r in refused]
        proxy.restore()
        after = sweep(60)
        assert [r.status_code for r in after if r.status_code != 200] == [], [r.text for r in after
                                                                              if r.status_code != 200]
    assert "internal error (a bug)" not in srv.log_tail()


def test_the_cli_says_what_an_outage_cut_and_recover_finishes_it(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    devices = _cwmp_tr181(rt, 3)
    before = _ssids(rt, devices)
    p = _approved(rt, devices, "cli-cut")
    go = tmp_path / "go"
    url = proxy.url_for(direct)
    out: dict[str, subprocess.CompletedProcess[str]] = {}
    t = threading.Thread(target=lambda: out.setdefault("r", _gw(
        url, "apply", p.id, "--as", "alice", GATEWARD_SIM_DATABASE_URL=direct,
        GATEWARD_FAILPOINTS=f"lifecycle.after_write=wait:{go}")))
    t.start()
    _wait("the first device written", lambda: len(_started(rt, p.id)) == 1)
    proxy.cut()
    go.touch()
    t.join(180)
    r = out["r"]
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "1 of 3 device(s) written" in r.stderr and "gateward recover" in r.stderr, r.stderr
    # While it is still away: one line, no traceback, for any command.
    down = _gw(url, "recover")
    assert down.returncode == 2 and "Traceback" not in down.stderr, down.stderr
    assert len(down.stderr.strip().splitlines()) == 1 and "database" in down.stderr, down.stderr
    proxy.restore()
    rec = _gw(url, "recover", GATEWARD_SIM_DATABASE_URL=direct)
    assert rec.returncode == 0 and f"{p.id}: rolled_back" in rec.stdout, rec.stdout + rec.stderr
    assert _locks(rt, p.id) == 0 and _ssids(rt, devices) == before


def test_connections_the_database_ended_while_idle_are_never_handed_to_a_request(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    """An outage shorter than the pool's idle ping (no request met it): every pooled connection
    was ended, and the first requests after it must not draw one (each failed once before)."""
    from core.users import issue_token

    headers = {"Authorization": f"Bearer {issue_token(rt.store, 'bob')}"}
    with _server(tmp_path, proxy, direct, "") as srv, httpx.Client(base_url=srv.base, headers=headers,
                                                                 timeout=30) as client:
        device = _cwmp_tr181(rt, 1)[0].id
        paths = (f"/api/devices/{device}", "/api/audit?limit=5", "/api/proposals?limit=5") * 5
        warm = [client.get(p) for p in paths]
        assert {r.status_code for r in warm} == {200}
        proxy.cut()
        proxy.restore()
        after = [client.get(p) for p in paths]
        assert [(r.status_code, r.text) for r in after if r.status_code != 200] == []


def test_a_submit_the_database_cut_is_finished_by_the_server_never_left_undecided(
        tmp_path: Path, proxy: TcpProxy, direct: str, rt: Any) -> None:
    """Recorded, then the database went away before preview and decision: a proposal left
    ``validated`` held its device against every later proposal (precedence) until someone cancelled
    it, and a client retrying the 503 made a second one. The server finishes it; the 503 names it."""
    from core.store.schema import ProposalRow
    from core.users import issue_token

    device = _cwmp_tr181(rt, 1)[0]
    token = issue_token(rt.store, "alice")
    go = tmp_path / "go"
    body = {"intent": "rename", "targets": [device.id], "changes": [{"path": SSID1, "value": "cut-submit"}],
            "rationale": "cut mid-submit"}

    def mine() -> list[Any]:
        with rt.store.read() as s:
            return list(s.execute(select(ProposalRow.id, ProposalRow.state).where(
                ProposalRow.rationale == "cut mid-submit")))

    with _server(tmp_path, proxy, direct, f"lifecycle.after_create=wait:{go}") as srv:
        out: dict[str, httpx.Response] = {}

        def post() -> None:
            out["r"] = httpx.post(f"{srv.base}/api/proposals", json=body, timeout=120,
                                  headers={"Authorization": f"Bearer {token}"})

        t = threading.Thread(target=post)
        t.start()
        _wait("the proposal recorded", lambda: len(mine()) == 1)
        proxy.cut()
        go.touch()
        t.join(120)
        r = out["r"]
        assert r.status_code == 503 and r.headers.get("retry-after"), r.text
        (pid, state), = mine()
        assert r.json()["error"] == "database_unavailable" and pid in r.json()["detail"], r.text
        assert state == "validated"
        proxy.restore()
        _wait("the submit finished", lambda: mine()[0][1] in ("approved", "awaiting_approval"))
    assert len(mine()) == 1
