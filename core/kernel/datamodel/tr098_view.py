"""A TR-098 (``InternetGatewayDevice.``) tree read as TR-181 (``Device.``): the read direction of
:mod:`core.kernel.datamodel.tr098`.

Why a module of its own: what a read returns — every TR-181 parameter a TR-098 device's tree
carries (:func:`tr181_view`), and how requested paths select from it (:func:`select_view_paths`) —
is built from the same tables as the write direction but needed only where a tree is read; split
off so no module of the kernel runs past 800 lines. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from core.kernel.datamodel.paths import is_empty_table
from core.kernel.datamodel.tr098 import (
    _AP_RE,
    _HOST98_RE,
    _LHCM_RE,
    _RADIO_RE,
    _TR098_MODES_SUPPORTED,
    AP_LEAVES,
    RADIO_LEAVES,
    RADIO_READ_ONLY,
    SAME_NAME_OBJECTS,
    SSID_LEAVES,
    WAN_IP_LEAVES,
    WAN_PPP_LEAVES,
    InstanceMap,
    Untranslatable,
    _split,
    to_device_paths,
    to_tr181,
    value_to_tr181,
    wlan_prefix,
)
from core.kernel.jsontypes import Json

if TYPE_CHECKING:
    from core.kernel.models import Scalar


def mode_from_tr098(leaves: Mapping[str, Scalar]) -> str:
    """Row 15, read direction: TR-181 ``Security.ModeEnabled`` from the BeaconType family."""
    beacon = str(leaves.get("BeaconType", ""))
    if beacon in ("None", "Basic"):
        return "WEP-128" if str(leaves.get("BasicEncryptionModes")) == "WEPEncryption" else "None"
    if beacon == "WPA":
        return "WPA-Personal"
    if beacon == "11i":
        eap = str(leaves.get("IEEE11iAuthenticationMode")) == "EAPAuthentication"
        return "WPA2-Enterprise" if eap else "WPA2-Personal"
    if beacon.endswith("WPAand11i") or beacon == "WPAand11i":
        return "WPA-WPA2-Personal"
    return "None"


class ViewEntry(NamedTuple):
    """One TR-181 parameter as a TR-098 device carries it."""

    device_path: str
    value: Scalar
    type: str | None = None  # TR-181 type when it differs from the device's
    writable: bool | None = None  # None: the device parameter's own writability


def _candidate_paths(imap: InstanceMap, params: Mapping[str, Scalar]) -> Iterable[str]:
    overrides = imap.overrides()
    for r in sorted(imap.radios):
        for leaf in RADIO_LEAVES:
            yield f"Device.WiFi.Radio.{r}.{leaf}"
        for generic in overrides:
            if generic.startswith("Device.WiFi.Radio.{i}."):
                yield generic.replace("{i}", str(r), 1)
    for k in sorted(imap.ssids):
        for leaf in SSID_LEAVES:
            yield f"Device.WiFi.SSID.{k}.{leaf}"
        for leaf in AP_LEAVES:
            yield f"Device.WiFi.AccessPoint.{k}.{leaf}"
    if imap.wan is not None:
        leaves = WAN_IP_LEAVES if imap.wan.kind == "ip" else {}
        for leaf in leaves:
            yield f"Device.IP.Interface.{imap.wan_ip_interface}.{leaf}"
        if imap.wan.kind == "ppp":
            for leaf in WAN_PPP_LEAVES:
                yield f"Device.PPP.Interface.1.{leaf}"
    for path in params:
        m = _LHCM_RE.match(path) or _HOST98_RE.match(path)
        if m:
            tr = to_tr181(path, imap)
            if tr:
                yield tr
            continue
        for prefix98 in SAME_NAME_OBJECTS.values():
            if path.startswith(prefix98):
                tr = to_tr181(path, imap)
                if tr:
                    yield tr
                break


def select_view_paths(view: Mapping[str, Json], paths: Sequence[str],
                      why_missing: Callable[[str], str]) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """Resolve requested TR-181 paths against a device's TR-181 view: a partial path (ending in
    ``.``) selects its subtree (none, without a fault, for a table the view counts with no rows:
    :func:`core.kernel.datamodel.paths.is_empty_table`). Returns the matched keys in request order and, per path that
    matched nothing, the CWMP fault (9005) with a reason — every adapter reading a TR-098 tree
    answers unknown paths the same way."""
    hits: list[str] = []
    bad: dict[str, tuple[int, str]] = {}
    for path in paths:
        if path.endswith("."):
            sub = [k for k in view if k.startswith(path)]
            if not sub and not is_empty_table(path, view.__contains__):
                bad[path] = (9005, f"{path} matches no parameter on this device")
            hits += sub
        elif path in view:
            hits.append(path)
        else:
            bad[path] = (9005, why_missing(path))
    return hits, bad


def tr181_view(params: Mapping[str, Scalar], imap: InstanceMap) -> dict[str, ViewEntry]:
    """Everything a TR-098 device's tree says, in TR-181 paths (what a read returns).

    Radio-level parameters come from the first WLANConfiguration on the radio; WAN DNS list
    items become ``Device.DNS.Client.Server.{k}`` rows; ``ModeEnabled`` is derived from the
    BeaconType family. Only parameters the device actually has appear.
    """
    view: dict[str, ViewEntry] = {}
    for tr in _candidate_paths(imap, params):
        if tr in view:
            continue
        try:
            paths = to_device_paths(tr, imap)
        except Untranslatable:
            continue
        dp = next((p for p in paths if p in params), None)
        if dp is None:
            continue
        m = _AP_RE.match(tr)
        if m and m[2] == "Security.ModeEnabled":
            ref = imap.ssids[int(m[1])]
            prefix = wlan_prefix(*ref)
            leaves = {p[len(prefix) :]: v for p, v in params.items() if p.startswith(prefix)}
            view[tr] = ViewEntry(dp, mode_from_tr098(leaves), "string", True)
            view[f"Device.WiFi.AccessPoint.{m[1]}.Security.ModesSupported"] = ViewEntry(
                dp, _TR098_MODES_SUPPORTED, "string", False
            )
            continue
        writable = False if (_RADIO_RE.match(tr) and tr.rsplit(".", 1)[-1] in RADIO_READ_ONLY) else None
        type_ = "int" if tr.endswith(".TransmitPower") else None
        view[tr] = ViewEntry(dp, value_to_tr181(tr, params[dp], imap), type_, writable)
    for r, refs in imap.radios.items():
        # Row 5: without a vendor band parameter the band is inferred (read-only) from the
        # WLANConfiguration's Channel/Standard, as the instance map did.
        band_path = f"Device.WiFi.Radio.{r}.OperatingFrequencyBand"
        if band_path not in view and r in imap.radio_bands:
            source = wlan_prefix(*refs[0]) + ("Standard" if wlan_prefix(*refs[0]) + "Standard" in params else "Channel")
            if source in params:
                view[band_path] = ViewEntry(source, imap.radio_bands[r], "string", False)
    for k, ref in imap.ssids.items():
        # Each SSID's radio (TR-181 SSID.LowerLayers): a WLANConfiguration is both, so the radio is the
        # one whose WLANConfigurations hold it — what tells "the guest network on 5 GHz" from the other
        lower = f"Device.WiFi.SSID.{k}.LowerLayers"
        radio = next((r for r, refs in imap.radios.items() if ref in refs), None)
        own = wlan_prefix(*ref) + "SSID"
        if lower not in view and radio is not None and own in params:
            view[lower] = ViewEntry(own, f"Device.WiFi.Radio.{radio}", "string", False)
    if imap.wan is not None:
        dns_path = imap.wan.prefix + "DNSServers"
        if dns_path in params:
            kind = "DHCPv4" if imap.wan.kind == "ip" else "IPCP"
            if str(params.get(imap.wan.prefix + "AddressingType", "DHCP")) == "Static":
                kind = "Static"
            items = _split(params[dns_path])
            view["Device.DNS.Client.ServerNumberOfEntries"] = ViewEntry(dns_path, len(items), "unsignedInt", False)
            for row, item in enumerate(items, start=1):
                base = f"Device.DNS.Client.Server.{row}."
                view[base + "Enable"] = ViewEntry(dns_path, True, "boolean", False)
                view[base + "DNSServer"] = ViewEntry(dns_path, item, "string", True)
                view[base + "Type"] = ViewEntry(dns_path, kind, "string", False)
                view[base + "Interface"] = ViewEntry(
                    dns_path, f"Device.IP.Interface.{imap.wan_ip_interface}", "string", False
                )
    return view
