"""The contract between the planner (``brain``) and its surfaces (CLI chat, API, console).

Kept tiny and stable so that the API and the brain can be built in parallel: the API streams
:class:`ChatEvent` objects (server-sent events) and never reaches into the graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from core.kernel.models import Actor, utcnow

ChatEventKind = Literal[
    "step",        # the graph entered a node: understand, gather, diagnose, draft, self_check, present, report
    "tool",        # a read-only tool was called: data = {name, args, summary}
    "proposal",    # a Proposal was created through the lifecycle: data = {proposal_id, state, decision, diff}
    "answer",      # a final answer with no change
    "question",    # a clarifying question back to the agent
    "escalation",  # no CPE change is right; escalate with evidence (e.g. upstream outage)
    "outcome",     # after the lifecycle decided/applied: data = {proposal_id, state, ...}
    "notice",      # e.g. "the model endpoint failed; using the offline playbooks"
    "error",
    "secret",      # a passphrase Gateward generated, shown once to the agent: streamed, never stored
]


class ChatEvent(BaseModel):
    thread_id: str
    kind: ChatEventKind
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    ts: datetime = Field(default_factory=utcnow)


class ThreadSummary(BaseModel):
    thread_id: str
    device_id: str | None
    owner: str
    title: str
    status: Literal["open", "awaiting_approval", "closed"]
    proposal_id: str | None = None
    updated_at: datetime


class ChatService(Protocol):
    """What a surface needs from the planner."""

    def start(self, device_id: str | None, actor: Actor, title: str | None = None) -> str:
        """Open a durable thread; returns its id."""

    def send(self, thread_id: str, message: str, actor: Actor, secret: str | None = None) -> Iterator[ChatEvent]:
        """Run one turn, yielding events as the graph progresses (for streaming). ``secret`` is the
        secret field (a new Wi-Fi passphrase, never part of ``message``); surfaces pass it only when
        given."""

    def history(self, thread_id: str) -> list[ChatEvent]:
        """Every event of the thread so far (survives process restarts)."""

    def threads(self, actor: Actor | None = None) -> list[ThreadSummary]:
        """Threads, newest first; only the actor's own unless ``actor`` is None."""

    def resume(self, thread_id: str) -> Iterator[ChatEvent]:
        """Resume a thread paused while its proposal awaited approval, once the lifecycle has
        decided it (approved → apply and report; rejected → report)."""
