"""Change-window obligations, read where a write starts.

Why here: policy judges the clock once, when it decides. A two-device change decided at 02:30
inside the DE window and applied at 14:00 used to end ``done`` — the window only bound campaign
batches (``campaigns.obligations``, which core may not import). The decision states the window as
a coded obligation (``obligation.window``: ``region``, ``start_hour``, ``end_hour``,
``utc_offset_hours``; policies/rego/change.rego); every write start (a single apply, a resumed or
retried batch) re-reads it from the stored decision and refuses outside it. An emergency carries no
such obligation (policy already decided that a senior approver may act at any hour), so it is not
touched here.

The arithmetic is ``lib.rego``'s: local hours, start inclusive, end exclusive, may wrap midnight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.kernel.errors import Forbidden
from core.kernel.jsontypes import Json
from core.kernel.models import PolicyItem

WINDOW = "obligation.window"


@dataclass(frozen=True)
class Window:
    """One region's daily change window in local hours with the fixed UTC offset policy data gives."""

    region: str
    start_hour: int
    end_hour: int
    utc_offset_h: float

    def open_at(self, now: datetime) -> bool:
        h = (now + timedelta(hours=self.utc_offset_h)).hour
        return (h - self.start_hour) % 24 < (self.end_hour - self.start_hour) % 24

    def next_open(self, now: datetime) -> datetime:
        """When the window next opens (``now`` itself when it is open), in ``now``'s time zone."""
        if self.open_at(now):
            return now
        local = now + timedelta(hours=self.utc_offset_h)
        start = local.replace(hour=self.start_hour, minute=0, second=0, microsecond=0)
        if start <= local:
            start += timedelta(days=1)
        return start - timedelta(hours=self.utc_offset_h)

    def text(self) -> str:
        return f"{self.region} {self.start_hour:02d}:00-{self.end_hour:02d}:00 local (UTC{self.utc_offset_h:+g} h)"


def _number(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # A window policy stated but this process cannot read: refusing is the closed way to fail.
        raise Forbidden(f"policy obligation {WINDOW} needs a numeric {name!r}, got {value!r}; "
                        "the decision cannot be honoured, so nothing is written (fix the policy pack)")
    return float(value)


def windows_of(items: Iterable[PolicyItem | Mapping[str, Any]]) -> list[Window]:
    """The change windows a decision's obligation items bind its writes to (other codes skipped)."""
    out: list[Window] = []
    for item in items:
        code, params = (item.code, item.params) if isinstance(item, PolicyItem) else (
            str(item.get("code", "")), item.get("params") or {})
        if code != WINDOW:
            continue
        out.append(Window(str(params.get("region") or "?"), int(_number(params, "start_hour")),
                          int(_number(params, "end_hour")), _number(params, "utc_offset_hours")))
    return out


def closed_now(items: Iterable[PolicyItem | Mapping[str, Json]], now: datetime) -> list[Window]:
    """The windows among ``items`` that are closed at ``now``."""
    return [w for w in windows_of(items) if not w.open_at(now)]


def _in(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def closed_text(pid: str, closed: list[Window], now: datetime) -> str:
    """One line for a person: which window, that it is closed now, and when the write may start."""
    opens = max(w.next_open(now) for w in closed)  # every region's window must be open at once
    names = "; ".join(w.text() for w in closed)
    return (f"proposal {pid} may only be written inside the change window its approval was decided in: "
            f"{names} is closed now ({now:%H:%M} UTC); it next opens at {opens:%Y-%m-%d %H:%M} UTC "
            f"(in {_in(opens - now)}). Nothing was written and it stays approved — apply it then")
