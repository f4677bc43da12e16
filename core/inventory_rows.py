"""The ACS sync's set-based row reads and writes on ``devices`` (apart from ``core.inventory_sync``:
that module keeps the rules — change scan, presence sweep, refusals, audit — and this one
how a page's rows reach the driver).

Why by hand and not through the ORM: at 100,000 devices the per-row cost of SQLAlchemy's type
conversion was most of a first sync's database time, so a page of new rows goes to the driver in
one call (sqlite3's ``executemany``, PostgreSQL's ``COPY``) with the columns' own converters, an
update page in one ``executemany`` per set of columns, and ``IN`` lists as one bound array; the
plain case of a device's fields is checked without building pydantic models
(:func:`_plain_fields`, which defers anything else to ``core.inventory.DeviceSpec``).
"""

from __future__ import annotations

import functools
import json
import operator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ARRAY, String, Table, any_, bindparam, func, insert, literal_column, select, type_coerce, update
from sqlalchemy.exc import IntegrityError

from core.inventory import _CONTROL, _OUI, _TOKEN
from core.kernel.ids import product_class_problem, serial_problem
from core.kernel.models import Root
from core.kernel.ports.inventory import SourceDevice
from core.store import repo
from core.store.fastsql import faster
from core.store.schema import DeviceRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_DEVICES: Table = DeviceRow.__table__  # type: ignore[assignment]
_ROOTS = frozenset(str(r) for r in Root)
_NULL_COLUMNS = frozenset({"subscriber", "upstream_id", "retired_at", "absent_since"})  # NULL for a synced device
_NO_TAGS: list[str] = []  # shared by every new row; never mutated


class _Known(NamedTuple):
    """What the sync needs of a device already registered (one per device of a page)."""

    id: str
    adapter: str
    status: str
    vendor: str
    model: str
    firmware: str
    root: str
    last_seen: datetime | None
    absent_since: datetime | None
    known: bool  # the ACS has listed it before (``acs_seen_at`` is set)


def _rows_by_id(s: Session, ids: list[str]) -> dict[str, _Known]:
    """The registered devices among ``ids``. The two dates come back as the driver stores them
    (``type_coerce``) and are read by :func:`_stored_time`: the ORM's per-value conversion chain
    was most of this query's cost when a re-sync re-reads every device."""
    if not ids:
        return {}
    cols = (DeviceRow.id, DeviceRow.adapter, DeviceRow.status, DeviceRow.vendor, DeviceRow.model,
            DeviceRow.firmware, DeviceRow.root, type_coerce(DeviceRow.last_seen, String),
            type_coerce(DeviceRow.absent_since, String), DeviceRow.acs_seen_at.is_not(None))
    out = {}
    for did, adapter, status, vendor, model, firmware, root, seen, absent, known in s.execute(
            select(*cols).where(_among(s, DeviceRow.id, ids))):
        out[did] = _Known(did, adapter, status, vendor, model, firmware, root, _stored_time(seen),
                          _stored_time(absent), bool(known))
    return out


def _stored_time(value: Any) -> datetime | None:
    """A ``UTCDateTime`` value as the driver returns it → aware UTC (``UTCDateTime``'s own rule):
    text on SQLite (naive UTC), a datetime on PostgreSQL."""
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _units(s: Session, devices: list[SourceDevice]) -> dict[tuple[str, str], tuple[str, str]]:
    """``(OUI, serial) → (id, adapter)`` already registered, for the devices about to be added.

    Asked by serial alone (``ix_devices_serial``, one probe per serial), the OUI compared
    case-blind here: measured 1.6x cheaper than asking for every case spelling of each OUI with
    the serials, and the only unit index ``devices`` keeps (migration 0018)."""
    wanted = {(d.oui.upper(), d.serial) for d in devices}
    if not wanted:
        return {}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for did, oui, serial, adapter in s.execute(_units_query(s, sorted({serial for _, serial in wanted}))):
        key = ((oui or "").upper(), serial)
        if key in wanted:
            out[key] = (did, adapter)
    return out


def _units_query(s: Session, serials: list[str]) -> Any:
    """``id, oui, serial, adapter`` of the devices with these serials (``ix_devices_serial``)."""
    return select(DeviceRow.id, DeviceRow.oui, DeviceRow.serial, DeviceRow.adapter).where(
        _among(s, DeviceRow.serial, serials))


def _insert_devices(s: Session, rows: list[tuple[Any, ...]], now: datetime, adapter: str) -> None:
    """Insert a page of new device rows (``_ROW_COLUMNS`` tuples) in one driver call: sqlite3's
    ``executemany`` (its loop runs in C), PostgreSQL's ``COPY`` (:func:`_copy_devices`).

    Why not ``session.execute(insert(table), rows)``: SQLAlchemy then converts every value of
    every row through its type (about 20 µs a row, most of a first sync's database time). Here the
    statement is compiled by SQLAlchemy for the session's dialect (once), each converter is the
    column type's own ``bind_processor`` (so values are stored exactly as the ORM stores them),
    the page's constants (``_PAGE_COLUMNS``: adapter, tags, timestamps, status) are converted once
    a page, and only a column whose type converts (``last_seen``) is converted per row. A table
    with a column this does not know (a later migration) takes the plain Core path, so no column
    is ever silently left NULL."""
    dialect = s.get_bind().dialect
    page = {"adapter": adapter, "tags": _NO_TAGS, "created_at": now, "status": repo.ACTIVE, "acs_seen_at": now}
    plan = _insert_plan(dialect)
    if plan is None:
        s.execute(insert(_DEVICES), [{**dict(zip(_ROW_COLUMNS, r, strict=True)), **page} for r in rows])
        return
    sql, convert, order = plan
    consts = tuple(_column_value(name, page[name], dialect) for name in _PAGE_COLUMNS)
    last = len(_ROW_COLUMNS) - 1
    copy = dialect.name == "postgresql" and dialect.driver == "psycopg"  # COPY names the columns in row order
    if (order is None or copy) and [i for i, _ in convert] == [last]:  # the common plan: rows built in one pass
        fn = convert[0][1]
        params: list[Any] = [(*r[:last], fn(r[last]), *consts) for r in rows]
        if copy:
            _copy_devices(s, params)
        else:
            s.connection().exec_driver_sql(sql, params)
        return
    for i, fn in convert:  # the per-row columns whose type converts (``last_seen``)
        rows = [(*r[:i], fn(r[i]), *r[i + 1:]) for r in rows]
    if copy:
        _copy_devices(s, [r + consts for r in rows])
        return
    params = [r + consts for r in rows]
    if order is not None:  # the dialect's own placeholder order / named style
        params = [order(p) for p in params]
    s.connection().exec_driver_sql(sql, params)


def _copy_devices(s: Session, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the page's rows in one ``COPY … FROM STDIN`` on the session's own connection
    (its transaction): psycopg writes each row in C, where its ``executemany`` adapted every
    parameter in Python (25 µs a row, twice SQLite's insert). A duplicate key fails the whole
    COPY, raised as SQLAlchemy's ``IntegrityError`` like the ``INSERT`` it replaces."""
    import psycopg

    conn = s.connection()
    raw = conn.connection.driver_connection
    if raw is None:  # a pooled connection always has one; the type says it may not
        raise RuntimeError("no driver connection for COPY")
    statement = f"COPY {_DEVICES.name} ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc


#: What :func:`_insert_devices` writes: the per-device values (:meth:`InventorySync._new_row`'s
#: tuple, in this order), then the page's constants; every other column is NULL (``_NULL_COLUMNS``).
_ROW_COLUMNS = ("id", "vendor", "model", "product_class", "oui", "serial", "firmware", "root", "protocol", "region",
                "service", "last_seen")
_PAGE_COLUMNS = ("adapter", "tags", "created_at", "status", "acs_seen_at")
_INSERT_COLUMNS = _ROW_COLUMNS + _PAGE_COLUMNS


def _column_value(name: str, value: Any, dialect: Any) -> Any:
    """One value as the driver takes it (the column type's own ``bind_processor``)."""
    convert = _DEVICES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return value if convert is None or value is None else convert(value)


@functools.lru_cache(maxsize=8)
def _insert_plan(dialect: Any) -> tuple[str, list[tuple[int, Any]], Any] | None:
    """The compiled ``INSERT`` for ``_INSERT_COLUMNS`` on ``dialect``, the per-row converters
    (index, function) and how to turn a row tuple into the driver's parameters (``None``: as it
    is); ``None`` when the table has columns this module does not fill (the Core path then)."""
    if {c.name for c in _DEVICES.columns} - _NULL_COLUMNS != set(_INSERT_COLUMNS):
        return None
    compiled = insert(_DEVICES).compile(dialect=dialect, column_keys=list(_INSERT_COLUMNS))
    if not compiled.positional and dialect.name == "postgresql":  # psycopg takes %s too: tuples, not dicts
        compiled = insert(_DEVICES).compile(dialect=type(dialect)(paramstyle="format"),
                                            column_keys=list(_INSERT_COLUMNS))
    convert = []
    for i, name in enumerate(_ROW_COLUMNS):
        fn = _DEVICES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if fn is not None:  # a TypeDecorator's processor passes None through
            convert.append((i, faster(fn)))
    order: Any = None
    sql = str(compiled)
    if compiled.positional and dialect.paramstyle == "qmark":
        # SQLAlchemy lists the columns in the table's order; the same statement listing them in
        # the row's order needs no per-row reorder (sqlite3 binds the tuples as they are).
        prep = dialect.identifier_preparer
        sql = (f"INSERT INTO {prep.format_table(_DEVICES)} ({', '.join(prep.quote(n) for n in _INSERT_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})")
    elif compiled.positional:  # the statement lists the columns in the table's order: one C-level reorder
        names = list(compiled.positiontup or ())
        if names != list(_INSERT_COLUMNS):
            order = operator.itemgetter(*(_INSERT_COLUMNS.index(n) for n in names))
    else:
        order = lambda row: dict(zip(_INSERT_COLUMNS, row, strict=True))  # noqa: E731
    return sql, convert, order


def _update_devices(s: Session, rows: list[dict[str, Any]]) -> None:
    """``UPDATE devices SET … WHERE id = …`` for a page of rows, one driver ``executemany`` per
    set of columns (nearly always one: ``last_seen`` and ``acs_seen_at``), values converted by the
    columns' own types as in :func:`_insert_devices` (the ORM's bulk update cost ~20 µs a row)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(r)), []).append(r)
    dialect = s.get_bind().dialect
    for keys, group in groups.items():
        names = [k for k in keys if k != "id"]
        stmt = (update(_DEVICES).where(_DEVICES.c.id == bindparam("key_id"))
                .values({k: bindparam(f"set_{k}") for k in names}))
        compiled = stmt.compile(dialect=dialect)
        values = {f"set_{k}": _column_values(_DEVICES.c[k], [r[k] for r in group], dialect) for k in names}
        values["key_id"] = _column_values(_DEVICES.c.id, [r["id"] for r in group], dialect)
        s.connection().exec_driver_sql(str(compiled), _driver_params(compiled, values))


def _column_values(column: Any, values: list[Any], dialect: Any) -> list[Any]:
    """A column's values as the driver takes them (the column type's own ``bind_processor``)."""
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    return values if convert is None else _converted(values, convert)


def _driver_params(compiled: Any, values: dict[str, list[Any]]) -> list[Any]:
    """Per-row parameters in the compiled statement's own style (positional or named)."""
    if compiled.positional:
        order = [values[name] for name in compiled.positiontup or ()]
        return list(zip(*order, strict=True))
    names = list(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]


def _converted(column: list[Any], convert: Any) -> list[Any]:
    """A column's values for the driver: one conversion when the page shares the value."""
    first = column[0]
    if all(v is first for v in column):
        return [convert(first)] * len(column)
    return [convert(v) for v in column]


def _among(s: Session, column: Any, values: list[str]) -> Any:
    """``column IN values`` as ONE bound parameter, whatever the number of values: a JSON array
    read with ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. Binding a thousand
    parameters per statement (and SQLite's cap on them) cost more than the statement's work."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(values))))
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)


def _token(value: str, max_len: int) -> bool:
    """A stripped, non-empty identity part of at most ``max_len`` characters: printable, no spaces."""
    return 0 < len(value) <= max_len and _TOKEN.match(value) is not None


def _text_ok(value: str, max_len: int) -> bool:
    """A stripped, non-empty free-text field of at most ``max_len`` characters, no control characters."""
    return 0 < len(value) <= max_len and value == value.strip() and _CONTROL.search(value) is None


@functools.lru_cache(maxsize=4096)
def _plain_model(oui: str, pc: str, vendor: str, model: str, firmware: str, root: str, region: str,
                 service: str) -> bool:
    """The per-model part of :func:`_plain_fields` (a fleet has a few hundred models and
    firmwares, not 100,000): memoised, as it depends on nothing but its arguments."""
    return bool(_OUI.match(oui) and "-" not in pc and _token(pc, 64) and product_class_problem(pc) is None
                and root in _ROOTS and _text_ok(vendor, 64)
                and _text_ok(model, 64) and _text_ok(firmware, 64) and _text_ok(region, 16)
                and _text_ok(service, 32))


def _plain_fields(d: SourceDevice, region: str, service: str, protocol: str) -> tuple[str, ...] | None:
    """The device fields when ``DeviceSpec`` would accept them unchanged, else ``None``.

    Conservative on purpose: it accepts only what ``DeviceSpec`` accepts *and leaves as given*
    (an upper-case six-hex-digit OUI, a product class without ``-``, identity parts that are
    printable without spaces, stripped text within the column sizes, a known root); the rest
    (refusals, normalisation) is ``DeviceSpec``'s, so the two cannot disagree on a device
    (``tests/inventory/test_acs_sync.py`` checks both paths give the same row)."""
    oui, pc, serial = d.oui, d.product_class, d.serial
    vendor, model, firmware = d.manufacturer[:64], d.model[:64], d.firmware[:64]
    root = str(d.root)
    if serial_problem(serial) is not None:
        return None
    if not (_token(serial, 64) and _plain_model(oui, pc, vendor, model, firmware, root, region, service)):
        return None
    device_id = f"{oui}-{pc}-{serial}"
    if len(device_id) > 128 or d.device_id != device_id:
        return None
    return (device_id, vendor, model, pc, oui, serial, firmware, root, protocol, region, service)  # _ROW_COLUMNS
