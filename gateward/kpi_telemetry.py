"""Real devices' KPIs into the telemetry table: USP ValueChange notifications and the values CWMP
devices send in their periodic Informs (through GenieACS), mapped by ``core.kernel.kpi_parameters``.

Why in the composition root: the samples come from the adapters (their events, the ACS's
documents) and land in the store, which only the core writes — this module holds both, as
``gateward.sim_telemetry`` does for the simulator. Nothing here talks to a device: USP values are
the notifications the event pipeline already recorded (``device_events`` of kind ``value_change``,
resolved to a device by ``brain.remediation.ingest``), CWMP values are what GenieACS read in the
devices' own sessions.

Every ``GATEWARD_KPI_TELEMETRY_S`` (60 s; 0: off) :class:`PeriodicKpiTelemetry` turns the
value changes recorded since its last round into samples, and asks GenieACS (when
``GATEWARD_GENIEACS_URL`` is set) for the KPI parameters of the devices that informed since then.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, insert, select

from core.kernel.kpi_parameters import sample
from core.services import CoreServices
from core.store.schema import DeviceEventRow, DeviceRow, TelemetryRow
from gateward.periodic import Periodic

log = logging.getLogger("gateward.kpi_telemetry")


class KpiTelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWARD_KPI_TELEMETRY_", extra="ignore")

    s: float = Field(default=60.0, ge=0, le=86400,
                     description="seconds between rounds that store real devices' KPI values (0: off)")


class Nbi(Protocol):
    def query(self, collection: str, query: Any = None, *, projection: Any = None, limit: int | None = None,
              sort: Any = None) -> list[dict[str, Any]]: ...


def from_value_changes(rt: CoreServices, after_id: int) -> tuple[int, int]:
    """Samples from the ValueChange events recorded after event ``after_id``: (rows, new cursor)."""
    with rt.store.read() as s:
        rows = s.execute(select(DeviceEventRow.id, DeviceEventRow.device_id, DeviceEventRow.ts, DeviceEventRow.data)
                         .where(DeviceEventRow.id > after_id, DeviceEventRow.kind == "value_change")
                         .order_by(DeviceEventRow.id).limit(50_000)).all()
    out = []
    for _, dev, ts, data in rows:
        got = sample(str((data or {}).get("path", "")), (data or {}).get("value"))
        if got is not None:
            metric, value, labels = got
            out.append({"device_id": dev, "ts": ts, "metric": metric, "value": value, "labels": labels})
    return _store(rt, out), (rows[-1][0] if rows else after_id)


def from_genieacs(rt: CoreServices, client: Nbi, since: datetime) -> tuple[int, datetime]:
    """Samples from the KPI parameters GenieACS read in the sessions of devices that informed after
    ``since`` (each value once: read after ``since``): (rows, new cursor)."""
    from executors.genieacs.kpi_values import projection, samples

    docs = client.query("devices", {"_lastInform": {"$gt": since.isoformat()}}, projection=["_id", *projection()])
    with rt.store.read() as s:
        known = set(s.scalars(select(DeviceRow.id).where(DeviceRow.id.in_([str(d.get("_id")) for d in docs]))))
    out, newest = [], since
    for doc in docs:
        dev = str(doc.get("_id"))
        if dev not in known:
            continue
        for ts, metric, value, labels in samples(doc):
            if ts > since:
                out.append({"device_id": dev, "ts": ts, "metric": metric, "value": value, "labels": labels})
                newest = max(newest, ts)
    return _store(rt, out), newest


def _store(rt: CoreServices, rows: list[dict[str, Any]]) -> int:
    if rows:
        with rt.store.write() as s:
            for i in range(0, len(rows), 5000):
                s.execute(insert(TelemetryRow), rows[i:i + 5000])
    return len(rows)


class PeriodicKpiTelemetry(Periodic):
    """The rounds, on a daemon thread (``gateward.periodic``)."""

    name = "kpi-telemetry"

    def __init__(self, rt: CoreServices, interval_s: float, nbi: Nbi | None = None) -> None:
        super().__init__(interval_s)
        self.rt, self.nbi = rt, nbi
        with rt.store.read() as s:  # from now on: what was recorded before is history, not news
            self.event_cursor = int(s.scalar(select(func.max(DeviceEventRow.id))) or 0)
        self.acs_cursor = datetime.now(UTC) - timedelta(seconds=interval_s)
        self.rounds = 0

    def run_once(self) -> int:
        n, self.event_cursor = from_value_changes(self.rt, self.event_cursor)
        if self.nbi is not None:
            m, self.acs_cursor = from_genieacs(self.rt, self.nbi, self.acs_cursor)
            n += m
        self.rounds += 1
        return n


def start_kpi_telemetry(rt: CoreServices) -> tuple[PeriodicKpiTelemetry | None, str]:
    every = KpiTelemetrySettings().s
    if every <= 0:
        return None, "device KPI telemetry: off (GATEWARD_KPI_TELEMETRY_S is 0)"
    nbi = None
    if rt.settings.genieacs_url:
        from executors.genieacs.inventory import source_from_settings

        try:
            nbi = source_from_settings(rt.settings).client
        except (LookupError, ValueError) as exc:
            log.warning("device KPI telemetry without GenieACS: %s", exc)
    return PeriodicKpiTelemetry(rt, every, nbi).start(), \
        f"device KPI telemetry: every {every:g}s from USP value changes{' and GenieACS informs' if nbi else ''}"
