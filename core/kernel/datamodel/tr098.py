"""TR-181 (``Device.``) ↔ TR-098 (``InternetGatewayDevice.``) translation for one device.

Why this module exists: proposals, policy and approvers speak one vocabulary (TR-181), but a
large part of any real fleet runs TR-098 firmware. A path cannot be converted by rewriting its
prefix: instance numbers differ between the trees, one TR-181 radio setting lives on *every*
``WLANConfiguration`` that shares the radio, a TR-181 table row can be one item of a TR-098
comma-separated list, and some TR-181 parameters have no TR-098 form at all. So translation
needs the device's own instance layout (:class:`InstanceMap`, built from a read of its tree) and
says plainly (:class:`Untranslatable`) when a path cannot be carried over.

The mapping is the tables below, one entry per TR-181 setting with its TR-098 form from the Broadband
Forum data models (``core/kernel/datamodel``); the ``# row N`` notes number the entries, and
``tests/unit/test_translate.py`` checks them. Every executor that
talks to TR-098 firmware (the simulator, GenieACS) uses this module; it does no I/O.

Why in the kernel's data model: it is knowledge of the two Broadband Forum trees, not
of any protocol, and validation checks a proposal against TR-098 (:func:`tr098_patterns`) before
any device is read, so the core services need it as much as the adapters do; here both reach it
without importing each other. How a TR-098 tree reads as TR-181 (the read direction's view) is
:mod:`core.kernel.datamodel.tr098_view`. ``executors.translate`` re-exports both for the adapters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from core.kernel.values import parse_wire_int

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from core.kernel.models import Scalar

IGD = "InternetGatewayDevice."
TR181 = "Device."

_WLAN_RE = re.compile(r"^InternetGatewayDevice\.LANDevice\.(\d+)\.WLANConfiguration\.(\d+)\.(.+)$")
_WAN_RE = re.compile(
    r"^InternetGatewayDevice\.WANDevice\.(\d+)\.WANConnectionDevice\.(\d+)\.WAN(IP|PPP)Connection\.(\d+)\.(.+)$"
)
_LHCM_RE = re.compile(r"^InternetGatewayDevice\.LANDevice\.(\d+)\.LANHostConfigManagement\.([A-Za-z]\w*)$")
_HOST98_RE = re.compile(r"^InternetGatewayDevice\.LANDevice\.(\d+)\.Hosts\.Host\.(\d+)\.([A-Za-z]\w*)$")

_RADIO_RE = re.compile(r"^Device\.WiFi\.Radio\.(\d+)\.(.+)$")
_SSID_RE = re.compile(r"^Device\.WiFi\.SSID\.(\d+)\.(.+)$")
_AP_RE = re.compile(r"^Device\.WiFi\.AccessPoint\.(\d+)\.(.+)$")
_IPIF_RE = re.compile(r"^Device\.IP\.Interface\.(\d+)\.(.+)$")
_PPPIF_RE = re.compile(r"^Device\.PPP\.Interface\.(\d+)\.(.+)$")
_DNS_RE = re.compile(r"^Device\.DNS\.Client\.Server\.(\d+)\.([A-Za-z]\w*)$")
_POOL_RE = re.compile(r"^Device\.DHCPv4\.Server\.Pool\.(\d+)\.([A-Za-z]\w*)$")
_HOST181_RE = re.compile(r"^Device\.Hosts\.Host\.(\d+)\.([A-Za-z]\w*)$")

# ----------------------------------------------------------------------------- the mapping tables

#: TR-181 ``Radio.{i}.<leaf>`` → ``WLANConfiguration.{i}.<leaf>`` (rows 1, 2, 3, 4, 7, 8, 9).
RADIO_LEAVES: dict[str, str] = {
    "Channel": "Channel",  # row 1
    "AutoChannelEnable": "AutoChannelEnable",  # row 2
    "PossibleChannels": "PossibleChannels",  # row 3
    "Enable": "RadioEnabled",  # row 4
    "OperatingStandards": "Standard",  # row 7 (read-only in TR-098)
    "TransmitPower": "TransmitPower",  # row 8
    "TransmitPowerSupported": "TransmitPowerSupported",  # row 8
    "RegulatoryDomain": "RegulatoryDomain",  # row 9
    "ChannelsInUse": "ChannelsInUse",
}
#: TR-181 radio leaves whose TR-098 counterpart cannot be written.
RADIO_READ_ONLY: dict[str, str] = {
    "OperatingStandards": "cannot be set through TR-098: WLANConfiguration.Standard is read-only "
    "(the 802.11 mode has no writable standard parameter)",
}
#: TR-181 radio leaves with no standard TR-098 parameter (rows 5, 6), unless a vendor override exists.
RADIO_UNMAPPED: dict[str, str] = {
    "OperatingFrequencyBand": "has no TR-098 standard parameter (IGD:1.14 has no band; TR-098 firmware "
    "uses a vendor X_ parameter or infers it from Standard/Channel)",
    "OperatingChannelBandwidth": "has no TR-098 standard parameter (bandwidth is a vendor X_ extension "
    "on TR-098 firmware)",
    "SupportedOperatingChannelBandwidths": "has no TR-098 standard parameter",
    "SupportedFrequencyBands": "has no TR-098 standard parameter",
    "SupportedStandards": "has no TR-098 standard parameter",
    "IEEE80211hEnabled": "has no TR-098 standard parameter",
}
#: TR-181 ``SSID.{i}.<leaf>`` → ``WLANConfiguration.{i}.<leaf>`` (rows 10, 11).
SSID_LEAVES: dict[str, str] = {
    "SSID": "SSID",
    "Enable": "Enable",
    "BSSID": "BSSID",
    "Status": "Status",
    "Name": "Name",
}
#: TR-181 ``AccessPoint.{i}.<leaf>`` → WLANConfiguration leaf (rows 11, 12, 13, 14, 15, 16).
AP_LEAVES: dict[str, str] = {
    "Enable": "Enable",  # row 11
    "SSIDAdvertisementEnabled": "SSIDAdvertisementEnabled",  # row 12
    "Security.KeyPassphrase": "PreSharedKey.1.KeyPassphrase",  # row 13 (mirrored by KeyPassphrase)
    "Security.PreSharedKey": "PreSharedKey.1.PreSharedKey",  # row 14
    "Security.ModeEnabled": "BeaconType",  # row 15 (value-level, see below)
    "AssociatedDeviceNumberOfEntries": "TotalAssociations",  # row 16
}
_KEY_MIRROR = "KeyPassphrase"
#: ``Device.IP.Interface.{wan}.<leaf>`` → ``WANIPConnection.<leaf>`` (rows 17, 20).
WAN_IP_LEAVES: dict[str, str] = {
    "Enable": "Enable",
    "Status": "ConnectionStatus",  # row 20 (value sets differ)
    "IPv4Address.1.IPAddress": "ExternalIPAddress",  # row 17
    "IPv4Address.1.SubnetMask": "SubnetMask",  # row 18
    "IPv4Address.1.AddressingType": "AddressingType",
}
#: ``Device.PPP.Interface.1.<leaf>`` → ``WANPPPConnection.<leaf>`` (rows 20, 21).
WAN_PPP_LEAVES: dict[str, str] = {
    "ConnectionStatus": "ConnectionStatus",
    "Username": "Username",
    "Password": "Password",
    "Enable": "Enable",
}
#: ``Device.DHCPv4.Server.Pool.{i}.<leaf>`` → ``LANHostConfigManagement.<leaf>`` (rows 23, 24).
POOL_LEAVES: dict[str, str] = {
    "Enable": "DHCPServerEnable",
    "MinAddress": "MinAddress",
    "MaxAddress": "MaxAddress",
    "DNSServers": "DNSServers",
    "LeaseTime": "DHCPLeaseTime",
    "SubnetMask": "SubnetMask",
}
#: ``Device.Hosts.Host.{i}.<leaf>`` → ``LANDevice.{i}.Hosts.Host.{i}.<leaf>`` (row 31).
HOST_LEAVES: dict[str, str] = {
    "PhysAddress": "MACAddress",
    "IPAddress": "IPAddress",
    "HostName": "HostName",
    "Active": "Active",
    "InterfaceType": "InterfaceType",
}
#: Objects whose parameter names are identical in both trees (rows 26-30).
SAME_NAME_OBJECTS: dict[str, str] = {
    "Device.DeviceInfo.": "InternetGatewayDevice.DeviceInfo.",  # rows 26, 27
    "Device.ManagementServer.": "InternetGatewayDevice.ManagementServer.",  # rows 28, 29
    "Device.IP.Diagnostics.IPPing.": "InternetGatewayDevice.IPPingDiagnostics.",  # row 30
}
#: TR-181-only names inside those objects (row 30: TR-181 adds these to IPPing).
SAME_NAME_EXCEPTIONS: dict[str, str] = {
    "Device.IP.Diagnostics.IPPing.ProtocolVersion": "is TR-181 only (TR-098 IPPingDiagnostics is IPv4)",
    "Device.IP.Diagnostics.IPPing.IPAddressUsed": "is TR-181 only",
    "Device.IP.Diagnostics.IPPing.AverageResponseTimeDetailed": "is TR-181 only (µs results)",
    "Device.IP.Diagnostics.IPPing.MinimumResponseTimeDetailed": "is TR-181 only (µs results)",
    "Device.IP.Diagnostics.IPPing.MaximumResponseTimeDetailed": "is TR-181 only (µs results)",
    "Device.ManagementServer.AliasBasedAddressing": "has no writable TR-098 twin on this path",
}

#: Per-(vendor, model) vendor parameters: TR-181 generic path → WLANConfiguration-relative leaf.
#: Only radio- and access-point-level overrides are needed by the fleet we know.
VENDOR_OVERRIDES: dict[tuple[str, str], dict[str, str]] = {
    ("Sinotel", "HG8020-L"): {
        "Device.WiFi.Radio.{i}.OperatingFrequencyBand": "X_SINOTEL_FrequencyBand",
        "Device.WiFi.Radio.{i}.OperatingChannelBandwidth": "X_SINOTEL_ChannelBandwidth",
    },
}

# Row 15: TR-181 ModeEnabled ↔ the TR-098 BeaconType family (personal modes and WPA2 enterprise).
_MODE_TO_TR098: dict[str, dict[str, str]] = {
    "None": {"BeaconType": "Basic", "BasicEncryptionModes": "None", "BasicAuthenticationMode": "None"},
    "WEP-64": {"BeaconType": "Basic", "BasicEncryptionModes": "WEPEncryption"},
    "WEP-128": {"BeaconType": "Basic", "BasicEncryptionModes": "WEPEncryption"},
    "WPA-Personal": {
        "BeaconType": "WPA",
        "WPAAuthenticationMode": "PSKAuthentication",
        "WPAEncryptionModes": "TKIPEncryption",
    },
    "WPA2-Personal": {
        "BeaconType": "11i",
        "IEEE11iAuthenticationMode": "PSKAuthentication",
        "IEEE11iEncryptionModes": "AESEncryption",
    },
    "WPA-WPA2-Personal": {
        "BeaconType": "WPAand11i",
        "WPAAuthenticationMode": "PSKAuthentication",
        "WPAEncryptionModes": "TKIPandAESEncryption",
        "IEEE11iAuthenticationMode": "PSKAuthentication",
        "IEEE11iEncryptionModes": "TKIPandAESEncryption",
    },
    "WPA2-Enterprise": {
        "BeaconType": "11i",
        "IEEE11iAuthenticationMode": "EAPAuthentication",
        "IEEE11iEncryptionModes": "AESEncryption",
    },
}
_TR098_MODES_SUPPORTED = "None,WPA-Personal,WPA2-Personal,WPA-WPA2-Personal,WPA2-Enterprise"

_WLAN_STATUS_TO_181 = {"Up": "Up", "Disabled": "Down", "Error": "Error"}
_CONN_STATUS_TO_181 = {
    "Connected": "Up",
    "Connecting": "Dormant",
    "Unconfigured": "Down",
    "Disconnected": "Down",
    "PendingDisconnect": "Up",
    "Disconnecting": "Down",
    "Disconneting": "Down",
}
_IFTYPE_TO_181 = {"802.11": "Wi-Fi", "HomePNA": "HPNA", "USB": "Other"}

BAND_ORDER = ("2.4GHz", "5GHz", "6GHz")


class Untranslatable(ValueError):
    """A TR-181 path (or value) with no form on this TR-098 device; the message says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


# ----------------------------------------------------------------------------- the instance map


@dataclass
class WanRef:
    """The TR-098 WAN connection that stands for TR-181's WAN ``IP.Interface``."""

    wan_device: int = 1
    conn_device: int = 1
    kind: Literal["ip", "ppp"] = "ip"
    index: int = 1

    @property
    def prefix(self) -> str:
        obj = "WANIPConnection" if self.kind == "ip" else "WANPPPConnection"
        return f"{IGD}WANDevice.{self.wan_device}.WANConnectionDevice.{self.conn_device}.{obj}.{self.index}."


@dataclass
class InstanceMap:
    """How one TR-098 device's instances line up with TR-181 rows.

    ``radios``: TR-181 radio index → every ``(LANDevice i, WLANConfiguration j)`` on that radio
    (radios are numbered by band: 2.4 GHz, then 5 GHz, then 6 GHz). ``ssids``: TR-181 SSID and
    AccessPoint index → the one WLANConfiguration that is that SSID/AP (ordered by (i, j)).

    A dataclass, with pydantic's ``model_validate`` / ``model_dump`` / ``model_dump_json`` for
    the callers that store or exchange a map (a discovery's ``instance_map``): the simulator's
    live read builds maps in a CLI process that must not pay for importing pydantic,
    so pydantic is imported on the first (de)serialisation only, with the same result as the
    ``BaseModel`` this class was.
    """

    radios: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    radio_bands: dict[int, str] = field(default_factory=dict)
    ssids: dict[int, tuple[int, int]] = field(default_factory=dict)
    wan: WanRef | None = None
    lan_device: int = 1
    wan_ip_interface: int = 1
    lan_ip_interface: int = 2
    vendor: str = ""
    model: str = ""

    def radio_of(self, lan: int, wlan: int) -> int | None:
        for r, refs in self.radios.items():
            if (lan, wlan) in refs:
                return r
        return None

    def ssid_of(self, lan: int, wlan: int) -> int | None:
        for k, ref in self.ssids.items():
            if ref == (lan, wlan):
                return k
        return None

    def overrides(self) -> dict[str, str]:
        return VENDOR_OVERRIDES.get((self.vendor, self.model), {})

    @classmethod
    def model_validate(cls, obj: Any) -> InstanceMap:
        """A map from its dumped form (or a map), validated and coerced as pydantic does."""
        return _adapter().validate_python(obj)

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        dumped: dict[str, Any] = _adapter().dump_python(self, mode=mode)
        return dumped

    def model_dump_json(self) -> str:
        return _adapter().dump_json(self).decode()


@cache
def _adapter() -> TypeAdapter[InstanceMap]:
    from pydantic import TypeAdapter

    return TypeAdapter(InstanceMap)


def wlan_prefix(lan: int, wlan: int) -> str:
    return f"{IGD}LANDevice.{lan}.WLANConfiguration.{wlan}."


def _as_int(value: object) -> int | None:
    """A channel number read from a device (blanks tolerated, as the wire allows), else ``None``."""
    return parse_wire_int(value)


def _max_channel(possible: object) -> int | None:
    best: int | None = None
    for item in str(possible or "").split(","):
        for end in item.strip().split("-"):
            n = _as_int(end)
            if n is not None and (best is None or n > best):
                best = n
    return best


def _band_of(leaves: Mapping[str, Scalar]) -> str:
    """Vendor band param > Channel > 14 > Standard a > PossibleChannels above 14 > 2.4 GHz."""
    for leaf, value in leaves.items():
        if (leaf.startswith("X_") and leaf.endswith("FrequencyBand")) or leaf == "OperatingFrequencyBand":
            text = str(value).replace(" ", "")
            for band in ("2.4GHz", "5GHz", "6GHz"):
                if text.lower().startswith(band.lower()[:-3]):
                    return band
    channel = _as_int(leaves.get("Channel"))
    if channel is not None and channel > 14:
        return "5GHz"
    standard = str(leaves.get("Standard", "")).strip()
    if standard in ("a", "ac"):
        return "5GHz"
    top = _max_channel(leaves.get("PossibleChannels"))
    if top is not None and top > 14:
        return "5GHz"
    return "2.4GHz"


def instance_map_from_params(params: Mapping[str, Scalar], *, vendor: str = "", model: str = "") -> InstanceMap:
    """Build the instance map from a GetParameterValues of the device's tree (or a subtree
    holding ``LANDevice.`` and ``WANDevice.``). WLANConfigurations are grouped into radios by band."""
    wlans: dict[tuple[int, int], dict[str, Scalar]] = {}
    wans: dict[tuple[int, int, str, int], dict[str, Scalar]] = {}
    lans: set[int] = set()
    for path, value in params.items():
        m = _WLAN_RE.match(path)
        if m:
            wlans.setdefault((int(m[1]), int(m[2])), {})[m[3]] = value
            lans.add(int(m[1]))
            continue
        m = _WAN_RE.match(path)
        if m:
            wans.setdefault((int(m[1]), int(m[2]), m[3].lower(), int(m[4])), {})[m[5]] = value
            continue
        if path.startswith(f"{IGD}LANDevice."):
            n = _as_int(path[len(f"{IGD}LANDevice.") :].split(".", 1)[0])
            if n is not None:
                lans.add(n)
    by_band: dict[str, list[tuple[int, int]]] = {}
    for ref in sorted(wlans):
        by_band.setdefault(_band_of(wlans[ref]), []).append(ref)
    radios: dict[int, list[tuple[int, int]]] = {}
    bands: dict[int, str] = {}
    for band in BAND_ORDER:
        if band in by_band:
            r = len(radios) + 1
            radios[r] = by_band[band]
            bands[r] = band
    ssids = {k: ref for k, ref in enumerate(sorted(wlans), start=1)}
    wan: WanRef | None = None
    if wans:

        def rank(key: tuple[int, int, str, int]) -> tuple[int, tuple[int, int, str, int]]:
            connected = str(wans[key].get("ConnectionStatus", "")) == "Connected"
            return (0 if connected else 1, key)

        w, c, kind, i = min(wans, key=rank)
        wan = WanRef(wan_device=w, conn_device=c, kind="ip" if kind == "ip" else "ppp", index=i)
    return InstanceMap(
        radios=radios,
        radio_bands=bands,
        ssids=ssids,
        wan=wan,
        lan_device=min(lans) if lans else 1,
        vendor=vendor,
        model=model,
    )


# ----------------------------------------------------------------------------- paths: TR-181 → TR-098


def _need_wan(path: str, imap: InstanceMap) -> WanRef:
    if imap.wan is None:
        raise Untranslatable(path, "cannot be translated: the device reports no WANIPConnection/WANPPPConnection")
    return imap.wan


def to_device_paths(tr181_path: str, imap: InstanceMap) -> list[str]:
    """The TR-098 path(s) that carry ``tr181_path`` on this device.

    Radio-level settings return every WLANConfiguration on the radio: a Set must write all of
    them (the mapping above). Reads use the first. Raises :class:`Untranslatable` with the reason.
    """
    path = tr181_path
    if not path.startswith(TR181):
        raise Untranslatable(path, "is not a TR-181 Device. path")
    overrides = imap.overrides()

    m = _RADIO_RE.match(path)
    if m:
        r, leaf = int(m[1]), m[2]
        refs = imap.radios.get(r)
        if not refs:
            raise Untranslatable(path, f"cannot be translated: the device has no radio {r}")
        generic = f"Device.WiFi.Radio.{{i}}.{leaf}"
        leaf98 = overrides.get(generic) or RADIO_LEAVES.get(leaf)
        if leaf98 is None:
            raise Untranslatable(path, RADIO_UNMAPPED.get(leaf, "has no TR-098 mapping"))
        return [wlan_prefix(i, j) + leaf98 for i, j in refs]

    m = _SSID_RE.match(path)
    if m:
        k, leaf = int(m[1]), m[2]
        ref = imap.ssids.get(k)
        if ref is None:
            raise Untranslatable(path, f"cannot be translated: the device has no SSID {k}")
        leaf98 = overrides.get(f"Device.WiFi.SSID.{{i}}.{leaf}") or SSID_LEAVES.get(leaf)
        if leaf98 is None:
            raise Untranslatable(path, "has no TR-098 mapping")
        return [wlan_prefix(*ref) + leaf98]

    m = _AP_RE.match(path)
    if m:
        k, leaf = int(m[1]), m[2]
        ref = imap.ssids.get(k)
        if ref is None:
            raise Untranslatable(path, f"cannot be translated: the device has no access point {k}")
        leaf98 = overrides.get(f"Device.WiFi.AccessPoint.{{i}}.{leaf}") or AP_LEAVES.get(leaf)
        if leaf98 is None:
            raise Untranslatable(path, "has no TR-098 mapping")
        out = [wlan_prefix(*ref) + leaf98]
        if leaf == "Security.KeyPassphrase":
            out.append(wlan_prefix(*ref) + _KEY_MIRROR)
        return out

    m = _IPIF_RE.match(path)
    if m:
        n, leaf = int(m[1]), m[2]
        if n != imap.wan_ip_interface:
            raise Untranslatable(
                path, f"has no TR-098 mapping (only the WAN IP.Interface {imap.wan_ip_interface} is mapped)"
            )
        wan = _need_wan(path, imap)
        leaf98 = WAN_IP_LEAVES.get(leaf)
        if leaf98 is None:
            raise Untranslatable(path, "has no TR-098 mapping")
        return [wan.prefix + leaf98]

    m = _PPPIF_RE.match(path)
    if m:
        wan = _need_wan(path, imap)
        leaf98 = WAN_PPP_LEAVES.get(m[2])
        if wan.kind != "ppp" or leaf98 is None or int(m[1]) != 1:
            raise Untranslatable(path, "has no TR-098 mapping on this device (no WANPPPConnection)")
        return [wan.prefix + leaf98]

    m = _DNS_RE.match(path)
    if m:
        wan = _need_wan(path, imap)
        if m[2] != "DNSServer":
            raise Untranslatable(
                path,
                "has no TR-098 form: TR-098 keeps WAN DNS servers as one comma-separated DNSServers list",
            )
        return [wan.prefix + "DNSServers"]

    m = _POOL_RE.match(path)
    if m:
        leaf98 = POOL_LEAVES.get(m[2])
        if leaf98 is None:
            raise Untranslatable(path, "has no TR-098 mapping")
        return [f"{IGD}LANDevice.{int(m[1])}.LANHostConfigManagement.{leaf98}"]

    m = _HOST181_RE.match(path)
    if m:
        leaf98 = HOST_LEAVES.get(m[2])
        if leaf98 is None:
            raise Untranslatable(path, "has no TR-098 mapping")
        return [f"{IGD}LANDevice.{imap.lan_device}.Hosts.Host.{int(m[1])}.{leaf98}"]

    if path in SAME_NAME_EXCEPTIONS:
        raise Untranslatable(path, SAME_NAME_EXCEPTIONS[path])
    for prefix181, prefix98 in SAME_NAME_OBJECTS.items():
        if path.startswith(prefix181):
            rest = path[len(prefix181) :]
            if "." in rest:
                raise Untranslatable(path, "has no TR-098 mapping (sub-objects differ)")
            return [prefix98 + rest]
    raise Untranslatable(path, "has no TR-098 mapping")


# ----------------------------------------------------------------------------- paths: TR-098 → TR-181


def _reverse(table: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in table.items():
        out.setdefault(v, k)
    return out


_RADIO_REV = _reverse(RADIO_LEAVES)
_SSID_REV = _reverse(SSID_LEAVES)
_AP_REV = {**_reverse(AP_LEAVES), _KEY_MIRROR: "Security.KeyPassphrase"}
_AP_REV.pop("Enable", None)  # WLAN.Enable is reported as SSID.Enable (it is both)
_AP_REV.update(
    {
        "BasicEncryptionModes": "Security.ModeEnabled",
        "WPAEncryptionModes": "Security.ModeEnabled",
        "IEEE11iEncryptionModes": "Security.ModeEnabled",
        "IEEE11iAuthenticationMode": "Security.ModeEnabled",
        "WPAAuthenticationMode": "Security.ModeEnabled",
        "BasicAuthenticationMode": "Security.ModeEnabled",
    }
)
_WAN_IP_REV = _reverse(WAN_IP_LEAVES)
_WAN_PPP_REV = _reverse(WAN_PPP_LEAVES)
_POOL_REV = _reverse(POOL_LEAVES)
_HOST_REV = _reverse(HOST_LEAVES)


def to_tr181(tr098_path: str, imap: InstanceMap) -> str | None:
    """The TR-181 path a TR-098 parameter stands for, or ``None`` when it has none.

    List-to-table mappings return the TR-181 table (``WANIP.DNSServers`` →
    ``Device.DNS.Client.Server.``): each list item is one row.
    """
    path = tr098_path
    m = _WLAN_RE.match(path)
    if m:
        lan, wlan, leaf = int(m[1]), int(m[2]), m[3]
        for generic, vleaf in imap.overrides().items():
            if vleaf == leaf:
                scope, _, rest = generic.partition(".{i}.")
                idx = imap.radio_of(lan, wlan) if scope == "Device.WiFi.Radio" else imap.ssid_of(lan, wlan)
                return f"{scope}.{idx}.{rest}" if idx is not None else None
        if leaf in _RADIO_REV:
            r = imap.radio_of(lan, wlan)
            return f"Device.WiFi.Radio.{r}.{_RADIO_REV[leaf]}" if r is not None else None
        k = imap.ssid_of(lan, wlan)
        if k is None:
            return None
        if leaf in _SSID_REV:
            return f"Device.WiFi.SSID.{k}.{_SSID_REV[leaf]}"
        if leaf in _AP_REV:
            return f"Device.WiFi.AccessPoint.{k}.{_AP_REV[leaf]}"
        return None
    m = _WAN_RE.match(path)
    if m:
        wan = imap.wan
        key = (int(m[1]), int(m[2]), m[3].lower(), int(m[4]))
        if wan is None or key != (wan.wan_device, wan.conn_device, wan.kind, wan.index):
            return None
        leaf = m[5]
        if leaf == "DNSServers":
            return "Device.DNS.Client.Server."
        if wan.kind == "ip" and leaf in _WAN_IP_REV:
            return f"Device.IP.Interface.{imap.wan_ip_interface}.{_WAN_IP_REV[leaf]}"
        if wan.kind == "ppp" and leaf in _WAN_PPP_REV:
            return f"Device.PPP.Interface.1.{_WAN_PPP_REV[leaf]}"
        return None
    m = _LHCM_RE.match(path)
    if m:
        leaf181 = _POOL_REV.get(m[2])
        return f"Device.DHCPv4.Server.Pool.{int(m[1])}.{leaf181}" if leaf181 else None
    m = _HOST98_RE.match(path)
    if m:
        leaf181 = _HOST_REV.get(m[3])
        if int(m[1]) != imap.lan_device or leaf181 is None:
            return None
        return f"Device.Hosts.Host.{int(m[2])}.{leaf181}"
    for prefix181, prefix98 in SAME_NAME_OBJECTS.items():
        if path.startswith(prefix98):
            rest = path[len(prefix98) :]
            candidate = prefix181 + rest
            if "." in rest or candidate in SAME_NAME_EXCEPTIONS or rest == "MinimumResponseTmie":
                return None
            return candidate
    return None


# ----------------------------------------------------------------------------- values


def _split(value: Scalar | None) -> list[str]:
    return [s.strip() for s in str(value or "").split(",") if s.strip()]


def _wan_interface_value(value: Scalar, imap: InstanceMap, path: str) -> Scalar:
    text = str(value).strip().rstrip(".")
    if not text:
        return ""
    if text == f"Device.IP.Interface.{imap.wan_ip_interface}":
        return _need_wan(path, imap).prefix.rstrip(".")
    raise Untranslatable(path, f"value {text!r} has no TR-098 form (only the WAN interface is mapped)")


def value_to_tr098(tr181_path: str, value: Scalar, imap: InstanceMap) -> Scalar:
    """A TR-181 value in the form the TR-098 parameter takes."""
    if tr181_path.endswith(".TransmitPower") and _as_int(value) == -1:
        raise Untranslatable(
            tr181_path,
            "value -1 (auto) has no TR-098 form: WLANConfiguration.TransmitPower is unsignedInt 0-100",
        )
    if tr181_path == "Device.IP.Diagnostics.IPPing.Interface":
        return _wan_interface_value(value, imap, tr181_path)
    return value


def value_to_tr181(tr181_path: str, value: Scalar, imap: InstanceMap) -> Scalar:
    """A TR-098 value in the form the TR-181 parameter takes (read direction)."""
    leaf = tr181_path.rsplit(".", 1)[-1]
    if _SSID_RE.match(tr181_path) and leaf == "Status":
        return _WLAN_STATUS_TO_181.get(str(value), "Unknown")
    if _IPIF_RE.match(tr181_path) and leaf == "Status":
        return _CONN_STATUS_TO_181.get(str(value), "Unknown")
    if _HOST181_RE.match(tr181_path) and leaf == "InterfaceType":
        return _IFTYPE_TO_181.get(str(value), str(value))
    m = _RADIO_RE.match(tr181_path)
    if m and leaf == "OperatingStandards":
        band = imap.radio_bands.get(int(m[1]), "2.4GHz")
        std = str(value)
        return {"g": "b,g", "g-only": "g", "n": "b,g,n" if band == "2.4GHz" else "a,n"}.get(std, std)
    if tr181_path == "Device.IP.Diagnostics.IPPing.Interface":
        text = str(value).strip().rstrip(".")
        if imap.wan is not None and text == imap.wan.prefix.rstrip("."):
            return f"Device.IP.Interface.{imap.wan_ip_interface}"
        return text
    return value


def translate_set(tr181_path: str, value: Scalar, imap: InstanceMap, params: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """Device path → device value writes that carry one TR-181 Set on this TR-098 device.

    ``params`` is the device's current tree (values already written earlier in the same
    SetParameterValues included), needed where a TR-181 row is one item of a TR-098 list.
    """
    m = _DNS_RE.match(tr181_path)
    if m and m[2] == "DNSServer":
        (target,) = to_device_paths(tr181_path, imap)
        items = _split(params.get(target))
        row = int(m[1])
        new = str(value).strip()
        if row <= len(items):
            if new:
                items[row - 1] = new
            else:
                del items[row - 1]
        elif row == len(items) + 1 and new:
            items.append(new)
        else:
            raise Untranslatable(
                tr181_path,
                f"cannot be translated: the WAN DNSServers list holds {len(items)} "
                f"server(s), so row {row} does not exist",
            )
        return {target: ",".join(items)}
    m = _AP_RE.match(tr181_path)
    if m and m[2] == "Security.ModeEnabled":
        ref = imap.ssids.get(int(m[1]))
        if ref is None:
            raise Untranslatable(tr181_path, f"cannot be translated: the device has no access point {m[1]}")
        leaves = _MODE_TO_TR098.get(str(value))
        if leaves is None:
            raise Untranslatable(
                tr181_path,
                f"value {value!r} has no TR-098 equivalent (WPA3, OWE and SAE cannot be expressed with BeaconType)",
            )
        return {wlan_prefix(*ref) + leaf: v for leaf, v in leaves.items()}
    m = _RADIO_RE.match(tr181_path)
    if m and m[2] in RADIO_READ_ONLY:
        raise Untranslatable(tr181_path, RADIO_READ_ONLY[m[2]])
    paths = to_device_paths(tr181_path, imap)
    if m is None and _AP_RE.match(tr181_path) and tr181_path.endswith("Security.KeyPassphrase"):
        present = [p for p in paths if p in params]
        paths = present or paths[:1]
    device_value = value_to_tr098(tr181_path, value, imap)
    return dict.fromkeys(paths, device_value)


def _pattern(path: str) -> str:
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


def tr098_patterns(tr181_path: str, value: Scalar, *, vendor: str = "", model: str = "") -> tuple[list[str], Scalar]:
    """Device-independent form of :func:`translate_set`, for validating a proposal before any
    device is read: the TR-098 ``{i}`` pattern paths a TR-181 Set lands on, and the value the
    primary one takes. Raises :class:`Untranslatable` exactly when a Set on any TR-098 device
    of that vendor/model would. Vendor ``X_`` parameters are omitted from the patterns (they are
    not in the BBF model; the device itself validates them). For a TR-181 table row that is a
    TR-098 list item (DNS servers) the pattern is the list and the value is the one item."""
    imap = InstanceMap(wan=WanRef(), vendor=vendor, model=model)
    for rx, table in ((_RADIO_RE, "radios"), (_SSID_RE, "ssids"), (_AP_RE, "ssids")):
        m = rx.match(tr181_path)
        if m:
            n = int(m[1])
            if table == "radios":
                imap.radios = {n: [(1, 1)]}
                imap.radio_bands = {n: "2.4GHz"}
            else:
                imap.ssids = {n: (1, 1)}
    m = _IPIF_RE.match(tr181_path)
    if m:
        imap.wan_ip_interface = int(m[1])
    m = _DNS_RE.match(tr181_path)
    if m and m[2] == "DNSServer":
        (target,) = to_device_paths(tr181_path, imap)
        return [_pattern(target)], value
    writes = translate_set(tr181_path, value, imap, {})
    if not writes:
        return [], value
    primary = next(iter(writes))
    patterns = [_pattern(p) for p in writes if not p.rsplit(".", 1)[-1].startswith("X_")]
    if _AP_RE.match(tr181_path) and tr181_path.endswith("Security.ModeEnabled"):
        patterns = [p for p in patterns if p.endswith(".BeaconType")]
        primary = next(p for p in writes if p.endswith(".BeaconType"))
    elif tr181_path.endswith("Security.KeyPassphrase"):
        patterns = sorted({_pattern(p) for p in to_device_paths(tr181_path, imap)})
    return patterns, writes[primary]
