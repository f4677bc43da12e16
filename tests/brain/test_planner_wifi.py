"""Wi-Fi reasoning (issue 13, deliverable 5): a wide radio in dense air with many retransmissions
gets a narrower width. At HEAD there was no such detector: the same device got "nothing to change"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert

from tests.brain.conftest import run_turn


def test_wide_radio_in_dense_air_with_retransmissions_is_narrowed(svc: Any, world: Any, device: Any,
                                                                   actor: Any) -> None:
    from core.kernel.models import utcnow
    from core.store.schema import TelemetryRow, WifiNeighborRow

    dev = device("healthy", 0)
    world.set_params(dev, {"Device.WiFi.Radio.2.OperatingChannelBandwidth": "80MHz"})
    rt = world.runtime
    now = utcnow()
    added: list[tuple[Any, int]] = []
    with rt.store.write() as s:
        for i in range(24):
            rid = s.execute(insert(TelemetryRow).values(
                device_id=dev, ts=now - timedelta(minutes=15 * i), metric="wifi.retransmissions_pct", value=32.0,
                labels={"radio": "2"})).inserted_primary_key
            added.append((TelemetryRow, int(rid[0])))
        for i, ch in enumerate((36, 40, 44, 48, 52, 56, 149, 157)):
            rid = s.execute(insert(WifiNeighborRow).values(
                device_id=dev, neighbor_device_id=None, bssid=f"02:00:5E:00:53:{i:02X}", ssid=f"n{i}", band="5GHz",
                channel=ch, rssi_dbm=-66.0)).inserted_primary_key
            added.append((WifiNeighborRow, int(rid[0])))
    try:
        alice = actor("alice")
        tid = svc.start(dev, alice)
        events = run_turn(svc, tid, "video keeps stuttering on the laptop", alice)
        prop = next((e for e in events if e.kind == "proposal"), None)
        assert prop is not None, [e.text for e in events if e.kind not in ("step", "tool")]
        assert [(c["path"], c["value"]) for c in prop.data["changes"]] == [
            ("Device.WiFi.Radio.2.OperatingChannelBandwidth", "40MHz")]
    finally:
        with rt.store.write() as s:
            for table, rid in added:
                s.execute(delete(table).where(table.id == rid))


def test_no_better_channel_is_said_and_escalated_with_the_evidence(svc: Any, world: Any, device: Any,
                                                                   actor: Any) -> None:
    from core.store import repo
    from core.store.schema import WifiNeighborRow

    dev = device("wifi_congestion", 0)
    rt = world.runtime
    with rt.store.read() as s:
        d = repo.get_device(s, dev)
    current = int(rt.router.reader(d).read(d, ["Device.WiFi.Radio.1.Channel"])["Device.WiFi.Radio.1.Channel"].value)
    added: list[int] = []
    with rt.store.write() as s:  # the other clean channels are far louder than the current one
        for i, ch in enumerate(c for c in (1, 6, 11) if c != current):
            for j in range(3):
                rid = s.execute(insert(WifiNeighborRow).values(
                    device_id=dev, neighbor_device_id=None, bssid=f"02:00:5E:00:54:{i:01X}{j:01X}", ssid=f"loud{i}{j}",
                    band="2.4GHz", channel=ch, rssi_dbm=-30.0)).inserted_primary_key
                added.append(int(rid[0]))
    try:
        alice = actor("alice")
        tid = svc.start(dev, alice)
        events = run_turn(svc, tid, "Wi-Fi is slow in the evenings", alice)
        assert not any(e.kind == "proposal" for e in events)
        esc = next(e for e in events if e.kind == "escalation")
        assert "No better channel" in esc.text and "dBm" in esc.text
    finally:
        with rt.store.write() as s:
            s.execute(delete(WifiNeighborRow).where(WifiNeighborRow.id.in_(added)))
