"""The simulator's live read on the DB-API: ``gateward device ID`` for a simulated device.

Why: the CLI's live read used to build the executor stack — the settings model, the SQLAlchemy
store and twin engine, the pydantic models, the data-model registry to mask secrets — about a
second before the first value was printed, against a goal of ≤ 0.3 s for a read command. Here the
same answer comes from the same code on lighter plumbing:

- the twin's row is read with ``sqlite3`` or ``psycopg`` (:func:`connect`), from the database the
  simulator adapter would open, with the columns :data:`executors.sim.twin.sim_devices` declares
  (a test compares them);
- the row becomes the twin's own :class:`~executors.sim.state.DeviceState`, and presence and values
  are answered by the functions :class:`~executors.sim.executor.SimExecutor` itself calls
  (:func:`~executors.sim.state.presence_of`, :func:`~executors.sim.state.read_values`): the same
  fields, live values, faults, delays and errors, without SQLAlchemy or pydantic;
- secrets are masked from ``secret_paths.json`` (:data:`SECRET_TABLE_PATH`): which of the paths a
  simulated device can show are secrets, as :func:`core.kernel.secrets.is_secret_path` decides — loading
  that function's data-model registries costs more than this command's whole budget. The table is
  computed from the catalogue by :mod:`executors.sim.secret_table` (a test regenerates and compares
  it); a path not in it is judged by :mod:`core.kernel.secrets` itself, so the table can only make
  masking faster, never different.

Whatever this module cannot read with certainty (a URL it does not parse, a SQLite file that does
not exist yet) is left to the caller, which builds the adapter as before. Nothing here writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from core.store import dburl
from executors.errors import UnknownDevice
from executors.sim.catalog import generic_path, load_identity
from executors.sim.state import DeviceState, answering, inform_time, presence_of, read_values

MASK = "********"  # core.kernel.secrets.MASK
SECRET_TABLE_PATH = Path(__file__).with_name("secret_paths.json")
FRESH_S = 0.05  # as the simulator adapter's twin (SimExecutor: Twin(fresh_s=0.05))

# The columns of executors.sim.twin.sim_devices, in the order DeviceState takes them.
COLUMNS = ("id", "model_key", "region", "upstream_id", "record", "identity", "overrides", "parameter_key", "online",
           "reachable", "boot_count", "boot_ts", "last_inform", "faults", "link", "version")
_ROW_SQL = f"SELECT {', '.join(COLUMNS)} FROM sim_devices WHERE id = "
_PLACEHOLDER = {"sqlite": "?", "postgresql": "%s"}
_NO_DEVICE = "no such device in the simulated fleet"


class HasId(Protocol):
    """A device as this reader needs it: ``core.kernel.models.Device`` or ``core.store.lite.DeviceView``."""

    @property
    def id(self) -> str: ...


class LiteValue(NamedTuple):
    """``core.kernel.ports.executor.ParamValue``'s fields (kept apart: the CLI's lean read imports no pydantic)."""

    path: str
    device_path: str
    value: Any
    type: str = "string"
    writable: bool | None = None


class LitePresence(NamedTuple):
    """``executors.base.Presence``'s fields."""

    device_id: str
    online: bool
    reachable: bool
    last_seen: datetime | None = None
    detail: str = ""


# ---------------------------------------------------------------------------- the database
class DbApiCursor(Protocol):
    """The part of a DB-API cursor (``sqlite3.Cursor``, ``psycopg.Cursor``) :class:`Db` uses."""

    def execute(self, sql: str, params: tuple[Any, ...], /) -> object: ...

    def fetchall(self) -> list[Any]: ...

    def close(self) -> None: ...


class DbApiConnection(Protocol):
    """The part of a DB-API connection (``sqlite3.Connection``, ``psycopg.Connection``) :class:`Db` uses."""

    def cursor(self) -> DbApiCursor: ...

    def close(self) -> None: ...


class Db:
    """One DB-API connection (autocommit: each read is its own statement, as the twin's are)."""

    def __init__(self, conn: DbApiConnection, backend: str) -> None:
        self.conn = conn
        self.backend = backend

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``sql`` with ``?`` placeholders (rewritten for the driver) and its rows."""
        if self.backend == "postgresql":
            sql = sql.replace("?", "%s")
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
        finally:
            cur.close()

    def missing_table(self, exc: Exception) -> bool:
        """Is ``exc`` the driver saying a table does not exist?"""
        if self.backend == "sqlite":
            return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)
        return type(exc).__name__ == "UndefinedTable"

    def close(self) -> None:
        self.conn.close()


def connect(url: str) -> Db | None:
    """The database ``url`` names, as the twin's engine opens it (``postgresql://`` meaning
    psycopg), or ``None`` when this path does not read it: an in-memory or optioned SQLite URL,
    a SQLite file that does not exist yet (the twin creates it), a URL SQLAlchemy would rewrite,
    a PostgreSQL this process cannot reach — the caller then builds the adapter as before."""
    opened = dburl.open_dbapi(url, autocommit=True)
    return None if opened is None else Db(*opened)


def _state(row: tuple[Any, ...]) -> DeviceState:
    """``executors.sim.twin._state_from_row`` on a DB-API row."""
    m = dict(zip(COLUMNS, row, strict=True))
    return DeviceState(
        id=m["id"], model_key=m["model_key"], region=m["region"], upstream_id=m["upstream_id"],
        record_json=m["record"], identity=load_identity(m["identity"]), overrides=_loads(m["overrides"]),
        parameter_key=m["parameter_key"], online=bool(m["online"]), reachable=bool(m["reachable"]),
        boot_count=int(m["boot_count"]), boot_ts=float(m["boot_ts"]), last_inform=float(m["last_inform"]),
        faults=_loads(m["faults"]), link=_loads(m["link"]), version=int(m["version"]),
    )


def _loads(raw: str | bytes | None) -> Any:
    import orjson

    return orjson.loads(raw) if raw else {}


# ---------------------------------------------------------------------------- the reader
class LiteTwin:
    """The read side of the simulator adapter (``presence``, ``read``) over a :class:`Db`:
    what ``SimExecutor(database_url=...).reader()`` answers, as :class:`LitePresence` and
    :class:`LiteValue` records instead of the contract's pydantic models."""

    name = "sim(read-only)"

    def __init__(self, db: Db, *, timeout_s: float | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.clock = clock
        self._sleep = sleep
        self._cache: dict[str, tuple[DeviceState, float]] = {}

    def state(self, device_id: str) -> DeviceState:
        """The device's twin state (re-read after :data:`FRESH_S`, as the adapter's twin does)."""
        cached = self._cache.get(device_id)
        if cached is not None and time.monotonic() - cached[1] < FRESH_S:
            return cached[0]
        try:
            rows = self.db.rows(_ROW_SQL + "?", (device_id,))
        except Exception as exc:
            if self.db.missing_table(exc):  # the twin would create its tables, and find no device
                raise UnknownDevice(device_id, _NO_DEVICE) from None
            raise
        if not rows:
            raise UnknownDevice(device_id, _NO_DEVICE)
        state = _state(rows[0])
        self._cache[device_id] = (state, time.monotonic())
        return state

    def presence(self, device: HasId) -> LitePresence:
        state = self.state(device.id)
        online, reachable, detail = presence_of(state)
        return LitePresence(device.id, online, reachable, inform_time(state.last_inform), detail)

    def read(self, device: HasId, paths: Sequence[str]) -> dict[str, LiteValue]:
        state = answering(self.state(device.id), device.id, self.timeout_s, self._sleep)
        return read_values(state, device.id, paths, self.clock(), LiteValue)

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------------------- secrets
@cache
def _secret_table() -> dict[str, bool]:
    import orjson

    raw = orjson.loads(SECRET_TABLE_PATH.read_bytes())
    return {**dict.fromkeys(raw["plain"], False), **dict.fromkeys(raw["secret"], True)}


def is_secret_path(path: str) -> bool:
    """:func:`core.kernel.secrets.is_secret_path`, from :data:`SECRET_TABLE_PATH` for the paths a
    simulated device shows (by their ``{i}`` form), from :mod:`core.kernel.secrets` for any other."""
    known = _secret_table().get(generic_path(path))
    if known is not None:
        return known
    from core.kernel.secrets import is_secret_path as judge

    return judge(path)


def mask_value(path: str, value: Any) -> Any:
    """:func:`core.kernel.secrets.mask_value` (``None`` stays ``None``)."""
    if value is None or not is_secret_path(path):
        return value
    return MASK
