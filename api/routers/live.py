"""The change feed: ``GET /api/events`` streams one server-sent event per batch of new audit
events, so every open console page learns at once that a proposal, a device or a campaign moved.

Why the audit trail is the source: every state change the lifecycle, the campaign orchestrator
and the people make is appended there (it is the only writer's own record), it is ordered by
``seq`` and shared by every replica through the database, so the feed misses nothing: a page that
reconnects with ``Last-Event-ID`` gets every change since then. What wakes the feed is the
process's fleet-wide bus (:mod:`core.events_bus`: PostgreSQL LISTEN/NOTIFY, fed by a trigger on the
audit trail, so an approval made on another replica arrives at once; on SQLite one watcher per
process): one database read per change per process, not per open page. A page that falls behind
gets a ``resync`` frame and is caught up from the trail; it never holds up the others.

What goes out is only *what moved* — sequence number, action, proposal id, device id — never an
event's data: the page re-reads what it shows through the ordinary (role-checked) endpoints.
The stream is bounded (``max_s``) and re-checks the token (or session) every ``RECHECK_S`` seconds, so a revoked
token stops receiving within that time; the client reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.deps import ActorDep, AppRuntime, RuntimeDep, still_signed_in
from api.errors import error_body, errors_for
from api.sse import HEADERS, encode
from api.stream_quota import StreamQuota
from core.events_bus import RESYNC, bus_for, read_head, read_since
from core.lifecycle import draining

router = APIRouter(prefix="/api", tags=["live"], responses=errors_for(401))

POLL_S = 0.5  # how often the loop looks at the client (disconnect, token) while nothing moves
RECHECK_S = 30.0
BATCH = 500
QUEUE = 64  # batches a page may fall behind before it is dropped and resynced
RETRY_AFTER_S = 30  # a refused page asks again after this (a page closed elsewhere frees a slot at once)


def _head(rt: AppRuntime) -> int:
    return read_head(rt.store)


def _since(rt: AppRuntime, after: int) -> list[dict[str, Any]]:
    return read_since(rt.store, after, BATCH)


def _still_valid(request: Request) -> bool:
    return still_signed_in(request)  # the bearer token, or the session cookie of a signed-in person


def _change(events: list[dict[str, Any]]) -> bytes:
    """One frame for a batch: the events, and the proposals and devices they touched."""
    return encode("change", {
        "seq": events[-1]["seq"], "events": events,
        "proposals": sorted({e["proposal_id"] for e in events if e["proposal_id"]}),
        "devices": sorted({e["device_id"] for e in events if e["device_id"]}),
        "actions": sorted({e["action"] for e in events}),
    }, events[-1]["seq"])


async def _catch_up(rt: AppRuntime, after: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Every batch of the trail after ``after``, read from the database."""
    while True:
        events = await run_in_threadpool(_since, rt, after)
        if events:
            after = events[-1]["seq"]
            yield events
        if len(events) < BATCH:
            return


def _quota(request: Request) -> StreamQuota:
    quota: StreamQuota | None = getattr(request.app.state, "live_quota", None)
    if quota is None:
        quota = request.app.state.live_quota = StreamQuota()
    return quota


async def _frames(request: Request, rt: AppRuntime, after: int, max_s: float,
                  release: Callable[[], None]) -> AsyncIterator[bytes]:
    heartbeat_s = rt.settings.live_heartbeat_s
    start = last_beat = last_check = time.monotonic()
    sub = bus_for(rt.store).subscribe(QUEUE)  # before the catch-up read: nothing can slip between
    try:
        # The page judges the stream by the keep-alive it is told to expect (``heartbeat_s``).
        yield encode("hello", {"seq": after, "poll_s": POLL_S, "heartbeat_s": heartbeat_s}, after)
        async for events in _catch_up(rt, after):
            after = events[-1]["seq"]
            yield _change(events)
        while time.monotonic() - start < max_s:
            if await request.is_disconnected():
                return
            if draining.active():  # the process is stopping (SIGTERM): the page reconnects elsewhere
                yield encode("end", {"seq": after, "reason": "server shutting down: reconnect with Last-Event-ID"},
                             after)
                return
            now = time.monotonic()
            if now - last_check >= RECHECK_S:
                last_check = now
                if not await run_in_threadpool(_still_valid, request):
                    yield encode("unauthorized", {"detail": "the token is no longer valid"})
                    return
            got = await sub.get(POLL_S)
            if got == RESYNC:  # this page fell behind: its queue was dropped; the trail has it all
                yield encode("resync", {"seq": after, "reason": "the feed fell behind; caught up from the trail"},
                             after)
                async for events in _catch_up(rt, after):
                    after = events[-1]["seq"]
                    yield _change(events)
                last_beat = time.monotonic()
            elif isinstance(got, list):
                fresh = [e for e in got if e["seq"] > after]
                if fresh:
                    after = fresh[-1]["seq"]
                    last_beat = now
                    yield _change(fresh)
            elif now - last_beat >= heartbeat_s:
                last_beat = now
                yield b": keep-alive\n\n"
        yield encode("end", {"seq": after, "reason": "max_s reached: reconnect with Last-Event-ID"}, after)
    finally:
        sub.close()
        release()


@router.get("/events", include_in_schema=False)
async def events(request: Request, rt: RuntimeDep, actor: ActorDep,
                 max_s: Annotated[float, Query(ge=1, le=3600)] = 600,
                 after: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this seq")] = None,
                 last_event_id: Annotated[str | None, Header(max_length=24)] = None) -> Response:
    """Stream ``change`` frames (``data``: seq, events [{seq, action, proposal_id, device_id}],
    proposals, devices, actions) as the audit trail grows. Starts at the head (or after
    ``after`` / ``Last-Event-ID``); ``hello`` first, ``end`` after ``max_s`` seconds. A person holding
    ``GATEWARD_LIVE_STREAMS_PER_PERSON`` streams on this server already is refused: 429."""
    cap = rt.settings.live_streams_per_person
    release = _quota(request).take(actor.id, cap)
    if release is None:
        return JSONResponse(error_body("too_many_streams", f"{actor.id} already holds {cap} live event streams on "
                                       f"this server (GATEWARD_LIVE_STREAMS_PER_PERSON); close a console page or "
                                       f"a stream, then reconnect", limit=cap),
                            status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})
    try:
        if after is None and last_event_id and last_event_id.isdigit():
            after = int(last_event_id)
        if after is None:
            after = await run_in_threadpool(_head, rt)
    except BaseException:
        release()
        raise
    # Given back when the body ends, or — if the response ends before the body ever started (the
    # client went away at once) — by the background task: whichever comes first; once.
    return StreamingResponse(_frames(request, rt, after, max_s, release), media_type="text/event-stream",
                             headers=HEADERS, background=BackgroundTask(release))
