"""A device's local time (core/localtime.py): the zone of its region, the setting that overrides or
adds regions, and what an unknown or malformed one falls back to — every answer checked against the
IANA database through zoneinfo, not against the module's own table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core import localtime


@pytest.fixture(autouse=True)
def _no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_REGION_ZONES", raising=False)


@pytest.mark.parametrize("region", ["ZZ", "", None])
def test_a_region_without_a_known_zone_is_utc(region: str | None) -> None:
    assert localtime.zone_name(region) == "UTC"
    assert localtime.zone(region).key == "UTC"


@pytest.mark.parametrize("region, zone", [("DE", "Europe/Berlin"), ("gb", "Europe/London"), ("US", "America/New_York")])
def test_a_regions_zone_is_its_own(region: str, zone: str) -> None:
    assert localtime.zone_name(region) == zone and localtime.zone(region) == ZoneInfo(zone)


def test_the_setting_overrides_and_adds_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_REGION_ZONES", " DE = America/Chicago , pt=Europe/Lisbon")
    assert localtime.zone_name("de") == "America/Chicago" and localtime.zone_name("PT") == "Europe/Lisbon"
    assert localtime.zone_name("FR") == "Europe/Paris"  # the others keep theirs


def test_a_malformed_entry_of_the_setting_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry without a region, without a zone, or without "=" says nothing: no region becomes Tokyo,
    DE keeps Berlin."""
    monkeypatch.setenv("GATEWARD_REGION_ZONES", "=Asia/Tokyo,DE=,Asia/Tokyo,, ")
    assert localtime.zone_name(None) == "UTC" and localtime.zone_name("") == "UTC"
    assert localtime.zone_name("DE") == "Europe/Berlin"


def test_a_zone_the_database_does_not_know_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_REGION_ZONES", "DE=Europe/Atlantis,FR=../etc/passwd")
    assert localtime.zone("DE").key == "UTC" and localtime.zone("FR").key == "UTC"


@pytest.mark.parametrize("month, offset_h", [(1, 1), (7, 2)])
def test_local_is_the_same_instant_on_the_regions_clock(month: int, offset_h: int) -> None:
    """02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer (daylight saving time)."""
    at = datetime(2026, month, 15, 2, 0, tzinfo=UTC) - timedelta(hours=offset_h)
    here = localtime.local(at, "DE")
    assert here == at and here.hour == 2 and here.utcoffset() == timedelta(hours=offset_h)
    assert here.tzinfo == ZoneInfo("Europe/Berlin")
