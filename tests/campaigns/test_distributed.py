"""Several real worker processes on PostgreSQL through procrastinate: one dies mid-write (failpoint,
like ``kill -9`` right after a device write), another is SIGKILLed mid-campaign. The campaign still
completes, no device is changed twice, no lock is left behind. Also: the in-process queue on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.service import Campaigns
from core.store.schema import DeviceLockRow
from tests.campaigns.conftest import campaign_runtime
from tests.campaigns.helpers import approved, who, writes
from tests.conftest import PG_URL, make_db_url

ROOT = Path(__file__).resolve().parents[2]


def _worker(url: str, name: str, log: Path, failpoint: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    env.pop("GATEWARD_FAILPOINTS", None)
    if failpoint:
        env["GATEWARD_FAILPOINTS"] = failpoint
    return subprocess.Popen([sys.executable, "-m", "gateward.cli", "worker", "--concurrency", "2", "--name", name],
                            env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait(svc: Campaigns, cid: str, pred: Any, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = svc.status(cid)
        if pred(st):
            return st
        time.sleep(0.3)
    raise AssertionError(f"timed out; campaign is {svc.status(cid)['state']}: {svc.status(cid)['rings_detail']}")


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("needs PostgreSQL (GATEWARD_TEST_DATABASE_URL)")
    url, cleanup = make_db_url("postgres", tmp_path)
    yield url
    cleanup()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.xdist_group("pg_processes")  # several worker processes on PostgreSQL: see tests/integration/test_soak.py
def test_workers_die_mid_campaign_and_nothing_is_changed_twice(pg_url: str, tmp_path: Path) -> None:
    from campaigns.queue import Queue

    rt = campaign_runtime(pg_url, homes=60)
    queue = Queue.for_url(pg_url).open_sync()
    svc = Campaigns(rt, queue)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        st = approved(rt, svc, rate={"initial_batch": 3, "max_batch": 6, "max_window": 6})
        cid, pid = st["id"], st["proposal"]["id"]
        # w0 dies (os._exit) right after its first device write; w1 is SIGKILLed later; w2 survives.
        procs = [_worker(pg_url, "w0", tmp_path / "w0.log", "staged.after_write"),
                 _worker(pg_url, "w1", tmp_path / "w1.log"), _worker(pg_url, "w2", tmp_path / "w2.log")]
        time.sleep(2.0)
        svc.start(cid, who(rt, "dave"))
        assert procs[0].wait(timeout=90) == 99, (tmp_path / "w0.log").read_text()[-2000:]
        _wait(svc, cid, lambda s: sum(r["verified"] for r in s["rings_detail"]) >= 12 or s["terminal"], 120)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(timeout=10)
        done = _wait(svc, cid, lambda s: s["terminal"] or s["state"] == "paused", 240)
        assert done["state"] == "completed", (done["halt_reason"], done["error"])
        w = writes(rt, pid)
        assert w and max(w.values()) == 1  # no device written twice, whoever died where
        assert sum(w.values()) == done["progress"]["verified"]
        with rt.store.read() as s:
            assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 0
        workers = {b for b in queue.app.job_manager.list_jobs(queue="campaigns") if b.status == "failed"}
        assert not workers
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        queue.close()
        rt.close()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.xdist_group("pg_processes")  # several worker processes on PostgreSQL: see tests/integration/test_soak.py
def test_a_worker_whose_database_was_cut_a_few_times_runs_the_next_campaign(pg_url: str, tmp_path: Path) -> None:
    """The soak's database chaos, alone: the worker reaches PostgreSQL through a proxy the test cuts
    three times for a few seconds; afterwards it is still running and carries out a campaign."""
    from sqlalchemy.engine import make_url

    from campaigns.queue import Queue
    from testing.tcp_proxy import TcpProxy

    rt = campaign_runtime(pg_url, homes=40)
    queue = Queue.for_url(pg_url).open_sync()
    svc = Campaigns(rt, queue)
    u = make_url(pg_url)
    log = tmp_path / "worker.log"
    proc: subprocess.Popen[bytes] | None = None
    with TcpProxy(u.host or "127.0.0.1", u.port or 5432) as proxy:
        try:
            proc = _worker(proxy.url_for(pg_url), "cut", log)
            _wait_log(log, "Starting worker", proc)
            for _ in range(3):  # as the soak cuts it: a few seconds each time
                proxy.cut()
                time.sleep(4)
                proxy.restore()
                time.sleep(2)
            st = approved(rt, svc)
            svc.start(st["id"], who(rt, "dave"))
            done = _wait(svc, st["id"], lambda s: s["terminal"] or s["state"] == "paused", 120)
            assert done["state"] == "completed", (done["halt_reason"], log.read_text()[-3000:])
            assert proc.poll() is None, log.read_text()[-3000:]
            assert set(writes(rt, st["proposal"]["id"]).values()) == {1}
        finally:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
            queue.close()
            rt.close()


def _wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}) before {text!r}: "
                                 f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the worker's log: {log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_a_queue_worker_stopped_by_a_lost_database_is_started_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Found by a CI soak run: right after a database cut, procrastinate's worker fetched a job on a
    pooled connection the cut had closed ("consuming input failed: server closed the connection
    unexpectedly"), stopped, and ``gateward worker`` exited — its campaign was never finished. The
    same error is raised here at the same place (procrastinate's real worker loop handles it), once."""
    import psycopg
    from procrastinate import exceptions, manager

    from gateward.worker import EmbeddedWorker

    fetch = manager.JobManager.fetch_job
    raised: list[int] = []

    async def fetch_once_lost(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not raised:
            raised.append(1)
            lost = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
            raise exceptions.ConnectorException() from lost
        return await fetch(self, *args, **kwargs)

    monkeypatch.setattr(manager.JobManager, "fetch_job", fetch_once_lost)
    rt = campaign_runtime(f"sqlite:///{tmp_path / 'g.db'}", homes=40)
    try:
        svc = Campaigns(rt)
        st = approved(rt, svc)
        with caplog.at_level("WARNING", logger="gateward.campaigns.worker"), \
                EmbeddedWorker(rt, concurrency=2) as worker:
            svc.start(st["id"], who(rt, "dave"))
            done = _wait(svc, st["id"], lambda s: s["terminal"] or s["state"] == "paused", 120)
        assert raised and worker.error is None, worker.error
        assert done["state"] == "completed"
        assert any("starting it again" in r.getMessage() for r in caplog.records)
        assert set(writes(rt, st["proposal"]["id"]).values()) == {1}
    finally:
        rt.close()


@pytest.mark.slow
def test_sqlite_runs_on_the_in_process_queue(tmp_path: Path) -> None:
    from gateward.worker import EmbeddedWorker

    rt = campaign_runtime(f"sqlite:///{tmp_path / 'g.db'}", homes=40)
    try:
        svc = Campaigns(rt)
        st = approved(rt, svc)
        with EmbeddedWorker(rt, concurrency=2) as worker:
            svc.start(st["id"], who(rt, "dave"))
            done = _wait(svc, st["id"], lambda s: s["terminal"] or s["state"] == "paused", 120)
        assert worker.error is None
        assert done["state"] == "completed"
        assert set(writes(rt, st["proposal"]["id"]).values()) == {1}
    finally:
        rt.close()
