"""The USP controller's agents and events: the agents it knows, its listeners and the waits on events.

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from executors.usp.controller_types import (
    AgentState,
    UspEvent,
    log,
)
from executors.usp.topics import (
    agent_topic,
)

if TYPE_CHECKING:
    from executors.usp.controller import UspController


def agent(self: UspController, endpoint_id: str) -> AgentState | None:
    return self._agents.get(endpoint_id)


def agents(self: UspController) -> list[AgentState]:
    return list(self._agents.values())


def connected_count(self: UspController) -> int:
    """How many agents are connected now (a counter: safe to read from any thread)."""
    return self._connected_n


def state(self: UspController, endpoint_id: str) -> AgentState:
    st = self._agents.get(endpoint_id)
    if st is None:
        st = AgentState(endpoint_id=endpoint_id, topic=agent_topic(endpoint_id))
        self._agents[endpoint_id] = st
    return st


def add_listener(self: UspController, listener: Callable[[UspEvent], None], *, consumer: bool = False) -> None:
    """``consumer``: the listener handles (stores) notifications for the whole controller
    endpoint, so this process joins the shared subscription group (MQTT 5, see the module
    docstring) — at once if the controller is running, else when it starts."""
    self._listeners.append(listener)
    self._listening = tuple(self._listeners)
    if consumer and self.share_group is not None and not self._want_member:
        self._want_member = True
        if self.started and self._loop is not None:
            self._loop.create_task(self._join_group())


def remove_listener(self: UspController, listener: Callable[[UspEvent], None]) -> None:
    if listener in self._listeners:
        self._listeners.remove(listener)
        self._listening = tuple(self._listeners)


async def events_iter(self: UspController) -> AsyncIterator[UspEvent]:
    """Every event from now on, in arrival order, until the consumer stops iterating."""
    queue: asyncio.Queue[UspEvent] = asyncio.Queue()
    self.add_listener(queue.put_nowait)
    try:
        while True:
            yield await queue.get()
    finally:
        self.remove_listener(queue.put_nowait)


def expect(self: UspController, predicate: Callable[[UspEvent], bool], endpoint_id: str | None = None
           ) -> asyncio.Future[UspEvent]:
    """A future for the first *future* event matching ``predicate``; register it before the
    request that causes the event, so the event cannot slip past. With ``endpoint_id``, the
    other processes of a shared subscription forward that agent's notifications here (an
    Operate request announces this by itself)."""
    assert self._loop is not None, "controller not started"
    fut: asyncio.Future[UspEvent] = self._loop.create_future()
    if endpoint_id is not None:
        self._interest_held[endpoint_id] = self._interest_held.get(endpoint_id, 0) + 1
        self._holding[fut] = endpoint_id
        self.announce_interest(endpoint_id)
    self._waiters.append((predicate, fut))
    return fut


def cancel_expectation(self: UspController, fut: asyncio.Future[UspEvent]) -> None:
    """The wait is over (call it whether or not the event came): forget the waiter, and withdraw
    the interest the other processes were told of once no other wait of ours needs it."""
    self._waiters = [(p, f) for p, f in self._waiters if f is not fut]
    if not fut.done():
        fut.cancel()
    endpoint_id = self._holding.pop(fut, None)
    if endpoint_id is not None:
        left = self._interest_held.get(endpoint_id, 1) - 1
        if left > 0:
            self._interest_held[endpoint_id] = left
        else:
            self._interest_held.pop(endpoint_id, None)
            self.withdraw_interest(endpoint_id)


def emit(self: UspController, event: UspEvent, *, waiters_only: bool = False) -> None:
    """Deliver to listeners and waiters; ``waiters_only`` for what another process of the
    endpoint already handled (relayed presence, forwarded notifications)."""
    if waiters_only:
        self._wake(event)
        return
    self.stats.events += 1
    self.recent_events.append(event)
    for listener in self._listening:
        try:
            listener(event)
        except Exception:
            log.exception("USP event listener failed on %s from %s", event.kind, event.endpoint_id)
    self._wake(event)


def wake(self: UspController, event: UspEvent) -> None:
    if self._waiters:
        keep: list[tuple[Callable[[UspEvent], bool], asyncio.Future[UspEvent]]] = []
        for pred, fut in self._waiters:
            if fut.done():
                continue
            try:
                hit = pred(event)
            except Exception:
                hit = False
            if hit:
                fut.set_result(event)
            else:
                keep.append((pred, fut))
        self._waiters = keep
