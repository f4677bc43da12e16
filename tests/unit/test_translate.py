"""TR-181 ↔ TR-098 translation (core/kernel/datamodel/tr098.py and tr098_view.py, its mapping tables)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from core.kernel.datamodel.registry import get_registry
from executors.translate import (
    AP_LEAVES,
    HOST_LEAVES,
    POOL_LEAVES,
    RADIO_LEAVES,
    SAME_NAME_OBJECTS,
    SSID_LEAVES,
    VENDOR_OVERRIDES,
    WAN_IP_LEAVES,
    InstanceMap,
    Untranslatable,
    instance_map_from_params,
    to_device_paths,
    to_tr181,
    tr098_patterns,
    tr181_view,
    translate_set,
    value_to_tr098,
    value_to_tr181,
)

IGD = "InternetGatewayDevice."
W = IGD + "LANDevice.1.WLANConfiguration.{j}."
WAN = IGD + "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1."


def legacy_params(vendor_band: bool = False) -> dict[str, object]:
    """A TR-098 ONT: WLAN 1, 2 on 2.4 GHz; WLAN 5, 6 on 5 GHz (non-contiguous instance numbers)."""
    p: dict[str, object] = {}
    for j, ch, std in ((1, 11, "n"), (2, 11, "n"), (5, 36, "n"), (6, 36, "n")):
        w = W.format(j=j)
        p.update(
            {
                w + "Channel": ch,
                w + "Standard": std,
                w + "SSID": f"net{j}",
                w + "Enable": j in (1, 5),
                w + "Status": "Up" if j in (1, 5) else "Disabled",
                w + "RadioEnabled": True,
                w + "AutoChannelEnable": False,
                w + "TransmitPower": 100,
                w + "TransmitPowerSupported": "20,60,100",
                w + "PossibleChannels": "1-13" if ch < 14 else "36,40,44,48,52",
                w + "RegulatoryDomain": "DEI",
                w + "BeaconType": "11i",
                w + "IEEE11iAuthenticationMode": "PSKAuthentication",
                w + "IEEE11iEncryptionModes": "AESEncryption",
                w + "SSIDAdvertisementEnabled": True,
                w + "KeyPassphrase": "secret123",
                w + "PreSharedKey.1.KeyPassphrase": "secret123",
                w + "TotalAssociations": 2,
                w + "BSSID": f"00:11:22:33:44:0{j}",
            }
        )
        if vendor_band:
            p[w + "X_SINOTEL_FrequencyBand"] = "5GHz" if ch > 14 else "2.4GHz"
            p[w + "X_SINOTEL_ChannelBandwidth"] = "80MHz" if ch > 14 else "20MHz"
    p.update(
        {
            WAN + "ExternalIPAddress": "100.64.1.2",
            WAN + "SubnetMask": "255.255.252.0",
            WAN + "ConnectionStatus": "Connected",
            WAN + "DNSServers": "192.0.2.53,198.51.100.53",
            WAN + "AddressingType": "DHCP",
            WAN + "Enable": True,
            IGD + "LANDevice.1.Hosts.Host.1.MACAddress": "02:00:00:00:00:01",
            IGD + "LANDevice.1.Hosts.Host.1.IPAddress": "192.168.1.20",
            IGD + "LANDevice.1.Hosts.Host.1.InterfaceType": "802.11",
            IGD + "LANDevice.1.LANHostConfigManagement.DHCPLeaseTime": 86400,
            IGD + "DeviceInfo.SoftwareVersion": "V3",
            IGD + "ManagementServer.PeriodicInformInterval": 3600,
            IGD + "IPPingDiagnostics.Interface": "",
            IGD + "IPPingDiagnostics.Host": "",
        }
    )
    return p


@pytest.fixture
def imap() -> InstanceMap:
    return instance_map_from_params(legacy_params())


# ----------------------------------------------------------------------------- instance map


def test_instance_map_groups_wlans_by_band(imap: InstanceMap) -> None:
    assert imap.radios == {1: [(1, 1), (1, 2)], 2: [(1, 5), (1, 6)]}
    assert imap.radio_bands == {1: "2.4GHz", 2: "5GHz"}
    assert imap.ssids == {1: (1, 1), 2: (1, 2), 3: (1, 5), 4: (1, 6)}
    assert imap.wan is not None and imap.wan.prefix == WAN


def test_band_from_standard_or_vendor_param() -> None:
    p = {W.format(j=1) + "Standard": "g", W.format(j=2) + "Standard": "a", W.format(j=2) + "Channel": 0}
    m = instance_map_from_params(p)
    assert m.radio_bands == {1: "2.4GHz", 2: "5GHz"}
    vendor = legacy_params(vendor_band=True)
    for j in (5, 6):  # channel says nothing (auto); the vendor band param decides
        vendor[W.format(j=j) + "Channel"] = 0
        vendor[W.format(j=j) + "PossibleChannels"] = ""
    m = instance_map_from_params(vendor, vendor="Sinotel", model="HG8020-L")
    assert m.radios[2] == [(1, 5), (1, 6)]


def test_instance_map_is_json_round_trippable(imap: InstanceMap) -> None:
    again = InstanceMap.model_validate(json.loads(imap.model_dump_json()))
    assert again == imap


# ----------------------------------------------------------------------------- paths


def test_radio_setting_fans_out_to_every_wlan_on_the_radio(imap: InstanceMap) -> None:
    assert to_device_paths("Device.WiFi.Radio.2.Channel", imap) == [
        W.format(j=5) + "Channel",
        W.format(j=6) + "Channel",
    ]
    assert to_device_paths("Device.WiFi.Radio.1.Enable", imap) == [
        W.format(j=1) + "RadioEnabled",
        W.format(j=2) + "RadioEnabled",
    ]


@pytest.mark.parametrize(
    ("tr181", "tr098"),
    [
        ("Device.WiFi.SSID.3.SSID", W.format(j=5) + "SSID"),  # row 10
        ("Device.WiFi.SSID.4.Enable", W.format(j=6) + "Enable"),  # row 11
        (
            "Device.WiFi.AccessPoint.3.SSIDAdvertisementEnabled",
            W.format(j=5) + "SSIDAdvertisementEnabled",
        ),  # 12
        (
            "Device.WiFi.AccessPoint.1.Security.PreSharedKey",
            W.format(j=1) + "PreSharedKey.1.PreSharedKey",
        ),  # 14
        ("Device.IP.Interface.1.IPv4Address.1.IPAddress", WAN + "ExternalIPAddress"),  # row 17
        ("Device.IP.Interface.1.Status", WAN + "ConnectionStatus"),  # row 20
        ("Device.DNS.Client.Server.2.DNSServer", WAN + "DNSServers"),  # row 22
        (
            "Device.DHCPv4.Server.Pool.1.DNSServers",
            IGD + "LANDevice.1.LANHostConfigManagement.DNSServers",
        ),  # 23
        (
            "Device.DHCPv4.Server.Pool.1.LeaseTime",
            IGD + "LANDevice.1.LANHostConfigManagement.DHCPLeaseTime",
        ),  # 24
        ("Device.DeviceInfo.SoftwareVersion", IGD + "DeviceInfo.SoftwareVersion"),  # row 26
        ("Device.DeviceInfo.ProvisioningCode", IGD + "DeviceInfo.ProvisioningCode"),  # row 27
        (
            "Device.ManagementServer.PeriodicInformInterval",
            IGD + "ManagementServer.PeriodicInformInterval",
        ),  # 28
        ("Device.ManagementServer.ConnectionRequestURL", IGD + "ManagementServer.ConnectionRequestURL"),  # 29
        ("Device.IP.Diagnostics.IPPing.Host", IGD + "IPPingDiagnostics.Host"),  # row 30
        ("Device.Hosts.Host.1.PhysAddress", IGD + "LANDevice.1.Hosts.Host.1.MACAddress"),  # row 31
    ],
)
def test_one_to_one_paths_round_trip(imap: InstanceMap, tr181: str, tr098: str) -> None:
    assert to_device_paths(tr181, imap)[0] == tr098
    back = to_tr181(tr098, imap)
    assert back == (tr181 if "DNS.Client" not in tr181 else "Device.DNS.Client.Server.")


def test_passphrase_writes_both_mirrors(imap: InstanceMap) -> None:
    paths = to_device_paths("Device.WiFi.AccessPoint.3.Security.KeyPassphrase", imap)
    assert paths == [W.format(j=5) + "PreSharedKey.1.KeyPassphrase", W.format(j=5) + "KeyPassphrase"]
    writes = translate_set("Device.WiFi.AccessPoint.3.Security.KeyPassphrase", "n3w-passphrase", imap, legacy_params())
    assert writes == dict.fromkeys(paths, "n3w-passphrase")


def test_to_tr181_radio_and_unknown(imap: InstanceMap) -> None:
    assert to_tr181(W.format(j=6) + "Channel", imap) == "Device.WiFi.Radio.2.Channel"
    assert to_tr181(W.format(j=2) + "RadioEnabled", imap) == "Device.WiFi.Radio.1.Enable"
    assert to_tr181(W.format(j=5) + "KeyPassphrase", imap) == "Device.WiFi.AccessPoint.3.Security.KeyPassphrase"
    assert to_tr181(IGD + "Layer3Forwarding.DefaultConnectionService", imap) is None
    assert to_tr181(IGD + "IPPingDiagnostics.MinimumResponseTmie", imap) is None  # the historical typo


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("Device.WiFi.Radio.1.OperatingChannelBandwidth", "no TR-098 standard parameter"),
        ("Device.WiFi.Radio.2.OperatingFrequencyBand", "no TR-098 standard parameter"),
        ("Device.WiFi.Radio.3.Channel", "no radio 3"),
        ("Device.WiFi.SSID.9.SSID", "no SSID 9"),
        ("Device.IP.Diagnostics.IPPing.ProtocolVersion", "TR-181 only"),
        ("Device.DNS.Client.Server.1.Type", "comma-separated"),
        ("Device.Bridging.Bridge.1.Enable", "no TR-098 mapping"),
        ("InternetGatewayDevice.DeviceInfo.UpTime", "not a TR-181"),
    ],
)
def test_untranslatable_names_path_and_reason(imap: InstanceMap, path: str, why: str) -> None:
    with pytest.raises(Untranslatable) as err:
        to_device_paths(path, imap)
    assert err.value.path == path
    assert path in str(err.value) and why in str(err.value)
    assert isinstance(err.value, ValueError)


def test_bandwidth_message_matches_the_brief() -> None:
    with pytest.raises(
        Untranslatable,
        match=r"Device\.WiFi\.Radio\.1\.OperatingChannelBandwidth has no TR-098 "
        r"standard parameter",
    ):
        to_device_paths("Device.WiFi.Radio.1.OperatingChannelBandwidth", instance_map_from_params(legacy_params()))


def test_vendor_override_table() -> None:
    assert ("Sinotel", "HG8020-L") in VENDOR_OVERRIDES
    m = instance_map_from_params(legacy_params(vendor_band=True), vendor="Sinotel", model="HG8020-L")
    assert to_device_paths("Device.WiFi.Radio.2.OperatingChannelBandwidth", m) == [
        W.format(j=5) + "X_SINOTEL_ChannelBandwidth",
        W.format(j=6) + "X_SINOTEL_ChannelBandwidth",
    ]
    assert to_tr181(W.format(j=1) + "X_SINOTEL_FrequencyBand", m) == "Device.WiFi.Radio.1.OperatingFrequencyBand"


# ----------------------------------------------------------------------------- values


def test_transmit_power_auto_has_no_tr098_form(imap: InstanceMap) -> None:
    with pytest.raises(Untranslatable, match="-1"):
        translate_set("Device.WiFi.Radio.1.TransmitPower", -1, imap, legacy_params())
    assert translate_set("Device.WiFi.Radio.1.TransmitPower", 60, imap, legacy_params()) == {
        W.format(j=1) + "TransmitPower": 60,
        W.format(j=2) + "TransmitPower": 60,
    }


def test_dns_rows_are_list_items(imap: InstanceMap) -> None:
    params = legacy_params()
    assert translate_set("Device.DNS.Client.Server.2.DNSServer", "9.9.9.9", imap, params) == {
        WAN + "DNSServers": "192.0.2.53,9.9.9.9"
    }
    assert translate_set("Device.DNS.Client.Server.3.DNSServer", "1.1.1.1", imap, params) == {
        WAN + "DNSServers": "192.0.2.53,198.51.100.53,1.1.1.1"
    }
    assert translate_set("Device.DNS.Client.Server.1.DNSServer", "", imap, params) == {
        WAN + "DNSServers": "198.51.100.53"
    }
    with pytest.raises(Untranslatable, match="row 5"):
        translate_set("Device.DNS.Client.Server.5.DNSServer", "1.1.1.1", imap, params)
    # A firmware that lost its servers: row 1 is an append to the empty list.
    params[WAN + "DNSServers"] = ""
    assert translate_set("Device.DNS.Client.Server.1.DNSServer", "192.0.2.53", imap, params) == {
        WAN + "DNSServers": "192.0.2.53"
    }


def test_view_explodes_dns_and_renames_hosts(imap: InstanceMap) -> None:
    view = tr181_view(legacy_params(), imap)
    assert view["Device.DNS.Client.Server.1.DNSServer"].value == "192.0.2.53"
    assert view["Device.DNS.Client.Server.2.DNSServer"].value == "198.51.100.53"
    assert view["Device.DNS.Client.Server.2.Type"].value == "DHCPv4"
    assert "Device.DNS.Client.Server.3.DNSServer" not in view
    assert view["Device.Hosts.Host.1.PhysAddress"].device_path.endswith("Host.1.MACAddress")
    assert view["Device.Hosts.Host.1.InterfaceType"].value == "Wi-Fi"
    assert view["Device.IP.Interface.1.Status"].value == "Up"
    assert view["Device.WiFi.Radio.2.Channel"].device_path == W.format(j=5) + "Channel"
    assert view["Device.WiFi.SSID.2.Status"].value == "Down"
    assert view["Device.WiFi.AccessPoint.3.Security.ModeEnabled"].value == "WPA2-Personal"
    assert view["Device.WiFi.Radio.1.OperatingStandards"].value == "b,g,n"
    assert view["Device.WiFi.Radio.1.OperatingStandards"].writable is False
    # each SSID names its radio, so a request for one band's (guest) network finds it
    assert {k: view[f"Device.WiFi.SSID.{k}.LowerLayers"].value for k in (1, 2, 3, 4)} == {
        1: "Device.WiFi.Radio.1", 2: "Device.WiFi.Radio.1", 3: "Device.WiFi.Radio.2", 4: "Device.WiFi.Radio.2"}
    assert view["Device.WiFi.SSID.3.LowerLayers"].writable is False


def test_security_mode_row_15(imap: InstanceMap) -> None:
    writes = translate_set("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WPA-WPA2-Personal", imap, legacy_params())
    assert writes[W.format(j=1) + "BeaconType"] == "WPAand11i"
    with pytest.raises(Untranslatable, match="WPA3"):
        translate_set("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WPA3-Personal", imap, legacy_params())


def test_ipping_interface_value_is_a_path(imap: InstanceMap) -> None:
    assert value_to_tr098("Device.IP.Diagnostics.IPPing.Interface", "Device.IP.Interface.1", imap) == WAN.rstrip(".")
    assert value_to_tr181("Device.IP.Diagnostics.IPPing.Interface", WAN, imap) == "Device.IP.Interface.1"
    with pytest.raises(Untranslatable):
        value_to_tr098("Device.IP.Diagnostics.IPPing.Interface", "Device.IP.Interface.2", imap)


def test_tr098_patterns_for_validation() -> None:
    assert tr098_patterns("Device.WiFi.Radio.2.Channel", 52) == (
        ["InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.Channel"],
        52,
    )
    assert tr098_patterns("Device.DNS.Client.Server.3.DNSServer", "9.9.9.9")[0] == [
        "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}.DNSServers"
    ]
    patterns, value = tr098_patterns("Device.WiFi.AccessPoint.1.Security.ModeEnabled", "WPA2-Personal")
    assert patterns == ["InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.BeaconType"] and value == "11i"
    assert tr098_patterns(
        "Device.WiFi.Radio.1.OperatingChannelBandwidth", "40MHz", vendor="Sinotel", model="HG8020-L"
    ) == ([], "40MHz")
    with pytest.raises(Untranslatable):
        tr098_patterns("Device.WiFi.Radio.1.TransmitPower", -1)


# ----------------------------------------------------------------------------- against the data models


def _mapped_tr181_patterns() -> set[str]:
    out = {f"Device.WiFi.Radio.{{i}}.{leaf}" for leaf in RADIO_LEAVES}
    out |= {f"Device.WiFi.SSID.{{i}}.{leaf}" for leaf in SSID_LEAVES}
    out |= {f"Device.WiFi.AccessPoint.{{i}}.{leaf}" for leaf in AP_LEAVES}
    out |= {f"Device.IP.Interface.{{i}}.{leaf.replace('.1.', '.{i}.')}" for leaf in WAN_IP_LEAVES}
    out |= {f"Device.DHCPv4.Server.Pool.{{i}}.{leaf}" for leaf in POOL_LEAVES}
    out |= {f"Device.Hosts.Host.{{i}}.{leaf}" for leaf in HOST_LEAVES}
    out |= {"Device.DNS.Client.Server.{i}.DNSServer"}
    for overrides in VENDOR_OVERRIDES.values():
        out |= set(overrides)
    return out


def _mapped_tr098_patterns() -> set[str]:
    wlan = "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}."
    wan = "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}."
    out = {
        wlan + leaf.replace(".1.", ".{i}.")
        for leaf in [*RADIO_LEAVES.values(), *SSID_LEAVES.values(), *AP_LEAVES.values(), "KeyPassphrase"]
    }
    out |= {wan + leaf for leaf in [*WAN_IP_LEAVES.values(), "DNSServers"]}
    out |= {"InternetGatewayDevice.LANDevice.{i}.LANHostConfigManagement." + v for v in POOL_LEAVES.values()}
    out |= {"InternetGatewayDevice.LANDevice.{i}.Hosts.Host.{i}." + v for v in HOST_LEAVES.values()}
    return out


SAME_NAME_SAMPLES = [
    "SoftwareVersion",
    "HardwareVersion",
    "SerialNumber",
    "ModelName",
    "UpTime",
    "ProvisioningCode",
    "PeriodicInformEnable",
    "PeriodicInformInterval",
    "ConnectionRequestURL",
    "URL",
    "Username",
    "Password",
    "DiagnosticsState",
    "Host",
    "NumberOfRepetitions",
    "Timeout",
    "DataBlockSize",
    "DSCP",
    "SuccessCount",
    "FailureCount",
    "AverageResponseTime",
    "MinimumResponseTime",
    "MaximumResponseTime",
    "Interface",
]


def _same_name_pairs() -> list[tuple[str, str]]:
    pairs = []
    for p181, p098 in SAME_NAME_OBJECTS.items():
        for leaf in SAME_NAME_SAMPLES:
            pairs.append((p181 + leaf, p098 + leaf))
    return pairs


_MODELS = {"tr-181-2-19-1-cwmp-full.xml": ("Device.", "cwmp"),
           "tr-098-1-8-0-full.xml": ("InternetGatewayDevice.", "cwmp")}


@cache
def _xml_params(name: str) -> frozenset[str]:
    """The current (not deleted, not obsoleted) parameters of a BBF model, from the tables that
    ``core/kernel/datamodel`` generated from its XML and ships (the same set the XML gives, parameter
    for parameter: checked when the tables were generated)."""
    root, flavour = _MODELS[name]
    reg = get_registry(root, flavour)
    return frozenset(s.path for s in reg.parameters_under(root) if s.status not in ("deleted", "obsoleted"))


def test_every_mapped_path_exists_in_the_bbf_xml() -> None:
    tr181 = _xml_params("tr-181-2-19-1-cwmp-full.xml")
    tr098 = _xml_params("tr-098-1-8-0-full.xml")
    missing181 = sorted(p for p in _mapped_tr181_patterns() if p not in tr181 and ".X_" not in p)
    missing098 = sorted(p for p in _mapped_tr098_patterns() if p not in tr098)
    same = _same_name_pairs()
    missing_same = sorted(a for a, b in same if (a in tr181) != (b in tr098))
    assert not missing181, missing181
    assert not missing098, missing098
    assert not missing_same, missing_same


def test_every_mapped_path_exists_in_the_registry() -> None:
    registry = pytest.importorskip("core.kernel.datamodel.registry")
    tr181 = registry.get_registry("Device.", "cwmp")
    tr098 = registry.get_registry("InternetGatewayDevice.")
    missing = [p for p in _mapped_tr181_patterns() if ".X_" not in p and tr181.find(p) is None]
    missing += [p for p in _mapped_tr098_patterns() if tr098.find(p) is None]
    assert not missing, missing
