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

from brain import secret_field, secret_guard
from brain.contracts import ChatEvent, ThreadSummary
from brain.llm import LLMClient, LLMConfig, LLMError, Usage
from brain.threads import ThreadStore
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.jsontypes import JsonObject
from core.kernel.models import TERMINAL_STATES, Actor, ProposalState
from core.secret_fingerprint import secret_fingerprint
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

    def send(self, thread_id: str, message: str, actor: Actor, secret: str | None = None) -> Iterator[ChatEvent]:
        """Validates at once (raising NotFound/Forbidden/Invalid before any event, so an API can
        answer 4xx), then returns the turn's event stream. ``secret`` is the secret field: the one way
        a passphrase reaches a draft (``brain.secret_field``); it is never stored, echoed or logged."""
        if not message.strip() and secret is None:
            raise Invalid("the message is empty")
        if len(message) > 4000:
            raise Invalid("the message is longer than 4000 characters")
        if secret is not None:
            secret_field.validate(secret)
        row = self.threads_db.get(thread_id)
        if actor.id != row["owner"] and "admin" not in actor.roles:
            raise Forbidden(f"thread {thread_id} belongs to {row['owner']}")
        return self._send(thread_id, message, actor, row, secret)

    def _send(self, thread_id: str, message: str, actor: Actor, row: dict[str, Any],
              secret: str | None = None) -> Iterator[ChatEvent]:
        with self._lock(thread_id) as holder:
            yield from self._tell_news(thread_id, row)  # what the scheduler did since the last turn, first
            context = self._secret_context(thread_id)
            guarded = secret_guard.mask_turn(message, context=context)
            masked = guarded.text
            if not guarded.found and secret is None:
                quick = self._facts_only(thread_id, masked, actor, row)
                if quick is not None:
                    yield from quick
                    return
            asked = self._last_question(thread_id)  # before this turn's own message is recorded
            self._graphless.discard(thread_id)
            config = self._config(thread_id)
            snap = self.graph.get_state(config)
            values: dict[str, Any] = dict(snap.values or {})
            vault = self.deps.vault.setdefault(thread_id, {})
            user: JsonObject = {"role": "user", "node": "message", "actor": actor.id}
            other = secret_field.other_credential(masked) if (guarded.found or secret is not None
                                                              or _CREDENTIAL.search(masked)) else None
            if other is not None:
                # never turned into a Wi-Fi passphrase (issue 54): another credential is not set from chat
                yield self._record(ChatEvent(thread_id=thread_id, kind="step", text=masked or "[secret]", data=user))
                yield self._record(ChatEvent(thread_id=thread_id, kind="escalation", data={"credential": other},
                                             text=f"That is {other}, not a Wi-Fi passphrase. I do not change it from "
                                                  "chat: it is set by the ACS/provisioning, and a wrong value cuts "
                                                  "the device off. Nothing was drafted and no secret was kept; "
                                                  "escalate to the provisioning team if it must change."))
                return
            generated = secret is None and secret_field.wants_generated(masked) and _CREDENTIAL.search(masked)
            value = secret if secret is not None else secret_field.generate() if generated else None
            held: JsonObject = {}
            if value is not None:
                key = f"[secret:{len(vault) + 1}]"
                vault[key] = value
                held = {"source": "field" if secret is not None else "generated",
                        "fingerprint": secret_fingerprint(value)}
                user["secret"] = held
                masked = f"{masked} {key}".strip()
            yield self._record(ChatEvent(thread_id=thread_id, kind="step", text=masked, data=user))
            if generated and value is not None:
                # shown once, to the agent, in this stream only: never recorded, never in the thread
                yield ChatEvent(thread_id=thread_id, kind="secret", data={"value": value, **held},
                                text="A new passphrase was generated. It is shown only now: give it to the "
                                     f"subscriber. Its fingerprint is {held['fingerprint']}.")
            if guarded.found and secret is None:
                yield self._record(ChatEvent(thread_id=thread_id, kind="notice", text=secret_field.TYPED,
                                             data={"secret_field": secret_field.FIELD, "masked": guarded.found}))
            if snap.interrupts:
                from langgraph.types import Command

                stream_input: ChatState | Command[str] = Command(resume={"message": masked})
            else:
                from brain.graph import new_mac_key

                owner = actor if actor.id == row["owner"] else self._owner(row["owner"])
                stream_input = {"message": masked, "thread_id": thread_id, "device_id": row["device_id"],
                                "actor": {"id": owner.id, "roles": list(owner.roles), "kind": str(owner.kind)},
                                "planner": self.mode, "mac_key": values.get("mac_key") or new_mac_key(),
                                "asked": asked}
            yield from self._run(thread_id, stream_input, holder)

    def _secret_context(self, thread_id: str) -> bool:
        """A credential was being talked about in this thread's last turns (the agent's last message
        named one, or the planner asked for a passphrase): a correction ("no wait, make it X") is then
        read as a secret though it names none."""
        for ev in reversed(self.threads_db.events(thread_id)[-80:]):
            if ev.kind == "question" and ("passphrase" in (ev.data.get("missing") or []) or ev.text.startswith(_ASKED)):
                return True
            if ev.kind == "step" and ev.data.get("role") == "user":
                return bool(_CREDENTIAL.search(ev.text)) or "[secret" in ev.text
        return False

    def resume(self, thread_id: str) -> Iterator[ChatEvent]:
        self.threads_db.get(thread_id)  # NotFound now, not on the first event
        return self._resume(thread_id)

    def _resume(self, thread_id: str) -> Iterator[ChatEvent]:
        with self._lock(thread_id) as holder:
            yield from self._tell_news(thread_id, self.threads_db.get(thread_id))
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
                text = self._approved_text(str(pid))
                yield self._record(ChatEvent(thread_id=thread_id, kind="question", data={"proposal_id": pid},
                                             text=text))
                return
            from langgraph.types import Command

            yield from self._run(thread_id, Command(resume={"decision": str(state) if state else None}), holder)

    def _approved_text(self, pid: str) -> str:
        """An approved proposal waiting for the agent's word, with its time and conditions (brain.telling)."""
        from brain import telling

        p = self.runtime.lifecycle.get(pid)
        with self.runtime.store.read() as s:
            region = repo.get_device(s, p.targets[0]).region if p.targets else None
        return f"Proposal {pid} is approved{telling.when_and_if(p, region)}. {telling.confirm_words(p, region)}"

    def history(self, thread_id: str) -> list[ChatEvent]:
        row = self.threads_db.get(thread_id)
        if row.get("proposal_id"):
            self._tell_news_if_idle(thread_id, row)
        return self.threads_db.events(thread_id)

    def _tell_news(self, thread_id: str, row: dict[str, Any]) -> list[ChatEvent]:
        """Record what happened to the thread's proposals outside the chat (``brain.thread_news``: the
        scheduler started, finished, skipped or refused one; an approved scheduled change nobody
        confirmed). Called with the thread's turn held, so each is told once."""
        if not row.get("proposal_id"):
            return []
        from brain import thread_news
        from core.kernel.clock import elapsed_now

        region = None
        if row.get("device_id"):
            with self.runtime.store.read() as s:
                region = repo.get_device(s, str(row["device_id"])).region
        news = thread_news.news(self.runtime.store, thread_id, self.threads_db.events(thread_id), region,
                                elapsed_now(self.runtime.lifecycle.clock))
        if news:
            self.threads_db.append_many(news)
        return news

    def _tell_news_if_idle(self, thread_id: str, row: dict[str, Any]) -> None:
        """:meth:`_tell_news` for a reader of the history, when no turn of the thread runs (a running
        turn holds the thread; the news waits for the next look)."""
        with self._locks_guard:
            local = self._locks.setdefault(thread_id, threading.Lock())
        if not local.acquire(blocking=False):
            return
        try:
            holder = f"{self._process}-{uuid.uuid4().hex[:8]}"
            if not self.threads_db.try_lock(thread_id, holder, self.lease_s):
                return
            try:
                self._tell_news(thread_id, row)
            finally:
                self.threads_db.unlock(thread_id, holder)
        finally:
            local.release()

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
        from core.kernel.models import utcnow

        # The model path keeps every turn in its transcript (the next turn's context), so it always
        # runs the graph; the graph answers fact questions the same way before the model is asked.
        if self.mode != "offline" or not row.get("device_id") or len(message) > 600:
            return None
        masked = message  # masked already (``_send``), with nothing found in it
        if "[secret" in masked:
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
            # "and the 5 GHz?": the thread's last question, asked again of what the follow-up names
            topics, question = answers.resolve(heard.answers, heard.question_text, self.threads_db.events(thread_id),
                                               masked)
            plan = answers.answer(ctx, ev, topics, question, on_tool)
            self.threads_db.append_many(tools)
            out += tools
        data: JsonObject = {"finding": plan.finding, "facts": plan.data.get("facts", []),
                            "topics": plan.data.get("topics", []), "question": plan.data.get("question", "")}
        out.append(self._record(ChatEvent(thread_id=thread_id, kind=plan.outcome, text=plan.text, data=data)))
        return out

    def _last_question(self, thread_id: str) -> str:
        """The question the thread's last reply answered, or "" when its last reply was anything else: "ok, move
        it to 6" after "which channel is the 2.4 on?" is read with it (``brain.understanding.follow_up``). From
        the thread's events, not the graph's state: a question answered from facts alone never runs the graph."""
        replied = False
        for e in reversed(self.threads_db.events(thread_id)):
            data = e.data or {}
            if e.kind == "step" and data.get("role") == "user":
                return e.text if replied else ""
            if e.kind in ("question", "proposal", "outcome", "escalation"):
                return ""
            if e.kind == "answer":
                replied = True
        return ""

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
                    ev = self._dress(ChatEvent(thread_id=thread_id, kind=chunk["kind"], text=chunk.get("text", ""),
                                               data=chunk.get("data") or {}))
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

    def _dress(self, ev: ChatEvent) -> ChatEvent:
        """What the surfaces add to the planner's events for secrets: a question for a passphrase
        names the secret field; a proposal that writes a secret says what each one is for and the
        new value's fingerprint (the one the approver sees)."""
        if ev.kind == "question" and ("passphrase" in (ev.data.get("missing") or []) or ev.text.startswith(_ASKED)):
            text = ev.text
            if text.startswith(_ASKED):
                text = secret_field.ASK + text[len(_ASKED):].replace(_ASKED_RULE, "", 1)
            elif "secret field" not in text:
                text = f"{text} Send it in {secret_field.WHERE}."
            return ev.model_copy(update={"text": text.strip(), "data": {**ev.data, "secret_field": secret_field.FIELD}})
        pid = ev.data.get("proposal_id")
        if ev.kind == "proposal" and isinstance(pid, str):
            p = self.runtime.lifecycle.get(pid)
            with self.runtime.store.read() as s:
                found = secret_field.purposes_from_store(s, p.changes, p.targets)
            if found:
                return ev.model_copy(update={"data": {**ev.data, "secrets": [x.model_dump() for x in found]}})
        return ev

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

_ASKED = "What should the new Wi-Fi passphrase be?"  # the playbook's question, named the field here
_ASKED_RULE = " At least 12 characters, not a common password."

# A credential named in a message (any language the redactor knows): a generation request needs one
# ("a new random passphrase"), and the next turn reads a bare value as a secret.
_CREDENTIAL = re.compile(r"pass ?(word|phrase|wort|code)|\bpw\b|\bpwd\b|\bpsk\b|kennwort|schl(ü|ue)ssel|"
                         r"wi-?fi[ -](key|code)|network key|wpa\d? key|mot de passe|\bmdp\b|cl[ée] (wi-?fi|wpa)|"
                         r"code wi-?fi|contrase(ñ|n)a|\bclave\b|c(ó|o)digo wi-?fi|\[secret", re.IGNORECASE)
