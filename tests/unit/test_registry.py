"""The data-model registry: the first gate every change passes (``docs/safety.md``, invariant 1)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.kernel.datamodel import generate
from core.kernel.datamodel.registry import (
    RULES,
    DataModelError,
    ParamSpec,
    Registry,
    get_registry,
    pattern_of,
    xsd_regex_to_python,
)
from core.kernel.models import Root

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "datamodels"
DATA = REPO / "core" / "kernel" / "datamodel" / "data"


@pytest.fixture(scope="module")
def reg() -> Registry:
    return get_registry()


@pytest.fixture(scope="module")
def usp() -> Registry:
    return get_registry("Device.", "usp")


@pytest.fixture(scope="module")
def igd() -> Registry:
    return get_registry(Root.IGD)


def err(registry: Registry, path: str, value: object, *, for_write: bool = True) -> DataModelError:
    with pytest.raises(DataModelError) as info:
        registry.validate(path, value, for_write=for_write)
    assert info.value.rule in RULES
    assert info.value.path == path
    return info.value


# ----------------------------------------------------------------------------- loading


def test_registry_identity_and_versions(reg: Registry, usp: Registry, igd: Registry) -> None:
    assert (reg.root, reg.flavour, reg.model_version) == ("Device.", "cwmp", "Device:2.19")
    assert (usp.root, usp.flavour, usp.model_version) == ("Device.", "usp", "Device:2.19")
    assert (igd.root, igd.model_version) == ("InternetGatewayDevice.", "InternetGatewayDevice:1.14")
    assert get_registry(Root.DEVICE, "cwmp") is reg
    assert get_registry("Device", "cwmp") is reg
    assert get_registry("InternetGatewayDevice.", "usp") is igd  # flavour ignored for TR-098
    assert len(reg) > 7000 and len(usp) > 6500 and len(igd) > 1700


def test_unknown_root_or_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown data-model root"):
        get_registry("Foo.")
    with pytest.raises(ValueError, match="unknown flavour"):
        get_registry("Device.", "snmp")


def test_flavours_differ(reg: Registry, usp: Registry) -> None:
    assert reg.find("Device.ManagementServer.URL") is not None
    assert usp.find("Device.ManagementServer.URL") is None
    assert usp.find("Device.LocalAgent.EndpointID") is not None
    # CWMP's trigger parameter is a USP command.
    assert reg.lookup("Device.WiFi.AccessPoint.1.Security.Reset").command_trigger
    assert usp.find("Device.WiFi.AccessPoint.1.Security.Reset") is None
    assert usp.command_spec("Device.WiFi.AccessPoint.3.Security.Reset()") is not None
    assert reg.commands == {} and reg.events == {}


# ----------------------------------------------------------------------------- lookup


def test_lookup_concrete_and_pattern_paths(reg: Registry) -> None:
    concrete = reg.lookup("Device.WiFi.Radio.2.Channel")
    pattern = reg.lookup("Device.WiFi.Radio.{i}.Channel")
    assert concrete is pattern
    assert concrete.path == concrete.pattern_path == "Device.WiFi.Radio.{i}.Channel"
    assert concrete.name == "Channel"
    assert concrete.type == "unsignedInt"
    assert concrete.access == "readWrite" and concrete.writable
    assert concrete.ranges == ((1, 255, None),)
    assert concrete.version == "2.0" and concrete.status == "current"
    # Alias-based addressing and USP wildcards address the same parameter.
    assert reg.lookup("Device.WiFi.Radio.[cpe-radio-5g].Channel") is concrete
    assert reg.lookup("Device.WiFi.Radio.*.Channel") is concrete
    # Deeper tables.
    assert reg.lookup("Device.DNS.Client.Server.12.DNSServer").data_type == "IPAddress"


def test_find_returns_none_and_lookup_raises_for_unknown(reg: Registry) -> None:
    assert reg.find("Device.Foo.Bar") is None
    assert reg.find("Device.WiFi.Radio.0.Channel") is None  # instance numbers start at 1
    assert "Device.WiFi.Radio.7.Channel" in reg and "Device.Nope" not in reg
    with pytest.raises(DataModelError) as info:
        reg.lookup("Device.Foo.Bar")
    assert info.value.rule == "unknown_path"
    assert str(info.value) == "Device.Foo.Bar: unknown parameter (not in TR-181 Device:2.19)"


def test_object_specs(reg: Registry) -> None:
    ssid = reg.object_spec("Device.WiFi.SSID.3.")
    assert ssid is not None and ssid.path == "Device.WiFi.SSID.{i}."
    assert ssid.multi_instance and ssid.writable and ssid.max_entries is None
    assert reg.object_spec("Device.WiFi.SSID.") is ssid  # the table → its row object
    radio = reg.object_spec("Device.WiFi.Radio.1")
    assert radio is not None and radio.multi_instance and not radio.writable  # fixed by hardware
    info = reg.object_spec("Device.DeviceInfo.")
    assert info is not None and not info.multi_instance and info.max_entries == 1
    assert reg.object_spec("Device.Nope.") is None


def test_parameter_facts(reg: Registry) -> None:
    kp = reg.lookup("Device.WiFi.AccessPoint.1.Security.KeyPassphrase")
    assert kp.secured and kp.secret and kp.sizes == ((8, 63),)
    pc = reg.lookup("Device.WiFi.Radio.1.PossibleChannels")
    assert pc.is_list and pc.list_max_length == 1024 and not pc.writable
    bw = reg.lookup("Device.WiFi.Radio.1.OperatingChannelBandwidth")
    assert bw.enum == () and bw.enum_ref == "Device.WiFi.Radio.{i}.SupportedOperatingChannelBandwidths"
    assert reg.allowed_values("Device.WiFi.Radio.1.OperatingChannelBandwidth") is not None
    assert "80MHz" in (reg.allowed_values("Device.WiFi.Radio.1.OperatingChannelBandwidth") or ())
    ds = reg.lookup("Device.IP.Diagnostics.IPPing.DiagnosticsState")
    assert ds.data_type == "DiagnosticsState" and ds.command_trigger
    assert "Complete" in ds.enum_readonly and "Requested" not in ds.enum_readonly
    assert ds.settable_enum == ("Requested", "Canceled")
    assert reg.lookup("Device.WiFi.Radio.1.TransmitPower").units == "percentage"
    assert reg.lookup("Device.WiFi.Radio.1.RegulatoryDomain").patterns == ("[A-Z][A-Z][ OI]",)
    assert reg.lookup("Device.WiFi.Radio.1.MCS").ranges == ((-1, 15, None), (16, 31, None))
    assert reg.lookup("Device.WiFi.SSID.1.Enable").default == "false"
    assert reg.lookup("Device.DeviceInfo.SoftwareVersion").forced_inform
    assert reg.lookup("Device.DNS.Client.Server.1.Interface").ref_targets == ("Device.IP.Interface.",)
    assert reg.lookup("Device.Hosts.Host.1.Alias").status == "deleted"
    assert reg.lookup("Device.WiFi.AccessPoint.1.Security.Reset").writable  # trigger: writable
    assert isinstance(kp, ParamSpec)


def test_parameters_under(reg: Registry) -> None:
    specs = list(reg.parameters_under("Device.WiFi.Radio.2."))
    names = {s.name for s in specs}
    assert {"Channel", "Enable", "OperatingStandards", "TransmitPower"} <= names
    assert all(s.path.startswith("Device.WiFi.Radio.{i}.") for s in specs)
    assert [s.path for s in specs] == sorted(s.path for s in specs)
    live = {s.path for s in reg.parameters_under("Device.Hosts.Host.")}
    everything = {s.path for s in reg.parameters_under("Device.Hosts.Host.", include_deleted=True)}
    assert "Device.Hosts.Host.{i}.Alias" in everything - live


# ----------------------------------------------------------------------------- rules and messages


def test_rule_range(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.Radio.2.Channel", 300)
    assert e.rule == "range"
    assert str(e) == "Device.WiFi.Radio.2.Channel: 300 is outside 1..255"
    e = err(reg, "Device.WiFi.Radio.1.MCS", -2)
    assert str(e) == "Device.WiFi.Radio.1.MCS: -2 is outside -1..15, 16..31"
    # Open upper bound shows the type's implicit bound.
    e = err(reg, "Device.ManagementServer.PeriodicInformInterval", "0")
    assert str(e) == "Device.ManagementServer.PeriodicInformInterval: 0 is outside 1..4294967295"


def test_rule_unknown_path(reg: Registry) -> None:
    e = err(reg, "Device.Foo.Bar", 1)
    assert e.rule == "unknown_path"
    assert str(e) == "Device.Foo.Bar: unknown parameter (not in TR-181 Device:2.19)"
    e = err(reg, "Device.WiFi.Radio.1.", 1)
    assert e.rule == "unknown_path" and "an object, not a parameter" in str(e)
    e = err(reg, "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel", 6)
    assert e.rule == "unknown_path"


def test_rule_not_writable(reg: Registry) -> None:
    e = err(reg, "Device.DeviceInfo.UpTime", 5)
    assert e.rule == "not_writable"
    assert str(e) == "Device.DeviceInfo.UpTime: read-only parameter"
    # A value reported by the device is fine for a read-only parameter.
    assert reg.validate("Device.DeviceInfo.UpTime", "5", for_write=False) == 5


def test_rule_type(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.Radio.1.Channel", "abc")
    assert e.rule == "type"
    assert str(e) == "Device.WiFi.Radio.1.Channel: 'abc' is not an unsignedInt"
    assert str(err(reg, "Device.WiFi.Radio.1.Channel", True)) == \
        "Device.WiFi.Radio.1.Channel: true is not an unsignedInt"
    assert str(err(reg, "Device.WiFi.Radio.1.Channel", 36.5)) == \
        "Device.WiFi.Radio.1.Channel: 36.5 is not an unsignedInt"
    assert str(err(reg, "Device.WiFi.Radio.1.Enable", "yes")) == \
        "Device.WiFi.Radio.1.Enable: 'yes' is not a boolean"
    assert err(reg, "Device.WiFi.Radio.1.Channel", " 36").rule == "type"
    assert err(reg, "Device.WiFi.Radio.1.Channel", None).rule == "type"
    assert err(reg, "Device.WiFi.SSID.1.SSID", ["a"]).rule == "type"


def test_rule_enum(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.Radio.1.OperatingChannelBandwidth", "7MHz")
    assert e.rule == "enum"
    assert str(e).startswith(
        "Device.WiFi.Radio.1.OperatingChannelBandwidth: '7MHz' is not one of 20MHz, 40MHz, ")
    e = err(reg, "Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WPA9-Personal")
    assert e.rule == "enum" and "WPA2-Personal" in str(e)
    assert reg.validate("Device.WiFi.Radio.1.OperatingChannelBandwidth", "80MHz") == "80MHz"
    # TR-106 lets vendors extend an enumeration with X_<VENDOR>_ values.
    assert reg.validate("Device.WiFi.Radio.1.OperatingChannelBandwidth", "X_ACME_Turbo") == "X_ACME_Turbo"


def test_rule_enum_readonly(reg: Registry) -> None:
    e = err(reg, "Device.IP.Diagnostics.IPPing.DiagnosticsState", "Complete")
    assert e.rule == "enum_readonly"
    assert str(e) == ("Device.IP.Diagnostics.IPPing.DiagnosticsState: 'Complete' can be reported but "
                      "not set (settable: Requested, Canceled)")
    assert reg.validate("Device.IP.Diagnostics.IPPing.DiagnosticsState", "Requested") == "Requested"
    # Reported by a device: fine.
    assert reg.validate("Device.IP.Diagnostics.IPPing.DiagnosticsState", "Complete", for_write=False) == \
        "Complete"


def test_rule_length(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "x" * 70)
    assert e.rule == "length"
    assert str(e) == "Device.WiFi.AccessPoint.1.Security.KeyPassphrase: length 70 is outside 8..63"
    assert str(err(reg, "Device.WiFi.SSID.1.SSID", "s" * 33)) == \
        "Device.WiFi.SSID.1.SSID: length 33 is outside 0..32"
    assert str(err(reg, "Device.WiFi.Radio.1.RegulatoryDomain", "US")) == \
        "Device.WiFi.Radio.1.RegulatoryDomain: length 2 is not 3"
    # hexBinary sizes count bytes; WEP keys are 5 or 13 bytes.
    assert str(err(reg, "Device.WiFi.AccessPoint.1.Security.WEPKey", "00112233")) == \
        "Device.WiFi.AccessPoint.1.Security.WEPKey: length 4 bytes is outside 5 or 13"
    assert reg.validate("Device.WiFi.AccessPoint.1.Security.WEPKey", "0011223344") == "0011223344"


def test_rule_pattern(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.Radio.1.RegulatoryDomain", "us ")
    assert e.rule == "pattern"
    assert str(e) == "Device.WiFi.Radio.1.RegulatoryDomain: 'us ' does not match [A-Z][A-Z][ OI]"
    assert reg.validate("Device.WiFi.Radio.1.RegulatoryDomain", "DEI") == "DEI"
    # Alternatives, one of them the empty pattern (MAC address or empty).
    mac = "Device.Firewall.Set.1.Rule.1.MACAddressList"
    assert reg.validate(mac, "00:11:22:33:44:55,AA:BB:CC:DD:EE:FF") == "00:11:22:33:44:55,AA:BB:CC:DD:EE:FF"
    assert err(reg, mac, "00:11:22:33:44").rule == "pattern"


def test_rule_deleted(reg: Registry) -> None:
    e = err(reg, "Device.Hosts.Host.1.Alias", "laptop")
    assert e.rule == "deleted"
    assert str(e) == "Device.Hosts.Host.1.Alias: deleted parameter (status deleted in TR-181 Device:2.19)"
    assert err(reg, "Device.Time.NTPServer1", "pool.ntp.org").rule == "deleted"
    assert not reg.lookup("Device.Time.NTPServer1").writable


def test_rule_list(reg: Registry) -> None:
    path = "Device.WiFi.Radio.1.PossibleChannels"
    long_list = ",".join(str(1 + k % 200) for k in range(400))
    e = err(reg, path, long_list, for_write=False)
    assert e.rule == "list"
    assert str(e) == f"{path}: list length {len(long_list)} is outside 0..1024"
    # An invalid item names the item and keeps the item's rule.
    e = err(reg, "Device.WiFi.Radio.1.OperatingStandards", "ax,zz")
    assert e.rule == "enum"
    assert str(e).startswith("Device.WiFi.Radio.1.OperatingStandards: item 'zz' is not one of a, b, g, n")
    # minItems/maxItems: PCPEncoding needs exactly 4 bracketed items.
    pcp = "Device.Bridging.Bridge.1.Port.1.PriorityCodePoint.PCPEncoding"
    item = "[" + ",".join(["1"] * 16) + "]"  # 31 characters inside the brackets: the item size
    assert reg.validate(pcp, ",".join([item] * 4)) == ",".join([item] * 4)
    e = err(reg, pcp, item)
    assert e.rule == "list"
    assert str(e) == f"{pcp}: item count 1 is outside 4..4"
    assert err(reg, pcp, ",".join([item[:-2] + "]"] * 4)).rule == "length"


def test_every_rule_is_reachable(reg: Registry) -> None:
    seen = set()
    cases = [
        ("Device.Foo", 1), ("Device.DeviceInfo.UpTime", 1), ("Device.WiFi.Radio.1.Channel", "x"),
        ("Device.WiFi.Radio.1.Channel", 0), ("Device.WiFi.Radio.1.OperatingChannelBandwidth", "x"),
        ("Device.IP.Diagnostics.IPPing.DiagnosticsState", "None"),
        ("Device.WiFi.SSID.1.SSID", "x" * 40), ("Device.WiFi.Radio.1.RegulatoryDomain", "abc"),
        ("Device.Time.NTPServer1", "x"), ("Device.WiFi.Radio.1.PossibleChannels", "1," * 600),
        ("Device.WiFi.SSID.1.SSID", "home\x1b[2J"),
    ]
    for path, value in cases:
        exc = reg.check(path, value, for_write=not path.endswith("PossibleChannels"))
        assert exc is not None
        seen.add(exc.rule)
    assert seen == RULES


# ----------------------------------------------------------------------------- coercions


def test_coercions(reg: Registry) -> None:
    v = reg.validate
    assert v("Device.WiFi.Radio.1.Channel", "36") == 36
    assert v("Device.WiFi.Radio.1.Channel", 36) == 36
    assert v("Device.WiFi.Radio.1.Channel", 36.0) == 36
    assert v("Device.WiFi.Radio.1.TransmitPower", "-1") == -1
    for raw, want in [("true", True), ("false", False), ("1", True), ("0", False), ("TRUE", True),
                      (True, True), (False, False), (1, True), (0, False)]:
        assert v("Device.WiFi.Radio.1.Enable", raw) is want
    assert err(reg, "Device.WiFi.Radio.1.Enable", 2).rule == "type"
    assert v("Device.WiFi.SSID.1.SSID", "Home") == "Home"
    assert v("Device.WiFi.SSID.1.SSID", 1234) == "1234"
    assert err(reg, "Device.WiFi.SSID.1.SSID", True).rule == "type"
    # Lists: comma-separated (whitespace around items ignored) or a Python list, joined.
    assert v("Device.WiFi.Radio.1.OperatingStandards", "ax, ac,n") == "ax,ac,n"
    assert v("Device.WiFi.Radio.1.OperatingStandards", ["ax", "ac"]) == "ax,ac"
    assert v("Device.WiFi.Radio.1.OperatingStandards", "") == ""


def test_implicit_type_ranges(reg: Registry) -> None:
    assert reg.validate("Device.DeviceInfo.UpTime", 4294967295, for_write=False) == 4294967295
    assert err(reg, "Device.DeviceInfo.UpTime", 4294967296, for_write=False).rule == "range"
    assert err(reg, "Device.DeviceInfo.UpTime", -1, for_write=False).rule == "range"
    big = "Device.Ethernet.Interface.1.Stats.BytesSent"  # StatsCounter64 → unsignedLong
    assert reg.lookup(big).type == "unsignedLong"
    assert reg.validate(big, str(2**64 - 1), for_write=False) == 2**64 - 1
    assert err(reg, big, 2**64, for_write=False).rule == "range"
    plain_int = next(s for s in reg.parameters_under("Device.") if s.type == "int" and not s.ranges)
    path = plain_int.path.replace("{i}", "1")
    assert reg.validate(path, -2**31, for_write=False) == -2**31
    assert str(err(reg, path, 2**31, for_write=False)) == \
        f"{path}: 2147483648 is outside -2147483648..2147483647"
    signal = "Device.WiFi.AccessPoint.1.AssociatedDevice.1.SignalStrength"  # int, -200..0
    assert err(reg, signal, 1, for_write=False).rule == "range"


def test_decimal_datetime_binary(reg: Registry) -> None:
    dec = next(s for s in reg.parameters_under("Device.") if s.type == "decimal")
    assert reg.validate(dec.path.replace("{i}", "1"), "1.5", for_write=False) == 1.5
    assert err(reg, dec.path.replace("{i}", "1"), "1.5.2", for_write=False).rule == "type"
    assert err(reg, dec.path.replace("{i}", "1"), "nan", for_write=False).rule == "type"
    t = "Device.Time.CurrentLocalTime"
    assert reg.validate(t, "2025-04-23T10:00:00Z", for_write=False) == "2025-04-23T10:00:00Z"
    assert reg.validate(t, "0001-01-01T00:00:00Z", for_write=False) == "0001-01-01T00:00:00Z"
    assert reg.validate(t, "2025-04-23T10:00:00.123+02:00", for_write=False)
    assert err(reg, t, "2025-02-30T10:00:00Z", for_write=False).rule == "type"
    assert err(reg, t, "yesterday", for_write=False).rule == "type"
    psk = "Device.WiFi.AccessPoint.1.Security.PreSharedKey"
    assert reg.validate(psk, "00" * 32) == "00" * 32
    assert err(reg, psk, "0g").rule == "type"
    assert err(reg, psk, "00" * 33).rule == "length"
    b64 = next(s for s in reg.parameters_under("Device.") if s.type == "base64" and s.writable)
    path = b64.path.replace("{i}", "1")
    assert reg.validate(path, "aGVsbG8=") == "aGVsbG8="
    assert err(reg, path, "not base64!").rule == "type"


def test_hidden_and_secured_read_back_empty(reg: Registry) -> None:
    kp = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
    assert reg.validate(kp, "", for_write=False) == ""
    assert err(reg, kp, "").rule == "length"  # but an empty passphrase cannot be written


# ----------------------------------------------------------------------------- secrets in messages


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "hunter2-secret-" * 5),
        ("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "hunter2"),
        ("Device.WiFi.AccessPoint.1.Security.PreSharedKey", "hunter2zz"),
        ("Device.WiFi.AccessPoint.1.Security.WEPKey", "abcdef"),
        ("Device.ManagementServer.Password", "hunter2" * 50),
        ("Device.ManagementServer.Password", ["hunter2"]),
    ],
)
def test_errors_never_contain_secret_values(reg: Registry, path: str, value: object) -> None:
    e = err(reg, path, value)
    assert "hunter2" not in str(e) and "abcdef" not in str(e)
    assert "hunter2" not in repr(e.args)
    assert reg.is_secret(path)


def test_secret_type_error_says_value(reg: Registry) -> None:
    e = err(reg, "Device.WiFi.AccessPoint.1.Security.PreSharedKey", "xyz-secret")
    assert str(e) == "Device.WiFi.AccessPoint.1.Security.PreSharedKey: value is not valid hexBinary"


# ----------------------------------------------------------------------------- TR-098


def test_tr098_registry(igd: Registry) -> None:
    ch = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel"
    assert igd.lookup(ch).pattern_path == "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.Channel"
    assert igd.validate(ch, "11") == 11
    assert str(err(igd, ch, 256)) == f"{ch}: 256 is outside 0..255"
    tp = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.2.TransmitPower"
    assert igd.lookup(tp).ranges == ((0, 100, None),)
    assert igd.validate(tp, 100) == 100
    assert str(err(igd, tp, 101)) == f"{tp}: 101 is outside 0..100"
    assert err(igd, tp, -1).rule == "range"
    e = err(igd, "InternetGatewayDevice.Foo", 1)
    assert str(e) == "InternetGatewayDevice.Foo: unknown parameter (not in TR-098 InternetGatewayDevice:1.14)"
    assert igd.is_secret("InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase")
    assert igd.is_secret("InternetGatewayDevice.ManagementServer.Password")
    beacon = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.BeaconType"
    assert err(igd, beacon, "WPA2").rule == "enum"
    assert igd.validate(beacon, "11i") == "11i"
    assert err(igd, "InternetGatewayDevice.DeviceInfo.UpTime", 1).rule == "not_writable"
    assert igd.find("Device.WiFi.Radio.1.Channel") is None


# ----------------------------------------------------------------------------- USP


def test_usp_commands_and_events(usp: Registry) -> None:
    reboot = usp.commands["Device.Reboot()"]
    assert not reboot.is_async and reboot.name == "Reboot()"
    ping = usp.command_spec("Device.IP.Diagnostics.IPPing()")
    assert ping is not None and ping.is_async
    assert {"Host", "NumberOfRepetitions", "Timeout", "DataBlockSize", "DSCP", "Interface",
            "ProtocolVersion"} == set(ping.inputs)
    assert {"Host", "NumberOfRepetitions", "Timeout"} <= set(ping.mandatory_inputs)
    assert "AverageResponseTime" in ping.outputs and "SuccessCount" in ping.outputs
    assert len(usp.commands) > 150
    boot = usp.events["Device.Boot!"]
    assert {"CommandKey", "Cause", "FirmwareUpdated", "ParameterMap"} <= set(boot.args)
    assert usp.event_spec("Device.Boot!") is boot
    # A command is not a parameter.
    e = err(usp, "Device.Reboot()", True)
    assert e.rule == "unknown_path" and "a command, not a parameter" in str(e)


def test_usp_command_args(usp: Registry) -> None:
    cmd = "Device.IP.Diagnostics.IPPing()"
    args = {"Host": "example.net", "NumberOfRepetitions": "3", "Timeout": 1000, "DataBlockSize": 64,
            "ProtocolVersion": "Any"}
    assert usp.validate_command_args(cmd, args)["NumberOfRepetitions"] == 3
    with pytest.raises(DataModelError) as info:
        usp.validate_command_args(cmd, {**args, "Bogus": 1})
    assert info.value.rule == "unknown_path"
    with pytest.raises(DataModelError) as info:
        usp.validate_command_args(cmd, {**args, "DataBlockSize": 0})
    assert info.value.rule == "range"


# ----------------------------------------------------------------------------- helpers


def test_pattern_of() -> None:
    assert pattern_of("Device.WiFi.Radio.2.Channel") == "Device.WiFi.Radio.{i}.Channel"
    assert pattern_of("Device.WiFi.Radio.[cpe-1].Channel") == "Device.WiFi.Radio.{i}.Channel"
    assert pattern_of("Device.A.01.B") == "Device.A.01.B"  # not an instance number
    assert pattern_of("Device.NTPServer1") == "Device.NTPServer1"


def test_xsd_regex_translation() -> None:
    import re

    assert re.fullmatch(xsd_regex_to_python("a$b"), "a$b")  # '$' is literal in XSD
    assert re.fullmatch(xsd_regex_to_python("^x"), "^x")
    assert re.fullmatch(xsd_regex_to_python(r"\i\c*"), "_name-1")
    assert re.fullmatch(xsd_regex_to_python("[a-z&&]+"), "ab&")
    negated = xsd_regex_to_python("[^0-9]")
    assert re.fullmatch(negated, "a") and not re.fullmatch(negated, "1")


def test_concrete_path_cache_is_bounded(reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.kernel.datamodel.registry as module

    monkeypatch.setattr(module, "_CACHE_LIMIT", 50)
    for k in range(1, 500):
        reg.lookup(f"Device.WiFi.SSID.{k}.SSID")
    assert len(reg._cache) <= 50
    assert reg.lookup("Device.WiFi.SSID.7.SSID").name == "SSID"


def test_defaults_in_the_standard_validate(reg: Registry, usp: Registry, igd: Registry) -> None:
    """Self-check of generator + validator: the standard's own defaults are valid values."""
    failures = []
    for registry in (reg, usp, igd):
        for spec in registry.parameters_under(registry.root):
            if spec.default is None or (spec.type == "dateTime" and spec.default == ""):
                continue  # TR-098 gives '' as the "unknown" dateTime default
            exc = registry.check(spec.path, spec.default, for_write=False)
            if exc is not None:
                failures.append(str(exc))
    assert failures == []


# ----------------------------------------------------------------------------- generated data


def test_generated_files_are_small_and_licensed() -> None:
    for name in generate.SOURCES:
        assert (DATA / name).stat().st_size < 1_000_000
        table = json.loads(gzip.decompress((DATA / name).read_bytes()))
        assert table["format"] == generate.FORMAT
        assert table["params"] and table["objects"]
    assert "Broadband Forum" in (DATA / "LICENSE-BBF.txt").read_text()


@pytest.mark.skipif(not (SHARED / "tr-181-2-19-1-cwmp-full.xml").exists(),
                    reason="BBF XML not available (../shared/datamodels)")
def test_generator_is_deterministic_and_matches_committed(tmp_path: Path) -> None:
    generate.generate(SHARED, tmp_path)
    for name in generate.SOURCES:
        fresh = (tmp_path / name).read_bytes()
        committed = (DATA / name).read_bytes()
        # Compare content first for a readable failure, then the exact bytes.
        assert gzip.decompress(fresh) == gzip.decompress(committed), f"{name}: regenerate the tables"
        assert fresh == committed, f"{name}: same content, different gzip bytes"
    assert (tmp_path / "LICENSE-BBF.txt").read_bytes() == (DATA / "LICENSE-BBF.txt").read_bytes()
    again = tmp_path / "again"
    generate.generate(SHARED, again)
    for name in generate.SOURCES:
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes()


def test_registry_loads_without_shared_or_lxml(tmp_path: Path) -> None:
    """The runtime reads only the committed tables: no lxml, nothing under ../shared."""
    code = (
        "import sys\n"
        "sys.modules['lxml'] = None\n"
        "def hook(event, args):\n"
        "    if event == 'open' and 'shared' in str(args[0]) and 'datamodels' in str(args[0]):\n"
        "        raise RuntimeError(f'opened {args[0]}')\n"
        "sys.addaudithook(hook)\n"
        "from core.kernel.datamodel.registry import get_registry\n"
        "from core.kernel.secrets import is_secret_path\n"
        "r = get_registry('Device.', 'usp')\n"
        "assert r.validate('Device.WiFi.Radio.1.Channel', '36') == 36\n"
        "assert get_registry('InternetGatewayDevice.').find('InternetGatewayDevice.DeviceInfo.UpTime')\n"
        "assert is_secret_path('Device.WiFi.AccessPoint.1.Security.KeyPassphrase')\n"
        "assert 'core.kernel.datamodel.generate' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
