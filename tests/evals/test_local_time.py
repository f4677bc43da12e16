"""A scenario's ``at``: the hour of the day at the device when its chat begins.

Found by CI at 22:12 UTC: "redémarre-la ce soir à 23h" on a Paris gateway is a scheduled reboot
before 23:00 local and a question after it ("23:00 tonight has already passed"). The reader was
right both times; the scenario, judged on the wall clock, passed or failed by the hour the suite ran.
The runner now moves the runtime's clock (``core.kernel.clock.moved``) so the chat, the lifecycle
and the oracle all read the scenario's hour, while time still passes and policy's pinned hour stays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.kernel.clock import MovedClock, PinnedClock, elapsed_now, moved, wall_clock
from evals.runner import _local_time
from evals.scenario import Scenario

FIXED = datetime(2026, 11, 28, 22, 12, tzinfo=UTC)  # a Saturday, 23:12 in Paris


def test_a_moved_clock_reads_its_base_moved_and_keeps_moving_with_it() -> None:
    ticks = iter([FIXED, FIXED + timedelta(seconds=5)])
    clock = moved(lambda: next(ticks), timedelta(hours=-8))
    assert isinstance(clock, MovedClock)
    assert clock() == FIXED - timedelta(hours=8)
    assert clock() == FIXED - timedelta(hours=8) + timedelta(seconds=5)  # time still passes
    assert elapsed_now(moved(lambda: FIXED, timedelta(minutes=30))) == FIXED + timedelta(minutes=30)


def test_a_moved_pinned_clock_keeps_policys_hour_and_moves_only_the_time_that_passes() -> None:
    pinned = PinnedClock(2, 30)
    clock = moved(pinned, timedelta(hours=5))
    assert isinstance(clock, PinnedClock) and (clock.hour, clock.minute) == (2, 30)
    before = wall_clock()
    seen = elapsed_now(clock)
    assert before + timedelta(hours=5) <= seen <= wall_clock() + timedelta(hours=5)
    policy = clock()
    assert (policy.hour, policy.minute, policy.second) == (2, 30, 0)
    assert policy.date() == seen.date()  # today is the moved day
    twice = moved(clock, timedelta(hours=-2))
    assert isinstance(twice, PinnedClock) and twice.shift == timedelta(hours=3)
    assert pinned.shift == timedelta(0) and elapsed_now(pinned) < before + timedelta(minutes=1)  # the original stays


def _rt(clock: object) -> SimpleNamespace:
    return SimpleNamespace(lifecycle=SimpleNamespace(clock=clock))


@pytest.mark.parametrize("region, zone", [("FR", "Europe/Paris"), ("US", "America/New_York"), ("GB", "Europe/London")])
@pytest.mark.parametrize("at", ["15:00", "23:30", "00:05"])
def test_the_run_reads_the_scenarios_hour_at_the_device(region: str, zone: str, at: str) -> None:
    original = PinnedClock(2, 30)
    rt = _rt(original)
    before = wall_clock().astimezone(ZoneInfo(zone)).date()
    with _local_time(rt, at, region):
        local = elapsed_now(rt.lifecycle.clock).astimezone(ZoneInfo(zone))
        after = wall_clock().astimezone(ZoneInfo(zone)).date()
        assert f"{local:%H:%M}" == at
        assert local.date() in (before, after)  # today there (either side of a midnight the test straddles)
        assert (rt.lifecycle.clock().hour, rt.lifecycle.clock().minute) == (2, 30)
    assert rt.lifecycle.clock is original


def test_no_hour_leaves_the_clock_and_a_failure_inside_restores_it() -> None:
    original = wall_clock
    rt = _rt(original)
    with _local_time(rt, None, "FR"):
        assert rt.lifecycle.clock is original
    with pytest.raises(RuntimeError), _local_time(rt, "15:00", "FR"):
        assert rt.lifecycle.clock is not original
        raise RuntimeError("the run failed")
    assert rt.lifecycle.clock is original


def test_a_region_the_oracle_has_no_zone_for_is_refused_not_judged_in_utc() -> None:
    with pytest.raises(LookupError, match="no time zone"), _local_time(_rt(wall_clock), "15:00", "JP"):
        pass


@pytest.mark.parametrize("bad", ["24:00", "7:00", "12:60", "noon", "12:00:00"])
def test_an_hour_that_is_no_hh_mm_is_refused(bad: str) -> None:
    base = {"id": "sc-at", "title": "t", "classes": ["x"], "device": {"id": "D1"}, "message": "m",
            "expect": {"outcome": "answer"}}
    assert Scenario.model_validate(base | {"at": "07:00"}).at == "07:00"
    with pytest.raises(ValidationError, match="at"):
        Scenario.model_validate(base | {"at": bad})


TONIGHT = """
- id: {id}
  title: tonight at 23h on a Paris gateway
  classes: [reader]
  device: {{id: 3C9A77-PX7000-PX7K00000058}}
  at: "{at}"
  message: "redémarre-la ce soir à 23h"
  approvers: [bob, carol]
  expect:
    outcome: {outcome}
{proposal}
"""


@pytest.mark.slow
def test_tonight_at_23_is_a_schedule_before_it_and_a_question_after_it_whenever_the_suite_runs(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from gateward.cli import app

    sets = tmp_path / "tonight.yaml"
    sets.write_text(
        TONIGHT.format(id="before-23", at="15:00", outcome="change",
                       proposal="    proposal: {operations: [reboot], scheduled: true, "
                                "not_before: {local_hour: 23, within_days: 0.5}}")
        + TONIGHT.format(id="after-23", at="23:12", outcome="question", proposal="  forbid: [{any_proposal: true}]"))
    res = CliRunner().invoke(app, ["eval", "--scenarios", str(sets), "--json", str(tmp_path / "r.json"), "--quiet"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["runs"] == 2 and summary["failed"] == [], summary


@pytest.mark.parametrize("at, local", [("15:00", "2026-11-28 15:00"), ("23:59", "2026-11-28 23:59"),
                                       ("00:00", "2026-11-28 00:00"), ("09:07", "2026-11-28 09:07")])
def test_a_clock_moved_to_an_hour_is_that_hour_today_at_the_device(at: str, local: str) -> None:
    from evals.runner import _moved_to

    clock = _moved_to(lambda: FIXED, at, "FR")  # 23:12 on Saturday in Paris
    assert f"{clock().astimezone(ZoneInfo('Europe/Paris')):%Y-%m-%d %H:%M}" == local
    assert clock().second == 0 and clock().microsecond == 0
    ny = _moved_to(lambda: FIXED, at, "US")  # 17:12 on Saturday in New York
    assert f"{ny().astimezone(ZoneInfo('America/New_York')):%Y-%m-%d %H:%M}" == local


def test_today_is_the_devices_day_not_the_servers() -> None:
    from evals.runner import _moved_to

    past_midnight_in_paris = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # 00:30 on Sunday in Paris
    paris = _moved_to(lambda: past_midnight_in_paris, "15:00", "FR")()
    assert f"{paris.astimezone(ZoneInfo('Europe/Paris')):%Y-%m-%d %H:%M}" == "2026-11-29 15:00"
    still_friday_in_new_york = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 21:00 on Friday in New York
    ny = _moved_to(lambda: still_friday_in_new_york, "15:00", "US")()
    assert f"{ny.astimezone(ZoneInfo('America/New_York')):%Y-%m-%d %H:%M}" == "2026-11-27 15:00"
