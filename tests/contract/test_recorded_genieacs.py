"""The GenieACS adapter against what the real GenieACS said (issue 46 item 7): recorded peers.

Each cassette under ``recorded/`` is a by-hand run against GenieACS 1.2.16 (on secantusdb 0.7.0b3)
with a genieacs-sim CPE, captured by ``testing.recorded_http.RecordingProxy`` between Gateward and
the NBI (the cassette's ``note`` says what was done). Here the real adapter and lifecycle run the
same steps against :class:`testing.recorded_http.ReplayServer`, offline: the answers are the real
peer's, not this project's model of it (the double in ``testing/genieacs`` is checked against these
too, in ``tests/genieacs``). A request the recording has no answer for fails the test: the adapter
then asked something the real peer was never asked, and the case must be recorded again.

Behaviours found by hand that these pin:

* ``genieacs_nat.json`` — a CPE informing every 30 s whose connection requests are *dropped*
  (iptables DROP): GenieACS answers ``202 Device is offline`` (not "Connection request error"), the
  task stays queued and runs at the next inform; GenieACS deletes the task *during* that session
  and writes the device document at its end, so the adapter waits for ``_lastInform`` to pass the
  task before it reads (it took three reads of the previous session's values for "answered from
  its cache" and the preview failed).
* ``genieacs_download.json`` — ``propose --op download:URL`` without a version: genieacs-sim
  reports TransferComplete and keeps ``V100R001IRQC56B017``; the image's declared version (the
  file's ``version`` metadata) makes it ``verify_failed``, never ``verified``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.models import Change, Device, Operation, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow, ExecutionRow
from core.users import get_actor
from testing.recorded_http import Cassette, ReplayServer

RECORDED = Path(__file__).parent / "recorded"
CPE = {"id": "202BC1-BM632w-000046", "vendor": "Huawei Technologies Co., Ltd.", "model": "BM632w",
       "firmware": "V100R001IRQC56B017", "root": "InternetGatewayDevice.", "protocol": "cwmp",
       "adapter": "genieacs", "oui": "202BC1", "product_class": "BM632w", "serial": "000046", "region": "EU"}


class Replayed:
    """The replay of one cassette and a database; :meth:`process` is one Gateward process (a CLI
    command of the recorded run: ``propose`` and ``apply`` were two, each with its own adapter and
    so its own memory of the device), on the same database and the same replay."""

    def __init__(self, tmp_path: Path, replay: ReplayServer, cassette: Cassette, executor: dict[str, Any]) -> None:
        self.url = f"sqlite:///{tmp_path / 'gateward.db'}"
        self.replay, self.cassette, self.executor = replay, cassette, executor
        self.clock = cassette.clock()

    @contextmanager
    def process(self) -> Iterator[Any]:
        from core.kernel.config import Settings
        from core.routing import ExecutorRouter
        from executors.genieacs.executor import GenieAcsExecutor
        from gateward.runtime import build_runtime

        acs = GenieAcsExecutor(url=self.replay.url, clock=self.clock, **self.executor)
        rt = build_runtime(Settings(database_url=self.url), router=ExecutorRouter({"genieacs": lambda: acs}))
        try:
            yield rt
        finally:
            rt.close()
            del rt
            gc.collect()
            acs.close()


@contextmanager
def replayed(tmp_path: Path, name: str, **executor: Any) -> Iterator[Replayed]:
    """The replay of ``name``, with the people seeded and the CPE registered as `gateward devices
    sync` registered it in the recorded run."""
    from core.inventory import register
    from gateward.seed import seed_fleet

    cassette = Cassette.load(RECORDED / f"{name}.json")
    with ReplayServer(cassette) as replay:
        run = Replayed(tmp_path, replay, cassette, executor)
        with run.process() as rt:
            seed_fleet(rt, homes=0)
            with rt.store.write() as s:
                register(s, Device.model_validate(CPE), "dave", "test")
        yield run


def _approved(rt: Any, draft: ProposalDraft, author: str) -> Any:
    p = rt.lifecycle.submit(draft, get_actor(rt.store, author))
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is ProposalState.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, get_actor(rt.store, name))
    return rt.lifecycle.get(p.id)


def test_recorded_nat_cpe_whose_requests_are_dropped_gets_its_change_at_its_informs(tmp_path: Path) -> None:
    with replayed(tmp_path, "genieacs_nat", inform_wait_s=120.0) as run:
        draft = ProposalDraft(intent="NAT hand check 3", rationale="NAT hand check 3", targets=[CPE["id"]],
                              changes=[Change(path="Device.WiFi.SSID.1.SSID", value="behind-nat-46c")])
        with run.process() as rt:  # gateward propose
            p = _approved(rt, draft, "alice")
            assert p.state is ProposalState.APPROVED, (p.state, p.error, run.replay.unmatched)
        with run.process() as rt:  # gateward apply
            out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
            assert out.proposal.state is ProposalState.DONE, (out.proposal.error, run.replay.unmatched)
            with rt.store.read() as s:
                waits = list(s.scalars(select(AuditEventRow.data).where(
                    AuditEventRow.proposal_id == p.id, AuditEventRow.action == "device.waiting_for_inform")))
        assert waits and {w["reason"] for w in waits} == {"Device is offline"}
        assert all(w["interval_s"] == 30 and w["due_at"] for w in waits), waits  # the CPE's own interval
        assert run.replay.unmatched == []


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


@pytest.mark.parametrize("name", ["genieacs_nat", "genieacs_download"])
def test_a_cassette_says_what_it_recorded(name: str) -> None:
    cassette = Cassette.load(RECORDED / f"{name}.json")
    assert "GenieACS 1.2.16" in cassette.peer and cassette.note and cassette.exchanges
