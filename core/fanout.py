"""Bounded fan-out of one proposal's device I/O over threads.

Why: a multi-device proposal read and wrote its devices one at a time — 50 devices on GenieACS took
81.5 s to apply and 28.6 s to propose, nearly all of it waiting on the ACS. The lifecycle is
synchronous code (each adapter runs its own I/O, the USP one on its own event loop), so the device
calls of one proposal run on a small thread pool, at most ``GATEWARD_APPLY_CONCURRENCY`` at a time;
the store's writes already serialise across threads (its writer lock). With a limit of 1 nothing
runs on another thread and the order is the targets' order, as before.

Two shapes, both keeping what the serial loops decided by:

* :func:`map_bounded` — reads (preview, presence, backup, read-back): every item is called; each
  answer comes back in item order as a :class:`Done`, whose ``get()`` returns the value or raises
  what the call raised, so a caller that stopped at the first failure in target order still does.
* :func:`run_bounded` — writes: items are started in order while ``stop()`` is false, the calls
  already running are waited for (never abandoned half-way), and the first exception a call raised
  is re-raised once they have all returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Done(Generic[R]):
    """One call's answer: its value, or the exception it raised (re-raised by :meth:`get`)."""

    value: R | None = None
    error: BaseException | None = None

    def get(self) -> R:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only when R admits it


def _call(fn: Callable[[T], R], item: T) -> Done[R]:
    try:
        return Done(value=fn(item))
    except Exception as exc:  # handed back in item order; BaseException (a kill) goes on at once
        return Done(error=exc)


def map_bounded(fn: Callable[[T], R], items: Sequence[T], limit: int, *, name: str = "gw-fanout") -> list[Done[R]]:
    """``fn`` over every item, at most ``limit`` at once; the answers in item order."""
    if limit <= 1 or len(items) <= 1:
        return [_call(fn, item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix=name) as pool:
        return list(pool.map(lambda item: _call(fn, item), items))


def run_bounded(fn: Callable[[T], None], items: Sequence[T], limit: int, *, stop: Callable[[], bool],
                name: str = "gw-fanout") -> None:
    """Call ``fn`` on the items in order, at most ``limit`` at once, starting none once ``stop()`` is
    true or a call has raised. Returns when every started call has returned; then re-raises the first
    exception (in the order the calls ended). ``fn`` itself re-checks ``stop`` under its own lock when
    it starts: a call may be handed out just before another sets the stop."""
    if limit <= 1 or len(items) <= 1:
        for item in items:
            if stop():
                return
            fn(item)
        return
    failed: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix=name) as pool:
        running: set[Future[None]] = set()

        def reap(done: set[Future[None]]) -> None:
            failed.extend(exc for f in done if (exc := f.exception()) is not None)

        for item in items:
            if len(running) >= limit:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                reap(done)
            if failed or stop():
                break
            running.add(pool.submit(fn, item))
        done, _ = wait(running)
        reap(done)
    if failed:
        raise failed[0]
