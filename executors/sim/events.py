"""The simulator's event log as a :class:`core.kernel.ports.events.DeviceEventSource`.

Why here: the ``sim_events`` table is the simulator's own storage; remediation ingest must read
it through the same interface any adapter offers, never with SQL of its own. The cursor is the
last event id, as text.
"""

from __future__ import annotations

from core.kernel.ports.events import DeviceEvent
from executors.sim.twin import Twin


class TwinEventLog:
    """Events the simulated devices logged (boots, bootstraps, informs, value changes…)."""

    name = "twin"

    def __init__(self, twin: Twin) -> None:
        self.twin = twin

    def read_after(self, cursor: str | None, *, limit: int = 5000) -> tuple[list[DeviceEvent], str]:
        if cursor is None:
            return [], str(self.twin.last_event_id())
        try:
            since = int(cursor)
        except ValueError:
            raise ValueError(f"the simulator's event cursor is an event id, got {cursor!r}") from None
        events = self.twin.events(since_id=since, limit=limit)
        out = [DeviceEvent(device_id=e.device_id, kind=e.kind, ts=e.ts, data=e.data) for e in events]
        return out, str(events[-1].id) if events else cursor


__all__ = ["TwinEventLog"]
