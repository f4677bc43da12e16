"""A large synthetic fleet as bare store rows, for benchmarks and fleet-scale tests.

Why rows and not digital twins: loading a million twins would measure the simulator, not the
gate. The devices use the simulator catalogue's models, four regions and varied radio states.
"""

from __future__ import annotations

import random
from typing import Any

MODELS = (  # vendor, model, product class, oui, firmware, root, protocol
    ("Vantec", "CGW-3400", "CGW3400", "00D0F1", "7.2.1", "Device.", "cwmp"),
    ("Vantec", "CGW-3400", "CGW3400", "00D0F1", "7.4.0-beta", "Device.", "cwmp"),
    ("Lumenet", "G-240W", "G240W", "A4C3F0", "3.2.5", "Device.", "cwmp"),
    ("Prplnet", "PX-7000", "PX7000", "F8A2D6", "1.3.0", "Device.", "usp"),
)
REGIONS = ("DE", "GB", "FR", "US")


def seed_bulk_fleet(store: Any, n: int, seed: int = 5, hosts: int = 0, users: bool = True) -> None:
    """Insert ``n`` synthetic devices with one snapshot each, in chunks of 20,000 rows.

    Each snapshot holds the eight Wi-Fi values a gate reads (~0.45 KB). ``hosts`` adds that many
    LAN clients (``Device.Hosts.Host.{i}``, four values each) to every snapshot: 39 make it ~15 KB,
    the size of a simulated device's full snapshot (7-19 KB; a real gateway's is larger still), so
    that what reading the documents costs is measured too. ``users=False`` leaves the demo people out:
    a migration test seeds a schema older than today's users table."""
    from sqlalchemy import insert

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow, ParameterSnapshotRow
    from core.users import ensure_users

    if users:
        ensure_users(store)
    rng = random.Random(seed)
    now = utcnow()
    chunk = 20000
    for start in range(0, n, chunk):
        devices: list[dict[str, Any]] = []
        snaps: list[dict[str, Any]] = []
        for i in range(start, min(n, start + chunk)):
            vendor, model, pc, oui, fw, root, proto = MODELS[i % len(MODELS)]
            did = f"{oui}-{pc}-GB{i:08d}"
            region = REGIONS[(i // 7) % len(REGIONS)]
            devices.append({"id": did, "vendor": vendor, "model": model, "product_class": pc, "oui": oui,
                            "serial": f"GB{i:08d}", "firmware": fw, "root": root, "protocol": proto, "adapter": "sim",
                            "subscriber": f"sub-{i:08d}", "region": region, "service": "standard", "tags": [],
                            "upstream_id": None, "last_seen": now, "created_at": now})
            auto = rng.random() < 0.5
            lan = {f"Device.Hosts.Host.{h}.{leaf}": {"value": f"{leaf.lower()}-{i:08d}-{h:03d}", "type": "string"}
                   for h in range(1, hosts + 1)
                   for leaf in ("HostName", "PhysAddress", "IPAddress", "Layer1Interface")}
            snaps.append({"device_id": did, "taken_at": now, "source": "bench", "params": {**lan,
                "Device.WiFi.Radio.1.OperatingFrequencyBand": {"value": "2.4GHz", "type": "string"},
                "Device.WiFi.Radio.1.Channel": {"value": rng.choice((1, 6, 11)), "type": "unsignedInt"},
                "Device.WiFi.Radio.1.AutoChannelEnable": {"value": True, "type": "boolean"},
                "Device.WiFi.Radio.2.OperatingFrequencyBand": {"value": "5GHz", "type": "string"},
                "Device.WiFi.Radio.2.Channel": {"value": rng.choice((36, 44, 52, 100)), "type": "unsignedInt"},
                "Device.WiFi.Radio.2.AutoChannelEnable": {"value": auto, "type": "boolean"},
                "Device.WiFi.Radio.2.OperatingChannelBandwidth": {"value": "80MHz", "type": "string"},
                "Device.WiFi.SSID.1.SSID": {"value": f"home-{i % 9973}", "type": "string"},
            }})
        with store.write() as s:
            s.execute(insert(DeviceRow), devices)
            s.execute(insert(ParameterSnapshotRow), snaps)
    settle(store)


def settle(store: Any) -> None:
    """PostgreSQL: vacuum and analyze the tables just filled, as autovacuum would within a minute
    of such a load on any production server (it is on by default; this machine's server runs with
    it off). Without it the planner has no statistics at all for a million fresh rows (it guessed
    90,912 devices for 1,000,000) and the first reader of each page pays for its hint bits, so the
    fleet a bench measures would be one no operator runs. Nothing on SQLite: there the product
    never runs ANALYZE, so neither does the bench."""
    if store.dialect != "postgresql":
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in ("devices", "parameter_snapshots", "snapshot_heads"):
            c.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
