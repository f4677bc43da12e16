"""A pinned policy time of day (``GATEWARD_POLICY_TIME``: rehearsals, demos, this suite) is for
change windows only; a campaign's measurements run on the time that passes (``core.kernel.clock``).

Found by a CI run in the morning: the suite pins 02:30, and a campaign created at 09:30 matched its
control cohort on the telemetry of 20:30-02:30 — none had been reported there, so the cohort's
balance had no device on either side. The same pinned "now" put a drained ring's observation
hours before the ring itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns.ring_effects import ring_drained_at
from campaigns.schema import CampaignRow
from campaigns.service import Campaigns
from core.kernel.clock import PinnedClock, elapsed_now, policy_clock
from tests.campaigns.helpers import approved, drive, who

pytestmark = pytest.mark.slow

KPI = "wifi.channel_utilization_pct"


def _twelve_hours_away() -> str:
    return (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")


@pytest.fixture
def pinned_rt(db_url: str) -> Iterator[Any]:
    """The 60-home fleet (``crt``'s) with policy's time of day pinned twelve hours from now and
    the simulator's telemetry of the six hours before now."""
    from core.kernel.config import Settings
    from gateward import sim_telemetry
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url, policy_time=_twelve_hours_away()))
    sim_telemetry.report(rt, datetime.now(UTC) - timedelta(hours=6), 6)
    yield rt
    rt.close()


def test_a_pinned_clock_pins_the_time_of_day_policy_sees_and_measures_on_the_wall_clock() -> None:
    pinned = policy_clock("02:30")
    assert isinstance(pinned, PinnedClock)
    seen = pinned()
    assert (seen.hour, seen.minute, seen.second) == (2, 30, 0) and seen.date() == datetime.now(UTC).date()
    before = datetime.now(UTC)
    assert before <= elapsed_now(pinned) <= datetime.now(UTC)
    assert policy_clock(None) is not pinned and abs(policy_clock(None)() - datetime.now(UTC)) < timedelta(minutes=1)
    swapped = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)  # a test's or what-if's own clock is everyone's
    assert elapsed_now(lambda: swapped) == swapped


def test_a_campaign_under_a_pinned_time_matches_and_observes_on_the_hours_that_passed(pinned_rt: Any) -> None:
    rt = pinned_rt
    assert abs(rt.lifecycle.clock() - datetime.now(UTC)) > timedelta(hours=11)  # what policy sees is far off
    svc = Campaigns(rt)
    gate = {"kpis": [{"metric": KPI, "labels": {"band": "2.4GHz"}}], "observe_s": 3600, "min_executed": 3}
    st = approved(rt, svc, name="pinned", control_pct=30, gate=gate)
    cohort = st["plan"].get("cohort") or svc._get(st["id"]).plan["cohort"]
    row = cohort["balance"][KPI]
    # every device had six hours of telemetry before now: both sides are matched on it
    assert row["n_control"] == svc._get(st["id"]).plan["control"] > 0, row
    assert row["n_treated"] > 0 and row["smd"] is not None, row

    started = datetime.now(UTC)
    svc.start(st["id"], who(rt, "dave"))
    svc.orch.observe_every_s = 0
    out = drive(svc, st["id"], until=lambda s: s["ring_state"] == "analysing")
    assert out["state"] == "running" and out["ring"] == 0, out["halt_reason"]
    drive(svc, st["id"], rounds=3, until=lambda s: bool(s["analyses"]))
    analysis = svc.status(st["id"])["analyses"][0]
    with rt.store.read() as s:
        drained = ring_drained_at(s, s.get(CampaignRow, st["id"]), 0)
    assert drained is not None and drained >= started
    # the ring drained a moment ago: it is observed for gate.observe_s after that, on the wall clock
    observing = analysis["metrics"]["observing"]
    assert observing is not None, analysis
    assert f"until {(drained + timedelta(hours=1)).isoformat(timespec='seconds')}" in observing, observing
