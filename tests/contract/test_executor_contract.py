"""The executor contract (``executors.base``), checked against every registered adapter.

Only the contract's public surface is used: TR-181 paths in and out, typed errors, write
grants from ``core.grants``. Where a test needs to see the device's own tree (TR-098 fan-out)
it uses ``harness.native`` and skips when the harness cannot provide it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.kernel.models import Change, Device, Root
from executors.base import (
    DeviceOffline,
    ExecutorError,
    Fault,
    InvalidParameterName,
    InvalidValue,
    NotWritable,
    Timeout,
    UnknownDevice,
    WriteGrant,
    WriteRefused,
)
from executors.translate import InstanceMap
from tests.contract.conftest import Harness

CH = "Device.WiFi.Radio.{r}.Channel"
SSID1 = "Device.WiFi.SSID.1.SSID"


def _read(h: Harness, device: Device, path: str) -> object:
    return h.executor.read(device, [path])[path].value


def _apply(h: Harness, device: Device, changes: list[Change], key: str = "k-1"):  # type: ignore[no-untyped-def]
    with h.grant(device, paths=[c.path for c in changes]) as g:
        return h.executor.apply(device, changes, key, g)


def _operate(h: Harness, device: Device, command: str, **args: object):  # type: ignore[no-untyped-def]
    with h.grant(device, commands=[command], purpose="operate") as g:
        return h.executor.operate(device, command, dict(args), g)  # type: ignore[arg-type]


def _radio(h: Harness, device: Device, band: str) -> int:
    values = h.executor.read(device, ["Device.WiFi.Radio."])
    for path, v in values.items():
        if path.endswith(".OperatingFrequencyBand") and v.value == band:
            return int(path.split(".")[3])
    pytest.fail(f"{device.id} reports no {band} radio band; the contract fleet must have one")
    return 0


def _other_channel(h: Harness, device: Device, r: int, *candidates: int) -> int:
    current = _read(h, device, CH.format(r=r))
    possible = str(_read(h, device, f"Device.WiFi.Radio.{r}.PossibleChannels"))
    allowed = {int(x) for x in possible.replace(" ", "").split(",") if x.isdigit()}
    for c in candidates:
        if c != current and (not allowed or c in allowed):
            return c
    raise AssertionError("no candidate channel")


# --------------------------------------------------------------------------- reading


def test_read_full_paths(harness: Harness) -> None:
    d = harness.tr181_device
    paths = ["Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.SerialNumber", CH.format(r=1)]
    out = harness.executor.read(d, paths)
    assert set(out) == set(paths)
    for p in paths:
        assert out[p].path == p
        assert out[p].device_path == p
    assert out["Device.DeviceInfo.SerialNumber"].value == d.serial
    assert out["Device.DeviceInfo.SoftwareVersion"].value == d.firmware
    assert isinstance(out[CH.format(r=1)].value, int)
    assert out[CH.format(r=1)].writable is True
    assert out["Device.DeviceInfo.SoftwareVersion"].writable is False


def test_read_partial_path_returns_the_subtree(harness: Harness) -> None:
    out = harness.executor.read(harness.tr181_device, ["Device.WiFi.Radio.1."])
    assert CH.format(r=1) in out and "Device.WiFi.Radio.1.PossibleChannels" in out
    assert all(p.startswith("Device.WiFi.Radio.1.") for p in out)
    assert len(out) >= 8


def test_secrets_read_back_empty(harness: Harness) -> None:
    for d in (harness.tr181_device, harness.tr098_device):
        out = harness.executor.read(d, ["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"])
        assert out["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"].value == ""


def test_unknown_path_is_invalid_parameter_name(harness: Harness) -> None:
    bad = "Device.WiFi.Radio.1.NoSuchThing"
    with pytest.raises(InvalidParameterName) as err:
        harness.executor.read(harness.tr181_device, [CH.format(r=1), bad])
    assert err.value.code == 9005
    assert bad in err.value.per_parameter and err.value.per_parameter[bad][0] == 9005
    assert bad in str(err.value)
    with pytest.raises(InvalidParameterName):
        harness.executor.read(harness.tr181_device, ["Device.NoSuchObject."])


def test_unknown_device(harness: Harness) -> None:
    ghost = harness.tr181_device.model_copy(update={"id": "000000-GHOST-0000"})
    with pytest.raises(UnknownDevice):
        harness.executor.read(ghost, ["Device.DeviceInfo.SoftwareVersion"])


def test_tr098_read_speaks_tr181(harness: Harness) -> None:
    d = harness.tr098_device
    out = harness.executor.read(d, ["Device.WiFi.Radio.", "Device.DeviceInfo.SoftwareVersion"])
    assert all(p.startswith("Device.") for p in out)
    assert all(v.device_path.startswith("InternetGatewayDevice.") for v in out.values())
    assert out["Device.DeviceInfo.SoftwareVersion"].device_path == "InternetGatewayDevice.DeviceInfo.SoftwareVersion"
    assert CH.format(r=2) in out


# --------------------------------------------------------------------------- presence & discovery


def test_presence_online(harness: Harness) -> None:
    p = harness.executor.presence(harness.tr181_device)
    assert p.device_id == harness.tr181_device.id
    assert p.online and p.reachable


def test_presence_offline_and_calls_raise(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "offline")
    p = harness.executor.presence(d)
    assert not p.online and not p.reachable
    with pytest.raises(DeviceOffline) as err:
        harness.executor.read(d, ["Device.DeviceInfo.UpTime"])
    assert err.value.retryable
    with pytest.raises(DeviceOffline):
        _apply(harness, d, [Change(path=SSID1, value="x-offline")])
    with pytest.raises(DeviceOffline):
        _operate(harness, d, "reboot")
    harness.clear(d)
    assert harness.executor.presence(d).online


def test_presence_unreachable_waits_for_inform(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "unreachable")
    p = harness.executor.presence(d)
    assert p.online and not p.reachable
    with pytest.raises(DeviceOffline, match="next inform"):
        harness.executor.read(d, ["Device.DeviceInfo.UpTime"])
    harness.clear(d, "unreachable")
    assert harness.executor.presence(d).reachable


def test_presence_of_many_devices_is_each_ones_presence(harness: Harness) -> None:
    """``presence_many`` (a fleet's presence sample asks it once per adapter) answers as
    :meth:`presence` does, device by device, through the read-only facade too; a device whose
    presence cannot be learned (:meth:`presence` raises) is left out."""
    d, old = harness.tr181_device, harness.tr098_device
    ghost = d.model_copy(update={"id": f"{d.id}-no-such-device"})
    harness.inject(d, "unreachable")
    try:
        many = harness.executor.presence_many([d, old, ghost])
        facade = harness.executor.reader().presence_many([d, old, ghost])
        for device in (d, old, ghost):
            try:
                one = harness.executor.presence(device)
            except ExecutorError:
                assert device.id not in many and device.id not in facade
                continue
            for got in (many[device.id], facade[device.id]):
                assert (got.device_id, got.online, got.reachable) == (one.device_id, one.online, one.reachable)
        assert {d.id, old.id} <= set(many)
    finally:
        harness.clear(d)


def test_discover_tr181(harness: Harness) -> None:
    disc = harness.executor.discover(harness.tr181_device)
    assert disc.root == "Device."
    assert disc.data_model_version
    assert "Device.WiFi.Radio.{i}." in disc.supported_objects
    assert disc.firmware == harness.tr181_device.firmware


def test_discover_tr098_instance_map(harness: Harness) -> None:
    disc = harness.executor.discover(harness.tr098_device)
    assert disc.root == "InternetGatewayDevice."
    imap = InstanceMap.model_validate(disc.instance_map)
    r5 = next(r for r, band in imap.radio_bands.items() if band == "5GHz")
    assert len(imap.radios[r5]) >= 2, "the TR-098 test device must share its 5 GHz radio between WLANs"
    assert imap.wan is not None
    assert all(p.startswith("Device.") for p in disc.supported_objects)


# --------------------------------------------------------------------------- atomic apply


def test_apply_then_read_back(harness: Harness) -> None:
    d = harness.tr181_device
    r = _radio(harness, d, "5GHz")
    ch = _other_channel(harness, d, r, 36, 40, 44)
    res = _apply(harness, d, [Change(path=CH.format(r=r), value=ch), Change(path=SSID1, value="Contract Home")])
    assert res.status == 0 and not res.idempotent_skip
    assert set(res.applied) == {CH.format(r=r), SSID1}
    assert _read(harness, d, CH.format(r=r)) == ch
    assert _read(harness, d, SSID1) == "Contract Home"


def test_string_values_are_coerced(harness: Harness) -> None:
    d = harness.tr181_device
    r = _radio(harness, d, "5GHz")
    ch = _other_channel(harness, d, r, 36, 40, 44)
    _apply(
        harness,
        d,
        [
            Change(path=CH.format(r=r), value=str(ch)),
            Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value="false"),
        ],
    )
    assert _read(harness, d, CH.format(r=r)) == ch
    assert _read(harness, d, f"Device.WiFi.Radio.{r}.AutoChannelEnable") is False


def test_one_bad_value_changes_nothing(harness: Harness) -> None:
    d = harness.tr181_device
    before = harness.executor.read(d, [CH.format(r=1), SSID1])
    bad = CH.format(r=1)
    changes = [Change(path=SSID1, value="Should Not Land"), Change(path=bad, value=999)]
    with pytest.raises(InvalidValue) as err:
        _apply(harness, d, changes)
    assert err.value.code == 9007
    assert set(err.value.per_parameter) == {bad}
    assert err.value.per_parameter[bad][0] == 9007
    after = harness.executor.read(d, [CH.format(r=1), SSID1])
    assert {k: v.value for k, v in after.items()} == {k: v.value for k, v in before.items()}


def test_wrong_type_is_9006(harness: Harness) -> None:
    with pytest.raises(Fault) as err:
        _apply(harness, harness.tr181_device, [Change(path=CH.format(r=1), value="six")])
    assert err.value.code == 9006
    assert err.value.per_parameter[CH.format(r=1)][0] == 9006


def test_read_only_is_not_writable(harness: Harness) -> None:
    path = "Device.DeviceInfo.SoftwareVersion"
    with pytest.raises(NotWritable) as err:
        _apply(harness, harness.tr181_device, [Change(path=path, value="hacked")])
    assert err.value.code == 9008 and err.value.per_parameter[path][0] == 9008


def test_unknown_parameter_on_set(harness: Harness) -> None:
    path = "Device.WiFi.Radio.9.Channel"
    with pytest.raises(InvalidParameterName) as err:
        _apply(harness, harness.tr181_device, [Change(path=path, value=6)])
    assert err.value.code == 9005 and err.value.per_parameter[path][0] == 9005


def test_mixed_failures_are_9003_with_every_cause(harness: Harness) -> None:
    ro, bad = "Device.DeviceInfo.SoftwareVersion", CH.format(r=1)
    with pytest.raises(Fault) as err:
        _apply(harness, harness.tr181_device, [Change(path=ro, value="x"), Change(path=bad, value=999)])
    assert err.value.code == 9003
    assert err.value.per_parameter[ro][0] == 9008 and err.value.per_parameter[bad][0] == 9007


def test_device_enumeration_is_enforced(harness: Harness) -> None:
    """The value must be one the device supports (PossibleChannels), not just in the TR-181 range."""
    d = harness.tr181_device
    r = _radio(harness, d, "2.4GHz")
    with pytest.raises(InvalidValue):
        _apply(harness, d, [Change(path=CH.format(r=r), value=14 if d.region == "GB" else 200)])


# --------------------------------------------------------------------------- idempotency


def test_idempotency_key(harness: Harness) -> None:
    d = harness.tr181_device
    r = _radio(harness, d, "5GHz")
    ch = _other_channel(harness, d, r, 36, 40, 44)
    changes = [Change(path=CH.format(r=r), value=ch)]
    first = _apply(harness, d, changes, key="p-idem-1")
    assert not first.idempotent_skip
    assert _read(harness, d, "Device.ManagementServer.ParameterKey") == "p-idem-1"
    # A write would now fault; an idempotent skip never reaches the device's Set.
    harness.inject(d, "fault_on_set", code=9002)
    again = _apply(harness, d, changes, key="p-idem-1")
    assert again.idempotent_skip and again.key == "p-idem-1"
    with pytest.raises(Fault) as err:  # a new key is a new Set
        _apply(harness, d, changes, key="p-idem-2")
    assert err.value.code == 9002
    assert _read(harness, d, "Device.ManagementServer.ParameterKey") == "p-idem-1"


def test_parameter_key_not_stored_on_failure(harness: Harness) -> None:
    d = harness.tr181_device
    with pytest.raises(InvalidValue):
        _apply(harness, d, [Change(path=CH.format(r=1), value=999)], key="p-fails")
    assert _read(harness, d, "Device.ManagementServer.ParameterKey") != "p-fails"


# --------------------------------------------------------------------------- TR-098 translation


def test_tr098_radio_setting_round_trip(harness: Harness) -> None:
    d = harness.tr098_device
    r = _radio(harness, d, "5GHz")
    ch = _other_channel(harness, d, r, 52, 44, 40)
    res = _apply(harness, d, [Change(path=CH.format(r=r), value=ch)], key="p-tr098")
    assert res.applied == [CH.format(r=r)]
    out = harness.executor.read(d, [CH.format(r=r)])[CH.format(r=r)]
    assert out.value == ch and out.path == CH.format(r=r)
    assert out.device_path.startswith("InternetGatewayDevice.LANDevice.")
    if harness.native is None:
        pytest.skip("harness cannot see the device's native tree")
    imap = InstanceMap.model_validate(harness.executor.discover(d).instance_map)
    native = harness.native(d)
    for lan, wlan in imap.radios[r]:
        assert native[f"InternetGatewayDevice.LANDevice.{lan}.WLANConfiguration.{wlan}.Channel"] == ch
    assert native["InternetGatewayDevice.ManagementServer.ParameterKey"] == "p-tr098"


def test_tr098_untranslatable_is_9005_with_reason(harness: Harness) -> None:
    d = harness.tr098_device
    path = "Device.WiFi.Radio.1.IEEE80211hEnabled"
    with pytest.raises(InvalidParameterName) as err:
        _apply(harness, d, [Change(path=path, value=True)])
    assert "TR-098" in err.value.per_parameter[path][1]


def test_tr098_read_only_translation_is_9008(harness: Harness) -> None:
    d = harness.tr098_device
    path = "Device.WiFi.Radio.1.OperatingStandards"
    assert harness.executor.read(d, [path])[path].writable is False
    with pytest.raises(NotWritable) as err:
        _apply(harness, d, [Change(path=path, value="n")])
    assert "TR-098" in err.value.per_parameter[path][1]


def test_tr098_dns_row_is_a_list_item(harness: Harness) -> None:
    d = harness.tr098_device
    path = "Device.DNS.Client.Server.2.DNSServer"
    _apply(harness, d, [Change(path=path, value="9.9.9.9")])
    assert _read(harness, d, path) == "9.9.9.9"
    assert _read(harness, d, "Device.DNS.Client.Server.1.DNSServer") != "9.9.9.9"


def test_an_empty_table_reads_as_no_rows_not_an_unknown_name(harness: Harness) -> None:
    """A table the device has with no rows (a TR-098 firmware that lost its WAN DNS servers, a
    TR-181 one with none configured) answers a read of its object path with nothing, as a CWMP
    GetParameterValues of an existing object with no instances does — never fault 9005, which made
    every lifecycle read of an "only if no DNS server is set" change fail on TR-098 (issue 55, 1).
    A table the device does not have at all is still 9005."""
    twin = harness.extras["twin"]
    for d in (harness.tr098_device, harness.tr181_device):
        native = twin.params(d.id)
        if d.root is Root.IGD:
            emptied: dict[str, Any] = {k: "" for k in native if k.endswith(".DNSServers") and "WANDevice" in k}
        else:
            emptied = {k.rsplit(".", 2)[0] + ".": None for k in native if k.startswith("Device.DNS.Client.Server.")}
            emptied["Device.DNS.Client.ServerNumberOfEntries"] = 0
        assert emptied, f"{d.id} has no DNS servers to empty"
        twin.device_change(d.id, emptied)
        if (rig := harness.extras.get("rig")) is not None:  # a USP agent hears of its own change
            rig.run_agents(rig.host.sync(d.id))
            rig.settle(d)
        out = harness.executor.read(d, ["Device.DNS.Client.Server.", "Device.DNS.Client.ServerNumberOfEntries"])
        assert not any(p.startswith("Device.DNS.Client.Server.") for p in out), out
        assert out["Device.DNS.Client.ServerNumberOfEntries"].value == 0
        with pytest.raises(InvalidParameterName):
            harness.executor.read(d, ["Device.DNS.Client.NoSuchTable."])


# --------------------------------------------------------------------------- operations


def test_reboot(harness: Harness) -> None:
    d = harness.tr181_device
    res = _operate(harness, d, "reboot")
    assert res.status == "done" and res.command == "reboot"
    uptime = _read(harness, d, "Device.DeviceInfo.UpTime")
    assert isinstance(uptime, int) and uptime < 60
    assert harness.executor.presence(d).online


def test_reboot_is_confirmed_on_a_device_that_shipped_without_boot_notifications(harness: Harness) -> None:
    """Issue 37 item 2: a USP agent added by hand while connected had no Boot! subscription, so a
    governed reboot ended "no Boot! within 40 s" while the agent was back in a second. The adapter
    makes sure the device will say it is back before it reboots it (``forget_subscriptions``: the
    harness empties the device's notification plumbing; adapters without any skip that step)."""
    d = harness.tr181_device
    forget = harness.extras.get("forget_subscriptions")
    if forget is not None:
        forget(d)
    res = _operate(harness, d, "reboot")
    assert res.status == "done", res.output
    assert harness.executor.presence(d).online


def test_a_refused_command_is_a_typed_fault_and_the_device_does_nothing(harness: Harness) -> None:
    """Issue 37 item 7: a device that answers a command with an error (a USP agent's Error to
    ``Reboot()``, a CPE's fault) did nothing; the adapter says so with a typed fault, so the lifecycle
    can tell a refusal from a reboot in progress."""
    d = harness.tr181_device
    up = _read(harness, d, "Device.DeviceInfo.UpTime")
    harness.inject(d, "command_refused", command="reboot", message="permission denied")
    try:
        with pytest.raises(Fault) as err:
            _operate(harness, d, "reboot")
        assert "permission denied" in err.value.message
    finally:
        harness.clear(d, "command_refused")
    after = _read(harness, d, "Device.DeviceInfo.UpTime")
    assert isinstance(up, int) and isinstance(after, int) and after >= up  # it did not restart
    assert harness.executor.presence(d).online


# --------------------------------------------------------------------------- firmware (issue 37 item 6)
# What the real peers did is in tests/genieacs/test_firmware.py and tests/usp/test_firmware.py:
# GenieACS answers a download at the CPE's DownloadResponse and learns the outcome from its later
# TransferComplete; genieacs-sim reports the transfer complete and keeps its version
# (``download_not_installed`` here); OB-USP-Agent has no FirmwareImage table at all.
FW_VERSION = "9.9.9-contract"
FW_URL = f"https://firmware.gateward.example/contract/{FW_VERSION}.bin"


def _publish_firmware(h: Harness) -> None:
    publish = h.extras.get("publish_firmware")
    if publish is not None:  # an ACS serves only an image it has (GenieACS: PUT /files/<name>)
        publish(f"{FW_VERSION}.bin", FW_VERSION)


def test_a_firmware_download_completes_and_the_new_version_is_read_back(harness: Harness) -> None:
    d = harness.tr181_device
    _publish_firmware(harness)
    res = _operate(harness, d, "download", url=FW_URL, version=FW_VERSION)
    assert res.status == "done", res.output
    assert _read(harness, d, "Device.DeviceInfo.SoftwareVersion") == FW_VERSION
    assert harness.executor.presence(d).online


def test_a_transfer_reported_complete_without_the_new_version_is_not_claimed_installed(harness: Harness) -> None:
    """genieacs-sim's Download: the image is fetched and the transfer reported complete, but the
    device neither reboots nor changes SoftwareVersion. No adapter may report the new version; the
    lifecycle's verify (SoftwareVersion against the proposal's) then fails the change."""
    d = harness.tr181_device
    old = _read(harness, d, "Device.DeviceInfo.SoftwareVersion")
    _publish_firmware(harness)
    harness.inject(d, "download_not_installed")
    try:
        res = _operate(harness, d, "download", url=FW_URL, version=FW_VERSION)
    finally:
        harness.clear(d, "download_not_installed")
    assert res.status in ("done", "pending"), res.output  # pending: a USP agent whose Boot! never came
    assert res.output.get("firmware", old) == old and res.output.get("installed") is not True
    assert _read(harness, d, "Device.DeviceInfo.SoftwareVersion") == old


def test_a_failed_transfer_is_a_typed_fault_and_the_old_image_stays(harness: Harness) -> None:
    d = harness.tr181_device
    old = _read(harness, d, "Device.DeviceInfo.SoftwareVersion")
    _publish_firmware(harness)
    harness.inject(d, "download_fails", code=9010, message="image signature invalid")
    try:
        with pytest.raises(Fault) as err:
            _operate(harness, d, "download", url=FW_URL, version=FW_VERSION)
    finally:
        harness.clear(d, "download_fails")
    assert err.value.code == 9010 and "image signature invalid" in err.value.message
    assert _read(harness, d, "Device.DeviceInfo.SoftwareVersion") == old


def test_ipping(harness: Harness) -> None:
    d = harness.tr181_device
    res = _operate(harness, d, "ipping", host="192.0.2.10", repetitions=3)
    assert res.status == "done"
    assert res.output["SuccessCount"] + res.output["FailureCount"] == 3
    assert res.output["AverageResponseTime"] > 0
    assert _read(harness, d, "Device.IP.Diagnostics.IPPing.DiagnosticsState") == "Complete"


def test_unsupported_command(harness: Harness) -> None:
    with pytest.raises(Fault):
        _operate(harness, harness.tr181_device, "self_destruct")


# --------------------------------------------------------------------------- slow devices


def test_slow_device_times_out(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "slow", delay_s=2.0)
    impatient = harness.make_slow_executor(0.05)
    with pytest.raises(Timeout) as err:  # waiting out the 2 s would have been an answer
        impatient.read(d, ["Device.DeviceInfo.UpTime"])
    assert err.value.retryable
    harness.clear(d)


def test_slow_device_within_timeout_answers(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "slow", delay_s=0.05)
    patient = harness.make_slow_executor(2.0)
    assert patient.read(d, ["Device.DeviceInfo.UpTime"])
    harness.clear(d)


# --------------------------------------------------------------------------- write grants


def test_write_without_grant_is_refused(harness: Harness) -> None:
    d = harness.tr181_device
    before = _read(harness, d, SSID1)
    with pytest.raises(WriteRefused):
        harness.executor.apply(d, [Change(path=SSID1, value="no grant")], "k")
    with pytest.raises(WriteRefused):
        harness.executor.operate(d, "reboot", {})
    assert _read(harness, d, SSID1) == before


def test_forged_grant_is_refused(harness: Harness) -> None:
    d = harness.tr181_device
    forged = WriteGrant(
        proposal_id="p-x",
        proposal_hash="0" * 64,
        device_id=d.id,
        purpose="apply",
        paths=frozenset({SSID1}),
        nonce="deadbeef",
        mac="00" * 32,
    )
    with pytest.raises(WriteRefused):
        harness.executor.apply(d, [Change(path=SSID1, value="forged")], "k", forged)
    with harness.grant(d, paths=[SSID1]) as real:
        widened = dataclasses.replace(real, paths=frozenset({SSID1, CH.format(r=1)}))
        with pytest.raises(WriteRefused):
            harness.executor.apply(d, [Change(path=CH.format(r=1), value=1)], "k", widened)


def test_grant_for_another_device_or_path_is_refused(harness: Harness) -> None:
    d, other = harness.tr181_device, harness.tr098_device
    with harness.grant(other, paths=[SSID1]) as g, pytest.raises(WriteRefused):
        harness.executor.apply(d, [Change(path=SSID1, value="wrong device")], "k", g)
    with harness.grant(d, paths=[SSID1]) as g, pytest.raises(WriteRefused):
        harness.executor.apply(d, [Change(path=CH.format(r=1), value=1)], "k", g)
    with harness.grant(d, commands=["ipping"], purpose="operate") as g, pytest.raises(WriteRefused):
        harness.executor.operate(d, "factory_reset", {}, g)


def test_revoked_grant_is_refused(harness: Harness) -> None:
    d = harness.tr181_device
    with harness.grant(d, paths=[SSID1]) as g:
        pass
    with pytest.raises(WriteRefused):
        harness.executor.apply(d, [Change(path=SSID1, value="too late")], "k", g)


def test_read_only_facade_has_no_write_path(harness: Harness) -> None:
    reader = harness.executor.reader()
    assert not hasattr(reader, "apply") and not hasattr(reader, "operate")
    assert reader.read(harness.tr181_device, [SSID1])


# --------------------------------------------------------------------------- injected faults


def test_not_sticky_shows_on_read_back(harness: Harness) -> None:
    d = harness.tr181_device
    before = _read(harness, d, SSID1)
    harness.inject(d, "not_sticky", path=SSID1)
    res = _apply(harness, d, [Change(path=SSID1, value="Will Revert")])
    assert res.status == 0 and SSID1 in res.applied
    assert _read(harness, d, SSID1) == before


def test_reboot_required_is_status_1(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "reboot_required")
    res = _apply(harness, d, [Change(path=SSID1, value="After Reboot")])
    assert res.status == 1


def test_fault_on_set_changes_nothing(harness: Harness) -> None:
    d = harness.tr181_device
    before = _read(harness, d, SSID1)
    harness.inject(d, "fault_on_set", code=9002)
    with pytest.raises(Fault) as err:
        _apply(harness, d, [Change(path=SSID1, value="Nope")])
    assert err.value.code == 9002
    assert _read(harness, d, SSID1) == before


def test_a_set_the_device_took_before_going_away_is_an_unknown_outcome(harness: Harness) -> None:
    """A device that takes a Set and goes away before its answer arrives (``goodbye_on_set``: an
    OB-USP-Agent told to change its controller or MQTT settings) raises :class:`Timeout` — the
    outcome is unknown, so the lifecycle rolls back — never an error saying nothing was sent."""
    d = harness.tr181_device
    harness.inject(d, "goodbye_on_set", answer=False)
    try:
        with pytest.raises(Timeout) as err:
            _apply(harness, d, [Change(path=SSID1, value="Gone-After-Set")])
        assert not err.value.nothing_sent and err.value.retryable
        if harness.native is not None:  # it did land
            assert "Gone-After-Set" in harness.native(d).values()
    finally:
        harness.clear(d)
    assert harness.executor.presence(d).online


def test_reject_value(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "reject_value", path=SSID1)
    with pytest.raises(InvalidValue) as err:
        _apply(harness, d, [Change(path=SSID1, value="Rejected")])
    assert err.value.per_parameter[SSID1][0] == 9007


def test_fail_after_n_sets(harness: Harness) -> None:
    d = harness.tr181_device
    harness.inject(d, "fail_after_n_sets", n=1)
    _apply(harness, d, [Change(path=SSID1, value="First")], key="k-n1")
    with pytest.raises(Fault):
        _apply(harness, d, [Change(path=SSID1, value="Second")], key="k-n2")
    assert _read(harness, d, SSID1) == "First"
    harness.clear(d, "fail_after_n_sets")
    _apply(harness, d, [Change(path=SSID1, value="Third")], key="k-n3")


# --------------------------------------------------------------------------- USP devices


def test_usp_device(harness: Harness) -> None:
    if not harness.usp_capable or harness.usp_device is None:
        pytest.skip(f"{harness.name} does not manage USP devices")
    d = harness.usp_device
    assert harness.executor.discover(d).root == "Device."
    _apply(harness, d, [Change(path=SSID1, value="USP Home")], key="p-usp")
    assert _read(harness, d, SSID1) == "USP Home"
    res = _operate(harness, d, "ipping", host="192.0.2.20", repetitions=2)
    assert res.output["SuccessCount"] + res.output["FailureCount"] == 2


def test_an_unsupported_command_is_fault_9000_naming_the_supported_ones(harness: Harness) -> None:
    d = harness.tr181_device
    with pytest.raises(Fault) as err:
        _operate(harness, d, "self_destruct")
    assert err.value.code == 9000 and not err.value.retryable
    assert "'self_destruct'" in err.value.message and "reboot" in err.value.message
