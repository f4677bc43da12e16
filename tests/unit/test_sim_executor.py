"""SimExecutor behaviour beyond the shared contract: firmware quirks, commands, diagnostics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.models import Change, Device
from executors.base import DeviceOffline, Fault, InvalidParameterName, InvalidValue
from executors.sim.executor import SimExecutor
from executors.sim.twin import Twin
from testing.grants import grant

WAN_DNS = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.DNSServers"


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


@pytest.fixture
def ex(twin: Twin) -> SimExecutor:
    return SimExecutor(twin)


def apply(ex: SimExecutor, d: Device, changes: dict[str, Any], key: str = "k1") -> Any:
    cs = [Change(path=p, value=v) for p, v in changes.items()]
    with grant(ex, d, paths=[c.path for c in cs]) as g:
        return ex.apply(d, cs, key, g)


def operate(ex: SimExecutor, d: Device, command: str, **args: Any) -> Any:
    with grant(ex, d, commands=[command]) as g:
        return ex.operate(d, command, args, g)


def value(ex: SimExecutor, d: Device, path: str) -> Any:
    return ex.read(d, [path])[path].value


# ----------------------------------------------------------------------------- the DNS firmware bug


def test_buggy_firmware_drops_dns_after_reboot_and_the_fix_is_firmware(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("sinotel-hg8020-s105", "4857544300000001", region="DE")
    assert value(ex, d, "Device.DNS.Client.Server.1.DNSServer") == "192.0.2.53"
    operate(ex, d, "reboot")
    dns = ex.read(d, ["Device.DNS.Client."])
    assert not any(p.startswith("Device.DNS.Client.Server.") for p in dns)
    assert dns["Device.DNS.Client.ServerNumberOfEntries"].value == 0
    assert twin.params(d.id)[WAN_DNS] == ""
    assert [e.kind for e in twin.events(d.id)][-2:] == ["boot", "dns_lost"]
    # Without DNS a host name cannot be resolved; an address still answers.
    by_name = operate(ex, d, "ipping", host="example.com", repetitions=2)
    assert by_name.status == "failed" and by_name.output["DiagnosticsState"] == "Error_CannotResolveHostName"
    assert operate(ex, d, "ipping", host="9.9.9.9", repetitions=2).status == "done"
    # Remediation through TR-181: row 1 becomes item 1 of the TR-098 list.
    apply(ex, d, {"Device.DNS.Client.Server.1.DNSServer": "192.0.2.53"}, key="p-dns")
    assert value(ex, d, "Device.DNS.Client.Server.1.DNSServer") == "192.0.2.53"
    # The fixed firmware keeps (re-learns) its servers across reboots.
    res = operate(ex, d, "download", url="https://fw.example/sinotel/V3R017C10S120.bin", version="V3R017C10S120")
    assert res.output["model_key"] == "sinotel-hg8020-s120"
    operate(ex, d, "reboot")
    assert value(ex, d, "Device.DNS.Client.Server.1.DNSServer") == "192.0.2.53"
    assert ex.discover(d).firmware == "V3R017C10S120"
    assert twin.device(d.id).firmware == "V3R017C10S120"


def test_upgrade_switches_the_data_model(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("vantec-cgw3400-7.2", "VT00000001", region="DE")
    with pytest.raises(InvalidValue):  # 7.2 has no "auto" transmit power
        apply(ex, d, {"Device.WiFi.Radio.1.TransmitPower": -1})
    operate(ex, d, "download", url="https://fw.example/vantec/7.4.1-beta3.img", version="7.4.1-beta3")
    apply(ex, d, {"Device.WiFi.Radio.1.TransmitPower": -1}, key="p-tx")
    assert value(ex, d, "Device.WiFi.Radio.1.TransmitPower") == -1
    assert value(ex, d, "Device.DeviceInfo.SoftwareVersion") == "7.4.1-beta3"
    kinds = [e.kind for e in twin.events(d.id)]
    assert kinds[kinds.index("transfer_complete") + 1] == "boot"


def test_unknown_firmware_only_changes_the_version(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000001")
    res = operate(ex, d, "download", url="https://fw.example/lumenet/3.3.0-0101.bin")
    assert res.output["firmware"] == "3.3.0-0101" and res.output["model_key"] == "lumenet-g240w-3.2"
    assert value(ex, d, "Device.DeviceInfo.SoftwareVersion") == "3.3.0-0101"


def test_download_failure_modes(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000002")
    twin.inject(d.id, "download_fails", code=9018)
    with pytest.raises(Fault) as err:
        operate(ex, d, "download", url="https://fw.example/x/4.0.bin", version="4.0")
    assert err.value.code == 9018
    assert value(ex, d, "Device.DeviceInfo.SoftwareVersion") == "3.2.1-1412"
    assert twin.events(d.id, kinds=["transfer_complete"])[-1].data["fault_code"] == 9018
    twin.clear(d.id)
    twin.inject(d.id, "download_bricks")
    operate(ex, d, "download", url="https://fw.example/x/4.0.bin", version="4.0")
    assert not ex.presence(d).online
    with pytest.raises(DeviceOffline):
        value(ex, d, "Device.DeviceInfo.SoftwareVersion")
    with pytest.raises(Fault):
        operate(ex, twin.add_device("lumenet-g240w-3.2", "LMNT00000003"), "download")  # no url


def test_reboot_hangs(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("arcwave-aw1200-2.1", "AW1200000001", region="GB")
    twin.inject(d.id, "reboot_hangs")
    res = operate(ex, d, "reboot")
    assert res.output["online"] is False
    assert not ex.presence(d).online


# ----------------------------------------------------------------------------- factory reset


def test_factory_reset_restores_label_defaults_but_keeps_the_acs(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000010", region="DE")
    label_ssid = value(ex, d, "Device.WiFi.SSID.1.SSID")
    apply(
        ex,
        d,
        {
            "Device.WiFi.SSID.1.SSID": "Custom",
            "Device.ManagementServer.URL": "https://acs2.example/cwmp",
            "Device.ManagementServer.PeriodicInformInterval": 600,
        },
        key="p-cust",
    )
    operate(ex, d, "factory_reset")
    assert value(ex, d, "Device.WiFi.SSID.1.SSID") == label_ssid
    assert value(ex, d, "Device.ManagementServer.URL") == "https://acs2.example/cwmp"
    assert value(ex, d, "Device.ManagementServer.PeriodicInformInterval") == 3600
    assert value(ex, d, "Device.ManagementServer.ParameterKey") == ""
    last = twin.events(d.id)[-1]
    assert last.kind == "bootstrap" and last.data["events"][0] == "0 BOOTSTRAP"


# ----------------------------------------------------------------------------- diagnostics


def test_ipping_is_deterministic_and_worse_on_a_degraded_upstream(twin: Twin, ex: SimExecutor) -> None:
    good = twin.add_device("lumenet-g240w-3.2", "LMNT00000020", upstream_id="pon-a")
    bad = twin.add_device("lumenet-g240w-3.2", "LMNT00000021", upstream_id="pon-b")
    twin.set_upstream("pon-b", degraded=True, latency_ms=300, loss_pct=40)
    a1 = operate(ex, good, "ipping", host="192.0.2.1", repetitions=20).output
    a2 = operate(ex, good, "ipping", host="192.0.2.1", repetitions=20).output
    b = operate(ex, bad, "ipping", host="192.0.2.1", repetitions=20).output
    assert a1 == a2
    assert a1["FailureCount"] == 0 and b["FailureCount"] > 0
    assert b["AverageResponseTime"] > 5 * a1["AverageResponseTime"]
    assert twin.events(good.id)[-1].kind == "diagnostics_complete"


def test_cwmp_style_diagnostics_via_set(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000022")
    apply(
        ex,
        d,
        {
            "Device.IP.Diagnostics.IPPing.Host": "192.0.2.7",
            "Device.IP.Diagnostics.IPPing.NumberOfRepetitions": 5,
            "Device.IP.Diagnostics.IPPing.DiagnosticsState": "Requested",
        },
        key="p-ping",
    )
    out = ex.read(d, ["Device.IP.Diagnostics.IPPing."])
    assert out["Device.IP.Diagnostics.IPPing.DiagnosticsState"].value == "Complete"
    assert out["Device.IP.Diagnostics.IPPing.SuccessCount"].value == 5
    with pytest.raises(InvalidValue, match="reported but not set"):
        apply(ex, d, {"Device.IP.Diagnostics.IPPing.DiagnosticsState": "Complete"}, key="p-x")


def test_tr098_ipping_fills_ippingdiagnostics(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("arcwave-aw1200-2.1", "AW1200000002", region="GB")
    operate(ex, d, "ipping", host="192.0.2.9", repetitions=4)
    params = twin.params(d.id)
    assert params["InternetGatewayDevice.IPPingDiagnostics.DiagnosticsState"] == "Complete"
    assert params["InternetGatewayDevice.IPPingDiagnostics.SuccessCount"] == 4
    assert value(ex, d, "Device.IP.Diagnostics.IPPing.SuccessCount") == 4


def test_usp_ipping_is_a_command_without_parameters(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("prplnet-px7000-1.3", "PX7K00000001")
    out = operate(ex, d, "ipping", host="192.0.2.9", repetitions=2)
    assert out.output["SuccessCount"] == 2
    with pytest.raises(InvalidParameterName):
        ex.read(d, ["Device.IP.Diagnostics.IPPing.Host"])
    with pytest.raises(InvalidParameterName):
        ex.read(d, ["Device.ManagementServer.URL"])
    assert value(ex, d, "Device.LocalAgent.EndpointID").startswith("os::")


def test_ipping_argument_checks(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000023")
    with pytest.raises(InvalidValue):
        operate(ex, d, "ipping", host="192.0.2.1", repetitions=0)
    with pytest.raises(InvalidValue):
        operate(ex, d, "ipping", host="192.0.2.1", repetitions="many")


# ----------------------------------------------------------------------------- firmware-specific values


def test_tr098_vendor_bandwidth_and_its_absence(twin: Twin, ex: SimExecutor) -> None:
    sinotel = twin.add_device("sinotel-hg8020-s120", "4857544300000002")
    apply(ex, sinotel, {"Device.WiFi.Radio.2.OperatingChannelBandwidth": "40MHz"})
    params = twin.params(sinotel.id)
    for j in (5, 6):
        assert params[f"InternetGatewayDevice.LANDevice.1.WLANConfiguration.{j}.X_SINOTEL_ChannelBandwidth"] == "40MHz"
    arc = twin.add_device("arcwave-aw1200-2.1", "AW1200000003", region="GB")
    with pytest.raises(InvalidParameterName) as err:
        apply(ex, arc, {"Device.WiFi.Radio.2.OperatingChannelBandwidth": "40MHz"})
    assert "no TR-098 standard parameter" in str(err.value)
    with pytest.raises(InvalidParameterName, match="-1"):
        apply(ex, sinotel, {"Device.WiFi.Radio.1.TransmitPower": -1})
    apply(ex, sinotel, {"Device.WiFi.Radio.1.TransmitPower": 60}, key="k2")
    with pytest.raises(InvalidValue):  # not in this firmware's TransmitPowerSupported
        apply(ex, sinotel, {"Device.WiFi.Radio.1.TransmitPower": 50}, key="k3")


def test_passphrase_rules_differ_by_firmware_and_are_never_echoed(twin: Twin, ex: SimExecutor) -> None:
    modern = twin.add_device("lumenet-g240w-3.2", "LMNT00000030")
    legacy = twin.add_device("arcwave-aw1200-2.1", "AW1200000004", region="GB")
    path = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
    with pytest.raises(InvalidValue) as err:
        apply(ex, modern, {path: "tiny42"})
    assert "tiny42" not in str(err.value) and "tiny42" not in str(err.value.per_parameter)
    apply(ex, legacy, {path: "tiny42"})  # the red model accepts what TR-181 forbids
    assert value(ex, legacy, path) == ""
    params = twin.params(legacy.id)
    assert params["InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase"] == "tiny42"
    assert params["InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.KeyPassphrase"] == "tiny42"


def test_declared_type_mismatch_is_9006(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000031")
    c = Change(path="Device.WiFi.Radio.1.Channel", value=6, type="boolean")
    with (
        grant(ex, d, paths=[c.path]) as g,
        pytest.raises(InvalidValue) as err,
    ):
        ex.apply(d, [c], "k", g)
    assert err.value.code == 9006


def test_parameter_key_limit(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000032")
    with pytest.raises(Fault) as err:
        apply(ex, d, {"Device.WiFi.SSID.1.SSID": "x"}, key="k" * 33)
    assert err.value.code == 9003


def test_list_values_are_normalised_and_checked(twin: Twin, ex: SimExecutor) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT00000033")
    apply(ex, d, {"Device.WiFi.Radio.2.OperatingStandards": "n, ac"})
    assert value(ex, d, "Device.WiFi.Radio.2.OperatingStandards") == "n,ac"
    with pytest.raises(InvalidValue):
        apply(ex, d, {"Device.WiFi.Radio.2.OperatingStandards": "ac,be"}, key="k2")


def test_warm_reads_answer_what_the_tree_holds(twin: Twin, ex: SimExecutor) -> None:
    """A warm one-parameter read answers from what the device holds, the same as a read of its
    whole tree, and sees a write made in between (how fast it is: ``gateward bench sim_read``)."""
    d = twin.add_device("sinotel-hg8020-s105", "4857544300000003")
    tree = ex.read(d, ["Device.WiFi."])
    path = "Device.WiFi.Radio.2.Channel"
    for _ in range(3):
        assert ex.read(d, [path])[path].value == tree[path].value
    wanted = 44 if tree[path].value != 44 else 48
    apply(ex, d, {"Device.WiFi.Radio.2.AutoChannelEnable": False, path: wanted})
    assert ex.read(d, [path])[path].value == wanted


# ----------------------------------------------------------------------------- contract errors only


class _RacedTwin(Twin):
    """A twin whose every read is followed by a real write from a second process-like twin on the
    same database, so each optimistic commit loses the race (what a busy shared fleet does)."""

    def __init__(self, url: str, rival: Twin) -> None:
        super().__init__(url)
        self.rival = rival
        self.racing = False

    def state(self, device_id: str) -> Any:
        st = super().state(device_id)
        if self.racing:
            self.rival.inform(device_id)
        return st


def test_a_twin_write_conflict_surfaces_as_the_retryable_contract_error(tmp_path: Path) -> None:
    from executors.base import RETRYABLE_ERRORS, Busy, ExecutorError
    from executors.sim.twin import TwinConflict

    url = f"sqlite:///{tmp_path / 'race.db'}"
    rival = Twin(url)
    raced = _RacedTwin(url, rival)
    try:
        d = raced.add_device("sinotel-hg8020-s105", "4857544300000009", region="DE")
        ex = SimExecutor(raced)
        raced.racing = True
        with pytest.raises(ExecutorError) as info:
            apply(ex, d, {"Device.DNS.Client.Server.1.DNSServer": "192.0.2.99"})
        assert isinstance(info.value, Busy) and not isinstance(info.value, TwinConflict)
        assert info.value.retryable and info.value.nothing_sent and type(info.value) in RETRYABLE_ERRORS
        assert isinstance(info.value.__cause__, TwinConflict)
        raced.racing = False
        raced.forget_cache()
        assert value(ex, d, "Device.DNS.Client.Server.1.DNSServer") == "192.0.2.53"  # nothing was committed
    finally:
        raced.close()
        rival.close()
