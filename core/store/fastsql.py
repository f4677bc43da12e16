"""Statements compiled once per dialect and run on the session's own DB-API cursor.

Why: docs/performance.md, D4 (through SQLAlchemy a hot statement cost 10–20× the database's work).

A :class:`Prepared` keeps what SQLAlchemy would redo on every call: the SQL text compiled for the
dialect, the order of its parameters, and each parameter's and result column's converter — the
column types' own ``bind_processor`` / ``result_processor``, so values are stored and read back
exactly as the ORM stores and reads them (UTC datetimes, JSON through the engine's orjson
serialiser, booleans). It runs on ``session.connection()``'s DB-API connection, inside the
session's transaction (SQLite's ``BEGIN IMMEDIATE`` included), so it commits or rolls back with
the rest of the transaction. Statements are written with SQLAlchemy's constructs against the
schema's tables, never as SQL strings, so they follow the schema and the dialect.

Not supported (refused when prepared): "expanding" ``IN`` parameters and statements whose
parameters SQLAlchemy renders differently per call; use SQLAlchemy for those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Converter = Callable[[Any], Any]


class _Plan:
    """One statement on one dialect: SQL text, how to build the driver's parameters, converters."""

    __slots__ = ("_dialect", "_types", "fixed", "names", "positional", "processors", "results", "sql")

    def __init__(self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None,
                 schema_map: Mapping[str | None, str] | None = None) -> None:
        extra: dict[str, Any] = {"schema_translate_map": dict(schema_map), "render_schema_translate": True} \
            if schema_map else {}
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect,
                                                  column_keys=list(column_keys) if column_keys else None, **extra))
        if any(getattr(b, "expanding", False) for b in compiled.binds.values()):
            raise ValueError("fastsql: expanding IN parameters are not supported; use SQLAlchemy")
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.names: list[str] = list(compiled.positiontup or []) if self.positional else list(compiled.binds)
        processors: dict[str, Converter] = {}
        fixed: dict[str, Any] = {}  # values the statement carries itself (``== 1``, ``limit(1)``)
        for name in set(self.names):
            bind = compiled.binds[name]
            fn = faster(bind.type.dialect_impl(dialect).bind_processor(dialect))
            if fn is not None:
                processors[name] = fn
            if not bind.required and not (column_keys and name in column_keys):
                value = bind.effective_value
                fixed[name] = fn(value) if fn is not None and value is not None else value
        self.processors = processors
        self.fixed = fixed
        self._types = [col.type.dialect_impl(dialect) for col in getattr(stmt, "selected_columns", ())]
        self._dialect = dialect
        self.results: list[Converter | None] | None = None  # from the first result's column type codes

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for one row of ``values`` (bind name → Python value)."""
        procs, fixed = self.processors, self.fixed
        out = [fixed[n] if n in fixed else (procs[n](values[n]) if n in procs and values[n] is not None
                                            else values[n]) for n in self.names]
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))

    def converters(self, cursor: Any) -> list[Converter | None]:
        """The result columns' converters; a driver's type code (PostgreSQL's OIDs) may decide one.

        The cursor's ``description`` is read the first time only: psycopg builds a ``Column``
        object per column on every read of it, ~40 µs for a ``proposals`` row, which every
        statement of a proposal's life paid again for converters already known."""
        if self.results is None:
            description = cursor.description
            codes = [d[1] for d in description] if description else [None] * len(self._types)
            found = [t.result_processor(self._dialect, code) for t, code in zip(self._types, codes, strict=False)]
            self.results = found if any(f is not None for f in found) else []
        return self.results

    def rows(self, raw: Sequence[Sequence[Any]], cursor: Any) -> list[tuple[Any, ...]]:
        fns = self.converters(cursor)
        if not fns:  # the drivers' rows are tuples already (sqlite3, psycopg's default row factory)
            if isinstance(raw, list) and all(type(r) is tuple for r in raw[:1]):
                return cast(list[tuple[Any, ...]], raw)
            return [tuple(r) for r in raw]
        return [tuple(fn(v) if fn is not None else v for fn, v in zip(fns, r, strict=True)) for r in raw]


class Prepared:
    """A statement built with SQLAlchemy, compiled once per dialect, run on the raw cursor.

    ``column_keys`` names the columns an ``insert()``/``update()`` without ``.values()`` sets
    (as ``Connection.execute(insert(t), rows)`` infers them from the first row). ``schema_map``:
    the ``schema_translate_map`` an engine would apply (tables of schema None in schema "x"),
    rendered into the SQL text once."""

    def __init__(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None, *,
                 schema_map: Mapping[str | None, str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = tuple(column_keys) if column_keys else None
        self.schema_map = dict(schema_map) if schema_map else None
        self._plans: dict[int, _Plan] = {}
        self._guard = threading.Lock()

    def plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(id(dialect))
        if plan is None:
            with self._guard:
                plan = self._plans.get(id(dialect))
                if plan is None:
                    plan = self._plans[id(dialect)] = _Plan(self.stmt, dialect, self.column_keys, self.schema_map)
        return plan

    def _cursor(self, s: Session | Connection) -> tuple[Any, _Plan, Dialect, bool]:
        """A cursor on ``s``'s DB-API connection, its plan, the dialect, and whether the cursor is
        the transaction's shared one (not to be closed: ``driver_cursor``)."""
        cur, dialect, shared = driver_cursor(s)
        return cur, self.plan(dialect), dialect, shared

    @staticmethod
    def _translate(exc: Exception, plan: _Plan, params: Any, dialect: Dialect) -> Exception:
        """A driver error as SQLAlchemy would raise it (``IntegrityError``, ``OperationalError``,
        …), so callers catch one hierarchy whichever path ran the statement."""
        dbapi = dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error):
            return DBAPIError.instance(plan.sql, params, exc, dbapi.Error, dialect=dialect)
        return exc

    def all(self, s: Session | Connection, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every result row, converted by the result columns' types."""
        cur, plan, dialect, shared = self._cursor(s)
        params = plan.params(values or {})
        try:
            cur.execute(plan.sql, params)
            return plan.rows(cur.fetchall(), cur)
        except Exception as exc:
            raise self._translate(exc, plan, params, dialect) from exc
        finally:
            if not shared:
                cur.close()

    def raw(self, s: Session | Connection, values: Mapping[str, Any] | None = None
            ) -> tuple[list[Converter | None], list[Any]]:
        """The result rows as the driver returned them, with each column's converter: for a caller
        that converts a column only if it is read (a large JSON document, core.store.records)."""
        cur, plan, dialect, shared = self._cursor(s)
        params = plan.params(values or {})
        try:
            cur.execute(plan.sql, params)
            rows = cur.fetchall()
            return plan.converters(cur) or [None] * len(plan._types), rows
        except Exception as exc:
            raise self._translate(exc, plan, params, dialect) from exc
        finally:
            if not shared:
                cur.close()

    def first(self, s: Session | Connection, values: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.all(s, values)
        return rows[0] if rows else None

    def run(self, s: Session | Connection, values: Mapping[str, Any] | None = None) -> int:
        """Execute a statement that returns no rows; returns the row count."""
        cur, plan, dialect, shared = self._cursor(s)
        params = plan.params(values or {})
        try:
            cur.execute(plan.sql, params)
            return int(cur.rowcount)
        except Exception as exc:
            raise self._translate(exc, plan, params, dialect) from exc
        finally:
            if not shared:
                cur.close()

    def run_many(self, s: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row of values in one driver call (``executemany``)."""
        if not rows:
            return
        cur, plan, dialect, shared = self._cursor(s)
        params = [plan.params(r) for r in rows]
        try:
            if len(params) == 1:  # psycopg runs executemany in pipeline mode: costly for one row
                cur.execute(plan.sql, params[0])
            else:
                cur.executemany(plan.sql, params)
        except Exception as exc:
            raise self._translate(exc, plan, params, dialect) from exc
        finally:
            if not shared:
                cur.close()


_RAW = "gateward_fastsql_raw"  # Session.info: (the session's transaction, DB-API connection, dialect, cursor)


def driver_connection(s: Session | Connection) -> tuple[Any, Dialect]:
    """The DB-API connection ``s`` runs its transaction on, and its dialect.

    For a Session: first what an ORM query does (autoflush: objects added or changed in this
    session are written, so the raw statement sees them); the connection is remembered for the
    session's current transaction, since asking the Session for it cost more than most of the
    statements run on it."""
    if not isinstance(s, Session):
        raw = s.connection.driver_connection
        assert raw is not None
        return raw, s.dialect
    if not s._is_clean():
        s._autoflush()
    cached = s.info.get(_RAW)
    tx = s._transaction
    if cached is not None and tx is not None and cached[0] is tx:
        return cached[1], cached[2]
    conn = s.connection()
    raw = conn.connection.driver_connection
    assert raw is not None
    s.info[_RAW] = (s._transaction, raw, conn.dialect, None)
    return raw, conn.dialect


def driver_cursor(s: Session | Connection) -> tuple[Any, Dialect, bool]:
    """A DB-API cursor for one statement on ``s``'s connection, its dialect, and whether it is
    shared. A Session's transaction keeps one cursor for all its statements — every statement
    here fetches its rows before the next one runs — instead of one per statement: psycopg builds
    a cursor and its adaptation context each time, ~13 µs of a ~55 µs statement on this machine
   . It is closed with the session (the DB-API closes a connection's cursors with it)."""
    raw, dialect = driver_connection(s)
    if not isinstance(s, Session):
        return raw.cursor(), dialect, False
    cached = s.info[_RAW]
    cur = cached[3]
    if cur is None or getattr(cur, "closed", False):
        cur = raw.cursor()
        s.info[_RAW] = (*cached[:3], cur)
    return cur, dialect, True


# ---------------------------------------------------------------------------- faster converters
def sqlite_time(value: datetime | None) -> str | None:
    """A ``UTCDateTime`` as SQLite stores it (naive UTC text, microseconds always written) in one
    C call: SQLAlchemy's SQLite ``DateTime`` processor formats through a dict of nine fields,
    the costliest converter on the lifecycle's hot path. Used only where :func:`faster` found it
    writes exactly what the type's own processor writes."""
    if value is None:
        return None
    tz = value.tzinfo
    if tz is UTC:  # what the parser yields: the text less its "+00:00"
        return value.isoformat(" ", "microseconds")[:-6]
    if tz is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


_TIME_SAMPLES = (datetime(2026, 11, 22, 14, 3, 7, 12), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                 datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                 datetime(2026, 6, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))))


def same_text_time(processor: Converter) -> bool:
    """Whether :func:`sqlite_time` gives what ``processor`` gives (naive, UTC, other offsets,
    whole seconds, early years): the shortcut checks itself rather than assume a storage format."""
    try:
        return all(processor(v) == sqlite_time(v) for v in _TIME_SAMPLES)
    except Exception:  # a processor that refuses a sample (not a datetime type): keep it
        return False


def faster(processor: Converter | None) -> Converter | None:
    """``processor``, or an equivalent that costs less (checked on samples, never assumed)."""
    if processor is not None and same_text_time(processor):
        return sqlite_time
    return processor
