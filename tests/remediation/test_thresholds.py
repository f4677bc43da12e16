"""The detectors and the planner agree on a problem's thresholds: both read ``rules.json``.

A device whose telemetry sits just past a threshold is a detection *and* a planner finding; one
sitting on it or just short is neither. The values are taken from the rule file, so the test holds
whatever an operator sets there.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, insert, select

from brain.detectors import detect, load_rules, parse_rules
from brain.detectors.thresholds import thresholds, thresholds_from
from brain.playbooks import channel_congested, clients_weak
from core.history import EVENING_HOURS, local_hour, metric_window
from core.kernel.errors import Invalid
from core.kernel.models import utcnow
from core.store.schema import DeviceRow, TelemetryRow
from tests.remediation.conftest import conditions

RSSI, UTIL = "wifi.client_rssi_dbm", "wifi.channel_utilization_pct"
BAND = {"band": "2.4GHz", "radio": "1"}


def _replace_series(rt: Any, device_id: str, metric: str, points: list[tuple[Any, float]]) -> None:
    with rt.store.write() as s:
        s.execute(delete(TelemetryRow).where(TelemetryRow.device_id == device_id, TelemetryRow.metric == metric))
        s.execute(insert(TelemetryRow), [{"device_id": device_id, "ts": ts, "metric": metric, "value": v,
                                          "labels": BAND} for ts, v in points])


def _region(rt: Any, device_id: str) -> str:
    with rt.store.read() as s:
        return str(s.execute(select(DeviceRow.region).where(DeviceRow.id == device_id)).scalar_one())


def test_weak_clients_agree_on_both_sides_of_the_threshold(sqlite_runtime: Any) -> None:
    t = thresholds().weak_client_dbm
    cases = {t - 0.1: True, t: False, t + 0.1: False, t - 8: True}
    devices = conditions(12)["healthy"][:len(cases)]
    now = utcnow()
    for dev, value in zip(devices, cases, strict=True):
        _replace_series(sqlite_runtime, dev, RSSI, [(now - timedelta(hours=k + 1), value) for k in range(8)])
    with sqlite_runtime.store.read() as s:
        found = {d.device_id for d in detect(s, load_rules(), device_ids=devices, problems=["poor_coverage"])}
        for dev, (value, weak) in zip(devices, cases.items(), strict=True):
            window = metric_window(s, dev, RSSI, labels={"band": "2.4GHz"}).as_dict()
            assert (dev in found) is weak, f"detector at {value} dBm"
            assert clients_weak(window) is weak, f"planner at {value} dBm"


def test_busy_channel_agrees_on_both_sides_of_the_threshold(sqlite_runtime: Any) -> None:
    """Evenings held just above the busy threshold (quiet days) are busy for both; held on it are
    busy for neither."""
    t = thresholds().busy_channel_pct
    cases = {t + 1: True, t: False, t - 5: False}
    devices = conditions(12)["healthy"][:len(cases)]
    now = utcnow().replace(second=0, microsecond=0)
    grid = [now - timedelta(minutes=15 * k + 5) for k in range(96)]
    for dev, value in zip(devices, cases, strict=True):
        region = _region(sqlite_runtime, dev)
        points = [(ts, value if local_hour(ts, region) in EVENING_HOURS else 10.0) for ts in grid]
        _replace_series(sqlite_runtime, dev, UTIL, points)
    with sqlite_runtime.store.read() as s:
        found = {d.device_id for d in detect(s, load_rules(), device_ids=devices, problems=["wifi_congestion"])}
        for dev, (value, busy) in zip(devices, cases.items(), strict=True):
            window = metric_window(s, dev, UTIL, labels={"band": "2.4GHz"}, region=_region(sqlite_runtime, dev))
            assert (dev in found) is busy, f"detector at {value} %"
            assert channel_congested(window.as_dict()) is busy, f"planner at {value} %"


def test_the_planner_reads_what_the_rule_file_says() -> None:
    raw = orjson.loads(Path("brain/detectors/rules.json").read_bytes())
    for r in raw["rules"]:
        if r["id"] == "weak-24ghz-clients":
            r["below"] = -81.5
        if r["id"] == "busy-24ghz-channel":
            r["above"] = 55
    t = thresholds_from(parse_rules(raw))
    assert (t.weak_client_dbm, t.busy_channel_pct) == (-81.5, 55.0)
    assert t.clients_weak(-82) and not t.clients_weak(-81.5)
    assert t.channel_busy(56) and not t.channel_busy(55)


def test_a_rule_file_without_a_shared_threshold_is_refused_by_name() -> None:
    raw = orjson.loads(Path("brain/detectors/rules.json").read_bytes())
    raw["rules"] = [r for r in raw["rules"] if r["id"] != "weak-24ghz-clients"]
    with pytest.raises(Invalid, match="weak-24ghz-clients"):
        thresholds_from(parse_rules(raw))
