"""One result family: an outcome's views are derived from its per-device results, and
``raise_on_error`` names every device that failed (Nornir's ``AggregatedResult`` does the same)."""

from __future__ import annotations

import pytest

from core.inventory import ImportReport, row_result
from core.inventory_sync import MAX_REPORTED, SyncReport
from core.kernel.models import ExecutionStatus as X
from core.results import DeviceResult, DevicesFailed
from core.staged import BatchOutcome


def _batch() -> BatchOutcome:
    out = BatchOutcome(proposal_id="p-1")
    out.add(DeviceResult("ok", X.VERIFIED, changed=True))
    out.add(DeviceResult("bad", X.ROLLED_BACK, failed=True, error="restored", reason="verification failed: Device.X"))
    out.add(DeviceResult("lost", X.ROLLBACK_FAILED, changed=True, failed=True, error="lost: rollback failed",
                         reason="timeout"))
    out.add(DeviceResult("busy", X.SKIPPED, reason="locked by p-2"))
    out.add(DeviceResult("done", X.SKIPPED, evidence={"already_done": True}))
    out.add(DeviceResult("later", X.PENDING, evidence={"halted": True}))
    return out


def test_a_batchs_views_are_its_results() -> None:
    out = _batch()
    assert out.verified == ["ok"] and out.rolled_back == ["bad"]
    assert out.failed == {"bad": "verification failed: Device.X", "lost": "timeout"}
    assert out.failed_ids == ["bad", "lost"]
    assert out.skipped == {"busy": "locked by p-2"} and out.already_done == ["done"] and out.halted == ["later"]
    assert out.alarms == ["lost: rollback failed"] and out.executed == 3


def test_raise_on_error_names_each_failed_device_and_why() -> None:
    with pytest.raises(DevicesFailed) as err:
        _batch().raise_on_error()
    assert err.value.failed == {"bad": "verification failed: Device.X", "lost": "timeout"}
    assert "2 device(s) failed" in str(err.value) and "bad: verification failed" in str(err.value)
    BatchOutcome(proposal_id="p-1", results={"ok": DeviceResult("ok", X.VERIFIED)}).raise_on_error()


def test_an_abort_restores_on_purpose_and_fails_nobody() -> None:
    out = BatchOutcome(proposal_id="p-1", abort=True)
    out.add(DeviceResult("a", X.ROLLED_BACK, failed=True, error="abort: halted", reason="abort: halted"))
    assert out.rolled_back == ["a"] and out.failed == {} and out.failed_ids == []
    out.raise_on_error()


def test_an_imports_views_are_its_rows() -> None:
    report = ImportReport.of([row_result(2, "00D09E-A-1"), row_result(3, None, "oui: must be 6 hex digits"),
                              row_result(4, "00D09E-A-1", "already registered"),
                              row_result(5, "00D09E-B-2", None, unchanged=True)])
    assert report.registered == ["00D09E-A-1"] and report.unchanged == ["00D09E-B-2"]
    assert set(report.refused) == {3, 4} and report.refused[4].device_id == "00D09E-A-1"
    assert report.failed_ids == ["row 3", "row 4"]  # keyed by line: row 4 names a device row 2 registered
    assert report.as_dict() == {"registered": 1, "unchanged": 1, "refused": 2, "rows": [
        {"row": 2, "device_id": "00D09E-A-1", "ok": True, "error": None, "unchanged": False},
        {"row": 3, "device_id": None, "ok": False, "error": "oui: must be 6 hex digits", "unchanged": False},
        {"row": 4, "device_id": "00D09E-A-1", "ok": False, "error": "already registered", "unchanged": False},
        {"row": 5, "device_id": "00D09E-B-2", "ok": True, "error": None, "unchanged": True}]}
    with pytest.raises(DevicesFailed) as err:
        report.raise_on_error()
    assert err.value.failed == {"row 3": "oui: must be 6 hex digits", "row 4": "already registered"}
    ImportReport.of([row_result(2, "00D09E-A-1")]).raise_on_error()


def test_a_sync_keeps_its_first_refusals_and_counts_them_all() -> None:
    report = SyncReport("genieacs", registered=3)
    for n in range(MAX_REPORTED + 2):
        report.refuse(f"acs-{n}", f"dev-{n}" if n else None, f"bad {n}")
    assert report.refused_count == MAX_REPORTED + 2 and len(report.refused) == MAX_REPORTED
    assert report.refused[0] == {"acs_id": "acs-0", "device_id": None, "error": "bad 0"}
    assert report.failed_ids[:2] == ["acs-0", "acs-1"] and report.as_dict()["refused_count"] == MAX_REPORTED + 2
    with pytest.raises(DevicesFailed) as err:
        report.raise_on_error()
    assert err.value.total == MAX_REPORTED + 2 and f"{MAX_REPORTED + 2} device(s) failed" in str(err.value)
    assert f"(+{MAX_REPORTED + 2 - 5} more)" in str(err.value)
    SyncReport("genieacs", registered=3).raise_on_error()


def test_a_units_outcomes_are_its_cases() -> None:
    from brain.remediation.runner import CaseOutcome, UnitReport
    from brain.remediation.schema import RemediationCaseRow

    def case(n: int) -> RemediationCaseRow:
        return RemediationCaseRow(id=f"rc-{n}", device_id=f"dev-{n}")

    rep = UnitReport("ru-1", cases=4)
    rep.settle(case(1), CaseOutcome.APPLIED, "p-1 applied and verified")
    rep.settle(case(2), CaseOutcome.RETRY, "retry 1/3: the device is not reachable now")
    rep.settle(case(3), CaseOutcome.ESCALATED, "p-1 on this device: verification failed")
    rep.settle(case(4), CaseOutcome.APPLIED, "p-1 applied and verified")
    assert rep.outcomes == {"applied": 2, "retry": 1, "escalated": 1}
    assert rep.failed_ids == ["dev-3"] and rep.results["dev-2"].evidence["case"] == "rc-2"
    with pytest.raises(DevicesFailed) as err:
        rep.raise_on_error()
    assert err.value.failed == {"dev-3": "p-1 on this device: verification failed"}
