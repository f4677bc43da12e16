"""One generated batch of the simulated fleet as rows the database driver takes as they are.

Why: loading 100,000 homes spent most of its CPU outside the generator — pickling the batch's
pydantic objects to send them from the generator process, unpickling them, building a dict per
row and letting SQLAlchemy's ORM insert walk each dict again (about 2.3 million rows: a device,
a subscriber, ~18 Wi-Fi neighbours and a few events per home, a row in the twin). Here the
generator process turns its batch into plain tuples, each value already in the form the driver
binds (the column types' own converters, as SQLAlchemy would apply them: SQLite's datetime text,
JSON through the store's orjson serialiser), so the loading process only runs ``executemany`` on
SQLite or ``COPY`` on PostgreSQL. A tuple of strings and numbers also pickles several times faster
than the model it came from.

Every table's rows keep, per run of rows that belong to one device (or one subscriber, one
topology node), that key and where its run ends: a load that resumes after a stop leaves out what
is there already without reading the rows one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from executors.sim.fleet import FleetSeed

Encode = Callable[[Any], Any]


@dataclass(slots=True)
class Rows:
    """One table's rows of a batch. ``runs``: (key, end) per run of consecutive rows with one key —
    the device they belong to, or the subscriber / topology node a row is."""

    table: str
    columns: tuple[str, ...]
    values: list[tuple[Any, ...]] = field(default_factory=list)
    runs: list[tuple[str, int]] = field(default_factory=list)

    def without(self, keys: set[str]) -> list[tuple[Any, ...]]:
        """The rows whose key is not in ``keys`` (all of them when ``keys`` is empty)."""
        if not keys:
            return self.values
        out: list[tuple[Any, ...]] = []
        start = 0
        for key, end in self.runs:
            if key not in keys:
                out.extend(self.values[start:end])
            start = end
        return out


@dataclass(slots=True)
class BatchRows:
    """A batch of whole buildings: its device ids, the store's rows in insertion order (a row's
    parent first) and the twin's rows."""

    devices: list[str]
    store: list[Rows]
    twin: list[Rows]
    telemetry: int = 0


class Encoders:
    """How a datetime and a JSON document are bound on one database: on SQLite the column types'
    own bind converters (naive UTC text; JSON text through the store's serialiser), on PostgreSQL
    what ``COPY`` takes (an aware UTC datetime; JSON text)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        if dialect == "sqlite":
            from sqlalchemy import JSON

            from core.store.db import make_engine
            from core.store.fastsql import faster
            from core.store.schema import UTCDateTime

            d = make_engine("sqlite://").dialect  # never connects: the store's dialect and serialiser
            time_fn = faster(UTCDateTime().dialect_impl(d).bind_processor(d))
            json_fn = JSON().dialect_impl(d).bind_processor(d)
            assert time_fn is not None and json_fn is not None
            self.time: Encode = time_fn
            self.json: Encode = json_fn
        else:
            self.time = _aware
            self.json = _json_text
        self._times: dict[datetime, Any] = {}

    def ts(self, value: datetime) -> Any:
        """``time`` of a value a batch repeats often (its 96 sample times): computed once."""
        got = self._times.get(value)
        if got is None:
            got = self._times[value] = self.time(value)
        return got


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# The store's columns as ``gateward.fleet_load`` has always filled them; ``devices.status`` is the
# column's default, written out because these rows bypass the ORM's defaults.
SUBSCRIBERS = ("id", "label", "building", "service")
TOPOLOGY = ("id", "kind", "label", "parent_id", "attrs")
DEVICES = ("id", "vendor", "model", "product_class", "oui", "serial", "firmware", "root", "protocol", "adapter",
           "subscriber", "region", "service", "tags", "upstream_id", "last_seen", "created_at", "status")
NEIGHBOURS = ("device_id", "neighbor_device_id", "bssid", "ssid", "band", "channel", "rssi_dbm")
TELEMETRY = ("device_id", "ts", "metric", "value", "labels")
EVENTS = ("device_id", "ts", "kind", "data")
SIM_DEVICES = ("id", "model_key", "region", "upstream_id", "record", "identity", "overrides", "parameter_key",
               "online", "reachable", "boot_count", "boot_ts", "last_inform", "faults", "link", "version")
SIM_EVENTS = ("device_id", "ts", "kind", "data")


def batch_rows(fleet: FleetSeed, enc: Encoders, now: datetime) -> BatchRows:
    """``fleet`` (one batch) as rows for ``enc``'s database; ``now``: the devices' ``created_at``
    (and ``last_seen`` of a device that never reported)."""
    t, j = enc.time, enc.json
    subs = fleet.subscribers
    subscribers = _rows("subscribers", SUBSCRIBERS, list(subs), [
        (sid, str(info.get("label", sid)), info.get("building"), str(info.get("service", "standard")))
        for sid, info in subs.items()])
    nodes = fleet.topology_nodes
    topology = _rows("topology_nodes", TOPOLOGY, [n.id for n in nodes],
                     [(n.id, n.kind, n.label, n.parent_id, j(dict(n.attrs))) for n in nodes])
    created = t(now)
    devices = _rows("devices", DEVICES, [d.id for d in fleet.devices], [
        (d.id, d.vendor, d.model, d.product_class, d.oui, d.serial, d.firmware, str(d.root), str(d.protocol),
         d.adapter, d.subscriber, d.region, d.service, j(list(d.tags)), d.upstream_id,
         t(d.last_seen) if d.last_seen is not None else created, created, "active")
        for d in fleet.devices])
    air = fleet.wifi_neighbors
    neighbours = _rows("wifi_neighbors", NEIGHBOURS, [n.device_id for n in air], [
        (n.device_id, n.neighbor_device_id, n.bssid, n.ssid, n.band, n.channel, n.rssi_dbm) for n in air])
    samples = fleet.telemetry
    labels: dict[int, Any] = {}  # a batch's samples share a handful of label dicts per device
    ts = enc.ts

    def label_text(lab: dict[str, str]) -> Any:
        text = labels.get(id(lab))
        if text is None:
            text = labels[id(lab)] = j(dict(lab))
        return text

    telemetry = _rows("telemetry", TELEMETRY, [x.device_id for x in samples], [
        (x.device_id, ts(x.ts), x.metric, float(x.value), label_text(x.labels)) for x in samples])
    happened = fleet.events
    owners = [e.device_id for e in happened]
    events = _rows("device_events", EVENTS, owners, [(e.device_id, t(e.ts), e.kind, j(dict(e.data)))
                                                     for e in happened])
    sim_events = _rows("sim_events", SIM_EVENTS, owners, [
        (e.device_id, e.ts.timestamp(), e.kind, _json_text(dict(e.data))) for e in happened])
    return BatchRows(devices=[d.id for d in fleet.devices],
                     store=[subscribers, topology, devices, neighbours, telemetry, events],
                     twin=[_sim_devices(fleet), sim_events], telemetry=len(samples))


def _rows(table: str, columns: tuple[str, ...], keys: list[str], values: list[tuple[Any, ...]]) -> Rows:
    """A table's rows and the runs of their ``keys`` (one per row, in the rows' order)."""
    runs: list[tuple[str, int]] = []
    end = 0
    for key, group in groupby(keys):
        end += sum(1 for _ in group)
        runs.append((key, end))
    return Rows(table, columns, values, runs)


def _sim_devices(fleet: FleetSeed) -> Rows:
    """The twin's device rows, as ``Twin.load_seed`` writes them (its columns are text, numbers
    and booleans on both databases: no converter)."""
    records = {d.id: d for d in fleet.devices}
    states = fleet.twin_states
    return _rows("sim_devices", SIM_DEVICES, [s.device_id for s in states], [
        (s.device_id, s.model_key, s.region, records[s.device_id].upstream_id, records[s.device_id].model_dump_json(),
         orjson.dumps(s.identity).decode(), _json_text(s.overrides), s.parameter_key, s.online, s.reachable,
         s.boot_count, s.boot_ts, s.last_inform, _json_text(s.faults), _json_text(s.link), 1)
        for s in states])


def iter_batch_rows(homes: int, seed: int, *, dialect: str, batch_homes: int, telemetry_homes: int,
                    anchor: datetime, part: tuple[int, int] = (0, 1), enc: Encoders | None = None
                    ) -> Iterator[BatchRows]:
    """The fleet's batches as rows (``part``: this worker's share, see ``iter_fleet``)."""
    from core.kernel.models import utcnow
    from executors.sim.fleet import iter_fleet

    enc = enc or Encoders(dialect)
    for chunk in iter_fleet(homes, seed, batch_homes=batch_homes, telemetry_homes=telemetry_homes, anchor=anchor,
                            part=part):
        rows = batch_rows(chunk, enc, utcnow())
        del chunk  # not kept while the rows are sent (a collection then walks what is left: little)
        yield rows


def insert_sql(rows: Rows, dialect: str) -> str:
    """The statement that writes ``rows``: ``COPY … FROM STDIN`` on PostgreSQL, an ``INSERT`` with
    one placeholder per column on SQLite."""
    cols = ", ".join(f'"{c}"' for c in rows.columns)
    if dialect == "postgresql":
        return f'COPY "{rows.table}" ({cols}) FROM STDIN'
    return f'INSERT INTO "{rows.table}" ({cols}) VALUES ({", ".join("?" for _ in rows.columns)})'


def write_rows(raw: Any, dialect: str, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None:
    """Write ``values`` (rows of ``rows``' table) on the DB-API connection ``raw``, inside the
    transaction it is in."""
    if not values:
        return
    sql = insert_sql(rows, dialect)
    if dialect == "postgresql":
        with raw.cursor() as cur, cur.copy(sql) as copy:
            write = copy.write_row
            for v in values:
                write(v)
        return
    cur = raw.cursor()
    try:
        cur.executemany(sql, values)
    finally:
        cur.close()


def keys_of(rows: Iterable[Rows], table: str) -> list[str]:
    """The keys of ``table``'s runs (its subscriber ids, topology node ids …)."""
    return [k for r in rows if r.table == table for k, _ in r.runs]


__all__ = ["BatchRows", "Encoders", "Rows", "batch_rows", "insert_sql", "iter_batch_rows", "keys_of", "write_rows"]
