"""The simulated fleet's catalogue: which vendor/model/firmware exist and what their trees hold.

Why: a digital twin is only useful if it disagrees with the standard the way real firmware
does — a different root, a narrower transmit-power list, a missing diagnostic, a vendor ``X_``
parameter, a passphrase rule looser than TR-181's. Those facts are data (``catalog.json``);
this module interprets them: it resolves a device parameter's :class:`ParamSpec` (type,
writability, constraints *as that firmware implements them*) and builds a device's factory
tree from its model, region and :class:`Identity` (serial, MACs, label SSID, WAN lease ...).

The catalogue and identities are plain dataclasses, not pydantic models: ``gateward device ID``
builds a device's tree in a process that must start, read and print in ≤ 0.3 s, and
importing pydantic alone costs a third of that. ``catalog.json`` is committed data, checked
against these classes' types by ``tests/unit/test_cli_device_lite.py``; an identity is stored as
the JSON of its fields (:func:`dump_identity`, :func:`load_identity`), as the pydantic model wrote it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from core.kernel.jsontypes import JsonObject

if TYPE_CHECKING:
    from core.kernel.models import Protocol, Root, Scalar

IGD_ROOT = "InternetGatewayDevice."  # core.kernel.models.Root.IGD's value (a StrEnum: equal to it)

CATALOG_PATH = Path(__file__).with_name("catalog.json")

# ----------------------------------------------------------------------------- parameter specs


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter as a firmware implements it. ``enum_ref`` names a sibling whose value
    lists the allowed values (``PossibleChannels`` for ``Channel``); ``ro_enum`` values are
    reported but cannot be set; ``count`` marks a ``…NumberOfEntries`` of that table;
    ``dynamic`` values (uptime, parameter key) are computed when read."""

    type: str
    writable: bool = False
    is_list: bool = False
    enum: tuple[str, ...] | None = None
    ro_enum: tuple[str, ...] = ()
    enum_ref: str | None = None
    range: tuple[int | None, int | None] | None = None
    length: tuple[int, int | None] | None = None
    pattern: str | None = None
    secret: bool = False
    count: str | None = None
    dynamic: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ParamSpec:
        rng = raw.get("range")
        ln = raw.get("len")
        return cls(
            type=raw["t"],
            writable=bool(raw.get("w", False)),
            is_list=bool(raw.get("list", False)),
            enum=tuple(raw["enum"]) if "enum" in raw else None,
            ro_enum=tuple(raw.get("ro_enum", ())),
            enum_ref=raw.get("enum_ref"),
            range=(rng[0], rng[1]) if rng else None,
            length=(ln[0], ln[1]) if ln else None,
            pattern=raw.get("pattern"),
            secret=bool(raw.get("secret", False)),
            count=raw.get("count"),
            dynamic=raw.get("dynamic"),
        )


_SPEC_KEYS = {
    "t",
    "w",
    "list",
    "enum",
    "ro_enum",
    "enum_ref",
    "range",
    "len",
    "pattern",
    "secret",
    "count",
    "dynamic",
}


@lru_cache(maxsize=65536)
def generic_path(path: str) -> str:
    """``Device.WiFi.Radio.2.Channel`` → ``Device.WiFi.Radio.{i}.Channel``."""
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


# ----------------------------------------------------------------------------- catalogue models


@dataclass(kw_only=True)
class RadioSpec:
    """One radio of a model, as its firmware ships it."""

    band: Literal["2.4GHz", "5GHz", "6GHz"]
    channel: int
    auto_channel: bool = False
    tx_power_supported: str
    tx_power: int
    bandwidths: str = "20MHz"
    bandwidth: str = "20MHz"
    standards: str = ""
    operating_standards: str = ""
    standard: str = ""  # TR-098 WLANConfiguration.Standard
    channels: str | None = None  # firmware restriction, intersected with the region's list
    possible_channels_style: Literal["list", "range"] = "list"


@dataclass(kw_only=True)
class SsidSpec:
    """One TR-181 SSID/AccessPoint pair of a model, on radio ``radio``."""

    radio: int
    guest: bool = False
    enable: bool = True
    security_mode: str | None = None


@dataclass(kw_only=True)
class WlanSpec:
    """One TR-098 WLANConfiguration of a model, on radio ``radio``."""

    index: int
    radio: int
    guest: bool = False
    enable: bool = True


@dataclass(kw_only=True)
class LanSpec:
    """The LAN a model ships with: its own address and the DHCP pool."""

    ip: str
    min: str
    max: str


@dataclass(kw_only=True)
class CatalogModel:
    """One vendor/model/firmware combination. ``root_path`` and ``protocol_name`` are the
    catalogue's strings; :attr:`root` and :attr:`protocol` the domain enums (``core.kernel.models``,
    imported on first use: building a tree needs neither)."""

    key: str
    vendor: str
    model: str
    product_class: str
    oui: str
    firmware: str
    hardware: str
    root_path: Literal["Device.", "InternetGatewayDevice."]
    protocol_name: Literal["cwmp", "usp"]
    data_model: str
    access: Literal["cable", "ftth"]
    upstream_kind: Literal["cmts", "olt"]
    serial_prefix: str
    compat_hint: Literal["green", "yellow", "red"]
    compat_note: str = ""
    regions: list[str]
    quirks: list[str] = field(default_factory=list)
    provisioning_code: str = ""
    acs_url: str = ""
    periodic_inform_interval: int = 3600
    ssid_label: str = "{tail4}"
    band_suffix: dict[str, str] = field(default_factory=dict)
    security_modes: str = "None,WPA2-Personal"
    security_mode: str = "WPA2-Personal"
    radios: list[RadioSpec]
    ssids: list[SsidSpec] = field(default_factory=list)
    wlans: list[WlanSpec] = field(default_factory=list)
    spec_overrides: dict[str, JsonObject] = field(default_factory=dict)
    vendor_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    lan: LanSpec

    @property
    def root(self) -> Root:
        from core.kernel.models import Root

        return Root(self.root_path)

    @property
    def protocol(self) -> Protocol:
        from core.kernel.models import Protocol

        return Protocol(self.protocol_name)

    @property
    def is_tr098(self) -> bool:
        return self.root_path == IGD_ROOT

    def has_quirk(self, quirk: str) -> bool:
        return quirk in self.quirks

    def spec(self, path: str) -> ParamSpec | None:
        """The firmware's spec for a concrete device path, or ``None`` if it has no such parameter."""
        return _schema_for(self.key).get(generic_path(path))

    def param_schema(self) -> dict[str, ParamSpec]:
        return _schema_for(self.key)

    def band_of_radio(self, radio: int) -> str:
        return self.radios[radio - 1].band


@dataclass(kw_only=True)
class Regulatory:
    """A region's regulatory domain and the channels it allows per band."""

    domain: str
    channels: dict[str, str]


@dataclass(kw_only=True)
class Catalog:
    """``catalog.json``: regions, DFS channels, parameter schemas per root, and the models."""

    regulatory: dict[str, Regulatory]
    dfs_channels: list[int]
    schemas: dict[str, dict[str, dict[str, Any]]]
    models: dict[str, CatalogModel]

    def model_for(self, vendor: str, model: str, firmware: str) -> CatalogModel | None:
        for m in self.models.values():
            if (m.vendor, m.model, m.firmware) == (vendor, model, firmware):
                return m
        return None


def catalog_model(key: str, raw: dict[str, Any]) -> CatalogModel:
    """One ``models`` entry of ``catalog.json`` as a :class:`CatalogModel` (a missing or unknown
    key raises ``TypeError``, naming it)."""
    fields = dict(raw)
    return CatalogModel(
        key=key,
        root_path=fields.pop("root"),
        protocol_name=fields.pop("protocol"),
        radios=[RadioSpec(**r) for r in fields.pop("radios")],
        ssids=[SsidSpec(**s) for s in fields.pop("ssids", [])],
        wlans=[WlanSpec(**w) for w in fields.pop("wlans", [])],
        lan=LanSpec(**fields.pop("lan")),
        **fields,
    )


def load_catalog(raw: dict[str, Any]) -> Catalog:
    """``catalog.json``'s content as a :class:`Catalog`."""
    return Catalog(
        regulatory={k: Regulatory(**v) for k, v in raw["regulatory"].items()},
        dfs_channels=list(raw["dfs_channels"]),
        schemas=raw["schemas"],
        models={k: catalog_model(k, m) for k, m in raw["models"].items()},
    )


@cache
def catalog() -> Catalog:
    raw = orjson.loads(CATALOG_PATH.read_bytes())
    raw.pop("_comment", None)
    return load_catalog(raw)


def get_model(key: str) -> CatalogModel:
    try:
        return catalog().models[key]
    except KeyError:
        raise KeyError(f"unknown simulator model {key!r}; known: {', '.join(sorted(catalog().models))}") from None


def models() -> list[CatalogModel]:
    return list(catalog().models.values())


@cache
def _schema_for(key: str) -> dict[str, ParamSpec]:
    model = get_model(key)
    base = catalog().schemas["tr098" if model.is_tr098 else "tr181"]
    merged: dict[str, JsonObject] = {p: dict(s) for p, s in base.items()}
    for path, patch in model.spec_overrides.items():
        merged.setdefault(path, {}).update(patch)
    for path, spec in model.vendor_params.items():
        merged[path] = {k: v for k, v in spec.items() if k in _SPEC_KEYS}
    for path in model.unsupported:  # a path ending in "." drops the whole object (firmware lacks it)
        for gone in [p for p in merged if p == path or (path.endswith(".") and p.startswith(path))]:
            merged.pop(gone)
    if model.protocol_name == "usp":
        # USP agents have no ManagementServer and run diagnostics as commands (IPPing()).
        for path in list(merged):
            if path.startswith(
                (
                    "Device.ManagementServer.",
                    "Device.IP.Diagnostics.",
                    "Device.WiFi.NeighboringWiFiDiagnostic.",
                )
            ):
                merged.pop(path)
    else:
        for path in list(merged):
            if path.startswith("Device.LocalAgent."):
                merged.pop(path)
    return {p: ParamSpec.from_json(s) for p, s in merged.items()}


# ----------------------------------------------------------------------------- identity


@dataclass(kw_only=True, slots=True)
class HostEntry:
    """A LAN host the gateway knows (slots: a generated fleet holds millions)."""

    mac: str
    ip: str
    name: str
    active: bool = True
    wifi: bool = True
    band: str = "2.4GHz"


@dataclass(kw_only=True, slots=True)
class NeighborEntry:
    """A Wi-Fi access point the gateway hears."""

    ssid: str
    bssid: str
    channel: int
    band: str
    rssi: int


def _default_dns() -> list[str]:
    return ["192.0.2.53", "198.51.100.53"]


@dataclass(kw_only=True, slots=True)
class Identity:
    """What makes one unit of a model itself: label credentials, MACs, what the network gave it.
    The factory tree is a pure function of (model, region, identity)."""

    serial: str
    mac: str
    wan_ip: str = "100.64.0.2"
    wan_mask: str = "255.255.252.0"
    wan_gateway: str = "100.64.0.1"
    dns: list[str] = field(default_factory=_default_dns)
    ssid: str = ""
    passphrase: str = ""
    guest_passphrase: str = ""
    acs_password: str = ""
    cr_password: str = ""
    hosts: list[HostEntry] = field(default_factory=list)
    neighbors: list[NeighborEntry] = field(default_factory=list)

    def bssid(self, n: int) -> str:
        return mac_add(self.mac, n)


_IDENTITY_FIELDS = frozenset(f.name for f in dataclasses.fields(Identity))
_HOST_FIELDS = frozenset(f.name for f in dataclasses.fields(HostEntry))
_NEIGHBOR_FIELDS = frozenset(f.name for f in dataclasses.fields(NeighborEntry))


def load_identity(raw: str | bytes) -> Identity:
    """An identity from its stored JSON (:func:`dump_identity`, or the pydantic model's
    ``model_dump_json`` that wrote the rows before: the same object). Keys it does not know are
    ignored, as the models ignored them."""
    data = orjson.loads(raw)
    fields = {k: v for k, v in data.items() if k in _IDENTITY_FIELDS}
    fields["hosts"] = [HostEntry(**{k: v for k, v in h.items() if k in _HOST_FIELDS})
                       for h in fields.get("hosts", ())]
    fields["neighbors"] = [NeighborEntry(**{k: v for k, v in n.items() if k in _NEIGHBOR_FIELDS})
                           for n in fields.get("neighbors", ())]
    return Identity(**fields)


def dump_identity(identity: Identity) -> str:
    """The stored JSON of ``identity``: every field, in declaration order."""
    return orjson.dumps(dataclasses.asdict(identity)).decode()


def mac_add(mac: str, n: int) -> str:
    h = f"{(int(mac.replace(':', ''), 16) + n) % (1 << 48):012X}"
    return f"{h[0:2]}:{h[2:4]}:{h[4:6]}:{h[6:8]}:{h[8:10]}:{h[10:12]}"


def label_ssid(model: CatalogModel, serial: str) -> str:
    return model.ssid_label.replace("{tail4}", serial[-4:].upper())


def device_id_for(model: CatalogModel, serial: str) -> str:
    """CWMP DeviceId convention: ``OUI-ProductClass-SerialNumber``."""
    return f"{model.oui}-{model.product_class}-{serial}"


# ----------------------------------------------------------------------------- channels


def _parse_channels(text: str) -> list[int]:
    """``"1-11,36,40"`` → ``[1, 2, …, 11, 36, 40]`` (channel lists may hold ranges)."""
    out: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


def _compress(channels: list[int]) -> str:
    """``[1..13]`` → ``1-13`` (the range form TR-098 and TR-181 both allow)."""
    runs: list[list[int]] = []
    for c in channels:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def possible_channels(radio: RadioSpec, region: str) -> list[int]:
    reg = regulatory(region)
    allowed = _parse_channels(reg.channels[radio.band])
    if radio.channels:
        limit = set(_parse_channels(radio.channels))
        allowed = [c for c in allowed if c in limit]
    return allowed


def regulatory(region: str) -> Regulatory:
    try:
        return catalog().regulatory[region]
    except KeyError:
        raise KeyError(
            f"no regulatory data for region {region!r}; known: {', '.join(sorted(catalog().regulatory))}"
        ) from None


def is_dfs(channel: int, band: str) -> bool:
    return band == "5GHz" and channel in catalog().dfs_channels


# ----------------------------------------------------------------------------- tree builders


def build_factory_tree(model: CatalogModel, region: str, identity: Identity) -> dict[str, Scalar]:
    """The device's tree straight out of the box (or after a factory reset), device-native paths."""
    tree = _build_tr098(model, region, identity) if model.is_tr098 else _build_tr181(model, region, identity)
    schema = model.param_schema()
    # Drop anything the firmware does not implement (``unsupported`` and protocol flavour).
    return {p: v for p, v in tree.items() if generic_path(p) in schema}


def _channel_value(radio: RadioSpec, channels: list[int]) -> int:
    return radio.channel if radio.channel in channels else channels[0]


def _vendor_values(
    model: CatalogModel, generic_prefix: str, concrete_prefix: str, radio: RadioSpec, tree: dict[str, Scalar]
) -> None:
    for path, spec in model.vendor_params.items():
        if not path.startswith(generic_prefix):
            continue
        leaf = path[len(generic_prefix) :]
        src = spec.get("value_from")
        value = getattr(radio, src) if src else spec.get("default", "")
        tree[concrete_prefix + leaf] = value


def _build_tr181(model: CatalogModel, region: str, ident: Identity) -> dict[str, Scalar]:
    t: dict[str, Scalar] = {}
    reg = regulatory(region)
    t["Device.RootDataModelVersion"] = model.data_model
    di = "Device.DeviceInfo."
    t.update(
        {
            di + "Manufacturer": model.vendor,
            di + "ManufacturerOUI": model.oui,
            di + "ModelName": model.model,
            di + "ProductClass": model.product_class,
            di + "SerialNumber": ident.serial,
            di + "HardwareVersion": model.hardware,
            di + "SoftwareVersion": model.firmware,
            di + "ProvisioningCode": model.provisioning_code,
            di + "UpTime": 0,
        }
    )
    ms = "Device.ManagementServer."
    t.update(
        {
            ms + "URL": model.acs_url,
            ms + "Username": f"{model.oui}-{ident.serial}",
            ms + "Password": ident.acs_password,
            ms + "PeriodicInformEnable": True,
            ms + "PeriodicInformInterval": model.periodic_inform_interval,
            ms + "ParameterKey": "",
            ms + "ConnectionRequestURL": f"http://{ident.wan_ip}:7547/{ident.serial}",
            ms + "ConnectionRequestUsername": ident.serial,
            ms + "ConnectionRequestPassword": ident.cr_password,
        }
    )
    t["Device.LocalAgent.EndpointID"] = f"os::{model.oui}-{ident.serial}"
    t["Device.LocalAgent.SupportedProtocols"] = "MQTT,WebSocket"
    wifi = "Device.WiFi."
    t.update(
        {
            wifi + "RadioNumberOfEntries": 0,
            wifi + "SSIDNumberOfEntries": 0,
            wifi + "AccessPointNumberOfEntries": 0,
        }
    )
    for r, radio in enumerate(model.radios, start=1):
        p = f"Device.WiFi.Radio.{r}."
        channels = possible_channels(radio, region)
        t.update(
            {
                p + "Enable": True,
                p + "Status": "Up",
                p + "Name": f"wl{r - 1}",
                p + "SupportedFrequencyBands": radio.band,
                p + "OperatingFrequencyBand": radio.band,
                p + "SupportedStandards": radio.standards,
                p + "OperatingStandards": radio.operating_standards,
                p + "PossibleChannels": ",".join(map(str, channels)),
                p + "Channel": _channel_value(radio, channels),
                p + "AutoChannelSupported": True,
                p + "AutoChannelEnable": radio.auto_channel,
                p + "SupportedOperatingChannelBandwidths": radio.bandwidths,
                p + "OperatingChannelBandwidth": radio.bandwidth,
                p + "TransmitPowerSupported": radio.tx_power_supported,
                p + "TransmitPower": radio.tx_power,
                p + "IEEE80211hEnabled": radio.band == "5GHz",
                p + "RegulatoryDomain": reg.domain,
            }
        )
        _vendor_values(model, "Device.WiFi.Radio.{i}.", p, radio, t)
    wifi_hosts = [h for h in ident.hosts if h.wifi and h.active]
    for k, s in enumerate(model.ssids, start=1):
        band = model.band_of_radio(s.radio)
        sp, ap = f"Device.WiFi.SSID.{k}.", f"Device.WiFi.AccessPoint.{k}."
        name = ident.ssid + ("-Guest" if s.guest else model.band_suffix.get(band, ""))
        t.update(
            {
                sp + "Enable": s.enable,
                sp + "Status": "Up" if s.enable else "Down",
                sp + "Name": f"ssid{k}",
                sp + "LowerLayers": f"Device.WiFi.Radio.{s.radio}",
                sp + "BSSID": ident.bssid(k),
                sp + "MACAddress": ident.bssid(k),
                sp + "SSID": name,
            }
        )
        assoc = 0 if s.guest else sum(1 for h in wifi_hosts if h.band == band)
        t.update(
            {
                ap + "Enable": s.enable,
                ap + "Status": "Enabled" if s.enable else "Disabled",
                ap + "SSIDReference": f"Device.WiFi.SSID.{k}",
                ap + "SSIDAdvertisementEnabled": True,
                ap + "IsolationEnable": s.guest,  # a guest network keeps its clients apart: what marks it in TR-181
                ap + "AssociatedDeviceNumberOfEntries": assoc,
                ap + "Security.ModesSupported": model.security_modes,
                ap + "Security.ModeEnabled": s.security_mode or model.security_mode,
                ap + "Security.KeyPassphrase": ident.guest_passphrase if s.guest else ident.passphrase,
                ap + "Security.PreSharedKey": "",
            }
        )
    nb = "Device.WiFi.NeighboringWiFiDiagnostic."
    t.update({nb + "DiagnosticsState": "Complete", nb + "ResultNumberOfEntries": 0})
    bands = [r.band for r in model.radios]
    for n, entry in enumerate(ident.neighbors, start=1):
        rp = f"{nb}Result.{n}."
        radio_idx = bands.index(entry.band) + 1 if entry.band in bands else 1
        t.update(
            {
                rp + "Radio": f"Device.WiFi.Radio.{radio_idx}",
                rp + "SSID": entry.ssid,
                rp + "BSSID": entry.bssid,
                rp + "Channel": entry.channel,
                rp + "SignalStrength": entry.rssi,
                rp + "OperatingFrequencyBand": entry.band,
            }
        )
    dns = "Device.DNS.Client."
    t.update({dns + "Enable": True, dns + "Status": "Enabled", dns + "ServerNumberOfEntries": 0})
    for n, server in enumerate(ident.dns, start=1):
        sp = f"{dns}Server.{n}."
        t.update(
            {
                sp + "Enable": True,
                sp + "Status": "Enabled",
                sp + "DNSServer": server,
                sp + "Type": "DHCPv4",
                sp + "Interface": "Device.IP.Interface.1",
            }
        )
    ip = "Device.IP."
    t[ip + "InterfaceNumberOfEntries"] = 0
    lower = "Device.Optical.Interface.1" if model.access == "ftth" else "Device.Ethernet.Link.1"
    t.update(
        {
            ip + "Interface.1.Enable": True,
            ip + "Interface.1.Status": "Up",
            ip + "Interface.1.Name": "wan",
            ip + "Interface.1.LowerLayers": lower,
            ip + "Interface.1.IPv4Address.1.Enable": True,
            ip + "Interface.1.IPv4Address.1.Status": "Enabled",
            ip + "Interface.1.IPv4Address.1.IPAddress": ident.wan_ip,
            ip + "Interface.1.IPv4Address.1.SubnetMask": ident.wan_mask,
            ip + "Interface.1.IPv4Address.1.AddressingType": "DHCP",
        }
    )
    t.update(
        {
            ip + "Interface.2.Enable": True,
            ip + "Interface.2.Status": "Up",
            ip + "Interface.2.Name": "br-lan",
            ip + "Interface.2.LowerLayers": "Device.Bridging.Bridge.1.Port.1",
            ip + "Interface.2.IPv4Address.1.Enable": True,
            ip + "Interface.2.IPv4Address.1.Status": "Enabled",
            ip + "Interface.2.IPv4Address.1.IPAddress": model.lan.ip,
            ip + "Interface.2.IPv4Address.1.SubnetMask": "255.255.255.0",
            ip + "Interface.2.IPv4Address.1.AddressingType": "Static",
        }
    )
    pg = "Device.IP.Diagnostics.IPPing."
    t.update(
        {
            pg + "DiagnosticsState": "None",
            pg + "Interface": "",
            pg + "ProtocolVersion": "Any",
            pg + "Host": "",
            pg + "NumberOfRepetitions": 3,
            pg + "Timeout": 1000,
            pg + "DataBlockSize": 64,
            pg + "DSCP": 0,
            pg + "SuccessCount": 0,
            pg + "FailureCount": 0,
            pg + "AverageResponseTime": 0,
            pg + "MinimumResponseTime": 0,
            pg + "MaximumResponseTime": 0,
        }
    )
    t.update(_diagnostics_defaults())
    _tr181_hosts(model, ident, t)
    pool = "Device.DHCPv4.Server.Pool.1."
    t.update(
        {
            pool + "Enable": True,
            pool + "MinAddress": model.lan.min,
            pool + "MaxAddress": model.lan.max,
            pool + "DNSServers": model.lan.ip,
            pool + "LeaseTime": 86400,
        }
    )
    return t


def _tr181_hosts(model: CatalogModel, ident: Identity, t: dict[str, Scalar]) -> None:
    """``Device.Hosts.Host.{i}``: a Wi-Fi host's Layer1Interface is the SSID it is associated with (TR-181), the
    household network on its band — what tells a client's band on a real CPE; a wired host's is empty."""
    t["Device.Hosts.HostNumberOfEntries"] = 0
    ssid_of_band: dict[str, str] = {}
    for k, s in enumerate(model.ssids, start=1):
        if not s.guest:
            ssid_of_band.setdefault(model.band_of_radio(s.radio), f"Device.WiFi.SSID.{k}")
    for n, h in enumerate(ident.hosts, start=1):
        hp = f"Device.Hosts.Host.{n}."
        t.update(
            {
                hp + "PhysAddress": h.mac,
                hp + "IPAddress": h.ip,
                hp + "HostName": h.name,
                hp + "Active": h.active,
                hp + "InterfaceType": "Wi-Fi" if h.wifi else "Ethernet",
                hp + "Layer1Interface": ssid_of_band.get(h.band, "") if h.wifi else "",
            }
        )


def _build_tr098(model: CatalogModel, region: str, ident: Identity) -> dict[str, Scalar]:
    igd = "InternetGatewayDevice."
    t: dict[str, Scalar] = {}
    reg = regulatory(region)
    t[igd + "DeviceSummary"] = (
        f"InternetGatewayDevice:{model.data_model}[](Baseline:1, EthernetLAN:1, WiFiLAN:1, IPPing:1)"
    )
    t[igd + "LANDeviceNumberOfEntries"] = 0
    t[igd + "WANDeviceNumberOfEntries"] = 0
    di = igd + "DeviceInfo."
    t.update(
        {
            di + "Manufacturer": model.vendor,
            di + "ManufacturerOUI": model.oui,
            di + "ModelName": model.model,
            di + "ProductClass": model.product_class,
            di + "SerialNumber": ident.serial,
            di + "HardwareVersion": model.hardware,
            di + "SoftwareVersion": model.firmware,
            di + "SpecVersion": "1.0",
            di + "ProvisioningCode": model.provisioning_code,
            di + "UpTime": 0,
        }
    )
    ms = igd + "ManagementServer."
    t.update(
        {
            ms + "URL": model.acs_url,
            ms + "Username": f"{model.oui}-{ident.serial}",
            ms + "Password": ident.acs_password,
            ms + "PeriodicInformEnable": True,
            ms + "PeriodicInformInterval": model.periodic_inform_interval,
            ms + "ParameterKey": "",
            ms + "ConnectionRequestURL": f"http://{ident.wan_ip}:7547/{ident.serial}",
            ms + "ConnectionRequestUsername": ident.serial,
            ms + "ConnectionRequestPassword": ident.cr_password,
        }
    )
    lan = igd + "LANDevice.1."
    t[lan + "LANWLANConfigurationNumberOfEntries"] = 0
    lh = lan + "LANHostConfigManagement."
    t.update(
        {
            lh + "DHCPServerEnable": True,
            lh + "MinAddress": model.lan.min,
            lh + "MaxAddress": model.lan.max,
            lh + "SubnetMask": "255.255.255.0",
            lh + "DNSServers": model.lan.ip,
            lh + "DHCPLeaseTime": 86400,
        }
    )
    wifi_hosts = [h for h in ident.hosts if h.wifi and h.active]
    for w in model.wlans:
        radio = model.radios[w.radio - 1]
        channels = possible_channels(radio, region)
        p = f"{lan}WLANConfiguration.{w.index}."
        possible = _compress(channels) if radio.possible_channels_style == "range" else ",".join(map(str, channels))
        name = ident.ssid + ("-Guest" if w.guest else model.band_suffix.get(radio.band, ""))
        assoc = 0 if w.guest else sum(1 for h in wifi_hosts if h.band == radio.band)
        psk = ident.guest_passphrase if w.guest else ident.passphrase
        t.update(
            {
                p + "Enable": w.enable,
                p + "Status": "Up" if w.enable else "Disabled",
                p + "Name": f"wlan{w.index}",
                p + "BSSID": ident.bssid(w.index),
                p + "Channel": _channel_value(radio, channels),
                p + "AutoChannelEnable": radio.auto_channel,
                p + "SSID": name,
                p + "BeaconType": "11i",
                p + "Standard": radio.standard,
                p + "PossibleChannels": possible,
                p + "BasicEncryptionModes": "None",
                p + "BasicAuthenticationMode": "None",
                p + "WPAEncryptionModes": "AESEncryption",
                p + "WPAAuthenticationMode": "PSKAuthentication",
                p + "IEEE11iEncryptionModes": "AESEncryption",
                p + "IEEE11iAuthenticationMode": "PSKAuthentication",
                p + "RadioEnabled": True,
                p + "SSIDAdvertisementEnabled": True,
                p + "TransmitPowerSupported": radio.tx_power_supported,
                p + "TransmitPower": radio.tx_power,
                p + "RegulatoryDomain": reg.domain,
                p + "KeyPassphrase": psk,
                p + "TotalAssociations": assoc,
                p + "PreSharedKey.1.KeyPassphrase": psk,
                p + "PreSharedKey.1.PreSharedKey": "",
            }
        )
        _vendor_values(model, "InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.", p, radio, t)
    t[lan + "Hosts.HostNumberOfEntries"] = 0
    for n, h in enumerate(ident.hosts, start=1):
        hp = f"{lan}Hosts.Host.{n}."
        t.update(
            {
                hp + "IPAddress": h.ip,
                hp + "MACAddress": h.mac,
                hp + "HostName": h.name,
                hp + "Active": h.active,
                hp + "InterfaceType": "802.11" if h.wifi else "Ethernet",
            }
        )
    wan = igd + "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1."
    t.update(
        {
            wan + "Enable": True,
            wan + "ConnectionStatus": "Connected",
            wan + "Name": "INTERNET_R_VID_100",
            wan + "AddressingType": "DHCP",
            wan + "ExternalIPAddress": ident.wan_ip,
            wan + "SubnetMask": ident.wan_mask,
            wan + "DefaultGateway": ident.wan_gateway,
            wan + "DNSEnabled": True,
            wan + "DNSServers": ",".join(ident.dns),
        }
    )
    pg = igd + "IPPingDiagnostics."
    t.update(
        {
            pg + "DiagnosticsState": "None",
            pg + "Interface": "",
            pg + "Host": "",
            pg + "NumberOfRepetitions": 3,
            pg + "Timeout": 1000,
            pg + "DataBlockSize": 64,
            pg + "DSCP": 0,
            pg + "SuccessCount": 0,
            pg + "FailureCount": 0,
            pg + "AverageResponseTime": 0,
            pg + "MinimumResponseTime": 0,
            pg + "MaximumResponseTime": 0,
        }
    )
    return t


NEVER = "0001-01-01T00:00:00Z"  # TR-106's "unknown time" for a dateTime not yet measured


def _diagnostics_defaults() -> dict[str, Scalar]:
    """TraceRoute and TR-143 download/upload diagnostics at rest (no test run yet). Every TR-181
    model gets them here; a firmware without them lists the objects as ``unsupported`` and
    ``build_factory_tree`` drops them with the rest of what its schema lacks."""
    tr = "Device.IP.Diagnostics.TraceRoute."
    t: dict[str, Scalar] = {
        tr + "DiagnosticsState": "None", tr + "Interface": "", tr + "ProtocolVersion": "Any", tr + "Host": "",
        tr + "NumberOfTries": 3, tr + "Timeout": 5000, tr + "DataBlockSize": 38, tr + "DSCP": 0,
        tr + "MaxHopCount": 30, tr + "ResponseTime": 0, tr + "RouteHopsNumberOfEntries": 0,
    }
    for base, url, transports, counters in (
        ("Device.IP.Diagnostics.DownloadDiagnostics.", "DownloadURL", "DownloadTransports",
         ("TestBytesReceived", "TotalBytesReceived")),
        ("Device.IP.Diagnostics.UploadDiagnostics.", "UploadURL", "UploadTransports", ("TotalBytesSent",)),
    ):
        t.update({base + "DiagnosticsState": "None", base + "Interface": "", base + url: "",
                  base + transports: "HTTP", base + "DSCP": 0, base + "EthernetPriority": 0})
        t.update({base + k: NEVER for k in ("ROMTime", "BOMTime", "EOMTime", "TCPOpenRequestTime",
                                            "TCPOpenResponseTime")})
        t.update({base + k: 0 for k in counters})
    t["Device.IP.Diagnostics.UploadDiagnostics.TestFileLength"] = 0
    return t


def fill_counts(tree: dict[str, Scalar], model: CatalogModel) -> None:
    """Set every ``…NumberOfEntries`` to the number of rows the tree really holds."""
    schema = model.param_schema()
    for path in [p for p in tree if p.endswith("NumberOfEntries")]:
        spec = schema.get(generic_path(path))
        if spec is None or spec.count is None:
            continue
        table = spec.count
        if "{i}" in table:
            concrete = [seg for seg in path.split(".") if seg.isdigit()]
            for n in concrete:
                table = table.replace("{i}", n, 1)
        rows = {p[len(table) :].split(".", 1)[0] for p in tree if p.startswith(table)}
        tree[path] = sum(1 for r in rows if r.isdigit())


_PSK_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _token(digest: bytes, length: int) -> str:
    return "".join(_PSK_ALPHABET[b % len(_PSK_ALPHABET)] for b in digest[:length])


def default_identity(
    model: CatalogModel,
    serial: str,
    *,
    hosts: list[HostEntry] | None = None,
    neighbors: list[NeighborEntry] | None = None,
    dns: list[str] | None = None,
) -> Identity:
    """A deterministic identity for ``serial``: same serial, same MACs, label SSID and passphrase."""
    import hashlib  # here: reading a stored device never derives an identity

    h = hashlib.sha256(f"{model.oui}:{serial}".encode()).digest()
    oui = model.oui.upper()
    mac = f"{oui[0:2]}:{oui[2:4]}:{oui[4:6]}:{h[0]:02X}:{h[1]:02X}:{h[2] & 0xF0:02X}"
    wan_ip = f"100.{64 + h[3] % 64}.{h[4]}.{2 + h[5] % 250}"
    base = ".".join(wan_ip.split(".")[:3])
    if hosts is None:
        lan3 = ".".join(model.lan.ip.split(".")[:3])
        hosts = [
            HostEntry(
                mac=mac_add("5C:CF:7F:00:00:00", h[6] * 256 + h[7]),
                ip=f"{lan3}.{20 + h[8] % 50}",
                name="laptop",
                wifi=True,
                band="5GHz",
            ),
            HostEntry(
                mac=mac_add("B8:27:EB:00:00:00", h[9] * 256 + h[10]),
                ip=f"{lan3}.{80 + h[11] % 50}",
                name="tv",
                wifi=False,
                band="",
            ),
        ]
    return Identity(
        serial=serial,
        mac=mac,
        wan_ip=wan_ip,
        wan_gateway=f"{base}.1",
        dns=list(dns) if dns is not None else ["192.0.2.53", "198.51.100.53"],
        ssid=label_ssid(model, serial),
        passphrase=_token(h[12:], 12),
        guest_passphrase=_token(h[20:], 10),
        acs_password=_token(h[5:], 16),
        cr_password=_token(h[14:], 16),
        hosts=hosts,
        neighbors=list(neighbors or []),
    )
