"""Load a generated simulated fleet into the store and the digital twin.

The generator (``executors.sim.fleet``) produces pure data; this module is the one place that
writes it into Gateward's tables (devices, subscribers, topology, neighbours, telemetry, events,
a first parameter snapshot per device) and into the twin, so the server and every CLI call act
on one fleet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from core.models import utcnow
from core.store.schema import (
    DeviceEventRow,
    DeviceRow,
    ParameterSnapshotRow,
    SubscriberRow,
    TelemetryRow,
    TopologyNodeRow,
    WifiNeighborRow,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from core.models import Device
    from core.services import CoreServices
    from executors.sim.fleet import FleetSeed
    from executors.sim.twin import Twin
    from gateward.runtime import Runtime
from core.users import ensure_users

SNAPSHOT_PATHS = ("Device.DeviceInfo.", "Device.WiFi.", "Device.DNS.Client.", "Device.ManagementServer.")


def twin_for(runtime: CoreServices) -> Twin:
    from executors.sim.twin import Twin

    return Twin(runtime.settings.sim_database_url or runtime.store.url)


def _chunks(rows: list[dict[str, Any]], n: int = 5000) -> list[list[dict[str, Any]]]:
    return [rows[i:i + n] for i in range(0, len(rows), n)]


def seed_fleet(runtime: Runtime, homes: int = 200, seed: int = 7, reset: bool = False,
               snapshots: bool = True) -> int:
    """Generate ``homes`` homes deterministically and load them. Returns the device count.

    Runs under the database's ``seed`` lock: replicas started together on an empty database take
    turns, and the later ones find the fleet there (only missing devices are ever inserted)."""
    with runtime.store.exclusive("seed"):
        return _seed_fleet(runtime, homes=homes, seed=seed, reset=reset, snapshots=snapshots)


def _seed_fleet(runtime: Runtime, *, homes: int, seed: int, reset: bool, snapshots: bool) -> int:
    from executors.sim.fleet import generate_fleet

    store = runtime.store
    fleet = generate_fleet(homes=homes, seed=seed)
    now = utcnow()
    with store.write() as s:
        if reset:
            for table in (TelemetryRow, DeviceEventRow, WifiNeighborRow, ParameterSnapshotRow):
                s.execute(delete(table))
            s.execute(delete(DeviceRow))
            s.execute(delete(TopologyNodeRow))
            s.execute(delete(SubscriberRow))
        existing = set(s.scalars(select(DeviceRow.id)))
        devices = [d for d in fleet.devices if d.id not in existing]
        if devices:
            _insert_fleet(s, fleet, devices, now)
    if not devices:
        # Outside the write transaction above: ``ensure_users`` opens a write of its own, and on
        # SQLite a second writer nested inside the first waited on itself until "database is locked".
        ensure_users(store)
        return len(existing)
    twin = twin_for(runtime)
    twin.load_seed(fleet, reset=reset)
    ensure_users(store)
    if snapshots:
        take_snapshots(runtime, [d.id for d in devices])
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)


def _insert_fleet(s: Session, fleet: FleetSeed, devices: list[Device], now: datetime) -> None:
    """Insert the new ``devices`` of ``fleet`` and what belongs to them, in the caller's transaction."""
    new_ids = {d.id for d in devices}
    known_subs = set(s.scalars(select(SubscriberRow.id)))
    subs = [{"id": sid, "label": str(info.get("label", sid)), "building": info.get("building"),
             "service": str(info.get("service", "standard"))}
            for sid, info in fleet.subscribers.items() if sid not in known_subs]
    if subs:
        s.execute(insert(SubscriberRow), subs)
    known_nodes = set(s.scalars(select(TopologyNodeRow.id)))
    nodes = [{"id": n.id, "kind": n.kind, "label": n.label, "parent_id": n.parent_id, "attrs": dict(n.attrs)}
             for n in fleet.topology_nodes if n.id not in known_nodes]
    if nodes:
        s.execute(insert(TopologyNodeRow), nodes)
    for chunk in _chunks([{
        "id": d.id, "vendor": d.vendor, "model": d.model, "product_class": d.product_class, "oui": d.oui,
        "serial": d.serial, "firmware": d.firmware, "root": str(d.root), "protocol": str(d.protocol),
        "adapter": d.adapter, "subscriber": d.subscriber, "region": d.region, "service": d.service,
        "tags": list(d.tags), "upstream_id": d.upstream_id, "last_seen": d.last_seen or now, "created_at": now,
    } for d in devices]):
        s.execute(insert(DeviceRow), chunk)
    neigh = [{"device_id": n.device_id, "neighbor_device_id": n.neighbor_device_id, "bssid": n.bssid,
              "ssid": n.ssid, "band": n.band, "channel": n.channel, "rssi_dbm": n.rssi_dbm}
             for n in fleet.wifi_neighbors if n.device_id in new_ids]
    for chunk in _chunks(neigh):
        s.execute(insert(WifiNeighborRow), chunk)
    tel = [{"device_id": t.device_id, "ts": t.ts, "metric": t.metric, "value": float(t.value),
            "labels": dict(t.labels)} for t in fleet.telemetry if t.device_id in new_ids]
    for chunk in _chunks(tel):
        s.execute(insert(TelemetryRow), chunk)
    ev = [{"device_id": e.device_id, "ts": e.ts, "kind": e.kind, "data": dict(e.data)}
          for e in fleet.events if e.device_id in new_ids]
    for chunk in _chunks(ev):
        s.execute(insert(DeviceEventRow), chunk)


def _read_if_present(reader: Any, device: Any, path: str) -> dict[str, Any]:
    """One snapshot subtree, or nothing if the device's model does not have it."""
    from executors.base import InvalidParameterName

    try:
        return dict(reader.read(device, [path]))
    except InvalidParameterName:
        return {}


def take_snapshots(runtime: Runtime, device_ids: list[str]) -> None:
    """Read each device through its read path and store the result as its latest snapshot."""
    from core.store import repo
    from executors.base import ExecutorError, InvalidParameterName

    with runtime.store.read() as s:
        devices = repo.get_devices(s, device_ids)
    rows = []
    now = utcnow()
    from core.secrets import mask_params

    for d in devices.values():
        reader = runtime.router.reader(d)
        try:
            values = reader.read(d, list(SNAPSHOT_PATHS))
        except InvalidParameterName:  # a subtree this model lacks (USP: no ManagementServer.)
            try:
                values = {k: v for p in SNAPSHOT_PATHS for k, v in _read_if_present(reader, d, p).items()}
            except ExecutorError:
                continue
        except ExecutorError:
            continue
        params = mask_params({k: {"value": v.value, "type": v.type} for k, v in values.items()})
        rows.append({"device_id": d.id, "taken_at": now, "source": "seed", "params": params})
    with runtime.store.write() as s:
        for chunk in _chunks(rows, 1000):
            s.execute(insert(ParameterSnapshotRow), chunk)


def ensure_seeded(runtime: Runtime, homes: int = 200, seed: int = 7) -> int:
    """Seed an empty database (and the demo users); safe when several processes start at once."""
    with runtime.store.exclusive("seed"):
        with runtime.store.read() as s:
            n = int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
        if n:
            ensure_users(runtime.store)
            return n
        return _seed_fleet(runtime, homes=homes, seed=seed, reset=False, snapshots=True)
