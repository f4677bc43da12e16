"""The planner as a LangGraph state machine.

    understand → gather → diagnose → draft → self_check ─┬─► present ─┬─► await_decision ─► apply ─► report
                                       ▲        │ (retry) │           │      (interrupt)             ▲
                                       └────────┘         └─(no change: question / escalation / answer)┘

Why a graph: a support chat is long-lived and is interrupted twice on purpose — for the agent's
"apply?" confirmation and while a proposal waits for an approver — and both pauses must survive a
process restart. LangGraph gives each thread a checkpoint after every node and an ``interrupt``
that resumes in whichever process picks the thread up. The nodes themselves only read
(``brain.tools``) and hand drafts to the lifecycle; the *only* calls that can lead to a write are
``runtime.lifecycle.submit`` (which validates, previews and asks policy) and
``runtime.lifecycle.apply`` for a proposal the lifecycle itself has approved.

Events for the chat (:class:`brain.contracts.ChatEvent`) are written to LangGraph's custom
stream as they happen; the chat service persists and forwards them. Nothing is emitted before an
``interrupt`` in a node, because a resumed node runs again from its start.

State is plain JSON (it is checkpointed). Secrets never enter it: passphrases are placeholders
resolved from the service's in-memory vault (``brain.redact``).
"""

from __future__ import annotations

import re
import secrets as pysecrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt

from brain import (
    answers,
    evidence,
    explicit,
    model_context,
    model_guard,
    named_devices,
    playbooks,
    qualify,
    telling,
)
from brain.charts import change_measure
from brain.llm import Usage
from brain.llm_planner import LLMOutcome, LLMPlanner
from brain.plan import Finding, Intent, Plan
from brain.selfcheck import SelfCheck, self_check
from brain.tools import ToolContext, ToolResult
from brain.understanding import checker, clauses, offline, pairs, references
from brain.understanding.intent import classify, extract_ssid
from brain.understanding.request import Request, Scope
from brain.untrusted import Pseudonymizer
from core import localtime
from core.kernel.clock import elapsed_now
from core.kernel.errors import DeviceUnavailable, GatewardError, Locked
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind, Evidence, Proposal, ProposalDraft, ProposalState, utcnow
from core.kernel.secrets import mask_value
from core.services import CoreServices
from core.store import repo

MAX_ATTEMPTS = 3

PlannerMode = Literal["offline", "llm"]


class ChatState(TypedDict, total=False):
    thread_id: str
    device_id: str | None
    actor: dict[str, Any]
    mac_key: str
    message: str
    said: str  # the agent's whole (masked) message of this turn: what a model reads, qualifiers and all
    turn: int
    transcript: list[dict[str, str]]
    planner: str
    intent: str
    evidence: dict[str, Any]
    bundle: JsonObject | None
    turn_tools: list[dict[str, Any]]
    finding: dict[str, Any] | None
    plan: dict[str, Any] | None
    llm: dict[str, Any] | None
    attempts: int
    exclude: dict[str, Any]
    check: dict[str, Any] | None
    proposal_id: str | None
    proposal_state: str | None
    awaiting: str | None
    pending: dict[str, Any] | None
    tool_calls: int
    usage: dict[str, Any]
    notices: list[str]
    apply_error: str | None
    check_feedback: str
    answers: list[str]
    question_text: str
    deferred: list[str]
    read_only: bool
    request: dict[str, Any] | None  # the typed request of the last message (brain.understanding.request)
    asked: str  # the thread's last question when an answer was its last reply (set by the service each turn)
    after_draft: bool  # the message answers a draft or question of the last turn (a correction may amend it)


@dataclass
class Deps:
    """What the nodes need that is not state: the runtime, the model (if any), the secret vault."""

    runtime: CoreServices
    llm: LLMPlanner | None = None
    vault: dict[str, dict[str, str]] = field(default_factory=dict)


def new_mac_key() -> str:
    return pysecrets.token_hex(16)


# ============================================================================ helpers


_local = threading.local()


@contextmanager
def event_sink(sink: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Route events emitted by nodes running on this thread to ``sink``. The chat service streams
    in LangGraph's ``updates`` mode, in which a single-task step runs inline on the caller's
    thread; that keeps thread-bound resources (the embedded policy engine is one per thread) on the
    service's threads instead of a fresh worker pool per turn."""
    prev = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield
    finally:
        _local.sink = prev


def _emit(kind: str, text: str = "", **data: Any) -> None:
    event = {"kind": kind, "text": text, "data": data}
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink(event)
    else:  # run under LangGraph's own custom streaming
        get_stream_writer()(event)


def _step(node: str, text: str = "", **data: Any) -> None:
    _emit("step", text or node, node=node, **data)


def _actor(state: ChatState) -> Actor:
    a = state["actor"]
    return Actor(id=a["id"], roles=tuple(a.get("roles", ())), kind=ActorKind(a.get("kind", "human")))


def _understood(state: ChatState, text: str, actor: Actor, region: str | None,
                now: datetime | None = None) -> offline.Understood:
    """A person's message read whole into a typed request (``brain.understanding.offline``); a job's
    trigger is taken as sent. ``now``: the runtime's time that passes (a clock a test owns moves "tonight"
    with it), else the wall clock."""
    prev = state.get("request")
    ctx = offline.Context(now=now or utcnow(), zone=localtime.zone(region),
                          after_draft=bool(state.get("pending")) or bool(state.get("after_draft")),
                          previous=Request.model_validate(prev) if prev else None,
                          is_job=actor.kind is ActorKind.JOB, deferred=tuple(state.get("deferred") or ()),
                          asked=str(state.get("asked") or ""))
    return offline.understand(text, ctx)


def _ctx(deps: Deps, state: ChatState) -> ToolContext:
    with deps.runtime.store.read() as s:
        device = repo.get_device(s, str(state["device_id"]))
    return ToolContext(deps.runtime, device, _actor(state), Pseudonymizer(state.get("mac_key") or "gateward"))


def _tool_recorder(state: ChatState, sink: list[dict[str, Any]]) -> Callable[[ToolResult], None]:
    def on_tool(r: ToolResult) -> None:
        sink.append({"name": r.name, "summary": r.summary, "ok": r.ok})
        _emit("tool", r.summary, **r.event_data())
    return on_tool


def _on_notice(notices: list[str]) -> Callable[[str, JsonObject], None]:
    def on_notice(text: str, data: JsonObject) -> None:
        notices.append(text)
        _emit("notice", text, **data)
    return on_notice


def _plan(state: ChatState) -> Plan:
    return Plan.model_validate(state["plan"])


def _usage_add(state: ChatState, extra: Usage) -> JsonObject:
    return Usage.model_validate(state.get("usage") or {}).add(extra).model_dump()


def _masked_changes(d: ProposalDraft) -> list[dict[str, Any]]:
    return [{"path": c.path, "value": mask_value(c.path, c.value)} for c in d.changes]


# ============================================================================ the graph


class PlannerGraph:
    """Nodes as methods over shared dependencies; :meth:`builder` wires them."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @property
    def rt(self) -> CoreServices:
        return self.deps.runtime

    def builder(self) -> StateGraph[ChatState]:
        g: StateGraph[ChatState] = StateGraph(ChatState)
        g.add_node("understand", self.understand, destinations=("gather", "report"))
        g.add_node("gather", self.gather, destinations=("diagnose",))
        g.add_node("diagnose", self.diagnose, destinations=("draft", "report"))
        g.add_node("draft", self.draft, destinations=("self_check", "report"))
        g.add_node("self_check", self.self_check, destinations=("present", "draft", "report"))
        g.add_node("present", self.present, destinations=("await_decision", "apply", "report"))
        g.add_node("await_decision", self.await_decision,
                   destinations=("apply", "report", "await_decision", "understand"))
        g.add_node("apply", self.apply, destinations=("report", "await_decision"))
        g.add_node("report", self.report)
        g.add_edge(START, "understand")
        return g

    # ------------------------------------------------------------------ understand
    def understand(self, state: ChatState) -> Command[str]:
        """The message read whole (``brain.understanding``) and routed: an answer to the planner's last
        question, a confirmation, a correction, a request beyond this gateway, an unplaced part to ask
        about — or the request to plan."""
        _step("understand")
        t = self._turn(state)
        early = self._before_merge(state, t)
        if early is not None:
            return early
        merged = self._merge_pending(state, t)
        request = t.u.request
        if merged and state.get("request"):
            # the answer to the planner's question, read with the request it completes
            again = _understood({**state, "pending": None, "after_draft": False}, t.text, t.actor, t.region,
                                self._now()).request
            request = offline.amend(Request.model_validate(state.get("request")), again)
        elif t.superseded is not None:
            request = Request.model_validate(state["request"])  # the amended request the agent confirmed
        reset = self._reset(state, t, request)
        return self._route(state, t, request, reset, merged)

    def _now(self) -> datetime:
        """The time that passes, as the lifecycle's scheduler reads it (``core.kernel.clock.elapsed_now``)."""
        return elapsed_now(self.rt.lifecycle.clock)

    def _turn(self, state: ChatState) -> _Turn:
        said = str(state.get("message", ""))
        actor = _actor(state)
        device_id = state.get("device_id")
        region = None
        if device_id:
            with self.rt.store.read() as s:
                region = repo.get_device(s, str(device_id)).region
        waiting = self._still_open(state)
        u = _understood({**state, "after_draft": bool(state.get("after_draft") or waiting)}, said, actor, region,
                        self._now())
        text = u.text if u.heard is not None else said
        pending = state.get("pending")
        if u.heard is not None and u.heard.answers and not u.heard.text:
            pending = None  # a question is a new turn, not the answer to the one asked before
        ref = u.request.refers_to.kind if u.request.refers_to is not None else None
        if pending and ref == "correct" and state.get("request"):
            # "je voulais dire la 2,4" after the planner asked about the 5 GHz: the correction was read
            # with the request it amends, and ``text`` is that request whole — the first message's words
            # beside it would bring back the band (or value) the correction replaced
            pending = None
        return _Turn(said=said, actor=actor, device_id=device_id, region=region, waiting=waiting, u=u,
                     text=text, intent=classify(text, is_job=actor.kind is ActorKind.JOB), pending=pending, ref=ref)

    def _before_merge(self, state: ChatState, t: _Turn) -> Command[str] | None:
        """Turns settled before the message is merged with the planner's last question: a correction
        of a confirmed change (asked about, never withdrawn unasked), the answer to that question, a
        confirmed joint plan, a confirmation word where a name was asked for."""
        if t.waiting and t.ref == "correct":
            p = self.rt.lifecycle.get(t.waiting)
            if p.start_requested_by:
                return self._ask_supersede(state, t, p)
            # "actually make it 3am instead" about a change that waits for its time or its approver (nobody
            # confirmed it yet): that change is withdrawn, and the amended request is planned anew
            self.rt.lifecycle.cancel(t.waiting, t.actor, reason="superseded in chat by: " + t.said[:200])
            _step("understand", f"proposal {t.waiting} withdrawn: the agent amended the request", proposal_id=t.waiting)
        pending = t.pending or {}
        if pending.get("kind") == "supersede":
            t.pending = None
            old = str(pending.get("proposal_id") or "")
            if t.ref == "confirm" and old:
                self.rt.lifecycle.cancel(old, t.actor, reason="superseded in chat (confirmed): " + t.said[:200])
                _step("understand", f"proposal {old} withdrawn: the agent confirmed the amended request",
                      proposal_id=old)
                t.superseded, t.text, t.ref = old, str(pending.get("text", "")), None
                t.intent = classify(t.text)
            return None
        if pending.get("kind") == "joint_plan":
            if t.ref == "confirm" and t.device_id and t.actor.kind is not ActorKind.JOB:
                return self._submit_joint(state, str(pending.get("text", "")), t.intent)
            t.pending = None  # anything else is a new request
            return None
        if "ssid" in pending.get("missing", []) and (t.ref == "confirm" or _only_confirmation(t.said)):
            # "apply", "ok", "yes go" where the planner asked for the name: never the name itself
            plan = Plan(outcome="question", finding="name_missing", data={"pending": pending.get("kind"),
                                                                          "missing": pending.get("missing", [])},
                        text="I still need the new network name itself — send it in quotes (e.g. \u201cLinden "
                             "Court\u201d), or 'cancel'. Nothing was drafted.")
            return Command(update={"plan": plan.model_dump(mode="json"), "message": pending.get("text", ""),
                                   "intent": pending.get("intent"), "pending": None}, goto="report")
        return None

    def _ask_supersede(self, state: ChatState, t: _Turn, p: Proposal) -> Command[str]:
        """A correction of a change the agent already confirmed: said, and asked — the confirmed change
        stays until the agent says to replace it."""
        zone = localtime.zone(t.region)
        when = (f" for {localtime.local(p.not_before, t.region):%a %d %b %H:%M} local time"
                if p.not_before is not None else "")
        amended = checker.readback(t.u.request, zone)
        plan = Plan(outcome="question", finding="supersede",
                    data={"pending": "supersede", "missing": ["confirm"], "proposal_id": p.id},
                    text=(f"Proposal {p.id} is confirmed{when} ({p.readback or p.intent}). Replacing it would "
                          f"withdraw it and draft instead: {amended}. Reply 'yes' to replace it, or 'no' to keep it "
                          "as confirmed."))
        reset = self._reset(state, t, t.u.request)
        return Command(update={**reset, "plan": plan.model_dump(mode="json")}, goto="report")

    def _merge_pending(self, state: ChatState, t: _Turn) -> bool:
        """The message as the answer to the planner's last question (a value, a name, a confirmation),
        merged into that question's request text; False when it is a new request."""
        pending = t.pending
        confirmed = t.ref == "confirm"
        if not pending or t.ref == "cancel" or not (confirmed or t.intent in (Intent.UNKNOWN,
                                                                                Intent(pending["intent"]))):
            return False
        t.intent = Intent(pending["intent"])
        extra = t.text
        if "confirm" in pending.get("missing", []) and confirmed:
            extra = explicit.CONFIRMED
        if "ssid" in pending.get("missing", []) and extract_ssid(t.said) is None and t.said.strip():
            extra = f'SSID "{t.said.strip()}"'  # as given: a name over the limit is asked again, not cut
        # the answer first, so that its name wins over one the first message had (e.g. too long)
        first = "ssid" in pending.get("missing", [])
        t.text = (f"{extra} {pending.get('text', '')}" if first else f"{pending.get('text', '')} {extra}").strip()
        return True

    def _reset(self, state: ChatState, t: _Turn, request: Request) -> dict[str, Any]:
        heard = t.u.heard
        return {
            "intent": str(t.intent), "message": t.text, "said": t.said, "turn": int(state.get("turn", 0)) + 1,
            "evidence": {}, "turn_tools": [], "finding": None, "plan": None, "llm": None, "attempts": 0,
            "exclude": {}, "check": None, "proposal_id": None, "proposal_state": None, "awaiting": None,
            "pending": None, "notices": [], "apply_error": None, "after_draft": False,
            "transcript": [*state.get("transcript", []), {"role": "user", "text": t.said}][-20:],
            **_questions(self.rt, state, heard, t.said),
            "deferred": heard.deferred if heard else [],
            "read_only": bool(heard and heard.read_only),
            "request": request.model_dump(mode="json") if (t.actor.kind is not ActorKind.JOB) else None,
        }

    def _route(self, state: ChatState, t: _Turn, request: Request, reset: dict[str, Any],
               merged: bool) -> Command[str]:
        """Where the understood turn goes: a reply (no device, withdrawn, nothing to confirm, another
        device, an acknowledgement, beyond this gateway, an unplaced part) or the planning (gather)."""
        reply = self._reply_instead(t, request, merged)
        if reply is not None:
            extra = {"request": None} if reply.finding == "withdrawn" else {}
            return Command(update={**reset, **extra, "plan": reply.model_dump(mode="json")}, goto="report")
        if t.actor.kind is ActorKind.JOB:
            return Command(update=reset, goto="gather")
        # other gateways (a fleet slice, a building, a neighbourhood, a follow-up to a drafted slice):
        # planned together or answered, never a change on this gateway
        wide = self._beyond_one_device({**state, "read_only": reset["read_only"]}, request,
                                       t.said if not merged else t.text)
        if wide is not None and request.scope.this_too and request.action is not None and (
                wide.data.get("campaign_draft")):
            # "… on this one, and on every CGW-3400 in the UK as well": both parts — the campaign
            # draft for the others is said now, and this gateway's own change is planned below
            _emit("answer", wide.text + " This gateway's own change is drafted next, on its own.",
                  finding=wide.finding, **{k: wide.data[k] for k in ("campaign_draft", "slice") if wide.data.get(k)})
            request = request.model_copy(update={"scope": Scope(words=request.scope.words),
                                                 "unplaced": [x for x in request.unplaced if x.kind != "scope"]})
            reset["request"] = request.model_dump(mode="json")
        elif wide is not None:
            return Command(update={**reset, "plan": wide.model_dump(mode="json")}, goto="report")
        ask = checker.question(request)
        if ask is not None:  # understand the whole request or ask: never act on part of it
            _step("understand", "part of the request could not be placed", finding="unplaced",
                  unplaced=[x.words for x in request.unplaced])
            if reset["answers"]:
                self._answer_now(state, reset)  # the question asked beside it is answered all the same
            plan = Plan(outcome="question", finding="unplaced", text=ask,
                        data={"unplaced": [x.model_dump(mode="json") for x in request.unplaced]})
            return Command(update={**reset, "plan": plan.model_dump(mode="json"), "after_draft": True},
                           goto="report")
        return Command(update=reset, goto="gather")

    def _answer_now(self, state: ChatState, reset: dict[str, Any]) -> None:
        """Answer the message's questions in this node (the turn ends with a question about the rest)."""
        ctx = _ctx(self.deps, state)
        sink: list[dict[str, Any]] = []
        on_tool = _tool_recorder(state, sink)
        ans = answers.answer(ctx, evidence.gather_facts(ctx, on_tool), list(reset["answers"]),
                             str(reset["question_text"]), on_tool)
        _emit("answer", ans.text, finding="answer", facts=ans.data.get("facts", []),
              topics=ans.data.get("topics", []), question=ans.data.get("question", ""))

    def _reply_instead(self, t: _Turn, request: Request, merged: bool) -> Plan | None:
        if not t.device_id:
            return Plan(outcome="question", finding="no_device",
                        text="Which gateway is this about? Start the chat with a device id.")
        if t.ref == "cancel":
            return Plan(outcome="answer", finding="withdrawn",
                        text="Understood — nothing will be drafted or changed. Tell me if something else is needed.")
        if t.ref == "confirm" and not merged:
            return Plan(outcome="answer", finding="nothing_to_confirm", text=(
                "There is nothing waiting for a confirmation in this chat. Tell me what the customer needs."))
        if t.actor.kind is not ActorKind.JOB and named_devices.others(t.said, str(t.device_id)):
            with self.rt.store.read() as s:
                elsewhere = named_devices.answer(s, t.said, str(t.device_id))
            if elsewhere is not None:  # another gateway's id: never a change here, nor there from this chat
                _step("understand", "the message names another device", finding=elsewhere.finding)
                return elsewhere
        heard = t.u.heard
        keep_request = merged or t.ref == "correct" or t.superseded is not None
        if heard is not None and heard.acknowledged is not None and not keep_request:
            return Plan.model_validate(heard.acknowledged.model_dump(mode="json"))
        return None

    def _still_open(self, state: ChatState) -> str | None:
        """The last turn's proposal when it still waits (for its time, its approver or its start)."""
        pid = state.get("proposal_id")
        if not pid:
            return None
        try:
            p = self.rt.lifecycle.get(str(pid))
        except GatewardError:
            return None
        return p.id if p.state in (ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL) else None

    def _submit_joint(self, state: ChatState, text: str, intent: Intent) -> Command[str]:
        from brain import fleetplan

        with self.rt.store.read() as s:
            device = repo.get_device(s, str(state["device_id"]))
        plan = fleetplan.submit_joint_plan(self.rt, device, text, _actor(state))
        _step("understand", "submitting the confirmed joint plan", finding=plan.finding)
        said = {"role": "user", "text": state.get("message", "")}
        update = {"intent": str(intent), "message": text, "turn": int(state.get("turn", 0)) + 1, "pending": None,
                  "plan": plan.model_dump(mode="json"), "proposal_id": None, "turn_tools": [], "notices": [],
                  "transcript": [*state.get("transcript", []), said][-20:]}
        return Command(update=update, goto="report")

    def _beyond_one_device(self, state: ChatState, req: Request, text: str) -> Plan | None:
        """A plan for a request about other gateways; None when it is about this one. The scope
        comes from the typed request: a building or a street named as where this customer's problem
        is does not make a joint plan; only a request about the others does."""
        from brain import fleetplan
        from brain.knowledge import policy_data

        previous = ((state.get("plan") or {}).get("data") or {}).get("slice")  # the thread's last slice
        if req.scope.kind == "this_device" and not previous:
            return None
        with self.rt.store.read() as s:
            device = repo.get_device(s, str(state["device_id"]))
            # a change (not a question, not about the air) for every home of a building or a street
            group = req.scope.kind if req.act in ("change", "diagnose") and req.action not in _AIR_ACTIONS and \
                not state.get("read_only") else None
            plan = fleetplan.plan_for(s, device, text, policy_data(self.rt.policy), previous, runtime=self.rt,
                                      asked=group)
            if plan is None and req.scope.kind == "fleet":
                plan = fleetplan.unmatched(s, req.scope, text, question=bool(state.get("read_only")))
        if plan is not None:
            _step("understand", f"the request reaches beyond this gateway: {plan.finding}", finding=plan.finding)
        return plan

    # ------------------------------------------------------------------ gather
    def gather(self, state: ChatState) -> Command[str]:
        _step("gather", planner=state.get("planner", "offline"))
        ctx = _ctx(self.deps, state)
        sink: list[dict[str, Any]] = []
        on_tool = _tool_recorder(state, sink)
        if state.get("planner") == "llm" and self.deps.llm is not None:
            # The model plans on the same ground as the playbooks: the same core evidence bundle.
            ev: dict[str, Any] = evidence.gather_bundle(ctx, on_tool)
        else:
            cached = evidence.cached(state.get("bundle"), str(state["device_id"]))
            ev = playbooks.gather(ctx, Intent(state["intent"]), on_tool, cached=cached)
            if cached is not None:
                _step("gather", "reusing this thread's evidence (read less than two minutes ago)", cached=True)
            else:
                update_bundle = evidence.to_cache(ev, str(state["device_id"]))
                calls = int(state.get("tool_calls", 0)) + len(sink)
                return Command(update={"evidence": ev, "turn_tools": sink, "tool_calls": calls,
                                       "bundle": update_bundle}, goto="diagnose")
        calls = int(state.get("tool_calls", 0)) + len(sink)
        return Command(update={"evidence": ev, "turn_tools": sink, "tool_calls": calls}, goto="diagnose")

    # ------------------------------------------------------------------ diagnose
    def _offline_finding(self, state: ChatState, ctx: ToolContext, sink: list[dict[str, Any]],
                         ev: dict[str, Any] | None = None) -> tuple[dict[str, Any], Finding]:
        intent = Intent(state["intent"])
        if ev is None:
            ev = playbooks.gather(ctx, intent, _tool_recorder(state, sink))
        typed = Request.model_validate(state["request"]) if state.get("request") else None
        finding = playbooks.diagnose(ctx, intent, ev, state.get("message", ""),
                                     self.deps.vault.get(state["thread_id"], {}), request=typed)
        return ev, finding

    def diagnose(self, state: ChatState) -> Command[str]:
        _step("diagnose")
        ctx = _ctx(self.deps, state)
        sink = list(state.get("turn_tools", []))
        notices: list[str] = list(state.get("notices", []))
        update: dict[str, Any] = {}
        if state.get("answers"):
            # Questions are answered from facts before any operation is considered.
            ans = answers.answer(ctx, state.get("evidence") or {}, list(state.get("answers") or []),
                                 str(state.get("question_text") or ""), _tool_recorder(state, sink))
            if not str(state.get("message", "")).strip():
                _step("diagnose", "answered from the device's facts", finding="answer")
                return Command(update={"plan": ans.model_dump(mode="json"), "turn_tools": sink}, goto="report")
            _emit("answer", ans.text, finding="answer", facts=ans.data.get("facts", []),
                  topics=ans.data.get("topics", []), question=ans.data.get("question", ""))
        for what in state.get("deferred") or []:
            text = (f"Deferred: {what}. I draft one change at a time — ask for it again once this one is "
                    "applied (or cancelled).")
            notices.append(text)
            _emit("notice", text, deferred=what)
        if state.get("planner") == "llm" and self.deps.llm is not None:
            # the model reads the agent's whole message, never the parser's remainder, and a first prompt
            # within its budget (issue 57): the bundle summarised, the rest through the read-only tools
            first = model_context.first_message(state.get("evidence") or {}, ctx.pseudo,
                                                state.get("said") or state.get("message", ""), ctx.actor.id,
                                                state.get("transcript", [])[:-1], self.deps.llm.fixed_tokens())
            before = len(sink)
            out = self.deps.llm.start(ctx, first, _tool_recorder(state, sink), _on_notice(notices))
            update["usage"] = _usage_add(state, out.usage)
            update["tool_calls"] = int(state.get("tool_calls", 0)) + (len(sink) - before)
            if out.kind != "fallback":
                update.update({"llm": _llm_state(out), "turn_tools": sink, "notices": notices,
                               "finding": {"kind": "llm", "summary": "model-driven diagnosis"}})
                _step("diagnose", "the model gathered evidence", tool_calls=out.tool_calls)
                return Command(update=update, goto="draft")
            text = _fallback_notice(out)
            notices.append(text)
            _emit("notice", text, fallback=True, failure=out.failure)
            before = len(sink)
            ev, finding = self._offline_finding(state, ctx, sink)
            update["tool_calls"] += len(sink) - before
            update.update({"planner": "offline", "evidence": ev})
        else:
            ev, finding = self._offline_finding(state, ctx, sink, ev=state.get("evidence"))
        finding = _targeted(finding, state.get("request"))
        _step("diagnose", finding.summary, finding=finding.kind)
        update.update({"finding": finding.model_dump(mode="json"), "turn_tools": sink, "notices": notices})
        return Command(update=update, goto="draft")

    # ------------------------------------------------------------------ draft
    def draft(self, state: ChatState) -> Command[str]:
        _step("draft", attempt=int(state.get("attempts", 0)) + 1)
        ctx = _ctx(self.deps, state)
        update: dict[str, Any] = {}
        if state.get("planner") == "llm" and state.get("llm") is not None:
            llm_state = state["llm"] or {}
            if int(state.get("attempts", 0)) > 0 and self.deps.llm is not None:
                sink = list(state.get("turn_tools", []))
                notices = list(state.get("notices", []))
                before = len(sink)
                out = self.deps.llm.redraft(ctx, llm_state.get("messages", []), llm_state.get("call_id"),
                                            state.get("check_feedback") or _feedback(state),
                                            _tool_recorder(state, sink), _on_notice(notices))
                update["usage"] = _usage_add(state, out.usage)
                update["tool_calls"] = int(state.get("tool_calls", 0)) + (len(sink) - before)
                update["turn_tools"] = sink
                update["notices"] = notices
                if out.kind == "fallback":
                    text = _fallback_notice(out)
                    _emit("notice", text, fallback=True, failure=out.failure)
                    before = len(sink)
                    ev, finding = self._offline_finding(state, ctx, sink)
                    update["tool_calls"] += len(sink) - before
                    plan = playbooks.draft(ctx, finding, ev, secrets=self.deps.vault.get(state["thread_id"], {}))
                    update.update({"planner": "offline", "evidence": ev, "finding": finding.model_dump(mode="json"),
                                   "llm": None, "attempts": 0, "exclude": {}})
                    return self._after_draft(ctx, plan, ev, update, state)
                llm_state = _llm_state(out)
                update["llm"] = llm_state
            # the model's reading of the request, reconciled with the offline one by the same checker:
            # the stricter of the two, and a question if either left a part unplaced
            said = (llm_state.get("draft") or llm_state.get("respond") or {}).get("request")
            if said is None and llm_state.get("draft"):
                said = {"act": "change"}  # a draft is a reading too: a change, whatever the message was
            offline_req = Request.model_validate(state["request"]) if state.get("request") else None
            words = f"{state.get('said') or ''}\n{state.get('message', '')}"  # the whole message, and a merged answer
            request = checker.reconcile(offline_req, Request.model_validate(said) if said else None, words)
            ask = checker.question(request) if request is not None and llm_state.get("draft") else None
            if ask is not None:
                plan = Plan(outcome="question", finding="unplaced", text=ask,
                            data={"unplaced": [x.model_dump(mode="json") for x in request.unplaced]}
                            if request is not None else {})
            else:
                plan = _guarded(_plan_from_llm(ctx, llm_state, state), request, ctx)
            if request is not None:
                update["request"] = request.model_dump(mode="json")
            return self._after_draft(ctx, plan, state.get("evidence") or {}, update,
                                     {**state, "request": update.get("request", state.get("request"))})
        finding = Finding.model_validate(state["finding"])
        ev = state.get("evidence") or {}
        plan = playbooks.draft(ctx, finding, ev, exclude=state.get("exclude") or {},
                               secrets=self.deps.vault.get(state["thread_id"], {}))
        return self._after_draft(ctx, plan, ev, update, state)

    def _after_draft(self, ctx: ToolContext, plan: Plan, ev: dict[str, Any], update: dict[str, Any],
                     state: ChatState | None = None) -> Command[str]:
        req = state.get("request") if state is not None else None
        if state is not None and _asked(state) and "confirm" in (plan.data.get("missing") or []):
            # "can I turn the 2.4 off without …?": what it would do is said; the offer to do it is not made
            plan = Plan(outcome="answer", finding=plan.finding, data={"facts": plan.data.get("facts", [])},
                        text=plan.text.split(" Reply 'yes'")[0] + " Nothing was drafted — you asked a question.")
        if state is not None and plan.outcome == "change" and _asked(state):
            # THE point where a turn becomes a draft: a question never does, whatever a reader, the model
            # or a later stage says (issue 54) — what it asks about is read live, a fix is offered
            plan = self._answer_instead(ctx, plan, update, state)
            update["plan"] = plan.model_dump(mode="json")
            return Command(update=update, goto="report")
        if req:
            # the draft against what was asked: the bands, the network, the value, the conditions, the time
            plan = qualify.apply(ctx, Request.model_validate(req), plan, ev)
        plan = playbooks.conflict_gate(playbooks.compat_gate(ctx, plan, ev), ev)
        if state is not None and state.get("read_only") and state.get("answers"):
            plan = _beside_an_answer(plan, str(state.get("said") or state.get("message") or ""))
        update["plan"] = plan.model_dump(mode="json")
        if plan.outcome == "change" and plan.draft is not None:
            _step("draft", plan.text, changes=_masked_changes(plan.draft))
            return Command(update=update, goto="self_check")
        return Command(update=update, goto="report")

    def _answer_instead(self, ctx: ToolContext, plan: Plan, update: dict[str, Any], state: ChatState) -> Plan:
        """A question's draft, never submitted: the state it asks about read live ("is the 5 GHz radio
        on?" → the radio's Enable as it is now), or the fix a diagnosis found offered with its facts."""
        assert plan.draft is not None
        finding = update.get("finding") or state.get("finding") or {}
        if finding.get("kind") in ("explicit_request", "llm") and plan.draft.changes:
            sink = list(update.get("turn_tools") or state.get("turn_tools") or [])
            answered = answers.state_of(ctx, plan.draft.changes, _tool_recorder(state, sink), state.get("evidence"))
            update["turn_tools"] = sink
            _step("draft", "a question: what it asks about was read, nothing drafted", finding=answered.finding)
            return answered
        _step("draft", "a question: the fix is offered, not drafted", finding=str(finding.get("kind")))
        return answers.offer(Finding.model_validate(finding) if finding else None, plan, utcnow())

    # ------------------------------------------------------------------ self_check
    def self_check(self, state: ChatState) -> Command[str]:
        _step("self_check")
        ctx = _ctx(self.deps, state)
        plan = _plan(state)
        assert plan.draft is not None
        try:
            resolved = playbooks.resolve_secrets(plan.draft, self.deps.vault.get(state["thread_id"], {}))
        except KeyError:
            q = Plan(outcome="question", finding="secret_lost", text=(
                "I no longer hold the passphrase you sent (the service restarted before I could use it). "
                "Please send the new passphrase again."), data={"pending": "passphrase_change"})
            return Command(update={"plan": q.model_dump(mode="json"),
                                   "pending": {"intent": state.get("intent"), "missing": ["passphrase"],
                                               "text": state.get("message", "")}}, goto="report")
        check = self_check(self.rt, ctx.device, ctx.actor, resolved)
        _emit("tool", check.summary(), name="policy_dry_run", args={"changes": _masked_changes(plan.draft)},
              summary=check.summary(), ok=check.ok)
        tool_calls = int(state.get("tool_calls", 0)) + 1
        if check.ok:
            return Command(update={"check": check.as_dict(), "tool_calls": tool_calls}, goto="present")
        attempts = int(state.get("attempts", 0)) + 1
        reasons = check.issues or (check.decision.deny if check.decision else []) or [check.error or "unknown"]
        exclude = dict(state.get("exclude") or {})
        retry = attempts < MAX_ATTEMPTS
        finding = (state.get("finding") or {}).get("kind")
        if state.get("planner") != "llm":
            retry = retry and _exclude_for_retry(finding, plan, reasons, exclude)
        elif not check.decision and not check.issues:
            retry = False
        if retry:
            _emit("notice", f"self-check refused the draft ({'; '.join(reasons[:2])}); drafting again",
                  problem="self_check", reasons=reasons[:5])
            return Command(update={"check": check.as_dict(), "attempts": attempts, "exclude": exclude,
                                   "tool_calls": tool_calls, "check_feedback": "; ".join(reasons[:5])}, goto="draft")
        return Command(update={"check": check.as_dict(), "attempts": attempts, "tool_calls": tool_calls,
                               "plan": _give_up(state, plan, check.issues, reasons, ctx,
                                                _secret_denials(check)).model_dump(mode="json")},
                       goto="report")

    # ------------------------------------------------------------------ present
    def present(self, state: ChatState) -> Command[str]:
        _step("present")
        plan = _plan(state)
        assert plan.draft is not None
        actor = _actor(state)
        draft = plan.draft.model_copy(update={"evidence": [*plan.draft.evidence, *_tool_evidence(state)]})
        resolved = playbooks.resolve_secrets(draft, self.deps.vault.get(state["thread_id"], {}))
        try:
            p = self.rt.lifecycle.submit(resolved, actor)
        except GatewardError as exc:
            _emit("error", f"the lifecycle refused the proposal: {exc.message}", code=exc.code)
            failed = Plan(outcome="escalation", finding="submit_failed",
                          text=f"I could not submit the proposal: {exc.message}")
            return Command(update={"plan": failed.model_dump(mode="json")}, goto="report")
        self.deps.vault.pop(state["thread_id"], None)  # the secret is in the proposal now; forget it here
        info = _proposal_info(self.rt, p.id)
        region = self._region(state)
        # the time and the conditions are said where the proposal is made, on every surface (issue 55.10)
        _emit("proposal", f"Proposal {p.id}: {p.intent} — {p.state}{telling.when_and_if(p, region)}", **info,
              **telling.schedule_data(p, region))
        update = {"proposal_id": p.id, "proposal_state": str(p.state), "bundle": None}  # the device will change
        if p.state is ProposalState.APPROVED:
            if actor.kind is ActorKind.JOB:
                return Command(update=update, goto="apply")
            ask = telling.approved_question(p, region)
            if ask is not None:
                _emit("question", ask, proposal_id=p.id)
            return Command(update={**update, "awaiting": "confirm"}, goto="await_decision")
        if p.state is ProposalState.AWAITING_APPROVAL:
            return Command(update={**update, "awaiting": "approval"}, goto="await_decision")
        return Command(update=update, goto="report")

    # ------------------------------------------------------------------ await_decision
    def await_decision(self, state: ChatState) -> Command[str]:
        pid = str(state.get("proposal_id"))
        kind = state.get("awaiting") or "confirm"
        value = interrupt({"kind": kind, "proposal_id": pid})
        # Below runs only once resumed (a resumed node starts again from the top).
        message = str((value or {}).get("message", "")) if isinstance(value, dict) else str(value or "")
        actor = _actor(state)
        p = self.rt.lifecycle.get(pid)
        ref = references.find(message, after_draft=True) if message.strip() else None
        yes = ref is not None and ref.kind == "confirm"
        no = ref is not None and ref.kind == "cancel"
        if p.state is ProposalState.APPROVED and ((kind == "approval" and not message.strip()) or yes):
            _step("await_decision", f"proposal {pid} is approved; applying", proposal_id=pid)
            return Command(update={"awaiting": None, "proposal_state": str(p.state)}, goto="apply")
        if p.state in (ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL) and no:
            p = self.rt.lifecycle.cancel(pid, actor, reason="withdrawn in chat")
            return Command(update={"awaiting": None, "proposal_state": str(p.state)}, goto="report")
        first = self._settle_first(state, p, kind, message, actor, yes)
        if first is not None:
            return first
        how = self._amends(state, message, actor) if message.strip() and not yes and p.state in (
            ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL) else None
        if how == "beside":
            # a change of its own beside this draft ("and the 2.4 to 6 as well"): the draft stays as it is, waiting
            # for its word or its approver, and the message is drafted on its own
            _step("await_decision", f"proposal {pid} stays: the agent asked for a change of its own beside it",
                  proposal_id=pid)
            _emit("notice", f"Proposal {p.id}, drafted before, still waits as it was ({str(p.state).replace('_', ' ')})"
                  " — this is a change of its own beside it.", proposal_id=p.id)
            return Command(update={"awaiting": None, "proposal_id": None, "proposal_state": None, "message": message,
                                   "after_draft": True}, goto="understand")
        if how == "amend":
            # a correction or a new request while this draft waits: the draft is withdrawn (superseded),
            # and the message is read whole against the request it amends
            self.rt.lifecycle.cancel(pid, actor, reason="superseded in chat by: " + message[:200])
            _step("await_decision", f"proposal {pid} withdrawn: the agent amended the request", proposal_id=pid)
            return Command(update={"awaiting": None, "proposal_id": None, "proposal_state": None, "message": message,
                                   "after_draft": True}, goto="understand")
        return self._still_waiting(state, p, message)

    def _still_waiting(self, state: ChatState, p: Proposal, message: str) -> Command[str]:
        """The draft still waits — for the agent's word (approved) or an approver's — said again; or it ended."""
        if p.state is ProposalState.APPROVED:
            sets = "; ".join(f"{c.path} = {mask_value(c.path, c.value)}" for c in p.changes[:4]) or ", ".join(
                o.command for o in p.operations)
            not_taken = ("I did not read that as a change to the draft. " if message.strip() else "")
            region = self._region(state)
            _emit("question", f"{not_taken}Proposal {p.id} is approved and ready; it sets {sets}"
                  + (f" ({p.readback})" if p.readback else "") + telling.when_and_if(p, region)
                  + ". " + telling.confirm_words(p, region), proposal_id=p.id)
            return Command(update={"awaiting": "confirm"}, goto="await_decision")
        if p.state is ProposalState.AWAITING_APPROVAL:
            info = _proposal_info(self.rt, p.id)
            roles = ", ".join(a["role"] for a in (info.get("decision") or {}).get("approvals_required", []))
            _emit("notice", f"Proposal {p.id} is still waiting for approval ({roles or 'an approver'}). "
                            "I'll continue when it is decided; reply 'cancel' to withdraw it.", proposal_id=p.id)
            return Command(update={"awaiting": "approval"}, goto="await_decision")
        return Command(update={"awaiting": None, "proposal_state": str(p.state)}, goto="report")

    def _settle_first(self, state: ChatState, p: Proposal, kind: str, message: str, actor: Actor,
                      yes: bool) -> Command[str] | None:
        """The change deferred beside this waiting draft, asked for while it waits: never a reason to withdraw it —
        the agent is told to apply or cancel it first."""
        if yes or not message.strip() or p.state not in (ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL):
            return None
        later = self._deferred_asked(state, message, actor)
        if later is None:
            return None
        _emit("question", f"That is the change I deferred — {later}. Proposal {p.id}, drafted before it, still waits: "
              "reply 'apply' to apply it (or 'cancel' to withdraw it), then ask for the deferred change again — I "
              "draft one change at a time.", proposal_id=p.id)
        return Command(update={"awaiting": kind}, goto="await_decision")

    def _deferred_asked(self, state: ChatState, message: str, actor: Actor) -> str | None:
        """The deferred change a message asks for ("now the 5 GHz one" after "(40MHz on 5GHz)" was deferred), by
        its label — or None."""
        deferred = list(state.get("deferred") or [])
        if not deferred:
            return None
        req = _understood({**state, "after_draft": True}, message, actor, self._region(state), self._now()).request
        value, bands = req.values.get("value"), req.target.bands
        if req.refers_to is not None or req.action not in pairs.LABEL or len(bands) != 1 or value is None:
            return None
        return next((d for d in deferred if d == f"{pairs.LABEL[req.action]} ({value} on {bands[0]})"), None)

    def _amends(self, state: ChatState, message: str, actor: Actor) -> Literal["amend", "beside"] | None:
        """What a message sent while a draft waits does to it: ``amend`` — it changes what is asked (a
        correction, a new value, band, time or condition, another request), and the draft is superseded;
        ``beside`` — it asks for a change of its own next to the draft, which stays; None — a question or
        an unclear remark, and the draft waits on."""
        with self.rt.store.read() as s:
            region = repo.get_device(s, str(state["device_id"])).region
        req = _understood({**state, "after_draft": True}, message, actor, region, self._now()).request
        kind = req.refers_to.kind if req.refers_to is not None else None
        if kind == "beside":
            return "beside"
        return "amend" if (req.act == "change" or bool(req.values) or req.qualified or kind == "correct") else None

    # ------------------------------------------------------------------ apply
    def apply(self, state: ChatState) -> Command[str]:
        pid = str(state.get("proposal_id"))
        _step("apply", f"backing up, applying and verifying {pid}", proposal_id=pid)
        actor = _actor(state)
        try:
            outcome = self.rt.lifecycle.apply(pid, actor)
        except (DeviceUnavailable, Locked) as exc:
            _emit("error", f"nothing was changed: {exc.message}", code=exc.code, proposal_id=pid)
            if actor.kind is ActorKind.JOB:
                return Command(update={"apply_error": exc.message}, goto="report")
            _emit("question", "Reply 'apply' to try again, or 'cancel'.", proposal_id=pid)
            return Command(update={"awaiting": "confirm", "apply_error": exc.message}, goto="await_decision")
        except GatewardError as exc:
            _emit("error", f"apply refused: {exc.message}", code=exc.code, proposal_id=pid)
            return Command(update={"apply_error": exc.message}, goto="report")
        return Command(update={"proposal_state": str(outcome.proposal.state), "apply_error": None}, goto="report")

    def _region(self, state: ChatState) -> str | None:
        with self.rt.store.read() as s:
            return repo.get_device(s, str(state["device_id"])).region

    def _scheduled_text(self, state: ChatState, p: Proposal) -> str:
        """An approved change that waits for its time: when, in the device's local time, and who asked."""
        region = self._region(state)
        if p.start_requested_by:
            return (f"Proposal {p.id} is approved and scheduled{telling.when_and_if(p, region)}. "
                    + telling.confirm_words(p, region))
        return f"Proposal {p.id} is approved{telling.when_and_if(p, region)}. {telling.confirm_words(p, region)}"

    # ------------------------------------------------------------------ report
    def report(self, state: ChatState) -> dict[str, Any]:
        _step("report")
        plan = Plan.model_validate(state["plan"]) if state.get("plan") else None
        pid = state.get("proposal_id")
        update: JsonObject = {"awaiting": None}
        if pid:
            p = self.rt.lifecycle.get(pid)
            info = _proposal_info(self.rt, pid)
            text = _outcome_text(p.id, str(p.state), p.error, info)
            if p.state is ProposalState.APPROVED and p.not_before is not None:
                text = self._scheduled_text(state, p)
            _emit("outcome", text, **info)
            said = text
            update["proposal_state"] = str(p.state)
        elif plan is not None:
            data = {"finding": plan.finding, "evidence": [t["summary"] for t in state.get("turn_tools", [])][-12:]}
            for key in ("suggested", "joint_plan", "campaign_draft", "slice", "proposals", "facts", "offer", "topics",
                        "question"):
                if plan.data.get(key):
                    data[key] = plan.data[key]
            _emit(plan.outcome if plan.outcome != "change" else "answer", plan.text, **data)
            said = plan.text
            if plan.outcome in ("question", "answer") and plan.data.get("pending"):
                update["pending"] = {"intent": state.get("intent"), "missing": plan.data.get("missing", []),
                                     "text": state.get("message", ""), "kind": plan.data.get("pending"),
                                     "proposal_id": plan.data.get("proposal_id")}
        else:
            said = "Nothing to report."
            _emit("answer", said)
        update["transcript"] = [*state.get("transcript", []), {"role": "assistant", "text": said}][-20:]
        return update


# ============================================================================ plan helpers


_CREDENTIALS = ("ssid_change", "passphrase_change", "ssid_and_passphrase")
# What a joint channel plan decides for a building or a street (brain.fleetplan), never a campaign of one value.
_AIR_ACTIONS = frozenset({"channel", "width", "power", "band_enable"})


def _questions(rt: CoreServices, state: ChatState, heard: Any, said: str) -> dict[str, Any]:
    """The turn's question topics and text; a follow-up ("and the 5 GHz?") takes the thread's last
    question, asked again of the band or network it names."""
    if heard is None:
        return {"answers": [], "question_text": ""}
    topics, question = list(heard.answers), str(heard.question_text)
    if state.get("planner") == "llm":
        topics = [t for t in topics if t != "lookup"]  # the model reads what it needs through its tools
    if "again" in topics:
        from brain.threads import ThreadStore

        topics, question = answers.resolve(topics, question, ThreadStore(rt.store).events(str(state["thread_id"])),
                                           said)
    return {"answers": topics, "question_text": question}


@dataclass
class _Turn:
    """One message as the understand node reads it: who said what, the typed request, and what the
    planner's last question (``pending``) and the thread's waiting proposal make of it."""

    said: str
    actor: Actor
    device_id: str | None
    region: str | None
    waiting: str | None
    u: offline.Understood
    text: str
    intent: Intent
    pending: dict[str, Any] | None
    ref: str | None
    superseded: str | None = None


def _only_confirmation(said: str) -> bool:
    """The whole message is a confirmation ("apply", "ok go ahead", "oui vas-y") — no value in it."""
    ref = references.find(said, after_draft=True) if said.strip() else None
    return ref is not None and ref.kind == "confirm" and not re.search(r"[\"“”„«»']", said)


def _beside_an_answer(plan: Plan, said: str) -> Plan:
    """A question was asked and answered: the answer stays the reply. What else the evidence shows is said beside
    it (an outage upstream is mentioned, not made the answer); a story told beside the question ("the kids keep
    adding gadgets, can you list what's connected?") is no symptom to ask about ("when does the problem happen?")
    — a symptom told beside it ("the internet is down, is the router up?") still is."""
    if plan.outcome == "escalation":
        return Plan(outcome="answer", finding=plan.finding, text="Also: " + plan.text, data=plan.data)
    if plan.outcome == "question" and plan.finding == "none" and not clauses.describes_a_symptom(said):
        return Plan(outcome="answer", finding=plan.finding, text="Nothing else in the evidence needs a change.",
                    data=plan.data)
    return plan


def _asked(state: ChatState) -> bool:
    """The turn's speech act is a question: the offline reader's, fixed when the turn was understood
    (``read_only``) or the request's act — never a later stage's reading."""
    return bool(state.get("read_only")) or ((state.get("request") or {}).get("act") == "question")


def _targeted(finding: Finding, request: dict[str, Any] | None) -> Finding:
    """A rename or passphrase finding limited to the network and bands the request named, with the
    name as the agent typed it (the understander read it from the original words)."""
    if finding.kind not in _CREDENTIALS or not request:
        return finding
    target = request.get("target") or {}
    data = dict(finding.data)
    if target.get("ssid_role") or target.get("bands"):
        data.update(role=target.get("ssid_role"), bands=list(target.get("bands") or []))
    ssid = (request.get("values") or {}).get("ssid")
    if ssid and data.get("ssid"):
        data["ssid"] = ssid
    return finding.model_copy(update={"data": data})


def _llm_state(out: LLMOutcome) -> JsonObject:
    return {"kind": out.kind, "messages": out.messages, "call_id": out.pending_call_id,
            "draft": out.draft.model_dump(mode="json") if out.draft else None,
            "respond": out.respond.model_dump(mode="json") if out.respond else None,
            "refusals": out.refusals}


def _fallback_notice(out: LLMOutcome) -> str:
    why = {"timeout": "timed out", "unavailable": "is unavailable", "rate_limited": "is rate limiting us",
           "rejected": "rejected the request", "bad_response": "answered something unusable",
           "reasks_exhausted": "kept sending invalid requests", "steps_exhausted": "did not reach a conclusion",
           "echo": "answered with an echo of its prompt", "ungrounded": "answered without citing what the tools read",
           }.get(out.failure or "", "failed")
    return f"The model endpoint {why} ({out.reason}); using the offline playbooks instead."


def _plan_from_llm(ctx: ToolContext, llm_state: dict[str, Any], state: ChatState) -> Plan:
    from core.kernel.models import Change, Operation

    if llm_state.get("kind") == "respond" and llm_state.get("respond"):
        r = llm_state["respond"]
        return Plan(outcome=r["kind"], text=r["text"], finding="llm")
    d = llm_state.get("draft") or {}
    changes = [Change(path=str(c["path"]).strip(), value=c["value"]) for c in d.get("changes", [])
               if str(c.get("path", "")).strip() and not str(c["path"]).strip().endswith(".")]
    operations = [Operation(command=o["command"], args=dict(o.get("args") or {})) for o in d.get("operations") or []]
    if not changes and not operations:
        return Plan(outcome="question", finding="llm", text="The model proposed no usable change; can you say more?")
    series = playbooks.measured_series(ctx, change_measure(changes))  # the air an approver weighs
    charted = [Evidence(kind="telemetry", summary=f"{series.name} of the radio this changes, last {series.hours} h",
                        data={"series": series.model_dump(mode="json")})] if series is not None else []
    draft = ProposalDraft(intent=str(d.get("intent", "planner proposal"))[:300], targets=[ctx.device.id],
                          changes=changes, operations=operations, rationale=str(d.get("rationale", ""))[:2000],
                          source="chat", evidence=charted)
    return Plan(outcome="change", finding="llm", draft=draft, text=draft.intent)


def _guarded(plan: Plan, request: Request | None, ctx: ToolContext) -> Plan:
    """A model's draft that is not the action and value the request asks for becomes a question."""
    problem = model_guard.mismatch(request, plan.draft) if plan.draft is not None else None
    if problem is None or request is None:
        return plan
    asked = checker.readback(request, localtime.zone(ctx.device.region))
    return Plan(outcome="question", finding="not_as_asked", data={"suggested": None}, text=(
        f"I will not draft that: {problem}. You asked to {asked}. Say how you want it and I will draft exactly that."))


def _feedback(state: ChatState) -> str:
    check = state.get("check") or {}
    reasons = list(check.get("issues") or []) + list(((check.get("decision") or {}).get("deny")) or [])
    return "; ".join(reasons[:5]) or "the self-check failed"


def _exclude_for_retry(finding: str | None, plan: Plan, reasons: list[str], exclude: dict[str, Any]) -> bool:
    """Offline playbooks: what to avoid on the next attempt; False when there is no alternative."""
    d = plan.draft
    if d is None:
        return False
    if finding in ("dfs_radar", "wifi_congestion"):
        ch = next((c.value for c in d.changes if c.path.endswith(".Channel")), None)
        if ch is None:
            return False
        if any("Bandwidth" in r for r in reasons) and not exclude.get("no_width"):
            exclude["no_width"] = True  # keep the width; try the channel choice without narrowing
            return True
        exclude["channels"] = [*exclude.get("channels", []), ch]
        return True
    if finding == "poor_24_coverage":
        tp = next((c.value for c in d.changes if c.path.endswith(".TransmitPower")), None)
        if any("Bandwidth" in r for r in reasons):
            exclude["no_width"] = True
            return True
        if tp is None:
            return False
        exclude["tx_power"] = [*exclude.get("tx_power", []), tp]
        return True
    return False


def _secret_denials(check: SelfCheck) -> list[str]:
    """The messages of policy's ``secrets.*`` denials (by code, never by wording), when the draft
    validated and policy denied it."""
    if check.issues or not check.decision:
        return []
    return [i.message for i in check.decision.deny_items if i.code.startswith("secrets.")]


def _give_up(state: ChatState, plan: Plan, issues: list[str], reasons: list[str], ctx: ToolContext,
             secret_denials: list[str] | None = None) -> Plan:
    assert plan.draft is not None
    suggested = _masked_changes(plan.draft)
    if secret_denials and any("KeyPassphrase" in c["path"] for c in suggested):
        why = "; ".join(_strip_path(r) for r in secret_denials)
        return Plan(outcome="question", finding="weak_passphrase", text=(
            f"Policy refused that passphrase ({why}). Ask the subscriber for another one: at least 12 characters, "
            "not a common password and not containing the network name."),
            data={"pending": "passphrase_change", "missing": ["passphrase"], "suggested": None})
    if issues and any("KeyPassphrase" in c["path"] for c in suggested) and any("length" in i for i in issues):
        return Plan(outcome="question", finding="weak_passphrase", text=(
            "That passphrase is too short for this gateway. Ask the subscriber for another one: at least 12 "
            "characters, not a common password and not containing the network name."),
            data={"pending": "passphrase_change", "missing": ["passphrase"], "suggested": None})
    if issues:
        return Plan(outcome="escalation", finding="invalid_draft", text=(
            "The change I would propose does not fit this device's data model: " + "; ".join(issues[:3])
            + ". Escalating to a Wi-Fi/CPE engineer."), data={"suggested": suggested})
    roles = ", ".join(ctx.actor.roles) or "no role"
    return Plan(outcome="escalation", finding="policy_denied", text=(
        f"{plan.text}: policy does not allow this for {ctx.actor.id} ({roles}): " + "; ".join(reasons[:3])
        + ". Escalate to an approver with the suggested change."), data={"suggested": suggested})


def _strip_path(reason: str) -> str:
    text = reason.split(":", 1)[1].strip() if ":" in reason else reason
    return re.sub(r"the passphrase for \S+ ", "the passphrase ", text)


def _tool_evidence(state: ChatState) -> list[Evidence]:
    return [Evidence(kind=f"tool:{t['name']}", summary=t["summary"]) for t in state.get("turn_tools", [])
            if t.get("ok")][:12]


def _proposal_info(rt: CoreServices, pid: str) -> dict[str, Any]:
    from core.views import proposal_public

    with rt.store.read() as s:
        row = repo.get_proposal_row(s, pid)
        p = repo.proposal_from_row(row)
        rec = repo.latest_decision(s, pid)
        execs = repo.executions_for(s, pid)
    decision = None
    if rec is not None:
        res = rec.result
        decision = {"allow": res.get("allow"), "deny": res.get("deny", []),
                    "approvals_required": res.get("approvals_required", []), "risk": res.get("risk"),
                    "obligations": res.get("obligations", [])}
    diff = []
    for d in (row.preview or {}).get("devices", [])[:5]:
        for ln in d.get("lines", []):
            diff.append({"device_id": d["device_id"], "path": ln["path"], "before": ln["before"],
                         "after": ln["after"], "unchanged": ln.get("unchanged", False)})
    pub = proposal_public(p)
    return {"proposal_id": p.id, "state": str(p.state), "hash": p.hash, "risk": p.risk, "intent": p.intent,
            "changes": pub["changes"], "decision": decision, "diff": diff, "error": p.error,
            "executions": [{"device_id": e.device_id, "status": str(e.status), "error": e.error} for e in execs]}


def _outcome_text(pid: str, state: str, error: str | None, info: dict[str, Any]) -> str:
    if state == "done":
        return f"Applied and verified: proposal {pid} held on the device."
    if state == "rolled_back":
        return f"Proposal {pid} did not hold and was rolled back from its backup: {error or 'verification failed'}."
    if state == "failed":
        return f"Proposal {pid} FAILED and the rollback did not complete — escalate now: {error}."
    if state == "denied":
        return f"Policy denied proposal {pid}: {error or '; '.join((info.get('decision') or {}).get('deny', []))}."
    if state == "invalid":
        return f"Proposal {pid} is invalid for this device: {error}."
    if state == "rejected":
        return f"Proposal {pid} was rejected: {error}."
    if state == "cancelled":
        return f"Proposal {pid} was withdrawn; nothing was changed."
    if state == "approved":
        return f"Proposal {pid} is approved but not applied yet."
    if state == "awaiting_approval":
        return f"Proposal {pid} is waiting for approval."
    return f"Proposal {pid} is {state}."
