"""The simulated fleet reports its KPIs on a schedule inside `gateward run` (issue 59): before,
only tests called the reporter, so on the demo every KPI read "not enough data" after a change.

``gateward.sim_telemetry.PeriodicReport`` reports each simulated device as its twin is *now*:
a change made since the last report shows in the next one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store.schema import DeviceRow, TelemetryRow
from gateward.sim_telemetry import PeriodicReport, start_sim_telemetry


def _rows(rt: Any, since: datetime, metric: str | None = None, device: str | None = None) -> list[Any]:
    with rt.store.read() as s:
        q = select(TelemetryRow).where(TelemetryRow.ts >= since)
        if metric:
            q = q.where(TelemetryRow.metric == metric)
        if device:
            q = q.where(TelemetryRow.device_id == device)
        return list(s.scalars(q))


def test_gateward_run_reports_the_simulated_fleet_on_a_schedule(crt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_SIM_TELEMETRY_S", "0.2")
    started = datetime.now(UTC)
    rep, said = start_sim_telemetry(crt, demo=True)
    assert isinstance(rep, PeriodicReport) and "every 0.2s" in said
    try:
        end = time.monotonic() + 30
        while rep.reports < 2 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        rep.stop()
    assert rep.reports >= 2
    fresh = _rows(crt, started)
    with crt.store.read() as s:
        sims = int(s.scalar(select(func.count()).select_from(DeviceRow).where(DeviceRow.adapter == "sim")) or 0)
    busy = {r.device_id for r in fresh if r.metric == "wifi.channel_utilization_pct"}
    assert len(busy) > 0.8 * sims  # every online simulated device with a radio
    # hourly series once per wall-clock hour, however often the means are sampled
    per_device = {}
    for r in fresh:
        if r.metric == "wan.up":
            per_device[r.device_id] = per_device.get(r.device_id, 0) + 1
    assert per_device and max(per_device.values()) <= 2  # at most an hour boundary crossed during the test
    reports = rep.reports
    time.sleep(0.5)
    assert rep.reports == reports  # stopped means stopped


def test_the_schedule_defaults_and_zero_turns_it_off(crt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_SIM_TELEMETRY_S", raising=False)
    for demo, every in ((True, "60s"), (False, "900s")):
        rep, said = start_sim_telemetry(crt, demo=demo)
        assert rep is not None and f"every {every}" in said
        rep.stop()
    monkeypatch.setenv("GATEWARD_SIM_TELEMETRY_S", "0")
    assert start_sim_telemetry(crt, demo=True) == (None, "simulated telemetry: off (GATEWARD_SIM_TELEMETRY_S is 0)")


def test_a_change_since_the_last_report_shows_in_the_next(crt: Any) -> None:
    from executors.sim.kpis import values181
    from gateward.seed import twin_for

    twin = twin_for(crt)
    with crt.store.read() as s:
        ids = sorted(s.scalars(select(DeviceRow.id).where(DeviceRow.adapter == "sim")))
    dev = next(d for d in ids if twin.state(d).presence_flags()[0]
               and "25" in str(values181(twin.state(d)).get("Device.WiFi.Radio.1.TransmitPowerSupported")))
    rep = PeriodicReport(crt, 60)
    t0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # after the seeded history
    hours = [t0 + timedelta(hours=h) for h in range(8)]
    for ts in hours[:4]:
        rep.report_once(ts)
    twin.transact(dev, lambda st: st.set_values({"Device.WiFi.Radio.1.TransmitPower": 25}))
    for ts in hours[4:]:
        rep.report_once(ts)
    signal = sorted((r.ts, r.value) for r in _rows(crt, t0, "wifi.client_rssi_dbm", dev))
    assert [ts for ts, _ in signal] == hours  # one a wall-clock hour
    before = sum(v for _, v in signal[:4]) / 4
    after = sum(v for _, v in signal[4:]) / 4
    assert after < before - 3  # a quarter of the power: about 6 dB off the clients' signal
