"""Chat threads with the planner: open, list, read, send a message (SSE), resume (SSE).

The API speaks only the protocol in ``brain/contracts.py``. The service is injected
(``api.deps.ChatDep``: the runtime's own, built on first use) so the app starts, and every other route works, in a
build where the planner is missing; chat routes then answer 503 saying so.

Who may read a thread: its owner; approvers and senior approvers (they review the proposals
threads produce); auditors and admins. Only the owner may post to it. Other support agents may
not read it (403). Chat is for people: a job's token (automation) gets 403 on every chat route
(``api.deps.PersonDep``). Whoever reads, passphrases never leave: the thread store keeps only redacted
text (scrubbed once, when written; rows older than the scrubber were rewritten by migration 0007),
and the live stream runs event text and free-text event data through the chat scrubber
(``brain.redact.scrub_text``) as it leaves. Reads return the stored text as it is: scrubbing it
again on every read cost a redaction per event per read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from api.deps import AppRuntime, ChatDep, PersonDep, RuntimeDep, has_any_role
from api.errors import errors_for
from api.schemas import MessageIn, ThreadHistory, ThreadIn, ThreadList, ThreadOut
from api.scrub import scrub
from api.sse import stream_events
from core.kernel.errors import Forbidden, GatewardError, NotFound
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor
from core.store import repo

if TYPE_CHECKING:
    from brain.contracts import ChatEvent, ChatService, ThreadSummary

log = logging.getLogger("gateward.api.chat")
router = APIRouter(prefix="/api/chat", tags=["chat"], responses=errors_for(401))

ThreadId = Annotated[str, Path(min_length=1, max_length=64)]
READ_ALL_ROLES = ("approver", "senior_approver", "auditor", "admin")
SSE_DOC: dict[int | str, JsonObject] = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                 "description": "server-sent events: one `event: <kind>` frame per ChatEvent "
                                "(step, tool, proposal, answer, question, escalation, outcome, notice, "
                                "error), `data` is the event as JSON; the stream ends with `event: end`"}}
def _scrub_chat_text(text: str) -> str:
    """Chat text on the way out: passphrases masked (imported late: brain may be absent)."""
    from brain.redact import scrub_text

    return scrub_text(text)


def _scrub_event(doc: Mapping[str, Json]) -> JsonObject:
    from brain.redact import scrub_data

    out = dict(scrub(doc))
    out["text"] = _scrub_chat_text(str(out.get("text") or ""))
    out["data"] = scrub_data(out.get("data") or {})
    return out


def _stored_event(doc: Mapping[str, Json]) -> JsonObject:
    """A stored event on the way out: its chat text was scrubbed when it was written."""
    return dict(scrub(doc))


def _thread_out(t: ThreadSummary, states: Mapping[str, str] | None = None) -> ThreadOut:
    """A thread as stored (its title was scrubbed when it was written), with its proposal's state now
    (``states``: proposal id → state): a thread stays "awaiting approval" as the planner left it after
    its change was approved, applied and verified elsewhere."""
    return ThreadOut(thread_id=t.thread_id, device_id=t.device_id, owner=t.owner, title=t.title,
                     status=t.status, proposal_id=t.proposal_id,
                     proposal_state=(states or {}).get(t.proposal_id) if t.proposal_id else None,
                     updated_at=t.updated_at.isoformat())


def _proposal_states(rt: AppRuntime, threads: Sequence[ThreadSummary]) -> dict[str, str]:
    ids = sorted({t.proposal_id for t in threads if t.proposal_id})
    if not ids:
        return {}
    from sqlalchemy import select

    from core.store.schema import ProposalRow

    with rt.store.read() as s:
        return {str(pid): str(state) for pid, state in s.execute(
            select(ProposalRow.id, ProposalRow.state).where(ProposalRow.id.in_(ids)))}


def _find(svc: ChatService, thread_id: str) -> ThreadSummary:
    for t in svc.threads(None):
        if t.thread_id == thread_id:
            return t
    raise NotFound(f"unknown chat thread {thread_id!r}")


def _readable(svc: ChatService, thread_id: str, actor: Actor) -> ThreadSummary:
    t = _find(svc, thread_id)
    if t.owner != actor.id and not has_any_role(actor, *READ_ALL_ROLES):
        raise Forbidden(f"thread {thread_id} belongs to {t.owner}")
    return t


def _owned(svc: ChatService, thread_id: str, actor: Actor) -> ThreadSummary:
    t = _find(svc, thread_id)
    if t.owner != actor.id:
        raise Forbidden(f"thread {thread_id} belongs to {t.owner}; only its owner may post to it")
    return t


def _event_json(ev: ChatEvent) -> JsonObject:
    return dict(ev.model_dump(mode="json"))


def _scrubbed_event_json(ev: ChatEvent) -> JsonObject:
    return _scrub_event(_event_json(ev))


def _on_error(exc: BaseException) -> JsonObject:
    if isinstance(exc, GatewardError):
        return {"kind": "error", "error": exc.code, "text": exc.message}
    log.error("chat turn failed", exc_info=exc)
    return {"kind": "error", "error": "planner_failed", "text": "the planner failed during this turn "
            "(a bug; it has been logged). Nothing was changed by the failed step."}


@router.post("/threads", status_code=201, response_model=ThreadOut,
             responses=errors_for(403, 404, 422) | {503: {"description": "no planner"}})
async def start_thread(body: ThreadIn, rt: RuntimeDep, actor: PersonDep, svc: ChatDep) -> ThreadOut:
    """Open a durable thread, optionally about one device."""
    if body.device_id:
        def check() -> None:
            with rt.store.read() as s:
                repo.get_device(s, body.device_id or "")
        await run_in_threadpool(check)
    if "auditor" in actor.roles and len(actor.roles) == 1:
        raise Forbidden(f"{actor.id} is an auditor; auditors read threads but do not chat with the planner")
    tid = await run_in_threadpool(svc.start, body.device_id, actor, body.title)
    t = await run_in_threadpool(_find, svc, tid)
    return _thread_out(t)


@router.get("/threads", response_model=ThreadList,
            responses=errors_for(403) | {503: {"description": "no planner"}})
async def list_threads(rt: RuntimeDep, actor: PersonDep, svc: ChatDep,
                       all_: Annotated[bool, Query(alias="all", description="every user's threads "
                                                   "(approvers, auditors, admins)")] = False) -> ThreadList:
    """Your threads, newest first."""
    if all_ and not has_any_role(actor, *READ_ALL_ROLES):
        raise Forbidden(f"{actor.id} may list only their own threads")
    threads = await run_in_threadpool(svc.threads, None if all_ else actor)
    states = await run_in_threadpool(_proposal_states, rt, threads)
    return ThreadList(items=[_thread_out(t, states) for t in threads])


@router.get("/threads/{thread_id}", response_model=ThreadHistory,
            responses=errors_for(403, 404) | {503: {"description": "no planner"}})
async def thread_history(thread_id: ThreadId, rt: RuntimeDep, actor: PersonDep, svc: ChatDep) -> ThreadHistory:
    """Every event of the thread so far (it survives restarts)."""
    t = await run_in_threadpool(_readable, svc, thread_id, actor)
    events = await run_in_threadpool(svc.history, thread_id)
    states = await run_in_threadpool(_proposal_states, rt, [t])
    return ThreadHistory(thread=_thread_out(t, states), events=[_stored_event(_event_json(e)) for e in events])


@router.post("/threads/{thread_id}/messages", response_class=StreamingResponse,
             responses={**SSE_DOC, **errors_for(403, 404, 413, 415, 422),
                        503: {"description": "no planner"}})
async def send_message(thread_id: ThreadId, body: MessageIn, actor: PersonDep, svc: ChatDep) -> StreamingResponse:
    """Run one planner turn and stream its steps, tool calls and proposal as they happen. A new Wi-Fi
    passphrase goes in ``secret``, never in ``text``: one typed into the text is masked, not kept, and
    the turn asks for the field; "generate a new passphrase" streams a ``secret`` event once."""
    await run_in_threadpool(_owned, svc, thread_id, actor)
    if body.secret is None:
        return await stream_events(lambda: svc.send(thread_id, body.text, actor), _scrubbed_event_json, _on_error)
    secret = body.secret.get_secret_value()  # the secret field: to the planner's memory, nowhere else
    return await stream_events(lambda: svc.send(thread_id, body.text, actor, secret=secret), _scrubbed_event_json,
                               _on_error)


@router.post("/threads/{thread_id}/resume", response_class=StreamingResponse,
             responses={**SSE_DOC, **errors_for(403, 404, 409),
                        503: {"description": "no planner"}})
async def resume(thread_id: ThreadId, actor: PersonDep, svc: ChatDep) -> StreamingResponse:
    """Continue a thread whose proposal the approvers have decided (approved → apply and
    report; rejected → report)."""
    await run_in_threadpool(_owned, svc, thread_id, actor)
    return await stream_events(lambda: svc.resume(thread_id), _scrubbed_event_json, _on_error)
