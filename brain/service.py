"""``ChatService``: the planner behind the CLI chat, the API's SSE endpoints and the console.

Implements :class:`brain.contracts.ChatService`. One instance per process; threads are durable
(LangGraph checkpoints next to the store, plus the ``chat_threads``/``chat_events`` tables), so a
second instance on the same database — after a restart, or another worker — continues any thread,
including one paused while its proposal awaits approval.

Per message: passphrases are redacted into an in-memory vault (``brain.redact``); the agent's
masked words are recorded as a ``step`` event with ``data.role = "user"`` (the contract has no
message kind, and history must replay both sides); the graph runs — from the start for a new
request, or resumed (``Command(resume=…)``) when the thread is paused on a confirmation or an
approval — and every event it writes to its custom stream is persisted and yielded.

Turns of one thread are serialised across processes by a lease in the database
(:meth:`brain.threads.ThreadStore.try_lock`): two replicas given a turn of the same thread at once
must never both resume its paused step. The second waits up to ``busy_wait_s``
(``GATEWARD_CHAT_BUSY_WAIT_S``, default 3 s) and then gets :class:`ThreadBusy` (HTTP 409).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from brain.contracts import ChatEvent, ThreadSummary
from brain.llm import LLMClient, LLMConfig, LLMError, Usage
from brain.redact import redact, settle
from brain.threads import ThreadStore
from core.errors import Conflict, Forbidden, Invalid
from core.kernel.jsontypes import JsonObject
from core.models import TERMINAL_STATES, Actor, ProposalState
from core.redact import looks_secret
from core.services import CoreServices
from core.store import repo

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.types import Command

    from brain.checkpoint import Checkpointer
    from brain.graph import ChatState, Deps

PlannerChoice = Literal["auto", "offline", "llm"]
LEASE_S = 120.0  # a turn's lease; renewed while the turn streams, so only a crashed holder's expires


class ThreadBusy(Conflict):
    """Another turn of this thread is running (in this process or another replica)."""

    code = "thread_busy"


def _busy_wait_s() -> float:
    raw = os.environ.get("GATEWARD_CHAT_BUSY_WAIT_S", "").strip()
    try:
        value = float(raw) if raw else 3.0
    except ValueError:
        raise ValueError(f"GATEWARD_CHAT_BUSY_WAIT_S={raw!r} is not a number") from None
    if not 0 <= value <= 600:
        raise ValueError("GATEWARD_CHAT_BUSY_WAIT_S must be between 0 and 600")
    return value


class ChatService:
    def __init__(self, runtime: CoreServices, *, planner: PlannerChoice = "auto", llm: LLMClient | None = None,
                 llm_config: LLMConfig | None = None, checkpointer: Checkpointer | None = None) -> None:
        self.runtime = runtime
        self.threads_db = ThreadStore(runtime.store)
        self._given_checkpointer = checkpointer
        if llm is None and planner != "offline":
            cfg = llm_config or LLMConfig.from_env(model=getattr(runtime.settings, "model", None))
            if cfg.enabled:
                llm = LLMClient(cfg)
            elif planner == "llm":
                raise LLMError("not_configured", "--planner llm needs OPENAI_API_KEY (and OPENAI_BASE_URL for a "
                                                 "local endpoint)")
        self.llm = llm if planner != "offline" else None
        self.mode: Literal["offline", "llm"] = "llm" if self.llm is not None else "offline"
        self._graphless: set[str] = set()  # threads started here that no graph turn has touched yet
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.busy_wait_s = _busy_wait_s()
        self.lease_s = LEASE_S
        self._process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    # The graph (LangGraph, its checkpointer and the model planner) is built on first use: a turn
    # that only asks for facts is answered without it (a CLI turn paid ~1.4 s CPU of
    # imports before the planner's own 0.1 s).
    @cached_property
    def deps(self) -> Deps:
        from brain.graph import Deps
        from brain.llm_planner import LLMPlanner

        return Deps(runtime=self.runtime, llm=LLMPlanner(self.llm) if self.llm is not None else None)

    @cached_property
    def _checkpointer(self) -> Checkpointer:
        from brain.checkpoint import open_checkpointer

        return self._given_checkpointer or open_checkpointer(self.runtime.store.url)

    @cached_property
    def graph(self) -> CompiledStateGraph[ChatState, Any, ChatState, ChatState]:
        from brain.graph import PlannerGraph

        return PlannerGraph(self.deps).builder().compile(checkpointer=self._checkpointer.saver)

    def close(self) -> None:
        if "_checkpointer" in self.__dict__:
            self._checkpointer.close()

    # ------------------------------------------------------------------ contract
    def start(self, device_id: str | None, actor: Actor, title: str | None = None) -> str:
        if device_id is not None:
            with self.runtime.store.read() as s:
                repo.get_device(s, device_id)  # NotFound with a hint
        thread_id = f"t-{uuid.uuid4().hex[:16]}"
        self.threads_db.create(thread_id, device_id, actor.id, title or (f"chat about {device_id}" if device_id
                                                                         else "chat"), self.mode)
        self._graphless.add(thread_id)
        return thread_id

    def send(self, thread_id: str, message: str, actor: Actor) -> Iterator[ChatEvent]:
        """Validates at once (raising NotFound/Forbidden/Invalid before any event, so an API can
        answer 4xx), then returns the turn's event stream."""
        if not message.strip():
            raise Invalid("the message is empty")
        if len(message) > 4000:
            raise Invalid("the message is longer than 4000 characters")
        row = self.threads_db.get(thread_id)
        if actor.id != row["owner"] and "admin" not in actor.roles:
            raise Forbidden(f"thread {thread_id} belongs to {row['owner']}")
        return self._send(thread_id, message, actor, row)

    def _send(self, thread_id: str, message: str, actor: Actor, row: dict[str, Any]) -> Iterator[ChatEvent]:
        with self._lock(thread_id) as holder:
            quick = self._facts_only(thread_id, message, actor, row)
            if quick is not None:
                yield from quick
                return
            self._graphless.discard(thread_id)
            config = self._config(thread_id)
            snap = self.graph.get_state(config)
            values: dict[str, Any] = dict(snap.values or {})
            vault = self.deps.vault.setdefault(thread_id, {})
            masked, found = redact(message, start=len(vault) + 1)
            pending = values.get("pending") or {}
            if not found and _passphrase_waits(values):
                # "typo - it's 'Saffron-Kettle-2219'" while a passphrase change waits: the corrected value
                # is a secret too, though the message names no password
                value = _corrected_secret(message)
                if value is not None:
                    key = f"[secret:{len(vault) + 1}]"
                    found, masked = {key: value}, message.replace(value, key)
            if not found and "passphrase" in (pending.get("missing") or []):
                kind, value = _bare_answer(message, pending)
                if kind == "secret" and value is not None:
                    key = f"[secret:{len(vault) + 1}]"
                    found, masked = {key: value}, key
                elif kind == "unclear":  # never a guess: ask again, and keep none of it
                    yield self._record(ChatEvent(thread_id=thread_id, kind="step", text="[secret]",
                                                 data={"role": "user", "node": "message", "actor": actor.id}))
                    yield self._record(ChatEvent(thread_id=thread_id, kind="question", data={"missing": ["passphrase"]},
                                                 text=UNCLEAR_PASSPHRASE))
                    return
            settled = {k: settle(v, message) for k, v in found.items()}
            if any(v is None for v in settled.values()):
                # several unquoted words: never guessed into one passphrase, never echoed
                for key, value in settled.items():
                    if value is None:
                        masked = _mask_clause_after(masked, key)
                yield self._record(ChatEvent(thread_id=thread_id, kind="step", text=masked,
                                             data={"role": "user", "node": "message", "actor": actor.id}))
                yield self._record(ChatEvent(thread_id=thread_id, kind="question", data={"missing": ["passphrase"]},
                                             text=UNCLEAR_PASSPHRASE))
                return
            vault.update({k: v for k, v in settled.items() if v is not None})
            yield self._record(ChatEvent(thread_id=thread_id, kind="step", text=masked,
                                         data={"role": "user", "node": "message", "actor": actor.id}))
            if snap.interrupts:
                from langgraph.types import Command

                stream_input: ChatState | Command[str] = Command(resume={"message": masked})
            else:
                from brain.graph import new_mac_key

                owner = actor if actor.id == row["owner"] else self._owner(row["owner"])
                stream_input = {"message": masked, "thread_id": thread_id, "device_id": row["device_id"],
                                "actor": {"id": owner.id, "roles": list(owner.roles), "kind": str(owner.kind)},
                                "planner": self.mode, "mac_key": values.get("mac_key") or new_mac_key()}
            yield from self._run(thread_id, stream_input, holder)

    def resume(self, thread_id: str) -> Iterator[ChatEvent]:
        self.threads_db.get(thread_id)  # NotFound now, not on the first event
        return self._resume(thread_id)

    def _resume(self, thread_id: str) -> Iterator[ChatEvent]:
        with self._lock(thread_id) as holder:
            config = self._config(thread_id)
            snap = self.graph.get_state(config)
            if not snap.interrupts:
                yield self._record(ChatEvent(thread_id=thread_id, kind="notice",
                                             text="This thread is not waiting for anything; nothing to resume."))
                return
            pending = snap.interrupts[0].value or {}
            pid = pending.get("proposal_id")
            state = self.runtime.lifecycle.get(pid).state if pid else None
            if pending.get("kind") == "approval" and state is ProposalState.AWAITING_APPROVAL:
                yield self._record(ChatEvent(thread_id=thread_id, kind="notice", data={"proposal_id": pid},
                                             text=f"Proposal {pid} is still waiting for approval."))
                return
            if pending.get("kind") == "confirm" and state is ProposalState.APPROVED:
                text = f"Proposal {pid} is approved. Reply 'apply' to apply it, or 'cancel'."
                yield self._record(ChatEvent(thread_id=thread_id, kind="question", data={"proposal_id": pid},
                                             text=text))
                return
            from langgraph.types import Command

            yield from self._run(thread_id, Command(resume={"decision": str(state) if state else None}), holder)

    def history(self, thread_id: str) -> list[ChatEvent]:
        return self.threads_db.events(thread_id)

    def threads(self, actor: Actor | None = None) -> list[ThreadSummary]:
        return self.threads_db.summaries(owner=actor.id if actor is not None else None)

    # ------------------------------------------------------------------ extras
    def awaiting(self, thread_id: str) -> dict[str, Any] | None:
        """What a paused thread waits for (``{"kind": "approval"|"confirm", "proposal_id": …}``), or None."""
        if thread_id in self._graphless:
            return None  # started here and only answered from facts: nothing can be paused
        snap = self.graph.get_state(self._config(thread_id))
        return dict(snap.interrupts[0].value or {}) if snap.interrupts else None

    def state(self, thread_id: str) -> dict[str, Any]:
        """The thread's graph state (JSON; no secrets) — for tests, evals and the console."""
        return dict(self.graph.get_state(self._config(thread_id)).values or {})

    def usage(self, thread_id: str) -> Usage:
        return Usage.model_validate(self.state(thread_id).get("usage") or {})

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _lock(self, thread_id: str) -> Iterator[str]:
        """Hold the thread's turn: this process's lock, then the database lease (every replica).
        Waits up to ``busy_wait_s`` for both, then raises :class:`ThreadBusy`."""
        busy = ThreadBusy(f"chat thread {thread_id} is busy: another turn of it is running (here or on another "
                          "replica); try again when it has finished", thread_id=thread_id)
        deadline = time.monotonic() + self.busy_wait_s
        with self._locks_guard:
            local = self._locks.setdefault(thread_id, threading.Lock())
        if not local.acquire(timeout=self.busy_wait_s):
            raise busy
        try:
            holder = f"{self._process}-{uuid.uuid4().hex[:8]}"
            delay = 0.02
            while not self.threads_db.try_lock(thread_id, holder, self.lease_s):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise busy
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.25)
            try:
                yield holder
            finally:
                self.threads_db.unlock(thread_id, holder)
        finally:
            local.release()

    def _facts_only(self, thread_id: str, message: str, actor: Actor,
                    row: dict[str, Any]) -> list[ChatEvent] | None:
        """A message that only asks for facts (``brain.understanding.clauses``: questions with answerable topics,
        nothing requested, no secret in it) about a device, offline planner: answered here,
        read-only, without the graph — the same answer the graph's answer path gives. The thread's
        state is untouched (a paused proposal stays paused; a question the planner asked stays
        open). None otherwise."""
        from zoneinfo import ZoneInfo

        from brain.understanding import offline
        from core.models import utcnow

        # The model path keeps every turn in its transcript (the next turn's context), so it always
        # runs the graph; the graph answers fact questions the same way before the model is asked.
        if self.mode != "offline" or not row.get("device_id") or len(message) > 600:
            return None
        masked, found = redact(message, start=1)
        if found or "[secret:" in masked:
            return None
        understood = offline.understand(masked, offline.Context(now=utcnow(), zone=ZoneInfo("UTC")))
        req, heard = understood.request, understood.heard
        if (heard is None or req.act not in ("question", "acknowledge") or req.scope.kind != "this_device"
                or req.unplaced or req.conditions or req.schedule is not None or req.refers_to is not None):
            return None  # anything beyond a plain question about this gateway takes the graph
        if heard.text or not (heard.answers or heard.acknowledged is not None):
            return None
        if "admin" not in actor.roles and actor.id != row["owner"]:
            return None
        from brain import answers, evidence, named_devices
        from brain.tools import ToolContext, ToolResult
        from brain.untrusted import Pseudonymizer

        if named_devices.others(masked, str(row["device_id"])) or _BEYOND_ONE.search(masked):
            return None  # another gateway, a building, a neighbourhood, a fleet slice: the graph's
        with self.runtime.store.read() as s:
            device = repo.get_device(s, str(row["device_id"]))

        out = [self._record(ChatEvent(thread_id=thread_id, kind="step", text=masked,
                                      data={"role": "user", "node": "message", "actor": actor.id}))]
        if heard.acknowledged is not None:
            plan = heard.acknowledged
        else:
            owner = actor if actor.id == row["owner"] else self._owner(row["owner"])
            ctx = ToolContext(self.runtime, device, owner, Pseudonymizer(thread_id))
            tools: list[ChatEvent] = []

            def on_tool(r: ToolResult) -> None:
                tools.append(ChatEvent(thread_id=thread_id, kind="tool", text=r.summary, data=r.event_data()))

            ev = evidence.gather_facts(ctx, on_tool)
            plan = answers.answer(ctx, ev, heard.answers, heard.question_text, on_tool)
            self.threads_db.append_many(tools)
            out += tools
        data: JsonObject = {"finding": plan.finding, "facts": plan.data.get("facts", [])}
        out.append(self._record(ChatEvent(thread_id=thread_id, kind=plan.outcome, text=plan.text, data=data)))
        return out

    @staticmethod
    def _config(thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 60}

    def _owner(self, owner: str) -> Actor:
        """The thread owner's actor (an admin posting in another's thread acts for the owner)."""
        from core.users import get_actor

        return get_actor(self.runtime.store, owner)

    def _record(self, event: ChatEvent) -> ChatEvent:
        self.threads_db.append(event)
        return event

    def _run(self, thread_id: str, stream_input: ChatState | Command[str],
             holder: str | None = None) -> Iterator[ChatEvent]:
        """Stream one turn. Progress events (steps, tool calls) are persisted in batches; anything
        a person acts on (a proposal, an outcome, a question…) is persisted before it is yielded."""
        from brain.graph import event_sink

        config = self._config(thread_id)
        pending: list[ChatEvent] = []
        emitted: list[dict[str, Any]] = []
        stream = self.graph.stream(stream_input, config, stream_mode="updates", durability="exit")
        renewed = time.monotonic()
        try:
            finished = False
            while not finished:
                if holder is not None and time.monotonic() - renewed > self.lease_s / 3:
                    self.threads_db.try_lock(thread_id, holder, self.lease_s)  # a long turn keeps its lease
                    renewed = time.monotonic()
                with event_sink(emitted.append):
                    try:
                        next(stream)
                    except StopIteration:
                        finished = True
                batch, emitted[:] = list(emitted), []
                for chunk in batch:
                    ev = ChatEvent(thread_id=thread_id, kind=chunk["kind"], text=chunk.get("text", ""),
                                   data=chunk.get("data") or {})
                    pending.append(ev)
                    if ev.kind not in ("step", "tool"):
                        self.threads_db.append_many(pending)
                        pending = []
                    yield ev
        except Exception as exc:  # a bug or an outage mid-turn: tell the agent, keep the thread usable
            err = ChatEvent(thread_id=thread_id, kind="error",
                            text=f"the planner failed: {type(exc).__name__}: {exc}"[:500])
            self.threads_db.append_many([*pending, err])
            pending = []
            yield err
        finally:
            closer = getattr(stream, "close", None)
            if callable(closer):
                closer()
            self.threads_db.append_many(pending)
        self._sync_thread(thread_id)

    def _sync_thread(self, thread_id: str) -> None:
        snap = self.graph.get_state(self._config(thread_id))
        values: ChatState = snap.values or {}  # type: ignore[assignment]
        status = "open"
        if snap.interrupts and (snap.interrupts[0].value or {}).get("kind") == "approval":
            status = "awaiting_approval"
        elif values.get("proposal_state") and ProposalState(str(values["proposal_state"])) in TERMINAL_STATES:
            status = "closed"
        update: JsonObject = {"status": status, "usage": dict(values.get("usage") or {}),
                                  "tool_calls": int(values.get("tool_calls", 0)), "planner": self.mode}
        if values.get("proposal_id"):
            update["proposal_id"] = values["proposal_id"]
        self.threads_db.update(thread_id, **update)


# Anything that may reach beyond this gateway (a quantifier, a building, a street, a neighbourhood:
# a superset of what ``brain.fleetplan`` plans jointly) takes the graph, which decides exactly.
_BEYOND_ONE = re.compile(
    r"\b(all|every|each|alle[nms]?|sämtliche\w*|jede[mnrs]?|tou(te)?s|chaque|todos|todas|cada|building|block|flats|"
    r"gebäude\w*|wohnblock|mehrfamilienhaus|haus|immeuble|bâtiment|batiment|résidence|edificio|bloque|"
    r"neighbou?r\w*|nachbar\w*|viertel|straße|strasse|street|quartier|voisin\w*|rue|barrio|vecin\w*|calle|"
    r"fleet|flotte|flota|pon|olt|cmts|node)\b", re.IGNORECASE)

UNCLEAR_PASSPHRASE = ("I did not take that as the passphrase: it is not clear which part of it is. Send only the "
                      "passphrase — in quotes if it has spaces, e.g. 'Blue Fox 9' — or 'cancel'.")
_QUOTED_ANY = re.compile(r"[\"“„«]\s?([^\"”“»]{1,128}?)\s?[\"”“»]")


def _mask_clause_after(masked: str, key: str) -> str:
    """``masked`` with the rest of ``key``'s clause masked too: an unclear phrase is not shown in part."""
    at = masked.find(key)
    if at < 0:
        return masked
    end = re.search(r"[.;!?\n](?=\s|$)", masked[at:])
    stop = at + end.start() if end else len(masked)
    return masked[:at + len(key)] + masked[stop:]


_QUOTED_ONLY = re.compile(r"^\s*([\"'“”‘’„«»])(.+?)([\"'“”‘’»«])\s*[.!]?\s*$", re.S)


def _passphrase_waits(values: dict[str, Any]) -> bool:
    """A passphrase change of this thread waits for its confirmation or its approver."""
    request = values.get("request") or {}
    return request.get("action") == "passphrase" and bool(values.get("proposal_id")) and bool(values.get("awaiting"))


def _corrected_secret(message: str) -> str | None:
    """The one quoted value of a correction, else its one credential-shaped token."""
    quoted = _QUOTED_ANY.findall(message) or re.findall(r"(?<!\w)['‘]([^'’\s]{8,63})['’](?!\w)", message)
    if len(quoted) == 1 and 8 <= len(quoted[0].strip()) <= 63:
        return str(quoted[0]).strip()
    shaped = [t.strip(".,;:!?()") for t in message.split() if looks_secret(t.strip(".,;:()")) and len(t) >= 8]
    return shaped[0] if len(shaped) == 1 else None


def _bare_answer(message: str, pending: dict[str, Any]) -> tuple[str, str | None]:
    """After "what should the new passphrase be?", what the answer is: ``("secret", value)`` when it
    is the quoted text (the whole message one quoted string) or a single token; ``("none", None)``
    when it withdraws the request ("cancel", "no"); otherwise ``("unclear", None)`` — never a guess
    ("hunter22 lol, can u set that" is not the passphrase "hunter22 lol")."""
    text = message.strip()
    if not text or re.match(r"(?i)^(cancel|never ?mind|stop|no)\b", text):
        return "none", None
    quoted = _QUOTED_ANY.findall(text)
    if len(quoted) == 1 and not _QUOTED_ONLY.match(text) and quoted[0].strip() and len(quoted[0]) <= 128:
        # 'they went with "Quartz!Meadow-Otter-58"': the one quoted value is the answer
        return ("unclear", None) if "ssid" in (pending.get("missing") or []) else ("secret", quoted[0].strip())
    m = _QUOTED_ONLY.match(text)
    if m is not None and m.group(2).strip() and len(m.group(2)) <= 128:
        value = m.group(2).strip()
        if "ssid" in (pending.get("missing") or []) and " " in value:
            return "unclear", None  # the rest may be the name
        return "secret", value
    if len(text) <= 128 and not any(c.isspace() for c in text) and not re.search(r"[\"“”„«»]", text):
        return "secret", text.strip("'‘’")
    # "Juniper-Anvil-4408, that's what she picked": one token, then a clause of its own with no other
    # candidate in it
    head, sep, tail = [*re.split(r"(\s*[,;]\s+|\s+[-–—]\s+)", text, maxsplit=1), "", ""][:3]
    if sep and head and not any(c.isspace() for c in head) and looks_secret(head) and not any(
            looks_secret(w.strip(".,;:!?")) for w in tail.split()):
        return "secret", head.strip("'‘’")
    return "unclear", None
