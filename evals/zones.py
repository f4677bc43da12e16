"""The evals' own answer to "what time is it at the device": each region's IANA zone, read with
:mod:`zoneinfo` directly.

Why not ``core.localtime``: the oracle that judges when a scheduled change starts must not share the
product's zone table — a wrong table in the product would then pass its own test. The regions are the
simulated fleet's; a scenario on any other region is refused here rather than judged in UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

# Written from the IANA database for the regions the evals' fleet uses, not copied from the product.
ZONES = {"DE": "Europe/Berlin", "GB": "Europe/London", "FR": "Europe/Paris", "US": "America/New_York",
         "NL": "Europe/Amsterdam", "ES": "Europe/Madrid"}


def zone_of(region: str | None) -> ZoneInfo:
    key = (region or "").upper()
    if key not in ZONES:
        raise LookupError(f"the evals know no time zone for region {region!r}: add it to evals/zones.py")
    return ZoneInfo(ZONES[key])


__all__ = ["ZONES", "zone_of"]
