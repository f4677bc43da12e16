"""The read path of the read-only CLI commands, on the DB-API directly.

Why: docs/performance.md, D12 (a read command in ≤ 0.3 s, which importing SQLAlchemy and the
models alone exceeded). Here the same rows are read with ``sqlite3`` (stdlib) or ``psycopg``:

- the SQL is SQLAlchemy's own, compiled from the schema into :mod:`core.store.lite_sql` (a test
  regenerates it and fails on any drift);
- every column is decoded as the ORM decodes it (JSON with orjson, as ``make_engine`` configures;
  timestamps as :class:`~core.store.schema.UTCDateTime` returns them, aware UTC; booleans), and the
  views below are filled as ``core.store.repo`` fills the models (a test compares them row by row
  on SQLite and PostgreSQL);
- the database is read only when it is at the migrations' head (:mod:`core.store.head`); anything
  else (a fresh or older database, a URL this module does not read) is left to the SQLAlchemy
  store, which migrates exactly as before.

Nothing here writes: every command that changes something goes through the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from core.kernel.errors import NotFound
from core.readmodels.device import DeviceView as DeviceView  # re-exported: the readers name it here
from core.store import dburl
from core.store.head import VERSION_SQL, script_head
from core.store.lite_sql import QUERIES

if TYPE_CHECKING:  # imported when a proposal is first read: `devices`, `device ID`, `status` never need it
    from core.readmodels.proposal import ProposalView

ACTIVE = "active"  # repo.ACTIVE: a device row without a status is active
_WHERE = "WHERE __WHERE__"  # core.store.lite_gen.WHERE, as compiled
DEVICE_FILTERS = ("status", "subscriber", "model", "firmware", "region", "q")


class Row(dict[str, Any]):
    """One decoded row; columns are also attributes, as on an ORM row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# The views' fields are derived from the schema (core/readmodels): each view is filled from
# a row by field name in one C-level pick, then the few fields that need converting are converted.
_DEVICE_PICK = itemgetter(*DeviceView._fields)
_D_TAGS, _D_STATUS = (DeviceView._fields.index(f) for f in ("tags", "status"))


def device_view(row: Mapping[str, Any]) -> DeviceView:
    """``repo.device_from_row`` without the model: ``Device(**view._asdict())`` is that model."""
    v = list(_DEVICE_PICK(row))
    v[_D_TAGS] = list(v[_D_TAGS] or [])
    v[_D_STATUS] = v[_D_STATUS] or ACTIVE
    return DeviceView._make(v)


def _proposal_filler() -> Callable[[Mapping[str, Any]], ProposalView]:
    from core.readmodels.parts import ChangeView
    from core.readmodels.proposal import ProposalView

    names = tuple(f.name for f in fields(ProposalView))
    pick = itemgetter(*names)
    i_targets, i_changes, i_operations, i_evidence, i_staged = (
        names.index(f) for f in ("targets", "changes", "operations", "evidence", "staged"))

    def fill(row: Mapping[str, Any]) -> ProposalView:
        v = list(pick(row))
        v[i_targets] = list(v[i_targets])
        v[i_changes] = [ChangeView(path=str(c["path"]).strip(), value=c["value"], type=c.get("type"),
                                   target=c.get("target")) for c in v[i_changes]]
        v[i_operations] = list(v[i_operations] or [])
        v[i_evidence] = list(v[i_evidence] or [])
        v[i_staged] = bool(v[i_staged])
        return ProposalView(*v)

    return fill


_PROPOSAL_FILL: list[Callable[[Mapping[str, Any]], ProposalView]] = []


def proposal_view(row: Mapping[str, Any]) -> ProposalView:
    """``repo.proposal_from_row`` without the models (and the row's preview)."""
    if not _PROPOSAL_FILL:
        _PROPOSAL_FILL.append(_proposal_filler())
    return _PROPOSAL_FILL[0](row)


# ---------------------------------------------------------------------------- decoding
def _utc(value: datetime | None) -> datetime | None:
    """``UTCDateTime.process_result_value``."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_json(value: Any) -> Any:
    import orjson

    return None if value is None else orjson.loads(value)


def _sqlite_utc(value: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME reads the stored text with datetime.fromisoformat
    return _utc(datetime.fromisoformat(value)) if isinstance(value, str) else value


def _sqlite_bool(value: Any) -> Any:
    return None if value is None else bool(value)


_DECODERS: dict[str, dict[str, Callable[[Any], Any] | None]] = {
    "sqlite": {"json": _sqlite_json, "utc": _sqlite_utc, "bool": _sqlite_bool, "plain": None},
    # psycopg returns JSON decoded (with orjson, set per connection), booleans and aware timestamps
    "postgresql": {"json": None, "utc": _utc, "bool": None, "plain": None},
}


# ---------------------------------------------------------------------------- the reader
class LiteReader:
    """One DB-API connection for the reads of one command."""

    def __init__(self, conn: Any, backend: str) -> None:
        self._conn = conn
        self.backend = backend
        self._depth = 0

    # ------------------------------------------------------------------ plumbing
    def _fetch(self, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self._conn.cursor()
        try:
            cur.execute(sql, dict(params))
            names = [d[0] for d in cur.description or ()]
            return names, list(cur.fetchall())
        finally:
            cur.close()

    def _query(self, name: str, params: Mapping[str, Any] | None = None, *,
               where: Sequence[str] = ()) -> list[Row]:
        q = QUERIES[name]
        sql, fixed = q[self.backend]
        if _WHERE in sql:
            sql = sql.replace(_WHERE, "WHERE " + " AND ".join(f"({w})" for w in where) if where else "")
        _, rows = self._fetch(sql, {**fixed, **(params or {})})
        decoders = [_DECODERS[self.backend][k] for k in q["kinds"]]
        columns: tuple[str, ...] = q["columns"]
        return [Row({c: (v if dec is None else dec(v)) for c, dec, v in zip(columns, decoders, raw, strict=True)})
                for raw in rows]

    def _scalar(self, name: str) -> Any:
        rows = self._query(name)
        return next(iter(rows[0].values())) if rows else None

    @contextmanager
    def read(self) -> Iterator[LiteReader]:
        """The reads of the block in one transaction (as an ORM session runs them); nests."""
        if self._depth == 0 and self.backend == "sqlite":
            self._conn.execute("BEGIN")  # psycopg begins one implicitly
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._conn.rollback()

    def revisions(self) -> set[str] | None:
        """What ``alembic_version`` says, or ``None`` when it cannot be read (a fresh database)."""
        try:
            _, rows = self._fetch(VERSION_SQL, {})
        except Exception:  # no version table (sqlite3.OperationalError, psycopg.errors.UndefinedTable)
            self._conn.rollback()
            return None
        self._conn.rollback()
        return {str(r[0]) for r in rows}

    def at_head(self) -> bool:
        """True only when the database holds exactly the migration scripts' single head."""
        head = script_head()
        return head is not None and self.revisions() == {head}

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ devices
    def device(self, device_id: str) -> DeviceView:
        rows = self._query("device", {"id": device_id})
        if not rows:
            raise NotFound(f"unknown device {device_id!r}; list devices with `gateward devices`")
        return device_view(rows[0])

    def list_devices(self, *, subscriber: str | None = None, model: str | None = None, firmware: str | None = None,
                     region: str | None = None, q: str | None = None, limit: int = 100, offset: int = 0,
                     status: str | None = None) -> tuple[list[DeviceView], int]:
        """``repo.list_devices``: the page ordered by id, and how many match in all."""
        given = {"status": status, "subscriber": subscriber, "model": model, "firmware": firmware, "region": region,
                 "q": contains_pattern(q) if q else None}
        params = {k: v for k, v in given.items() if v}
        where = [QUERIES[f"devices.filter.{k}"][self.backend][0] for k in DEVICE_FILTERS if k in params]
        with self.read():
            total = self._query("devices.count", params, where=where)
            rows = self._query("devices.page", {**params, "limit": limit, "offset": offset}, where=where)
        return [device_view(r) for r in rows], int(next(iter(total[0].values())) or 0)

    # ------------------------------------------------------------------ proposals
    def proposal(self, pid: str) -> ProposalView:
        rows = self._query("proposal", {"pid": pid})
        if not rows:
            raise NotFound(f"unknown proposal {pid!r}; list proposals with `gateward proposals`")
        return proposal_view(rows[0])

    def latest_decision(self, pid: str) -> Row | None:
        """``repo.latest_decision`` (dry runs left out): the row, its ``result`` a dict."""
        rows = self._query("decision.latest", {"pid": pid})
        return rows[0] if rows else None

    def approvals(self, pid: str) -> list[Row]:
        return self._query("approvals", {"pid": pid})

    def executions(self, pid: str) -> list[Row]:
        return self._query("executions", {"pid": pid})

    # ------------------------------------------------------------------ status
    def fleet_counts(self) -> tuple[int, int, int]:
        """Devices, proposals awaiting approval, audit head sequence (0 on an empty trail)."""
        with self.read():
            return (int(self._scalar("status.devices") or 0), int(self._scalar("status.awaiting") or 0),
                    int(self._scalar("status.audit_head") or 0))


def contains_pattern(text: str) -> str:
    """``repo.contains_pattern``: a LIKE pattern matching values that contain ``text`` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---------------------------------------------------------------------------- connecting
def connect(url: str) -> LiteReader | None:
    """A reader for ``url``, or ``None`` when this path does not read it (see
    :func:`core.store.dburl.open_dbapi`: the SQLAlchemy store then reports it as it always has)."""
    opened = dburl.open_dbapi(url)
    if opened is None:
        return None
    conn, backend = opened
    if backend == "postgresql":
        try:
            import orjson
            from psycopg.types.json import set_json_loads
        except ImportError:
            conn.close()
            return None
        set_json_loads(orjson.loads, conn)  # as make_engine's json_deserializer
    return LiteReader(conn, backend)
