"""The controller against simulated agents and hand-made misbehaving ones, over a real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from core.kernel.models import Change
from executors.base import DeviceOffline, Fault, InvalidParameterName, Timeout, UnknownDevice
from executors.usp import records
from executors.usp.controller import AgentOffline, UspController, UspEvent, UspTimeout
from executors.usp.errors import UspError
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.mqtt import Inbound, MqttLink
from executors.usp.proto import msg_pb
from executors.usp.topics import agent_topic, split_reply_to, with_reply_to
from testing.grants import grant
from tests.usp.conftest import LUMENET, PRPL, SINOTEL
from tests.usp.support import UspRig, wait_until

pytestmark = pytest.mark.mqtt


class FakeAgent:
    """A hand-made agent on its own MQTT connection, answering with ``respond(msg) -> [payloads]``."""

    def __init__(self, rig: UspRig, endpoint_id: str, respond: Callable[[msg_pb.Msg, str], list[bytes]]) -> None:
        self.rig = rig
        self.endpoint_id = endpoint_id
        self.topic = agent_topic(endpoint_id)
        self.respond = respond
        self.received: list[msg_pb.Msg] = []
        v = rig.host.config.mqtt_version
        self.link = MqttLink(rig.broker.url, version=v, on_message=self._on)

    def _on(self, inbound: Inbound) -> None:
        d = records.decode(inbound.payload)
        assert d.msg is not None
        self.received.append(d.msg)
        _, reply = split_reply_to(inbound.topic)
        dest = inbound.response_topic or reply or self.rig.controller.topic
        for payload in self.respond(d.msg, d.record.from_id):
            self.publish(payload, dest)

    def publish(self, payload: bytes, dest: str | None = None, qos: int = 0) -> None:
        """Thread-safe: from the test thread it is handed to the link's loop (in order)."""
        loop = self.rig.executor.runner.loop
        if not self.rig.executor.runner.in_loop:
            loop.call_soon_threadsafe(self._publish, payload, dest, qos)
        else:
            self._publish(payload, dest, qos)

    def _publish(self, payload: bytes, dest: str | None, qos: int) -> None:
        dest = dest or self.rig.controller.topic
        if self.link.version == 3:
            self.link.publish(with_reply_to(dest, self.topic), payload, qos=qos, content_type=None)
        else:
            self.link.publish(dest, payload, qos=qos, response_topic=self.topic)

    def wrap(self, msg: msg_pb.Msg) -> bytes:
        return records.wrap(msg, to_id=self.rig.controller.endpoint_id, from_id=self.endpoint_id)

    async def start(self) -> FakeAgent:
        await self.link.connect()
        await self.link.subscribe([self.topic + ("/#" if self.link.version == 3 else "")])
        self.publish(records.mqtt_connect_record(to_id=self.rig.controller.endpoint_id, from_id=self.endpoint_id,
                                                 subscribed_topic=self.topic, mqtt_version=self.link.version), qos=1)
        return self


def _answer_get(msg: msg_pb.Msg) -> msg_pb.Msg:
    resp = records.response(msg.header.msg_id, msg_pb.Header.GET)
    rpr = resp.body.response.get_resp.req_path_results.add(requested_path="Device.X.")
    rpr.resolved_path_results.add(resolved_path="Device.X.").result_params["Y"] = "1"
    return resp


# --------------------------------------------------------------------------- presence & requests


def test_mqtt_connect_makes_the_agent_present(rig: UspRig) -> None:
    (d,) = rig.devices
    st = rig.controller.agent(endpoint_for(d))
    assert st is not None and st.connected and st.topic == agent_topic(endpoint_for(d))
    assert any(e.kind == "connect" and e.endpoint_id == st.endpoint_id for e in rig.controller.recent_events)
    p = rig.executor.presence(d)
    assert p.online and p.reachable and "answered a probe" in p.detail


def test_wrong_endpoint_id_is_dropped_silently_and_times_out(rig: UspRig) -> None:
    (d,) = rig.devices
    real = endpoint_for(d)
    wrong = real + "-typo"
    rig.controller._state(wrong).topic = agent_topic(real)  # the right topic, the wrong to_id
    with pytest.raises(UspTimeout, match="drops records with a wrong endpoint ID silently"):
        rig.ctl(rig.controller.get(wrong, ["Device.DeviceInfo.UpTime"], timeout=0.3))
    assert rig.host.stats.dropped_wrong_to_id == 1
    values, _ = rig.ctl(rig.controller.get(real, ["Device.DeviceInfo.UpTime"]))  # the right ID is answered
    assert "Device.DeviceInfo.UpTime" in values


def test_untrusted_controller_is_dropped_silently(rig: UspRig) -> None:
    (d,) = rig.devices
    stranger = UspController(rig.broker.url, endpoint_id="proto::stranger", mqtt_version=rig.host.config.mqtt_version)

    async def ask() -> None:
        await stranger.start()
        try:
            await stranger.get(endpoint_for(d), ["Device.DeviceInfo.UpTime"], timeout=0.3)
        finally:
            await stranger.stop()

    before = rig.host.stats.dropped_untrusted
    with pytest.raises(UspTimeout):  # no answer, no error Record: dropped silently
        rig.ctl(ask())
    # At least the stranger's Get was dropped as untrusted. Not "exactly one": a QoS 1 redelivery
    # of that Get under load counts again (seen once in a full CI run: 2), and it is dropped alike.
    assert rig.host.stats.dropped_untrusted - before >= 1
    assert rig.host.stats.responses == 0


def test_executor_timeout_names_the_cause_then_offline(rig: UspRig) -> None:
    (d,) = rig.devices
    rig.executor.read(d, ["Device.DeviceInfo.UpTime"])  # learn the agent first
    rig.inject(d, "unreachable")
    impatient = rig.executor.with_timeout(0.2)
    with pytest.raises(Timeout) as err:
        impatient.read(d, ["Device.DeviceInfo.UpTime"])
    # its records name this controller: the IDs match, and the message says so (not "probably do not match")
    assert "the endpoint IDs match: it is busy or restarting" in str(err.value) and err.value.retryable
    assert "probably do not match" not in str(err.value)
    with pytest.raises(DeviceOffline, match="has not answered since"):  # now known to be unanswering
        impatient.read(d, ["Device.DeviceInfo.UpTime"])
    rig.clear(d, "unreachable")
    assert impatient.read(d, ["Device.DeviceInfo.UpTime"])


def test_malformed_and_foreign_publishes_are_counted_not_fatal(rig: UspRig) -> None:
    (d,) = rig.devices
    fake = FakeAgent(rig, "os::FAKE-1", lambda m, f: [])
    rig.ctl(fake.start())
    fake.publish(b"\xff\xfe not a record")
    fake.publish(records.wrap(records.get("x", ["Device."]), to_id="proto::someone-else", from_id="os::FAKE-1"))
    if fake.link.version == 5:
        rig.executor.runner.loop.call_soon_threadsafe(
            lambda: fake.link.publish(rig.controller.topic, b"{}", content_type="application/json"))
    wait_until(lambda: rig.controller.stats.malformed >= 1 and rig.controller.stats.wrong_to_id >= 1,
               what="controller to count the bad records")
    assert rig.executor.read(d, ["Device.DeviceInfo.SerialNumber"])  # still working
    rig.ctl(fake.link.close())


def test_unknown_duplicate_and_misdirected_responses(rig: UspRig) -> None:
    def respond(msg: msg_pb.Msg, _from: str) -> list[bytes]:
        resp = _answer_get(msg)
        stray = _answer_get(records.get("not-ours-1", ["Device."]))
        return [fake.wrap(resp), fake.wrap(resp), fake.wrap(stray)]

    fake = FakeAgent(rig, "os::FAKE-2", respond)
    rig.ctl(fake.start())
    wait_until(lambda: bool(rig.controller.agent("os::FAKE-2")), what="fake agent to connect")
    values, errors = rig.ctl(rig.controller.get("os::FAKE-2", ["Device.X."]))
    assert values == {"Device.X.Y": "1"} and not errors
    wait_until(lambda: rig.controller.stats.duplicate_responses >= 1 and rig.controller.stats.unknown_msg_id >= 1,
               what="duplicate and unknown responses to be counted")

    # a response for a pending msg_id from a different agent is ignored; the real one still counts. Both
    # answers leave on the addressed agent's one connection, the impostor's first: MQTT keeps their order
    # (from two connections the broker may deliver either first, and the real one would leave nothing to refuse)
    def impostor_first(msg: msg_pb.Msg, _from: str) -> list[bytes]:
        forged = _answer_get(msg)
        forged.body.response.get_resp.req_path_results[0].resolved_path_results[0].result_params["Y"] = "forged"
        impostor = records.wrap(forged, to_id=rig.controller.endpoint_id, from_id="os::IMPOSTOR")
        return [impostor, real.wrap(_answer_get(msg))]

    real = FakeAgent(rig, "os::FAKE-2B", impostor_first)
    rig.ctl(real.start())
    wait_until(lambda: bool(rig.controller.agent("os::FAKE-2B")), what="second fake agent to connect")
    refused = rig.controller.stats.wrong_sender
    values, _ = rig.ctl(rig.controller.get("os::FAKE-2B", ["Device.X."]))
    assert values == {"Device.X.Y": "1"}
    assert rig.controller.stats.wrong_sender == refused + 1
    rig.ctl(fake.link.close())
    rig.ctl(real.link.close())


def test_notify_is_answered_and_delivered_once(rig: UspRig) -> None:
    acks: list[msg_pb.Msg] = []
    fake = FakeAgent(rig, "os::FAKE-3", lambda m, f: acks.append(m) or [])
    rig.ctl(fake.start())
    seen: list[UspEvent] = []

    async def listen() -> None:
        rig.controller.add_listener(seen.append)

    rig.ctl(listen())
    boot = records.notify("boot-1", "sub-boot", send_resp=True)
    ev = boot.body.request.notify.event
    ev.obj_path, ev.event_name = "Device.", "Boot!"
    ev.params["Cause"] = "LocalReboot"
    fake.publish(fake.wrap(boot), qos=1)
    fake.publish(fake.wrap(boot), qos=1)  # a retransmission
    ob = records.notify("ob-1", "", send_resp=True)
    ob.body.request.notify.on_board_req.serial_number = "FAKE3"
    fake.publish(fake.wrap(ob), qos=1)
    vc = records.notify("vc-1", "sub-vc", send_resp=False)
    vc.body.request.notify.value_change.param_path = "Device.X.Y"
    vc.body.request.notify.value_change.param_value = "2"
    fake.publish(fake.wrap(vc), qos=1)
    wait_until(lambda: len(acks) >= 3, what="NotifyResps")
    assert [(a.header.msg_id, a.header.msg_type, a.body.response.notify_resp.subscription_id) for a in acks] == [
        ("boot-1", msg_pb.Header.NOTIFY_RESP, "sub-boot"), ("boot-1", msg_pb.Header.NOTIFY_RESP, "sub-boot"),
        ("ob-1", msg_pb.Header.NOTIFY_RESP, "")]
    wait_until(lambda: any(e.kind == "value_change" for e in seen), what="value change event")
    mine = [e for e in seen if e.endpoint_id == "os::FAKE-3" and e.kind != "connect"]
    assert [e.kind for e in mine] == ["boot", "onboard", "value_change"]
    assert mine[0].data["Cause"] == "LocalReboot" and mine[1].data["serial_number"] == "FAKE3"
    assert rig.controller.stats.duplicate_notifies == 1
    rig.ctl(fake.link.close())


def test_events_iterator(rig: UspRig) -> None:
    (d,) = rig.devices

    async def collect() -> list[UspEvent]:
        got: list[UspEvent] = []
        async for e in rig.controller.events():
            got.append(e)
            if e.kind == "boot":
                break
        return got

    fut = rig.executor.runner.submit(collect())
    time.sleep(0.05)
    with rig_grant(rig.executor, d, "reboot") as g:
        rig.executor.operate(d, "reboot", {}, g)
    kinds = [e.kind for e in fut.result(10)]
    assert kinds[-3:] == ["disconnect", "connect", "boot"]


def rig_grant(executor: Any, device: Any, command: str) -> Any:
    """A grant ``executor`` accepts for ``command`` on ``device`` (a test authority bound to it)."""
    return grant(executor, device, commands=[command], proposal_id="p-usp-test")


def apply_grant(executor: Any, device: Any, paths: list[str]) -> Any:
    return grant(executor, device, paths=paths, proposal_id="p-usp-test")


# --------------------------------------------------------------------------- presence faults


def test_offline_agent_disconnects_and_pending_requests_fail_fast(rig: UspRig) -> None:
    (d,) = rig.devices
    ep = endpoint_for(d)
    rig.executor.read(d, ["Device.DeviceInfo.UpTime"])
    rig.twin.inject(d.id, "slow", delay_s=5.0)
    rig.run_agents(rig.host.sync(d.id))

    async def pending_then_gone() -> float:
        t0 = time.perf_counter()
        task = asyncio.ensure_future(rig.controller.get(ep, ["Device.DeviceInfo.UpTime"], timeout=10))
        await asyncio.sleep(0.1)
        rig.twin.inject(d.id, "offline")
        rig.agents_loop.submit(rig.host.sync(d.id))
        with pytest.raises(AgentOffline, match="disconnected"):
            await task
        return time.perf_counter() - t0

    assert rig.ctl(pending_then_gone()) < 3.0  # not the 10 s timeout
    rig.settle(d)
    p = rig.executor.presence(d)
    assert not p.online and "disconnected" in p.detail
    with pytest.raises(DeviceOffline, match="not connected"):
        rig.executor.read(d, ["Device.DeviceInfo.UpTime"])
    rig.clear(d)
    assert rig.executor.presence(d).reachable


def test_real_mqtt_will_on_a_dedicated_connection(make_rig: Callable[..., UspRig]) -> None:
    r = make_rig(dedicated=True)
    (d,) = r.devices
    r.inject(d, "offline")  # the agent's TCP connection dies; the broker publishes its will
    st = r.controller.agent(endpoint_for(d))
    assert st is not None and st.connected is False and "MQTT will" in st.disconnect_reason
    r.clear(d)
    assert r.executor.presence(d).reachable


def test_never_connected_device_is_offline(rig: UspRig) -> None:
    (d,) = rig.devices
    ghost = d.model_copy(update={"id": "3C9A77-PX7000-NOBODY", "serial": "NOBODY"})
    p = rig.executor.presence(ghost)
    assert not p.online and "has connected" in p.detail
    with pytest.raises(DeviceOffline, match="has connected"):
        rig.executor.read(ghost, ["Device.DeviceInfo.UpTime"])


def test_identity_mismatch_is_unknown_device(rig: UspRig) -> None:
    (d,) = rig.devices
    impostor = d.model_copy(update={"id": "3C9A77-OTHER-PX7K10000001"})
    with pytest.raises(UnknownDevice, match="is device"):
        rig.executor.read(impostor, ["Device.DeviceInfo.UpTime"])


# --------------------------------------------------------------------------- MQTT 3.1.1


@pytest.mark.parametrize(("agent_version", "controller_version"), [(3, 5), (5, 3), (3, 3)])
def test_mqtt_311_reply_to_convention(make_rig: Callable[..., UspRig], usp_broker: Any, agent_version: int,
                                      controller_version: int) -> None:
    if not usp_broker.mqtt5 and 5 in (agent_version, controller_version):
        pytest.skip("the embedded amqtt broker speaks MQTT 3.1.1 only")
    r = make_rig(mqtt_version=agent_version)
    (d,) = r.devices
    ctl = UspExecutor(url=r.broker.url, endpoint_id=r.controller.endpoint_id, mqtt_version=controller_version,
                      timeout_s=5, probe_timeout_s=1)
    try:
        assert ctl.read(d, ["Device.DeviceInfo.SerialNumber"])["Device.DeviceInfo.SerialNumber"].value == d.serial
        st = ctl.controller.agent(endpoint_for(d))
        assert st is not None and st.mqtt_version == agent_version
        with apply_grant(ctl, d, ["Device.WiFi.SSID.1.SSID"]) as g:
            ctl.apply(d, [Change(path="Device.WiFi.SSID.1.SSID", value="Over 3.1.1")], "k-311", g)
        assert r.twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == "Over 3.1.1"
    finally:
        ctl.close()


# --------------------------------------------------------------------------- data model operations


def test_add_get_instances_delete_over_mqtt(rig: UspRig) -> None:
    (d,) = rig.devices
    ep = endpoint_for(d)
    path = rig.ctl(rig.controller.add(ep, "Device.DNS.Client.Server.", {"DNSServer": "9.9.9.9", "Enable": True}))
    assert rig.twin.params(d.id)[path + "DNSServer"] == "9.9.9.9"
    inst = rig.ctl(rig.controller.get_instances(ep, ["Device.DNS.Client.Server."], first_level_only=True))
    assert path in inst["Device.DNS.Client.Server."]
    assert rig.ctl(rig.controller.delete(ep, [path])) == [path]
    assert rig.ctl(rig.controller.delete(ep, [path])) == []
    with pytest.raises(UspError) as err:
        rig.ctl(rig.controller.get_instances(ep, ["Device.Nope."]))
    assert err.value.code == 7026


def test_value_change_subscription(make_rig: Callable[..., UspRig]) -> None:
    r = make_rig(poll_interval_s=0.05)
    (d,) = r.devices
    ep = endpoint_for(d)
    path = r.ctl(r.controller.subscribe(ep, "ValueChange", "Device.WiFi.SSID.1.SSID", subscription_id="vc-test"))
    assert path.startswith("Device.LocalAgent.Subscription.")
    assert r.ctl(r.controller.subscribe(ep, "ValueChange", "Device.WiFi.SSID.1.SSID",
                                        subscription_id="vc-test")) == path  # idempotent
    got = r.executor.runner.submit(_wait_event(r, lambda e: e.kind == "value_change"))
    r.twin.device_change(d.id, {"Device.WiFi.SSID.1.SSID": "Changed locally"})  # the subscriber's own GUI
    event = got.result(10)
    assert event.data == {"path": "Device.WiFi.SSID.1.SSID", "value": "Changed locally"}
    assert event.subscription_id == "vc-test"


async def _wait_event(r: UspRig, pred: Callable[[UspEvent], bool]) -> UspEvent:
    return await asyncio.wait_for(r.controller.expect(pred), 10)


def test_odd_serial_numbers_still_route(make_rig: Callable[..., UspRig]) -> None:
    r = make_rig(models=[(PRPL, "PX7K/1+2#3", "DE")])
    (d,) = r.devices
    out = r.executor.read(d, ["Device.DeviceInfo.SerialNumber"])
    assert out["Device.DeviceInfo.SerialNumber"].value == "PX7K/1+2#3"


def test_unknown_command_is_refused_before_sending(rig: UspRig) -> None:
    (d,) = rig.devices
    sent = rig.controller.stats.requests_out
    with rig_grant(rig.executor, d, "self_destruct") as g, pytest.raises(Fault) as err:
        rig.executor.operate(d, "self_destruct", {}, g)
    assert err.value.code == 9000
    assert rig.controller.stats.requests_out - sent <= 2  # identity + supported DM at most, no Operate


def test_mixed_fleet_fan_out_reads(make_rig: Callable[..., UspRig]) -> None:
    r = make_rig(models=[(PRPL, "PX7K30000001", "DE"), (LUMENET, "LMNT30000001", "GB"),
                         (SINOTEL, "4857544330000001", "DE")])
    out = r.ctl(r.executor.get_many(r.devices, ["Device.DeviceInfo.SoftwareVersion"]))
    assert {k: v["Device.DeviceInfo.SoftwareVersion"].value for k, v in out.items()} == {
        d.id: d.firmware for d in r.devices}
    bad = r.ctl(r.executor.get_many(r.devices, ["Device.Nope."]))
    assert all(isinstance(v, InvalidParameterName) for v in bad.values())


def test_apply_many_checks_every_grant(make_rig: Callable[..., UspRig]) -> None:
    from executors.base import WriteRefused

    r = make_rig(models=[(PRPL, "PX7K40000001", "DE"), (PRPL, "PX7K40000002", "DE")])
    a, b = r.devices
    ssid = "Device.WiFi.SSID.1.SSID"
    with apply_grant(r.executor, a, [ssid]) as ga, apply_grant(r.executor, b, [ssid]) as gb:
        items = [(a, [Change(path=ssid, value="Fan A")], "k-a", ga), (b, [Change(path=ssid, value="Fan B")], "k-b", gb)]
        results = r.ctl(r.executor.apply_many(items))
        assert [getattr(x, "applied", None) for x in results] == [[ssid], [ssid]]
        with pytest.raises(WriteRefused):
            r.ctl(r.executor.apply_many([(a, [Change(path=ssid, value="x")], "k", gb)]))
        with pytest.raises(WriteRefused):
            r.ctl(r.executor.apply_many([(a, [Change(path=ssid, value="x")], "k", None)]))
    assert r.twin.params(a.id)[ssid] == "Fan A" and r.twin.params(b.id)[ssid] == "Fan B"


# --------------------------------------------------------------------------- configuration


def test_unreachable_broker_is_device_offline_not_a_crash() -> None:
    from core.kernel.models import Device
    from testing.mqtt_broker import free_port

    ex = UspExecutor(url=f"mqtt://127.0.0.1:{free_port()}", timeout_s=1, probe_timeout_s=0.5)
    d = Device(id="3C9A77-PX7000-PX7K70000001", vendor="Prplnet", model="PX-7000", oui="3C9A77",
               serial="PX7K70000001", firmware="prplOS-3.1.0", adapter="usp")
    try:
        p = ex.presence(d)
        assert not p.online and "cannot reach the MQTT broker" in p.detail
        with pytest.raises(DeviceOffline, match="cannot reach the MQTT broker"):
            ex.read(d, ["Device.DeviceInfo.UpTime"])
    finally:
        ex.close()


def test_factory_and_options(usp_broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.config import Settings
    from executors.usp import factory, usp_options

    assert usp_options({})["endpoint_id"] == "proto::controller-gateward"
    opts = usp_options({"GATEWARD_USP_TIMEOUT_S": "2.5", "GATEWARD_USP_MQTT_VERSION": "3"})
    assert opts["timeout_s"] == 2.5 and opts["mqtt_version"] == 3
    with pytest.raises(ValueError, match="GATEWARD_USP_TIMEOUT_S"):
        usp_options({"GATEWARD_USP_TIMEOUT_S": "soon"})
    with pytest.raises(ValueError, match="5 or 3"):
        usp_options({"GATEWARD_USP_MQTT_VERSION": "4"})
    monkeypatch.setenv("GATEWARD_USP_ENDPOINT_ID", "proto::gw-factory-test")
    ex = factory(Settings(mqtt_url=usp_broker.url))
    try:
        assert ex.name == "usp" and ex.controller.endpoint_id == "proto::gw-factory-test"
        assert ex.controller.started
    finally:
        ex.close()


def test_agent_drops_malformed_records_and_keeps_answering(rig: UspRig) -> None:
    (d,) = rig.devices
    fake = FakeAgent(rig, "os::FAKE-4", lambda m, f: [])
    rig.ctl(fake.start())
    rig.executor.runner.loop.call_soon_threadsafe(
        lambda: fake.link.publish(agent_topic(endpoint_for(d)), b"\x00\x01garbage", content_type=None))
    wait_until(lambda: rig.host.stats.malformed >= 1, what="the agent to count the malformed record")
    assert rig.executor.read(d, ["Device.DeviceInfo.SerialNumber"])
    rig.ctl(fake.link.close())
