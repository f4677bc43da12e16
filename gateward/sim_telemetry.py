"""The simulated fleet reports telemetry: hours of KPI samples from each twin's state, stored.

Why in the composition root: the samples are the simulator's (``executors.sim.kpis``: what the
twin's channel, transmit power, DNS servers and presence make of its KPIs) and they land in
Gateward's ``telemetry`` table, which only the core's store may write — this module is the one
place that holds both. The air each radio hears is the inventory's ``wifi_neighbors``, with a
managed neighbour's channel read from its own twin now, so moving one gateway's channel changes
what its neighbours hear too.

Reporting ``hours`` from ``start`` writes one sample per series every 15 minutes (hourly series
on the hour's last quarter), as the seeded history has them; the simulated hours need not have
passed on the wall clock (tests and the demo advance them at once, then move the lifecycle's clock).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from core.services import CoreServices
from core.store.schema import DeviceRow, TelemetryRow, WifiNeighborRow
from executors.sim.kpis import Heard, channel_on, samples
from executors.sim.state import DeviceState

STEP = timedelta(minutes=15)


def air(rt: CoreServices, device_ids: list[str], states: dict[str, DeviceState]) -> dict[str, list[Heard]]:
    """What each device's radios hear now: stored neighbours, managed ones on their twin's channel."""
    from gateward.seed import twin_for

    twin = twin_for(rt)
    rows: list[tuple[str, str | None, str, int, int]] = []
    with rt.store.read() as s:
        for i in range(0, len(device_ids), 500):
            part = device_ids[i:i + 500]
            rows += [tuple(r) for r in s.execute(select(  # type: ignore[misc]
                WifiNeighborRow.device_id, WifiNeighborRow.neighbor_device_id, WifiNeighborRow.band,
                WifiNeighborRow.channel, WifiNeighborRow.rssi_dbm).where(WifiNeighborRow.device_id.in_(part))).all()]
    out: dict[str, list[Heard]] = defaultdict(list)
    for dev, other, band, channel, rssi in rows:
        if other:
            st = states.get(other)
            if st is None:
                try:
                    st = states[other] = twin.state(other)
                except Exception:  # a neighbour the twin does not hold: as the inventory heard it
                    st = None
            now = channel_on(st, band) if st is not None else None
            channel = now if now is not None else channel
        out[dev].append(Heard(band, int(channel), float(rssi)))
    return out


def latest_sample(rt: CoreServices) -> datetime | None:
    with rt.store.read() as s:
        return s.scalar(select(func.max(TelemetryRow.ts)))


def report(rt: CoreServices, start: datetime, hours: float, device_ids: list[str] | None = None) -> int:
    """Store ``hours`` of samples from ``start`` for ``device_ids`` (default: every device), from
    each twin's state as it is now; returns the number of rows written."""
    from gateward.seed import twin_for

    twin = twin_for(rt)
    if device_ids is None:
        with rt.store.read() as s:
            device_ids = sorted(s.scalars(select(DeviceRow.id)))
    states: dict[str, DeviceState] = {}
    for d in device_ids:
        try:
            states[d] = twin.state(d)
        except Exception:  # not a simulated device
            continue
    heard = air(rt, [d for d in device_ids if d in states], states)
    steps = max(0, round(hours * 4))
    rows: list[dict[str, Any]] = []
    written = 0
    for k in range(steps):
        ts = start + STEP * k
        hourly = k % 4 == 3
        for d in device_ids:
            st = states.get(d)
            if st is None:
                continue
            for metric, value, labels in samples(st, heard.get(d, []), ts, hourly=hourly):
                rows.append({"device_id": d, "ts": ts, "metric": metric, "value": value, "labels": labels})
        if len(rows) >= 20_000:
            written += _store(rt, rows)
            rows = []
    return written + _store(rt, rows)


def _store(rt: CoreServices, rows: list[dict[str, Any]]) -> int:
    if rows:
        with rt.store.write() as s:
            for i in range(0, len(rows), 5000):
                s.execute(insert(TelemetryRow), rows[i:i + 5000])
    return len(rows)
