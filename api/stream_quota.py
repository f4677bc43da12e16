"""How many live event streams (``GET /api/events``) each person holds open in this process.

Why a cap: a stream holds a connection, a subscription to the fleet-wide bus and a loop that wakes
twice a second for as long as it is open (up to ``max_s``); 2,000 of them from two tokens were all
accepted and the API's worst answer went to 6.8 s meanwhile. A person needs one per open console page,
so ``GATEWARD_LIVE_STREAMS_PER_PERSON`` (8) is generous for people and a wall for a script that opens
streams in a loop. Counted per person (every token and session of theirs), per process: each replica
holds its own connections, so each bounds its own.

A slot is taken before the response starts (so a refusal is a clean 429) and given back exactly once,
when the stream's body ends or when the response ends without ever starting it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class StreamQuota:
    """Open streams per person, at most ``cap`` each (the cap is read per request: a setting)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def held(self, who: str) -> int:
        with self._lock:
            return self._open.get(who, 0)

    def take(self, who: str, cap: int) -> Callable[[], None] | None:
        """A slot for ``who``, as the function that gives it back (idempotent), or ``None`` when
        ``who`` already holds ``cap`` streams."""
        with self._lock:
            if self._open.get(who, 0) >= cap:
                return None
            self._open[who] = self._open.get(who, 0) + 1
        given_back = False

        def release() -> None:
            nonlocal given_back
            with self._lock:
                if given_back:
                    return
                given_back = True
                left = self._open.get(who, 1) - 1
                if left > 0:
                    self._open[who] = left
                else:
                    self._open.pop(who, None)

        return release
