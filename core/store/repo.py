"""Row ↔ model conversion and the queries more than one caller needs.

Kept apart from the lifecycle so that the API, the planner's read tools and the CLI read the
store the same way without importing the lifecycle (which holds the write path).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from core.kernel.errors import Invalid, NotFound
from core.kernel.jsontypes import JsonObject
from core.kernel.models import (
    TERMINAL_STATES,
    ActorKind,
    Approval,
    Change,
    DecisionRecord,
    Device,
    Evidence,
    Execution,
    ExecutionStatus,
    Operation,
    Precondition,
    Proposal,
    ProposalState,
    Protocol,
    Root,
    Selector,
    utcnow,
)
from core.kernel.models import Decision as DecisionModel
from core.store.fastsql import Prepared
from core.store.grouping import PLANNER_STATS_MIN, TargetSplit, analyze_targets, first_of_each, hash_grouping
from core.store.lite import DeviceView
from core.store.records import DecisionRowRecord, ExecutionRecord, ProposalRecord, among, record_columns
from core.store.schema import (
    ApprovalRow,
    DeviceEventRow,
    DeviceRow,
    ExecutionRow,
    ParameterSnapshotRow,
    PolicyDecisionRow,
    ProposalDeviceRow,
    ProposalRow,
    UserRow,
)

# ---------------------------------------------------------------------------- devices
ACTIVE, RETIRED = "active", "retired"


def device_from_row(row: DeviceRow) -> Device:
    return Device(
        id=row.id, vendor=row.vendor, model=row.model, product_class=row.product_class, oui=row.oui,
        serial=row.serial, firmware=row.firmware, root=Root(row.root), protocol=Protocol(row.protocol),
        adapter=row.adapter, subscriber=row.subscriber, region=row.region, service=row.service,
        tags=list(row.tags or []), upstream_id=row.upstream_id, last_seen=row.last_seen,
        status=row.status or ACTIVE, retired_at=row.retired_at,
    )


def device_to_row(d: Device) -> DeviceRow:
    return DeviceRow(
        id=d.id, vendor=d.vendor, model=d.model, product_class=d.product_class, oui=d.oui, serial=d.serial,
        firmware=d.firmware, root=str(d.root), protocol=str(d.protocol), adapter=d.adapter,
        subscriber=d.subscriber, region=d.region, service=d.service, tags=list(d.tags),
        upstream_id=d.upstream_id, last_seen=d.last_seen, created_at=utcnow(), status=d.status,
        retired_at=d.retired_at,
    )


def get_device(s: Session, device_id: str) -> Device:
    row = s.get(DeviceRow, device_id)
    if row is None:
        raise NotFound(f"unknown device {device_id!r}; list devices with `gateward devices`")
    return device_from_row(row)


def get_devices(s: Session, ids: Sequence[str]) -> dict[str, Device]:
    """The devices among ``ids`` that exist, by id (one statement, any number of ids)."""
    if not ids:
        return {}
    out: dict[str, Device] = {}
    for values in _DEVICES_BY_ID.all(s, {"ids": list(ids)}):
        row = DeviceView(*values)
        out[row.id] = device_from_row(row)  # type: ignore[arg-type]  # the same attributes as a DeviceRow
    return out


def select_devices(s: Session, sel: Selector) -> list[str]:
    """Ids a selector matches. Retired devices are never matched: a selector picks what may be
    changed, and a retired device may not be."""
    fields = tuple(f for f in ("model", "vendor", "firmware", "region", "subscriber") if getattr(sel, f))
    # No ORDER BY: ONE JSON array, sorted here by code point, the same on both backends (the frozen
    # targets' display and sampling order). Why: docs/performance.md, D14.
    sqlite = s.get_bind().dialect.name == "sqlite"
    stmt = _SELECTORS.get((fields, sqlite))
    if stmt is None:  # one statement per combination of fields (at most 32), each built once
        matched = select(_DEV.c.id).where(_DEV.c.status == ACTIVE,
                                          *(_DEV.c[f] == bindparam(f) for f in fields)).subquery()
        as_array = func.json_group_array(matched.c.id) if sqlite else cast(func.json_agg(matched.c.id), Text)
        stmt = _SELECTORS[(fields, sqlite)] = Prepared(select(as_array).select_from(matched))
    row = stmt.first(s, {f: getattr(sel, f) for f in fields})
    ids: list[str] = orjson.loads(row[0]) if row is not None and row[0] is not None else []
    ids.sort()
    if sel.tags:
        rows = get_devices(s, ids)
        ids = [i for i in ids if set(sel.tags) <= set(rows[i].tags)]
    if sel.limit is not None:
        ids = ids[: sel.limit]
    return ids


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching values that contain ``text`` literally.

    Why: a search for ``%`` or ``_`` must find those characters, not match every device."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_devices(s: Session, *, subscriber: str | None = None, model: str | None = None,
                 firmware: str | None = None, region: str | None = None, q: str | None = None,
                 limit: int = 100, offset: int = 0, status: str | None = None) -> tuple[list[Device], int]:
    stmt = select(DeviceRow)
    conds = []
    if status:
        conds.append(DeviceRow.status == status)
    if subscriber:
        conds.append(DeviceRow.subscriber == subscriber)
    if model:
        conds.append(DeviceRow.model == model)
    if firmware:
        conds.append(DeviceRow.firmware == firmware)
    if region:
        conds.append(DeviceRow.region == region)
    if q:
        like = contains_pattern(q)
        # ILIKE: an id is found in any letter case on PostgreSQL too, as SQLite's LIKE finds it
        conds.append(DeviceRow.id.ilike(like, escape="\\") | DeviceRow.subscriber.ilike(like, escape="\\")
                     | DeviceRow.model.ilike(like, escape="\\"))
    if conds:
        stmt = stmt.where(and_(*conds))
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = s.scalars(stmt.order_by(DeviceRow.id).limit(limit).offset(offset)).all()
    return [device_from_row(r) for r in rows], int(total)


class DeviceLite(NamedTuple):
    """The columns fleet-scale steps need, without building a pydantic model per device."""

    id: str
    vendor: str
    model: str
    firmware: str
    root: str
    protocol: str
    region: str
    last_seen: datetime | None


def existing_ids(s: Session, ids: Sequence[str]) -> set[str]:
    """The ids that exist, for naming unknown proposal targets. A retired target is refused here
    with its own reason (Invalid), so no proposal is ever recorded against a retired device."""
    found: set[str] = set()
    retired: list[str] = []
    for dev_id, status in _DEVICE_STATUS.all(s, {"ids": list(ids)}) if ids else ():
        found.add(dev_id)
        if status == RETIRED:
            retired.append(dev_id)
    _refuse_retired(retired)
    return found


def targetable_devices(s: Session, ids: Sequence[str]) -> dict[str, Device]:
    """:func:`existing_ids` for a few named targets, answering the devices themselves (one
    statement): a small proposal's validation then needs no second read of them."""
    found = get_devices(s, ids)
    _refuse_retired([i for i, d in found.items() if d.status == RETIRED])
    return found


def _refuse_retired(retired: list[str]) -> None:
    if retired:
        raise Invalid(f"device {sorted(retired)[0]!r} is retired"
                      + (f" (and {len(retired) - 1} more)" if len(retired) > 1 else "")
                      + "; retired devices cannot be targeted (`gateward devices --status active`)")


def class_representatives(devices: dict[str, Device]) -> list[str]:
    """:func:`target_classes` over devices already loaded: the smallest id of each (vendor, model,
    firmware, protocol, root), in class order (as SQLite's pass gives them)."""
    first: dict[tuple[Any, ...], str] = {}
    for dev_id in sorted(devices):
        d = devices[dev_id]
        key = tuple((v is not None, v) for v in (d.vendor, d.model, d.firmware, str(d.protocol), str(d.root)))
        first.setdefault(key, dev_id)
    return [first[k] for k in sorted(first)]


def add_targets(s: Session, pid: str, device_ids: Sequence[str]) -> None:
    """Record ``pid``'s targets in ``proposal_devices``: the list bound as ONE parameter, a JSON
    text, and expanded by the database (SQLite ``json_each``, PostgreSQL
    ``json_array_elements_text``), in one statement whatever its length. A million targets through
    the ORM's bulk insert cost ~20 s; bound as a PostgreSQL array, psycopg spent ~2 s of
    client CPU adapting the million strings, against 0.1 s to send one JSON text (the server's
    work is the same)."""
    if not device_ids:
        return
    dialect = s.get_bind().dialect.name
    stmt = _ADD_TARGETS.get(dialect)
    if stmt is None:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": pid, "device_id": d} for d in device_ids])
        return
    stmt.run(s, {"pid": pid, "ids": orjson.dumps(list(device_ids)).decode()})
    if len(device_ids) >= PLANNER_STATS_MIN:
        analyze_targets(s)  # PostgreSQL's planner learns how many there are (core.store.grouping)


def target_rows(s: Session, pid: str) -> list[DeviceLite]:
    """Every target of a proposal in one joined query, as light tuples."""
    return [DeviceLite(*r) for r in _TARGET_ROWS.all(s, {"pid": pid})]


def target_rows_for(s: Session, ids: Sequence[str]) -> list[DeviceLite]:
    return [DeviceLite(*r) for r in _TARGET_ROWS_FOR.all(s, {"ids": list(ids)})] if ids else []


def target_classes(s: Session, pid: str, targets: int | None = None) -> list[str]:
    """One representative device id per (vendor, model, firmware, protocol, root) among the targets
    (``targets``: how many there are, if the caller knows; core.store.grouping.hash_grouping)."""
    if s.get_bind().dialect.name == "sqlite":  # streamed in id order, the first of each class kept
        split = TargetSplit(pid, targets) if targets is not None else None
        first = first_of_each(s, _TARGET_CLASS_KEYS, {"pid": pid}, split=split)
        # In the order GROUP BY gave them (by class), so callers see what they saw before.
        keyed = sorted((tuple((v is not None, v) for v in orjson.loads(k)), rep) for k, rep in first.items())
        return [rep for _, rep in keyed]
    with hash_grouping(s, targets):
        return [r[0] for r in _TARGET_CLASSES.all(s, {"pid": pid})]


# Snapshot sources that hold a handful of parameters, not a device's state. Nothing writes them any
# more (a backup lives in ``backups``; migration 0010 deleted the old rows), but readers still skip
# them so that a partial set is never taken for the device's state.
PARTIAL_SNAPSHOT_SOURCES = ("backup",)


def full_snapshot() -> ColumnElement[bool]:
    """The filter every "latest snapshot" reader applies: full snapshots only."""
    return ParameterSnapshotRow.source.not_in(PARTIAL_SNAPSHOT_SOURCES)


def latest_snapshot(s: Session, device_id: str) -> JsonObject | None:
    row = _LATEST_SNAPSHOT.first(s, {"did": device_id})
    return dict(row[0]) if row else None


def latest_snapshots(s: Session, device_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The newest full stored snapshot per device, in one query (fleet-scale previews)."""
    if not device_ids:
        return {}
    return {dev: params for dev, params in _LATEST_SNAPSHOTS.all(s, {"ids": list(device_ids)})}


_FAILED = [str(b) for b in (ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
                            ExecutionStatus.VERIFY_FAILED)]


def history_counts_bulk(s: Session, device_ids: Sequence[str], kind: str, since: datetime, days: int = 7
                        ) -> tuple[dict[str, int], dict[str, int]]:
    """Per device: its ``kind`` events since ``since``, and its changes that failed or were rolled
    back in the last ``days`` days — (events, failed), both read in one statement (each policy
    decision reads both: one round trip where there were two)."""
    if not device_ids:
        return {}, {}
    events: dict[str, int] = {}
    failed: dict[str, int] = {}
    for which, dev, n in _HISTORY_COUNTS.all(s, {"ids": list(device_ids), "kind": kind, "since": since,
                                                  "failed_since": utcnow() - timedelta(days=days), "bad": _FAILED}):
        (events if which == "e" else failed)[dev] = int(n)
    return events, failed


def count_events(s: Session, device_id: str, kind: str, since: datetime) -> int:
    return int(s.scalar(select(func.count()).select_from(DeviceEventRow).where(
        DeviceEventRow.device_id == device_id, DeviceEventRow.kind == kind, DeviceEventRow.ts >= since)) or 0)


def failed_changes(s: Session, device_id: str, days: int = 7) -> int:
    since = utcnow() - timedelta(days=days)
    bad = [ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
           ExecutionStatus.VERIFY_FAILED]
    return int(s.scalar(select(func.count()).select_from(ExecutionRow).where(
        ExecutionRow.device_id == device_id, ExecutionRow.status.in_([str(b) for b in bad]),
        ExecutionRow.started_at >= since)) or 0)


# ---------------------------------------------------------------------------- proposals


def proposal_from_row(row: ProposalRow | ProposalRecord, same: Proposal | None = None) -> Proposal:
    """The model of a proposal row. ``same``: a model of this proposal read earlier; if the row
    still has its hash (which binds the targets), its target list is taken instead of decoding the
    row's again (a fleet proposal's is a million ids, ~0.1 s a decode)."""
    targets = list(same.targets) if same is not None and same.id == row.id and same.hash == row.hash else list(
        row.targets)
    return Proposal(
        id=row.id, author=row.author, author_kind=ActorKind(row.author_kind), intent=row.intent,
        targets=targets, changes=[Change(**c) for c in row.changes],
        operations=[Operation(**o) for o in (row.operations or [])], rationale=row.rationale,
        evidence=[Evidence(**e) for e in (row.evidence or [])], emergency=row.emergency,
        action_type=row.action_type, staged=bool(row.staged), source=row.source, risk=row.risk,
        state=ProposalState(row.state),
        hash=row.hash, error=row.error, created_at=row.created_at, updated_at=row.updated_at,
        not_before=row.not_before, not_after=row.not_after,
        preconditions=[Precondition(**c) for c in (row.preconditions or [])],
        readback=row.readback or "", start_requested_by=row.start_requested_by,
        start_retry_at=row.start_retry_at, start_deferrals=row.start_deferrals,
    )


def proposal_values(p: Proposal) -> dict[str, Any]:
    """A proposal's ``proposals`` columns (no preview yet; ``version`` 1)."""
    return {
        "id": p.id, "author": p.author, "author_kind": str(p.author_kind), "intent": p.intent,
        "targets": list(p.targets), "changes": [c.model_dump(mode="json") for c in p.changes],
        "operations": [o.model_dump(mode="json") for o in p.operations], "rationale": p.rationale,
        "evidence": [e.model_dump(mode="json") for e in p.evidence], "emergency": p.emergency,
        "action_type": p.action_type, "staged": p.staged, "source": p.source, "risk": p.risk,
        "state": str(p.state), "hash": p.hash, "error": p.error, "preview": None, "version": 1,
        "created_at": p.created_at, "updated_at": p.updated_at, "not_before": p.not_before,
        "preconditions": [c.model_dump(mode="json") for c in p.preconditions] or None,
        "readback": p.readback or None, "start_requested_by": None, "not_after": p.not_after,
        "start_retry_at": None, "start_deferrals": None,
    }


def proposal_to_row(p: Proposal) -> ProposalRow:
    values = proposal_values(p)
    del values["preview"], values["version"]
    return ProposalRow(**values)


_STMT: dict[str, Any] = {}  # heterogeneous statements; `_stmt` restores each one's type for its caller
_S = TypeVar("_S")


def _stmt(name: str, build: Callable[[], _S]) -> _S:
    """A read statement built once with bound parameters. Building (and cache-keying) a ``select``
    per call cost about as much as running it on the hot paths: the lifecycle reads its proposal
    row ten times per submit, the API reads its latest decision twice per answer."""
    stmt: _S | None = _STMT.get(name)
    if stmt is None:
        stmt = _STMT[name] = build()
    return stmt


def get_proposal_row(s: Session, pid: str, *, for_update: bool = False) -> ProposalRow:
    lock = for_update and s.bind is not None and s.bind.dialect.name == "postgresql"
    plain = _stmt("proposal", lambda: select(ProposalRow).where(ProposalRow.id == bindparam("pid")))
    stmt = _stmt("proposal_for_update", plain.with_for_update) if lock else plain
    row = s.scalar(stmt, {"pid": pid})
    if row is None:
        raise NotFound(f"unknown proposal {pid!r}; list proposals with `gateward proposals`")
    return row


def list_proposals(s: Session, *, states: Iterable[str] | None = None, author: str | None = None,
                   device_id: str | None = None, limit: int = 100, offset: int = 0) -> list[Proposal]:
    stmt = select(ProposalRow)
    if states:
        stmt = stmt.where(ProposalRow.state.in_(list(states)))
    if author:
        stmt = stmt.where(ProposalRow.author == author)
    if device_id:
        stmt = stmt.join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id).where(
            ProposalDeviceRow.device_id == device_id)
    rows = s.scalars(stmt.order_by(ProposalRow.created_at.desc(), ProposalRow.id).limit(limit).offset(offset))
    return [proposal_from_row(r) for r in rows]


_LIVE_OVERLAP: tuple[Prepared, Prepared] | None = None
_SELECTORS: dict[tuple[tuple[str, ...], bool], Prepared] = {}


_LIVE_STATES = sorted(str(x) for x in ProposalState if x not in TERMINAL_STATES)
_LARGE = 1000  # targets above which the overlap is found from the other live proposals' side


def _live_overlap_stmts() -> tuple[Prepared, Prepared]:
    """The two ways to find :func:`live_overlapping`'s pairs, built once (building the self-join
    cost ~0.6 ms per decision). From this proposal's devices (a few targets: one index
    probe per device per earlier proposal on it), or from the live proposals' devices (a fleet
    proposal: a million targets probed one by one took seconds; live proposals are few)."""
    global _LIVE_OVERLAP
    if _LIVE_OVERLAP is None:
        from sqlalchemy import exists, or_
        from sqlalchemy.orm import aliased

        mine, theirs = aliased(ProposalDeviceRow), aliased(ProposalDeviceRow)
        live = or_(*(ProposalRow.state == st for st in _LIVE_STATES))  # no expanding IN (fastsql)
        from_mine = (select(theirs.proposal_id, theirs.device_id)
                     .join(mine, mine.device_id == theirs.device_id)
                     .join(ProposalRow, ProposalRow.id == theirs.proposal_id)
                     .where(mine.proposal_id == bindparam("pid"), theirs.proposal_id != bindparam("pid"), live))
        from_live = (select(theirs.proposal_id, theirs.device_id)
                     .select_from(ProposalRow).join(theirs, theirs.proposal_id == ProposalRow.id)
                     .where(live, ProposalRow.id != bindparam("pid"),
                            exists().where(mine.proposal_id == bindparam("pid"),
                                           mine.device_id == theirs.device_id)))
        _LIVE_OVERLAP = (Prepared(from_mine), Prepared(from_live))
    return _LIVE_OVERLAP


class LiveProposal(NamedTuple):
    """What precedence needs of another live proposal: who wrote it and what it changes."""

    id: str
    author: str
    changes: list[Change]


def live_overlapping(s: Session, pid: str, target_count: int = 1) -> list[tuple[LiveProposal, list[str]]]:
    """Live (non-terminal) proposals sharing a device with ``pid``, each with only the shared
    devices — one query, whatever the size of either proposal (``target_count``: ``pid``'s).
    Only the columns precedence reads are loaded (not each proposal's preview and targets)."""
    from_mine, from_live = _live_overlap_stmts()
    pairs = (from_live if target_count > _LARGE else from_mine).all(s, {"pid": pid})
    shared: dict[str, list[str]] = {}
    for other, dev in pairs:
        shared.setdefault(other, []).append(dev)
    if not shared:
        return []
    rows = _LIVE_ROWS.all(s, {"ids": sorted(shared)})
    return [(LiveProposal(r[0], r[1], [Change(**c) for c in r[2] or []]), shared[r[0]]) for r in rows]


def live_proposals_touching(s: Session, device_ids: Sequence[str], exclude: str) -> list[Proposal]:
    """Non-terminal proposals that target any of ``device_ids`` (for precedence checks)."""
    terminal = [str(t) for t in TERMINAL_STATES]
    ids: set[str] = set()
    for start in range(0, len(device_ids), 500):
        chunk = list(device_ids[start:start + 500])
        ids.update(s.scalars(select(ProposalDeviceRow.proposal_id).where(ProposalDeviceRow.device_id.in_(chunk))))
    ids.discard(exclude)
    if not ids:
        return []
    rows = s.scalars(select(ProposalRow).where(ProposalRow.id.in_(list(ids)), ProposalRow.state.not_in(terminal)))
    return [proposal_from_row(r) for r in rows]


def decision_from_row(row: PolicyDecisionRow | DecisionRowRecord) -> DecisionRecord:
    return DecisionRecord(
        id=row.id, proposal_id=row.proposal_id, proposal_hash=row.proposal_hash, revision=row.revision,
        engine=row.engine, decision=DecisionModel(**row.result), duration_us=row.duration_us,
        created_at=row.created_at, dry_run=row.dry_run,
    )


def _latest_decision_stmt(include_dry_run: bool) -> Select[PolicyDecisionRow]:
    stmt = select(PolicyDecisionRow).where(PolicyDecisionRow.proposal_id == bindparam("pid"))
    if not include_dry_run:
        stmt = stmt.where(PolicyDecisionRow.dry_run.is_(False))
    return stmt.order_by(PolicyDecisionRow.created_at.desc(), PolicyDecisionRow.id.desc()).limit(1)


def latest_decision(s: Session, pid: str, *, include_dry_run: bool = False) -> DecisionRowRecord | None:
    """The newest policy decision on ``pid`` (a read-only record with the row's columns)."""
    rows = DecisionRowRecord.rows(s, _LATEST_ANY_DECISION if include_dry_run else _LATEST_DECISION, {"pid": pid})
    return rows[0] if rows else None


def user_roles(s: Session, user_id: str) -> tuple[list[str], str, bool] | None:
    """``(roles, kind, active)`` of a user, or None (the gates and the policy input ask)."""
    row = _USER.first(s, {"uid": user_id})
    return (list(row[0] or []), str(row[1]), bool(row[2])) if row is not None else None


FLEET_SIZE_MAX_AGE_S = 10.0
_FLEET_SIZES: weakref.WeakKeyDictionary[Any, tuple[float, int]] = weakref.WeakKeyDictionary()


def fleet_size(s: Session, *, max_age_s: float = FLEET_SIZE_MAX_AGE_S) -> int:
    """How many devices the fleet has (a policy fact: blast radius), counted at most once every
    ``max_age_s`` per database in this process.

    Why: docs/performance.md, D15 (counting is a pass over ``devices``). A size up to ten seconds old
    is as good a blast-radius fact as an exact one; the decision stores the input it was made on,
    so what the policy saw stays on record."""
    bind = s.get_bind()
    key = getattr(bind, "engine", bind)  # a session bound to a Connection: its Engine
    now = time.monotonic()
    seen = _FLEET_SIZES.get(key)
    if seen is not None and now - seen[0] < max_age_s:
        return seen[1]
    n = int(_FLEET_SIZE.all(s)[0][0] or 0)
    _FLEET_SIZES[key] = (now, n)
    return n


def approvals_for(s: Session, pid: str) -> list[Approval]:
    return [Approval(id=r[0], proposal_id=r[1], proposal_hash=r[2], decision_id=r[3], actor=r[4], role=r[5],
                     verdict=r[6], comment=r[7], created_at=r[8])
            for r in _APPROVALS.all(s, {"pid": pid})]


def executions_for(s: Session, pid: str) -> list[Execution]:
    rows = ExecutionRecord.for_proposal(s, pid)
    return [Execution(id=r.id, proposal_id=r.proposal_id, device_id=r.device_id,
                      status=ExecutionStatus(r.status), key=r.key, detail=r.detail or {}, error=r.error,
                      started_at=r.started_at, finished_at=r.finished_at) for r in rows]


# ---------------------------------------------------------------------------- hot statements
# Run on the session's own cursor (core.store.fastsql): these are read by every proposal's
# validate, preview, decide and apply. Lists are one bound parameter (records.among).
_DEV = DeviceRow.__table__
_PD = ProposalDeviceRow.__table__
_SNAP = ParameterSnapshotRow.__table__
_EVT = DeviceEventRow.__table__
_EXE = ExecutionRow.__table__
_DEC = PolicyDecisionRow.__table__
_APR = ApprovalRow.__table__


_DEVICES_BY_ID = Prepared(select(*(_DEV.c[n] for n in DeviceView._fields)).where(among(_DEV.c.id, "ids")))
_DEVICE_STATUS = Prepared(select(_DEV.c.id, _DEV.c.status).where(among(_DEV.c.id, "ids")))
_LITE = (_DEV.c.id, _DEV.c.vendor, _DEV.c.model, _DEV.c.firmware, _DEV.c.root, _DEV.c.protocol, _DEV.c.region,
         _DEV.c.last_seen)
_TARGET_ROWS = Prepared(select(*_LITE).join(_PD, _PD.c.device_id == _DEV.c.id)
                        .where(_PD.c.proposal_id == bindparam("pid")))
_TARGET_ROWS_FOR = Prepared(select(*_LITE).where(among(_DEV.c.id, "ids")))
_CLASS_COLUMNS = (_DEV.c.vendor, _DEV.c.model, _DEV.c.firmware, _DEV.c.protocol, _DEV.c.root)
# PostgreSQL: grouped in a MATERIALIZED CTE and the few groups sorted outside it, in the same order
# (why: docs/performance.md, D16).
_CLASS_GROUPS = (select(*_CLASS_COLUMNS, func.min(_DEV.c.id).label("rep")).join(_PD, _PD.c.device_id == _DEV.c.id)
                 .where(_PD.c.proposal_id == bindparam("pid")).group_by(*_CLASS_COLUMNS)
                 .cte("class_groups").prefix_with("MATERIALIZED"))
_TARGET_CLASSES = Prepared(select(_CLASS_GROUPS.c.rep).order_by(*(_CLASS_GROUPS.c[c.name] for c in _CLASS_COLUMNS)))
# SQLite: one key per target (json_array: unambiguous whatever the strings hold), in device id order
# (the order of the proposal_devices primary key it scans: no sort), so the first id of a key is its min.
_TARGET_CLASS_KEYS = Prepared(select(func.json_array(_DEV.c.vendor, _DEV.c.model, _DEV.c.firmware, _DEV.c.protocol,
                                                     _DEV.c.root), _PD.c.device_id)
                              .join(_PD, _PD.c.device_id == _DEV.c.id)
                              .where(_PD.c.proposal_id == bindparam("pid")).order_by(_PD.c.device_id))
_FULL = and_(*(_SNAP.c.source != src for src in PARTIAL_SNAPSHOT_SOURCES))  # full_snapshot(), no expanding IN
_LATEST_SNAPSHOT = Prepared(select(_SNAP.c.params).where(_SNAP.c.device_id == bindparam("did"), _FULL)
                            .order_by(_SNAP.c.taken_at.desc(), _SNAP.c.id.desc()).limit(1))
_NEWEST = (select(_SNAP.c.device_id, func.max(_SNAP.c.id).label("mid"))
           .where(among(_SNAP.c.device_id, "ids"), _FULL).group_by(_SNAP.c.device_id).subquery())
_LATEST_SNAPSHOTS = Prepared(select(_SNAP.c.device_id, _SNAP.c.params).join(_NEWEST, _SNAP.c.id == _NEWEST.c.mid))
_HISTORY_COUNTS = Prepared(
    select(literal_column("'e'").label("which"), _EVT.c.device_id, func.count())
    .where(among(_EVT.c.device_id, "ids"), _EVT.c.kind == bindparam("kind"),
           _EVT.c.ts >= bindparam("since", type_=_EVT.c.ts.type))
    .group_by(_EVT.c.device_id)
    .union_all(select(literal_column("'f'").label("which"), _EXE.c.device_id, func.count())
               .where(among(_EXE.c.device_id, "ids"), among(_EXE.c.status, "bad"),
                      _EXE.c.started_at >= bindparam("failed_since", type_=_EXE.c.started_at.type))
               .group_by(_EXE.c.device_id)))
_LATEST_DECISION = Prepared(select(*record_columns(_DEC)).where(_DEC.c.proposal_id == bindparam("pid"),
                                                         _DEC.c.dry_run.is_(False))
                            .order_by(_DEC.c.created_at.desc(), _DEC.c.id.desc()).limit(1))
_LATEST_ANY_DECISION = Prepared(select(*record_columns(_DEC)).where(_DEC.c.proposal_id == bindparam("pid"))
                                .order_by(_DEC.c.created_at.desc(), _DEC.c.id.desc()).limit(1))
_APPROVALS = Prepared(select(_APR.c.id, _APR.c.proposal_id, _APR.c.proposal_hash, _APR.c.decision_id, _APR.c.actor,
                             _APR.c.role, _APR.c.verdict, _APR.c.comment, _APR.c.created_at)
                      .where(_APR.c.proposal_id == bindparam("pid")).order_by(_APR.c.created_at))
_USR = UserRow.__table__
_USER = Prepared(select(_USR.c.roles, _USR.c.kind, _USR.c.active).where(_USR.c.id == bindparam("uid")))
_FLEET_SIZE = Prepared(select(func.count()).select_from(_DEV))
_TARGETS_INTO = f"INSERT INTO {ProposalDeviceRow.__tablename__} (proposal_id, device_id) SELECT :pid, "
_TARGET_BINDS = (bindparam("pid", type_=String()), bindparam("ids", type_=String()))  # ids: a JSON array's text
_ADD_TARGETS = {
    "sqlite": Prepared(text(_TARGETS_INTO + "value FROM json_each(:ids)").bindparams(*_TARGET_BINDS)),
    "postgresql": Prepared(text(_TARGETS_INTO + "json_array_elements_text(CAST(:ids AS json))")
                           .bindparams(*_TARGET_BINDS)),
}
_PRO = ProposalRow.__table__
_LIVE_ROWS = Prepared(select(_PRO.c.id, _PRO.c.author, _PRO.c.changes).where(among(_PRO.c.id, "ids"))
                      .order_by(_PRO.c.id))
