"""Real devices' KPIs reach the telemetry table the gate reads (issue 59 item 1): a USP agent's
ValueChange notifications of KPI parameters (recorded as ``value_change`` device events by the
event pipeline) and the values a CWMP device sent in its periodic Informs, as GenieACS holds them.
The mapping is ``core.kernel.kpi_parameters``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.kernel.kpi_parameters import sample, watch_paths
from core.store.schema import DeviceEventRow, DeviceRow, TelemetryRow
from gateward.kpi_telemetry import PeriodicKpiTelemetry


def test_kpi_parameters_map_to_the_gates_series() -> None:
    assert sample("Device.WiFi.AccessPoint.2.AssociatedDevice.7.SignalStrength", "-67") == \
        ("wifi.client_rssi_dbm", -67.0, {"access_point": "2", "client": "7"})
    assert sample("Device.WiFi.DataElements.Network.Device.1.Radio.1.ChannelUtilization", 255) == \
        ("wifi.channel_utilization_pct", 100.0, {"radio": "1"})
    assert sample("InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.ConnectionStatus",
                  "Disconnected") == ("wan.up", 0.0, {})
    assert sample("Device.WiFi.Radio.1.Channel", 6) is None  # not a KPI
    assert sample("Device.WiFi.Radio.1.Stats.Noise", "n/a") is None  # not a number: no sample
    assert "WiFi.AccessPoint.*.AssociatedDevice.*.SignalStrength" in watch_paths()


def _devices(rt: Any, n: int) -> list[str]:
    with rt.store.read() as s:
        return sorted(s.scalars(select(DeviceRow.id)))[:n]


def _telemetry(rt: Any, dev: str) -> list[tuple[Any, str, float]]:
    with rt.store.read() as s:
        return [(r.ts, r.metric, r.value) for r in s.scalars(
            select(TelemetryRow).where(TelemetryRow.device_id == dev,
                                       TelemetryRow.ts >= datetime(2031, 1, 1, tzinfo=UTC)).order_by(TelemetryRow.ts))]


def test_value_changes_recorded_after_the_start_become_samples(crt: Any) -> None:
    a, b = _devices(crt, 2)
    t0 = datetime(2031, 1, 6, 12, tzinfo=UTC)
    with crt.store.write() as s:
        s.add(DeviceEventRow(device_id=a, ts=t0, kind="value_change", data={
            "path": "Device.WiFi.AccessPoint.1.AssociatedDevice.1.SignalStrength", "value": "-70"}))
    job = PeriodicKpiTelemetry(crt, 60)  # what was recorded before it started is history
    with crt.store.write() as s:
        s.add(DeviceEventRow(device_id=a, ts=t0 + timedelta(minutes=5), kind="value_change", data={
            "path": "Device.WiFi.AccessPoint.1.AssociatedDevice.1.SignalStrength", "value": "-58"}))
        s.add(DeviceEventRow(device_id=b, ts=t0 + timedelta(minutes=6), kind="value_change", data={
            "path": "Device.WiFi.Radio.1.Channel", "value": "11"}))
    assert job.run_once() == 1
    assert _telemetry(crt, a) == [(t0 + timedelta(minutes=5), "wifi.client_rssi_dbm", -58.0)]
    assert _telemetry(crt, b) == []
    assert job.run_once() == 0  # each event once


def test_values_genieacs_read_in_the_devices_sessions_become_samples_once(crt: Any) -> None:
    a, b = _devices(crt, 2)
    since = datetime(2031, 2, 1, tzinfo=UTC)
    read_at = (since + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    old = (since - timedelta(days=1)).isoformat().replace("+00:00", "Z")

    class Nbi:
        def __init__(self) -> None:
            self.asked: list[Any] = []

        def query(self, collection: str, query: Any = None, *, projection: Any = None, limit: Any = None,
                  sort: Any = None) -> list[dict[str, Any]]:
            self.asked.append((collection, query, projection))
            return [{"_id": a, "Device": {"WiFi": {"AccessPoint": {"1": {"AssociatedDevice": {
                "1": {"SignalStrength": {"_value": -64, "_timestamp": read_at}},
                "2": {"SignalStrength": {"_value": -80, "_timestamp": old}}}}}}}},  # not read since: not news
                {"_id": "not-in-the-inventory", "Device": {"PPP": {"Interface": {"1": {
                    "Status": {"_value": "Up", "_timestamp": read_at}}}}}}]

    nbi = Nbi()
    job = PeriodicKpiTelemetry(crt, 60, nbi)
    job.acs_cursor = since
    assert job.run_once() == 1
    assert _telemetry(crt, a) == [(since + timedelta(minutes=3), "wifi.client_rssi_dbm", -64.0)]
    collection, query, projection = nbi.asked[0]
    assert collection == "devices" and query == {"_lastInform": {"$gt": since.isoformat()}}
    assert "Device.WiFi.AccessPoint" in projection and "_id" in projection
    assert job.acs_cursor == since + timedelta(minutes=3)
    assert job.run_once() == 0  # read once, stored once
    assert _telemetry(crt, b) == []
