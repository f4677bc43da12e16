"""Devices behind NAT (issue 12 deliverable 2): connection requests fail, periodic informs arrive.

With ``inform_wait_s`` the adapter queues each task *without* a connection request (``expiry``
no longer than the wait) and the lifecycle's backup → apply → verify runs in the sessions of the
device's next informs; without an inform in time the queued task is withdrawn and nothing changes.
Run against the faithful fake NBI, whose CPE with the ``unreachable`` fault answers no connection
request but informs when told to.
"""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.kernel.errors import DeviceUnavailable
from core.kernel.models import Change, Device, ProposalDraft, ProposalState, Root
from core.store import repo
from core.store.schema import AuditEventRow, BackupRow, DeviceRow, ExecutionRow
from core.users import get_actor

S = ProposalState
SSID = "Device.WiFi.SSID.1.SSID"


def _world(tmp_path: Path, inform_wait_s: float | None, settle: bool = True,
           **options: Any) -> Iterator[dict[str, Any]]:
    from core.kernel.config import Settings
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
    genieacs = GenieAcsExecutor(url=nbi.url, timeout_s=3.0, inform_wait_s=inform_wait_s, **options)
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
    # a periodic inform since GenieACS last read the device, which gave nothing anew: a preview then
    # reads the device (at its next inform) instead of going by its last inform's values (those are
    # test_refresh_preset.py's) — past the refresh interval of that read, or GenieACS counts it as given
    from executors.genieacs.timing import next_boundary

    if settle:
        nbi.inform(d.id)  # (its first session registers it)
        gid = nbi.genie_id(d.id)
        read_at = max(leaf.ts for leaf in nbi.store.devices[gid].params.values())
        threading.Event().wait(max(0.0, next_boundary(read_at, gid) - time.time() + 0.01))
        nbi.inform(d.id)
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
        assert pres.online and "waiting for the device's next inform (due at " in (pres.detail or "")
        assert "from its own PeriodicInformInterval of " in (pres.detail or "")
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
        with pytest.raises(DeviceUnavailable, match="cannot be reached") as refused:
            rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert rt.lifecycle.get(p.id).state is S.APPROVED
        # the refusal names the setting that turned waiting off (issue 58 item 1): "try again after
        # its next inform" alone could never succeed
        assert "GATEWARD_GENIEACS_INFORM_WAIT_S=0" in str(refused.value)
    finally:
        next(world, None)


INTERVAL = "Device.ManagementServer.PeriodicInformInterval"


def test_at_the_default_a_nat_device_waits_for_its_inform_bounded_by_its_own_interval(tmp_path: Path) -> None:
    """Issue 58 item 1: with GATEWARD_GENIEACS_INFORM_WAIT_S unset a change to a CPE whose connection
    requests are dropped was denied ("try again after its next inform", which could never succeed).
    Waiting is the default, bounded by the CPE's own PeriodicInformInterval as read from it: the
    first task reads the interval with it, the waits after it name it, and with no inform the wait
    ends after that interval (and the session's budget), not after a figure assumed for every CPE."""
    from core.kernel.config import Settings
    from executors.base import DeviceOffline
    from executors.genieacs import factory
    from executors.genieacs.settings import GenieAcsSettings

    assert GenieAcsSettings().inform_wait_s is None
    assert factory(Settings(genieacs_url="http://127.0.0.1:9")).inform_wait_s is None
    world = _world(tmp_path, inform_wait_s=None, settle=False, session_budget_s=1.0)  # GenieACS holds no interval
    w = next(world)
    try:
        rt, twin, nbi, d, acs = w["rt"], w["twin"], w["nbi"], w["d"], w["genieacs"]
        twin.device_change(d.id, {INTERVAL: 2})
        twin.inject(d.id, "unreachable")
        heard: list[Any] = []
        rt.lifecycle.add_wait_listener(lambda pid, wait: heard.append(wait))
        nbi.inform(d.id)
        with Informer(nbi, d):
            p = _proposal(rt, d, "Waits By Default")
            out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert out.proposal.state is S.DONE, out.proposal.error
        assert twin.params(d.id)[SSID] == "Waits By Default"
        assert len(heard) >= 2, heard
        assert all(wait.interval_s == 2 for wait in heard[1:]), heard  # read with the first task, not assumed
        assert "its own interval of 2s" in heard[-1].detail, heard[-1].detail
        # no inform comes now: the wait ends after the device's own interval and the session's budget
        with pytest.raises(DeviceOffline, match=r"did not inform within 3s") as late:
            acs.read(d, [SSID])
        assert late.value.nothing_sent
        assert nbi.store.device_tasks(nbi.genie_id(d.id)) == []
    finally:
        next(world, None)


def test_a_preview_of_a_device_that_stopped_informing_says_offline_once(nat: dict[str, Any]) -> None:
    """Issue 58 item 8: the preview of such a device read "offline: offline: no inform for 85s ago"."""
    import time

    rt, d, acs = nat["rt"], nat["d"], nat["genieacs"]
    acs.clock = lambda: time.time() + 3 * 3600  # its last inform is three hours old
    p = rt.lifecycle.submit(ProposalDraft(intent="rename", targets=[d.id], changes=[Change(path=SSID, value="x")],
                                          rationale="the subscriber asked"), get_actor(rt.store, "alice"))
    preview = rt.lifecycle.preview_of(p.id)
    error = next(dp["error"] for dp in preview["devices"] if dp["device_id"] == d.id)
    assert error.count("offline") == 1 and "ago ago" not in error and "for 3.0 h ago" not in error, error


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


@pytest.mark.parametrize("says", ["offline", "error"])
def test_a_nat_device_gets_its_change_whatever_genieacs_calls_the_failed_request_and_the_wait_is_shown(
        nat: dict[str, Any], says: str) -> None:
    """Issue 46 item 6, found against GenieACS 1.2.16: a NAT that drops the connection request is
    "Device is offline" to GenieACS (ECONNRESET after its timeout), and the change was denied as
    offline although the device informed seconds before. Whether the device informs decides, not the
    words; and the wait is an event — with when the inform is due, from the device's own interval —
    told while it lasts (``gateward apply`` prints it; the trail and the console's feed carry it)."""
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable", says=says)
    heard: list[Any] = []
    shown: list[Any] = []  # what the API's execution rows said while it waited

    def listen(pid: str | None, wait: Any) -> None:
        heard.append((pid, wait))
        with rt.store.read() as s:
            shown.extend(s.scalars(select(ExecutionRow.detail).where(ExecutionRow.proposal_id == pid)))

    rt.lifecycle.add_wait_listener(listen)
    with Informer(nbi, d):
        p = _proposal(rt, d, f"NAT {says}")
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert twin.params(d.id)[SSID] == f"NAT {says}"
    assert heard and all(pid in (p.id, None) for pid, _ in heard)
    wait = heard[0][1]
    assert wait.interval_s is not None and wait.due_at is not None
    assert f"due at {wait.due_at:%Y-%m-%d %H:%M:%SZ}, from its own PeriodicInformInterval" in wait.detail
    with rt.store.read() as s:
        events = list(s.scalars(select(AuditEventRow.data).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.action == "device.waiting_for_inform")))
    assert events and events[0]["due_at"] == wait.due_at.isoformat()
    # the submit's live preview waited first (it is said too), then the apply's steps
    assert events[0]["step"] == "preview" and len(events) > 1, events
    assert {e["step"] for e in events[1:]} <= {"backup", "apply", "verify"}, events
    assert any((d or {}).get("waiting_for_inform", {}).get("due_at") for d in shown), shown
    with rt.store.read() as s:
        final = s.scalar(select(ExecutionRow.detail).where(ExecutionRow.proposal_id == p.id))
    assert "waiting_for_inform" not in (final or {})  # over once the device moved on


def _cli_env(rt: Any, nbi: Any, tmp_path: Path) -> dict[str, str]:
    """A CLI process on the test's database and NBI, waiting up to 20 s for a NAT device's inform."""
    return {"GATEWARD_HOME": str(tmp_path / "home"), "GATEWARD_DATABASE_URL": rt.store.url,
            "GATEWARD_GENIEACS_URL": nbi.url, "GATEWARD_GENIEACS_TIMEOUT_S": "3",
            "GATEWARD_GENIEACS_INFORM_WAIT_S": "20"}


def test_gateward_apply_prints_the_wait_for_a_nat_devices_next_inform_while_it_lasts(
        nat: dict[str, Any], tmp_path: Path) -> None:
    """Issue 46 item 6, as a person sees it: ``gateward apply`` of a change to a device behind NAT
    prints, while the change waits, which device waits for its next inform and when that is due
    from the device's own PeriodicInformInterval — not only a late "done" or a timeout."""
    from testing.cli import run_cli

    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    env = _cli_env(rt, nbi, tmp_path)
    with Informer(nbi, d):
        p = _proposal(rt, d, "NAT From The CLI")
        out = run_cli("apply", p.id, "--as", "alice", env=env, columns=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert twin.params(d.id)[SSID] == "NAT From The CLI"
    waits = [line for line in out.stdout.splitlines() if line.startswith(f"  {d.id}: waiting for ")]
    assert waits, out.stdout
    said = waits[0]
    assert re.match(rf"  {re.escape(d.id)}: waiting for the device's next inform \(due at "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, from its own PeriodicInformInterval of \d+s "
                    r"\(last inform \d\d:\d\d:\d\dZ\)\): its connection requests fail", said), said
    # said while it waited, before the outcome
    assert out.stdout.index(said) < out.stdout.index("applied and verified on 1 device(s)"), out.stdout


def test_gateward_propose_prints_the_wait_of_its_live_preview_on_a_nat_device(
        nat: dict[str, Any], tmp_path: Path) -> None:
    """Found against the real GenieACS by hand: ``propose``'s live preview read of a device behind NAT
    waited for its inform in silence (only ``apply`` said so). It says so too, while it waits."""
    from testing.cli import run_cli

    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    env = _cli_env(rt, nbi, tmp_path)
    with Informer(nbi, d):
        out = run_cli("propose", "-d", d.id, "--set", f"{SSID}=NAT Proposed", "--reason", "hand check",
                      "--as", "alice", env=env, columns=400)
    assert out.returncode == 0, out.stdout + out.stderr
    waits = [line for line in out.stdout.splitlines() if line.startswith(f"  {d.id}: waiting for ")]
    assert waits and "getParameterValues task" in waits[0], out.stdout
    assert out.stdout.index(waits[0]) < out.stdout.index("next: gateward"), out.stdout  # said before the result


def test_a_set_withdrawn_before_it_ran_is_nothing_sent(nat_short: dict[str, Any]) -> None:
    """Issue 46 item 6: a queued Set withdrawn because the device did not inform in time (gone before
    its inform) ended ``rollback_pending`` with an alarm, though nothing was written. GenieACS still
    held it when it was deleted, and no session began since: it never ran — nothing sent."""
    rt, twin, nbi, d, acs = nat_short["rt"], nat_short["twin"], nat_short["nbi"], nat_short["d"], nat_short["genieacs"]
    twin.inject(d.id, "unreachable")
    informer = Informer(nbi, d, every=0.3)
    real_apply = acs.apply

    def gone_before_the_set(*args: Any, **kw: Any) -> Any:
        informer.stop.set()  # the device goes away after the backup read ran at an inform
        informer.thread.join(5)
        return real_apply(*args, **kw)

    acs.apply = gone_before_the_set
    with informer:
        before = rt.router.reader(d).read(d, [SSID])[SSID].value  # learns: requests fail, it informs
        p = _proposal(rt, d, "Never Sent")
        with pytest.raises(DeviceUnavailable, match="nothing sent"):
            rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    got = rt.lifecycle.get(p.id)
    assert got.state is S.APPROVED, (got.state, got.error)  # deferred: it can run at a later inform
    with rt.store.read() as s:
        alarms = list(s.scalars(select(AuditEventRow.action).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.action.like("alarm.%"))))
    assert alarms == []
    assert twin.params(d.id)[SSID] == before
    assert nbi.store.device_tasks(nbi.genie_id(d.id)) == []


def test_a_nat_devices_read_back_is_a_read_of_the_device_in_a_later_session(nat: dict[str, Any]) -> None:
    """Issue 46 item 6 asked for a change to cost as few informs as the protocol allows. Tried: the
    verify's read queued behind the Set to share its session. GenieACS answers a read of values it set
    in the same session from its cache (the values carry that session's timestamp, newer than the read's
    task: no GetParameterValues reaches the CPE — the double's "CachedRead"), so that read-back would
    prove only what was sent. The floor through GenieACS's NBI is therefore a session for the Set and a
    later one for the read-back; this pins that the read-back is a real GetParameterValues after an
    Inform of its own."""
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d):
        rt.router.reader(d).read(d, [SSID])  # learns: requests fail, it informs
        p = _proposal(rt, d, "Read Back")
        start = len(nbi.rpc_log(d.id))
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    log = [e["rpc"] for e in nbi.rpc_log(d.id)[start:]]
    after = log[log.index("SetParameterValues") + 1:]
    assert "CachedRead" not in after and "GetParameterValues" in after, log
    assert "Inform" in after[:after.index("GetParameterValues")], log  # its own session


def _posting(nbi: Any) -> list[str]:
    """The names of the tasks posted to the NBI from here on."""
    names: list[str] = []
    real = nbi.post_task

    def counting(g: str, raw: Any, **kw: Any) -> Any:
        names.append(raw.get("name"))
        return real(g, raw, **kw)

    nbi.post_task = counting
    return names


def _backup_source(rt: Any, pid: str) -> dict[str, Any]:
    with rt.store.read() as s:
        data = s.scalars(select(AuditEventRow.data).where(
            AuditEventRow.proposal_id == pid, AuditEventRow.action == "proposal.backed_up")).one()
    return dict(data)


def test_a_nat_devices_backup_is_its_preview_read_when_its_informs_since_gave_nothing_anew(
        nat: dict[str, Any]) -> None:
    """Behind NAT every task waits for an inform: a backup read of its own cost one inform interval
    per change (4: preview, backup, Set, verify). The device informs every interval whatever
    happens, so "no session since the preview read" never holds there; what the backup needs is that
    no session since gave the changed values anew (each still carries the preview read's
    ``_timestamp``) and none booted the device. Then the backup is the preview read, and the change
    costs the preview's inform, the Set's and the read-back's: 3."""
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d) as informer:
        p = _proposal(rt, d, "Three Informs")  # its live preview learns: requests fail, it informs
        seen = informer.count
        while informer.count < seen + 2:  # periodic informs between the preview and the apply
            threading.Event().wait(0.05)
        posted = _posting(nbi)
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert posted == ["setParameterValues", "getParameterValues"]  # no backup read of its own
    assert twin.params(d.id)[SSID] == "Three Informs"
    assert _backup_source(rt, p.id).get("from_preview_read") == [d.id]
    with rt.store.read() as s:
        backup = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == p.id)).one()
    assert "informs since" in backup[SSID]["source"] and "gave none of these values anew" in backup[SSID]["source"]


def test_a_nat_devices_backup_reads_when_a_session_since_gave_the_value_anew(nat: dict[str, Any]) -> None:
    """Another client's read of the parameter ran at one of the device's informs after the preview:
    GenieACS then holds a value newer than the preview's — possibly another — so the backup reads."""
    rt, twin, nbi, d, acs = nat["rt"], nat["twin"], nat["nbi"], nat["d"], nat["genieacs"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d):
        p = _proposal(rt, d, "Read Again")
        twin.device_change(d.id, {SSID: "Changed At The Device"})
        # past the preview session's one-second refresh interval: inside it GenieACS would answer
        # their read from its cache, the value's _timestamp unmoved (and the backup rightly reused)
        threading.Event().wait(1.1)
        theirs = acs.client.post_task(nbi.genie_id(d.id), {"name": "getParameterValues", "parameterNames": [SSID]},
                                      connection_request=False)
        assert theirs.status_code == 202
        while nbi.store.device_tasks(nbi.genie_id(d.id)):  # it ran at the next inform
            threading.Event().wait(0.05)
        posted = _posting(nbi)
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    before_set = posted[:posted.index("setParameterValues")]
    assert before_set and set(before_set) == {"getParameterValues"}, posted  # the backup read the device
    assert "from_preview_read" not in _backup_source(rt, p.id)
    with rt.store.read() as s:
        backup = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == p.id)).one()
    assert backup[SSID]["value"] == "Changed At The Device"  # what a rollback would restore


def test_a_nat_devices_backup_reads_after_a_boot(nat: dict[str, Any]) -> None:
    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    with Informer(nbi, d):
        p = _proposal(rt, d, "After A Boot")
        nbi.inform(d.id, ["1 BOOT"])
        posted = _posting(nbi)
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert posted[0] == "getParameterValues" and "from_preview_read" not in _backup_source(rt, p.id)


def test_the_due_time_of_a_device_that_informed_since_names_the_inform_by_its_beat() -> None:
    """Found against the real GenieACS by hand: the second wait of one change said "due at 04:53:36Z
    … (last inform 04:52:36Z)" though the device had informed at 04:53:06. The due time moves on the
    device's beat; so does the last inform it names, beside the one GenieACS last showed."""
    from datetime import UTC, datetime

    from executors.genieacs.executor import GenieAcsExecutor

    now = [datetime(2026, 11, 27, 4, 53, 14, tzinfo=UTC).timestamp()]
    ex = GenieAcsExecutor(url="http://127.0.0.1:9", clock=lambda: now[0])
    try:
        ex._interval["g"], ex._last_inform["g"] = 30, datetime(2026, 11, 27, 4, 52, 36, tzinfo=UTC)
        due, interval, words = ex._due("g")
        assert due == datetime(2026, 11, 27, 4, 53, 36, tzinfo=UTC) and interval == 30
        assert "(last inform 04:53:06Z by its beat, 04:52:36Z the last GenieACS showed)" in words, words
        now[0] = datetime(2026, 11, 27, 4, 52, 50, tzinfo=UTC).timestamp()  # nothing since: as seen
        assert ex._due("g")[2] == ("due at 2026-11-27 04:53:06Z, from its own PeriodicInformInterval of 30s "
                                   "(last inform 04:52:36Z)")
    finally:
        ex.close()


def test_a_separate_gateward_apply_backs_up_from_what_the_preview_read_into_genieacs(
        nat: dict[str, Any], tmp_path: Path) -> None:
    """Issue 58 item 2: through the CLI a change behind NAT cost 4 informs — ``gateward apply`` is a
    process of its own, which held no read of the device, so its backup read the device again (an
    inform interval). GenieACS's cache holds what the preview read (every value stamped after the
    preview began, nothing queued, no boot since): the backup is that, and the change costs the
    preview's inform, the Set's and the read-back's, as in one process."""
    from testing.cli import run_cli

    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    env = _cli_env(rt, nbi, tmp_path)
    with Informer(nbi, d):
        p = _proposal(rt, d, "Three From The CLI")  # its preview read the device (this process's adapter)
        posted = _posting(nbi)
        out = run_cli("apply", p.id, "--as", "alice", env=env, columns=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert twin.params(d.id)[SSID] == "Three From The CLI"
    assert posted == ["setParameterValues", "getParameterValues"], out.stdout  # no backup read of its own
    with rt.store.read() as s:
        backup = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == p.id)).one()
    assert "GenieACS's cache" in backup[SSID]["source"], backup


def test_a_change_after_a_recent_read_costs_two_informs_through_the_api_and_the_cli(
        nat: dict[str, Any], tmp_path: Path) -> None:
    """Issue 58 item 2: behind NAT each read waits an inform interval; a governed change cost 3 in one
    process and 4 through the CLI where a bare GenieACS client needs 2 (Set, read-back). When GenieACS
    holds the values from a read of the device moments ago (nothing since gave them anew, nothing
    queued, no boot), the preview is that, said on the card (a warning the approver reads), and the
    backup too: the change costs the Set's inform and the read-back's, in one process and through
    ``gateward propose`` + ``gateward apply``."""
    from testing.cli import run_cli

    rt, twin, nbi, d = nat["rt"], nat["twin"], nat["nbi"], nat["d"]
    twin.inject(d.id, "unreachable")
    env = _cli_env(rt, nbi, tmp_path)
    with Informer(nbi, d):
        # the device read moments ago, as a change's preview reads it (the change, the radios and SSIDs)
        rt.router.reader(d).read(d, ["Device.WiFi.Radio.", "Device.WiFi.SSID."])
        posted = _posting(nbi)
        p = _proposal(rt, d, "Two Informs")
        warned = [w for w in rt.lifecycle.preview_of(p.id)["warnings"] if "GenieACS's cache" in w]
        out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
        assert out.proposal.state is S.DONE, out.proposal.error
        assert posted == ["setParameterValues", "getParameterValues"], posted
        assert warned and d.id in warned[0], rt.lifecycle.preview_of(p.id)["warnings"]
        posted.clear()
        proposed = run_cli("propose", "-d", d.id, "--set", f"{SSID}=Two From The CLI", "--reason", "hand check",
                           "--as", "alice", env=env, columns=400)
        assert proposed.returncode == 0, proposed.stdout + proposed.stderr
        assert "GenieACS's cache" in proposed.stdout, proposed.stdout  # said to the person proposing
        pid = re.findall(r"\bp-[0-9a-f]{12}\b", proposed.stdout)[0]
        applied = run_cli("apply", pid, "--as", "alice", env=env, columns=400)
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert twin.params(d.id)[SSID] == "Two From The CLI"
    assert posted == ["setParameterValues", "getParameterValues"], applied.stdout


def test_a_task_queued_with_a_short_expiry_is_queued_again_to_last_the_inform_wait(tmp_path: Path) -> None:
    """Issue 58 item 1, by hand against GenieACS 1.2.16: the first task to a NAT'd CPE goes with a
    connection request and the expiry of a reachable device's task (``task_expiry_s``, 300 s), so a CPE
    informing less often than that never got a task through — nor its interval read: each attempt was
    withdrawn unrun. Once its request fails the task is queued again (its uniqueKey replaces the copy)
    with the wait's expiry, and runs at the next inform."""
    world = _world(tmp_path, inform_wait_s=None, task_expiry_s=0.8)
    w = next(world)
    try:
        twin, nbi, d, acs = w["twin"], w["nbi"], w["d"], w["genieacs"]
        twin.inject(d.id, "unreachable")
        posted: list[tuple[str, float, bool]] = []
        real = nbi.post_task

        def noting(g: str, raw: Any, **kw: Any) -> Any:
            posted.append((raw.get("name"), float(raw.get("expiry", 0)), bool(kw.get("connection_request"))))
            return real(g, raw, **kw)

        nbi.post_task = noting
        nbi.inform(d.id)
        with Informer(nbi, d, every=1.6):
            got = acs.read(d, [SSID])[SSID].value
        assert got == twin.params(d.id)[SSID]
        (first, fexp, fcr), (again, aexp, acr) = posted[:2]
        assert (first, again) == ("getParameterValues", "getParameterValues") and fcr and not acr, posted
        assert fexp == 0.8 < aexp, posted
        assert nbi.store.device_tasks(nbi.genie_id(d.id)) == []
    finally:
        next(world, None)
