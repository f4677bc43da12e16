"""The process's store lane: at most N threads of one process run interactive database work at once.

Why: docs/performance.md, D5 (threads of one process doing database work trade the GIL at every
driver call). Interactive paths (a proposal's create → validate and decide → record steps, the
API's proposal answers) take this lane for their database work and wait their turn on it parked.

What never runs in the lane: reading or writing a device (a stuck device would hold every request
up), and bulk or background work (a campaign gate's reads at fleet scale), which keeps its own
pace. A thread that holds the lane may take it again (nested steps never deadlock on it).

``GATEWARD_STORE_LANES`` sets N (0 = no lane). Unset: 1 for SQLite, whose work is all in this
process; 4 for PostgreSQL, whose statements are round trips that more lanes overlap (D5).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Lane:
    """A per-thread-reentrant counting semaphore (``size`` 0 admits everyone at once)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"a lane's size is a count of threads, 0 or more, not {size}")
        self.size = size
        self._slots = threading.BoundedSemaphore(size) if size else None
        self._depth = threading.local()
        # Told how long each first take waited, in seconds (the API's metrics set it).
        self.observe: Callable[[float], None] | None = None
        _ALL.add(self)

    def _after_fork(self) -> None:
        """In a forked child only the forking thread lives on: slots that other threads held
        would never be given back. Start again with what this thread holds."""
        if self.size:
            self._slots = threading.BoundedSemaphore(self.size)
            if self.held():
                self._slots.acquire()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        """Hold a slot for the block (at once if this thread already holds one)."""
        slots = self._slots
        depth = getattr(self._depth, "n", 0)
        if slots is None or depth:
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
            return
        observe = self.observe
        if observe is None:
            slots.acquire()
        else:
            t0 = time.perf_counter()
            slots.acquire()
            observe(time.perf_counter() - t0)
        self._depth.n = 1
        try:
            yield
        finally:
            self._depth.n = 0
            slots.release()

    def held(self) -> bool:
        """Whether this thread holds a slot now."""
        return bool(getattr(self._depth, "n", 0))


_ALL: weakref.WeakSet[Lane] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for lane in list(_ALL):
        lane._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

DEFAULT_LANES = {"sqlite": 1}  # any other database (PostgreSQL): DEFAULT_REMOTE
DEFAULT_REMOTE = 4
_LANES: dict[str, Lane] = {}
_MADE = threading.Lock()


def process_lane(dialect: str) -> Lane:
    """The lane every store of this process on ``dialect``'s databases shares (the GIL is the
    process's), sized once at first use: ``GATEWARD_STORE_LANES``, else the dialect's default."""
    lane = _LANES.get(dialect)
    if lane is None:
        with _MADE:
            lane = _LANES.get(dialect)
            if lane is None:
                from core.kernel.config import get_settings

                size = get_settings().store_lanes
                lane = _LANES[dialect] = Lane(DEFAULT_LANES.get(dialect, DEFAULT_REMOTE) if size is None else size)
    return lane
