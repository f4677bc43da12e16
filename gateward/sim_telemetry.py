"""The simulated fleet reports telemetry: hours of KPI samples from each twin's state, stored.

Why in the composition root: the samples are the simulator's (``executors.sim.kpis``: what the
twin's channel, transmit power, DNS servers and presence make of its KPIs) and they land in
Gateward's ``telemetry`` table, which only the core's store may write — this module is the one
place that holds both. The air each radio hears is the inventory's ``wifi_neighbors``, with a
managed neighbour's channel read from its own twin now, so moving one gateway's channel changes
what its neighbours hear too.

Reporting ``hours`` from ``start`` writes one sample per series every 15 minutes (hourly series
on the hour's last quarter), as the seeded history has them; the simulated hours need not have
passed on the wall clock (tests advance them at once, then move the lifecycle's clock).

In ``gateward run`` (demo included) :class:`PeriodicReport` is the product's own reporter: every
``GATEWARD_SIM_TELEMETRY_S`` (900 s; 60 s in a demo, so a change shows an effect within minutes)
each simulated device reports its 15-minute series as its twin is *now*, and its hourly series
(client signal, WAN up, DNS failures) once per wall-clock hour — so a count per hour stays a count
per hour however often the means are sampled. Real devices feed the same ``telemetry`` table
through their adapters (docs/campaigns.md, "Telemetry after every change").
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, insert, select

from core.services import CoreServices
from core.store.schema import DeviceRow, TelemetryRow, WifiNeighborRow
from executors.sim.kpis import Heard, channel_on, samples
from executors.sim.state import DeviceState
from gateward.periodic import Periodic

STEP = timedelta(minutes=15)
EVERY_S = 900.0  # the model's own cadence: one sample a series every 15 minutes
DEMO_EVERY_S = 60.0  # a demo: means sampled every minute, so a campaign's effect shows within minutes


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


def _states(rt: CoreServices, device_ids: list[str]) -> dict[str, DeviceState]:
    from gateward.seed import twin_for

    twin = twin_for(rt)
    states: dict[str, DeviceState] = {}
    for d in device_ids:
        try:
            states[d] = twin.state(d)
        except Exception:  # not a simulated device
            continue
    return states


def _rows(states: dict[str, DeviceState], heard: dict[str, list[Heard]], ts: datetime, *, hourly: bool
          ) -> list[dict[str, Any]]:
    return [{"device_id": d, "ts": ts, "metric": metric, "value": value, "labels": labels}
            for d, st in states.items() for metric, value, labels in samples(st, heard.get(d, []), ts, hourly=hourly)]


def report(rt: CoreServices, start: datetime, hours: float, device_ids: list[str] | None = None) -> int:
    """Store ``hours`` of samples from ``start`` for ``device_ids`` (default: every device), from
    each twin's state as it is now; returns the number of rows written."""
    if device_ids is None:
        with rt.store.read() as s:
            device_ids = sorted(s.scalars(select(DeviceRow.id)))
    states = _states(rt, device_ids)
    heard = air(rt, list(states), states)
    steps = max(0, round(hours * 4))
    rows: list[dict[str, Any]] = []
    written = 0
    for k in range(steps):
        rows += _rows(states, heard, start + STEP * k, hourly=k % 4 == 3)
        if len(rows) >= 20_000:
            written += _store(rt, rows)
            rows = []
    return written + _store(rt, rows)


class SimTelemetrySettings(BaseSettings):
    """``GATEWARD_SIM_TELEMETRY_S``: how often ``gateward run`` has the simulated devices report."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_SIM_TELEMETRY_", extra="ignore")

    s: float | None = Field(default=None, ge=0, le=86400,
                            description="seconds between simulated telemetry reports in `gateward run` "
                                        "(default 900, 60 with --demo; 0: off)")


class PeriodicReport(Periodic):
    """The simulated fleet reporting on a schedule (``gateward.periodic``): the first report at
    once (a demo's effects need samples from the start), then every ``interval_s``."""

    name = "sim-telemetry"
    first_at_once = True

    def __init__(self, runtime: CoreServices, interval_s: float) -> None:
        super().__init__(interval_s)
        self.runtime = runtime
        self.reports = 0
        self._hour: datetime | None = None

    def report_once(self, now: datetime | None = None) -> int:
        """One report at ``now`` (the wall clock) from every active simulated device."""
        ts = now or datetime.now(UTC)
        with self.runtime.store.read() as s:
            ids = sorted(s.scalars(select(DeviceRow.id).where(DeviceRow.adapter == "sim",
                                                              DeviceRow.status == "active")))
        if not ids:
            return 0
        hour = ts.replace(minute=0, second=0, microsecond=0)
        hourly, self._hour = hour != self._hour, hour
        states = _states(self.runtime, ids)
        written = _store(self.runtime, _rows(states, air(self.runtime, list(states), states), ts, hourly=hourly))
        self.reports += 1
        return written

    def run_once(self) -> int:
        return self.report_once()


def start_sim_telemetry(runtime: CoreServices, *, demo: bool) -> tuple[PeriodicReport | None, str]:
    """Start the simulated fleet's reports for ``gateward run`` (``GATEWARD_SIM_TELEMETRY_S``).
    Returns the started schedule (or None) and a line for the operator."""
    every = SimTelemetrySettings().s
    if every is None:
        every = DEMO_EVERY_S if demo else EVERY_S
    if every <= 0:
        return None, "simulated telemetry: off (GATEWARD_SIM_TELEMETRY_S is 0)"
    return PeriodicReport(runtime, every).start(), \
        f"simulated telemetry: every {every:g}s from each simulated device (GATEWARD_SIM_TELEMETRY_S)"


def _store(rt: CoreServices, rows: list[dict[str, Any]]) -> int:
    if rows:
        with rt.store.write() as s:
            for i in range(0, len(rows), 5000):
                s.execute(insert(TelemetryRow), rows[i:i + 5000])
    return len(rows)
