"""Devices behind NAT (issue 12 deliverable 2): connection requests fail, periodic informs arrive.

With ``inform_wait_s`` the adapter queues each task *without* a connection request (``expiry``
no longer than the wait) and the lifecycle's backup → apply → verify runs in the sessions of the
device's next informs; without an inform in time the queued task is withdrawn and nothing changes.
Run against the faithful fake NBI, whose CPE with the ``unreachable`` fault answers no connection
request but informs when told to.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.errors import DeviceUnavailable
from core.models import Change, Device, ProposalDraft, ProposalState, Root
from core.store import repo
from core.store.schema import AuditEventRow, DeviceRow
from core.users import get_actor

S = ProposalState
SSID = "Device.WiFi.SSID.1.SSID"


def _world(tmp_path: Path, inform_wait_s: float) -> Iterator[dict[str, Any]]:
    from core.config import Settings
    from core.routing import ExecutorRouter
    from executors.genieacs.executor import GenieAcsExecutor
    from executors.sim.executor import SimExecutor
    from executors.sim.twin import Twin
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet
    from testing.genieacs.fake_nbi import FakeNbi

    url = f"sqlite:///{tmp_path / 'gateward.db'}"
    twin = Twin(url)
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    genieacs = GenieAcsExecutor(url=nbi.url, timeout_s=3.0, inform_wait_s=inform_wait_s)
    router = ExecutorRouter({"sim": lambda: SimExecutor(twin), "genieacs": lambda: genieacs})
    rt = build_runtime(Settings(database_url=url), router=router)
    seed_fleet(rt, homes=12, seed=11)
    with rt.store.read() as s:
        fleet, _ = repo.list_devices(s, limit=1000)
    d = next((d for d in fleet if str(d.protocol) == "cwmp" and d.root is Root.DEVICE and not twin.faults(d.id)), None)
    if d is None:
        pytest.fail("the seeded fleet (homes=12, seed=11) lacks a healthy TR-181 CWMP device")
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(adapter="genieacs"))
    with rt.store.read() as s:
        d = repo.get_devices(s, [d.id])[d.id]
    yield {"rt": rt, "twin": twin, "nbi": nbi, "d": d, "genieacs": genieacs}
    rt.close()
    del rt
    gc.collect()
    genieacs.close()
    nbi.stop()
    twin.close()


@pytest.fixture
def nat(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path, inform_wait_s=20.0)


@pytest.fixture
def nat_short(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path, inform_wait_s=1.5)


class Informer:
    """The CPE's periodic informs, every ``every`` seconds, while the block runs."""

    def __init__(self, nbi: Any, d: Device, every: float = 0.4) -> None:
        self.nbi, self.d, self.every = nbi, d, every
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.nbi.inform(self.d.id)
            self.count += 1

    def __enter__(self) -> Informer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def _proposal(rt: Any, d: Device, value: str) -> Any:
    draft = ProposalDraft(intent="rename the home network", targets=[d.id],
                          changes=[Change(path=SSID, value=value)], rationale="the subscriber asked for it")
    p = rt.lifecycle.submit(draft, get_actor(rt.store, "alice"))
    assert p.state is S.APPROVED, p.error
    return p


def _cr_sent_with(nbi: Any, d: Device) -> list[str]:
    return [e["result"] for e in nbi.rpc_log(d.id) if e["rpc"] == "ConnectionRequest"]


def test_nat_device_change_runs_at_its_next_informs(nat: dict[str, Any]) -> None:
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d) as informer:
        # a first read learns that connection requests fail; it still runs, at the next inform
        before = rt.router.reader(d).read(d, [SSID])[SSID].value
        assert len(_cr_sent_with(nbi, d)) == 1
        p = _proposal(rt, d, "Behind NAT")
        pres = rt.router.reader(d).presence(d)
        assert pres.online and "waiting for the device's next inform (~" in (pres.detail or "")
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert informer.count >= 3  # backup, Set and verify each ran in an inform's session
    assert out.proposal.state is S.DONE, out.proposal.error
    assert twin.params(d.id)[SSID] == "Behind NAT" != before
    assert len(_cr_sent_with(nbi, d)) == 1, "no connection request after the first one failed"
    with rt.store.read() as s:
        notes = list(s.scalars(select(AuditEventRow.data).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.action == "apply.waiting_for_inform")))
    assert notes and "next inform" in notes[0]["note"]
    assert nbi.store.device_tasks(nbi.genie_id(d.id)) == [], "nothing left queued"


def test_nat_device_without_an_inform_in_time_is_left_untouched(nat_short: dict[str, Any]) -> None:
    rt, twin, nbi, d = nat_short["rt"], nat_short["twin"], nat_short["nbi"], nat_short["d"]
    p = _proposal(rt, d, "Never Lands")
    twin.inject(d.id, "unreachable")
    before = twin.params(d.id)[SSID]
    with pytest.raises(DeviceUnavailable, match="did not inform within"):
        rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert rt.lifecycle.get(p.id).state is S.APPROVED  # nothing was changed; it can run later
    with nbi.store.lock:
        queued = [t for t in nbi.store.tasks.values() if t["device"] == nbi.genie_id(d.id)]
    assert queued == [], "the queued backup read was withdrawn"
    nbi.inform(d.id)  # a late inform: nothing lands behind the lifecycle's back
    assert twin.params(d.id)[SSID] == before


def test_without_inform_wait_a_nat_device_is_deferred_as_before(tmp_path: Path) -> None:
    world = _world(tmp_path, inform_wait_s=0.0)
    w = next(world)
    try:
        rt, twin, d = w["rt"], w["twin"], w["d"]
        p = _proposal(rt, d, "Not Queued")
        twin.inject(d.id, "unreachable")
        with pytest.raises(DeviceUnavailable, match="cannot be reached"):
            rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert rt.lifecycle.get(p.id).state is S.APPROVED
    finally:
        next(world, None)


def test_nat_device_fault_on_the_queued_set_is_mapped_and_nothing_lands(nat: dict[str, Any]) -> None:
    """A queued Set that the CPE faults in its inform session is the same typed fault as with a
    connection request: the device is left as it was, nothing waits in the queue."""
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d):
        before = rt.router.reader(d).read(d, [SSID])[SSID].value
        p = _proposal(rt, d, "Faulted Behind NAT")
        twin.inject(d.id, "fault_on_set", code=9002, message="internal error")
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.ROLLED_BACK, out.proposal.error
    assert "9002" in (out.failed.get(d.id) or "") or "internal error" in (out.failed.get(d.id) or "")
    assert "inform within" not in (out.proposal.error or "")  # a fault, not a wait that ran out
    assert twin.params(d.id)[SSID] == before
    assert nbi.store.device_tasks(nbi.genie_id(d.id)) == []
