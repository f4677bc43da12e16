"""One result family: an outcome's views are derived from its per-device results, and
``raise_on_error`` names every device that failed (Nornir's ``AggregatedResult`` does the same)."""

from __future__ import annotations

import pytest

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
