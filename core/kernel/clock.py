"""Two readings of "now": the time of day policy judges change windows by, and the time that passes.

``GATEWARD_POLICY_TIME`` pins the first (rehearsals, demos and the test suite must not depend on
when they run). It must not pin the second: a campaign's cohort is matched on the telemetry of the
hours before now, and a ring is observed until ``gate.observe_s`` after it drained — both against
rows stamped with the wall clock. Read at a pinned 02:30 in the afternoon, the cohort found no
telemetry at all and a ring's observation could never end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PinnedClock:
    """Today's date at a fixed UTC time of day, for policy; :meth:`wall` is the time that passes
    (the wall clock, moved by ``shift`` when a rehearsal sets the day's hour — :func:`moved`)."""

    hour: int
    minute: int
    shift: timedelta = timedelta(0)

    @classmethod
    def parse(cls, hh_mm: str) -> PinnedClock:
        hour, minute = (int(x) for x in hh_mm.split(":"))
        return cls(hour, minute)

    def __call__(self) -> datetime:
        return self.wall().replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)

    def wall(self) -> datetime:
        return wall_clock() + self.shift


@dataclass(frozen=True)
class MovedClock:
    """Another clock read ``shift`` later (earlier when negative): time passes as on ``base``."""

    base: Callable[[], datetime]
    shift: timedelta

    def __call__(self) -> datetime:
        return self.base() + self.shift


def moved(clock: Callable[[], datetime], shift: timedelta) -> Callable[[], datetime]:
    """``clock`` with the time that passes moved by ``shift``, so that a run can say what hour it is at
    the device ("tonight at 23:00" asked at 15:00) and not depend on when it runs. A pinned clock keeps
    policy's time of day pinned and moves only its wall; any other clock moves whole."""
    if isinstance(clock, PinnedClock):
        return replace(clock, shift=clock.shift + shift)
    return MovedClock(clock, shift)


def policy_clock(pinned: str | None) -> Callable[[], datetime]:
    """The clock policy sees: the wall clock unless ``pinned`` (``HH:MM``) fixes the time of day."""
    return PinnedClock.parse(pinned) if pinned else wall_clock


def elapsed_now(clock: Callable[[], datetime]) -> datetime:
    """Now for measuring (telemetry windows, observation): ``clock``'s reading, except that a
    pinned time of day gives way to the wall clock. A clock a test or what-if swapped in is read
    as it is — it stands for the whole system's time."""
    return clock.wall() if isinstance(clock, PinnedClock) else clock()
