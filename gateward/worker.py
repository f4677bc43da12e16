"""The one worker: campaign batches and remediation units on one job queue, one watchdog.

Why here: the worker needs both engines, and only the composition root may import both
(campaigns sit below the planner). ``campaigns.worker`` is the engine (the queue's worker plus a
watchdog); ``brain.remediation.worker`` contributes remediation's task and step. ``gateward
worker`` runs :func:`run_worker`; ``gateward run`` (and tests, and ``campaign start --wait`` on
SQLite) run :class:`EmbeddedWorker` on a thread. Either way the remediation service is the
runtime's own (:attr:`gateward.runtime.Runtime.remediation`), unless a caller brings one.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateward.runtime import Runtime

if TYPE_CHECKING:
    from brain.remediation.service import Remediation

log = logging.getLogger("gateward.worker")


async def serve(runtime: Runtime, *, concurrency: int = 4, tick_s: float = 0.5, name: str | None = None,
                until: Callable[[], bool] | None = None, install_signal_handlers: bool = True,
                stop_event: threading.Event | None = None, remediation: Remediation | None = None) -> None:
    """Run the worker for both queues (``campaigns``, ``remediation``) until a signal, ``until()``
    or ``stop_event``. Each watchdog round steps the campaigns, then ticks remediation."""
    from brain.remediation import worker as rw
    from campaigns import worker as cw
    from campaigns.queue import QUEUE as CAMPAIGN_QUEUE

    queue, orch = cw.build(runtime, concurrency)
    svc = remediation or runtime.remediation
    units = rw.attach(queue.app, queue.distributed, svc)

    def step() -> None:
        cw.campaign_step(orch)
        rw.step(svc, units)
        try:  # restores that waited for an unreachable device, and what a full disk left
            runtime.lifecycle.recheck_pending()
        except Exception:
            log.exception("re-checking pending restores failed")
        try:  # changes asked for later ("at 2 tonight"): started for the person who asked, every gate again
            for pid, result in runtime.lifecycle.start_due():
                log.info("scheduled proposal %s started: %s", pid, result)
        except Exception:
            log.exception("starting scheduled proposals failed")

    await cw.serve(queue, step=step, context={"gateward": orch, rw.CONTEXT_KEY: svc},
                   queues=(CAMPAIGN_QUEUE, rw.QUEUE), concurrency=concurrency, name=name, tick_s=tick_s,
                   until=until, install_signal_handlers=install_signal_handlers, stop_event=stop_event)


def run_worker(runtime: Runtime, *, concurrency: int = 4, tick_s: float = 0.5, name: str | None = None,
               until: Callable[[], bool] | None = None, limit_s: float | None = None) -> None:
    """Block running the worker (``gateward worker``). SIGTERM or SIGINT drains it
    (``gateward.shutdown``): no new job, no new device write; the batches in flight stop before
    their next device write and record what they did; exit within ``limit_s``
    (``GATEWARD_SHUTDOWN_S``), else — or at a second Ctrl-C — exit 75 naming what was left to recovery."""
    from gateward.shutdown import Drain, shutdown_s

    stop = threading.Event()
    drain = Drain(shutdown_s() if limit_s is None else limit_s, stops=[stop.set])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, drain.on_signal, signal.Signals(sig).name)
        await serve(runtime, concurrency=concurrency, tick_s=tick_s, name=name, until=until,
                    install_signal_handlers=False, stop_event=stop)

    asyncio.run(main())
    if drain.started:
        log.warning("worker stopped: nothing in flight")


class EmbeddedWorker:
    """The same worker on a background thread (``gateward run``, ``campaign start --wait``, tests).
    A failure that stops it is kept in :attr:`error` for its owner."""

    def __init__(self, runtime: Runtime, concurrency: int = 2, tick_s: float = 0.2,
                 remediation: Remediation | None = None) -> None:
        self.runtime, self.concurrency, self.tick_s, self.remediation = runtime, concurrency, tick_s, remediation
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> EmbeddedWorker:
        def main() -> None:
            try:
                asyncio.run(serve(self.runtime, concurrency=self.concurrency, tick_s=self.tick_s,
                                  install_signal_handlers=False, stop_event=self._stop,
                                  remediation=self.remediation))
            except BaseException as exc:  # surfaced to the owner through .error
                self.error = exc
                log.exception("embedded worker stopped")

        self._thread = threading.Thread(target=main, name="gateward-worker", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Fetch no new job; the running ones finish (a draining process's batches stop before
        their next device write). Returns at once."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and wait up to ``timeout`` for the running jobs; returns whether the worker ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def __enter__(self) -> EmbeddedWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
