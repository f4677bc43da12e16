"""Server-sent events from a blocking iterator (the planner's turn).

Why a worker thread and a queue rather than iterating the generator in the thread pool: a
planner turn is one piece of work (LLM calls, tool reads, a proposal through the lifecycle)
that must run to its end even if the browser goes away, and it must run on one thread (the
embedded policy engine is bound to the thread that built it). The worker feeds an asyncio
queue; the response drains it. The first item is awaited before the response starts, so a
refusal at the start of a turn (unknown thread, wrong owner) is a proper 4xx, not a 200 stream
with an error inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from api.scrub import scrub
from core.kernel.jsontypes import Json

_END = object()
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class _Failure:
    exc: BaseException


def encode(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One SSE frame; ``data`` is JSON on one line (orjson never emits raw newlines)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + orjson.dumps(data, default=str).decode())
    return ("\n".join(lines) + "\n\n").encode()


def _start_worker(make_iter: Callable[[], Iterable[Any]], loop: asyncio.AbstractEventLoop,
                  queue: asyncio.Queue[Any]) -> None:
    def put(item: Any) -> None:
        # RuntimeError: the server is shutting down and nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        try:
            for item in make_iter():
                put(item)
        except BaseException as exc:  # reported to the client as an error event
            put(_Failure(exc))
        finally:
            put(_END)

    threading.Thread(target=work, name="gateward-chat-turn", daemon=True).start()


async def stream_events(make_iter: Callable[[], Iterable[Any]],
                        to_json: Callable[[Any], Mapping[str, Json]],
                        on_error: Callable[[BaseException], Mapping[str, Json]]) -> StreamingResponse:
    """Run ``make_iter`` on a worker thread and stream each item as an SSE frame named by its
    ``kind``. Raises the first item's exception (before any byte is sent) if the turn fails
    straight away; later failures become an ``error`` frame. The stream ends with ``end``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    _start_worker(make_iter, loop, queue)
    first = await queue.get()
    if isinstance(first, _Failure):
        raise first.exc

    async def frames() -> AsyncIterator[bytes]:
        n = 0
        item = first
        while item is not _END:
            n += 1
            if isinstance(item, _Failure):
                yield encode("error", on_error(item.exc), n)
            else:
                data = scrub(to_json(item))
                yield encode(str(data.get("kind", "message")), data, n)
            item = await queue.get()
        yield encode("end", {"events": n}, n + 1)

    return StreamingResponse(frames(), media_type="text/event-stream", headers=HEADERS)
