"""A simulated fleet loaded in batches of whole buildings, each committed before the next one is
written (``gateward seed``, the demo, every benchmark that needs a fleet).

Why batches: a fleet generated whole was held in memory whole — 20,000 homes took 6 GB and nine
minutes and committed nothing until the end. Here one batch (about ``batch_homes`` homes: its
devices, subscribers, topology, neighbours, events, samples, twin states and first snapshots) is
generated, written in one transaction and dropped, so memory is bounded by a batch whatever the
fleet size, and a stopped load keeps every batch it committed (a second run adds only the devices
that are missing).

Why generator processes: building a batch (the generator, then its rows: ``gateward.fleet_rows``)
costs several times what writing it does, so large fleets are built by ``generators`` processes
of their own, each every n-th batch, while this one writes them in order: rows the driver takes as
they are, by ``executemany`` on SQLite and ``COPY`` on PostgreSQL.

Why one transaction for the store and the twin: when the simulator's twin lives in the store's
database (the default) a batch's twin rows are written in the store's transaction, so a load
stopped anywhere leaves each device whole or absent. With a twin database of its own, the twin's
rows are committed first: a stop between the two leaves twin devices the store does not list yet,
which the next load finds there and leaves as they are while it adds the store's rows.

Why not every home's samples: 24 h of 15-minute telemetry is about 400 rows a home — 40 million for
100,000 homes. The first ``telemetry_homes`` homes (all of a demo's) carry their history; the rest
carry their state and events. A batch is the same data whatever the batch size (buildings are
never split, and each home's randomness is its own).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, insert, select

from core.kernel.models import utcnow
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
    from sqlalchemy.orm import Session

    from core.services import CoreServices
    from executors.sim.twin import Twin
    from gateward.fleet_rows import BatchRows
    from gateward.runtime import Runtime

BATCH_HOMES = 500
TELEMETRY_HOMES = 500
SNAPSHOT_HOMES = 1000
QUEUED_BATCHES = 2  # built batches waiting, per generator process: what bounds the memory
GENERATORS = 2  # generator processes for a large fleet (fewer on a machine with fewer cores)
GENERATOR_NICE = 5  # their priority below the writer's (see _produce)


@dataclass
class Loaded:
    """What one load added, and how long it took."""

    devices: int = 0
    batches: int = 0
    telemetry_rows: int = 0
    seconds: float = 0.0


def _produce(out: Any, homes: int, seed: int, dialect: str, batch_homes: int, telemetry_homes: int,
             anchor: datetime, part: tuple[int, int]) -> None:
    """A generator process: its share of the batches as rows, pickled, into a bounded queue;
    ``None`` when done.

    The cyclic garbage collector is run once per batch instead of whenever allocations pass its
    threshold: a batch allocates millions of objects that all live until the batch is sent, so the
    automatic passes (each walking the young objects, and every tenth the whole heap) found almost
    nothing and cost a fifth of the process's time. What the imports made is frozen out of those
    walks; a batch's cycles, if any, are collected when it is done.

    It runs at a lower priority (``GENERATOR_NICE``): the writer is the critical path and the
    generators are ahead of it whenever their queues are full, so a core the writer wants goes to it
    (30,000 homes at load ~4.7: its writes took 18-20 s instead of 32-33 s, the whole load 40-46 s
    instead of 45-50 s)."""
    import gc
    import pickle

    import executors.sim.fleet  # noqa: F401 - imported before the freeze, like the encoders' modules
    from gateward.fleet_rows import Encoders, iter_batch_rows

    enc = Encoders(dialect)
    os.nice(GENERATOR_NICE)
    gc.freeze()
    gc.disable()
    try:
        for rows in iter_batch_rows(homes, seed, dialect=dialect, batch_homes=batch_homes,
                                    telemetry_homes=telemetry_homes, anchor=anchor, part=part, enc=enc):
            out.put(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
            del rows
            gc.collect()
    finally:
        out.put(None)


def generator_count(homes: int, batch_homes: int, generators: int | None = None) -> int:
    """How many generator processes a fleet of ``homes`` is built by: none (this process builds it)
    for a small one, where a process start costs more than two batches; else ``generators`` (0:
    none) or by default ``GENERATORS``, at most one per core and one for a fleet of a few batches.
    Two on two cores: the writer needs about a third of what one generator does, so it shares the
    cores with them."""
    if homes <= 2 * batch_homes:
        return 0
    if generators is not None:
        return max(0, generators)
    return max(1, min(GENERATORS, os.cpu_count() or 1, homes // (4 * batch_homes) or 1))


def _batches(homes: int, seed: int, dialect: str, batch_homes: int, telemetry_homes: int,
             generators: int | None = None, anchor: datetime | None = None) -> Iterator[BatchRows]:
    """The fleet's batches as rows, in order: built here for a small fleet, else by generator
    processes (see the module docstring) while this one writes the batch before."""
    import multiprocessing
    import pickle

    from executors.sim.fleet import default_anchor
    from gateward.fleet_rows import iter_batch_rows

    anchor = anchor or default_anchor()
    n = generator_count(homes, batch_homes, generators)
    if n == 0:
        yield from iter_batch_rows(homes, seed, dialect=dialect, batch_homes=batch_homes,
                                   telemetry_homes=telemetry_homes, anchor=anchor)
        return
    ctx = multiprocessing.get_context("spawn")
    queues = [ctx.Queue(maxsize=QUEUED_BATCHES) for _ in range(n)]
    procs = [ctx.Process(target=_produce, args=(q, homes, seed, dialect, batch_homes, telemetry_homes, anchor,
                                                (k, n)), daemon=True, name=f"fleet-generator-{k}")
             for k, q in enumerate(queues)]
    for p in procs:
        p.start()
    try:
        k = 0
        while (raw := _next(queues[k], procs[k])) is not None:
            yield pickle.loads(raw)  # our own child process's batches
            k = (k + 1) % n
        # The batch after the last one was due from worker k: every other worker is done too.
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode not in (0, -9)]
    if failed:
        raise RuntimeError(f"a fleet generator process stopped with exit code {failed[0]}")


def _next(queue: Any, proc: Any) -> bytes | None:
    """The next item ``proc`` put on ``queue``; an error if it died without saying it was done
    (killed, out of memory, an import that failed at its start), rather than waiting forever."""
    import queue as queues

    while True:
        try:
            return cast(bytes | None, queue.get(timeout=1.0))
        except queues.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the fleet generator process stopped (exit code {proc.exitcode}) before it "
                                   "finished: nothing after the last committed batch was written; run the "
                                   "same seed again to add the rest") from None


def load_fleet(runtime: Runtime, *, homes: int, seed: int, reset: bool = False, snapshots: bool = True,
               batch_homes: int = BATCH_HOMES, telemetry_homes: int = TELEMETRY_HOMES,
               snapshot_homes: int = SNAPSHOT_HOMES, progress: Callable[[Loaded], None] | None = None,
               generators: int | None = None, anchor: datetime | None = None) -> Loaded:
    """Generate ``homes`` homes deterministically and load the ones not there yet, batch by batch.
    The first ``telemetry_homes`` homes get 24 h of samples and the first ``snapshot_homes`` a
    stored parameter snapshot (read through the simulator, about 5 ms a device). ``generators``:
    see :func:`generator_count`; ``anchor``: the fleet's "now" (``executors.sim.fleet``), this
    quarter hour by default."""

    t0 = time.perf_counter()
    store = runtime.store
    twin = twin_for(runtime)
    if reset:
        with store.write() as s:
            for table in (TelemetryRow, DeviceEventRow, WifiNeighborRow, ParameterSnapshotRow, DeviceRow,
                          TopologyNodeRow, SubscriberRow):
                s.execute(delete(table))
        twin.reset()
    shared = twin.engine.url == store.engine.url and twin.schema is None
    out = Loaded()
    seen = 0
    for batch in _batches(homes, seed, store.dialect, batch_homes, telemetry_homes, generators, anchor):
        added = _write_batch(store, twin, batch, shared)
        if added and snapshots and seen < snapshot_homes:
            take_snapshots(runtime, added[:snapshot_homes - seen])
        seen += len(batch.devices)
        out.devices += len(added)
        out.batches += 1
        out.telemetry_rows += batch.telemetry if added else 0
        out.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(out)
        del batch
    if out.devices and store.dialect == "postgresql":
        _analyze(store, LOADED_TABLES + (TWIN_TABLES if shared else ()))
    return out


LOADED_TABLES = ("devices", "subscribers", "topology_nodes", "wifi_neighbors", "telemetry", "device_events",
                 "parameter_snapshots", "snapshot_heads")
TWIN_TABLES = ("sim_devices", "sim_events")


def _analyze(store: Any, tables: tuple[str, ...]) -> None:
    """PostgreSQL: statistics for the tables just filled, so the first queries after a large seed are
    planned for the rows there are (autovacuum would take them within a minute or so, if it runs; a
    planner without them guessed a tenth of a million fresh devices). A couple of seconds at 100,000
    homes. ``VACUUMED`` tables are vacuumed too (below). SQLite has no such step: the product never
    runs its ANALYZE."""
    from sqlalchemy import text

    with store.write() as s:
        for table in tables:
            if table not in VACUUMED:
                s.execute(text(f'ANALYZE "{table}"'))
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in VACUUMED:  # VACUUM runs outside a transaction
            conn.execute(text(f'VACUUM (ANALYZE) "{table}"'))


# Vacuumed as well (PostgreSQL): the console's counts read ``devices`` from an index alone (migration
# 0036), which PostgreSQL does only for pages its visibility map marks all-visible — a fresh table's
# are not until a vacuum (autovacuum's, after a while). A fraction of a second at 100,000 homes.
VACUUMED = ("devices",)


def _write_batch(store: Any, twin: Twin, batch: BatchRows, shared: bool) -> list[str]:
    """Write the rows of ``batch`` that are not there yet; the ids of the devices added to the store."""
    from core.store.fastsql import driver_connection
    from gateward.fleet_rows import keys_of, write_rows

    if not shared:  # the twin's own database first (see the module docstring)
        with twin.engine.begin() as conn:
            raw = conn.connection.driver_connection
            have = _twin_existing(conn, batch.devices)
            for rows in batch.twin:
                write_rows(raw, twin.engine.dialect.name, rows, rows.without(have))
    with store.write() as s:
        raw, dialect = driver_connection(s)
        have = _existing(s, batch.devices)
        if shared:
            twin_have = _twin_existing(s, batch.devices)
            for rows in batch.twin:
                write_rows(raw, dialect.name, rows, rows.without(twin_have))
        if len(have) == len(batch.devices):
            return []
        known = {
            "subscribers": _present(s, SubscriberRow.id, keys_of(batch.store, "subscribers")),
            "topology_nodes": _present(s, TopologyNodeRow.id, keys_of(batch.store, "topology_nodes")),
        }
        for rows in batch.store:
            write_rows(raw, dialect.name, rows, rows.without(known.get(rows.table, have)))
    return [d for d in batch.devices if d not in have]


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
    return _present(s, DeviceRow.id, ids)


def _twin_existing(s: Any, ids: list[str]) -> set[str]:
    """The devices of ``ids`` the twin has (``s``: a session or connection on its database)."""
    from executors.sim.twin import sim_devices

    return _present(s, sim_devices.c.id, ids)


def _present(s: Any, column: Any, ids: list[str]) -> set[str]:
    """The values of ``ids`` that ``column`` holds."""
    have: set[str] = set()
    for i in range(0, len(ids), 900):
        have.update(str(x) for x in s.scalars(select(column).where(column.in_(ids[i:i + 900]))))
    return have


__all__ = ["BATCH_HOMES", "GENERATORS", "TELEMETRY_HOMES", "Loaded", "generator_count", "load_fleet"]
