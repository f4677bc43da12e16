"""Instances the controller makes on an agent are in the device's stored model at once.

Why: the stored instance numbers are the device's last discovery. A subscription the controller
itself added after it — the Boot! subscription it makes before a ``Reboot()``/``FactoryReset()``
on an agent that had none, the OperationComplete one before an async command, or those the
long-running controller's keeper ensures on a contact — was refused as missing when someone then
proposed to change it, although the controller had just made it (the issue "Real peers", item 1).
Every Add the USP adapter performs — and ``gateward usp subscribe``'s — goes through one hook, the
keeper's ``on_created``, which the composition root wires to ``core.capabilities.note_instances``
(``gateward.agent_setup.created_hook``). Symmetrically, what ``gateward usp unsubscribe`` deletes
goes through the keeper's ``on_deleted`` (``core.capabilities.forget_instances``), so the stored
model does not keep claiming an instance that is gone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core import capabilities
from core.kernel.config import Settings
from core.kernel.models import Change, Device, Operation, ProposalDraft, ProposalState
from core.store.schema import DeviceInstancesRow
from core.users import get_actor
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp import UspExecutor
from executors.usp import datamodel as dm
from executors.usp.executor import endpoint_for
from executors.usp.loop import LoopThread
from gateward.runtime import Runtime, UspEvents, build_runtime
from gateward.seed import seed_fleet, twin_for
from testing.cli import run_cli
from testing.fleet_picks import first_usp_gateway_on_usp
from tests.usp.support import BrokerInfo, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.xdist_group("mqtt")]
S = ProposalState
TABLE = "Device.LocalAgent.Subscription."


@contextmanager
def composed_usp_agent(db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch, controller_id: str,
                       ) -> Iterator[tuple[Runtime, Device, AgentHost, LoopThread]]:
    """A seeded runtime built as every process builds it (its USP adapter from the composition root,
    not a test's own router), whose first USP gateway is fronted by a simulated agent that ships no
    subscriptions (like OB-USP-Agent's stock factory file), discovered before anything else."""
    version = 5 if usp_broker.mqtt5 else 3
    monkeypatch.setenv("GATEWARD_USP_ENDPOINT_ID", controller_id)
    monkeypatch.setenv("GATEWARD_USP_MQTT_VERSION", str(version))
    monkeypatch.setenv("GATEWARD_USP_TIMEOUT_S", "5")
    monkeypatch.setenv("GATEWARD_USP_PROBE_TIMEOUT_S", "1")
    rt = build_runtime(Settings(database_url=db_url, mqtt_url=usp_broker.url))
    seed_fleet(rt, homes=12, seed=11)
    d = first_usp_gateway_on_usp(rt)
    twin = twin_for(rt)
    host = AgentHost(HostConfig(url=usp_broker.url, controller_id=controller_id, mqtt_version=version,
                                factory_subscriptions=False, boot_delay_s=0.05, poll_interval_s=None), twin)
    host.add_device(d.id)
    executor = rt.router.writer(d)  # listening before the agent connects: its connect Record is heard
    assert isinstance(executor, UspExecutor) and executor.connect()
    loop = LoopThread("usp-made-agents")
    loop.run(host.start())
    try:
        wait_until(lambda: bool((st := executor.controller.agent(endpoint_for(d))) and st.connected),
                   what="the agent to connect")
        (found,) = capabilities.discover(rt.store, rt.router, [d])
        assert found.get("stored"), found
        yield rt, d, host, loop
    finally:
        loop.run(host.stop())
        loop.stop()
        rt.close()
        twin.close()
        del rt
        gc.collect()  # the embedded Rego engine must be dropped on the thread that made it


def _stored(rt: Runtime, device_id: str) -> list[int]:
    with rt.store.read() as s:
        row = s.get(DeviceInstancesRow, device_id)
        assert row is not None
        return list((row.instances or {}).get(TABLE) or [])


def _refusal(rt: Runtime, d: Device, path: str) -> str | None:
    """What validation's stored-model check says of ``path`` (None: not refused). Asked directly, as
    well as through a proposal: a proposal's live check of a doubtful instance asks the (connected)
    agent first, which would hide a stored model that lacks it (``core.lifecycle.live_instances``)."""
    with rt.store.read() as s:
        cap = capabilities.for_devices(s, [d])[d.id]
    refused = cap.problem(path)
    return None if refused is None else refused[1]


def test_the_boot_subscription_made_before_a_governed_reboot_is_stored_at_once(
        db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    with composed_usp_agent(db_url, usp_broker, monkeypatch, "proto::gw-made-reboot") as (rt, d, host, _loop):
        sim = host.agent(d.id).sim
        assert sim is not None and sim.subscriptions == {}  # no Boot! subscription: nothing says it is back
        assert _stored(rt, d.id) == []
        alice = get_actor(rt.store, "alice")
        p = rt.lifecycle.submit(ProposalDraft(intent="reboot a wedged gateway", targets=[d.id],
                                              operations=[Operation(command="reboot")], rationale="memory leak"),
                                alice)
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, get_actor(rt.store, "carol"))
        assert p.state is S.APPROVED, (p.state, p.error)
        out = rt.lifecycle.apply(p.id, alice)
        assert out.proposal.state is S.DONE, out.proposal.error  # confirmed by the Boot! it made sure of
        (n,) = [i for i, s in sim.subscriptions.items() if s.reference_list.endswith(dm.BOOT_EVENT)]
        assert _stored(rt, d.id) == [n]
        path = f"{TABLE}{n}.Enable"
        assert _refusal(rt, d, path) is None
        q = rt.lifecycle.submit(ProposalDraft(intent="quiet the boot notices", targets=[d.id],
                                              changes=[Change(path=path, value=False)],
                                              rationale="hand check"), get_actor(rt.store, "dave"))
        assert "does not exist on this device" not in (q.error or ""), q.error
        assert q.state in (S.APPROVED, S.AWAITING_APPROVAL), (q.state, q.error)


def test_the_operation_complete_subscription_made_before_a_ping_is_stored_at_once(
        db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    with composed_usp_agent(db_url, usp_broker, monkeypatch, "proto::gw-made-ping") as (rt, d, host, _loop):
        sim = host.agent(d.id).sim
        assert sim is not None and sim.subscriptions == {}
        dave = get_actor(rt.store, "dave")
        p = rt.lifecycle.submit(ProposalDraft(intent="is the uplink alive", targets=[d.id],
                                              operations=[Operation(command="ipping", args={"host": "192.0.2.1"})],
                                              rationale="subscriber reports drops"), dave)
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, get_actor(rt.store, "carol"))
        assert p.state is S.APPROVED, (p.state, p.error)
        out = rt.lifecycle.apply(p.id, dave)
        assert out.proposal.state is S.DONE, out.proposal.error
        (n,) = [i for i, s in sim.subscriptions.items() if s.notif_type == "OperationComplete"]
        assert n in _stored(rt, d.id)
        assert _refusal(rt, d, f"{TABLE}{n}.Enable") is None


def test_the_subscriptions_the_keeper_makes_on_a_contact_are_stored_at_once(
        db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The long-running controller as ``gateward run`` turns it on (``UspEvents``): the keeper's
    ``on_created`` is the hook the composition root built the adapter with."""
    monkeypatch.setenv("GATEWARD_USP_AUTO_SUBSCRIBE", "1")
    with composed_usp_agent(db_url, usp_broker, monkeypatch, "proto::gw-made-keep") as (rt, d, host, loop):
        ep = endpoint_for(d)
        executor = rt.router.writer(d)
        assert isinstance(executor, UspExecutor)
        UspEvents(rt)._keep_subscriptions(executor)
        assert executor.auto_subscribe
        agent = host.agent(d.id)
        loop.run(host._go_offline(agent, "restart", graceful=True))  # its next contact: a reconnect
        loop.run(host._go_online(agent))
        wait_until(lambda: ep in executor.subscribed and not executor.keeper.running(ep), 15,
                   "the keeper's check after the reconnect")
        assert executor.subscribed[ep].created, executor.subscribed[ep]
        sim = agent.sim
        assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == {
            "Event", "OperationComplete", "ValueChange"}
        assert _stored(rt, d.id) == sorted(sim.subscriptions)
        assert all(_refusal(rt, d, f"{TABLE}{n}.NotifRetry") is None for n in sim.subscriptions)


def test_a_subscription_added_with_gateward_usp_subscribe_is_stored_at_once(
        db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``gateward usp subscribe`` (its own controller, in a CLI process) hands what it made to the
    same hook: the one subscription asked for, then with ``--ensure`` those Gateward relies on."""
    with composed_usp_agent(db_url, usp_broker, monkeypatch, "proto::gw-made-cli") as (rt, d, host, _loop):
        sim = host.agent(d.id).sim
        assert sim is not None and sim.subscriptions == {}
        assert _stored(rt, d.id) == []
        env = {"GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_DATABASE_URL": db_url,
               "GATEWARD_MQTT_URL": usp_broker.url}
        one = run_cli("usp", "subscribe", d.id, "--type", "ValueChange", "--ref", "Device.DeviceInfo.UpTime",
                      "--id", "vc-uptime", env=env, columns=250)
        assert one.returncode == 0, one.stdout + one.stderr
        (n,) = sim.subscriptions
        assert f"created {TABLE}{n}." in one.stdout, one.stdout
        assert _stored(rt, d.id) == [n]
        assert _refusal(rt, d, f"{TABLE}{n}.Enable") is None

        rest = run_cli("usp", "subscribe", d.id, "--ensure", env=env, columns=250)
        assert rest.returncode == 0, rest.stdout + rest.stderr
        assert len(sim.subscriptions) > 1, rest.stdout
        assert _stored(rt, d.id) == sorted(sim.subscriptions)
        assert all(_refusal(rt, d, f"{TABLE}{i}.NotifRetry") is None for i in sim.subscriptions)


def test_a_subscription_removed_with_gateward_usp_unsubscribe_leaves_the_stored_model_at_once(
        db_url: str, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The symmetric path: ``gateward usp unsubscribe`` hands what it deleted to the keeper's
    ``on_deleted`` (``keeper.tell_deleted``), so the stored model no longer claims the instance and
    a change to it is refused as missing instead of passing validation against a ghost."""
    with composed_usp_agent(db_url, usp_broker, monkeypatch, "proto::gw-gone-cli") as (rt, d, host, _loop):
        sim = host.agent(d.id).sim
        assert sim is not None and sim.subscriptions == {}
        env = {"GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_DATABASE_URL": db_url,
               "GATEWARD_MQTT_URL": usp_broker.url}
        for sub_id, ref in (("vc-uptime", "Device.DeviceInfo.UpTime"),
                            ("vc-version", "Device.DeviceInfo.SoftwareVersion")):
            made = run_cli("usp", "subscribe", d.id, "--type", "ValueChange", "--ref", ref, "--id", sub_id,
                           env=env, columns=250)
            assert made.returncode == 0, made.stdout + made.stderr
        gone, kept = (next(i for i, s in sim.subscriptions.items() if s.id == x) for x in ("vc-uptime", "vc-version"))
        assert _stored(rt, d.id) == sorted([gone, kept])

        out = run_cli("usp", "unsubscribe", d.id, "vc-uptime", env=env, columns=250)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"deleted {TABLE}{gone}." in out.stdout, out.stdout
        assert sorted(sim.subscriptions) == [kept]
        assert _stored(rt, d.id) == [kept]  # the other subscription stays
        refused = _refusal(rt, d, f"{TABLE}{gone}.Enable")
        assert refused is not None and f"{TABLE}{gone} does not exist on this device" in refused, refused
        assert _refusal(rt, d, f"{TABLE}{kept}.Enable") is None
        q = rt.lifecycle.submit(ProposalDraft(intent="quiet the uptime notices", targets=[d.id],
                                              changes=[Change(path=f"{TABLE}{gone}.Enable", value=False)],
                                              rationale="hand check"), get_actor(rt.store, "dave"))
        assert q.state is S.INVALID, (q.state, q.error)
        assert f"{TABLE}{gone} does not exist on this device" in (q.error or ""), q.error
