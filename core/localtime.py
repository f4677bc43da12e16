"""A device's local time: the zone a schedule given in a support chat is read in.

Why a zone and not the change window's fixed offset: "at 2 tonight" said about a gateway in
Berlin means 02:00 Berlin time on the right side of a daylight-saving change; a fixed
``utc_offset_hours`` is off by an hour for half the year. The zone comes from the device's region
(the operator's inventory), overridable per region with ``GATEWARD_REGION_ZONES``
(``DE=Europe/Berlin,US=America/Chicago``); an unknown region is UTC and says so.
"""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Regions the simulated fleet and the shipped policy pack use; an operator's own come from the setting.
_DEFAULT_ZONES = {
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "GB": "Europe/London", "UK": "Europe/London",
    "NL": "Europe/Amsterdam", "ES": "Europe/Madrid", "IT": "Europe/Rome", "AT": "Europe/Vienna",
    "CH": "Europe/Zurich", "BE": "Europe/Brussels", "EU": "Europe/Brussels", "US": "America/New_York",
}


def _overrides() -> dict[str, str]:
    raw = os.environ.get("GATEWARD_REGION_ZONES", "")
    out: dict[str, str] = {}
    for part in raw.split(","):
        key, sep, zone = part.partition("=")
        if sep and key.strip() and zone.strip():
            out[key.strip().upper()] = zone.strip()
    return out


def zone_name(region: str | None) -> str:
    """The IANA zone of ``region`` (``UTC`` when neither the setting nor the defaults know it)."""
    key = (region or "").upper()
    return _overrides().get(key) or _DEFAULT_ZONES.get(key) or "UTC"


def zone(region: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(zone_name(region))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(at: datetime, region: str | None) -> datetime:
    """``at`` (aware) in the region's local time."""
    return at.astimezone(zone(region))
