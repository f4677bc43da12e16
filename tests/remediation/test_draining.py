"""Issue 36: a remediation unit that reaches the lifecycle while its process drains (SIGTERM) is
retried later — never escalated to a person as if the fix had been refused — and applies once the
process (or another) works again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.lifecycle import draining
from tests.remediation.conftest import Clock, case_of, conditions


@pytest.fixture
def drained() -> Iterator[None]:
    draining.reset()
    yield
    draining.reset()


def test_a_fix_refused_by_a_draining_process_is_retried_not_escalated(rt: Any, svc: Any, clock: Clock,
                                                                     drained: None) -> None:
    dev = conditions()["dfs_radar"][0]
    draining.begin()
    svc.detect()
    svc.drain(timeout_s=60)
    case = case_of(svc, dev, "dfs_radar")
    assert case["status"] not in ("escalated", "applied"), case
    assert "shutting down" in (case["resolution"] or ""), case
    draining.reset()  # the next process: the same case is fixed, once
    clock.advance(hours=1)  # past the retry's not-before
    svc.drain(timeout_s=60)
    case = case_of(svc, dev, "dfs_radar")
    assert case["status"] == "applied", case
    assert len(case["proposal_ids"]) == 1  # the same proposal, applied once
    assert rt.lifecycle.get(case["proposal_ids"][0]).state.value == "done"
