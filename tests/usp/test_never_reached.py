"""``gateward run``'s retry of USP agents registered but never reached (``gateward.agent_setup.NeverReached``):
its schedule, on an injected clock — nothing sleeps and no broker is needed.

Each never-reached device is probed at once, then 2 s after a try that found no agent, the wait
doubling to 300 s; one that answers and is set up (its discovery stored) is asked no more. The
store is real (which devices are never reached is a query); the probe (``set_up``) is the test's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest

from core.kernel.models import Device, Protocol
from core.store import Store, repo
from core.store.schema import DeviceInstancesRow
from gateward import agent_setup
from gateward.agent_setup import NeverReached, Setup

SILENT, ANSWERS = "os::00D09E-SILENT1", "os::00D09E-ANSWERS1"


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _register(store: Store, *endpoint_ids: str) -> None:
    with store.write() as s:
        for ep in endpoint_ids:
            serial = ep.rsplit("-", 1)[1]
            s.add(repo.device_to_row(Device(id=ep, vendor="unknown", model="unknown", firmware="unknown",
                                            oui="00D09E", serial=serial, protocol=Protocol.USP, adapter="usp")))


def _discovered(store: Store, device_id: str) -> None:
    """What a successful set-up leaves in the store: its discovery (so it is no longer never reached)."""
    with store.write() as s:
        s.add(DeviceInstancesRow(device_id=device_id, firmware="unknown", instances={},
                                 discovered_at=datetime.now(UTC)))


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., list[tuple[float, str]]]]:
    """Replace the probe: ``answer(device_id, n)`` says whether the n-th try of a device reaches it;
    returns the log of (clock, device) tries."""
    def install(store: Store, clock: Clock, answer: Callable[[str, int], bool], *, stores: bool = True,
                takes_s: float = 0.0) -> list[tuple[float, str]]:
        tries: list[tuple[float, str]] = []

        def set_up(_rt: Any, device: Device, _timeout: float) -> Setup:
            tries.append((clock.t, device.id))
            clock.t += takes_s  # a probe that gets no answer waits its timeout
            n = sum(1 for _, d in tries if d == device.id)
            if not answer(device.id, n):
                return Setup(device.id, device.id, False, "no answer")
            if stores:
                _discovered(store, device.id)
                return Setup(device.id, device.id, True, discovered={"stored": True})
            return Setup(device.id, device.id, True, discovered={"stored": False, "error": "GetSupportedDM refused"},
                         error="GetSupportedDM refused")

        monkeypatch.setattr(agent_setup, "set_up", set_up)
        return tries

    yield install


def _run(retry: NeverReached, clock: Clock, until_s: float, tick_s: float = 1.0) -> None:
    """The run's loop: a round every tick."""
    while clock.t <= until_s:
        retry.round()
        clock.t += tick_s


def _times(tries: list[tuple[float, str]], device_id: str) -> list[float]:
    return [t for t, d in tries if d == device_id]


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(times)]


def test_a_silent_agent_is_tried_at_once_then_after_2_s_doubling_to_300(
        store: Store, probes: Callable[..., list[tuple[float, str]]]) -> None:
    _register(store, SILENT)
    clock = Clock()
    tries = probes(store, clock, lambda _d, _n: False)
    retry = NeverReached(SimpleNamespace(store=store), clock=clock)  # type: ignore[arg-type]
    _run(retry, clock, 2000)
    times = _times(tries, SILENT)
    assert times[:5] == [0, 2, 6, 14, 30]
    assert _gaps(times) == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]  # 510, 810, ... 1710
    assert retry.set_up_ok == []


def test_the_back_off_counts_from_the_end_of_a_try_that_waited_its_timeout(
        store: Store, probes: Callable[..., list[tuple[float, str]]]) -> None:
    _register(store, SILENT)
    clock = Clock()
    tries = probes(store, clock, lambda _d, _n: False, takes_s=3.0)
    retry = NeverReached(SimpleNamespace(store=store), clock=clock)  # type: ignore[arg-type]
    _run(retry, clock, 100)
    assert _gaps(_times(tries, SILENT))[:4] == [2 + 3, 4 + 3, 8 + 3, 16 + 3]


def test_an_agent_that_answers_is_set_up_and_no_longer_tried(
        store: Store, probes: Callable[..., list[tuple[float, str]]]) -> None:
    _register(store, SILENT, ANSWERS)
    clock = Clock()
    tries = probes(store, clock, lambda d, n: d == ANSWERS and n == 3)  # it answers its third probe
    retry = NeverReached(SimpleNamespace(store=store), clock=clock)  # type: ignore[arg-type]
    _run(retry, clock, 700)
    assert _times(tries, ANSWERS) == [0, 2, 6]
    assert retry.set_up_ok == [ANSWERS]
    assert [d.id for d in agent_setup.never_reached(store, 10)] == [SILENT]
    assert _gaps(_times(tries, SILENT)) == [2, 4, 8, 16, 32, 64, 128, 256]  # the other keeps its own schedule


def test_an_agent_that_answers_but_whose_discovery_fails_is_retried_on_the_same_back_off(
        store: Store, probes: Callable[..., list[tuple[float, str]]]) -> None:
    """It answered, but nothing was stored (its GetSupportedDM refused): still never reached by the
    store's account, so tried again — on the back-off, not at every tick of the run's loop."""
    _register(store, ANSWERS)
    clock = Clock()
    tries = probes(store, clock, lambda _d, _n: True, stores=False)
    retry = NeverReached(SimpleNamespace(store=store), clock=clock)  # type: ignore[arg-type]
    _run(retry, clock, 100)
    assert _gaps(_times(tries, ANSWERS)) == [2, 4, 8, 16, 32]


def test_every_never_reached_agent_gets_its_turn_however_many_there_are(
        store: Store, probes: Callable[..., list[tuple[float, str]]]) -> None:
    """More never-reached devices than a round looks at (ten times ``per_round``): those past the
    first window by ID were never tried at all, while the first ones kept their schedule."""
    eps = [f"os::00D09E-MANY{i:02d}" for i in range(15)]
    _register(store, *eps)
    clock = Clock()
    tries = probes(store, clock, lambda _d, _n: False)
    retry = NeverReached(SimpleNamespace(store=store), per_round=1, clock=clock)  # type: ignore[arg-type]
    _run(retry, clock, 120)
    assert {d for _, d in tries} == set(eps)
