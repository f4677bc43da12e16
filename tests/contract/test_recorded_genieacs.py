"""The GenieACS adapter against what the real GenieACS said (issue 46 item 7): recorded peers.

Each cassette under ``recorded/`` is a by-hand run against GenieACS 1.2.16 (on secantusdb 0.7.0b3)
with a genieacs-sim CPE, captured by ``testing.recorded_http.RecordingProxy`` between Gateward and
the NBI (the cassette's ``note`` says what was done). Here the real adapter and lifecycle run the
same steps against :class:`testing.recorded_http.ReplayServer`, offline: the answers are the real
peer's, not this project's model of it (the double in ``testing/genieacs`` is checked against these
too, in ``tests/genieacs``). A request the recording has no answer for fails the test: the adapter
then asked something the real peer was never asked, and the case must be recorded again.

Behaviours found by hand that these pin:

* ``genieacs_nat_default.json`` (replacing round four's ``genieacs_nat.json``, whose requests the
  adapter no longer makes) — a CPE informing every 30 s whose connection requests are *dropped*
  (iptables DROP): GenieACS answers ``202 Device is offline`` (not "Connection request error"), the
  task stays queued and runs at the next inform; GenieACS deletes the task *during* that session
  and writes the device document at its end, so the adapter waits for ``_lastInform`` to pass the
  task before it reads. At the default settings the waits are bounded by the CPE's own interval;
  two changes through ``propose`` + ``apply`` cost 3 informs, then 2.
* ``genieacs_nat_preset.json`` — the same NAT'd CPE with Gateward's refresh presets installed: each
  periodic inform ran GenieACS's own ``refresh`` of the WLANConfiguration subtree (GetParameterNames
  and GetParameterValues after any queued task; every value stamped a few ms after ``_lastInform``);
  a ``propose`` and an ``apply`` that had never reached the device each probed it (``202 Device is
  offline`` after ~2 s, the unrun read deleted) and went by the last inform's values — a first change
  in two informs.
* ``genieacs_nbi_restart.json`` — the NBI killed while it held a Set (its connection request made)
  and back 3 s later: the POST unanswered, the polls refused, then the Set gone from the queue and
  the value on the CPE — settled by a read, ``done``.
* ``genieacs_download.json`` — ``propose --op download:URL`` without a version: genieacs-sim
  reports TransferComplete and keeps ``V100R001IRQC56B017``; the image's declared version (the
  file's ``version`` metadata) makes it ``verify_failed``, never ``verified``.
* ``genieacs_cpe_faults.json`` — the CPE faults a SetParameterValues (9007 a channel its firmware
  lacks, 9008 a parameter locked although GenieACS learnt it writable, 9003 for a Set with one bad
  value beside a good one): GenieACS answers ``202 Task faulted`` and keeps ``cwmp.<code>`` with
  ``detail.setParameterValuesFault[]`` on the task's channel; clearing the fault deletes the task.
  The CPE side is genieacs-sim patched outside the repository (stock genieacs-sim takes any value).

The recordings are made with the same steps the tests replay (:data:`SCENARIOS`, run against
:class:`Live` through a ``RecordingProxy`` by a driver kept outside the repository).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.kernel.models import Change, Device, Operation, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow, BackupRow, ExecutionRow
from core.users import get_actor
from testing.recorded_http import Cassette, ReplayClock, ReplayServer

RECORDED = Path(__file__).parent / "recorded"
#: recorded when waiting for a NAT'd device's inform was off by default (its reads carried no
#: PeriodicInformInterval) and every preview read the device: the replay matches the requests, so said
RECORDED_AT_OFF: dict[str, Any] = {"inform_wait_s": 0.0, "preview_cache_s": 0.0}
CPE = {"id": "202BC1-BM632w-000046", "vendor": "Huawei Technologies Co., Ltd.", "model": "BM632w",
       "firmware": "V100R001IRQC56B017", "root": "InternetGatewayDevice.", "protocol": "cwmp",
       "adapter": "genieacs", "oui": "202BC1", "product_class": "BM632w", "serial": "000046", "region": "EU"}


class Peer:
    """Where the adapter talks to, and its clock: a replay (tests) or the live NBI through a
    recording proxy (the by-hand run that made the cassette, with the same steps). :meth:`process`
    is one Gateward process (a CLI command of the recorded run: ``propose`` and ``apply`` were two,
    each with its own adapter and so its own memory of the device), on one database."""

    def __init__(self, tmp_path: Path, url: str, clock: Any, executor: dict[str, Any]) -> None:
        self.db = f"sqlite:///{tmp_path / 'gateward.db'}"
        self.url, self.clock, self.executor = url, clock, executor
        self.results: dict[str, Any] = {}  # what a scenario saw, step by step

    @property
    def unmatched(self) -> list[str]:
        """Requests the peer had no answer for (a replay's; a live peer answers everything)."""
        return []

    def during_set(self) -> None:
        """Called as the adapter posts a scenario's Set: the by-hand driver breaks the peer there
        (restarts the NBI); a replay has it in the recording already."""

    @contextmanager
    def process(self) -> Iterator[Any]:
        from core.kernel.config import Settings
        from core.routing import ExecutorRouter
        from executors.genieacs.executor import GenieAcsExecutor
        from gateward.runtime import build_runtime

        acs = GenieAcsExecutor(url=self.url, clock=self.clock, **self.executor)
        rt = build_runtime(Settings(database_url=self.db), router=ExecutorRouter({"genieacs": lambda: acs}))
        self.acs = acs  # the process's adapter: a scenario may hook its NBI client (:meth:`during_set`)
        try:
            yield rt
        finally:
            # closing drops the policy engine on this thread (``Runtime.close``): no collection needed,
            # and a full one cost a test worker ~0.5 s of CPU per process once its heap had grown
            rt.close()
            acs.close()

    def prepare(self, *cpes: dict[str, Any]) -> None:
        """The people seeded and the CPEs registered as `gateward devices sync` registered them."""
        from core.inventory import register
        from gateward.seed import seed_fleet

        with self.process() as rt:
            seed_fleet(rt, homes=0)
            with rt.store.write() as s:
                for cpe in cpes:
                    register(s, Device.model_validate(cpe), "dave", "test")


class Replayed(Peer):
    """The replay on compressed time (:class:`ReplayClock`): the adapter's waits for an inform, a
    TransferComplete or GenieACS's next refresh interval poll as they would, without the seconds."""

    def __init__(self, tmp_path: Path, replay: ReplayServer, cassette: Cassette, executor: dict[str, Any],
                 clock: ReplayClock) -> None:
        super().__init__(tmp_path, replay.url, cassette.clock(clock.monotonic), executor)
        self.replay, self.cassette = replay, cassette

    @property
    def unmatched(self) -> list[str]:
        return self.replay.unmatched

    def prepare(self, *cpes: dict[str, Any]) -> None:
        """As :meth:`Peer.prepare` — which asks the peer nothing —, on a copy of a database this test
        process prepared once for these CPEs (``tests.conftest.TEMPLATES``): the migrations, the
        people and the registrations are the same every time."""
        from tests.conftest import TEMPLATES

        def build(url: str) -> None:
            at = copy.copy(self)
            at.db = url
            Peer.prepare(at, *cpes)

        key = "recorded-genieacs-" + "-".join(str(cpe["id"]) for cpe in cpes)
        TEMPLATES.sqlite_copy(key, build, Path(self.db.removeprefix("sqlite:///")))


@contextmanager
def replayed(tmp_path: Path, name: str, *cpes: dict[str, Any], unmatched_fields: frozenset[str] = frozenset(),
             **executor: Any) -> Iterator[Replayed]:
    """The replay of ``name`` (``CPE`` registered unless others are named); ``unmatched_fields``:
    the request body fields this replay changes on purpose (see :class:`ReplayServer`)."""
    from datetime import UTC, datetime

    from core.lifecycle import preview as lifecycle_preview
    from executors.genieacs import executor as genieacs_executor

    cassette = Cassette.load(RECORDED / f"{name}.json")
    with ReplayServer(cassette, unmatched_fields=unmatched_fields) as replay, \
            ReplayClock(follow=lambda: replay.reached).patched(genieacs_executor) as clock, \
            pytest.MonkeyPatch.context() as mp:
        # when a preview began (the backup's ``not_before``) on the adapter's clock, as in the recorded
        # run: on the real one a slow machine put it after the adapter's read of it, and the backup
        # read the device where the recording had reused that read
        mp.setattr(lifecycle_preview, "utcnow", lambda: datetime.fromtimestamp(clock.time(), UTC))
        run = Replayed(tmp_path, replay, cassette, executor, clock)
        run.prepare(*(cpes or (CPE,)))
        yield run


def _approved(rt: Any, draft: ProposalDraft, author: str) -> Any:
    p = rt.lifecycle.submit(draft, get_actor(rt.store, author))
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is ProposalState.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, get_actor(rt.store, name))
    return rt.lifecycle.get(p.id)


def test_recorded_download_that_did_not_install_is_verify_failed(tmp_path: Path) -> None:
    url = "https://firmware.gateward.example/huawei/V200R001GATEWARD.bin"
    with replayed(tmp_path, "genieacs_download", inform_wait_s=120.0) as run:
        draft = ProposalDraft(intent="firmware hand check", rationale="firmware hand check", targets=[CPE["id"]],
                              operations=[Operation(command="download", args={"url": url})])
        with run.process() as rt:  # gateward propose, gateward approve
            p = _approved(rt, draft, "dave")
            assert p.state is ProposalState.APPROVED, (p.state, p.error, run.replay.unmatched)
        with run.process() as rt:  # gateward apply
            out = rt.lifecycle.apply(p.id, get_actor(rt.store, "dave"))
            assert out.proposal.state is ProposalState.FAILED, (out.proposal.state, out.proposal.error)
            assert "did not install" in (out.proposal.error or "")
            with rt.store.read() as s:
                status, detail = s.execute(select(ExecutionRow.status, ExecutionRow.detail).where(
                    ExecutionRow.proposal_id == p.id)).one()
        assert status == "verify_failed"
        assert detail["mismatch"] == {"Device.DeviceInfo.SoftwareVersion": {"expected": "V200R001GATEWARD",
                                                                             "got": "V100R001IRQC56B017"}}
        assert run.replay.unmatched == []


@pytest.mark.parametrize("name", ["genieacs_nat_default", "genieacs_nbi_restart", "genieacs_download",
                                  "genieacs_nat_preset"])
def test_a_cassette_says_what_it_recorded(name: str) -> None:
    cassette = Cassette.load(RECORDED / f"{name}.json")
    assert "GenieACS 1.2.16" in cassette.peer and cassette.note and cassette.exchanges


# --------------------------------------------------------------------------- scenarios
# A scenario is the steps of one by-hand run. The recording driver (outside the repository) runs it
# against the live NBI through a RecordingProxy (:class:`Live`); the tests run it against the
# replay and assert on what it returns — so both sides make the same requests in the same order.


class Live(Peer):
    """The live NBI (through a recording proxy) on the wall clock: the by-hand run."""

    def __init__(self, tmp_path: Path, url: str, executor: dict[str, Any]) -> None:
        super().__init__(tmp_path, url, time.time, executor)


#: a genieacs-sim CPE whose SetParameterValues answers as a stricter firmware does (faults 9005 /
#: 9007 / 9008 with SetParameterValuesFault per parameter, nothing applied — TR-069 A.3.2.1): its
#: radio takes channels 1-11 only, and SSIDAdvertisementEnabled is locked although the data model
#: GenieACS learnt says it is writable
STRICT = {**CPE, "id": "202BC1-BM632w-000062", "serial": "000062"}
CHANNEL, AUTO, SSID, BEACON = ("Device.WiFi.Radio.1.Channel", "Device.WiFi.Radio.1.AutoChannelEnable",
                               "Device.WiFi.SSID.1.SSID", "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled")
FAULT_CASES: dict[str, list[Change]] = {
    "auto_off": [Change(path=AUTO, value=False)],  # accepted: policy wants it off before a fixed channel
    "channel": [Change(path=CHANNEL, value=13)],  # the data model allows 13 (EU), the firmware does not
    "locked": [Change(path=BEACON, value=False)],
    "mixed": [Change(path=SSID, value="faults-46"), Change(path=CHANNEL, value=13)],
}


def _outcome(rt: Any, pid: str, run: Callable[[], Any]) -> dict[str, Any]:
    """What the lifecycle made of one apply: the proposal's state and error, each execution's status
    and detail, the audit trail's actions (or the exception the apply raised)."""
    try:
        out = run()
        got: dict[str, Any] = {"state": str(out.proposal.state), "error": out.proposal.error or ""}
    except Exception as exc:  # a deferral is raised: recorded as what the caller saw
        got = {"state": str(rt.lifecycle.get(pid).state), "raised": f"{type(exc).__name__}: {exc}"}
    with rt.store.read() as s:
        got["executions"] = [{"status": st, "detail": d} for st, d in s.execute(
            select(ExecutionRow.status, ExecutionRow.detail).where(ExecutionRow.proposal_id == pid))]
        got["audit"] = list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                                      .order_by(AuditEventRow.seq)))
    return got


def cpe_faults(run: Peer) -> dict[str, Any]:
    """A governed change the CPE takes, three it refuses (9007, 9008, a 9007 beside a valid value
    in one Set), then a read of every parameter they touched."""
    results = run.results
    for case, changes in FAULT_CASES.items():
        with run.process() as rt:  # one process: submit (live preview), approvals, apply
            draft = ProposalDraft(intent=f"fault hand check: {case}", rationale="issue 46 faults",
                                  targets=[STRICT["id"]], changes=changes)
            p = _approved(rt, draft, "dave")
            results[case] = {"approved": str(p.state), "preview_error": p.error or ""}
            results[case].update(_outcome(rt, p.id, partial(rt.lifecycle.apply, p.id, get_actor(rt.store, "dave"))))
    with run.process() as rt:
        device = Device.model_validate(STRICT)
        values = rt.lifecycle.router.reader(device).read(device, [SSID, CHANNEL, AUTO, BEACON])
        results["after"] = {k: v.value for k, v in values.items()}
    return results


SCENARIOS: dict[str, Callable[[Peer], dict[str, Any]]] = {"genieacs_cpe_faults": cpe_faults}
SETTINGS: dict[str, dict[str, Any]] = {"genieacs_cpe_faults": {}}
PREPARE: dict[str, tuple[dict[str, Any], ...]] = {"genieacs_cpe_faults": (STRICT,)}


def test_recorded_cpe_faults_are_typed_by_parameter_and_nothing_of_the_set_lands(tmp_path: Path) -> None:
    """GenieACS records a CPE's SetParameterValues fault as ``cwmp.<code>`` on the task's channel
    with ``detail.setParameterValuesFault[]`` per native path, answers ``202 Task faulted``, and
    deletes the task with the fault. The change is refused with the CPE's code per TR-181 path; no
    rollback write is sent (nothing was written); nothing is left queued; the values beside the
    refused one were not written (the read afterwards)."""
    with replayed(tmp_path, "genieacs_cpe_faults", STRICT, **RECORDED_AT_OFF) as run:
        got = cpe_faults(run)
        assert run.unmatched == [], "\n".join(run.unmatched)
    assert got["auto_off"]["state"] == "done"
    for case, code, path in (("channel", 9007, CHANNEL), ("locked", 9008, BEACON), ("mixed", 9007, CHANNEL)):
        seen = got[case]
        assert seen["approved"] == "approved" and seen["state"] == "rolled_back", (case, seen)
        assert f"{path} ({code})" in seen["error"], seen["error"]
        assert "none of the Set's values was applied" in seen["error"]
        assert "device.apply_failed" in seen["audit"] and "device.rolling_back" not in seen["audit"], seen["audit"]
        assert [e["status"] for e in seen["executions"]] == ["failed"], seen["executions"]
    assert "cwmp.9003 Invalid arguments" in got["mixed"]["error"]  # the CPE's own words for the whole Set
    assert got["after"] == {SSID: "404 WiMAX Not Found", CHANNEL: 6, AUTO: False, BEACON: True}
    deleted = [e.path for e in run.replay.served if e.method == "DELETE" and e.path.startswith("/faults/")]
    assert len(deleted) == 3  # each fault cleared (and its task with it) by the adapter


HANGUP = "Device.ManagementServer.ConnectionRequestUsername"


def session_terminated(run: Peer) -> dict[str, Any]:
    """A governed change of the CPE's own ACS settings that the CPE applies and then hangs up on
    without answering (the patched genieacs-sim exits; its supervisor starts it again 10 s later,
    from its stored model), then a read of the parameter."""
    with run.process() as rt:
        draft = ProposalDraft(intent="session fault hand check", rationale="issue 46 faults", targets=[STRICT["id"]],
                              changes=[Change(path=HANGUP, value="gw-46-hangup")])
        p = _approved(rt, draft, "dave")
        run.results["approved"] = str(p.state)
        run.results.update(_outcome(rt, p.id, partial(rt.lifecycle.apply, p.id, get_actor(rt.store, "dave"))))
    return run.results


SCENARIOS["genieacs_session_terminated"] = session_terminated
SETTINGS["genieacs_session_terminated"] = {}
PREPARE["genieacs_session_terminated"] = (STRICT,)


def test_recorded_cpe_hanging_up_after_a_set_is_an_unknown_outcome_rolled_back(tmp_path: Path) -> None:
    """The CPE applies a Set of its own ACS settings and hangs up without answering. GenieACS keeps
    the session — and its lock: the CPE's next Informs, 10 s and 21 s later, were refused with
    ``400 CPE already in session`` (its log) — until its session timeout ends it ~31 s later,
    records ``session_terminated`` on the task's channel and only then answers ``202 Task faulted``.
    That is not a refusal: the Set may have landed, so the lifecycle rolls back; the restore's read
    found the CPE gone (restarting: "Device is offline"), so the outcome is ``rollback_pending``
    with the rollback-unconfirmed alarm, never "nothing changed". Nothing is left queued: the fault
    is cleared (and its task with it), the restore's unrun read withdrawn."""
    with replayed(tmp_path, "genieacs_session_terminated", STRICT, **RECORDED_AT_OFF) as run:
        got = session_terminated(run)
        assert run.unmatched == [], "\n".join(run.unmatched)
    assert got["approved"] == "approved" and got["state"] == "rollback_pending", got
    assert "GenieACS fault session_terminated" in got["error"] and "may have applied it" in got["error"]
    assert "restore not confirmed" in got["error"] and "Device is offline" in got["error"]
    assert [e["status"] for e in got["executions"]] == ["rolling_back"]
    assert {"device.apply_failed", "device.rolling_back", "alarm.rollback_unconfirmed",
            "proposal.rollback_pending"} <= set(got["audit"]), got["audit"]
    cleared = [e.path for e in run.replay.served if e.method == "DELETE"]
    assert [p.split("/")[1] for p in cleared] == ["faults", "tasks"], cleared


#: a stock genieacs-sim informing every 30 s whose connection-request port is DROPped (iptables): a NAT
NATTED = {**CPE, "id": "202BC1-BM632w-000061", "serial": "000061"}
NAT_SETTINGS: dict[str, Any] = {"inform_wait_s": 60.0, "preview_cache_s": 0.0}  # (as recorded: previews read)


def task_names(exchanges: list[Any]) -> list[str]:
    """The tasks posted in ``exchanges`` (a cassette's, or those a replay served), in order."""
    return [str(json.loads(e.body).get("name")) for e in exchanges
            if e.method == "POST" and e.path.split("?")[0].endswith("/tasks") and e.body]


def nat_change(run: Peer, value: str) -> dict[str, Any]:
    """One process (as ``gateward run`` serves the API): submit — its live preview waits for the
    CPE's inform —, then apply at once, as automation does when policy asks no approval. ``value``
    differs from what the CPE holds (a value equal to GenieACS's cache makes the Set's pre-check read
    the device again, an inform more)."""
    with run.process() as rt:
        draft = ProposalDraft(intent="NAT informs per change", rationale="issue 46 informs", targets=[NATTED["id"]],
                              changes=[Change(path=SSID, value=value)])
        p = _approved(rt, draft, "alice")
        run.results["approved"] = str(p.state)
        run.results.update(_outcome(rt, p.id, partial(rt.lifecycle.apply, p.id, get_actor(rt.store, "alice"))))
        with rt.store.read() as s:
            run.results["waits"] = [w["step"] for w in s.scalars(select(AuditEventRow.data).where(
                AuditEventRow.proposal_id == p.id, AuditEventRow.action == "device.waiting_for_inform")
                .order_by(AuditEventRow.seq))]
    return run.results


SCENARIOS["genieacs_nat_informs"] = partial(nat_change, value="nat-b")
SETTINGS["genieacs_nat_informs"] = NAT_SETTINGS
PREPARE["genieacs_nat_informs"] = (NATTED,)
SCENARIOS["genieacs_nat_gone"] = partial(nat_change, value="nat-gone")
SETTINGS["genieacs_nat_gone"] = NAT_SETTINGS
PREPARE["genieacs_nat_gone"] = (NATTED,)


def test_recorded_nat_change_costs_three_informs(tmp_path: Path) -> None:
    """A CPE behind NAT (requests DROPped, informs every 30 s): the live preview's read runs at one
    inform; the backup is that read — the informs since gave none of the values anew — so the Set
    runs at the next inform and the read-back at the one after: 3 informs (the recording: tasks
    answered at +14.6 s, +44.8 s, +74.9 s), where a backup read of its own made 4."""
    with replayed(tmp_path, "genieacs_nat_informs", NATTED, **NAT_SETTINGS) as run:
        got = SCENARIOS["genieacs_nat_informs"](run)
        assert run.unmatched == [], "\n".join(run.unmatched)
        posted = task_names(run.replay.served)
    assert got["state"] == "done" and [e["status"] for e in got["executions"]] == ["verified"], got
    assert posted == ["getParameterValues", "setParameterValues", "getParameterValues"]
    # the preview's read waited for the first inform and says so (by hand it was silent); no wait for
    # a backup read: there was none
    assert got["waits"] == ["preview", "apply", "verify"]
    assert task_names(run.cassette.exchanges) == posted  # as many tasks as the real run: one inform each


def _fault_left(url: str, device: str, task: dict[str, Any],
                settle: Callable[[], None] = lambda: None) -> list[tuple[bool, Any]]:
    """The by-hand steps with a fault left in ``/faults``: a Set the CPE faults, another session, a
    retry, another session, the fault deleted. After each: whether the fault is there, its
    ``timestamp`` (a new one means GenieACS ran the task again), and whether the task is queued.
    ``settle`` waits for the session a connection request started (the recording waited 3 s)."""
    seen: list[tuple[bool, Any]] = []
    with httpx.Client(base_url=url, timeout=60) as c:
        def look() -> None:
            faults = c.get("/faults/", params={"query": json.dumps({"device": device})}).json()
            tasks = c.get("/tasks/", params={"query": json.dumps({"device": device})}).json()
            seen.append((bool(tasks), faults[0]["timestamp"] if faults else None))

        posted = c.post(f"/devices/{device}/tasks", params={"timeout": "10000", "connection_request": ""}, json=task)
        assert posted.reason_phrase == "Task faulted", posted.reason_phrase
        look()
        c.post(f"/devices/{device}/tasks", params={"connection_request": ""})  # the device's next session
        settle()
        look()
        c.post(f"/tasks/{posted.json()['_id']}/retry")
        look()
        c.post(f"/devices/{device}/tasks", params={"connection_request": ""})
        settle()
        look()
        c.delete(f"/faults/{device}:task_{posted.json()['_id']}")
        look()
    return seen


@pytest.mark.parametrize("expiry", [True, False], ids=["with-expiry", "without-expiry"])
def test_recorded_fault_left_in_faults_and_the_double_agree(tmp_path: Path, expiry: bool) -> None:
    """What GenieACS 1.2.16 does with a fault left in ``/faults`` (raw NBI, recorded), and the double
    doing the same: the task stays queued with its fault; ``POST /tasks/<id>/retry`` deletes the fault
    and the next session runs it again; ``DELETE /faults/<id>`` deletes the task too. Without an
    ``expiry`` the next session leaves the faulted task alone (``cwmp.retryDelay``); **with** one —
    every task the adapter posts has one — the next session deletes the fault and runs the task
    again (the fault's ``timestamp`` moves): a fault left uncleared is a Set that may still land
    (``tests/genieacs/test_faults_left.py``)."""
    from executors.sim.twin import Twin
    from testing.genieacs.fake_nbi import FakeNbi

    cassette = Cassette.load(RECORDED / f"genieacs_fault_left_{'expiry' if expiry else 'noexpiry'}.json")
    channel = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel"
    task: dict[str, Any] = {"name": "setParameterValues", "parameterValues": [[channel, 13, "xsd:int"]]}
    if expiry:
        task["expiry"] = 300
    with ReplayServer(cassette) as replay:
        real = _fault_left(replay.url, STRICT["id"], task)
        assert replay.unmatched == []
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    try:
        d = twin.add_device("lumenet-g240w-3.2", "LMNT91000046", region="GB")
        twin.inject(d.id, "fault_on_set", code=9007, message="Invalid parameter value")
        theirs = {**task, "parameterValues": [[SSID_181, "Faulted", "xsd:string"]]}
        gate = nbi.gate(nbi.genie_id(d.id))

        def settle() -> None:  # the double's session runs in a thread, as GenieACS's does
            with gate.cond:
                gate.cond.wait_for(lambda: not gate.cpe_busy, timeout=30)

        double = _fault_left(nbi.url, nbi.genie_id(d.id), theirs, settle)
    finally:
        nbi.stop()
        twin.close()
    for seen in (real, double):
        (q0, t0), (q1, t1), (q2, t2), (q3, t3), (q4, t4) = seen
        assert q0 and t0 is not None and q1 and t1 is not None  # faulted, and still queued with its fault
        assert (t1 != t0) is expiry, seen  # run again at the next session only when it has an expiry
        assert q2 and t2 is None and q3 and t3 is not None and t3 != t1  # retried: run again, faulted again
        assert not q4 and t4 is None  # deleting the fault deleted the task


SSID_181 = "Device.WiFi.SSID.1.SSID"


def test_recorded_nat_device_gone_before_its_inform_is_nothing_sent(tmp_path: Path) -> None:
    """The NAT'd CPE was stopped as soon as its Set was queued (a device gone before the inform that
    would run it). GenieACS still held the Set when the wait ran out and no session had begun since
    it was queued: withdrawn unrun — nothing sent — so the apply is deferred (approved again, the
    execution ``abandoned`` and no longer "waiting for its inform"), no rollback, no alarm. The
    replay waits 5 s where the run waited 60 s (the wait is the adapter's own; GenieACS's answers
    are the same): on the replay's compressed clock that is 5 s of polls, ~20, not 240."""
    # the shorter wait is a shorter expiry on the queued Set: told apart on purpose
    with replayed(tmp_path, "genieacs_nat_gone", NATTED, unmatched_fields=frozenset({"expiry"}),
                  **{**NAT_SETTINGS, "inform_wait_s": 5.0}) as run:
        got = SCENARIOS["genieacs_nat_gone"](run)
        assert run.unmatched == [], "\n".join(run.unmatched)
        posted = task_names(run.replay.served)
        withdrawn = [e.path for e in run.replay.served if e.method == "DELETE" and e.path.startswith("/tasks/")]
    assert posted == ["getParameterValues", "setParameterValues"]  # the backup was the preview's read
    assert got["state"] == "approved", got
    assert "did not inform within 5s" in got["raised"] and "nothing sent" in got["raised"]
    assert "nothing was changed" in got["raised"]
    assert [e["status"] for e in got["executions"]] == ["abandoned"]
    assert "waiting_for_inform" not in got["executions"][0]["detail"]
    assert "apply.deferred" in got["audit"]
    assert not any(a.startswith(("alarm.", "device.rolling")) for a in got["audit"]), got["audit"]
    assert len(withdrawn) == 1


def test_a_replay_does_not_age_its_device_on_a_slow_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay's clock moves by what the adapter sleeps, not by the real seconds: a machine so
    loaded that preparing the test (database, people, proposal) took two minutes still replays the
    recorded CPE as it was — informing every 30 s, seen moments ago — not as gone for 2 minutes
    (seen failing under load: the preview's presence check made the change ``denied``). The jump is
    in the real ``time`` the replay's clock could read, once the clock exists."""
    import types

    import testing.recorded_http as recorded_http

    late = [0.0]
    real = recorded_http.time
    slow = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    slow.monotonic = lambda: real.monotonic() + late[0]
    slow.time = lambda: real.time() + late[0]
    monkeypatch.setattr(recorded_http, "time", slow)
    with replayed(tmp_path, "genieacs_nat_informs", NATTED, **NAT_SETTINGS) as run:
        late[0] = 120.0  # two minutes passed on the machine since the replay's clock started
        got = SCENARIOS["genieacs_nat_informs"](run)
        assert run.unmatched == [], "\n".join(run.unmatched)
    assert got["approved"] == "approved" and got["state"] == "done", got


#: a stock genieacs-sim informing every 30 s whose connection-request port is DROPped, registered at
#: GATEWARD_GENIEACS_INFORM_WAIT_S unset (the default)
NAT_DEFAULT = {**CPE, "id": "202BC1-BM632w-000083", "serial": "000083"}


def nat_default_cli(run: Peer) -> dict[str, Any]:
    """Two SSID changes to a NAT'd CPE at the default settings, each as ``gateward propose`` then
    ``gateward apply`` (two processes, each its own adapter): the first's preview reads the device at
    its inform (GenieACS holds nothing recent of it); the second follows at once, its preview and
    backup from what GenieACS holds of the first's read-back."""
    for n, value in enumerate(("nat-default-1", "nat-default-2")):
        draft = ProposalDraft(intent=f"NAT at the default {n}", rationale="issue 58 items 1 and 2",
                              targets=[NAT_DEFAULT["id"]], changes=[Change(path=SSID, value=value)])
        run.results[value] = _propose_then_apply(run, draft)
    return run.results


def _propose_then_apply(run: Peer, draft: ProposalDraft) -> dict[str, Any]:
    """``gateward propose`` then ``gateward apply`` (two processes, each its own adapter): the apply's
    outcome, the inform waits of the proposal (its preview's too), whether it was approved and what
    its preview warned; ``pid`` the proposal."""
    with run.process() as rt:  # gateward propose
        p = _approved(rt, draft, "alice")
        preview = rt.lifecycle.preview_of(p.id) or {}
    with run.process() as rt:  # gateward apply
        got = _outcome(rt, p.id, partial(rt.lifecycle.apply, p.id, get_actor(rt.store, "alice")))
        with rt.store.read() as s:
            got["waits"] = [dict(w) for w in s.scalars(select(AuditEventRow.data).where(
                AuditEventRow.proposal_id == p.id, AuditEventRow.action == "device.waiting_for_inform")
                .order_by(AuditEventRow.seq))]
    got["approved"], got["warnings"], got["pid"] = str(p.state), list(preview.get("warnings") or []), p.id
    return got


SCENARIOS["genieacs_nat_default"] = nat_default_cli
SETTINGS["genieacs_nat_default"] = {}
PREPARE["genieacs_nat_default"] = (NAT_DEFAULT,)


def _sets_split(names: list[str]) -> list[list[str]]:
    """The posted tasks, one list per change (each ends with the read-back after its Set)."""
    out: list[list[str]] = [[]]
    for i, name in enumerate(names):
        out[-1].append(name)
        if i > 0 and names[i - 1] == "setParameterValues" and name == "getParameterValues":
            out.append([])
    return [c for c in out if c]


def test_recorded_nat_at_the_default_settings_waits_for_informs_and_a_change_costs_three_then_two(
        tmp_path: Path) -> None:
    """Issue 58 items 1 and 2 against GenieACS 1.2.16: with GATEWARD_GENIEACS_INFORM_WAIT_S unset the
    changes wait for the CPE's informs (not "try again after its next inform"), bounded by its own
    interval of 30 s, read with the first task; through the CLI the first change costs 3 informs
    (preview, Set, read-back: the backup is what the preview read into GenieACS) and the second,
    right after, 2 (its preview and backup from GenieACS's cache, said so on the card)."""
    with replayed(tmp_path, "genieacs_nat_default", NAT_DEFAULT) as run:
        got = SCENARIOS["genieacs_nat_default"](run)
        assert run.unmatched == [], "\n".join(run.unmatched)
        posted = task_names(run.replay.served)
        bodies = [json.loads(e.body) | {"cr": "connection_request" in e.path} for e in run.replay.served
                  if e.method == "POST" and e.path.split("?")[0].endswith("/tasks") and e.body]
    first, second = got["nat-default-1"], got["nat-default-2"]
    # the first read went with a connection request and a reachable device's expiry; once it failed the
    # same task (its uniqueKey) was queued again, without one, to last the wait: one inform, not two
    assert bodies[0]["uniqueKey"] == bodies[1]["uniqueKey"] and bodies[0]["cr"] and not bodies[1]["cr"], bodies[:2]
    assert bodies[1]["expiry"] > bodies[0]["expiry"], bodies[:2]
    del posted[1]
    for change in (first, second):
        assert change["approved"] == "approved" and change["state"] == "done", change
        assert [e["status"] for e in change["executions"]] == ["verified"], change
        assert {w["reason"] for w in change["waits"]} == {"Device is offline"}, change["waits"]
    # GenieACS held no interval: the first task read it (queued again to last the online rule's bound,
    # said so); every wait after it is due by the CPE's own 30 s and bounded by it plus the session budget
    waits = [w for change in (first, second) for w in change["waits"]]
    assert waits[0]["interval_s"] is None and "not read yet (read with this task)" in waits[0]["detail"], waits[0]
    assert all(w["interval_s"] == 30 and "its own interval of 30s" in w["detail"] for w in waits[1:]), waits
    assert _sets_split(posted) == [["getParameterValues", "setParameterValues", "getParameterValues"],
                                   ["setParameterValues", "getParameterValues"]], posted
    assert any("GenieACS's cache" in w for w in second["warnings"]), second["warnings"]
    assert not any("GenieACS's cache" in w for w in first["warnings"]), first["warnings"]


#: a stock genieacs-sim informing every 30 s, its connection-request port DROPped, with Gateward's
#: refresh presets installed (``gateward genieacs refresh-preset --install``) a minute before
NAT_PRESET = {**CPE, "id": "202BC1-BM632w-000001", "serial": "000001"}
#: so that only what the device's last inform gave can stand in for a read (at the defaults a 30 s
#: interval keeps every value younger than ``preview_cache_s``; a real fleet's 300–3,600 s does not)
NAT_PRESET_SETTINGS: dict[str, Any] = {"preview_cache_s": 1.0, "backup_reuse_s": 1.0}


def nat_preset_cli(run: Peer) -> dict[str, Any]:
    """A first SSID change to a NAT'd CPE whose periodic informs refresh its Wi-Fi subtrees (the
    presets), as ``gateward propose`` then ``gateward apply`` in two processes, each meeting the
    device for the first time (its reach unknown)."""
    draft = ProposalDraft(intent="NAT with the refresh presets", rationale="issue 58 item 2",
                          targets=[NAT_PRESET["id"]], changes=[Change(path=SSID, value="nat-preset-1")])
    got = _propose_then_apply(run, draft)
    with run.process() as rt, rt.store.read() as s:
        got["backup"] = s.scalars(select(BackupRow.params).where(BackupRow.proposal_id == got["pid"])).one()
    run.results["nat-preset-1"] = got
    return run.results


SCENARIOS["genieacs_nat_preset"] = nat_preset_cli
SETTINGS["genieacs_nat_preset"] = NAT_PRESET_SETTINGS
PREPARE["genieacs_nat_preset"] = (NAT_PRESET,)


def test_recorded_nat_with_the_refresh_presets_a_first_change_costs_two_informs(tmp_path: Path) -> None:
    """Issue 58 item 2 against GenieACS 1.2.16: with the presets each periodic inform read the
    CPE's WLANConfiguration; ``gateward propose`` and ``gateward apply``, each a process that had never
    reached the device, probed it (a connection request that failed, the unrun read withdrawn) and
    went by what its last inform gave — the preview said so, the backup is that — so the change waited
    for two informs: the Set's and the read-back's."""
    with replayed(tmp_path, "genieacs_nat_preset", NAT_PRESET, **NAT_PRESET_SETTINGS) as run:
        got = SCENARIOS["genieacs_nat_preset"](run)["nat-preset-1"]
        assert run.unmatched == [], "\n".join(run.unmatched)
        posted = task_names(run.replay.served)
        deleted = [e for e in run.replay.served if e.method == "DELETE" and e.path.startswith("/tasks/")]
    assert got["approved"] == "approved" and got["state"] == "done", got
    assert [e["status"] for e in got["executions"]] == ["verified"], got
    assert [w["step"] for w in got["waits"]] == ["apply", "verify"], got["waits"]  # two informs
    assert posted == ["getParameterValues", "getParameterValues", "setParameterValues", "getParameterValues"], posted
    assert len(deleted) == 2  # each process's probe: its read withdrawn unrun
    assert any("last inform gave it" in w for w in got["warnings"]), got["warnings"]
    assert all("last inform gave it" in v["source"] for v in got["backup"].values()), got["backup"]


#: a stock genieacs-sim (interval 300 s) whose connection requests are answered
REACHABLE = {**CPE, "id": "202BC1-BM632w-000082", "serial": "000082"}


def nbi_restart(run: Peer) -> dict[str, Any]:
    """A governed SSID change during whose Set the NBI is killed (the POST left unanswered) and
    started again a few seconds later; the CWMP service and MongoDB stay up."""
    draft = ProposalDraft(intent="NBI restart mid-Set", rationale="issue 58 item 3", targets=[REACHABLE["id"]],
                          changes=[Change(path=SSID, value="nbi-restart-58")])
    with run.process() as rt:
        p = _approved(rt, draft, "alice")
        real = run.acs.client.post_task

        def hooked(gid: str, task: Any, **kw: Any) -> Any:
            if task.get("name") == "setParameterValues":
                run.during_set()
            return real(gid, task, **kw)

        run.acs.client.post_task = hooked  # type: ignore[method-assign]
        run.results.update(_outcome(rt, p.id, partial(rt.lifecycle.apply, p.id, get_actor(rt.store, "alice"))))
        run.results["approved"] = str(p.state)
    return run.results


SCENARIOS["genieacs_nbi_restart"] = nbi_restart
SETTINGS["genieacs_nbi_restart"] = {}
PREPARE["genieacs_nbi_restart"] = (REACHABLE,)


def test_recorded_nbi_restart_mid_set_is_settled_by_a_read_not_a_false_rollback_failed(tmp_path: Path) -> None:
    """Issue 58 item 3 against GenieACS 1.2.16: the NBI was killed while it held the Set (its
    connection request made, the CPE's session under way) and came back seconds later. The Set had
    reached the CPE; the lost answer is an unknown outcome settled by reading the device once the NBI
    answers: ``done``, no rollback, no alarm (it was ``rollback_failed`` with an alarm)."""
    with replayed(tmp_path, "genieacs_nbi_restart", REACHABLE) as run:
        got = SCENARIOS["genieacs_nbi_restart"](run)
        assert run.unmatched == [], "\n".join(run.unmatched)
        dropped = [e for e in run.replay.served if e.status == 0]
    assert dropped and dropped[0].method == "POST" and "setParameterValues" in dropped[0].body
    assert got["state"] == "done", got
    assert not [a for a in got["audit"] if a.startswith("alarm.")], got["audit"]
    assert [e["status"] for e in got["executions"]] == ["verified"], got
