"""Load a generated simulated fleet into the store and the digital twin.

The generator (``executors.sim.fleet``) produces pure data; this module is the one place that
writes it into Gateward's tables (devices, subscribers, topology, neighbours, telemetry, events,
a first parameter snapshot per device) and into the twin, so the server and every CLI call act
on one fleet.

It also decides which people belong to the demo (``gateward run --demo``, issue 34): only those the
demo created itself — recorded in the audit trail as ``demo.people`` — may be (re-)created or handed
a token at start-up. A database that holds anyone else is somebody's real directory: the demo adds
no one to it and prints no token of theirs. ``gateward run`` without ``--demo`` touches none of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from core import audit
from core.models import ActorKind, utcnow
from core.store.schema import (
    AuditEventRow,
    DeviceEventRow,
    DeviceRow,
    ParameterSnapshotRow,
    SubscriberRow,
    TelemetryRow,
    TopologyNodeRow,
    UserRow,
    WifiNeighborRow,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from core.models import Device
    from core.services import CoreServices
    from core.store import Store
    from executors.sim.fleet import FleetSeed
    from executors.sim.twin import Twin
    from gateward.runtime import Runtime
from core.users import DEMO_USERS, ensure_users

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


def _seed_fleet(runtime: Runtime, *, homes: int, seed: int, reset: bool, snapshots: bool,
                users: bool = True) -> int:
    """``users``: also add the demo users (``gateward seed``, tests); ``gateward run --demo`` passes
    False and adds only the people the demo may own (:func:`claim_demo_people`)."""
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
        if users:
            ensure_users(store)
        return len(existing)
    twin = twin_for(runtime)
    twin.load_seed(fleet, reset=reset)
    if users:
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


def fleet_size(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)


def ensure_seeded(runtime: Runtime, homes: int = 200, seed: int = 7) -> int:
    """Seed an empty database and claim the demo people (:func:`start_demo`); the device count."""
    return start_demo(runtime, homes=homes, seed=seed).devices


# ---------------------------------------------------------------------------- the demo's people
DEMO_PEOPLE_EVENT = "demo.people"
DEMO_ACTOR = "gateward-demo"
_DEMO_PEOPLE = tuple(u for u in DEMO_USERS if u[2] is ActorKind.HUMAN)
# The product's own automation identity (campaign halts, remediation): a job, never a person, no token.
AUTOMATION_USERS = tuple(u for u in DEMO_USERS if u[2] is ActorKind.JOB)


@dataclass(frozen=True)
class DemoPeople:
    """Who the demo owns in this database, after :func:`claim_demo_people`.

    ``owned``: the demo people the demo created (now or before), active or not — the only ones
    whose tokens a demo start may print. ``created``: those created by this call. ``others``: how
    many users are neither the demo's nor the automation identity (real people: the demo then
    created no one)."""

    owned: tuple[str, ...]
    created: tuple[str, ...]
    others: int


@dataclass(frozen=True)
class DemoStart:
    devices: int
    people: DemoPeople


def start_demo(runtime: Runtime, homes: int = 200, seed: int = 7) -> DemoStart:
    """``gateward run --demo``: seed an empty database with ``homes`` simulated homes, add the
    automation identity if missing, and claim the demo people. Under the database's ``seed``
    lock, so replicas started together seed once and create each person once."""
    store = runtime.store
    with store.exclusive("seed"):
        n = fleet_size(store)
        if not n:
            n = _seed_fleet(runtime, homes=homes, seed=seed, reset=False, snapshots=True, users=False)
            from gateward.demo import hold_remediation  # the problem homes stay for the newcomer (issue 39)

            hold_remediation(runtime)
        ensure_automation(store)
        return DemoStart(devices=n, people=claim_demo_people(store))


def ensure_automation(store: Store) -> tuple[str, ...]:
    """Add the automation identity (``remediator``: kind job, role automation) if missing; the ids
    added. Campaign halts and remediation act as it, so a production directory needs it too. It is
    not a person and gets no token here; a deactivated one stays deactivated."""
    with store.read() as s:
        have = set(s.scalars(select(UserRow.id)))
    missing = tuple(u for u in AUTOMATION_USERS if u[0] not in have)
    if missing:
        ensure_users(store, missing)
    return tuple(u[0] for u in missing)


def _recorded_demo_people(s: Session) -> set[str]:
    """The people earlier demo starts recorded as theirs (append-only, hash-chained: a person
    cannot be made the demo's after the fact without breaking the chain)."""
    rows = s.scalars(select(AuditEventRow.data).where(AuditEventRow.action == DEMO_PEOPLE_EVENT))
    return {str(uid) for data in rows for uid in (data or {}).get("ids", [])}


def claim_demo_people(store: Store) -> DemoPeople:
    """Decide which users are the demo's, and add the missing demo people only where the
    directory holds nobody else.

    - Users the demo recorded as its own are the demo's.
    - A directory of exactly the demo users, as ``gateward seed`` and earlier versions of ``gateward
      run`` created them (same ids, roles and kinds, nothing else), is adopted once (recorded).
    - Anyone else — a person added with ``gateward users add``, even one named like a demo person —
      is real. Where real people exist the demo creates no one; a demo person missing or revoked
      is never re-created or re-activated either way (only missing ids are ever inserted)."""
    with store.write() as s:
        rows = list(s.scalars(select(UserRow)))
        owned = _recorded_demo_people(s)
        directory = {(r.id, tuple(r.roles), str(r.kind)) for r in rows}
        adopted: tuple[str, ...] = ()
        if not owned and rows and directory == {(u, tuple(roles), str(k)) for u, roles, k in DEMO_USERS}:
            adopted = tuple(u for u, _, _ in _DEMO_PEOPLE)
            owned = set(adopted)
        automation = {(u, tuple(roles), str(k)) for u, roles, k in AUTOMATION_USERS}
        others = [r.id for r in rows
                  if r.id not in owned and (r.id, tuple(r.roles), str(r.kind)) not in automation]
        have = {r.id for r in rows}
        created: tuple[str, ...] = ()
        if not others:
            created = tuple(u for u, _, _ in _DEMO_PEOPLE if u not in have)
            now = utcnow()
            for uid, roles, kind in _DEMO_PEOPLE:
                if uid in created:
                    s.add(UserRow(id=uid, roles=list(roles), kind=str(kind), active=True, created_at=now))
            owned |= set(created)
        for how, ids in (("adopted", adopted), ("created", created)):
            if ids:
                audit.append(s, actor=DEMO_ACTOR, action=DEMO_PEOPLE_EVENT, data={"how": how, "ids": list(ids)})
    return DemoPeople(owned=tuple(u for u, _, _ in _DEMO_PEOPLE if u in owned), created=created, others=len(others))
