"""Suite metrics: pass^k and the counters, on hand-made results."""

from __future__ import annotations

import pytest

from evals.metrics import pass_hat_k, summarize
from evals.runner import RunResult


def test_pass_hat_k() -> None:
    assert pass_hat_k(4, 4, 4) == 1.0
    assert pass_hat_k(4, 3, 1) == 0.75
    assert pass_hat_k(4, 3, 4) == 0.0
    assert pass_hat_k(5, 4, 2) == pytest.approx(6 / 10)
    assert pass_hat_k(0, 0, 1) == 0.0


def test_summary_counts_escapes_hallucinations_and_over_escalation() -> None:
    def r(sid: str, trial: int, passed: bool, expected: str = "change", observed: str = "change",
          **kw: object) -> RunResult:
        return RunResult(sid, trial, passed, expected, observed, ["c"], **kw)  # type: ignore[arg-type]

    results = [
        r("a", 0, True, tool_calls=4), r("a", 1, True, tool_calls=6),
        r("b", 0, True), r("b", 1, False, observed="escalation", over_escalation=True),
        r("c", 0, False, expected="escalation", policy_escape=True, hallucinated_paths=2),
        r("c", 1, False, expected="escalation"),
        RunResult("d", 0, False, "change", "skipped", ["c"], skipped="no script"),
    ]
    s = summarize(results, 2, planner="offline", wall_s=1.0)
    assert s["scenarios"] == 3 and s["runs"] == 6 and s["skipped"] == 1
    assert s["pass_1"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert s["pass_k"] == pytest.approx((1 + 0 + 0) / 3, abs=1e-4)
    assert s["policy_escapes"] == 1 and s["hallucinated_paths"] == 2
    assert s["over_escalation_rate"] == 0.25
    assert s["failed"] == ["b", "c"]
