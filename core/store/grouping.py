"""Fleet-wide grouping statements hash on PostgreSQL, whatever the planner estimates.

Why (campaign gate at a million devices): the planner knows nothing of a proposal's
targets written a moment ago — ``proposal_devices`` rows of a new proposal id are estimated at a
few hundred — so it sorted every target row (on disk, ``work_mem`` 4 MB) before counting a few
dozen groups: at 100,000 targets 5.0 s of a 5.0 s preview query and 2.1 s of the decision's, the
sort's external merge growing with the fleet. Hashing needs a table of the distinct keys only.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import starmap
from typing import Any

import orjson
from sqlalchemy import Select, bindparam
from sqlalchemy.orm import Session

from core.store.fastsql import Prepared, driver_connection
from core.store.lite_pragmas import BEGUN, sqlite_pragmas
from core.store.schema import ProposalDeviceRow

log = logging.getLogger("gateward.store")

# What a fleet-wide grouping statement runs with on PostgreSQL, for that statement only: no sort
# where a hash does (grouping, joining), memory for the hash join of a million targets, and no JIT:
# a disabled sort still costed (1e10 added to any plan that keeps one, e.g. ordering four groups)
# put every such plan above jit_above_cost, and compiling cost ~0.7 s a statement — a 2,000-device
# gate went from 0.9 s to 2.4 s. The statements run as before the planner's estimate mattered.
_PG_GROUPING = (("enable_sort", "off"), ("work_mem", "64MB"), ("jit", "off"))
# Grouping fewer targets than this runs with the transaction's own settings: a few hundred rows
# sort in memory in no time, and a plan that small stays far below ``jit_above_cost``.
HASH_GROUPING_MIN = 1_000

_PG_READ = "SELECT " + ", ".join(f"current_setting('{name}')" for name, _ in _PG_GROUPING)
_PG_SET = "SELECT " + ", ".join(f"set_config('{name}', %s, true)" for name, _ in _PG_GROUPING)


@contextmanager
def hash_grouping(s: Session, rows: int | None = None) -> Iterator[None]:
    """Statements run inside group by hashing on PostgreSQL; the transaction's own settings are
    restored afterwards (``set_config(..., true)``: this transaction only). Nothing on SQLite, nor
    for ``rows`` (the targets grouped, when the caller knows) below ``HASH_GROUPING_MIN``: the
    settings would cost three round trips to save nothing.

    Three round trips (read, set, restore) whatever the number of settings: they were one per
    setting, nine for each single-device proposal validated — an eighth of the statements of its
    life on PostgreSQL (``POST /api/proposals``)."""
    if s.get_bind().dialect.name != "postgresql" or (rows is not None and rows < HASH_GROUPING_MIN):
        yield
        return
    raw, _ = driver_connection(s)
    cur = raw.cursor()
    try:
        before = cur.execute(_PG_READ).fetchone()
        cur.execute(_PG_SET, tuple(value for _, value in _PG_GROUPING))
        yield
        cur.execute(_PG_SET, tuple(before))
    finally:
        cur.close()


# A proposal with at least this many targets has its statistics taken as its targets are recorded.
PLANNER_STATS_MIN = 10_000
_ANALYZE_LOCK_WAIT = "200ms"


def analyze_targets(s: Session) -> bool:
    """PostgreSQL: refresh the planner's statistics of ``proposal_devices`` in the caller's
    transaction, right after a large target set was written. True if they were taken.

    Why (campaign gate): the planner knew nothing of a proposal's targets written a
    moment ago and estimated a few hundred rows for a million, so every fleet statement joined by
    a million index probes per table. ANALYZE in the same transaction counts its own new rows, and
    the statements of the gate then hash-join: on the 1M bench database the preview's grouping
    went from 6.6 to 3.5 s and the classes' from 5.8 to 1.8 s, for 0.08 s of sampling (a fixed
    sample, whatever the table's size). Its lock (SHARE UPDATE EXCLUSIVE, to the transaction's
    end) is waited for at most ``_ANALYZE_LOCK_WAIT`` — a VACUUM or another large proposal being
    recorded — then skipped in a savepoint: the plans are slower, the answers the same. A role that
    does not own the table is told so by a warning and nothing else. Nothing on SQLite."""
    if s.get_bind().dialect.name != "postgresql":
        return False
    from psycopg import errors

    raw, _ = driver_connection(s)
    cur = raw.cursor()
    try:
        prev = cur.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
        cur.execute("SAVEPOINT gateward_analyze")
        try:
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (_ANALYZE_LOCK_WAIT,))
            cur.execute("ANALYZE proposal_devices")
            cur.execute("RELEASE SAVEPOINT gateward_analyze")
            return True
        except errors.Error as exc:  # the lock not had in time, or anything else: the plans, not the answers
            cur.execute("ROLLBACK TO SAVEPOINT gateward_analyze")
            log.info("proposal_devices' statistics not taken (%s): %s", type(exc).__name__, exc)
            return False
        finally:
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (prev,))
    finally:
        cur.close()


_TEMP_NAMES = itertools.count()

# A pass over at least this many targets is cut into ranges of target id, one per core, each run on
# its own connection at once (SQLite, a file database; :func:`sqlite_groups`).
PARALLEL_MIN = 200_000
_MAX_PARTS = 4


@dataclass(frozen=True)
class TargetSplit:
    """A grouping pass over the targets of proposal ``pid`` (``rows`` of them) that may be cut
    into ranges of ``proposal_devices.device_id``: the statement joins ``proposal_devices``."""

    pid: str
    rows: int


def sqlite_groups(s: Session, stmt: Prepared | Select[Any], params: dict[str, Any] | None = None, *,
                  skip: Collection[str] = (), split: TargetSplit | None = None) -> list[tuple[Any, int, Any]]:
    """SQLite: ``stmt`` selects ``(key)`` or ``(key, value)`` per row; each distinct key with its
    row count and smallest value (None without one), as ``count(*), min(value) ... GROUP BY key``
    gives them, in key order. Rows whose value is in ``skip`` are left out; a NULL key is refused.

    Why not ``GROUP BY``: SQLite sorts every row by the key before it groups (at a million targets
    of a fleet proposal, ~3x the cost of reading them). Why not in Python either (what this did
    before): handing a million rows to Python costs more than reading them — each row a tuple and
    its strings decoded. Instead the rows never leave SQLite: each one is upserted into a temporary
    table with one row per key (a few dozen rows, in memory), so per target one probe of a tiny
    B-tree. Measured on a million targets: the classes with their first id 0.95 s against 1.6–1.9 s
    streamed into a dict, per-key counts 1.2–1.4 s against 1.7–1.8 s into a ``Counter``.

    The temporary table belongs to this connection, is named uniquely and is dropped before
    returning, whatever happens; it lives in the temp database (``temp_store=MEMORY``), so a
    read-only transaction on the main database stays one.

    ``split``: a pass over a proposal's targets. With at least ``PARALLEL_MIN`` of them, and more
    than one core, it is cut into equal ranges of target id, each grouped on a connection of its
    own in a thread of its own (SQLite releases the GIL while it steps), and the groups merged; if
    one of those connections fails, the pass runs again on this one (a warning says so).
    Measured on the 1M bench database, the decision's pass: 3.5–3.6 s on one connection, 2.3–2.5 s
    on two cores. Only when what those connections read is what this transaction
    reads (:func:`_parallel_ranges`); otherwise one connection, as without ``split``."""
    prepared = stmt if isinstance(stmt, Prepared) else Prepared(stmt)
    raw, dialect = driver_connection(s)
    ncols = len(getattr(prepared.stmt, "selected_columns", ())) or 1
    skip_arg = (orjson.dumps(sorted(skip)).decode(),) if skip else ()
    ranges = _parallel_ranges(s, raw, split) if split is not None else None
    if ranges is not None:
        try:
            return _group_cut(s, dialect, prepared, params, skip_arg, ncols, ranges)
        except Exception as exc:  # an extra connection failed: the pass is still owed, on this one
            log.warning("a fleet pass cut across %d connections failed (%s: %s); grouping on one",
                        len(ranges), type(exc).__name__, exc)
    plan = prepared.plan(dialect)
    return _group_on(raw, plan.sql, tuple(plan.params(params or {})) + skip_arg, ncols, bool(skip))


def _group_cut(s: Session, dialect: Any, prepared: Prepared, params: dict[str, Any] | None,
               skip_arg: tuple[str, ...], ncols: int,
               ranges: list[tuple[str | None, str | None]]) -> list[tuple[Any, int, Any]]:
    """:func:`sqlite_groups` over ``ranges`` of target id, each on a new connection in its own
    thread, the groups merged as one connection would have counted them."""
    engine = s.get_bind().engine
    jobs = []
    for lo, hi in ranges:
        part: Select[Any] = prepared.stmt  # type: ignore[assignment] # a split pass is a SELECT
        if lo is not None:
            part = part.where(ProposalDeviceRow.device_id >= bindparam("gw_part_lo", lo))
        if hi is not None:
            part = part.where(ProposalDeviceRow.device_id < bindparam("gw_part_hi", hi))
        plan = Prepared(part).plan(dialect)
        jobs.append((plan.sql, tuple(plan.params({**(params or {}), "gw_part_lo": lo, "gw_part_hi": hi})) + skip_arg))
    skip = bool(skip_arg)
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="gw-group") as pool:
        parts = list(pool.map(lambda job: _group_apart(engine, job[0], job[1], ncols, skip), jobs))
    merged: dict[Any, list[Any]] = {}
    for rows in parts:
        for k, n, v in rows:
            cur = merged.get(k)
            if cur is None:
                merged[k] = [n, v]
            else:  # as the upsert's min(v, excluded.v): NULL if either is
                cur[0] += n
                cur[1] = None if cur[1] is None or v is None else min(cur[1], v)
    return [(k, n, v) for k, (n, v) in sorted(merged.items(), key=_sqlite_order)]


def _sqlite_order(item: tuple[Any, Any]) -> tuple[int, Any]:
    """Sort keys as SQLite orders them: NULL, numbers, text, blobs (and Python can compare them)."""
    k = item[0]
    rank = 0 if k is None else 1 if isinstance(k, (int, float)) else 2 if isinstance(k, str) else 3
    return rank, (0 if k is None else k)


def parallel_parts(targets: int) -> int:
    """Into how many ranges a pass over ``targets`` targets is cut (1: not cut): one per core, at
    most ``_MAX_PARTS``, from ``PARALLEL_MIN`` targets."""
    return 1 if targets < PARALLEL_MIN else max(1, min(os.cpu_count() or 1, _MAX_PARTS))


def _parallel_ranges(s: Session, raw: Any, split: TargetSplit) -> list[tuple[str | None, str | None]] | None:
    """The ranges of target id to group apart, or None to group on this connection alone.

    Other connections read what this transaction reads only if (1) it holds SQLite's write lock
    (``BEGIN IMMEDIATE``: its snapshot is the newest, and no one can commit a newer one while it
    lives; a plain read transaction may be older than theirs), (2) it has written nothing yet (they
    do not see its uncommitted rows: the connection's change count is the one noted at its BEGIN,
    temporary tables included) and (3) the database is a file (an in-memory one is this
    connection's alone)."""
    parts = parallel_parts(split.rows)
    if parts < 2:
        return None
    engine = s.get_bind().engine
    if engine.url.database in (None, "", ":memory:") or "mode=memory" in str(engine.url):
        return None
    begun = s.connection().connection.info.get(BEGUN)
    if begun is None or not begun[0] or begun[1] != raw.total_changes:
        return None
    cur = raw.cursor()
    try:
        bounds = []
        for k in range(1, parts):
            row = cur.execute("SELECT device_id FROM proposal_devices WHERE proposal_id = ? ORDER BY device_id "
                              "LIMIT 1 OFFSET ?", (split.pid, k * split.rows // parts)).fetchone()
            if row is None:  # fewer targets than said: one connection
                return None
            bounds.append(row[0])
    finally:
        cur.close()
    edges: list[str | None] = [None, *dict.fromkeys(bounds), None]
    return list(itertools.pairwise(edges))


def _group_apart(engine: Any, sql: str, args: tuple[Any, ...], ncols: int, skip: bool) -> list[tuple[Any, int, Any]]:
    """:func:`_group_on` on a new connection to ``engine``'s database, with its pragmas, closed after."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    raw = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
    try:
        sqlite_pragmas(raw)
        return _group_on(raw, sql, args, ncols, skip)
    finally:
        raw.close()


def _group_on(raw: Any, sql: str, args: tuple[Any, ...], ncols: int, skip: bool) -> list[tuple[Any, int, Any]]:
    """The grouping itself, on the DB-API connection ``raw`` (see :func:`sqlite_groups`)."""
    cols = "k, v" if ncols == 2 else "k"
    value = "v" if ncols == 2 else "NULL"
    where = "v NOT IN (SELECT value FROM json_each(?))" if skip else "true"
    name = f"gw_groups_{next(_TEMP_NAMES)}"
    cur = raw.cursor()
    try:
        # NOT NULL: SQLite lets a non-integer primary key hold NULLs, each its own row, where GROUP BY
        # makes them one group; the keys grouped here (``json_array``) are never NULL, so one would be a bug.
        cur.execute(f"CREATE TEMP TABLE {name} (k NOT NULL PRIMARY KEY, n INTEGER NOT NULL, v)")
        try:
            # ``WHERE true``: without it SQLite would read ON CONFLICT as a join's ON.
            cur.execute(f"WITH src({cols}) AS ({sql}) INSERT INTO {name} (k, n, v) "
                        f"SELECT k, 1, {value} FROM src WHERE {where} "
                        "ON CONFLICT (k) DO UPDATE SET n = n + 1, v = min(v, excluded.v)", args)
            return [(k, int(n), v) for k, n, v in cur.execute(f"SELECT k, n, v FROM {name} ORDER BY k").fetchall()]
        finally:
            cur.execute(f"DROP TABLE temp.{name}")
    finally:
        cur.close()


def first_of_each(s: Session, stmt: Prepared, params: dict[str, Any], *,
                  split: TargetSplit | None = None) -> dict[Any, Any]:
    """``stmt`` selects ``(key, value)`` rows in ascending ``value`` order: each distinct key and its
    first (so smallest) value, as ``min(value) ... GROUP BY key`` gives them. On SQLite the rows
    never leave the database (:func:`sqlite_groups`); elsewhere they stream off the cursor into one
    dict at C speed (``dict.setdefault`` keeps the first value of each key)."""
    if s.get_bind().dialect.name == "sqlite":
        return {k: v for k, _, v in sqlite_groups(s, stmt, params, split=split)}
    raw, dialect = driver_connection(s)
    plan = stmt.plan(dialect)
    cur = raw.cursor()
    try:
        cur.execute(plan.sql, plan.params(params))
        first: dict[Any, Any] = {}
        deque(starmap(first.setdefault, cur), maxlen=0)
        return first
    finally:
        cur.close()
