"""Remediation on the campaigns' workers: its task, its queue and its watchdog step.

Why share the campaign engine: remediation jobs and rollouts are the same kind of work (device
writes through the lifecycle, paced, at-least-once, surviving a dead worker) and an operator should
run one pool of workers, not two. This module is remediation's part of that one worker —
:func:`register` puts the unit task on the campaign queue's procrastinate app, :class:`UnitQueue`
defers units and re-queues a dead worker's, :func:`step` is remediation's watchdog round (closing
confirmed fixes, re-queueing approved proposals, recovering lost units, dispatching open cases as
units while the storm buckets have tokens). ``gateward.worker`` assembles the process. Each unit is
one job (``gateward.remediation_unit``) with a queueing lock on its id.

Delivery is at-least-once and that is safe: a unit's cases record their proposal before it is
applied, so a redelivered unit follows the proposal instead of making another (``runner``).
On SQLite the queue is in memory (one worker process); units a dead process held go back to open
when the worker starts.
"""

from __future__ import annotations

import logging
import time

import procrastinate
from procrastinate import JobContext

from brain.remediation.service import Remediation
from campaigns.orchestrator import STALLED_CHECK_S  # the campaign watchdog's pace for the same question
from campaigns.tasks import RETRY  # transient errors (database restart, lock races) retried with back-off

log = logging.getLogger("gateward.remediation.worker")
QUEUE = "remediation"
UNIT_TASK = "gateward.remediation_unit"
CONTEXT_KEY = "gateward_remediation"


def remediation_unit(context: JobContext, unit_id: str) -> None:
    svc = (context.additional_context or {}).get(CONTEXT_KEY)
    if svc is None:
        raise RuntimeError("remediation tasks run only in a worker (`gateward worker`)")
    svc.run_unit(unit_id)


def register(app: procrastinate.App) -> None:
    app.task(name=UNIT_TASK, queue=QUEUE, pass_context=True, retry=RETRY)(remediation_unit)


class UnitQueue:
    """Deferring units and putting a dead worker's units back in the queue."""

    def __init__(self, app: procrastinate.App, distributed: bool) -> None:
        self.app = app
        self.distributed = distributed
        self._last_stalled_check = -1e9

    def stalled_check_due(self) -> bool:
        """True at most every ``STALLED_CHECK_S``: a worker counts as dead only after 5 s without a
        heartbeat, so asking every 0.5 s tick found the same answer over and over, each time a
        round trip through the event loop and the queue's database (as the campaign watchdog)."""
        now = time.monotonic()
        if now - self._last_stalled_check < STALLED_CHECK_S:
            return False
        self._last_stalled_check = now
        return True

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
            jobs = list(await self.app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds))
            for job in jobs:
                await self.app.job_manager.retry_job(job)
            return len(jobs)

        return int(utils.async_to_sync(go))


def attach(app: procrastinate.App, distributed: bool, svc: Remediation) -> UnitQueue:
    """Register the unit task on a worker's app and return its unit queue; on SQLite, units a dead
    process held go back to open first (the in-memory queue died with it)."""
    register(app)
    if not distributed:
        svc.recover_local()
    return UnitQueue(app, distributed)


def step(svc: Remediation, units: UnitQueue) -> int:
    """Remediation's watchdog round; returns the units handed to the queue."""
    if units.stalled_check_due():
        try:
            units.retry_stalled()
        except Exception:
            log.exception("retrying stalled remediation jobs failed")
    rep = svc.tick(depth=False)
    for uid, _ in rep.units:
        units.defer(uid)
    return len(rep.units)
