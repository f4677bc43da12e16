"""Two readings of "now": the time of day policy judges change windows by, and the time that passes.

``GATEWARD_POLICY_TIME`` pins the first (rehearsals, demos and the test suite must not depend on
when they run). It must not pin the second: a campaign's cohort is matched on the telemetry of the
hours before now, and a ring is observed until ``gate.observe_s`` after it drained — both against
rows stamped with the wall clock. Read at a pinned 02:30 in the afternoon, the cohort found no
telemetry at all and a ring's observation could never end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PinnedClock:
    """Today's date at a fixed UTC time of day, for policy; :meth:`wall` is the time that passes."""

    hour: int
    minute: int

    @classmethod
    def parse(cls, hh_mm: str) -> PinnedClock:
        hour, minute = (int(x) for x in hh_mm.split(":"))
        return cls(hour, minute)

    def __call__(self) -> datetime:
        return self.wall().replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)

    @staticmethod
    def wall() -> datetime:
        return wall_clock()


def policy_clock(pinned: str | None) -> Callable[[], datetime]:
    """The clock policy sees: the wall clock unless ``pinned`` (``HH:MM``) fixes the time of day."""
    return PinnedClock.parse(pinned) if pinned else wall_clock


def elapsed_now(clock: Callable[[], datetime]) -> datetime:
    """Now for measuring (telemetry windows, observation): ``clock``'s reading, except that a
    pinned time of day gives way to the wall clock. A clock a test or what-if swapped in is read
    as it is — it stands for the whole system's time."""
    return clock.wall() if isinstance(clock, PinnedClock) else clock()
