"""The change feed: ``GET /api/events`` streams one server-sent event per batch of new audit
events, so every open console page learns at once that a proposal, a device or a campaign moved.

Why the audit trail is the source: every state change the lifecycle, the campaign orchestrator
and the people make is appended there (it is the only writer's own record), it is ordered by
``seq`` and shared by every replica through the database. So the feed needs no message bus and
misses nothing: a page that reconnects with ``Last-Event-ID`` gets every change since then.

What goes out is only *what moved* — sequence number, action, proposal id, device id — never an
event's data: the page re-reads what it shows through the ordinary (role-checked) endpoints.
The stream is bounded (``max_s``) and re-checks the token every ``RECHECK_S`` seconds, so a revoked
token stops receiving within that time; the client reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from starlette.responses import StreamingResponse

from api.deps import ActorDep, RuntimeDep
from api.errors import errors_for
from api.sse import HEADERS, encode
from core.store.schema import AuditEventRow
from core.users import TokenRejected

router = APIRouter(prefix="/api", tags=["live"], responses=errors_for(401))

POLL_S = 0.5
RECHECK_S = 30.0
HEARTBEAT_S = 15.0
BATCH = 500


def _head(rt: Any) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.max(AuditEventRow.seq))) or 0)


def _since(rt: Any, after: int) -> list[dict[str, Any]]:
    with rt.store.read() as s:
        rows = s.execute(select(AuditEventRow.seq, AuditEventRow.action, AuditEventRow.proposal_id,
                                AuditEventRow.device_id).where(AuditEventRow.seq > after)
                         .order_by(AuditEventRow.seq).limit(BATCH)).all()
    return [{"seq": int(r[0]), "action": r[1], "proposal_id": r[2], "device_id": r[3]} for r in rows]


def _still_valid(request: Request) -> bool:
    auth = request.app.state.authenticator
    header = request.headers.get("authorization", "")
    credential = header[7:] if header[:7].lower() == "bearer " else ""
    try:
        return auth(credential) is not None
    except TokenRejected:
        return False


def _change(events: list[dict[str, Any]]) -> bytes:
    """One frame for a batch: the events, and the proposals and devices they touched."""
    return encode("change", {
        "seq": events[-1]["seq"], "events": events,
        "proposals": sorted({e["proposal_id"] for e in events if e["proposal_id"]}),
        "devices": sorted({e["device_id"] for e in events if e["device_id"]}),
        "actions": sorted({e["action"] for e in events}),
    }, events[-1]["seq"])


async def _frames(request: Request, rt: Any, after: int, max_s: float) -> AsyncIterator[bytes]:
    start = last_beat = last_check = time.monotonic()
    yield encode("hello", {"seq": after, "poll_s": POLL_S}, after)
    while time.monotonic() - start < max_s:
        if await request.is_disconnected():
            return
        now = time.monotonic()
        if now - last_check >= RECHECK_S:
            last_check = now
            if not await run_in_threadpool(_still_valid, request):
                yield encode("unauthorized", {"detail": "the token is no longer valid"})
                return
        events = await run_in_threadpool(_since, rt, after)
        if events:
            after = events[-1]["seq"]
            last_beat = now
            yield _change(events)
            if len(events) == BATCH:
                continue  # more are waiting: no sleep
        elif now - last_beat >= HEARTBEAT_S:
            last_beat = now
            yield b": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
    yield encode("end", {"seq": after, "reason": "max_s reached: reconnect with Last-Event-ID"}, after)


@router.get("/events", include_in_schema=False)
async def events(request: Request, rt: RuntimeDep, _: ActorDep,
                 max_s: Annotated[float, Query(ge=1, le=3600)] = 600,
                 after: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this seq")] = None,
                 last_event_id: Annotated[str | None, Header(max_length=24)] = None) -> StreamingResponse:
    """Stream ``change`` frames (``data``: seq, events [{seq, action, proposal_id, device_id}],
    proposals, devices, actions) as the audit trail grows. Starts at the head (or after
    ``after`` / ``Last-Event-ID``); ``hello`` first, ``end`` after ``max_s`` seconds."""
    if after is None and last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    if after is None:
        after = await run_in_threadpool(_head, rt)
    return StreamingResponse(_frames(request, rt, after, max_s), media_type="text/event-stream", headers=HEADERS)
