"""Detectors run on a schedule inside `gateward run` (issue 16): before, only `gateward remediation
detect` ran them, so a served fleet never opened a case on its own. The schedule is
``GATEWARD_DETECT_INTERVAL_S`` (0: off); "detect now" is ``POST /api/remediation/detect``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from brain.remediation.schema import RemediationCaseRow
from gateward.runtime import DetectorSettings, PeriodicDetect, start_detectors


def _cases(rt: Any) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(RemediationCaseRow)) or 0)


def test_the_schedule_opens_cases_by_itself_and_stops(rt: Any) -> None:
    assert _cases(rt) == 0
    det, said = start_detectors(rt, 0.2)
    assert isinstance(det, PeriodicDetect) and said == "detectors: every 0.2s (GATEWARD_DETECT_INTERVAL_S)"
    try:
        end = time.monotonic() + 30
        while det.runs < 2 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        det.stop()
    assert det.runs >= 2 and det.last is not None
    opened = _cases(rt)
    assert opened > 0 and det.last["duplicates"] > 0  # the second run finds the same cases open: no repeats
    runs = det.runs
    time.sleep(0.5)
    assert det.runs == runs and _cases(rt) == opened  # stopped means stopped


def test_zero_turns_the_schedule_off(monkeypatch: pytest.MonkeyPatch, rt: Any) -> None:
    monkeypatch.setenv("GATEWARD_DETECT_INTERVAL_S", "0")
    assert DetectorSettings().interval_s == 0
    det, said = start_detectors(rt)
    assert det is None and "off" in said and "GATEWARD_DETECT_INTERVAL_S is 0" in said
    monkeypatch.setenv("GATEWARD_DETECT_INTERVAL_S", "-1")
    with pytest.raises(ValueError):
        DetectorSettings()


def test_a_failing_run_does_not_end_the_schedule(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = PeriodicDetect.run_once

    def flaky(self: PeriodicDetect) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database restarting")
        return real(self)

    monkeypatch.setattr(PeriodicDetect, "run_once", flaky)
    det = PeriodicDetect(rt, 0.1).start()
    try:
        end = time.monotonic() + 30
        while det.runs < 1 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        det.stop()
    assert calls["n"] >= 2 and det.runs >= 1 and _cases(rt) > 0
