"""Draining: a process asked to stop (SIGTERM) starts no new device write and lets the writes it
has in flight reach a point recovery can take over from.

Why in the lifecycle: it is the only writer, so the one place that can say "no new write from
now on" for every caller at once — an API request, a campaign batch, a remediation unit — and
know what is still in flight. The composition root (``gateward.shutdown``) decides *when* a
process drains (the signal) and for how long (``GATEWARD_SHUTDOWN_S``); this module only holds
the process's state:

- :func:`begin` — from now on :func:`write_session` refuses (:class:`core.kernel.errors.ShuttingDown`:
  nothing was changed, the caller retries elsewhere or later);
- :func:`write_session` — wraps every entry that may write a device (``Lifecycle.apply``,
  ``rollback``, ``apply_batch``, ``rollback_staged``), so :func:`in_flight` names what runs and
  :func:`wait_idle` returns once it has all ended;
- :func:`stop_or` — a campaign batch's ``stop``: true once draining, polled before every device
  write, so a batch in flight finishes the device it is writing (write → verify, or restore) and
  leaves the rest ``pending`` for the batch's redelivery — the halt path campaigns already have.

A single apply is not cut between its devices: the proposal is its failure unit, so stopping
after the first of its devices would roll that one back. It runs to its end (``done`` or
``rolled_back``) within the drain; if the deadline comes first the process exits with it in
flight and the next start's recovery verifies or rolls it back from its execution rows
(``docs/safety.md``, invariant 6) — never a second write.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.kernel.errors import ShuttingDown

_cond = threading.Condition()
_draining = threading.Event()
_in_flight: dict[int, str] = {}
_keys = itertools.count()


def begin() -> None:
    """Stop admitting device writes in this process (idempotent)."""
    with _cond:
        _draining.set()
        _cond.notify_all()


def active() -> bool:
    """Whether this process is draining."""
    return _draining.is_set()


def reset() -> None:
    """Admit writes again (tests; a process never un-drains)."""
    with _cond:
        _draining.clear()


@contextmanager
def write_session(what: str) -> Iterator[None]:
    """Run a device-writing entry of the lifecycle as ``what`` (e.g. ``"apply p-1"``); refused
    with :class:`ShuttingDown` once draining, before anything is read or locked."""
    with _cond:
        if _draining.is_set():
            raise ShuttingDown(f"this Gateward process is shutting down; {what} was not started and nothing "
                               "was changed — retry (another replica, or this one after its restart)")
        key = next(_keys)
        _in_flight[key] = what
    try:
        yield
    finally:
        with _cond:
            del _in_flight[key]
            _cond.notify_all()


def in_flight() -> list[str]:
    """What is writing now, oldest first."""
    with _cond:
        return [_in_flight[k] for k in sorted(_in_flight)]


def wait_idle(timeout_s: float) -> bool:
    """Wait until nothing is in flight (at most ``timeout_s``); returns whether that happened."""
    end = time.monotonic() + max(0.0, timeout_s)
    with _cond:
        while _in_flight:
            left = end - time.monotonic()
            if left <= 0:
                return False
            _cond.wait(left)
        return True


def stop_or(stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """A batch's ``stop``: true once this process drains, else whatever ``stop`` says."""
    if stop is None:
        return active
    return lambda: _draining.is_set() or stop()
