"""No detector judges a device from what it reported before its last change (issue 39 item 6): a
device whose problem was fixed must not be reopened from the telemetry, events or snapshot that led
to the fix while they are still inside the rule's window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from brain.detectors import detect, load_rules
from brain.remediation.profiles import load_profiles
from core.kernel.ids import new_id
from core.kernel.models import utcnow
from core.store.schema import ExecutionRow, ProposalDeviceRow, ProposalRow, TelemetryRow
from tests.conftest import build_test_runtime
from tests.remediation.conftest import conditions


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('after-change') / 'g.db'}"
    rt = build_test_runtime(url, homes=12)
    yield rt
    rt.close()


def _changed(rt: Any, device_id: str, status: str = "verified", minutes_ago: float = 0.0) -> None:
    """Record a finished change on the device as the lifecycle does (a proposal, its execution)."""
    now = utcnow()
    pid = new_id("p")
    with rt.store.write() as s:
        s.execute(insert(ProposalRow), [{
            "id": pid, "author": "alice", "author_kind": "human", "intent": "fix", "targets": [device_id],
            "changes": [], "operations": [], "rationale": "", "evidence": [], "emergency": False,
            "action_type": None, "staged": False, "source": "test", "risk": 0.1, "state": "done", "hash": "x" * 64,
            "error": None, "preview": None, "version": 1, "created_at": now, "updated_at": now}])
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": pid, "device_id": device_id}])
        s.execute(insert(ExecutionRow), [{
            "id": new_id("e"), "proposal_id": pid, "device_id": device_id, "status": status, "key": pid,
            "detail": {}, "error": None, "started_at": now - timedelta(minutes=minutes_ago),
            "finished_at": now - timedelta(minutes=minutes_ago)}])


def _found(rt: Any, device_id: str) -> set[str]:
    with rt.store.read() as s:
        return {d.problem for d in detect(s, load_rules(), device_ids=[device_id],
                                          expected=load_profiles().expected)}


@pytest.mark.parametrize("condition,problem", [("wifi_congestion", "wifi_congestion"), ("dfs_radar", "dfs_radar"),
                                               ("poor_24_coverage", "poor_coverage"),
                                               ("dns_lost_after_fw_bug", "dns_lost"),
                                               ("periodic_inform_misconfigured", "inform_interval_drift")])
def test_a_fixed_device_is_not_judged_from_before_the_fix(fleet: Any, condition: str, problem: str) -> None:
    dev = conditions(12)[condition][0]
    assert problem in _found(fleet, dev), "the seeded condition is found before any change"
    _changed(fleet, dev)
    assert problem not in _found(fleet, dev), "detected from telemetry older than the device's last change"


def test_evidence_after_the_change_still_counts(fleet: Any) -> None:
    dev = conditions(12)["healthy"][0]
    assert "wifi_congestion" not in _found(fleet, dev)
    _changed(fleet, dev, minutes_ago=120)
    _busy_now(fleet, dev)  # the problem came after the change
    assert "wifi_congestion" in _found(fleet, dev)


def _busy_now(rt: Any, dev: str) -> None:
    now = utcnow()
    with rt.store.write() as s:  # 90 busy minutes up to now
        s.execute(insert(TelemetryRow), [
            {"device_id": dev, "ts": now - timedelta(minutes=m), "metric": "wifi.channel_utilization_pct",
             "value": 92.0, "labels": {"band": "2.4GHz"}} for m in range(0, 95, 5)])


def test_a_failed_change_is_no_change(fleet: Any) -> None:
    """An execution that failed wrote nothing that stayed: the evidence before it still stands."""
    dev = conditions(12)["healthy"][1]
    _busy_now(fleet, dev)
    _changed(fleet, dev, status="failed")
    assert "wifi_congestion" in _found(fleet, dev)
    _changed(fleet, dev, status="rolled_back")  # a rollback wrote the device: judged afresh
    assert "wifi_congestion" not in _found(fleet, dev)
