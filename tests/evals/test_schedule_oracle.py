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
    assert _schedule_problems(check, right, region, utcnow()) == []
    assert any("expected 03:00" in p for p in _schedule_problems(check, wrong, region, utcnow()))


# The run's now is the oracle's too (a scenario's ``at`` moves it), so its edges can be judged exactly.
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=ZoneInfo("UTC"))  # a Saturday, 15:00 in Berlin


def _problems(check: ProposalCheck, nb: datetime | None) -> list[str]:
    return _schedule_problems(check, SimpleNamespace(not_before=nb), "DE", NOW)


def test_the_oracle_counts_days_ahead_from_the_runs_now_not_the_wall_clock() -> None:
    at = NOW + timedelta(days=1)  # Sunday 15:00 in Berlin
    exactly = ProposalCheck(not_before=NotBeforeCheck(local_hour=15, within_days=1))
    assert _problems(exactly, at) == []  # a whole day ahead is within one
    late = _problems(exactly, at + timedelta(seconds=1))
    assert late == ["proposal starts 1.0 days from now, expected within 1"]
    assert _problems(exactly, NOW) == ["proposal starts 0.0 days from now, expected within 1"]  # not in the future
    assert _problems(exactly, NOW - timedelta(days=1)) == ["proposal starts -1.0 days from now, expected within 1"]


def test_the_oracle_names_the_hour_minute_and_weekday_it_wanted() -> None:
    at = datetime(2026, 11, 29, 22, 30, tzinfo=ZoneInfo("UTC"))  # Sunday 23:30 in Berlin
    assert _problems(ProposalCheck(not_before=NotBeforeCheck(local_hour=23, local_minute=30, weekday="sunday",
                                                             within_days=2)), at) == []
    assert _problems(ProposalCheck(not_before=NotBeforeCheck(local_hour=23, local_minute=0, within_days=2)), at) == [
        "proposal starts at 23:30 local, expected 23:00"]
    assert _problems(ProposalCheck(not_before=NotBeforeCheck(local_hour=22, within_days=2)), at) == [
        "proposal starts at 23:30 local, expected 22:00"]
    assert _problems(ProposalCheck(not_before=NotBeforeCheck(local_hour=23, weekday="monday", within_days=2)), at) == [
        "proposal starts on a sunday, expected monday"]


def test_the_oracle_says_once_that_a_wanted_schedule_is_missing() -> None:
    hour = NotBeforeCheck(local_hour=3, within_days=1)
    at_once = ["proposal carries no not-before time (it would run at once)"]
    assert _problems(ProposalCheck(scheduled=True), None) == at_once
    assert _problems(ProposalCheck(scheduled=True, not_before=hour), None) == at_once
    assert _problems(ProposalCheck(not_before=hour), None) == ["proposal carries no not-before time"]
    assert _problems(ProposalCheck(scheduled=False), None) == []
    at = NOW + timedelta(hours=13)
    assert _problems(ProposalCheck(scheduled=False), at) == [f"proposal is scheduled for {at.isoformat()}, "
                                                              "expected no schedule"]
    assert _problems(ProposalCheck(scheduled=True), at) == []
    assert _problems(ProposalCheck(), at) == []
