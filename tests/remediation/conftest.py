"""Fixtures for remediation: a seeded runtime per backend, a service with fast limits and a
movable clock, and helpers that drive the queue inline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

FAST_STORM = {"global": {"per_s": 1000, "burst": 1000}, "nodes": {"default": {"per_s": 1000, "burst": 1000}},
              "max_inflight": 1000, "max_inflight_per_node": 1000, "scan": 2000}


class Clock:
    """UTC now plus an offset the test moves (cooldowns, confirm windows, token refill)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        from core.kernel.models import utcnow

        return utcnow() + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


class FrozenClock(Clock):
    """A clock that moves only when the test moves it: a token bucket's refill is then exactly
    what ``advance`` gave, however long a loaded machine took between two ticks."""

    def __init__(self) -> None:
        from core.kernel.models import utcnow

        super().__init__()
        self.base = utcnow()

    def __call__(self) -> datetime:
        return self.base + self.offset


def make_service(rt: Any, clock: Clock | None = None, **limits: Any) -> Any:
    from brain.remediation.service import Remediation
    from brain.remediation.storm import load_limits

    opts: dict[str, Any] = {"storm": FAST_STORM, "confirm_h": 1.0}
    opts.update(limits)
    return Remediation(rt, limits=load_limits(**opts), clock=clock or Clock())


@pytest.fixture
def rt(db_url: str, seeded_fleet: None) -> Iterator[Any]:
    """A 12-home fleet: one home with each injected condition, seven healthy ones (a copy of the
    seeded template, ``tests.conftest.SEEDED_BY``)."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    r = build_runtime(Settings(database_url=db_url))
    yield r
    r.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(rt: Any, clock: Clock) -> Any:
    return make_service(rt, clock)


def conditions(homes: int = 12) -> dict[str, list[str]]:
    """Device ids per injected condition of the seeded fleet (seed 11, as ``build_test_runtime``)."""
    from executors.sim.fleet import generate_fleet

    return generate_fleet(homes=homes, seed=11, telemetry=False).conditions


def case_of(svc: Any, device_id: str, problem: str) -> dict[str, Any]:
    items, _ = svc.list(device_id=device_id, problem=problem, limit=10)
    assert items, f"no {problem} case for {device_id}"
    return items[0]
