"""The governed lifecycle end to end over USP: submit → policy → backup → Set over MQTT → verify.

A seeded fleet's USP gateway is switched to the ``usp`` adapter; a simulated agent fronts it on the
test broker; ``rt.lifecycle`` drives the change through ``UspExecutor``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import verify_chain
from core.kernel.config import Settings
from core.kernel.errors import DeviceUnavailable
from core.kernel.models import Change, Device, ProposalDraft, ProposalState
from core.routing import ExecutorRouter
from core.store.schema import AuditEventRow, BackupRow
from core.users import get_actor
from executors.sim.executor import SimExecutor
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.loop import LoopThread
from gateward.runtime import build_runtime
from gateward.seed import seed_fleet, twin_for
from testing.fleet_picks import first_usp_gateway_on_usp
from tests.usp.support import BrokerInfo, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
S = ProposalState


@contextmanager
def governed_usp_agent(db_url: str, usp_broker: BrokerInfo, *, controller_id: str = "proto::gw-lifecycle-test",
                       **host_options: Any) -> Iterator[tuple[Any, Device, AgentHost, LoopThread]]:
    """A seeded runtime whose first USP gateway is on the ``usp`` adapter, fronted by a simulated agent
    (``host_options``: :class:`HostConfig` fields, e.g. ``firmware_image=False``) on the test broker."""
    version = 5 if usp_broker.mqtt5 else 3
    executor = UspExecutor(url=usp_broker.url, endpoint_id=controller_id, mqtt_version=version, timeout_s=5,
                           probe_timeout_s=1)
    router = ExecutorRouter({"sim": lambda: SimExecutor(database_url=db_url), "usp": lambda: executor})
    rt = build_runtime(Settings(database_url=db_url), router=router)
    seed_fleet(rt, homes=12, seed=11)
    d = first_usp_gateway_on_usp(rt)
    assert d.adapter == "usp"
    twin = twin_for(rt)
    host = AgentHost(HostConfig(url=usp_broker.url, controller_id=controller_id, mqtt_version=version,
                                boot_delay_s=0.05, poll_interval_s=None, **host_options), twin)
    host.add_device(d.id)
    loop = LoopThread("usp-agents")
    loop.run(host.start())
    wait_until(lambda: bool((st := executor.controller.agent(endpoint_for(d))) and st.connected),
               what="the agent to connect")
    try:
        yield rt, d, host, loop
    finally:
        loop.run(host.stop())
        loop.stop()
        rt.close()
        twin.close()
        del rt
        gc.collect()  # the embedded Rego engine must be dropped on the thread that made it


@pytest.fixture
def usp_runtime(db_url: str, usp_broker: BrokerInfo) -> Iterator[tuple[Any, Device, AgentHost, LoopThread]]:
    with governed_usp_agent(db_url, usp_broker) as out:
        yield out


def _radio_5g(rt: Any, d: Device) -> int:
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    return next(int(p.split(".")[3]) for p, v in values.items()
                if p.endswith(".OperatingFrequencyBand") and v.value == "5GHz")


def test_lifecycle_applies_and_verifies_over_usp(usp_runtime: Any) -> None:
    rt, d, host, _loop = usp_runtime
    r = _radio_5g(rt, d)
    ch = f"Device.WiFi.Radio.{r}.Channel"
    current = rt.router.reader(d).read(d, [ch])[ch].value
    target = next(c for c in (36, 40, 44) if c != current)
    draft = ProposalDraft(intent="move 5 GHz off a busy channel", targets=[d.id],
                          changes=[Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
                                   Change(path=ch, value=target)],
                          rationale="neighbours crowd the current channel")
    alice = get_actor(rt.store, "alice")
    p = rt.lifecycle.submit(draft, alice)
    assert p.state is S.APPROVED, p.error
    sets_before = host.stats.requests
    out = rt.lifecycle.apply(p.id, alice)
    assert out.proposal.state is S.DONE, out.proposal.error
    assert host.stats.requests > sets_before  # it went over MQTT to the agent
    native = twin_for(rt).params(d.id)
    assert native[ch] == target
    assert twin_for(rt).state(d.id).parameter_key == p.id  # the idempotency key rode in the Set
    with rt.store.read() as s:
        backup = s.scalar(select(BackupRow).where(BackupRow.proposal_id == p.id))
        assert backup is not None and ch in backup.params and backup.params[ch]["value"] == current
        assert verify_chain(s).ok


def test_lifecycle_refuses_an_absent_agent(usp_runtime: Any) -> None:
    rt, d, host, loop = usp_runtime
    twin = twin_for(rt)
    draft = ProposalDraft(intent="rename the SSID", targets=[d.id],
                          changes=[Change(path="Device.WiFi.SSID.1.SSID", value="Offline Test")])
    alice = get_actor(rt.store, "alice")
    # Approved while the agent is connected (the live preview needs it), then the agent goes away
    # before the apply: presence gating must refuse the write.
    p = rt.lifecycle.submit(draft, alice)
    assert p.state is S.APPROVED, f"policy routed the proposal to {p.state}: {p.error}"
    twin.inject(d.id, "offline")
    loop.run(host.sync(d.id))
    ep = endpoint_for(d)
    executor = rt.router.writer(d)
    wait_until(lambda: executor.controller.agent(ep).connected is False, what="the disconnect")
    before = twin.params(d.id)["Device.WiFi.SSID.1.SSID"]
    with pytest.raises(DeviceUnavailable, match="not reachable"):
        rt.lifecycle.apply(p.id, alice)
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == before


@pytest.mark.parametrize("answer", [True, False], ids=["answer-after-goodbye", "no-answer"])
def test_a_set_the_agent_took_before_saying_goodbye_counts_as_changed(usp_runtime: Any, answer: bool) -> None:
    """OB-USP-Agent answers a Set of its controller or MQTT settings with a ``disconnect`` Record
    ("Configuration Change") first and its SetResp after, then is unmanageable (seen by hand, issue
    37). The Set landed: the proposal must not read "rolled back, nothing changed" — the device is
    recorded as changed, its rollback is attempted and, the agent being gone, left pending with an
    alarm, whether the SetResp follows the goodbye or never comes."""
    rt, d, host, loop = usp_runtime
    twin = twin_for(rt)
    path = "Device.WiFi.SSID.1.SSID"
    before = twin.params(d.id)[path]
    draft = ProposalDraft(intent="rename the SSID", targets=[d.id], changes=[Change(path=path, value="Goodbye-Test")])
    p = rt.lifecycle.submit(draft, get_actor(rt.store, "alice"))
    assert p.state is S.APPROVED, p.error
    twin.inject(d.id, "goodbye_on_set", answer=answer)
    loop.run(host.sync(d.id))
    out = rt.lifecycle.apply(p.id, get_actor(rt.store, "alice"))
    assert twin.params(d.id)[path] == "Goodbye-Test"  # it landed on the device
    assert out.proposal.state is not S.DONE and out.proposal.state is not S.ROLLED_BACK, out.proposal
    assert out.proposal.state is S.ROLLBACK_PENDING, (out.proposal.state, out.proposal.error)
    with rt.store.read() as s:
        rows = list(s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == p.id)
                              .order_by(AuditEventRow.seq)))
    events = [r.action for r in rows]
    # its rollback was tried (the device counted as changed) and, the agent gone, left to a person
    assert {"device.rolling_back", "device.restore_pending", "alarm.rollback_unconfirmed"} <= set(events), events
    if answer:  # the SetResp that followed the goodbye was heard: applied, then the read-back failed
        assert "device.applied" in events and "device.verify_failed" in events, events
    else:  # no answer: an unknown outcome, said as such
        failed = next(r for r in rows if r.action == "device.apply_failed")
        assert "may have carried it out" in str(failed.data), failed.data
    assert twin.params(d.id)[path] != before
