"""Fixtures for the planner's tests: one seeded 60-home simulated fleet (seed 7: every condition,
including an upstream outage) shared by the session, with each test's devices restored after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def world() -> Iterator[Any]:
    from gateward.cli_brain import SimWorld

    w = SimWorld(7, 60)
    yield w
    w.close()


@pytest.fixture
def rt(world: Any) -> Any:
    return world.runtime


@pytest.fixture
def device(world: Any) -> Iterator[Callable[[str, int], str]]:
    """``device(condition, index)`` → a device id whose twin state is restored after the test."""
    taken: dict[str, Any] = {}

    def pick(condition: str, index: int = 0) -> str:
        dev = world.conditions[condition][index]
        taken.setdefault(dev, world.snapshot(dev))
        return dev

    yield pick
    from core.models import TERMINAL_STATES
    from core.store import repo
    from core.users import get_actor

    rt = world.runtime
    with rt.store.read() as s:
        live = repo.live_proposals_touching(s, list(taken), exclude="")
    for p in live:
        if p.state not in TERMINAL_STATES:
            rt.lifecycle.cancel(p.id, get_actor(rt.store, p.author), reason="test cleanup")
    for dev, snap in taken.items():
        world.restore(dev, snap)


@pytest.fixture
def svc(rt: Any) -> Iterator[Any]:
    from brain.service import ChatService

    s = ChatService(rt, planner="offline")
    yield s
    s.close()


@pytest.fixture
def actor(rt: Any) -> Callable[[str], Any]:
    from core.users import get_actor

    return lambda name: get_actor(rt.store, name)


def run_turn(svc: Any, tid: str, text: str, who: Any) -> list[Any]:
    return list(svc.send(tid, text, who))


def kinds(events: list[Any]) -> list[str]:
    return [e.kind for e in events]
