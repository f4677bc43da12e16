"""Commands over USP: Reboot() and Boot!, FactoryReset() and OnBoardRequest, async IPPing() and
Download() with OperationComplete, and the idempotency key and reboot flag of a Set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.kernel.models import Change
from executors.base import Fault
from executors.usp.controller import UspEvent
from executors.usp.executor import endpoint_for
from tests.usp.support import UspRig, wait_until
from tests.usp.test_controller import apply_grant, rig_grant

pytestmark = pytest.mark.mqtt
SSID = "Device.WiFi.SSID.1.SSID"


def _events(r: UspRig, ep: str) -> list[UspEvent]:
    return [e for e in list(r.controller.recent_events) if e.endpoint_id == ep]


def test_reboot_waits_for_boot_event(rig: UspRig) -> None:
    (d,) = rig.devices
    ep = endpoint_for(d)
    boots = rig.twin.state(d.id).boot_count
    with rig_grant(rig.executor, d, "reboot") as g:
        res = rig.executor.operate(d, "reboot", {}, g)
    assert res.status == "done" and res.output["boot_cause"] == "RemoteReboot"
    assert res.output["command_key"].startswith("gw-")
    assert rig.twin.state(d.id).boot_count == boots + 1
    kinds = [e.kind for e in _events(rig, ep)]
    assert kinds[-3:] == ["disconnect", "connect", "boot"]
    wait_until(lambda: rig.host.stats.notify_acked >= 1, what="the agent to get its NotifyResp for Boot!")
    assert rig.executor.read(d, ["Device.DeviceInfo.UpTime"])["Device.DeviceInfo.UpTime"].value < 60


def test_event_listeners_see_boot_from_any_thread(rig: UspRig) -> None:
    import queue

    (d,) = rig.devices
    seen: queue.Queue[UspEvent] = queue.Queue()
    rig.executor.add_event_listener(seen.put)
    with rig_grant(rig.executor, d, "reboot") as g:
        rig.executor.operate(d, "reboot", {}, g)
    kinds = []
    while not seen.empty():
        kinds.append(seen.get().kind)
    assert "boot" in kinds and "connect" in kinds
    rig.executor.remove_event_listener(seen.put)


def test_factory_reset_onboards_again(rig: UspRig) -> None:
    (d,) = rig.devices
    ep = endpoint_for(d)
    with apply_grant(rig.executor, d, [SSID]) as g:
        rig.executor.apply(d, [Change(path=SSID, value="Before Reset")], "k-fr", g)
    with rig_grant(rig.executor, d, "factory_reset") as g:
        res = rig.executor.operate(d, "factory_reset", {}, g)
    assert res.status == "done" and res.output["boot_cause"] == "RemoteFactoryReset"
    wait_until(lambda: any(e.kind == "onboard" for e in _events(rig, ep)), what="OnBoardRequest")
    onboard = next(e for e in _events(rig, ep) if e.kind == "onboard")
    assert onboard.data["serial_number"] == d.serial and onboard.data["oui"] == d.oui
    assert rig.executor.read(d, [SSID])[SSID].value != "Before Reset"


@pytest.mark.parametrize("process_restart", [True, False], ids=["agent-process-restarts", "device-reboots"])
def test_a_factory_reset_of_an_agent_that_keeps_no_subscriptions_is_confirmed_by_its_restart(
        make_rig: Callable[..., UspRig], process_restart: bool) -> None:
    """OB-USP-Agent's stock reset file provisions no subscription, so after FactoryReset() its Boot!
    never comes: by hand, every governed factory reset ended UNCONFIRMED with a critical alarm while
    the agent was back in a second. Its reconnect, then an UpTime shorter than the time since the
    command, confirms the restart — the agent's own (LocalAgent.UpTime) where only its process
    restarted, as OB-USP-Agent's on a Linux host whose DeviceInfo.UpTime is the kernel's (seen by
    hand: 4793 s a second after the reset); an agent that never comes back stays pending."""
    r = make_rig(factory_subscriptions=False, process_restart=process_restart)
    (d,) = r.devices
    ep = endpoint_for(d)
    quick = r.executor.with_timeout(5)
    quick.reboot_timeout_s = 8
    with rig_grant(quick, d, "factory_reset") as g:
        res = quick.operate(d, "factory_reset", {}, g)
    assert res.status == "done", res.output
    assert "UpTime" in res.output["confirmed_by"] and res.output["boot_cause"] == "RemoteFactoryReset"
    assert not [e for e in _events(r, ep) if e.kind == "boot"]  # it really sent none
    device_uptime = quick.read(d, ["Device.DeviceInfo.UpTime"])["Device.DeviceInfo.UpTime"].value
    if process_restart:  # the device's uptime went on: only the agent's own says it restarted
        assert device_uptime > 60 and "LocalAgent.UpTime" in res.output["confirmed_by"], (device_uptime, res.output)
    else:
        assert device_uptime < 60
    # an agent that does not come back after the command is not confirmed by anything
    r.twin.inject(d.id, "reboot_hangs")
    r.run_agents(r.host.sync(d.id))
    quick.reboot_timeout_s = 1.0
    with rig_grant(quick, d, "factory_reset") as g:
        hung = quick.operate(d, "factory_reset", {}, g)
    assert hung.status == "pending" and "no reconnect" in hung.output["detail"], hung.output


def test_reboot_that_never_comes_back_is_pending(rig: UspRig) -> None:
    (d,) = rig.devices
    rig.twin.inject(d.id, "reboot_hangs")
    rig.run_agents(rig.host.sync(d.id))
    quick = rig.executor.with_timeout(5)
    quick.reboot_timeout_s = 0.5
    with rig_grant(quick, d, "reboot") as g:
        res = quick.operate(d, "reboot", {}, g)
    assert res.status == "pending" and "no Boot!" in res.output["detail"]
    assert not rig.executor.presence(d).online


def test_ipping_is_async_with_operation_complete(rig: UspRig) -> None:
    (d,) = rig.devices
    with rig_grant(rig.executor, d, "ipping") as g:
        res = rig.executor.operate(d, "ipping", {"host": "192.0.2.7", "repetitions": 4}, g)
    assert res.status == "done"
    assert res.output["SuccessCount"] + res.output["FailureCount"] == 4
    assert res.output["DiagnosticsState"] == "Complete"
    ep = endpoint_for(d)
    ops = [e for e in _events(rig, ep) if e.kind == "operation_complete"]
    assert ops and ops[-1].data["command"] == "IPPing()" and ops[-1].data["obj_path"] == "Device.IP.Diagnostics."
    values, _ = rig.ctl(rig.controller.get(ep, ["Device.LocalAgent.Subscription.*.NotifType"]))
    assert "OperationComplete" in values.values()  # the executor subscribed first
    with rig_grant(rig.executor, d, "ipping") as g, pytest.raises(Fault, match="ipping"):
        rig.executor.operate(d, "ipping", {"host": "192.0.2.7", "repetitions": "many"}, g)
    with rig_grant(rig.executor, d, "ipping") as g:  # an unresolvable host is a finished, failed diagnostic
        bad = rig.executor.operate(d, "ipping", {"host": "nowhere.invalid", "repetitions": 1}, g)
    assert bad.status == "failed" and bad.output["DiagnosticsState"] == "Error_CannotResolveHostName"


def test_download_upgrades_and_reboots(rig: UspRig) -> None:
    (d,) = rig.devices
    with rig_grant(rig.executor, d, "download") as g:
        res = rig.executor.operate(d, "download", {"url": "https://fw.example/prplOS-3.2.0.bin",
                                                   "version": "prplOS-3.2.0"}, g)
    assert res.status == "done"
    assert rig.executor.read(d, ["Device.DeviceInfo.SoftwareVersion"])[
        "Device.DeviceInfo.SoftwareVersion"].value == "prplOS-3.2.0"
    boot = [e for e in _events(rig, endpoint_for(d)) if e.kind == "boot"][-1]
    assert boot.data["FirmwareUpdated"] == "true"
    rig.twin.inject(d.id, "download_fails", code=9010, message="image signature invalid")
    rig.run_agents(rig.host.sync(d.id))
    with rig_grant(rig.executor, d, "download") as g, pytest.raises(Fault) as err:
        rig.executor.operate(d, "download", {"url": "https://fw.example/bad.bin"}, g)
    assert err.value.code == 9010 and "signature" in str(err.value)


def test_idempotent_reapply_and_reboot_flag(rig: UspRig) -> None:
    (d,) = rig.devices
    change = [Change(path=SSID, value="Idem")]
    with apply_grant(rig.executor, d, [SSID]) as g:
        first = rig.executor.apply(d, change, "p-1", g)
        sets = rig.host.stats.requests
        again = rig.executor.apply(d, change, "p-1", g)
    assert not first.idempotent_skip and again.idempotent_skip
    assert rig.host.stats.requests - sets == 1  # one Get, no Set
    assert rig.twin.state(d.id).parameter_key == "p-1"
    rig.inject(d, "reboot_required")
    with apply_grant(rig.executor, d, [SSID]) as g:
        res = rig.executor.apply(d, [Change(path=SSID, value="After Reboot")], "p-2", g)
    assert res.status == 1


def test_declared_type_mismatch_is_refused_before_sending(rig: UspRig) -> None:
    (d,) = rig.devices
    path = "Device.WiFi.Radio.1.Channel"
    rig.executor.read(d, [path])
    before = rig.controller.stats.requests_out
    with apply_grant(rig.executor, d, [path]) as g, pytest.raises(Fault) as err:
        rig.executor.apply(d, [Change(path=path, value="6", type="boolean")], "k", g)
    assert err.value.code == 9006 and rig.controller.stats.requests_out == before


def test_mixed_fleet_discovery(make_rig: Callable[..., UspRig]) -> None:
    from tests.usp.conftest import LUMENET, SINOTEL

    r = make_rig(models=[(LUMENET, "LMNT50000001", "GB"), (SINOTEL, "4857544350000001", "DE")])
    lum, sino = r.devices
    a = r.executor.discover(lum)
    assert a.root == "Device." and a.data_model_version == "2.15" and "Device.WiFi.Radio.{i}." in a.supported_objects
    b = r.executor.discover(sino)
    assert b.root == "InternetGatewayDevice." and b.instance_map and b.firmware == sino.firmware


def test_a_reboot_whose_answer_is_overtaken_by_the_goodbye_still_waits_for_boot(rig: UspRig) -> None:
    """Issue 37: the agent answers Reboot() on the reply connection and says goodbye on the main one;
    when the goodbye arrives first (a busy machine), the Operate failed "disconnected before
    answering" though the agent was rebooting — and the lifecycle took that for a refusal. It waits
    for the Boot! instead. The answer is held back here to make the order certain."""
    from executors.usp import records

    (d,) = rig.devices
    ctl = rig.controller
    handle = ctl.reply_link.on_message
    assert handle is not None and ctl._loop is not None

    def late_operate_resp(inbound: Any) -> None:
        decoded = records.decode(inbound.payload)
        if decoded.msg is not None and decoded.msg.body.WhichOneof("msg_body") == "response" \
                and decoded.msg.body.response.WhichOneof("resp_type") == "operate_resp":
            ctl._loop.call_later(0.3, handle, inbound)  # after the disconnect Record (sent 10 ms later)
            return
        handle(inbound)

    ctl.reply_link.on_message = late_operate_resp
    try:
        with rig_grant(rig.executor, d, "reboot") as g:
            res = rig.executor.operate(d, "reboot", {}, g)
    finally:
        ctl.reply_link.on_message = handle
    assert res.status == "done" and res.output["boot_cause"] == "RemoteReboot"
