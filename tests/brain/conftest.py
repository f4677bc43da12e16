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
    from core.kernel.models import utcnow

    taken: dict[str, Any] = {}
    started = utcnow()

    def pick(condition: str, index: int = 0) -> str:
        dev = world.conditions[condition][index]
        taken.setdefault(dev, world.snapshot(dev))
        return dev

    yield pick
    from core.kernel.models import TERMINAL_STATES
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
    _forget_history(rt, list(taken), started)


def _forget_history(rt: Any, devices: list[str], since: Any) -> None:
    """Isolation between tests that share the session's world: proposals a test made stay in the
    store, but leave the devices' history, so a later test on the same device is not seen as a
    repeat of this one (the planner escalates a fix applied twice in a week) — as evals do."""
    from sqlalchemy import delete, select

    from core.store.schema import ProposalDeviceRow, ProposalRow

    if not devices:
        return
    with rt.store.write() as s:
        mine = select(ProposalRow.id).where(ProposalRow.created_at >= since)
        s.execute(delete(ProposalDeviceRow).where(ProposalDeviceRow.device_id.in_(devices),
                                                  ProposalDeviceRow.proposal_id.in_(mine)))


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


def radio_index(rt: Any, dev: str, band: str) -> int:
    """The index of ``dev``'s radio on ``band``, read live (as the planner reads it)."""
    from brain.tools import radios_from_values
    from core.store import repo

    with rt.store.read() as s:
        d = repo.get_device(s, dev)
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    radios = radios_from_values({p: {"value": v.value} for p, v in values.items()})
    return next(r.index for r in radios if r.band == band)


# ------------------------------------------------------------------- the model path, on a local server
@pytest.fixture
def server() -> Iterator[Any]:
    """An OpenAI-compatible server on loopback that answers what a test loads (``testing.llm_server``)."""
    from testing.llm_server import FakeOpenAIServer

    srv = FakeOpenAIServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def llm_svc(rt: Any, server: Any) -> Iterator[Any]:
    """The chat service on the model path, against ``server`` (no retries, a short timeout)."""
    from brain.llm import LLMClient, LLMConfig
    from brain.service import ChatService

    client = LLMClient(LLMConfig(api_key=server.api_key, base_url=server.base_url, model="gpt-4o-mini",
                                 timeout_s=2, max_retries=0))
    s = ChatService(rt, planner="llm", llm=client)
    yield s
    s.close()
