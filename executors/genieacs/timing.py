"""GenieACS's refresh granularity, computed the way ``lib/scheduling.ts`` does.

Why the adapter needs it: a ``getParameterValues`` task becomes a ``refresh`` provision with a
one-second interval aligned to a per-device offset. A read whose session starts in the same
interval as the session that last read or wrote a parameter is answered from GenieACS's cache,
with the old ``_timestamp`` and no RPC to the CPE. Knowing the boundary lets the adapter post
its verify read just after it instead of guessing (``docs/genieacs.md``).
"""

from __future__ import annotations

import hashlib
import math

REFRESH_EVERY_S = 1.0  # default-provisions.ts refresh: every = 1000 * (provision[2] || 1) ms


def _md532(text: str) -> int:
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()  # GenieACS's spreading hash
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return words[0] ^ words[1] ^ words[2] ^ words[3]


def refresh_offset_s(device_id: str, every_s: float = REFRESH_EVERY_S) -> float:
    """``scheduling.variance(deviceId, every)``: the device's offset inside the interval (seconds)."""
    every_ms = round(every_s * 1000)
    return (_md532(device_id) % every_ms) / 1000.0


def interval_start(ts: float, device_id: str, every_s: float = REFRESH_EVERY_S) -> float:
    """``scheduling.interval``: the start of the refresh interval holding ``ts`` (seconds)."""
    off = refresh_offset_s(device_id, every_s)
    return math.floor((ts + off) / every_s) * every_s - off


def next_boundary(ts: float, device_id: str, every_s: float = REFRESH_EVERY_S) -> float:
    """The first interval start strictly after ``ts``: a session starting then refreshes for real."""
    return interval_start(ts, device_id, every_s) + every_s


__all__ = ["REFRESH_EVERY_S", "interval_start", "next_boundary", "refresh_offset_s"]
