"""The effect estimate on data whose truth is known: difference in differences over per-device
changes, its interval (SciPy's Welch), the verdict read off the interval, the KPIs read from the
store's telemetry and events, and the matched control cohort."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns.cohort import match
from campaigns.effects import KPIS, DeviceChange, device_changes, estimate, kpi_of, tolerance_of
from core.kernel.models import Device

BUSY = KPIS["wifi.channel_utilization_pct"]
SIGNAL = KPIS["wifi.client_rssi_dbm"]


def _groups(rng: random.Random, effect: float, n_t: int = 30, n_c: int = 20, trend: float = 3.0,
            spread: float = 4.0) -> tuple[dict[str, DeviceChange], dict[str, DeviceChange]]:
    """Devices at different levels (what DiD must cancel), a common trend, noise, and ``effect``
    on the treated only."""
    def dev(shift: float) -> DeviceChange:
        level = rng.uniform(10, 60)
        return DeviceChange(level + rng.gauss(0, spread), level + trend + shift + rng.gauss(0, spread), 24, 24)

    return ({f"t{i}": dev(effect) for i in range(n_t)}, {f"c{i}": dev(0.0) for i in range(n_c)})


@pytest.mark.parametrize("effect", [-12.0, 0.0, 7.5])
def test_the_interval_covers_the_true_effect_about_as_often_as_it_says(effect: float) -> None:
    rng = random.Random(f"coverage:{effect}")
    runs = 400
    covered = sum(1 for _ in range(runs)
                  if (e := estimate(BUSY, *_groups(rng, effect))).low is not None and e.high is not None
                  and e.low <= effect <= e.high)
    assert 0.92 * runs <= covered <= 0.98 * runs  # a 95 % interval: neither too narrow nor padded


def test_levels_and_a_common_trend_cancel_and_the_verdict_follows_the_interval() -> None:
    rng = random.Random(5)
    better = estimate(BUSY, *_groups(rng, -12.0))
    assert better.verdict == "better" and better.high is not None and better.high < 0
    assert abs(better.estimate + 12.0) < 4 and abs(better.control_change - 3.0) < 4  # type: ignore[operator]
    worse = estimate(BUSY, *_groups(rng, 9.0))
    assert worse.verdict == "worse" and worse.worse_by is not None and worse.worse_by > 0
    # Signal: lower is worse, so a drop is "worse" and worse_by is positive.
    drop = estimate(SIGNAL, *_groups(rng, -6.0, spread=1.0))
    assert drop.verdict == "worse" and drop.worse_by is not None and drop.worse_by > 4
    assert drop.harm(1.0) and not drop.harm(20.0)


def test_a_change_with_no_effect_is_almost_never_called_a_win() -> None:
    rng = random.Random(11)
    verdicts = [estimate(BUSY, *_groups(rng, 0.0)).verdict for _ in range(400)]
    assert verdicts.count("better") <= 0.05 * len(verdicts)
    assert verdicts.count("no measurable effect") >= 0.9 * len(verdicts)


def test_too_few_devices_is_not_enough_data_and_cannot_harm() -> None:
    rng = random.Random(2)
    t, c = _groups(rng, 30.0, n_t=2, n_c=20)
    e = estimate(BUSY, t, c, min_devices=5)
    assert e.verdict == "not enough data" and e.estimate is None and not e.harm(0.0)
    assert "needs at least 5" in e.text()


def test_identical_changes_give_an_exact_effect_without_a_test() -> None:
    t = {f"t{i}": DeviceChange(5.0, 0.0, 6, 6) for i in range(6)}
    c = {f"c{i}": DeviceChange(5.0, 5.0, 6, 6) for i in range(6)}
    e = estimate(KPIS["dns.failures"], t, c)
    assert (e.estimate, e.low, e.high, e.verdict) == (-5.0, -5.0, -5.0, "better")


def test_tolerance_is_relative_only_where_a_share_of_the_level_means_something() -> None:
    rng = random.Random(3)
    busy = estimate(BUSY, *_groups(rng, 5.0))
    assert tolerance_of(BUSY, busy, 0.2, 1.0) == pytest.approx(max(1.0, 0.2 * abs(busy.baseline or 0)))
    sig = estimate(SIGNAL, *_groups(rng, -5.0))
    assert tolerance_of(SIGNAL, sig, 0.2, 1.0) == 1.0
    assert kpi_of("vendor.odd_ms").higher_is_worse and not kpi_of("wifi.client_rssi_dbm").higher_is_worse
    assert kpi_of("wifi.client_rssi_dbm", True).higher_is_worse


def _devices(n: int, regions: tuple[str, ...] = ("DE", "GB")) -> list[Device]:
    return [Device(id=f"d{i:03d}", vendor="V", model="M" if i % 3 else "N", firmware="1" if i % 2 else "2",
                   region=regions[i % len(regions)]) for i in range(n)]


def test_the_cohort_is_matched_by_stratum_and_spread_over_the_baseline() -> None:
    devices = _devices(240)
    rng = random.Random(9)
    base = {"wifi.channel_utilization_pct": {d.id: rng.uniform(5, 90) for d in devices}}
    cohort = match("c-1", devices, 25, base)
    assert len(cohort.control) == 60
    by = {d.id: (d.model, d.firmware, d.region) for d in devices}
    for stratum in set(by.values()):
        members = [d for d in by if by[d] == stratum]
        held = [d for d in members if d in cohort.control]
        assert abs(len(held) - len(members) / 4) <= 1  # the same share of every stratum
    bal = cohort.balance["wifi.channel_utilization_pct"]
    assert abs(bal["smd"]) < 0.1  # matched on the baseline, not just on the strata
    assert match("c-1", devices, 25, base).control == cohort.control  # recorded once, reproducible
    assert match("c-2", devices, 25, base).control != cohort.control
    lone = [*devices, Device(id="solo", vendor="V", model="Z", firmware="9", region="US")]
    assert "solo" not in match("c-1", lone, 50, base).control  # a stratum of one has nobody to compare with


def test_kpis_are_read_from_telemetry_and_events_before_and_after(runtime: Any) -> None:
    """On PostgreSQL and SQLite: two seeded devices, a day long ago (nothing else reported then)."""
    from core.store import repo
    from core.store.schema import DeviceEventRow, TelemetryRow

    store = runtime.store
    with store.read() as s:
        a, b = sorted(d.id for d in repo.list_devices(s)[0])[:2]
    t0 = datetime(2020, 3, 2, 12, tzinfo=UTC)
    with store.write() as s:
        for k in range(-24 * 4, 6 * 4):
            ts = t0 + timedelta(minutes=15 * k)
            after = ts >= t0
            s.add(TelemetryRow(device_id=a, ts=ts, metric="wifi.channel_utilization_pct",
                               value=20.0 if after else 50.0, labels={"band": "2.4GHz"}))
            s.add(TelemetryRow(device_id=a, ts=ts, metric="wifi.channel_utilization_pct", value=99.0,
                               labels={"band": "5GHz"}))
            if k % 4 == 3:
                s.add(TelemetryRow(device_id=b, ts=ts, metric="wan.up", value=0.0 if after and k % 8 == 3 else 1.0,
                                   labels={}))
                if not after:
                    s.add(TelemetryRow(device_id=a, ts=ts, metric="dns.failures", value=120.0, labels={}))
        s.add(DeviceEventRow(device_id=b, ts=t0 + timedelta(hours=2), kind="boot", data={}))
    now = t0 + timedelta(hours=6)
    with store.read() as s:
        busy = device_changes(s, BUSY, {a: t0}, window_h=6, now=now, labels={"band": "2.4GHz"})
        assert (busy[a].before, busy[a].after) == (50.0, 20.0)
        dns = device_changes(s, KPIS["dns.failures"], {a: t0, b: t0}, window_h=6, now=now)
        assert dns[a].before == 120.0 and dns[a].after == 0.0 and dns[b].diff == 0.0
        reboots = device_changes(s, KPIS["reboots"], {b: t0}, window_h=6, now=now)
        assert reboots[b].after == pytest.approx(4.0) and reboots[b].before == 0.0  # 1 in 6 h = 4 a day
        off = device_changes(s, KPIS["offline_minutes"], {b: t0}, window_h=6, now=now)
        assert off[b].before == 0.0 and off[b].after == pytest.approx(1440.0 * 3 / 6)
        just_before = device_changes(s, BUSY, {a: t0}, window_h=6, now=now, labels={"band": "2.4GHz"},
                                     before="hours_before")
        assert just_before[a].n_before == 24
