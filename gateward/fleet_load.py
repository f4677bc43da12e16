"""A simulated fleet loaded in batches of whole buildings, each committed before the next one is
generated (``gateward seed``, the demo, every benchmark that needs a fleet).

Why batches: a fleet generated whole was held in memory whole — 20,000 homes took 6 GB and nine
minutes and committed nothing until the end. Here one batch (about ``batch_homes`` homes: its
devices, subscribers, topology, neighbours, events, samples, twin states and first snapshots) is
generated, written in one transaction and dropped, so memory is bounded by a batch whatever the
fleet size, and a stopped load keeps every batch it committed (a second run adds only the devices
that are missing).

Why not every home's samples: 24 h of 15-minute telemetry is about 400 rows a home — 40 million for
100,000 homes. The first ``telemetry_homes`` homes (all of a demo's) carry their history; the rest
carry their state and events. A batch is the same data whatever the batch size (buildings are
never split, and each home's randomness is its own).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, delete, insert, select

from core.kernel.models import utcnow
from core.store.schema import (
    DeviceEventRow,
    DeviceRow,
    ParameterSnapshotRow,
    SubscriberRow,
    TelemetryRow,
    TopologyNodeRow,
    UTCDateTime,
    WifiNeighborRow,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.kernel.models import Device
    from core.services import CoreServices
    from executors.sim.fleet import FleetSeed
    from executors.sim.twin import Twin
    from gateward.runtime import Runtime

BATCH_HOMES = 500
TELEMETRY_HOMES = 500
SNAPSHOT_HOMES = 1000
ROWS_PER_INSERT = 5000
QUEUED_BATCHES = 2  # generated batches waiting to be written: what bounds the memory


@dataclass
class Loaded:
    """What one load added, and how long it took."""

    devices: int = 0
    batches: int = 0
    telemetry_rows: int = 0
    seconds: float = 0.0


def _produce(out: Any, homes: int, seed: int, batch_homes: int, telemetry_homes: int, anchor: datetime) -> None:
    """The generator process: batches, pickled, into a bounded queue; ``None`` when done."""
    import pickle

    from executors.sim.fleet import iter_fleet

    try:
        for chunk in iter_fleet(homes, seed, batch_homes=batch_homes, telemetry_homes=telemetry_homes, anchor=anchor):
            out.put(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        out.put(None)


def _batches(homes: int, seed: int, batch_homes: int, telemetry_homes: int) -> Iterator[FleetSeed]:
    """The fleet's batches, generated in a process of their own while this one writes the batch
    before (generating and writing each take about half of the time; on two cores they overlap).
    Small fleets are generated here: a process start costs more than they do."""
    import multiprocessing
    import pickle

    from executors.sim.fleet import default_anchor, iter_fleet

    anchor = default_anchor()
    if homes <= 2 * batch_homes:
        yield from iter_fleet(homes, seed, batch_homes=batch_homes, telemetry_homes=telemetry_homes, anchor=anchor)
        return
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue(maxsize=QUEUED_BATCHES)
    proc = ctx.Process(target=_produce, args=(queue, homes, seed, batch_homes, telemetry_homes, anchor), daemon=True)
    proc.start()
    try:
        while (raw := queue.get()) is not None:
            yield pickle.loads(raw)  # our own child process's batches
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
    if proc.exitcode not in (0, -9):
        raise RuntimeError(f"the fleet generator stopped with exit code {proc.exitcode}")


def load_fleet(runtime: Runtime, *, homes: int, seed: int, reset: bool = False, snapshots: bool = True,
               batch_homes: int = BATCH_HOMES, telemetry_homes: int = TELEMETRY_HOMES,
               snapshot_homes: int = SNAPSHOT_HOMES, progress: Callable[[Loaded], None] | None = None) -> Loaded:
    """Generate ``homes`` homes deterministically and load the ones not there yet, batch by batch.
    The first ``telemetry_homes`` homes get 24 h of samples and the first ``snapshot_homes`` a
    stored parameter snapshot (read through the simulator, about 5 ms a device)."""

    t0 = time.perf_counter()
    store = runtime.store
    twin = twin_for(runtime)
    if reset:
        with store.write() as s:
            for table in (TelemetryRow, DeviceEventRow, WifiNeighborRow, ParameterSnapshotRow, DeviceRow,
                          TopologyNodeRow, SubscriberRow):
                s.execute(delete(table))
        twin.reset()
    out = Loaded()
    seen = 0
    for chunk in _batches(homes, seed, batch_homes, telemetry_homes):
        now = utcnow()
        with store.write() as s:
            ids = [d.id for d in chunk.devices]
            existing = {str(i) for i in _existing(s, ids)}
            devices = [d for d in chunk.devices if d.id not in existing]
            if devices:
                insert_fleet(s, chunk, devices, now)
        if devices:
            twin.load_seed(chunk, reset=False)
            if snapshots and seen < snapshot_homes:
                take_snapshots(runtime, [d.id for d in devices][:snapshot_homes - seen])
        seen += len(chunk.devices)
        out.devices += len(devices)
        out.batches += 1
        out.telemetry_rows += len(chunk.telemetry) if devices else 0
        out.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(out)
        del chunk, devices
    return out


SNAPSHOT_PATHS = ("Device.DeviceInfo.", "Device.WiFi.", "Device.DNS.Client.", "Device.ManagementServer.")


def twin_for(runtime: CoreServices) -> Twin:
    from executors.sim.twin import Twin

    return Twin(runtime.settings.sim_database_url or runtime.store.url)


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
    from core.kernel.secrets import mask_params

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
        for i in range(0, len(rows), 1000):
            s.execute(insert(ParameterSnapshotRow), rows[i:i + 1000])


def _existing(s: Session, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 900):
        found.update(s.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(ids[i:i + 900]))))
    return found


def _missing(s: Session, column: Any, ids: list[str]) -> set[str]:
    have: set[str] = set()
    for i in range(0, len(ids), 900):
        have.update(str(x) for x in s.scalars(select(column).where(column.in_(ids[i:i + 900]))))
    return set(ids) - have


def _chunks(rows: list[dict[str, Any]], n: int = ROWS_PER_INSERT) -> list[list[dict[str, Any]]]:
    return [rows[i:i + n] for i in range(0, len(rows), n)]


def _put(s: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the caller's transaction: on
    PostgreSQL by ``COPY`` (a batch's 20,000 neighbour rows took seconds as multi-row INSERTs),
    elsewhere by multi-row INSERTs."""
    if not rows:
        return
    if s.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(rows):
            s.execute(insert(table), chunk)
        return
    columns = table.__table__.columns
    names = list(rows[0])
    as_json = {n for n in names if isinstance(columns[n].type, JSON)}
    as_time = {n for n in names if isinstance(columns[n].type, UTCDateTime)}

    def cell(name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in as_json:
            return json.dumps(value)
        if name in as_time and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    raw = s.connection().connection.driver_connection
    assert raw is not None
    sql = f"COPY {table.__tablename__} ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for r in rows:
            copy.write_row([cell(n, r[n]) for n in names])


def insert_fleet(s: Session, fleet: FleetSeed, devices: list[Device], now: datetime) -> None:
    """Insert the new ``devices`` of ``fleet`` and what belongs to them, in the caller's transaction
    (the subscribers and topology nodes it does not hold yet)."""
    new_ids = {d.id for d in devices}
    subs_missing = _missing(s, SubscriberRow.id, list(fleet.subscribers))
    _put(s, SubscriberRow, [{"id": sid, "label": str(info.get("label", sid)), "building": info.get("building"),
                             "service": str(info.get("service", "standard"))}
                            for sid, info in fleet.subscribers.items() if sid in subs_missing])
    nodes_missing = _missing(s, TopologyNodeRow.id, [n.id for n in fleet.topology_nodes])
    _put(s, TopologyNodeRow, [{"id": n.id, "kind": n.kind, "label": n.label, "parent_id": n.parent_id,
                               "attrs": dict(n.attrs)} for n in fleet.topology_nodes if n.id in nodes_missing])
    _put(s, DeviceRow, [{
        "id": d.id, "vendor": d.vendor, "model": d.model, "product_class": d.product_class, "oui": d.oui,
        "serial": d.serial, "firmware": d.firmware, "root": str(d.root), "protocol": str(d.protocol),
        "adapter": d.adapter, "subscriber": d.subscriber, "region": d.region, "service": d.service,
        "tags": list(d.tags), "upstream_id": d.upstream_id, "last_seen": d.last_seen or now, "created_at": now,
    } for d in devices])
    _put(s, WifiNeighborRow, [{"device_id": n.device_id, "neighbor_device_id": n.neighbor_device_id,
                               "bssid": n.bssid, "ssid": n.ssid, "band": n.band, "channel": n.channel,
                               "rssi_dbm": n.rssi_dbm} for n in fleet.wifi_neighbors if n.device_id in new_ids])
    _put(s, TelemetryRow, [{"device_id": t.device_id, "ts": t.ts, "metric": t.metric, "value": float(t.value),
                            "labels": dict(t.labels)} for t in fleet.telemetry if t.device_id in new_ids])
    _put(s, DeviceEventRow, [{"device_id": e.device_id, "ts": e.ts, "kind": e.kind, "data": dict(e.data)}
                             for e in fleet.events if e.device_id in new_ids])


__all__ = ["BATCH_HOMES", "TELEMETRY_HOMES", "Loaded", "insert_fleet", "load_fleet"]
