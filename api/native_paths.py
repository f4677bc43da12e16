"""What a TR-098 device calls a TR-181 parameter, in words for the console.

Why: every device is read and changed through TR-181 names (``Device.``); a device running TR-098
firmware (``InternetGatewayDevice.``) is translated by its adapter (:mod:`core.kernel.datamodel.tr098`).
An agent reading its tree and an approver reading a diff must still see what is written on the
device: ``Device.WiFi.Radio.1.Channel`` is ``…WLANConfiguration.1.Channel`` — and the same leaf on
every other WLANConfiguration of that radio —, a DNS server row is one item of a comma-separated
``DNSServers`` list.

Two sources, said apart: a live read names the exact parameter it read (``device_path``); without
one (a stored snapshot, a parameter the device lacks yet) the translation tables give the native
*form*, with ``{i}`` where the device's own instance numbers decide (they differ between the trees).
"""

from __future__ import annotations

import re

from core.kernel.datamodel.tr098 import (
    IGD,
    InstanceMap,
    Untranslatable,
    WanRef,
    to_device_paths,
    tr098_patterns,
)
from core.kernel.models import Scalar

_RADIO = re.compile(r"^Device\.WiFi\.Radio\.(\d+)\.")
_SSID_OR_AP = re.compile(r"^Device\.WiFi\.(?:SSID|AccessPoint)\.(\d+)\.")
_DNS_ROW = re.compile(r"^Device\.DNS\.Client\.Server\.(\d+)\.DNSServer$")


def _form(path: str) -> str:
    """A native path with its instance numbers as ``{i}``: the device's numbering decides them."""
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


def _synthetic_map(path: str, vendor: str, model: str) -> InstanceMap:
    """An instance map that holds whatever ``path`` names (radio, SSID, WAN): enough to learn the
    native form of one path, never its device's own numbers."""
    imap = InstanceMap(wan=WanRef(), vendor=vendor, model=model)
    m = _RADIO.match(path)
    if m:
        imap.radios = {int(m[1]): [(1, 1)]}
        imap.radio_bands = {int(m[1]): "2.4GHz"}
    m = _SSID_OR_AP.match(path)
    if m:
        imap.ssids = {int(m[1]): (1, 1)}
    ip = re.match(r"^Device\.IP\.Interface\.(\d+)\.", path)
    if ip:
        imap.wan_ip_interface = int(ip[1])
    return imap


def native_name(path: str, *, read_as: str | None = None, vendor: str = "", model: str = "") -> str | None:
    """``path`` as a TR-098 device carries it, in words; ``read_as`` is the parameter a live read
    of that device named (exact), else the form comes from the translation tables. ``None``: the
    path has no TR-098 form (the device cannot have it)."""
    exact = read_as if read_as and read_as.startswith(IGD) else None
    try:
        forms = sorted({_form(p) for p in to_device_paths(path, _synthetic_map(path, vendor, model))})
    except Untranslatable:
        forms = []
    if not exact and not forms:
        return None
    said = exact or " and ".join(forms)
    radio = _RADIO.match(path)
    if radio:  # a radio's setting lives on each WLANConfiguration of the radio: a Set writes every one
        said += (f" — and the same on every other WLANConfiguration of radio {radio[1]}" if exact
                 else f" — on every WLANConfiguration of radio {radio[1]}")
    dns = _DNS_ROW.match(path)
    if dns:
        said += f" (item {dns[1]} of its comma-separated list)"
    return said


def settable(path: str, value: Scalar, *, vendor: str = "", model: str = "") -> bool:
    """Can a Set of ``path`` reach a TR-098 device of this vendor and model at all? (TR-181 lets one
    write ``OperatingStandards``; its TR-098 twin, ``Standard``, is read-only.)"""
    try:
        tr098_patterns(path, value, vendor=vendor, model=model)
    except (Untranslatable, ValueError, TypeError):
        return False
    return True


def is_tr098(root: str) -> bool:
    return str(root).startswith(IGD)


__all__ = ["is_tr098", "native_name", "settable"]
