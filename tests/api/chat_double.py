"""A scripted stand-in for ``brain.service.ChatService`` that speaks the same protocol
(``brain/contracts.py``) so the API's chat transport (SSE framing, ownership, errors) is
tested on its own. It is not a fake lifecycle: the proposal it makes goes through the real
``Lifecycle.submit`` and ``apply``. The real planner is exercised in ``test_chat.py`` too when
``brain.service`` is importable.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

from brain.contracts import ChatEvent, ThreadSummary
from core.kernel.errors import NotFound
from core.kernel.models import Actor, Change, ProposalDraft, utcnow


class ScriptedChat:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._ids = itertools.count(1)
        self._threads: dict[str, ThreadSummary] = {}
        self._events: dict[str, list[ChatEvent]] = {}
        self._lock = threading.Lock()

    def start(self, device_id: str | None, actor: Actor, title: str | None = None) -> str:
        tid = f"t-{next(self._ids):04d}"
        with self._lock:
            self._threads[tid] = ThreadSummary(thread_id=tid, device_id=device_id, owner=actor.id,
                                               title=title or "conversation", status="open", updated_at=utcnow())
            self._events[tid] = []
        return tid

    def _emit(self, tid: str, kind: Any, text: str = "", **data: Any) -> ChatEvent:
        ev = ChatEvent(thread_id=tid, kind=kind, text=text, data=data)
        with self._lock:
            self._events[tid].append(ev)
        return ev

    def send(self, thread_id: str, message: str, actor: Actor) -> Iterator[ChatEvent]:
        if thread_id not in self._threads:
            raise NotFound(f"unknown thread {thread_id}")
        t = self._threads[thread_id]
        yield self._emit(thread_id, "step", "understand", node="understand")
        yield self._emit(thread_id, "tool", "read_params: 5 GHz on channel 52 (DFS)", name="read_params",
                         args={"device": t.device_id}, summary="5 GHz radio on a DFS channel")
        if "boom" in message:
            raise RuntimeError("planner crashed mid-turn")
        if not t.device_id or "question" in message:
            yield self._emit(thread_id, "question", "Which device is it?")
            return
        p = self.rt.lifecycle.submit(ProposalDraft(
            intent="move 5 GHz off DFS", targets=[t.device_id], source="chat",
            changes=[Change(path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value="Secret-Passphrase-99")],
            rationale=message), actor)
        with self._lock:
            self._threads[thread_id] = t.model_copy(update={"proposal_id": p.id, "status": "awaiting_approval"})
        yield self._emit(thread_id, "proposal", "I propose a new passphrase.", proposal_id=p.id, state=str(p.state),
                         diff=[{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
                                "before": "old-secret-value", "after": "Secret-Passphrase-99"}])

    def history(self, thread_id: str) -> list[ChatEvent]:
        if thread_id not in self._events:
            raise NotFound(f"unknown thread {thread_id}")
        return list(self._events[thread_id])

    def threads(self, actor: Actor | None = None) -> list[ThreadSummary]:
        items = [t for t in self._threads.values() if actor is None or t.owner == actor.id]
        return sorted(items, key=lambda t: t.updated_at, reverse=True)

    def resume(self, thread_id: str) -> Iterator[ChatEvent]:
        t = self._threads[thread_id]
        owner = Actor(id=t.owner, roles=("support_agent",))
        assert t.proposal_id
        out = self.rt.lifecycle.apply(t.proposal_id, owner)
        yield self._emit(thread_id, "outcome", f"{t.proposal_id} is {out.proposal.state}",
                         proposal_id=t.proposal_id, state=str(out.proposal.state))
