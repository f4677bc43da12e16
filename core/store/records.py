"""Plain records of the lifecycle's hot tables, read and written with :mod:`core.store.fastsql`.

Why not ORM rows: docs/performance.md, D1. A record is the row's columns in ``__slots__`` (their
names and types generated from the schema, :mod:`core.readmodels.proposal`) plus the set of columns
assigned since it was loaded; :meth:`Record.save` writes just those in one ``UPDATE``.

Concurrency is what the ORM gave: a proposal row carries ``version`` (the ORM's
``version_id_col``), every save bumps it and matches the version it read, and a save that
matches nothing raises :class:`~core.kernel.errors.Conflict` — someone else changed the proposal in the
meantime, exactly as the ORM's ``StaleDataError`` did. Loading with ``for_update`` also locks the
row on PostgreSQL (SQLite writers hold the database's one write lock already).

Values go through the column types' own converters (fastsql), so a record and an ORM row read
the same database identically; the schema's ``Table`` objects define every statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, ClassVar, Self, cast

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    FromClause,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    delete,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from core.kernel.errors import Conflict, NotFound
from core.readmodels.proposal import (
    DECISION_COLUMNS,
    EXECUTION_COLUMNS,
    PROPOSAL_COLUMNS,
    DecisionFields,
    ExecutionFields,
    ProposalFields,
)
from core.store.fastsql import Prepared
from core.store.schema import ExecutionRow, PolicyDecisionRow, ProposalRow


# ---------------------------------------------------------------------------- a list as one parameter
class IdList(TypeDecorator[list[str]]):
    """A list of strings bound as ONE parameter: JSON text on SQLite (read with ``json_each``), an
    array on PostgreSQL (``= ANY``). Why: docs/performance.md, D2."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(ARRAY(String)) if dialect.name == "postgresql" else dialect.type_descriptor(
            String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        import orjson

        return orjson.dumps(list(value)).decode()


class _Among(ColumnElement[bool]):
    """``column IN <the list bound as parameter name>`` (see :class:`IdList`)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison, not ``... = 1`` (docs/performance.md, D2)

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.param = bindparam(name, type_=IdList())


@compiles(_Among)
def _among_default(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} IN "
            f"(SELECT value FROM json_each({compiler.process(element.param, **kw)}))")


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.param, **kw)})"


def among(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column`` is one of the list passed as parameter ``name`` (one bound parameter)."""
    return _Among(column, name)


# ---------------------------------------------------------------------------- JSON columns read as text
class _JsonText(TypeDecorator[Any]):
    """A JSON column's stored text, decoded by the result converter (orjson, as the engine's
    ``json_deserializer`` and the column's own converter decode it): a :class:`Record` then
    decodes it only when the column is first read."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)


def record_columns(table: FromClause) -> list[ColumnElement[Any]]:
    """A table's columns for a :class:`Record`, each ``JSON`` one selected as its text, so it reaches
    the record undecoded on both backends (docs/performance.md, D3; SQLite keeps JSON as text
    already, the cast changes nothing there)."""
    return [type_coerce(sql_cast(c, Text), _JsonText).label(c.name) if type(c.type) is JSON else c
            for c in table.columns]


# ---------------------------------------------------------------------------- records
class Record:
    """The columns of one row and which were assigned since it was read.

    A JSON column read from the database is decoded when it is first read, not when the row is
    (a proposal's preview or a decision's input is a large document most readers never look at);
    the decoded value is what the column type's own converter gives."""

    table: ClassVar[Table]
    columns: ClassVar[tuple[str, ...]]
    pk: ClassVar[str] = "id"
    __slots__ = ("_dirty", "_pending")
    _dirty: set[str]
    _pending: dict[str, tuple[Any, Any]] | None
    _updates: ClassVar[dict[frozenset[str], Prepared]]
    _guard: ClassVar[threading.Lock]
    _lazy: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.columns = tuple(c.name for c in cls.table.columns)
        cls._lazy = frozenset(c.name for c in cls.table.columns if isinstance(c.type, JSON))
        cls._updates = {}
        cls._guard = threading.Lock()

    def __init__(self, values: Iterable[Any] | None = None, **named: Any) -> None:
        if values is not None:
            for name, value in zip(self.columns, values, strict=True):
                object.__setattr__(self, name, value)
        else:
            for name in self.columns:
                object.__setattr__(self, name, named.get(name))
        object.__setattr__(self, "_dirty", set())
        object.__setattr__(self, "_pending", None)

    @classmethod
    def from_driver(cls, converters: list[Any], raw: tuple[Any, ...]) -> Self:
        """A record of a row as the driver returned it (``Prepared.raw``): every column converted
        now, but a JSON column only when it is first read."""
        rec = cls.__new__(cls)
        pending: dict[str, tuple[Any, Any]] = {}
        lazy = cls._lazy
        for name, fn, value in zip(cls.columns, converters, raw, strict=True):
            if fn is None or value is None:
                object.__setattr__(rec, name, value)
            elif name in lazy:
                pending[name] = (fn, value)
            else:
                object.__setattr__(rec, name, fn(value))
        object.__setattr__(rec, "_dirty", set())
        object.__setattr__(rec, "_pending", pending or None)
        return rec

    def __getattr__(self, name: str) -> Any:
        """Only reached for a slot not set yet: a JSON column still to decode."""
        pending = object.__getattribute__(self, "_pending")
        if pending is not None and name in pending:
            fn, value = pending.pop(name)
            decoded = fn(value)
            object.__setattr__(self, name, decoded)
            return decoded
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        pending = self._pending
        if pending is not None:
            pending.pop(name, None)
        object.__setattr__(self, name, value)
        self._dirty.add(name)

    def values(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in self.columns}

    @classmethod
    def _select(cls) -> Any:
        return select(*record_columns(cls.table))

    @classmethod
    def rows(cls, s: Session | Connection, stmt: Prepared, params: dict[str, Any] | None = None) -> list[Self]:
        """Records of the rows ``stmt`` (a :meth:`_select` with conditions) returns."""
        converters, raw = stmt.raw(s, params)
        return [cls.from_driver(converters, r) for r in raw]

    def insert(self, s: Session) -> None:
        _insert_stmt(type(self)).run(s, self.values())
        self._dirty.clear()

    def _update_stmt(self, names: frozenset[str]) -> Prepared:
        cls = type(self)
        stmt = cls._updates.get(names)
        if stmt is None:
            with cls._guard:
                stmt = cls._updates.get(names)
                if stmt is None:
                    stmt = cls._updates[names] = self._build_update(names)
        return stmt

    def _build_update(self, names: frozenset[str]) -> Prepared:
        t = self.table
        return Prepared(update(t).where(t.c[self.pk] == bindparam("_key"))
                        .values({n: bindparam(f"_set_{n}", type_=t.c[n].type) for n in sorted(names)}))

    def save(self, s: Session) -> None:
        """Write the columns assigned since the record was read or saved (nothing if none)."""
        names = frozenset(self._dirty)
        if not names:
            return
        params = {f"_set_{n}": getattr(self, n) for n in names}
        params["_key"] = getattr(self, self.pk)
        if self._update_stmt(names).run(s, params) != 1:
            raise NotFound(f"{self.table.name} row {params['_key']!r} is gone")
        self._dirty.clear()


_INSERTS: dict[type[Record], Prepared] = {}


def _insert_stmt(cls: type[Record]) -> Prepared:
    stmt = _INSERTS.get(cls)
    if stmt is None:
        stmt = _INSERTS[cls] = Prepared(insert(cls.table), cls.columns)
    return stmt


_PROPOSALS = cast(Table, ProposalRow.__table__)
_EXECUTIONS = cast(Table, ExecutionRow.__table__)


class ProposalRecord(Record, ProposalFields):
    """A ``proposals`` row (see the module docstring for ``version``)."""

    table = _PROPOSALS
    __slots__ = PROPOSAL_COLUMNS  # the attributes and their types: ProposalFields (core/readmodels)

    @classmethod
    def load(cls, s: Session | Connection, pid: str, *, for_update: bool = False) -> ProposalRecord:
        """The row (``for_update``: locked on PostgreSQL), in a session or on a Core connection."""
        locked = for_update and (s.get_bind() if isinstance(s, Session) else s).dialect.name == "postgresql"
        rows = cls.rows(s, _PROPOSAL_FOR_UPDATE if locked else _PROPOSAL_BY_ID, {"pid": pid})
        if not rows:
            raise NotFound(f"unknown proposal {pid!r}; list proposals with `gateward proposals`")
        return rows[0]

    def _build_update(self, names: frozenset[str]) -> Prepared:
        t = self.table
        values: dict[str, Any] = {n: bindparam(f"_set_{n}", type_=t.c[n].type) for n in sorted(names - {"version"})}
        values["version"] = bindparam("_new_version", type_=t.c.version.type)
        return Prepared(update(t).where(t.c.id == bindparam("_key"), t.c.version == bindparam("_old_version"))
                        .values(values))

    def save(self, s: Session) -> None:
        """Write the assigned columns and bump ``version``, if nobody else did since this was read."""
        names = frozenset(self._dirty - {"version"})
        if not names:
            return
        params = {f"_set_{n}": getattr(self, n) for n in names}
        params.update(_key=self.id, _old_version=self.version, _new_version=self.version + 1)
        if self._update_stmt(names).run(s, params) != 1:
            raise Conflict(f"proposal {self.id} was changed by someone else at the same moment; reload and retry")
        object.__setattr__(self, "version", self.version + 1)
        self._dirty.clear()

    def insert(self, s: Session) -> None:
        if self.version is None:
            object.__setattr__(self, "version", 1)
        super().insert(s)


class ExecutionRecord(Record, ExecutionFields):
    """An ``executions`` row: one device's part of one apply. Only the process holding the
    device's lock writes it (recovery only once that holder is dead), so no version is needed."""

    table = _EXECUTIONS
    __slots__ = EXECUTION_COLUMNS

    @classmethod
    def for_proposal(cls, s: Session, pid: str) -> list[ExecutionRecord]:
        return cls.rows(s, _EXECUTIONS_OF, {"pid": pid})

    @classmethod
    def one(cls, s: Session, pid: str, device_id: str) -> ExecutionRecord | None:
        rows = cls.rows(s, _EXECUTION_OF, {"pid": pid, "did": device_id})
        return rows[0] if rows else None


_PROPOSAL_BY_ID = Prepared(select(*record_columns(_PROPOSALS)).where(_PROPOSALS.c.id == bindparam("pid")))
_PROPOSAL_FOR_UPDATE = Prepared(select(*record_columns(_PROPOSALS)).where(_PROPOSALS.c.id == bindparam("pid"))
                                .with_for_update())
_EXECUTIONS_OF = Prepared(select(*record_columns(_EXECUTIONS)).where(_EXECUTIONS.c.proposal_id == bindparam("pid"))
                          .order_by(_EXECUTIONS.c.device_id))
_EXECUTION_OF = Prepared(select(*record_columns(_EXECUTIONS)).where(_EXECUTIONS.c.proposal_id == bindparam("pid"),
                                                            _EXECUTIONS.c.device_id == bindparam("did")))


# ---------------------------------------------------------------------------- plain inserts and deletes
_TABLE_STMTS: dict[tuple[str, str, tuple[str, ...]], Prepared] = {}
_TABLE_GUARD = threading.Lock()


def _table_stmt(kind: str, table: Table, keys: tuple[str, ...]) -> Prepared:
    stmt = _TABLE_STMTS.get((kind, table.name, keys))
    if stmt is None:
        with _TABLE_GUARD:
            stmt = _TABLE_STMTS.get((kind, table.name, keys))
            if stmt is None:
                if kind == "insert":
                    stmt = Prepared(insert(table), keys)
                else:  # delete where every key column equals its parameter
                    stmt = Prepared(delete(table).where(*(table.c[k] == bindparam(k) for k in keys)))
                _TABLE_STMTS[(kind, table.name, keys)] = stmt
    return stmt


def insert_rows(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) in one driver call, in the session's transaction."""
    if rows:
        _table_stmt("insert", table, tuple(rows[0])).run_many(s, rows)


def delete_where(s: Session, table: Table, **equal: Any) -> int:
    """DELETE the rows whose columns equal ``equal``; returns how many."""
    return _table_stmt("delete", table, tuple(sorted(equal))).run(s, equal)


class DecisionRowRecord(Record, DecisionFields):
    """A ``policy_decisions`` row, read-only to its readers (a decision is never changed)."""

    table = cast(Table, PolicyDecisionRow.__table__)
    __slots__ = DECISION_COLUMNS
