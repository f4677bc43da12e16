"""The device-event interface: what adapters hand the remediation ingest, whatever their wire.

Why a protocol here: ingest used to read the simulator's ``sim_events`` table with SQL, so the
simulator leaked into the planner and no real adapter could feed the same path. Now an adapter
whose devices keep a *pollable log* implements :class:`DeviceEventSource`, and ingest reads every
such log through it (``brain.remediation.ingest.EventLogSource``), keeping the cursor it returns.

How each protocol reaches ingest:

* the simulator — its twin's event log, through ``executors.sim.events.TwinEventLog``;
* USP — pushed, not polled: the controller's TR-369 Notify stream (Boot!, OnBoardRequest,
  ValueChange) is queued by ``UspSource`` and each signal is written to ``device_events`` once,
  keyed by its ``msg_id``, so it needs no cursor;
* CWMP — a CPE's Inform reaches GenieACS, not Gateward; ``GenieAcsSource`` polls the NBI for
  devices whose ``_lastBootstrap`` moved (an Inform carrying ``0 BOOTSTRAP``; the cursor is the
  newest such time seen) and turns each into a zero-touch trigger. A CWMP adapter that keeps its
  own Inform log (an ACS with an event table) implements :class:`DeviceEventSource` as the
  simulator does, and ingest reads it unchanged.

A leaf module: standard library only, so any layer may depend on it. A port (``core.kernel.ports``):
adapters implement it, the planner's ingest reads through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.kernel.jsontypes import Json

__all__ = ["DeviceEvent", "DeviceEventSource"]


@dataclass(frozen=True)
class DeviceEvent:
    """One thing a device did, in the adapter's own vocabulary (``boot``, ``bootstrap``,
    ``inform``, ``value_change``…); ingest decides what it means."""

    device_id: str
    kind: str
    ts: datetime
    data: Mapping[str, Json] = field(default_factory=dict)


@runtime_checkable
class DeviceEventSource(Protocol):
    """A device-event log read after an opaque cursor.

    ``read_after(None)`` starts at the *end* of the log: no events, the cursor of its current end
    (history before the first read is already reflected in the store). ``read_after(cursor)``
    returns up to ``limit`` events after it, oldest first, and the cursor after the last one (the
    same cursor when there is nothing new), so a reader that stores the cursor neither loses nor
    replays events across restarts."""

    name: str

    def read_after(self, cursor: str | None, *, limit: int = 5000) -> tuple[list[DeviceEvent], str]: ...
