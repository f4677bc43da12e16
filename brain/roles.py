"""Which SSID is which on this gateway: its band and its role (primary, guest, backhaul).

Why from the device's data: a request names a role ("the guest network", "das Gastnetz", "la red de
invitados"); the device says which SSID has it. TR-181 marks a guest network by client isolation
(``Device.WiFi.AccessPoint.{i}.IsolationEnable``); where a device does not (TR-098, some firmware),
the SSID's own name in any of the four languages is the fallback. The band comes from the SSID's
``LowerLayers`` radio, never from a suffix in its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from brain.tools import RadioInfo
from brain.understanding.request import SsidRole
from brain.understanding.targets import ROLE_WORDS
from core.kernel.jsontypes import JsonObject
from core.kernel.values import parse_bool

_GUEST_NAME = re.compile(ROLE_WORDS["guest"].pattern + r"|gaeste|gast", re.IGNORECASE)
_BACKHAUL_NAME = re.compile(r"backhaul|mesh", re.IGNORECASE)


@dataclass(frozen=True)
class SsidInfo:
    index: int
    name: str
    band: str | None
    role: SsidRole
    enabled: bool | None
    point: int | None = None  # the index of its access point (``SSIDReference``), where its name is advertised
    advertised: bool | None = None


def ssids(values: dict[str, Any], radios: list[RadioInfo]) -> list[SsidInfo]:
    """Every ``Device.WiFi.SSID.{i}`` in ``values`` (items with ``value``) with its band and role."""
    by_index = _fields_by_ssid(values)
    band_of = {r.index: r.band for r in radios}
    out: list[SsidInfo] = []
    for i in sorted(by_index):
        f = by_index[i]
        if "SSID.SSID" not in f:
            continue
        name = str(f.get("SSID.SSID") or "")
        lower = str(f.get("SSID.LowerLayers") or "")
        radio = re.search(r"Radio\.(\d+)", lower)
        band = band_of.get(int(radio.group(1))) if radio else None
        isolated = parse_bool(f.get("AccessPoint.IsolationEnable")) if "AccessPoint.IsolationEnable" in f else None
        role: SsidRole = "primary"
        if isolated or (isolated is None and _GUEST_NAME.search(name)):
            role = "guest"
        elif _BACKHAUL_NAME.search(name) and parse_bool(f.get("AccessPoint.SSIDAdvertisementEnabled", True)) is False:
            role = "backhaul"
        enabled = parse_bool(f["SSID.Enable"]) if "SSID.Enable" in f else None
        point = f.get("AccessPoint.index")
        shown = f.get("AccessPoint.SSIDAdvertisementEnabled")
        out.append(SsidInfo(index=i, name=name, band=band, role=role, enabled=enabled,
                            point=point if isinstance(point, int) else None,
                            advertised=parse_bool(shown) if shown is not None else None))
    return out


def _fields_by_ssid(values: dict[str, Any]) -> dict[int, JsonObject]:
    """SSID index → its ``SSID.*`` and its access point's ``AccessPoint.*`` values. An access point's
    settings (isolation: the guest flag; advertisement) belong to the SSID its ``SSIDReference`` names —
    a gateway may number its access points otherwise than its SSIDs — and to the SSID of its own index
    only when it names none."""
    by_index: dict[int, JsonObject] = {}
    points: dict[int, JsonObject] = {}
    for path, item in values.items():
        m = re.match(r"Device\.WiFi\.(SSID|AccessPoint)\.(\d+)\.(.+)$", path)
        if m:
            into = by_index if m.group(1) == "SSID" else points
            into.setdefault(int(m.group(2)), {})[f"{m.group(1)}.{m.group(3)}"] = (
                item.get("value") if isinstance(item, dict) else getattr(item, "value", item))
    for j, ap in points.items():
        ref = re.search(r"SSID\.(\d+)", str(ap.get("AccessPoint.SSIDReference") or ""))
        by_index.setdefault(int(ref.group(1)) if ref else j, {}).update({**ap, "AccessPoint.index": j})
    return by_index


def pick(all_ssids: list[SsidInfo], role: SsidRole | None, bands: list[str]) -> list[SsidInfo]:
    """The SSIDs a request means: its role (primary when it names none) on its bands (all when none)."""
    want = role or "primary"
    return [s for s in all_ssids if s.role == want and (not bands or s.band in bands)]
