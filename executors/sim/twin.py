"""The digital twin's persistent state: one row per simulated device, one log of what they did.

Why a database and not a dict: the API server, the CLI, tests and benchmarks run in separate
processes and must all see *one* fleet — inject a fault from a test, watch the server's executor
hit it. The twin is not product data, so it owns its own SQLAlchemy metadata (``sim_*`` tables,
``create_all``, no migrations) and works on SQLite and PostgreSQL alike.

Storage is compact on purpose (100,000 devices must fit): a device row holds its model,
region and :class:`~executors.sim.catalog.Identity`, plus only the *overrides* on top of the
factory tree; the full tree is rebuilt on demand and cached per process, keyed by a version
counter that every write bumps, so a change made by another process is seen on the next read.
Reading a device costs one small SQL statement (its version when cached, the whole row when not);
a write starts from the cached copy and is one optimistic ``UPDATE … WHERE version = ?`` (retried
on conflict) plus its events — the version check *is* the commit. A row becomes a
:class:`~executors.sim.state.DeviceState` (defined apart, with the read logic, so that the CLI can
read a row on the DB-API without this module's SQLAlchemy: :mod:`executors.sim.lite`); the stored
record is decoded only when something asks for it.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    column,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.pool import StaticPool

from core.kernel.models import Device, Scalar
from executors.base import UnknownDevice
from executors.sim import faults as fault_kinds
from executors.sim.catalog import (
    CatalogModel,
    Identity,
    default_identity,
    device_id_for,
    dump_identity,
    get_model,
    load_identity,
)
from executors.sim.state import DeviceState, dynamic_value

if TYPE_CHECKING:
    from sqlalchemy import Row, RowMapping, Update
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.dml import ReturningInsert

    from executors.sim.events import TwinEventLog
    from executors.sim.fleet import FleetSeed

T = TypeVar("T")

CACHE_MAX = 5_000  # cached device states per database and process, ~60 KB each (see Twin._remember)

metadata = MetaData()

sim_devices = Table(
    "sim_devices",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("model_key", String(64), nullable=False),
    Column("region", String(8), nullable=False),
    Column("upstream_id", String(160), nullable=True, index=True),
    Column("record", Text, nullable=False),  # core.kernel.models.Device as JSON
    Column("identity", Text, nullable=False),  # catalog.Identity as JSON
    Column("overrides", Text, nullable=False),  # {device path: value | null (deleted)}
    Column("parameter_key", String(64), nullable=False, default=""),
    Column("online", Boolean, nullable=False, default=True),
    Column("reachable", Boolean, nullable=False, default=True),
    Column("boot_count", Integer, nullable=False, default=1),
    Column("boot_ts", Float, nullable=False),
    Column("last_inform", Float, nullable=False),
    Column("faults", Text, nullable=False),  # {kind: params}
    Column("link", Text, nullable=False),  # {latency_ms, loss_pct, degraded}
    Column("version", Integer, nullable=False, default=1),
)

sim_events = Table(
    "sim_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(160), nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_sim_events_device_id_id", "device_id", "id"),
)


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


def _loads(raw: str | bytes | None) -> Any:
    return orjson.loads(raw) if raw else {}


class TwinSeedState(BaseModel):
    """A device's initial twin state as the fleet generator writes it (device-native paths)."""

    device_id: str
    model_key: str
    region: str
    identity: Identity
    overrides: dict[str, Scalar | None] = Field(default_factory=dict)
    parameter_key: str = ""
    online: bool = True
    reachable: bool = True
    boot_count: int = 1
    boot_ts: float
    last_inform: float
    faults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    link: dict[str, Any] = Field(default_factory=dict)


class TwinConflict(RuntimeError):
    """A device row kept changing under a write (another process wrote it every time)."""


@dataclass
class TwinEvent:
    """Something a simulated device did: ``boot``, ``bootstrap``, ``value_change``, ``set``,
    ``diagnostics_complete``, ``transfer_complete``, ``dns_lost``, ``dfs_radar``, ``inform``..."""

    id: int
    device_id: str
    ts: datetime
    kind: str
    data: dict[str, Any]


def _state_from_row(row: Row[Any]) -> DeviceState:
    return _state_from_mapping(row._mapping)


def _state_from_mapping(m: Mapping[str, Any] | RowMapping) -> DeviceState:
    return DeviceState(
        id=m["id"],
        model_key=m["model_key"],
        region=m["region"],
        upstream_id=m["upstream_id"],
        record_json=m["record"],
        identity=load_identity(m["identity"]),
        overrides=_loads(m["overrides"]),
        parameter_key=m["parameter_key"],
        online=bool(m["online"]),
        reachable=bool(m["reachable"]),
        boot_count=int(m["boot_count"]),
        boot_ts=float(m["boot_ts"]),
        last_inform=float(m["last_inform"]),
        faults=_loads(m["faults"]),
        link=_loads(m["link"]),
        version=int(m["version"]),
    )


def _row_from_state(s: DeviceState, *, whole: bool = True) -> dict[str, Any]:
    """The row for ``s``; without ``whole``, its mutable columns only (see ``Twin._commit``)."""
    row = {
        "model_key": s.model_key,
        "region": s.region,
        "upstream_id": s.upstream_id,
        "overrides": _dumps(s.overrides),
        "parameter_key": s.parameter_key,
        "online": s.online,
        "reachable": s.reachable,
        "boot_count": s.boot_count,
        "boot_ts": s.boot_ts,
        "last_inform": s.last_inform,
        "faults": _dumps(s.faults),
        "link": _dumps(s.link),
        "version": s.version,
    }
    if whole:
        row.update(id=s.id, record=s.record_json, identity=dump_identity(s.identity))
    return row


def _update_statement(columns: list[str]) -> Update:
    """One optimistic ``UPDATE … WHERE id = ? AND version = ?``, built once: SQLAlchemy then
    reuses its compiled form instead of rebuilding the statement for every device write."""
    return (update(sim_devices)
            .where(sim_devices.c.id == bindparam("b_id"), sim_devices.c.version == bindparam("b_version"))
            .values({c: bindparam(f"v_{c}") for c in columns}))


def _pg_commit_statement(update_stmt: Update) -> ReturningInsert[Any]:
    """PostgreSQL: ``WITH u AS (UPDATE … RETURNING id) INSERT INTO sim_events SELECT …`` — the
    optimistic update and the events it logs, one atomic statement. No row comes back when the
    version did not match (another writer won): nothing was changed and nothing logged."""
    from sqlalchemy import column, func, true
    from sqlalchemy.dialects.postgresql import JSONB

    u = update_stmt.returning(sim_devices.c.id).cte("u")
    ev = (func.jsonb_to_recordset(bindparam("events", type_=JSONB))
          .table_valued(column("ts", Float), column("kind", Text), column("data", Text))
          .render_derived(with_types=True))
    rows = select(u.c.id, ev.c.ts, ev.c.kind, ev.c.data).select_from(u.join(ev, true()))
    return insert(sim_events).from_select(["device_id", "ts", "kind", "data"], rows).returning(sim_events.c.id)


_MUTABLE = ["model_key", "region", "upstream_id", "overrides", "parameter_key", "online", "reachable", "boot_count",
            "boot_ts", "last_inform", "faults", "link", "version"]
_UPDATE = _update_statement(_MUTABLE)
_UPDATE_WHOLE = _update_statement([*_MUTABLE, "record", "identity"])
_PG_COMMIT = _pg_commit_statement(_UPDATE)
_PG_COMMIT_WHOLE = _pg_commit_statement(_UPDATE_WHOLE)
_VERSION = select(sim_devices.c.version).where(sim_devices.c.id == bindparam("device_id"))
_ROW = select(sim_devices).where(sim_devices.c.id == bindparam("device_id"))
_ROW_COLUMNS = tuple(c.name for c in sim_devices.columns)
# Twin.presence_rows: the ids as ONE parameter (an array; JSON text read with json_each), so the
# statement is compiled once whatever the number of devices (an IN list of 2,000 was compiled and
# bound afresh each time: ~100 ms of a fleet's presence sample).
_PRESENCE_COLUMNS = (sim_devices.c.id, sim_devices.c.online, sim_devices.c.reachable, sim_devices.c.faults,
                     sim_devices.c.last_inform)
_PRESENCE_PG = select(*_PRESENCE_COLUMNS).where(sim_devices.c.id == any_(bindparam("ids", type_=ARRAY(String))))
_PRESENCE_SQLITE = select(*_PRESENCE_COLUMNS).where(sim_devices.c.id.in_(
    select(column("value")).select_from(func.json_each(bindparam("ids", type_=String)))))


class _Fast:
    """The twin's hot statements, run on the connection's DB-API cursor (``core.store.fastsql``),
    compiled once per dialect and schema: a primary-key read through SQLAlchemy's
    ``Connection.execute`` cost ~150 µs of CPU here, on the cursor ~60 µs, and every proposal's
    life reads and writes its device through them. Values go through the column types'
    own converters, as SQLAlchemy's execution does."""

    def __init__(self, schema: str | None) -> None:
        # Imported at first use: fastsql imports SQLAlchemy's ORM, which this module otherwise avoids.
        from core.store.fastsql import Prepared

        m: dict[str | None, str] | None = {None: schema} if schema else None
        self.version = Prepared(_VERSION, schema_map=m)
        self.row = Prepared(_ROW, schema_map=m)
        self.update = Prepared(_UPDATE, schema_map=m)
        self.update_whole = Prepared(_UPDATE_WHOLE, schema_map=m)
        self.pg_commit = Prepared(_PG_COMMIT, schema_map=m)
        self.pg_commit_whole = Prepared(_PG_COMMIT_WHOLE, schema_map=m)


_FAST: dict[str | None, _Fast] = {}
_FAST_GUARD = threading.Lock()


def _fast_for(schema: str | None) -> _Fast:
    fast = _FAST.get(schema)
    if fast is None:
        with _FAST_GUARD:
            fast = _FAST.get(schema) or _FAST.setdefault(schema, _Fast(schema))
    return fast


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    with contextlib.suppress(Exception):  # in-memory databases cannot use WAL; the default is fine
        cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


_PROCESS_CACHES: dict[tuple[str, str | None], tuple[dict[str, DeviceState], dict[str, float]]] = {}


class Twin:
    """The simulated fleet's state store (see the module docstring).

    ``url`` defaults to ``core.kernel.config.get_settings().resolved_sim_database_url()``. ``schema``
    (PostgreSQL only) keeps the ``sim_*`` tables in their own schema, e.g. for parallel tests.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        schema: str | None = None,
        create: bool = True,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        fresh_s: float = 0.0,
    ) -> None:
        if engine is None:
            if url is None:
                from core.kernel.config import get_settings

                url = get_settings().resolved_sim_database_url()
            engine = self._make_engine(url)
        self.url = str(engine.url)
        self.schema = schema
        if schema is not None:
            if engine.dialect.name != "postgresql":
                raise ValueError("Twin(schema=...) needs PostgreSQL; use a separate SQLite file instead")
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine = engine
        # Hot-path reads and PostgreSQL's one-statement writes run in autocommit: no BEGIN before
        # and no ROLLBACK after each primary-key read (three round trips down to one).
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._pg = engine.dialect.name == "postgresql"
        self.clock = clock
        # Shared by every Twin on the same database in this process, so a write through one
        # instance (a test's fault injection) is what another instance (the executor) reads next.
        self._cache, self._checked = _PROCESS_CACHES.setdefault((self.url, schema), ({}, {}))
        # A cached state checked against the database less than ``fresh_s`` ago is trusted without
        # another version query: one lifecycle step touches a device several times within
        # milliseconds (presence, backup read, write, read-back). Writes made through this Twin
        # refresh it at once; another process's write is seen at most ``fresh_s`` later. 0 (the default)
        # = always check; the simulator executor uses a short window.
        self.fresh_s = fresh_s
        if create:
            metadata.create_all(self.engine)

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]  # the driver we ship
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
            if memory:
                kwargs["poolclass"] = StaticPool
            engine = create_engine(url, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=300)

    # ----------------------------------------------------------------------- housekeeping
    def reset(self) -> None:
        """Delete every simulated device and event (the tables stay)."""
        with self.engine.begin() as conn:
            conn.execute(delete(sim_events))
            conn.execute(delete(sim_devices))
        self._cache.clear()
        self._checked.clear()

    def drop(self) -> None:
        metadata.drop_all(self.engine)
        if self.schema is not None:
            with self.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self._cache.clear()
        self._checked.clear()

    def close(self) -> None:
        self.engine.dispose()

    def forget_cache(self) -> None:
        self._cache.clear()
        self._checked.clear()

    # ----------------------------------------------------------------------- creating devices
    def add_device(
        self,
        model_key: str,
        serial: str,
        *,
        region: str = "DE",
        subscriber: str | None = None,
        upstream_id: str | None = None,
        tags: Sequence[str] = (),
        service: str = "standard",
        identity: Identity | None = None,
        overrides: dict[str, Scalar | None] | None = None,
        uptime_s: float = 86400.0,
        link: dict[str, Any] | None = None,
    ) -> Device:
        """Create one device from the catalogue (factory tree + ``overrides``) and return its record."""
        model = get_model(model_key)
        ident = identity or default_identity(model, serial)
        now = self.clock()
        record = device_record(
            model,
            serial,
            region=region,
            subscriber=subscriber,
            upstream_id=upstream_id,
            tags=list(tags),
            service=service,
            last_seen=now,
        )
        state = DeviceState(
            id=record.id,
            model_key=model_key,
            region=region,
            upstream_id=upstream_id,
            record_json=record.model_dump_json(),
            identity=ident,
            overrides=dict(overrides or {}),
            parameter_key="",
            online=True,
            reachable=True,
            boot_count=1,
            boot_ts=now - uptime_s,
            last_inform=now,
            faults={},
            link=dict(link or default_link(model)),
            version=1,
        )
        with self.engine.begin() as conn:
            conn.execute(insert(sim_devices), [_row_from_state(state)])
        return record

    def load_seed(self, seed: FleetSeed, reset: bool = True, *, events: bool = True, batch: int = 2000) -> int:
        """Load a generated fleet (devices, twin states, history events); returns devices added.

        With ``reset=False`` devices the twin already has are left as they are (with their
        events), so loading the same seed twice is harmless.
        """
        if reset:
            self.reset()
        records = {d.id: d for d in seed.devices}
        existing: set[str] = set()
        if not reset and seed.twin_states:
            ids = [ts.device_id for ts in seed.twin_states]
            with self.engine.connect() as conn:
                for i in range(0, len(ids), 900):
                    q = select(sim_devices.c.id).where(sim_devices.c.id.in_(ids[i : i + 900]))
                    existing.update(conn.execute(q).scalars())
        n = 0
        with self.engine.begin() as conn:
            rows: list[dict[str, Any]] = []
            for ts in seed.twin_states:
                if ts.device_id in existing:
                    continue
                record = records[ts.device_id]
                rows.append(
                    {
                        "id": ts.device_id,
                        "model_key": ts.model_key,
                        "region": ts.region,
                        "upstream_id": record.upstream_id,
                        "record": record.model_dump_json(),
                        "identity": dump_identity(ts.identity),
                        "overrides": _dumps(ts.overrides),
                        "parameter_key": ts.parameter_key,
                        "online": ts.online,
                        "reachable": ts.reachable,
                        "boot_count": ts.boot_count,
                        "boot_ts": ts.boot_ts,
                        "last_inform": ts.last_inform,
                        "faults": _dumps(ts.faults),
                        "link": _dumps(ts.link),
                        "version": 1,
                    }
                )
                if len(rows) >= batch:
                    conn.execute(insert(sim_devices), rows)
                    n += len(rows)
                    rows = []
            if rows:
                conn.execute(insert(sim_devices), rows)
                n += len(rows)
            if events:
                erows: list[dict[str, Any]] = []
                for ev in seed.events:
                    if ev.device_id in existing:
                        continue
                    erows.append(
                        {
                            "device_id": ev.device_id,
                            "ts": ev.ts.timestamp(),
                            "kind": ev.kind,
                            "data": _dumps(ev.data),
                        }
                    )
                    if len(erows) >= batch * 2:
                        conn.execute(insert(sim_events), erows)
                        erows = []
                if erows:
                    conn.execute(insert(sim_events), erows)
        self._cache.clear()
        self._checked.clear()
        return n

    # ----------------------------------------------------------------------- reading
    def has(self, device_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(sim_devices.c.version).where(sim_devices.c.id == device_id)).first() is not None

    def state(self, device_id: str) -> DeviceState:
        """The device's current state (a shared snapshot: do not mutate; see :meth:`transact`).

        One statement either way: a cached state is checked by its version alone, an uncached one
        is read whole at once (asking for the version first would only add a round trip)."""
        cached = self._cache.get(device_id)
        if cached is not None and time.monotonic() - self._checked.get(device_id, -1e9) < self.fresh_s:
            return cached
        fast = _fast_for(self.schema)
        with self._auto.connect() as conn:
            if cached is not None:
                found = fast.version.first(conn, {"device_id": device_id})
                if found is None:
                    raise UnknownDevice(device_id, "no such device in the simulated fleet")
                if cached.version == found[0]:
                    self._checked[device_id] = time.monotonic()
                    return cached
            row = fast.row.first(conn, {"device_id": device_id})
        if row is None:
            raise UnknownDevice(device_id, "no such device in the simulated fleet")
        state = _state_from_mapping(dict(zip(_ROW_COLUMNS, row, strict=True)))
        self._remember(state)
        return state

    def _remember(self, state: DeviceState) -> None:
        """Cache a state just read or committed. The cache is bounded (``CACHE_MAX`` devices per
        database and process): a worker that walks a 100,000-device fleet keeps the devices of its
        current batches, not every tree it ever built."""
        cache = self._cache
        if state.id not in cache and len(cache) >= CACHE_MAX:
            for old in list(itertools.islice(cache, CACHE_MAX // 4)):  # the oldest quarter
                cache.pop(old, None)
                self._checked.pop(old, None)
        cache[state.id] = state
        self._checked[state.id] = time.monotonic()

    def _forget(self, device_id: str) -> None:
        self._cache.pop(device_id, None)
        self._checked.pop(device_id, None)

    def _is_current(self, device_id: str, version: int) -> bool:
        """Does the stored row still have ``version``? (One primary-key read.)"""
        with self._auto.connect() as conn:
            found = _fast_for(self.schema).version.first(conn, {"device_id": device_id})
        if found is None:
            raise UnknownDevice(device_id, "no such device in the simulated fleet")
        now = found[0]
        if now == version:
            self._checked[device_id] = time.monotonic()
            return True
        self._forget(device_id)
        return False

    def device(self, device_id: str) -> Device:
        return self.state(device_id).record

    def devices(self, *, upstream_id: str | None = None, limit: int | None = None) -> list[Device]:
        q = select(sim_devices.c.record).order_by(sim_devices.c.id)
        if upstream_id is not None:
            q = q.where(sim_devices.c.upstream_id == upstream_id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [Device.model_validate_json(r[0]) for r in conn.execute(q)]

    def presence_rows(self, device_ids: Sequence[str]) -> list[tuple[str, bool, bool, dict[str, Any], float]]:
        """``(id, online, reachable, faults, last_inform)`` of each of ``device_ids`` the twin has,
        read from the database in a few statements: a fleet's presence sample reads these columns
        only, not each device's whole state (a state read costs ~0.8 ms, 2,000 of them 1.7 s)."""
        ids = list(device_ids)
        with self._auto.connect() as conn:
            if self._pg:
                rows = conn.execute(_PRESENCE_PG, {"ids": ids})
            else:
                rows = conn.execute(_PRESENCE_SQLITE, {"ids": _dumps(ids)})
            return [(str(r[0]), bool(r[1]), bool(r[2]), _loads(r[3]), float(r[4])) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {self._table_name('sim_devices')}")).scalar() or 0)

    def _table_name(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.schema else name

    def params(self, device_id: str, *, at: float | None = None) -> dict[str, Scalar]:
        """The device-native tree with secrets *included* — the simulator's own view, for tests
        and the protocol simulators, never for the product.

        Dynamic values are computed ``at`` a time, by default the last inform, so two calls with
        no write in between return equal trees (an executor read reports the live uptime).
        """
        state = self.state(device_id)
        tree = dict(state.tree())
        model = state.model
        when = state.last_inform if at is None else at
        for path in tree:
            spec = model.spec(path)
            if spec is not None and spec.dynamic is not None:
                tree[path] = dynamic_value(state, spec.dynamic, when)
        return tree

    def faults(self, device_id: str) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.state(device_id).faults)

    def events(
        self,
        device_id: str | None = None,
        *,
        since_id: int = 0,
        kinds: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[TwinEvent]:
        q = select(sim_events).where(sim_events.c.id > since_id).order_by(sim_events.c.id).limit(limit)
        if device_id is not None:
            q = q.where(sim_events.c.device_id == device_id)
        if kinds is not None:
            q = q.where(sim_events.c.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            return [
                TwinEvent(
                    id=r.id,
                    device_id=r.device_id,
                    ts=datetime.fromtimestamp(r.ts, UTC),
                    kind=r.kind,
                    data=_loads(r.data),
                )
                for r in conn.execute(q)
            ]

    def device_events(self) -> TwinEventLog:
        """This twin's log as a :class:`core.kernel.ports.events.DeviceEventSource` (what ingest reads)."""
        from executors.sim.events import TwinEventLog

        return TwinEventLog(self)

    def last_event_id(self) -> int:
        """The id of the newest logged event (0 for an empty log): where a new reader starts."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(sim_events.c.id))).scalar() or 0)

    def iter_states(self, batch: int = 1000) -> Iterator[DeviceState]:
        """Every device's state, in id order (for agents and benches that walk the fleet)."""
        last = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(sim_devices).where(sim_devices.c.id > last).order_by(sim_devices.c.id).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _state_from_row(row)
            last = rows[-1].id

    # ----------------------------------------------------------------------- writing
    def transact(self, device_id: str, fn: Callable[[DeviceState], T], *, retries: int = 8) -> T:
        """Run ``fn`` on a private copy of the device's state and commit what it changed.

        Optimistic: the commit is ``UPDATE … WHERE version = <read version>``; if another
        process wrote in between, ``fn`` runs again on the fresh state. An exception from ``fn``
        commits nothing.
        """
        for _ in range(retries):
            base, checked = self._base(device_id)
            work = base.fork()
            try:
                result = fn(work)
            except Exception:
                if checked or self._is_current(device_id, base.version):
                    raise
                continue  # decided on an outdated copy: decide again on the stored state
            if not work.dirty:
                if checked or self._is_current(device_id, base.version):
                    return result
                continue
            if self._commit(work, base):
                return result
            self._forget(device_id)
        raise TwinConflict(f"{device_id}: the twin row kept changing under {retries} write attempts")

    def _base(self, device_id: str) -> tuple[DeviceState, bool]:
        """The state a write starts from, and whether it is known current. A cached copy is used
        unchecked: the commit's ``WHERE version = ?`` proves it current, and a result that commits
        nothing (an error, a no-op) is checked before it is returned — so every outcome of
        :meth:`transact` is decided on the stored state, for one statement instead of two."""
        cached = self._cache.get(device_id)
        if cached is None:
            return self.state(device_id), True
        return cached, time.monotonic() - self._checked.get(device_id, -1e9) < self.fresh_s

    def _commit(self, work: DeviceState, base: DeviceState) -> bool:
        expected_version = base.version
        # The record and identity (the largest JSON) are written only when the write replaced them.
        whole = work.record_json is not base.record_json or work.identity is not base.identity
        row = {f"v_{k}": v for k, v in _row_from_state(work, whole=whole).items() if k != "id"}
        row.update(b_id=work.id, b_version=expected_version, v_version=expected_version + 1)
        events = [{"ts": ts, "kind": kind, "data": _dumps(data)} for kind, data, ts in work.pending_events]
        if self._pg:  # the update and its events in one statement: atomic in autocommit, one round trip
            fast = _fast_for(self.schema)
            with self._auto.connect() as conn:
                if events:
                    row["events"] = events
                    done = len((fast.pg_commit_whole if whole else fast.pg_commit).all(conn, row)) > 0
                else:
                    done = (fast.update_whole if whole else fast.update).run(conn, row) == 1
            if not done:
                return False
        else:
            with self.engine.begin() as conn:
                if conn.execute(_UPDATE_WHOLE if whole else _UPDATE, row).rowcount != 1:
                    return False
                if events:
                    conn.execute(insert(sim_events), [{"device_id": work.id, **e} for e in events])
        work.version = expected_version + 1
        work.pending_events = []
        work.dirty = False
        self._remember(work)
        return True

    def inject(self, device_id: str, kind: str, **params: Any) -> None:
        """Inject a fault (see :mod:`executors.sim.faults` for kinds and parameters)."""

        def fn(s: DeviceState) -> None:
            s.faults[kind] = fault_kinds.normalise(kind, params, s.faults.get(kind))
            s.event("fault_injected", fault=kind, params=s.faults[kind])

        self.transact(device_id, fn)

    def clear(self, device_id: str, kind: str | None = None) -> None:
        """Remove one fault kind, or every fault when ``kind`` is None."""

        def fn(s: DeviceState) -> None:
            if kind is None:
                if s.faults:
                    s.faults = {}
                    s.event("fault_cleared", fault="*")
            elif kind in s.faults:
                del s.faults[kind]
                s.event("fault_cleared", fault=kind)

        self.transact(device_id, fn)

    def set_presence(self, device_id: str, *, online: bool | None = None, reachable: bool | None = None) -> None:
        """The device's natural presence (not a fault): e.g. power loss, CGNAT."""

        def fn(s: DeviceState) -> None:
            if online is not None:
                s.online = online
            if reachable is not None:
                s.reachable = reachable
            s.touch()

        self.transact(device_id, fn)

    def device_change(self, device_id: str, values: dict[str, Scalar], *, source: str = "local_gui") -> None:
        """A change the device made itself (local GUI, app): raises ``4 VALUE CHANGE``."""

        def fn(s: DeviceState) -> None:
            s.set_values(dict(values))
            s.event("value_change", paths=sorted(values), source=source, events=["4 VALUE CHANGE"])

        self.transact(device_id, fn)

    def inform(self, device_id: str, events: Sequence[str] = ("2 PERIODIC",)) -> None:
        """Record an Inform (the device was heard from now)."""
        now = self.clock()

        def fn(s: DeviceState) -> None:
            s.last_inform = now
            s.event("inform", ts=now, events=list(events))

        self.transact(device_id, fn)

    def set_upstream(
        self, upstream_id: str, *, degraded: bool, latency_ms: float = 250.0, loss_pct: float = 20.0
    ) -> int:
        """Degrade the link of every device behind one PON port or CMTS, or repair it
        (``degraded=False``: healthy link, and devices the outage took offline come back)."""
        ids = [d.id for d in self.devices(upstream_id=upstream_id)]
        for device_id in ids:

            def fn(s: DeviceState) -> None:
                base = default_link(s.model)
                if degraded:
                    s.link = {**base, "latency_ms": latency_ms, "loss_pct": loss_pct, "degraded": True}
                else:
                    s.link = base
                    if s.faults.pop("offline", None) is not None:
                        s.event("online", reason=f"upstream {upstream_id} repaired")
                s.touch()

            self.transact(device_id, fn)
        return len(ids)


def default_link(model: CatalogModel) -> dict[str, Any]:
    """A healthy access line: FTTH is faster than cable."""
    return {"latency_ms": 6.0 if model.access == "ftth" else 14.0, "loss_pct": 0.0, "degraded": False}


def device_record(
    model: CatalogModel,
    serial: str,
    *,
    region: str,
    subscriber: str | None = None,
    upstream_id: str | None = None,
    tags: list[str] | None = None,
    service: str = "standard",
    last_seen: float | None = None,
) -> Device:
    """The ``core.kernel.models.Device`` record for one unit of ``model``."""
    return Device(
        id=device_id_for(model, serial),
        vendor=model.vendor,
        model=model.model,
        product_class=model.product_class,
        oui=model.oui,
        serial=serial,
        firmware=model.firmware,
        root=model.root,
        protocol=model.protocol,
        adapter="sim",
        subscriber=subscriber,
        region=region,
        service=service,
        tags=list(tags or []),
        upstream_id=upstream_id,
        last_seen=datetime.fromtimestamp(last_seen, UTC) if last_seen is not None else None,
    )


__all__ = [
    "DeviceState",
    "Twin",
    "TwinConflict",
    "TwinEvent",
    "TwinSeedState",
    "default_link",
    "device_record",
    "dynamic_value",
    "metadata",
    "sim_devices",
    "sim_events",
]
