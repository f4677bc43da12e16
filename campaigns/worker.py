"""A worker process: procrastinate's worker for the campaign queue plus a watchdog.

Why a watchdog next to the queue's worker: the queue delivers batches, but some decisions are
timed or belong to nobody's job — promote a ring after its pause, start a rollback once in-flight
batches drained, put a killed worker's jobs back in the queue (its heartbeat stopped). Every worker
runs the same idempotent :meth:`Orchestrator.tick` every half second; whichever gets the campaign's
row lock first acts, the others find nothing to do.

``gateward worker --concurrency N`` runs :func:`run_worker`. Several of them (on one machine or
many) share the work on PostgreSQL. On SQLite the queue is in memory: run one worker process, or
:class:`EmbeddedWorker` inside the process that serves the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from campaigns.orchestrator import Orchestrator
from campaigns.queue import HEARTBEAT_S, QUEUE, STALLED_S, Queue

log = logging.getLogger("gateward.campaigns.worker")


def build(runtime: Any, concurrency: int) -> tuple[Queue, Orchestrator]:
    queue = Queue.for_url(runtime.store.url, pool_max=concurrency + 4)
    orch = Orchestrator(runtime, queue)
    if not queue.distributed:
        orch.reset_local()
    return queue, orch


async def serve(queue: Queue, orch: Orchestrator, *, concurrency: int = 4, name: str | None = None,
                tick_s: float = 0.5, until: Callable[[], bool] | None = None,
                install_signal_handlers: bool = True, stop_event: threading.Event | None = None) -> None:
    """Run the queue worker and the watchdog until a signal, ``until()`` or ``stop_event``."""
    from procrastinate import utils

    async with queue.app.open_async():
        worker = asyncio.create_task(queue.app.run_worker_async(
            queues=[QUEUE], concurrency=concurrency, name=name, wait=True,
            listen_notify=queue.distributed, fetch_job_polling_interval=1.0 if queue.distributed else 0.05,
            abort_job_polling_interval=2.0, update_heartbeat_interval=HEARTBEAT_S,
            stalled_worker_timeout=STALLED_S, additional_context={"gateward": orch},
            install_signal_handlers=install_signal_handlers))

        async def watchdog() -> None:
            while True:
                await utils.sync_to_async(orch.tick)
                if until is not None and await utils.sync_to_async(until):
                    return
                if stop_event is not None and stop_event.is_set():
                    return
                await asyncio.sleep(tick_s)

        dog = asyncio.create_task(watchdog())
        done, _ = await asyncio.wait({worker, dog}, return_when=asyncio.FIRST_COMPLETED)
        if dog in done:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        else:
            dog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dog
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]


def run_worker(runtime: Any, *, concurrency: int = 4, name: str | None = None, tick_s: float = 0.5,
               until: Callable[[], bool] | None = None) -> None:
    """Block running a worker (``gateward worker``)."""
    queue, orch = build(runtime, concurrency)
    asyncio.run(serve(queue, orch, concurrency=concurrency, name=name, tick_s=tick_s, until=until))


class EmbeddedWorker:
    """A worker on a background thread of this process (SQLite default, API server, tests)."""

    def __init__(self, runtime: Any, concurrency: int = 2, tick_s: float = 0.25) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> EmbeddedWorker:
        queue, orch = build(self.runtime, self.concurrency)

        def main() -> None:
            try:
                asyncio.run(serve(queue, orch, concurrency=self.concurrency, tick_s=self.tick_s,
                                  install_signal_handlers=False, stop_event=self._stop))
            except BaseException as exc:  # surfaced to the owner through .error
                self.error = exc
                log.exception("embedded campaign worker stopped")

        self._thread = threading.Thread(target=main, name="gateward-campaign-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> EmbeddedWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
