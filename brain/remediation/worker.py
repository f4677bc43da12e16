"""Remediation on the campaigns' workers: the same procrastinate app, queue and watchdog.

Why share the campaign engine: remediation jobs and rollouts are the same kind of work (device
writes through the lifecycle, paced, at-least-once, surviving a dead worker) and an operator should
run one pool of workers, not two. :func:`build` takes the campaign worker's app
(``campaigns.worker.build``) and registers the remediation task on it; :func:`serve` runs the
queue's worker on both queues (``campaigns``, ``remediation``) with a watchdog that steps the
campaigns and ticks remediation every ``tick_s``: closing confirmed fixes, re-queueing approved
proposals, recovering lost units, and dispatching open cases as units while the storm buckets have
tokens. Each unit is one job (``gateward.remediation_unit``) with a queueing lock on its id.

Delivery is at-least-once and that is safe: a unit's cases record their proposal before it is
applied, so a redelivered unit follows the proposal instead of making another (``runner``).
On SQLite the queue is in memory (one worker process); units a dead process held go back to open
when the worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import procrastinate
from procrastinate import JobContext

from brain.remediation.service import Remediation
from campaigns.tasks import RETRY  # transient errors (database restart, lock races) retried with back-off

log = logging.getLogger("gateward.remediation.worker")
QUEUE = "remediation"
UNIT_TASK = "gateward.remediation_unit"


def remediation_unit(context: JobContext, unit_id: str) -> None:
    svc = (context.additional_context or {}).get("gateward_remediation")
    if svc is None:
        raise RuntimeError("remediation tasks run only in a remediation worker (`gateward remediation worker`)")
    svc.run_unit(unit_id)


def register(app: procrastinate.App) -> None:
    app.task(name=UNIT_TASK, queue=QUEUE, pass_context=True, retry=RETRY)(remediation_unit)


class UnitQueue:
    """Deferring units and putting a dead worker's units back in the queue."""

    def __init__(self, app: Any, distributed: bool) -> None:
        self.app = app
        self.distributed = distributed

    def defer(self, unit_id: str) -> int:
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            return int(self.app.configure_task(UNIT_TASK, queueing_lock=f"unit:{unit_id}").defer(unit_id=unit_id))
        except AlreadyEnqueued:
            return 0

    def retry_stalled(self, seconds: float = 5.0) -> int:
        if not self.distributed:
            return 0
        from procrastinate import utils

        async def go() -> int:
            jobs = await self.app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds)
            for job in jobs:
                await self.app.job_manager.retry_job(job)
            return len(jobs)

        return int(utils.async_to_sync(go))


def build(runtime: Any, concurrency: int, svc: Remediation | None = None) -> tuple[Any, Any, Remediation, UnitQueue]:
    """(campaign queue, campaign orchestrator, remediation service, unit queue) on one app."""
    from campaigns.worker import build as build_campaigns

    cq, orch = build_campaigns(runtime, concurrency)
    register(cq.app)
    svc = svc or Remediation(runtime)
    if not cq.distributed:
        svc.recover_local()
    return cq, orch, svc, UnitQueue(cq.app, cq.distributed)


def step(orch: Any, svc: Remediation, units: UnitQueue) -> int:
    """One watchdog round for both engines; returns the units handed to the queue."""
    try:
        orch.tick()
    except Exception:
        log.exception("campaign watchdog step failed")
    try:
        units.retry_stalled()
    except Exception:
        log.exception("retrying stalled remediation jobs failed")
    rep = svc.tick()
    for uid, _ in rep.units:
        units.defer(uid)
    return len(rep.units)


async def serve(runtime: Any, *, concurrency: int = 4, tick_s: float = 0.5, name: str | None = None,
                until: Callable[[], bool] | None = None, install_signal_handlers: bool = True,
                stop_event: threading.Event | None = None, svc: Remediation | None = None) -> None:
    from procrastinate import utils

    from campaigns.queue import HEARTBEAT_S, STALLED_S
    from campaigns.queue import QUEUE as CAMPAIGN_QUEUE

    cq, orch, svc, units = build(runtime, concurrency, svc)
    async with cq.app.open_async():
        worker = asyncio.create_task(cq.app.run_worker_async(
            queues=[CAMPAIGN_QUEUE, QUEUE], concurrency=concurrency, name=name, wait=True,
            listen_notify=cq.distributed, fetch_job_polling_interval=1.0 if cq.distributed else 0.05,
            abort_job_polling_interval=2.0, update_heartbeat_interval=HEARTBEAT_S,
            stalled_worker_timeout=STALLED_S, additional_context={"gateward": orch, "gateward_remediation": svc},
            install_signal_handlers=install_signal_handlers))

        async def watchdog() -> None:
            while True:
                try:
                    await utils.sync_to_async(step, orch, svc, units)
                except Exception:
                    log.exception("remediation tick failed")
                if until is not None and await utils.sync_to_async(until):
                    return
                if stop_event is not None and stop_event.is_set():
                    return
                await asyncio.sleep(tick_s)

        dog = asyncio.create_task(watchdog())
        done, _ = await asyncio.wait({worker, dog}, return_when=asyncio.FIRST_COMPLETED)
        for t in (worker, dog):
            if t not in done:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]


def run_worker(runtime: Any, *, concurrency: int = 4, tick_s: float = 0.5, name: str | None = None,
               until: Callable[[], bool] | None = None) -> None:
    """Block running a worker for campaigns and remediation (``gateward remediation worker``)."""
    asyncio.run(serve(runtime, concurrency=concurrency, tick_s=tick_s, name=name, until=until))


class EmbeddedWorker:
    """The same worker on a background thread (tests, an API process on SQLite)."""

    def __init__(self, runtime: Any, concurrency: int = 2, tick_s: float = 0.2, svc: Remediation | None = None) -> None:
        self.runtime, self.concurrency, self.tick_s, self.svc = runtime, concurrency, tick_s, svc
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> EmbeddedWorker:
        def main() -> None:
            try:
                asyncio.run(serve(self.runtime, concurrency=self.concurrency, tick_s=self.tick_s,
                                  install_signal_handlers=False, stop_event=self._stop, svc=self.svc))
            except BaseException as exc:
                self.error = exc
                log.exception("embedded remediation worker stopped")

        self._thread = threading.Thread(target=main, name="gateward-remediation-worker", daemon=True)
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
