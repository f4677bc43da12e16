"""The worker engine: procrastinate's worker on the job queue plus a watchdog that steps the engines.

Why a watchdog next to the queue's worker: the queue delivers jobs, but some decisions are timed
or belong to nobody's job — promote a ring after its pause, start a rollback once in-flight
batches drained, put a killed worker's jobs back in the queue (its heartbeat stopped). Every worker
runs the same idempotent step (:meth:`Orchestrator.tick`, and whatever else the composition root
adds) every ``tick_s``; whichever worker gets a campaign's row lock first acts, the others find
nothing to do.

This module knows only the campaign engine; the one worker process that also works remediation
units is assembled in ``gateward.worker`` (campaigns may not import the planner). Several workers
(on one machine or many) share the work on PostgreSQL. On SQLite the queue is in memory: run one
worker process, or ``gateward.worker.EmbeddedWorker`` inside the process that serves the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from campaigns.orchestrator import Orchestrator
from campaigns.queue import HEARTBEAT_S, QUEUE, STALLED_S, Queue
from core.services import CoreServices

log = logging.getLogger("gateward.campaigns.worker")


def build(runtime: CoreServices, concurrency: int) -> tuple[Queue, Orchestrator]:
    """A queue with its own connection pool (sized for ``concurrency``) and the orchestrator on it;
    on SQLite, the in-memory queue is rebuilt from the campaign tables."""
    queue = Queue.for_url(runtime.store.url, pool_max=concurrency + 4)
    orch = Orchestrator(runtime, queue)
    if not queue.distributed:
        orch.reset_local()
    return queue, orch


def campaign_step(orch: Orchestrator) -> None:
    """The campaign engine's watchdog round; a failing round is logged and retried next tick."""
    try:
        orch.tick()
    except Exception:  # a database restart must not end the worker
        log.exception("campaign watchdog step failed")


#: The queue's worker stopped by itself (its database went away under it): started again after
#: this many seconds, doubling up to RESTART_MAX_S while it keeps stopping.
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
#: a run this long counts as recovered: the next stop waits RESTART_FIRST_S again
RESTART_RESET_S = 60.0


async def serve(queue: Queue, *, step: Callable[[], object], context: Mapping[str, Any],
                queues: Sequence[str] = (QUEUE,), concurrency: int = 4, name: str | None = None,
                tick_s: float = 0.5, until: Callable[[], bool] | None = None,
                install_signal_handlers: bool = True, stop_event: threading.Event | None = None) -> None:
    """Run the queue's worker on ``queues`` (tasks find their engines in ``context``) and a
    watchdog calling ``step()`` every ``tick_s``, until a signal, ``until()`` or ``stop_event``.

    procrastinate stops its worker when a job fetch raises, or a side task (its heartbeat) fails —
    which a database restart or a cut connection makes them do. Without handlers of its own for
    signals (``gateward worker`` and the embedded worker drain through ``stop_event``), nothing else
    stops it, so a stop nobody asked for is started again (after :data:`RESTART_FIRST_S`, doubling):
    a soak run's worker otherwise exited at a database cut and left its campaign unfinished. An
    error that is not the database's still ends the worker, as before."""
    from procrastinate import utils

    from core.kernel.errors import database_unavailable_cause

    async def watchdog() -> None:
        while True:
            try:
                await utils.sync_to_async(step)
            except Exception:
                log.exception("worker watchdog step failed")
            if until is not None and await utils.sync_to_async(until):
                return
            if stop_event is not None and stop_event.is_set():
                return
            await asyncio.sleep(tick_s)

    async with queue.app.open_async():
        dog = asyncio.create_task(watchdog())
        pause = RESTART_FIRST_S
        try:
            while True:
                began = time.monotonic()
                worker = asyncio.create_task(queue.app.run_worker_async(
                    # ``name``: procrastinate's WorkerOptions say ``str``; its Worker takes ``str | None``
                    # (None: no per-worker child logger), which is what an unnamed worker passes.
                    queues=list(queues), concurrency=concurrency, name=name,  # type: ignore[arg-type]
                    wait=True,
                    listen_notify=queue.distributed, fetch_job_polling_interval=1.0 if queue.distributed else 0.05,
                    abort_job_polling_interval=2.0, update_heartbeat_interval=HEARTBEAT_S,
                    stalled_worker_timeout=STALLED_S, additional_context=dict(context),
                    install_signal_handlers=install_signal_handlers))
                await asyncio.wait({worker, dog}, return_when=asyncio.FIRST_COMPLETED)
                if not worker.done():  # asked to stop (until / stop_event): the running jobs finish
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
                    return
                failed = None if worker.cancelled() else worker.exception()
                lost = database_unavailable_cause(failed) if failed is not None else None
                if install_signal_handlers or (failed is not None and lost is None):
                    if failed is not None:
                        raise failed
                    return  # procrastinate stopped on a signal it handled
                if time.monotonic() - began > RESTART_RESET_S:
                    pause = RESTART_FIRST_S
                log.warning("the job queue's worker stopped (%s); starting it again in %.0f s",
                            lost or "procrastinate stopped it; see above", pause)
                await asyncio.wait({dog}, timeout=pause)
                if dog.done():
                    return
                pause = min(pause * 2, RESTART_MAX_S)
        finally:
            if not dog.done():
                dog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dog
            if not dog.cancelled() and dog.exception() is not None:
                raise dog.exception()  # type: ignore[misc]
