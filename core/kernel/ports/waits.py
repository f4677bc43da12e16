"""An adapter's word that a device call is waiting for the device to come to it (its next inform).

Why a port: a device behind NAT cannot be reached by a connection request; its task waits in the
ACS's queue for its next periodic inform, which can be minutes away (``apply`` printed
nothing for 90 s, ``show`` said ``approved``, no event said why). The adapter knows it is waiting
and until when; the lifecycle knows which proposal and device the call is for. The adapter calls
:func:`announce` from inside the call; whoever made the call listens with :func:`listening` around
it (a context variable: per thread, so parallel device calls each reach their own listener).
Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from core.kernel.jsontypes import JsonObject

__all__ = ["InformWait", "announce", "listening"]


@dataclass(frozen=True)
class InformWait:
    """A call queued for the device's next inform: when it is due (from the device's own
    PeriodicInformInterval and last inform; None when unknown) and why, in words."""

    device_id: str
    due_at: datetime | None
    interval_s: int | None
    reason: str  # what the ACS said of the failed connection request, verbatim
    detail: str  # one sentence for people

    def as_dict(self) -> JsonObject:
        return {"due_at": self.due_at.isoformat() if self.due_at else None, "interval_s": self.interval_s,
                "reason": self.reason, "detail": self.detail}


_sink: ContextVar[Callable[[InformWait], None] | None] = ContextVar("gateward_inform_wait", default=None)


def announce(wait: InformWait) -> None:
    """Tell the caller of the current device call (if it listens) that it now waits; never raises."""
    fn = _sink.get()
    if fn is None:
        return
    try:
        fn(wait)
    except Exception:  # a listener's failure must not fail the device call
        import logging

        logging.getLogger("gateward.waits").exception("an inform-wait listener failed")


@contextmanager
def listening(fn: Callable[[InformWait], None]) -> Iterator[None]:
    """Hear :func:`announce` from the device calls made inside the block, on this thread."""
    token = _sink.set(fn)
    try:
        yield
    finally:
        _sink.reset(token)
