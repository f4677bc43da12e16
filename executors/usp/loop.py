"""An asyncio event loop on a daemon thread, for synchronous callers of asynchronous code.

Why: the executor contract is synchronous (the lifecycle calls ``read``/``apply`` from worker
threads) while the USP controller is a coroutine world holding thousands of requests on one MQTT
connection. Each synchronous call hands its coroutine to this loop and waits for the result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopTimeout(TimeoutError):
    """The coroutine handed to :meth:`LoopThread.run` did not finish within its budget."""


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (it comes with ``uvicorn[standard]``, a dependency),
    else asyncio's.

    Why: every USP request in flight resumes its caller's coroutine through the loop (a handle
    scheduled and run, the task stepped) — about a quarter of the controller's samples per Set
    under the fan-out bench (py-spy); uvloop does that in C: 12 % fewer instructions per Set
    (callgrind, same code). Code on this loop must not rely on asyncio's order of ready callbacks
    against I/O: uvloop runs a socket's reader as soon as it polls, before callbacks scheduled by
    the previous turn."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class LoopThread:
    def __init__(self, name: str = "usp-loop") -> None:
        self.loop = new_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    @property
    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for it (never call this from the loop's own thread)."""
        if self.in_loop:
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop; await the coroutine instead")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:  # (also the base of errors the coroutine raised)
            if fut.done():
                raise
            fut.cancel()
            raise LoopTimeout(f"operation did not finish within {timeout}s") from None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
