"""Issue 36, item 5: SIGTERM drains — no new writes, the writes in flight reach a recoverable point,
exit within ``GATEWARD_SHUTDOWN_S`` — and nothing is lost or written twice.

Real processes, as an operator stops them: ``gateward run`` (API + embedded worker; one and two
API processes) and ``gateward worker`` on a simulated fleet, caught mid-apply (a failpoint holds the
apply right after its device write: ``NAME=sleep:S``) and mid-campaign (slow simulated devices, or
the same hold after a batch's first write), then sent SIGTERM — the drain finishing in time, and the
deadline passing with work in flight. Ctrl-C (SIGINT) drains exactly as SIGTERM does; a second one
stops at once, leaving what is in flight to recovery as the deadline would. What reached a device is
read from the simulator's own event log (the ``set`` events carrying the proposal's ParameterKey),
not from what Gateward says it did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from campaigns.service import Campaigns
from core.audit_anchor import load_key
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow, DeviceLockRow, ExecutionRow
from core.users import issue_token
from testing.servers import GatewardRun
from tests.campaigns.helpers import approved, who, writes
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, radio_5g, twin

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
S = ProposalState


@pytest.fixture
def crt(db_url: str) -> Iterator[Any]:
    """A runtime over the 60-home fleet the campaign suites use (``tests.conftest.SEEDED_BY``)."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url))
    yield rt
    rt.close()


def _approved(rt: Any, device: Any) -> Any:
    r = radio_5g(rt, device)
    draft = ProposalDraft(intent="sigterm test", targets=[device.id],
                          changes=[Change(path=ACE.format(r=r), value=False),
                                   Change(path=CH.format(r=r), value=first_not(rt, device, r, 36, 40, 44))])
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = rt.lifecycle.approve(p.id, who(rt, "bob"))
    assert p.state is S.APPROVED, p.error
    return p


def _server(tmp_path: Path, url: str, name: str, limit_s: float, args: tuple[str, ...] | list[str] = (),
            **env: str) -> GatewardRun:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    key = load_key(create=True)  # the test process's audit key: the server signs the same chain
    if key is not None and key.source != "GATEWARD_AUDIT_KEY":
        env = {"GATEWARD_AUDIT_KEY_FILE": key.source, **env}
    return GatewardRun(home=home, database_url=url, homes=0, cwd=ROOT, log=tmp_path / f"{name}.log", args=args,
                       env={"GATEWARD_SHUTDOWN_S": f"{limit_s:g}", "GATEWARD_FAILPOINTS": "", **env})


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def _wait_for(what: str, pred: Any, timeout: float, run: GatewardRun | None = None) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if run is not None and run.proc.poll() is not None:
            raise AssertionError(f"the server exited ({run.proc.returncode}) before {what}:\n{run.log_tail()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}" + (f":\n{run.log_tail()}" if run else ""))
        time.sleep(0.05)


def _ask(method: str, url: str, **kw: Any) -> httpx.Response:
    """One request; a connection reset is tried again (twice). With several API processes, one that
    has nothing in flight stops at once: a connection the kernel queued on its socket in that
    instant is reset, and a client (or the proxy) connects again — to a process still draining."""
    for attempt in range(3):
        try:
            return httpx.request(method, url, timeout=10, **kw)
        except httpx.TransportError:
            if attempt == 2:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


class _Feed(threading.Thread):
    """The console's change feed (``GET /api/events``), read until the server ends it."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.got = b""
        self.hello = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("GET", f"{self.base}/api/events", headers={"Authorization": f"Bearer {self.token}"},
                              timeout=60) as answer:
                for chunk in answer.iter_bytes():
                    self.got += chunk
                    if b"event: hello" in self.got:
                        self.hello.set()
        except httpx.HTTPError:
            pass


class _Post(threading.Thread):
    """One POST on a thread (an apply blocks until it ends); its answer, or the error, afterwards."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.answer: httpx.Response | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.answer = httpx.post(self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)
        except Exception as exc:  # the process exited under it: what the deadline test expects
            self.error = exc


# Ctrl-C takes the same drain as SIGTERM: proven once, on SQLite (the database plays no part in it).
@pytest.mark.parametrize("stop", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.sqlite_only)],
                         ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-api-processes"])
def test_sigterm_mid_apply_refuses_new_writes_lets_the_apply_finish_and_exits_0(
        runtime: Any, db_url: str, tmp_path: Path, workers: int, stop: signal.Signals) -> None:
    d1, d2 = pick(runtime), pick(runtime, skip=1)
    p1, p2 = _approved(runtime, d1), _approved(runtime, d2)
    token = issue_token(runtime.store, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    limit = 30.0
    # The apply is held right after its device write, before the read-back — mid-apply, for sure —
    # until the test has checked the drain and lets it go (``release``).
    release = tmp_path / "release"
    with _server(tmp_path, db_url, "run", limit, args=["--workers", str(workers)],
                 GATEWARD_FAILPOINTS=f"lifecycle.after_write=wait:{release}") as run:
        feed = _Feed(run.base, token)  # an open console page: a stream that would hold the exit
        feed.start()
        assert feed.hello.wait(30), feed.got
        apply1 = _Post(f"{run.base}/api/proposals/{p1.id}/apply", token)
        apply1.start()
        _wait_for("the apply's device write", lambda: writes(runtime, p1.id)[d1.id] == 1, 60, run)
        run.proc.send_signal(stop)
        _wait_for("the drain", lambda: "draining" in run.log.read_text(), 10, run)

        # While it drains: a new write is refused (and does nothing), reads are served, not ready.
        refused = _ask("POST", f"{run.base}/api/proposals/{p2.id}/apply", headers=auth)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "shutting_down"
        assert int(refused.headers["retry-after"]) >= 1
        draft = {"intent": "x", "targets": [d2.id], "changes": [{"path": CH.format(r=1), "value": 1}]}
        created = _ask("POST", f"{run.base}/api/proposals", headers=auth, json=draft)
        assert created.status_code == 503 and created.json()["error"] == "shutting_down", created.text
        read = _ask("GET", f"{run.base}/api/proposals/{p1.id}", headers=auth)
        assert read.status_code == 200, read.text
        assert _ask("GET", f"{run.base}/api/ready").status_code == 503
        feed.join(10)  # the page's feed was ended, to reconnect (to another replica) — not held open
        assert not feed.is_alive() and b"server shutting down" in feed.got, feed.got[-300:]
        assert apply1.is_alive() and run.proc.poll() is None  # still held: the drain waits for it

        release.touch()
        apply1.join(60)
        assert apply1.answer is not None, apply1.error
        assert apply1.answer.status_code == 200, apply1.answer.text
        assert apply1.answer.json()["proposal"]["state"] == "done"
        code = run.proc.wait(timeout=limit + 10)
    assert code == 0, run.log_tail()  # the deadline would have exited 75 naming what it cut off
    assert "drained: nothing in flight" in run.log.read_text()

    assert runtime.lifecycle.get(p1.id).state is S.DONE
    assert runtime.lifecycle.get(p2.id).state is S.APPROVED  # refused: untouched, applies later
    assert dict(writes(runtime, p1.id)) == {d1.id: 1}
    assert not writes(runtime, p2.id)
    acts = _actions(runtime, p1.id)
    assert acts.count("device.applying") == 1 and acts.count("device.verified") == 1
    assert "apply.started" not in _actions(runtime, p2.id)


@pytest.mark.parametrize(("how", "workers"), [("deadline", 1),
                                               pytest.param("second-ctrl-c", 1, marks=pytest.mark.sqlite_only),
                                               pytest.param("second-ctrl-c", 2, marks=pytest.mark.sqlite_only)],
                         ids=["deadline", "second-ctrl-c", "second-ctrl-c-two-api-processes"])
def test_sigterm_past_the_deadline_exits_75_and_the_next_start_recovers_without_a_second_write(
        runtime: Any, db_url: str, tmp_path: Path, how: str, workers: int) -> None:
    """Cut off mid-apply — by the deadline after SIGTERM, or by a second Ctrl-C while draining
    (``GATEWARD_SHUTDOWN_S`` far off) — it exits 75 naming the apply, and the next start recovers it."""
    d = pick(runtime)
    p = _approved(runtime, d)
    token = issue_token(runtime.store, "alice")
    limit = 2.0 if how == "deadline" else 60.0
    # The apply is held right after its device write (before the read-back) for longer than the limit.
    held = _server(tmp_path, db_url, "held", limit, args=["--workers", str(workers)],
                   GATEWARD_FAILPOINTS="lifecycle.after_write=sleep:90")
    with held as run:
        apply = _Post(f"{run.base}/api/proposals/{p.id}/apply", token)
        apply.start()
        _wait_for("the device write", lambda: writes(runtime, p.id)[d.id] == 1, 60, run)
        if how == "deadline":
            run.proc.send_signal(signal.SIGTERM)
        else:
            run.proc.send_signal(signal.SIGINT)
            _wait_for("the drain", lambda: "draining" in run.log.read_text(), 10, run)
            time.sleep(0.5)
            assert run.proc.poll() is None, run.log_tail()  # the first Ctrl-C drains: the apply is held
            run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(timeout=limit + 10)
        apply.join(10)
    log = run.log.read_text()
    assert code == 75, log
    assert f"apply {p.id}" in log and "left to recovery" in log, log
    # it says why it did not wait for the held apply: its deadline, or the second Ctrl-C before it
    assert ("GATEWARD_SHUTDOWN_S=2 s passed" if how == "deadline" else "SIGINT again") in log, log
    assert apply.answer is None or apply.answer.status_code >= 500  # cut off: the process is gone
    assert runtime.lifecycle.get(p.id).state is S.APPLYING  # where a crash would have left it

    with _server(tmp_path, db_url, "restart", 30) as again:
        assert f"recovered {p.id}: done" in again.log.read_text(), again.log_tail()
    assert runtime.lifecycle.get(p.id).state is S.DONE
    assert dict(writes(runtime, p.id)) == {d.id: 1}  # verified after the restart, never written again
    acts = _actions(runtime, p.id)
    assert acts.count("device.applying") == 1 and acts.count("device.verified") == 1
    with runtime.store.read() as s:
        assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 0


def _worker(url: str, log: Path, limit_s: float, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "PYTHONUNBUFFERED": "1", "GATEWARD_SHUTDOWN_S": f"{limit_s:g}"}
    env.pop("GATEWARD_FAILPOINTS", None)
    env.update(extra)
    return subprocess.Popen([sys.executable, "-m", "gateward.cli", "worker", "--concurrency", "2"],
                            env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _statuses(rt: Any, pid: str) -> dict[str, str]:
    with rt.store.read() as s:
        return dict(s.execute(select(ExecutionRow.device_id, ExecutionRow.status).where(
            ExecutionRow.proposal_id == pid)).all())


@pytest.mark.parametrize(("process", "stop"), [("run", signal.SIGTERM), ("worker", signal.SIGTERM),
                                               pytest.param("worker", signal.SIGINT, marks=pytest.mark.sqlite_only)],
                         ids=["run", "worker", "worker-SIGINT"])
def test_sigterm_mid_campaign_stops_between_devices_and_the_restart_finishes_it(
        crt: Any, db_url: str, tmp_path: Path, process: str, stop: signal.Signals) -> None:
    svc = Campaigns(crt)
    st = approved(crt, svc, target={"region": "DE"}, rings=[100],
                  rate={"initial_batch": 6, "max_batch": 6, "max_window": 1})
    cid, pid = st["id"], st["proposal"]["id"]
    targets = crt.lifecycle.get(pid).targets
    assert len(targets) >= 8, targets
    for dev in targets:
        twin(crt).inject(dev, "slow", delay_s=0.25)
    limit = 30.0

    def written() -> int:
        return sum(writes(crt, pid).values())

    if process == "run":
        run = _server(tmp_path, db_url, "campaign", limit).start()
        run.wait_ready()
        proc, log = run.proc, run.log
    else:
        log = tmp_path / "worker.log"
        proc = _worker(db_url, log, limit)
    try:
        svc.start(cid, who(crt, "dave"))
        end = time.monotonic() + 120
        while written() < 7:  # the first batch (6) done, the second one writing its devices
            assert proc.poll() is None and time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.05)
        proc.send_signal(stop)
        _wait_for("the drain", lambda: "draining" in log.read_text() or proc.poll() is not None, 10)
        sim = twin(crt)
        for dev in targets:  # draining: the slowness has done its job (a batch caught mid-way)
            sim.clear(dev, "slow")
        code = proc.wait(timeout=limit + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert code == 0, text[-3000:]  # the deadline would have exited 75 naming what it cut off
    assert "draining" in text, text[-3000:]

    # Stopped between devices: each device of the batch in flight is finished (written and
    # verified) or untouched (pending, its write never started) — none left mid-write — and the
    # rollout is not over.
    left = _statuses(crt, pid)
    assert set(left.values()) == {"verified", "pending"}, left
    done_before = [dev for dev, v in left.items() if v == "verified"]
    assert 7 <= len(done_before) < 12, left
    with crt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 0
    assert set(writes(crt, pid).values()) == {1}

    if process == "run":
        with _server(tmp_path, db_url, "campaign-again", limit):
            _wait_for("the campaign to finish", lambda: svc.status(cid)["terminal"], 180)
    else:
        proc = _worker(db_url, tmp_path / "worker-again.log", limit)
        try:
            _wait_for("the campaign to finish", lambda: svc.status(cid)["terminal"], 180)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=limit + 10) == 0
    final = svc.status(cid)
    assert final["state"] == "completed", (final["halt_reason"], final["error"])
    w = writes(crt, pid)
    assert set(w) == set(targets) and set(w.values()) == {1}  # every device once: nothing lost, nothing twice
    with crt.store.read() as s:
        verified_events = list(s.scalars(select(AuditEventRow.device_id).where(
            AuditEventRow.proposal_id == pid, AuditEventRow.action == "device.verified")))
    assert sorted(verified_events) == sorted(targets)  # the audit: each device verified once


@pytest.mark.parametrize("how", ["deadline", pytest.param("second-ctrl-c", marks=pytest.mark.sqlite_only)])
def test_sigterm_past_the_deadline_mid_batch_exits_75_and_the_next_worker_finishes_without_a_second_write(
        crt: Any, db_url: str, tmp_path: Path, how: str) -> None:
    svc = Campaigns(crt)
    st = approved(crt, svc, target={"region": "DE"}, rings=[100],
                  rate={"initial_batch": 6, "max_batch": 6, "max_window": 1})
    cid, pid = st["id"], st["proposal"]["id"]
    targets = crt.lifecycle.get(pid).targets
    limit = 2.0 if how == "deadline" else 60.0
    log = tmp_path / "worker.log"
    # The batch is held right after its first device write, for longer than the limit.
    proc = _worker(db_url, log, limit, GATEWARD_FAILPOINTS="staged.after_write=sleep:90")
    try:
        svc.start(cid, who(crt, "dave"))
        _wait_for("the first device write", lambda: sum(writes(crt, pid).values()) == 1, 120)
        if how == "deadline":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGINT)
            _wait_for("the drain", lambda: "draining" in log.read_text(), 10)
            time.sleep(0.5)
            assert proc.poll() is None, log.read_text()[-3000:]  # the first Ctrl-C drains: the batch is held
            proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=limit + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert code == 75, text[-3000:]
    assert f"of {pid}" in text and "left to recovery" in text, text[-3000:]
    # it says why it did not wait for the held batch: its deadline, or the second Ctrl-C before it
    assert ("GATEWARD_SHUTDOWN_S=2 s passed" if how == "deadline" else "SIGINT again") in text, text[-3000:]
    assert set(_statuses(crt, pid).values()) == {"applying"}  # where a crash there would leave the batch

    proc = _worker(db_url, tmp_path / "worker-again.log", 30)
    try:
        _wait_for("the campaign to finish", lambda: svc.status(cid)["terminal"], 180)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    final = svc.status(cid)
    assert final["state"] == "completed", (final["halt_reason"], final["error"])
    w = writes(crt, pid)
    assert set(w) == set(targets) and set(w.values()) == {1}  # the written device verified, not written again
