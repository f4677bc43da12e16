"""The effect estimate on data whose truth is known: difference in differences over per-device
changes, its interval (SciPy's Welch), the verdict read off the interval, the KPIs read from the
store's telemetry and events, and the matched control cohort."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns.cohort import match
from campaigns.effects import KPIS, DeviceChange, device_changes, kpi_of, tolerance_of
from campaigns.estimator import estimate, estimate_before_after, tail
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


def test_no_spread_or_no_sample_is_not_enough_data_never_a_zero_width_interval() -> None:
    """Issue 59: right after the DNS fixes, '+0 per hour (95 % CI +0 to +0) — no measurable effect'
    from zero samples. Identical changes, or no sample at all, cannot make an interval."""
    dns = KPIS["dns.failures"]
    same = estimate(dns, {f"t{i}": DeviceChange(5.0, 0.0, 6, 6) for i in range(6)},
                    {f"c{i}": DeviceChange(5.0, 5.0, 6, 6) for i in range(6)})
    assert same.verdict == "not enough data" and same.low is None and "spread" in same.note
    empty = estimate(dns, {f"t{i}": DeviceChange(0.0, 0.0, 0, 0) for i in range(6)},
                     {f"c{i}": DeviceChange(0.0, 0.0, 0, 0) for i in range(6)})
    assert empty.verdict == "not enough data" and "+0" not in empty.text()
    alone = estimate_before_after(dns, {f"t{i}": DeviceChange(3.0, 3.0, 4, 4) for i in range(6)})
    assert alone.verdict == "not enough data" and alone.estimate is None


def test_the_baseline_as_a_covariate_narrows_the_interval_where_the_before_is_noisy() -> None:
    """CUPED/ANCOVA: the same data, a narrower interval than the difference in differences (Welch
    on each device's after minus before), and the same truth inside it."""
    from scipy import stats

    rng = random.Random(17)
    narrower = 0
    for _ in range(40):
        def dev(shift: float) -> DeviceChange:
            level = rng.uniform(10, 60)
            return DeviceChange(level + rng.gauss(0, 6), level + shift + rng.gauss(0, 2), 24, 24)

        t = {f"t{i}": dev(-5.0) for i in range(25)}
        c = {f"c{i}": dev(0.0) for i in range(25)}
        e = estimate(BUSY, t, c)
        assert e.low is not None and e.high is not None and "covariate" in e.method
        welch = stats.ttest_ind([x.diff for x in t.values()], [x.diff for x in c.values()], equal_var=False)
        ci = welch.confidence_interval(0.95)
        narrower += (e.high - e.low) < (ci.high - ci.low)
    assert narrower >= 36  # nearly always: the before carries the level, not all of its noise


def test_errors_are_clustered_by_building_so_shared_air_does_not_pass_for_evidence() -> None:
    """Homes in one building share their air: noise common to a building. An interval that counts
    every home as independent covers the truth far less often than it says; clustered, it does."""
    rng = random.Random(23)
    runs, covered, naive = 300, 0, 0
    for _ in range(runs):
        t: dict[str, DeviceChange] = {}
        c: dict[str, DeviceChange] = {}
        groups: dict[str, str] = {}
        for b in range(30):
            shared = rng.gauss(0, 6)  # this building's air, after the change, for everyone in it
            for i in range(6):
                dev_id = f"b{b}-{i}"
                level = rng.uniform(10, 60)
                change = DeviceChange(level, level + shared + 4.0 * (b % 2) + rng.gauss(0, 1), 24, 24)
                (t if b % 2 else c)[dev_id] = change
                groups[dev_id] = f"building:{b}"
        e = estimate(BUSY, t, c, clusters=groups)
        assert "clustered" in e.method
        covered += e.low is not None and e.high is not None and e.low <= 4.0 <= e.high
        plain = estimate(BUSY, t, c)
        naive += plain.low is not None and plain.high is not None and plain.low <= 4.0 <= plain.high
    assert covered >= 0.90 * runs
    assert naive < 0.75 * runs  # what ignoring the buildings would claim


def test_a_heterogeneous_change_says_how_many_homes_it_made_worse_beyond_the_tolerance() -> None:
    """Half the homes 20 points busier, half 20 quieter: the mean says nothing; the tail does."""
    rng = random.Random(4)
    t = {f"t{i}": DeviceChange(30.0 + (n := rng.gauss(0, 1)), 30.0 + n + (20 if i % 2 else -20) + rng.gauss(0, 1),
                               24, 24) for i in range(40)}
    c = {f"c{i}": DeviceChange(30.0 + (n := rng.gauss(0, 1)), 30.0 + n + rng.gauss(0, 1), 24, 24) for i in range(40)}
    e = estimate(BUSY, t, c)
    assert e.verdict == "no measurable effect"
    tl = tail(e, 5.0)
    assert tl is not None and tl["worse"] == 20 and tl["of"] == 40
    assert tl["control_worse"] <= 2 and tl["control_of"] == 40


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


def test_a_count_from_a_device_that_went_silent_is_absent_not_zero(runtime: Any) -> None:
    """DNS failures and radar events are written only when non-zero. A device that reported its
    failures before and nothing at all after has not improved: it is left out. A device still
    reporting other series after, with no failure row, did go to zero. Radar events read as a
    count per day, never as the mean of the rows that happen to exist."""
    from core.store import repo
    from core.store.schema import TelemetryRow

    with runtime.store.read() as s:
        a, b, c = sorted(d.id for d in repo.list_devices(s)[0])[:3]
    t0 = datetime(2020, 3, 9, 12, tzinfo=UTC)
    with runtime.store.write() as s:
        for k in range(-24 * 4, 6 * 4):
            ts = t0 + timedelta(minutes=15 * k)
            after = ts >= t0
            for dev in (a, b, c):
                if dev == a and after:
                    continue  # silent after the change
                s.add(TelemetryRow(device_id=dev, ts=ts, metric="wan.up", value=1.0, labels={}))
                if k % 4 == 3 and not after:
                    s.add(TelemetryRow(device_id=dev, ts=ts, metric="dns.failures", value=100.0, labels={}))
            if not after and k % 8 == 0:
                s.add(TelemetryRow(device_id=c, ts=ts, metric="wifi.dfs_radar_events", value=2.0,
                                   labels={"radio": "2"}))
    now = t0 + timedelta(hours=6)
    with runtime.store.read() as s:
        dns = device_changes(s, KPIS["dns.failures"], {a: t0, b: t0}, window_h=6, now=now)
        assert a not in dns  # stopped reporting: absent, not "0 failures an hour"
        assert dns[b].before == 100.0 and dns[b].after == 0.0 and dns[b].n_after > 0
        radar = device_changes(s, kpi_of("wifi.dfs_radar_events"), {c: t0, b: t0}, window_h=6, now=now)
        assert radar[c].before == pytest.approx(2.0 * 3 * 24 / 6)  # 3 rows of 2 in the 6 h: 24 a day
        assert radar[c].after == 0.0 and radar[b].diff == 0.0


def test_a_count_is_a_rate_over_the_hours_the_reports_stand_for_not_the_whole_window(runtime: Any) -> None:
    """Issue 59: a count summed over the whole window took an hour with no report as an hour without
    failures, so a device silent for part of a side looked better on it. Device *a* reports hourly but
    only from the fifth hour of its before window; device *b* reports every 4 h and falls silent for
    the last 8 h of its after window. Both fail at 60 (a) and 100 (b) an hour throughout: no change."""
    from core.store import repo
    from core.store.schema import TelemetryRow

    with runtime.store.read() as s:
        a, b, c = sorted(d.id for d in repo.list_devices(s)[0])[:3]
    t0 = datetime(2020, 3, 16, 12, tzinfo=UTC)

    def report(dev: str, ts: datetime, failures: float) -> None:
        s.add(TelemetryRow(device_id=dev, ts=ts, metric="wan.up", value=1.0, labels={}))
        s.add(TelemetryRow(device_id=dev, ts=ts, metric="dns.failures", value=failures, labels={}))

    with runtime.store.write() as s:
        for h in range(-24, 24):
            at = t0 + timedelta(hours=h, minutes=30)
            if h >= -20:  # a: silent for the first 4 h of its before window
                report(a, at, 60.0)
            if h % 4 == 0 and h < 16:  # b: every 4 h, each report its 4 h of failures; silent after +16 h
                report(b, at, 400.0)
            if h in (-12, 12):  # c: one report a side, no interval to tell its cadence by
                report(c, at, 24.0)
    now = t0 + timedelta(hours=24)
    with runtime.store.read() as s:
        dns = device_changes(s, KPIS["dns.failures"], {a: t0, b: t0, c: t0}, window_h=24, now=now,
                             before="hours_before")
        base = device_changes(s, KPIS["dns.failures"], {a: t0}, window_h=24, now=t0, before="hours_before",
                              need_after=False)
    assert dns[a].before == pytest.approx(60.0) and dns[a].after == pytest.approx(60.0)  # 50 before: "worse"
    assert dns[b].before == pytest.approx(100.0) and dns[b].after == pytest.approx(100.0)  # 66.7 after: "better"
    assert dns[c].before == pytest.approx(1.0) and dns[c].after == pytest.approx(1.0)  # over the whole side
    assert (dns[a].n_before, dns[a].n_after) == (40, 48)  # rows, as every KPI counts its samples
    assert base[a].before == pytest.approx(60.0)  # a cohort's baseline reads the same hours


def test_a_counts_sides_end_where_its_windows_do_and_a_side_without_reports_is_absent(runtime: Any) -> None:
    """The edges of a count's reporting hours: a report at a side's first instant is in it, one at its
    end is not (hourly reports of 10, the side's first hour counted: 10 an hour, not 12); a device with
    reports on one side only is absent on both the change and the baseline, whatever its single report
    leaves of its cadence."""
    from core.store import repo
    from core.store.schema import TelemetryRow

    with runtime.store.read() as s:
        e, f, g = sorted(d.id for d in repo.list_devices(s)[0])[3:6]
    t0 = datetime(2020, 3, 23, 12, tzinfo=UTC)

    def report(dev: str, ts: datetime, failures: float) -> None:
        s.add(TelemetryRow(device_id=dev, ts=ts, metric="wan.up", value=1.0, labels={}))
        s.add(TelemetryRow(device_id=dev, ts=ts, metric="dns.failures", value=failures, labels={}))

    with runtime.store.write() as s:
        for h in range(6):
            report(e, t0 - timedelta(hours=6 - h), 10.0)  # the first exactly at the before window's start
            report(e, t0 + timedelta(hours=h), 10.0)  # the first exactly at the change
        report(e, t0 - timedelta(hours=6, minutes=1), 1000.0)  # before the before window
        report(e, t0 + timedelta(hours=6), 1000.0)  # at the after window's end: outside it
        report(f, t0 + timedelta(hours=2), 5.0)  # f: one report, after only
        report(g, t0 - timedelta(hours=3), 5.0)  # g: one report, before only
    now = t0 + timedelta(hours=6)
    with runtime.store.read() as s:
        dns = device_changes(s, KPIS["dns.failures"], {e: t0, f: t0, g: t0}, window_h=6, now=now,
                             before="hours_before")
        base = device_changes(s, KPIS["dns.failures"], {e: t0, f: t0, g: t0}, window_h=6, now=t0,
                              before="hours_before", need_after=False)
    assert set(dns) == {e}  # f went silent before, g after: absent, not a zero on the silent side
    assert dns[e].before == pytest.approx(10.0) and dns[e].after == pytest.approx(10.0)
    assert (dns[e].n_before, dns[e].n_after) == (12, 12)  # two rows an hour: the heartbeat and the count
    assert set(base) == {e, g}  # a baseline needs only the before side
    assert base[e].before == pytest.approx(10.0) and math.isnan(base[e].after)
    assert (base[e].n_before, base[e].n_after) == (12, 0)
    assert base[g].before == pytest.approx(5.0 / 6)  # one report: no cadence to tell, the whole 6 h


def test_a_counts_hours_are_counted_from_the_start_of_its_window_not_the_clock(runtime: Any) -> None:
    """A device reporting every 15 minutes, silent for 2.5 h in the middle of a window that starts at
    half past: the hours of the window it reported in are 4 of 6 (its reports cover about 3.75 h), where
    clock hours would count 6 (06:30-08:15 touches three, 10:45-12:15 three) and read 25 an hour."""
    from core.store import repo
    from core.store.schema import TelemetryRow

    with runtime.store.read() as s:
        h = sorted(d.id for d in repo.list_devices(s)[0])[6]
    t0 = datetime(2020, 3, 30, 12, 30, tzinfo=UTC)
    with runtime.store.write() as s:
        for k in range(24):
            at = t0 - timedelta(hours=6) + timedelta(minutes=15 * k)
            if timedelta(hours=1, minutes=45) < at - (t0 - timedelta(hours=6)) < timedelta(hours=4, minutes=15):
                continue  # silent from 08:15 to 10:45
            for side in (at, at + timedelta(hours=6)):  # the same after the change
                s.add(TelemetryRow(device_id=h, ts=side, metric="wan.up", value=1.0, labels={}))
                s.add(TelemetryRow(device_id=h, ts=side, metric="dns.failures", value=10.0, labels={}))
    with runtime.store.read() as s:
        base = device_changes(s, KPIS["dns.failures"], {h: t0}, window_h=6, now=t0, before="hours_before",
                              need_after=False)
        whole = device_changes(s, KPIS["dns.failures"], {h: t0}, window_h=6, now=t0 + timedelta(hours=6),
                               before="hours_before")
        early = device_changes(s, KPIS["dns.failures"], {h: t0}, window_h=6, now=t0 + timedelta(minutes=30),
                               before="hours_before")
        short = device_changes(s, KPIS["dns.failures"], {h: t0}, window_h=0.5, now=t0, before="hours_before",
                               need_after=False)
    with runtime.store.read() as s:  # what a cohort is matched on: the same reading, by device
        from campaigns.effects import baselines

        assert baselines(s, KPIS["dns.failures"], [h], now=t0, window_h=6) == pytest.approx({h: 150.0 / 4})
        assert baselines(s, KPIS["dns.failures"], [h], now=t0, window_h=0.5) == pytest.approx({h: 40.0})
        assert baselines(s, KPIS["dns.failures"], [h], now=t0 - timedelta(hours=12), window_h=6) == {}
    assert base[h].n_before == 2 * 15  # 06:30 to 08:15 and 10:45 to 12:15, every 15 minutes
    assert base[h].before == pytest.approx(150.0 / 4)
    assert whole[h].before == pytest.approx(150.0 / 4) and whole[h].after == pytest.approx(150.0 / 4)
    # half an hour into the window (two reports of 10): 40 an hour over that half hour, not absent
    assert early[h].after == pytest.approx(40.0)
    assert short[h].before == pytest.approx(40.0)  # a half-hour baseline: 12:00 and 12:15


def test_a_poorly_matched_control_is_warned_about_above_smd_0_1() -> None:
    from campaigns.cohort import Cohort, balance

    devices = _devices(120)
    rng = random.Random(12)
    base = {"wifi.channel_utilization_pct": {d.id: rng.uniform(5, 90) for d in devices}}
    good = match("c-1", devices, 25, base)
    assert good.warnings() == [] and good.summary(25)["warnings"] == []
    busiest = set(sorted(base["wifi.channel_utilization_pct"], key=base["wifi.channel_utilization_pct"].get)[-30:])
    bad = Cohort(busiest, 1, balance(devices, busiest, base))
    (w,) = bad.warnings()
    assert "wifi.channel_utilization_pct" in w and "above 0.1" in w
