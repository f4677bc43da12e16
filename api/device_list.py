"""The device list as the console pages it: keyset paging in any sort order, a search by
a parameter's stored value, and the problems a person looks for first (badges).

Why keyset and not ``OFFSET``: an offset of 900,000 makes the database walk and drop 900,000 rows,
so the deep pages of a million-device fleet took seconds and the old list stopped at "first 100".
A cursor carries the last row's sort value and id; the next page asks for rows strictly after that
pair, ``(col, id) > (v, id)``, which an index on ``(col, id)`` answers by seeking (migration 0028
adds one per sortable column). Ties are broken by ``id``, so no row is skipped or shown twice.

Why nulls are a second phase: ``last_seen`` (a device never heard from) and ``subscriber`` may be
NULL, and a row comparison with NULL is never true. The list shows such rows last in either
direction: the values first, then the NULL rows in id order, the cursor saying which phase it is in.

The parameter search reads each device's newest full snapshot (``snapshot_heads``, kept by
triggers). On PostgreSQL the test is jsonb containment, ``params @> {"<path>": {"value": v}}``,
which the GIN index of migration 0028 answers; a typed value (``36`` stored as a number, ``true``
as a boolean) is matched whichever way the device reported it. On SQLite it is ``json_extract``.
"""

from __future__ import annotations

import base64
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, text, tuple_, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.kernel.errors import Invalid
from core.kernel.jsontypes import JsonObject
from core.kernel.models import TERMINAL_STATES, utcnow
from core.store import device_search
from core.store.schema import (
    DeviceEventRow,
    DeviceRow,
    ParameterSnapshotRow,
    ProposalDeviceRow,
    ProposalRow,
    SnapshotHeadRow,
)

SortKey = Literal["problems", "id", "last_seen", "model", "firmware", "region", "subscriber"]
SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "id": DeviceRow.id, "last_seen": DeviceRow.last_seen, "model": DeviceRow.model,
    "firmware": DeviceRow.firmware, "region": DeviceRow.region, "subscriber": DeviceRow.subscriber}
NULLABLE = frozenset({"last_seen", "subscriber"})
# The console's default order: devices with a problem first (``_problems_first``).
PROBLEMS = "problems"
OUTAGE_WINDOW_H = 6.0
# A device not heard from for this long carries the "no contact for N h" badge and sorts among the
# problems (a CWMP device informs at least every periodic-inform interval, an hour by default on
# most ACS setups). Whether it is offline is its presence's to say (api.presence), not its silence.
OFFLINE_AFTER = timedelta(hours=1)
# Remediation cases a person still has to see: an applied case is waiting for its verification, not open.
OPEN_CASE_STATES = ("open", "dispatched", "proposed", "escalated")
COUNT_CAP = 10_000
# A parameter search checks each match's snapshot as it counts (~25 us each at a million devices).
PARAM_COUNT_CAP = 1_000


@dataclass(frozen=True)
class Filters:
    subscriber: str | None = None
    model: str | None = None
    firmware: str | None = None
    region: str | None = None
    status: str | None = None
    q: str | None = None
    param: str | None = None
    value: str | None = None
    offline_hours: float | None = None
    upstream_id: str | None = None


@dataclass
class Page:
    rows: list[DeviceRow]
    next_cursor: str | None
    total: int | None
    total_exact: bool = True
    badges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------- the cursor
def encode_cursor(sort: str, desc: bool, row: DeviceRow, phase: str) -> str:
    v = None if sort == PROBLEMS else getattr(row, sort)
    raw = [sort, "d" if desc else "a", phase, v.isoformat() if isinstance(v, datetime) else v, row.id]
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, desc: bool) -> tuple[str, Any, str]:
    """(phase, value, id); a cursor made for another sort order is refused, not misread."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        c_sort, c_dir, phase, value, last_id = raw
    except (ValueError, TypeError) as exc:
        raise Invalid("cursor is not one this list gave out") from exc
    if c_sort != sort or c_dir != ("d" if desc else "a") or phase not in ("v", "n", "p", "q") \
            or not isinstance(last_id, str):
        raise Invalid("cursor belongs to another sort order; start from the first page")
    if sort == "last_seen" and phase == "v":
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise Invalid("cursor is not one this list gave out") from exc
    return phase, value, last_id


# ---------------------------------------------------------------------------- filters
def _value_candidates(value: str) -> list[Any]:
    """The JSON values a typed-in ``value`` may be stored as: the text itself, and the number or
    boolean it spells (a channel is stored as 36, an AutoChannelEnable as true)."""
    out: list[Any] = [value]
    low = value.strip().lower()
    if low in ("true", "false"):
        out.append(low == "true")
    else:
        try:
            num = float(value)
        except ValueError:
            num = math.nan
        if math.isfinite(num):
            out.append(int(num) if num.is_integer() else num)
    return out


def _param_condition(dialect: str, path: str, value: str) -> ColumnElement[bool]:
    head = SnapshotHeadRow
    snap = ParameterSnapshotRow
    cands = _value_candidates(value)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        doc = type_coerce(snap.params, JSONB)
        tests = [doc.contains({path: {"value": c}}) for c in cands]
        match: ColumnElement[bool] = or_(*tests)
    else:
        extracted = func.json_extract(snap.params, f'$."{path}".value')
        sql_values = [int(c) if isinstance(c, bool) else c for c in cands]
        match = extracted.in_(sql_values)
    return exists(select(1).select_from(head).join(snap, snap.id == head.snapshot_id)
                  .where(head.device_id == DeviceRow.id, match))


def _conditions(s: Session, f: Filters, now: datetime) -> list[ColumnElement[bool]]:
    dialect = s.get_bind().dialect.name
    conds: list[ColumnElement[bool]] = []
    for col, val in ((DeviceRow.subscriber, f.subscriber), (DeviceRow.model, f.model),
                     (DeviceRow.firmware, f.firmware), (DeviceRow.region, f.region), (DeviceRow.status, f.status),
                     (DeviceRow.upstream_id, f.upstream_id)):
        if val:
            conds.append(col == val)
    if f.q:  # through an index on both databases (core.store.device_search)
        conds.append(device_search.contains(s, f.q))
    if f.param:
        if f.value is None:
            raise Invalid("a parameter search needs both param and value")
        conds.append(_param_condition(dialect, f.param, f.value))
    elif f.value is not None:
        raise Invalid("value needs param: the parameter whose stored value to match")
    if f.offline_hours is not None:
        conds.append(or_(DeviceRow.last_seen.is_(None),
                         DeviceRow.last_seen < now - timedelta(hours=f.offline_hours)))
    return conds


# ---------------------------------------------------------------------------- the page
def _ordered(stmt: Select[Any], col: Any, desc: bool, with_col: bool) -> Select[Any]:
    idc = DeviceRow.id.desc() if desc else DeviceRow.id.asc()
    if not with_col:
        return stmt.order_by(idc)
    return stmt.order_by(col.desc() if desc else col.asc(), idc)


def _problem(s: Session, now: datetime) -> ColumnElement[bool]:
    """A device a person should look at first: an open remediation case, on an upstream in outage,
    or silent for ``OFFLINE_AFTER`` or never heard from (what its badges say)."""
    from api.fleet_trends import outages

    cond = or_(DeviceRow.last_seen.is_(None), DeviceRow.last_seen < now - OFFLINE_AFTER)
    down = [o["upstream_id"] for o in outages(s, OUTAGE_WINDOW_H, now, limit=500)]
    if down:
        cond = or_(cond, DeviceRow.upstream_id.in_(down))
    try:
        from brain.remediation.schema import RemediationCaseRow
    except ImportError:  # a build without remediation
        return cond
    return or_(cond, exists(select(1).where(RemediationCaseRow.device_id == DeviceRow.id,
                                            RemediationCaseRow.status.in_(OPEN_CASE_STATES))))


def _problems_first(s: Session, conds: list[ColumnElement[bool]], now: datetime, desc: bool, limit: int,
                    phase: str, last_id: str | None) -> list[DeviceRow]:
    """The ``problems`` order: devices with a problem (phase ``p``), then the others (``q``), each
    in id order — two keyset walks, the cursor saying which one it is in."""
    problem = _problem(s, now)
    rows: list[DeviceRow] = []
    for ph, cond in (("p", problem), ("q", ~problem)):
        if phase == "q" and ph == "p":
            continue
        where = [*conds, cond]
        if last_id is not None and ph == phase:
            where.append(DeviceRow.id < last_id if desc else DeviceRow.id > last_id)
        stmt = select(DeviceRow).where(and_(*where)).order_by(DeviceRow.id.desc() if desc else DeviceRow.id.asc())
        found = list(s.scalars(stmt.limit(limit + 1 - len(rows))))
        for r in found:
            r.__dict__["_phase"] = ph  # which walk it came from, for the cursor (not a column)
        rows += found
        if len(rows) > limit:
            break
    return rows


def read_page(s: Session, f: Filters, *, sort: str = "id", desc: bool = False, limit: int = 50,
              cursor: str | None = None, count: bool = True, now: datetime | None = None) -> Page:
    """One page of devices after ``cursor`` in ``sort`` order, with the next page's cursor."""
    if sort not in SORT_COLUMNS and sort != PROBLEMS:
        raise Invalid(f"sort must be one of {PROBLEMS}, {', '.join(SORT_COLUMNS)}")
    now = now or utcnow()
    dialect = s.get_bind().dialect.name
    if sort == PROBLEMS:
        return _problems_page(s, f, dialect, desc=desc, limit=limit, cursor=cursor, count=count, now=now)
    col = SORT_COLUMNS[sort]
    conds = _conditions(s, f, now)
    phase, value, last_id = decode_cursor(cursor, sort, desc) if cursor else ("v", None, None)
    rows: list[DeviceRow] = []
    if phase == "v":
        where = list(conds)
        if sort in NULLABLE:
            where.append(col.is_not(None))
        if last_id is not None:
            if sort == "id":
                where.append(DeviceRow.id < last_id if desc else DeviceRow.id > last_id)
            else:
                pair = tuple_(col, DeviceRow.id)
                where.append(pair < tuple_(value, last_id) if desc else pair > tuple_(value, last_id))
        stmt = _ordered(select(DeviceRow).where(and_(*where)) if where else select(DeviceRow), col, desc,
                        sort != "id")
        rows = list(s.scalars(stmt.limit(limit + 1)))
        if len(rows) <= limit and sort in NULLABLE:  # the values ran out: the never-set rows follow
            rows += _null_rows(s, conds, col, desc, None, limit + 1 - len(rows))
    else:
        rows = _null_rows(s, conds, col, desc, last_id, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        last_phase = "n" if sort in NULLABLE and getattr(last, sort) is None else "v"
        next_cursor = encode_cursor(sort, desc, last, last_phase)
    cap = PARAM_COUNT_CAP if f.param else COUNT_CAP
    total, exact = (_count(s, conds, dialect, cap) if count and cursor is None else (None, True))
    ids = [r.id for r in rows]
    return Page(rows=rows, next_cursor=next_cursor, total=total, total_exact=exact, badges=badges(s, rows, now),
                busy=_busy(s, ids))


def _problems_page(s: Session, f: Filters, dialect: str, *, desc: bool, limit: int, cursor: str | None,
                   count: bool, now: datetime) -> Page:
    conds = _conditions(s, f, now)
    phase, _, last_id = decode_cursor(cursor, PROBLEMS, desc) if cursor else ("p", None, None)
    if phase not in ("p", "q"):
        raise Invalid("cursor belongs to another sort order; start from the first page")
    rows = _problems_first(s, conds, now, desc, limit, phase, last_id)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(PROBLEMS, desc, rows[-1], rows[-1].__dict__["_phase"]) if more and rows else None
    cap = PARAM_COUNT_CAP if f.param else COUNT_CAP
    total, exact = (_count(s, conds, dialect, cap) if count and cursor is None else (None, True))
    return Page(rows=rows, next_cursor=next_cursor, total=total, total_exact=exact, badges=badges(s, rows, now),
                busy=_busy(s, [r.id for r in rows]))


def _count(s: Session, conds: list[ColumnElement[bool]], dialect: str, cap: int) -> tuple[int, bool]:
    """How many devices match: exact up to ``cap``, else the cap (or, for the whole fleet on
    PostgreSQL, the planner's row estimate), flagged inexact. Why a cap: an exact count walks every
    match — a third of a second at a million — and the list needs "about how many", not the digit."""
    if not conds and dialect == "postgresql":
        est = s.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'devices'::regclass"))
        if est is not None and int(est) > cap:
            return int(est), False
    probe = select(DeviceRow.id).where(and_(*conds)) if conds else select(DeviceRow.id)
    n = int(s.scalar(select(func.count()).select_from(probe.limit(cap + 1).subquery())) or 0)
    return (cap, False) if n > cap else (n, True)


def _null_rows(s: Session, conds: list[ColumnElement[bool]], col: Any, desc: bool, after_id: str | None,
               n: int) -> list[DeviceRow]:
    where = [*conds, col.is_(None)]
    if after_id is not None:
        where.append(DeviceRow.id < after_id if desc else DeviceRow.id > after_id)
    stmt = select(DeviceRow).where(and_(*where)).order_by(DeviceRow.id.desc() if desc else DeviceRow.id.asc())
    return list(s.scalars(stmt.limit(n)))


def _busy(s: Session, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    terminal = [str(t) for t in TERMINAL_STATES]
    return set(s.scalars(select(ProposalDeviceRow.device_id).join(ProposalRow, ProposalRow.id == ProposalDeviceRow
                                                                  .proposal_id)
                         .where(ProposalDeviceRow.device_id.in_(ids), ProposalRow.state.not_in(terminal))))


# ---------------------------------------------------------------------------- badges
def silence_badge(last_seen: datetime | None, now: datetime) -> JsonObject | None:
    """How long a device has said nothing, when that is an hour or more (or it never spoke): a fact
    of its own, not "offline" — whether it is online is its presence's to say (:mod:`api.presence`)."""
    if last_seen is None:
        return {"kind": "silent", "label": "never heard from", "hours": None}
    if now - last_seen < OFFLINE_AFTER:
        return None
    hours = int((now - last_seen).total_seconds() // 3600)
    return {"kind": "silent", "label": f"no contact for {hours} h" if hours < 48 else f"no contact for {hours // 24} d",
            "hours": hours}


def badges(s: Session, rows: list[DeviceRow], now: datetime) -> dict[str, list[JsonObject]]:
    """Per device on the page: its open remediation cases, an upstream most of whose other devices
    are in trouble (the planner's own outage rule, ``core.topology``), and how long it has been
    silent as the store knows it — the problems the list is ordered by (the page's route adds what
    presence says now). Each badge is a word and a count, never a colour alone."""
    out: dict[str, list[JsonObject]] = defaultdict(list)
    if not rows:
        return out
    ids = [r.id for r in rows]
    for device_id, problem, n in _open_cases(s, ids):
        out[device_id].append({"kind": "case", "label": f"open case: {problem.replace('_', ' ')}",
                               "problem": problem, "count": n})
    outages = _upstream_outages(s, sorted({r.upstream_id for r in rows if r.upstream_id}), now)
    for r in rows:
        if r.upstream_id and r.upstream_id in outages:
            bad, total = outages[r.upstream_id]
            out[r.id].append({"kind": "outage", "label": f"upstream outage: {bad} of {total} degraded",
                              "upstream_id": r.upstream_id, "degraded": bad, "devices": total})
        silent = silence_badge(r.last_seen, now)
        if silent is not None:
            out[r.id].append(silent)
    return out


def _open_cases(s: Session, ids: list[str]) -> list[tuple[str, str, int]]:
    try:
        from brain.remediation.schema import RemediationCaseRow
    except ImportError:  # a build without remediation
        return []
    return [(str(d), str(p), int(n)) for d, p, n in s.execute(
        select(RemediationCaseRow.device_id, RemediationCaseRow.problem, func.count())
        .where(RemediationCaseRow.device_id.in_(ids), RemediationCaseRow.status.in_(OPEN_CASE_STATES))
        .group_by(RemediationCaseRow.device_id, RemediationCaseRow.problem))]


def _upstream_outages(s: Session, upstreams: list[str], now: datetime) -> dict[str, tuple[int, int]]:
    """upstream id → (degraded devices, devices) for upstreams that meet ``core.topology``'s
    suspected-outage rule over its window (trouble events; the latency average is left to the
    device page, which reads the telemetry)."""
    if not upstreams:
        return {}
    from core.store.schema import DEGRADED_EVENT_KINDS
    from core.topology import OUTAGE_DEGRADED_SHARE, OUTAGE_MIN_SIBLINGS

    sizes = {str(u): int(n) for u, n in s.execute(
        select(DeviceRow.upstream_id, func.count()).where(DeviceRow.upstream_id.in_(upstreams))
        .group_by(DeviceRow.upstream_id))}
    since = now - timedelta(hours=OUTAGE_WINDOW_H)
    bad = {str(u): int(n) for u, n in s.execute(
        select(DeviceRow.upstream_id, func.count(func.distinct(DeviceEventRow.device_id)))
        .join(DeviceEventRow, DeviceEventRow.device_id == DeviceRow.id)
        .where(DeviceRow.upstream_id.in_(upstreams), DeviceEventRow.kind.in_(DEGRADED_EVENT_KINDS),
               DeviceEventRow.ts >= since).group_by(DeviceRow.upstream_id))}
    return {u: (bad[u], n) for u, n in sizes.items()
            if u in bad and n - 1 >= OUTAGE_MIN_SIBLINGS and bad[u] / n >= OUTAGE_DEGRADED_SHARE}
