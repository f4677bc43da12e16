"""Issue 11 deliverable 4: on first contact the controller creates the subscriptions it relies on.

The agent is configured like the OB-USP-Agent's example: no pre-provisioned subscription (so no
Boot! until someone subscribes), no Wi-Fi objects, topic ``/usp/agent``. At HEAD nothing created
Boot! or ValueChange subscriptions — the simulated agent's factory Boot! subscription hid that.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.store import Store
from executors.usp import controller_options
from executors.usp import subscriptions as subs
from executors.usp.controller import UspEvent
from executors.usp.errors import UspError
from executors.usp.executor import endpoint_for
from tests.usp.support import BrokerInfo, UspRig, wait_until
from tests.usp.test_agent_topics import _executor, obuspa_like

pytestmark = pytest.mark.mqtt


def test_first_contact_creates_subscriptions_then_value_change_arrives(tmp_path: Path, usp_broker: BrokerInfo,
                                                                       store: Store) -> None:
    controller_id = f"proto::gw-subs-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id, poll_interval_s=0.1) as (twin, host, loop, device):
        ex = _executor(usp_broker, controller_id, store, auto_subscribe=True)
        events: list[UspEvent] = []
        ex.add_event_listener(events.append)
        try:
            sim = host.agent(device.id).sim
            assert sim is not None and sim.subscriptions == {}  # shipped with none, like the real agent
            loop.run(host.start())
            ep = endpoint_for(device)
            wait_until(lambda: ep in ex.subscribed, 15, "first-contact subscriptions")
            report = ex.subscribed[ep]
            tag = subs.wanted_for("Device.", controller_id, ())[0].subscription_id
            assert tag in report.created and f"gw-opc-{controller_id}" in report.created
            assert report.unsupported == ["Device.WiFi.Radio.*.Channel"]  # no Wi-Fi on this agent: not asked
            created = {s.notif_type: s.reference_list for s in sim.subscriptions.values()}
            assert created == {"Event": "Device.Boot!", "OperationComplete": "Device.",
                               "ValueChange": "Device.DeviceInfo.SoftwareVersion"}
            # the watched parameter changes on the device: a ValueChange reaches the controller
            twin.device_change(device.id, {"Device.DeviceInfo.SoftwareVersion": "prplOS-3.1.9"})
            wait_until(lambda: any(e.kind == "value_change" and e.endpoint_id == ep for e in events), 10,
                       "the ValueChange notification")
            vc = next(e for e in events if e.kind == "value_change")
            assert vc.data == {"path": "Device.DeviceInfo.SoftwareVersion", "value": "prplOS-3.1.9"}
            # a second pass finds everything in place and adds nothing
            again = ex.runner.run(subs.ensure(ex.controller, ep, timeout=3), timeout=30)
            assert again.created == [] and len(again.existing) == 3
            # and the agent now announces its boots, which it did not before
            loop.run(host.local_reset(device.id, factory_reset=False), timeout=20)
            wait_until(lambda: any(e.kind == "boot" and e.endpoint_id == ep for e in events), 10, "Boot!")
        finally:
            ex.close()


def test_equivalent_factory_subscription_is_reused(rig: UspRig) -> None:
    """The default simulated agent ships a Boot! subscription for its controller: it is kept, not doubled."""
    device = rig.devices[0]
    ep = endpoint_for(device)
    report = rig.ctl(subs.ensure(rig.controller, ep, timeout=3))
    assert report.existing == ["gw-boot"]
    assert sorted(report.created) == sorted([f"gw-opc-{rig.controller.endpoint_id}",
                                             *(w.subscription_id for w in subs.wanted_for(
                                                 "Device.", rig.controller.endpoint_id, subs.DEFAULT_WATCH)
                                               if w.notif_type == "ValueChange")])
    sim = rig.host.agent(device.id).sim
    assert sim is not None
    assert sum(1 for s in sim.subscriptions.values() if s.notif_type == "Event") == 1


def test_subscribe_and_unsubscribe_by_hand(rig: UspRig) -> None:
    ep = endpoint_for(rig.devices[0])
    path = rig.ctl(subs.subscribe(rig.controller, ep, "ValueChange", "Device.WiFi.SSID.1.SSID",
                                  subscription_id="vc-ssid", timeout=3))
    _root, _ours, rows = rig.ctl(subs.read_table(rig.controller, ep, timeout=3))
    assert [r.path for r in rows if r.id == "vc-ssid"] == [path]
    with pytest.raises(ValueError, match="not one of"):
        rig.ctl(subs.subscribe(rig.controller, ep, "Sometimes", "Device.", timeout=3))
    with pytest.raises(ValueError, match="must name paths"):
        rig.ctl(subs.subscribe(rig.controller, ep, "ValueChange", "WiFi.SSID.1.SSID", timeout=3))
    with pytest.raises(UspError):  # the agent refuses a duplicate ID: nothing is added
        rig.ctl(subs.subscribe(rig.controller, ep, "ValueChange", "Device.", subscription_id="vc-ssid", timeout=3))
    with pytest.raises(KeyError, match="no subscription with ID nope"):
        rig.ctl(subs.unsubscribe(rig.controller, ep, ["vc-ssid", "nope"], timeout=3))
    assert any(r.id == "vc-ssid" for r in rig.ctl(subs.read_table(rig.controller, ep, timeout=3))[2])
    assert rig.ctl(subs.unsubscribe(rig.controller, ep, ["vc-ssid"], timeout=3)) == [path]
    assert not any(r.id == "vc-ssid" for r in rig.ctl(subs.read_table(rig.controller, ep, timeout=3))[2])


def test_controller_options_are_validated() -> None:
    assert controller_options({})["auto_subscribe"] is True
    assert controller_options({"GATEWARD_USP_AUTO_SUBSCRIBE": "0"})["auto_subscribe"] is False
    assert controller_options({"GATEWARD_USP_WATCH": "DeviceInfo.UpTime, "})["watch"] == ("DeviceInfo.UpTime",)
    assert controller_options({"GATEWARD_USP_CONTROLLER_TOPIC": "/usp/controller"})["controller_topic"] == \
        "/usp/controller"
    for env, needle in ((("GATEWARD_USP_AUTO_SUBSCRIBE", "maybe"), "must be 1 or 0"),
                        (("GATEWARD_USP_WATCH", "Device.DeviceInfo.UpTime"), "relative to the root"),
                        (("GATEWARD_USP_CONTROLLER_TOPIC", "usp/#"), "wildcard")):
        with pytest.raises(ValueError, match=needle):
            controller_options(dict([env]))


def test_agent_connected_before_the_controller_is_subscribed_on_first_exchange(
        tmp_path: Path, usp_broker: BrokerInfo, store: Store) -> None:
    """No mqtt_connect is heard from an agent that was there first; its first answered request counts."""
    controller_id = f"proto::gw-late-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id, agent_topic=None) as (_twin, host, loop, device):
        loop.run(host.start())  # its connect Record goes to a topic nobody listens on yet
        ex = _executor(usp_broker, controller_id, store, auto_subscribe=True)
        try:
            ep = endpoint_for(device)
            assert ex.read(device, ["Device.DeviceInfo.SerialNumber"])
            wait_until(lambda: ep in ex.subscribed, 10, "subscriptions after the first exchange")
            assert f"gw-opc-{controller_id}" in ex.subscribed[ep].created
            sim = host.agent(device.id).sim
            assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == {
                "Event", "OperationComplete", "ValueChange"}
        finally:
            ex.close()
