"""The series behind a finding, as an approver's chart draws it (issue 39 item 4):
``core.history.metric_series`` reads one metric of one device over a window and never returns more
than it is asked for — a day of one-minute samples becomes at most ``max_points`` slices of the
window — matching labels as the planner's windows do (a radio that changed channel is one radio),
with a slice's maximum for counts (a burst of radar events must not be averaged away) and nothing,
not an error, where the device reported nothing."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from core.history import metric_name, metric_series
from core.kernel.models import SERIES_MAX_POINTS, EvidenceSeries, utcnow
from core.store import repo
from core.store.schema import TelemetryRow

METRIC = "test.series_pct"


def test_a_day_of_minutes_becomes_at_most_the_points_asked_for(runtime: Any) -> None:
    rt = runtime
    with rt.store.read() as s:
        dev, other = sorted(d.id for d in repo.list_devices(s)[0])[:2]
    now = utcnow()
    with rt.store.write() as s:
        for m in range(24 * 60):  # one sample a minute, radio 1 changing channel half way
            ts = now - timedelta(minutes=m)
            s.add(TelemetryRow(device_id=dev, ts=ts, metric=METRIC, value=float(m % 100),
                               labels={"radio": "1", "channel": "6" if m % 2 else "11"}))
        for m in range(0, 24 * 60, 15):  # another radio and another device: not this series
            s.add(TelemetryRow(device_id=dev, ts=now - timedelta(minutes=m), metric=METRIC, value=1000.0,
                               labels={"radio": "2"}))
            s.add(TelemetryRow(device_id=other, ts=now - timedelta(minutes=m), metric=METRIC, value=1000.0,
                               labels={"radio": "1"}))
        s.add(TelemetryRow(device_id=dev, ts=now - timedelta(hours=30), metric=METRIC, value=5000.0,
                           labels={"radio": "1"}))  # outside the window
    with rt.store.read() as s:
        pts = metric_series(s, dev, METRIC, labels={"radio": "1"}, hours=24, now=now)
        peaks = metric_series(s, dev, METRIC, labels={"radio": "1"}, hours=24, now=now, how="max")
        few = metric_series(s, dev, METRIC, labels={"radio": "1"}, hours=24, now=now, max_points=10)
        none = metric_series(s, dev, "test.never_reported", labels={"radio": "1"}, hours=24, now=now)
    assert 90 <= len(pts) <= SERIES_MAX_POINTS and len(few) <= 10
    assert [t for t, _ in pts] == sorted(t for t, _ in pts)
    assert all(now - timedelta(hours=24) <= t <= now for t, _ in pts)
    assert max(v for _, v in pts) < 1000  # neither radio 2, nor the other device, nor the old sample
    assert abs(statistics.fmean(v for _, v in pts) - 49.5) < 3  # slice means of 0…99 repeating
    assert max(v for _, v in peaks) == 99.0  # the slices' maxima keep the peaks
    assert none == []
    series = EvidenceSeries(metric=METRIC, name="Test", unit="%", hours=24, points=pts)
    assert len(series.model_dump(mode="json")["points"]) == len(pts)


def test_a_few_samples_are_returned_as_they_are(runtime: Any) -> None:
    rt = runtime
    with rt.store.read() as s:
        dev = sorted(d.id for d in repo.list_devices(s)[0])[0]
    now = utcnow()
    with rt.store.write() as s:
        for h, v in ((3, 10.0), (2, 20.0), (1, 30.0)):
            s.add(TelemetryRow(device_id=dev, ts=now - timedelta(hours=h), metric="test.few_ms", value=v, labels={}))
    with rt.store.read() as s:
        assert [v for _, v in metric_series(s, dev, "test.few_ms", now=now)] == [10.0, 20.0, 30.0]


def test_metric_names_are_words_with_their_unit() -> None:
    assert metric_name("wifi.channel_utilization_pct") == ("Wi-Fi channel busy", "%")
    assert metric_name("wifi.client_rssi_dbm") == ("Wi-Fi client signal", "dBm")
    assert metric_name("vendor.odd_thing_ms") == ("Odd thing", "ms")
