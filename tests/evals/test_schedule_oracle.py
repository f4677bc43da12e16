"""The eval's oracle for a scheduled change reads the device's local hour with its own zones, not the
product's table: a wrong product table must fail a scenario, not pass it with the product."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from core.kernel.models import utcnow
from evals.checks import _schedule_problems
from evals.scenario import NotBeforeCheck, ProposalCheck


def _at_local(hour: int, zone: str) -> datetime:
    """The next ``hour``:00 in ``zone`` (within the next two days), as an aware UTC time."""
    here = utcnow().astimezone(ZoneInfo(zone)) + timedelta(days=1)
    return here.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(ZoneInfo("UTC"))


@pytest.mark.parametrize("region, zone", [("DE", "Europe/Berlin"), ("GB", "Europe/London"), ("US", "America/New_York")])
def test_the_oracle_reads_the_local_hour_in_the_regions_own_zone(monkeypatch: pytest.MonkeyPatch, region: str,
                                                                  zone: str) -> None:
    check = ProposalCheck(not_before=NotBeforeCheck(local_hour=3, within_days=3))
    right, wrong = (SimpleNamespace(not_before=_at_local(3, z)) for z in (zone, "Asia/Tokyo"))
    monkeypatch.setenv("GATEWARD_REGION_ZONES", f"{region}=Asia/Tokyo")  # the product's table gone wrong
    assert _schedule_problems(check, right, region) == []
    assert any("expected 03:00" in p for p in _schedule_problems(check, wrong, region))
