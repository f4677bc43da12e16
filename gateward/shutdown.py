"""Stopping a process without losing or repeating a device write: SIGTERM drains, and so
does Ctrl-C (SIGINT) — a person at a terminal gets the same guarantees as an orchestrator.

What a drain does, in order, from the first SIGTERM or SIGINT:

1. the lifecycle admits no new device write (:mod:`core.lifecycle.draining`): the API answers
   every non-read 503 ``shutting_down`` with ``Retry-After`` and its readiness 503, while reads go
   on being served (:mod:`api.draining`); a campaign batch in flight stops before its next device
   write — the device it is writing is written and verified, or restored — and leaves the rest
   ``pending`` for the batch's redelivery;
2. the workers fetch no new job (procrastinate's graceful stop) and wait for the jobs they run;
3. once nothing is in flight the process stops serving and exits 0;
4. at ``GATEWARD_SHUTDOWN_S`` (default 30) after the signal, whatever still runs is left where a
   crash would leave it — every device write is recorded ``applying`` before it is sent — and
   the process exits :data:`LEFT_TO_RECOVERY` (75) after one log line naming what it left. An
   apply is verified or rolled back from its execution rows by the next ``gateward run`` start (it
   recovers before serving) or ``gateward recover``; a campaign batch is resumed by the next worker
   that runs it (verified, never re-written). Nothing is written twice (``docs/safety.md``,
   invariant 6; ``tests/integration/test_sigterm.py``).

A SIGINT while the drain is under way (a second Ctrl-C) does at once what the deadline would: one
line naming what is left, exit 75 (0 if the drain had already finished). A second SIGTERM changes
nothing: orchestrators repeat it, and systemd sends it to every process of the unit as well.

Why the deadline exits hard: an orchestrator (systemd's ``TimeoutStopSec``, Kubernetes'
``terminationGracePeriodSeconds``) sends SIGKILL after its own grace period anyway; exiting
before it, having said what was left, is the same crash the lifecycle is built to survive, with a
line in the log. Set ``GATEWARD_SHUTDOWN_S`` a few seconds below that grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from core.lifecycle import draining

log = logging.getLogger("gateward.shutdown")

DEFAULT_SHUTDOWN_S = 30.0
MAX_SHUTDOWN_S = 3600.0
LEFT_TO_RECOVERY = 75  # EX_TEMPFAIL: stopped with work in flight; the next start's recovery finishes it


def seconds_setting(name: str, default: float, env: Mapping[str, str] | None = None,
                    max_s: float = MAX_SHUTDOWN_S) -> float:
    """A duration read from the environment: ``0 < s <= max_s``, ``default`` when unset; a bad value
    raises :class:`ValueError` naming the variable (read at start, so a bad one stops the start)."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= max_s:
        raise ValueError(f"{name} must be more than 0 and at most {max_s:g} s, got {raw!r}")
    return value


def shutdown_s(env: Mapping[str, str] | None = None) -> float:
    """``GATEWARD_SHUTDOWN_S``: seconds from SIGTERM to exit (0 < s <= 3600; default 30). Read at
    start, so that a bad value stops the start, not the shutdown."""
    return seconds_setting("GATEWARD_SHUTDOWN_S", DEFAULT_SHUTDOWN_S, env)


class Drain:
    """One process's drain: :meth:`begin` (the signal handler's call: returns at once) starts it;
    a thread waits for the lifecycle's writes and the ``waits`` to end, then calls ``then`` (stop
    serving); at the deadline it exits the process hard (:meth:`expire`).

    ``stops``: asked at once to stop taking work (e.g. a worker's stop event; must not block).
    ``waits``: each called with the seconds left, returns whether its part has ended (e.g. a
    worker thread joined)."""

    def __init__(self, limit_s: float, *, then: Callable[[], None] | None = None,
                 stops: Sequence[Callable[[], None]] = (), waits: Sequence[Callable[[float], bool]] = (),
                 exit_: Callable[[int], None] = os._exit) -> None:
        self.limit_s, self.then = limit_s, then
        self.stops, self.waits = list(stops), list(waits)
        self._exit = exit_
        self._lock = threading.Lock()
        self.deadline: float | None = None
        self.finished = threading.Event()  # set once everything in flight ended (before ``then``)

    @property
    def started(self) -> bool:
        return self.deadline is not None

    def left_s(self) -> float:
        """Seconds until the deadline (the full limit before the drain began)."""
        return self.limit_s if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def on_signal(self, name: str) -> None:
        """A stop signal arrived (``SIGTERM`` or ``SIGINT``): begin draining, or — a SIGINT while
        draining, a second Ctrl-C — stop at once (:meth:`force`)."""
        if name == "SIGINT" and self.started:
            self.force(name)
        else:
            self.begin(name)

    def begin(self, why: str = "SIGTERM") -> bool:
        """Start draining (idempotent: a second signal changes nothing); returns whether this call began it."""
        with self._lock:
            if self.deadline is not None:
                return False
            self.deadline = time.monotonic() + self.limit_s
        draining.begin()
        busy = draining.in_flight()
        log.warning("%s: draining — no new writes (503 shutting_down), %d write(s) in flight%s; exit within %g s "
                    "(GATEWARD_SHUTDOWN_S)%s", why, len(busy), f" ({'; '.join(busy)})" if busy else "", self.limit_s,
                    "; Ctrl-C again stops at once, leaving them to recovery" if why == "SIGINT" else "")
        for stop in self.stops:
            try:
                stop()
            except Exception:
                log.exception("asking a part of this process to stop failed")
        threading.Thread(target=self._run, name="gateward-drain", daemon=True).start()
        return True

    def _run(self) -> None:
        done = draining.wait_idle(self.left_s())
        for wait in self.waits:
            done = wait(self.left_s()) and done
        done = done and draining.wait_idle(self.left_s())  # a job that finished its wait may have run one more
        if done:
            self.finished.set()
            log.warning("drained: nothing in flight; stopping")
            if self.then is not None:
                self.then()
        left = self.left_s()
        if left > 0:
            time.sleep(left)
        self.expire()

    def expire(self) -> None:
        """The deadline: say what is left and exit :data:`LEFT_TO_RECOVERY` at once (no cleanup,
        as a crash — which the lifecycle recovers from)."""
        self._stop_now(f"GATEWARD_SHUTDOWN_S={self.limit_s:g} s passed")

    def force(self, why: str = "SIGINT", *, left_elsewhere: bool = False) -> None:
        """A second Ctrl-C: what the deadline does, now — except that a drain already over exits 0
        (unless ``left_elsewhere``: another process of this one's, e.g. an API process, left work)."""
        self._stop_now(f"{why} again while draining", clean=self.finished.is_set() and not left_elsewhere)

    def _stop_now(self, reason: str, *, clean: bool = False) -> None:
        busy = draining.in_flight()
        code = 0 if clean and not busy else LEFT_TO_RECOVERY
        if busy:
            log.error("shutdown: %s with %d write(s) in flight: %s; left to recovery (an apply: the next "
                      "`gateward run` start or `gateward recover`; a campaign batch: its next run on any worker — "
                      "verified or rolled back, nothing written twice); exiting %d",
                      reason, len(busy), "; ".join(busy), code)
        elif code:
            log.error("shutdown: %s before the process finished stopping (no device write in flight); exiting %d",
                      reason, code)
        else:
            log.warning("shutdown: %s; it had drained (nothing in flight); exiting 0", reason)
        for out in (*logging.getLogger().handlers, *log.handlers, sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting anyway
                out.flush()
        self._exit(code)
