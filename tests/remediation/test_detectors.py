"""Detectors over a seeded fleet: each injected condition is found on its homes and on no
healthy home; thresholds are data; bad rule files are refused with the rule named."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import insert

from brain.detectors import detect, load_rules, parse_rules
from core.kernel.errors import Invalid
from core.kernel.models import utcnow
from core.store.schema import TelemetryRow
from tests.conftest import build_test_runtime
from tests.remediation.conftest import conditions

EXPECTED = {"dfs_radar": "dfs_radar", "wifi_congestion": "wifi_congestion", "dns_lost_after_fw_bug": "dns_lost",
            "periodic_inform_misconfigured": "inform_interval_drift", "poor_24_coverage": "poor_coverage"}


@pytest.fixture(scope="module")
def fleet60(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('det') / 'g.db'}"
    rt = build_test_runtime(url, homes=60)
    yield rt
    rt.close()


def test_every_condition_found_and_no_healthy_home(fleet60: Any) -> None:
    from brain.remediation.profiles import load_profiles

    cond = conditions(60)
    with fleet60.store.read() as s:
        found = detect(s, load_rules(), expected=load_profiles().expected)
    pairs = {(d.device_id, d.problem) for d in found}
    for condition, problem in EXPECTED.items():
        assert cond[condition], condition
        for dev in cond[condition]:
            assert (dev, problem) in pairs, f"{condition} on {dev} not detected"
    healthy = set(cond["healthy"])
    assert not [p for p in pairs if p[0] in healthy], "a healthy home raised a problem"
    by_device = {d for d, _ in pairs}
    for condition, problem in EXPECTED.items():  # no condition is mistaken for another
        assert all(p == problem for d, p in pairs if d in cond[condition]), condition
    assert by_device == {d for c in EXPECTED for d in cond[c]}


def test_detection_carries_its_numbers(fleet60: Any) -> None:
    cond = conditions(60)
    with fleet60.store.read() as s:
        found = detect(s, load_rules(), device_ids=cond["wifi_congestion"][:1], problems=["wifi_congestion"])
    (d,) = found
    assert d.rule == "busy-24ghz-channel" and d.value >= 60 and d.data["peak"] > 75
    assert d.last_ts is not None and d.evidence()["threshold"].startswith("wifi.channel_utilization_pct > 75")


def test_sustained_means_consecutive(rt: Any) -> None:
    """Four busy samples spread over the day are not 'busy for an hour'; four in a row are."""
    cond = conditions(12)
    quiet, busy = cond["healthy"][0], cond["healthy"][1]
    now = utcnow()
    rows = []
    for k in range(4):
        busy_24 = {"metric": "wifi.channel_utilization_pct", "value": 90.0, "labels": {"band": "2.4GHz", "radio": "1"}}
        rows.append({"device_id": quiet, "ts": now - timedelta(hours=2 * k + 1), **busy_24})
        rows.append({"device_id": busy, "ts": now - timedelta(minutes=15 * k + 20), **busy_24})
    rows.append({"device_id": quiet, "ts": now - timedelta(minutes=30), "metric": "wifi.channel_utilization_pct",
                 "value": 95.0, "labels": {"band": "5GHz", "radio": "2"}})  # other band: ignored
    with rt.store.write() as s:
        s.execute(insert(TelemetryRow), rows)
    with rt.store.read() as s:
        found = detect(s, load_rules(), device_ids=[quiet, busy], problems=["wifi_congestion"])
    assert [d.device_id for d in found] == [busy]


def test_thresholds_are_data(fleet60: Any, tmp_path: Path) -> None:
    raw = orjson.loads(Path("brain/detectors/rules.json").read_bytes())
    for r in raw["rules"]:
        if r["id"] == "dfs-radar-events-per-day":
            r["min"] = 10_000
        if r["id"] == "dfs-radar-telemetry":
            r["min"] = 10_000
    with fleet60.store.read() as s:
        assert not [d for d in detect(s, parse_rules(raw)) if d.problem == "dfs_radar"]
        assert Counter(d.problem for d in detect(s, load_rules()))["dfs_radar"] > 0


def test_bad_rule_files_are_refused_with_the_rule_named(tmp_path: Path) -> None:
    base = orjson.loads(Path("brain/detectors/rules.json").read_bytes())
    bad = {**base, "rules": [*base["rules"], {"id": "x1", "problem": "dns_lost", "kind": "metric_sum",
                                              "window_h": 24}]}
    with pytest.raises(Invalid, match=r"rule x1.*needs metric, min"):
        parse_rules(bad)
    unknown = {**base, "rules": [{"id": "x2", "problem": "nope", "kind": "event_count", "event": "boot", "min": 1}]}
    with pytest.raises(Invalid, match="undeclared problem"):
        parse_rules(unknown)
    p = tmp_path / "r.json"
    p.write_text("{not json")
    with pytest.raises(Invalid, match="malformed JSON"):
        load_rules(p)
