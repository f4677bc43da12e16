"""Row ↔ model conversion and the queries more than one caller needs.

Kept apart from the lifecycle so that the API, the planner's read tools and the CLI read the
store the same way without importing the lifecycle (which holds the write path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from core.errors import Invalid, NotFound
from core.models import (
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
    Proposal,
    ProposalState,
    Protocol,
    Root,
    Selector,
    utcnow,
)
from core.models import Decision as DecisionModel
from core.store.schema import (
    ApprovalRow,
    DeviceEventRow,
    DeviceRow,
    ExecutionRow,
    ParameterSnapshotRow,
    PolicyDecisionRow,
    ProposalDeviceRow,
    ProposalRow,
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
    out: dict[str, Device] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = list(ids[chunk_start:chunk_start + 500])
        for row in s.scalars(select(DeviceRow).where(DeviceRow.id.in_(chunk))):
            out[row.id] = device_from_row(row)
    return out


def select_devices(s: Session, sel: Selector) -> list[str]:
    """Ids a selector matches. Retired devices are never matched: a selector picks what may be
    changed, and a retired device may not be (issue 11)."""
    q = select(DeviceRow.id).where(DeviceRow.status == ACTIVE)
    if sel.model:
        q = q.where(DeviceRow.model == sel.model)
    if sel.vendor:
        q = q.where(DeviceRow.vendor == sel.vendor)
    if sel.firmware:
        q = q.where(DeviceRow.firmware == sel.firmware)
    if sel.region:
        q = q.where(DeviceRow.region == sel.region)
    if sel.subscriber:
        q = q.where(DeviceRow.subscriber == sel.subscriber)
    ids = list(s.scalars(q.order_by(DeviceRow.id)))
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
        conds.append(DeviceRow.id.like(like, escape="\\") | DeviceRow.subscriber.like(like, escape="\\")
                     | DeviceRow.model.like(like, escape="\\"))
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
    for start in range(0, len(ids), 900):
        for dev_id, status in s.execute(select(DeviceRow.id, DeviceRow.status)
                                        .where(DeviceRow.id.in_(list(ids[start:start + 900])))):
            found.add(dev_id)
            if status == RETIRED:
                retired.append(dev_id)
    if retired:
        raise Invalid(f"device {sorted(retired)[0]!r} is retired"
                      + (f" (and {len(retired) - 1} more)" if len(retired) > 1 else "")
                      + "; retired devices cannot be targeted (`gateward devices --status active`)")
    return found


def target_rows(s: Session, pid: str) -> list[DeviceLite]:
    """Every target of a proposal in one joined query, as light tuples."""
    rows = s.execute(select(DeviceRow.id, DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.root,
                            DeviceRow.protocol, DeviceRow.region, DeviceRow.last_seen)
                     .join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceRow.id)
                     .where(ProposalDeviceRow.proposal_id == pid))
    return [DeviceLite(*r) for r in rows]


def target_rows_for(s: Session, ids: Sequence[str]) -> list[DeviceLite]:
    out: list[DeviceLite] = []
    for start in range(0, len(ids), 900):
        rows = s.execute(select(DeviceRow.id, DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.root,
                                DeviceRow.protocol, DeviceRow.region, DeviceRow.last_seen)
                         .where(DeviceRow.id.in_(list(ids[start:start + 900]))))
        out += [DeviceLite(*r) for r in rows]
    return out


def target_classes(s: Session, pid: str) -> list[str]:
    """One representative device id per (vendor, model, firmware, protocol, root) among the targets."""
    rows = s.execute(select(func.min(DeviceRow.id))
                     .join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceRow.id)
                     .where(ProposalDeviceRow.proposal_id == pid)
                     .group_by(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.protocol,
                               DeviceRow.root))
    return [r[0] for r in rows]


# Snapshot sources that hold a handful of parameters, not a device's state. Nothing writes them any
# more (a backup lives in ``backups``; migration 0010 deleted the old rows), but readers still skip
# them so that a partial set is never taken for the device's state (issue 10, defect 12).
PARTIAL_SNAPSHOT_SOURCES = ("backup",)


def full_snapshot() -> ColumnElement[bool]:
    """The filter every "latest snapshot" reader applies: full snapshots only."""
    return ParameterSnapshotRow.source.not_in(PARTIAL_SNAPSHOT_SOURCES)


def latest_snapshot(s: Session, device_id: str) -> dict[str, Any] | None:
    row = s.scalar(select(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id == device_id, full_snapshot())
                   .order_by(ParameterSnapshotRow.taken_at.desc(), ParameterSnapshotRow.id.desc()).limit(1))
    return dict(row.params) if row else None


def latest_snapshots(s: Session, device_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The newest full stored snapshot per device, in chunked bulk queries (fleet-scale previews)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(device_ids), 900):
        chunk = list(device_ids[start:start + 900])
        newest = (select(ParameterSnapshotRow.device_id, func.max(ParameterSnapshotRow.id).label("mid"))
                  .where(ParameterSnapshotRow.device_id.in_(chunk), full_snapshot())
                  .group_by(ParameterSnapshotRow.device_id)
                  .subquery())
        for dev, params in s.execute(select(ParameterSnapshotRow.device_id, ParameterSnapshotRow.params)
                                     .join(newest, ParameterSnapshotRow.id == newest.c.mid)):
            out[dev] = params
    return out


def count_events_bulk(s: Session, device_ids: Sequence[str], kind: str, since: datetime) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(device_ids), 900):
        chunk = list(device_ids[start:start + 900])
        for dev, n in s.execute(select(DeviceEventRow.device_id, func.count()).where(
                DeviceEventRow.device_id.in_(chunk), DeviceEventRow.kind == kind, DeviceEventRow.ts >= since)
                .group_by(DeviceEventRow.device_id)).all():
            out[dev] = int(n)
    return out


def failed_changes_bulk(s: Session, device_ids: Sequence[str], days: int = 7) -> dict[str, int]:
    since = utcnow() - timedelta(days=days)
    bad = [str(b) for b in (ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
                            ExecutionStatus.VERIFY_FAILED)]
    out: dict[str, int] = {}
    for start in range(0, len(device_ids), 900):
        chunk = list(device_ids[start:start + 900])
        for dev, n in s.execute(select(ExecutionRow.device_id, func.count()).where(
                ExecutionRow.device_id.in_(chunk), ExecutionRow.status.in_(bad), ExecutionRow.started_at >= since)
                .group_by(ExecutionRow.device_id)).all():
            out[dev] = int(n)
    return out


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


def proposal_from_row(row: ProposalRow) -> Proposal:
    return Proposal(
        id=row.id, author=row.author, author_kind=ActorKind(row.author_kind), intent=row.intent,
        targets=list(row.targets), changes=[Change(**c) for c in row.changes],
        operations=[Operation(**o) for o in (row.operations or [])], rationale=row.rationale,
        evidence=[Evidence(**e) for e in (row.evidence or [])], emergency=row.emergency,
        action_type=row.action_type, staged=bool(row.staged), source=row.source, risk=row.risk,
        state=ProposalState(row.state),
        hash=row.hash, error=row.error, created_at=row.created_at, updated_at=row.updated_at,
    )


def proposal_to_row(p: Proposal) -> ProposalRow:
    return ProposalRow(
        id=p.id, author=p.author, author_kind=str(p.author_kind), intent=p.intent, targets=list(p.targets),
        changes=[c.model_dump(mode="json") for c in p.changes],
        operations=[o.model_dump(mode="json") for o in p.operations], rationale=p.rationale,
        evidence=[e.model_dump(mode="json") for e in p.evidence], emergency=p.emergency,
        action_type=p.action_type, staged=p.staged, source=p.source, risk=p.risk, state=str(p.state),
        hash=p.hash,
        error=p.error, created_at=p.created_at, updated_at=p.updated_at,
    )


_STMT: dict[str, Any] = {}  # heterogeneous statements; `_stmt` restores each one's type for its caller
_S = TypeVar("_S")


def _stmt(name: str, build: Callable[[], _S]) -> _S:
    """A read statement built once with bound parameters. Building (and cache-keying) a ``select``
    per call cost about as much as running it on the hot paths: the lifecycle reads its proposal
    row ten times per submit, the API reads its latest decision twice per answer (issue 15)."""
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


_LIVE_OVERLAP: Any = None


def _live_overlap_stmt() -> Any:
    """The self-join of :func:`live_overlapping`, built once: building it (two aliases) cost ~0.6 ms
    per policy decision, ten times running it (issue 15). ``pid`` is a bound parameter."""
    global _LIVE_OVERLAP
    if _LIVE_OVERLAP is None:
        from sqlalchemy import bindparam
        from sqlalchemy.orm import aliased

        mine, theirs = aliased(ProposalDeviceRow), aliased(ProposalDeviceRow)
        terminal = [str(t) for t in TERMINAL_STATES]
        _LIVE_OVERLAP = (select(theirs.proposal_id, theirs.device_id)
                         .join(mine, mine.device_id == theirs.device_id)
                         .join(ProposalRow, ProposalRow.id == theirs.proposal_id)
                         .where(mine.proposal_id == bindparam("pid"), theirs.proposal_id != bindparam("pid"),
                                ProposalRow.state.not_in(terminal)))
    return _LIVE_OVERLAP


def live_overlapping(s: Session, pid: str) -> list[tuple[Proposal, list[str]]]:
    """Live (non-terminal) proposals sharing a device with ``pid``, each with only the shared
    devices — one self-join, whatever the size of either proposal."""
    pairs = s.execute(_live_overlap_stmt(), {"pid": pid}).all()
    shared: dict[str, list[str]] = {}
    for other, dev in pairs:
        shared.setdefault(other, []).append(dev)
    if not shared:
        return []
    rows = s.scalars(select(ProposalRow).where(ProposalRow.id.in_(list(shared))))
    return [(proposal_from_row(r), shared[r.id]) for r in rows]


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


def decision_from_row(row: PolicyDecisionRow) -> DecisionRecord:
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


def latest_decision(s: Session, pid: str, *, include_dry_run: bool = False) -> PolicyDecisionRow | None:
    stmt = _stmt(f"latest_decision:{include_dry_run}", lambda: _latest_decision_stmt(include_dry_run))
    return s.scalar(stmt, {"pid": pid})


def approvals_for(s: Session, pid: str) -> list[Approval]:
    rows = s.scalars(select(ApprovalRow).where(ApprovalRow.proposal_id == pid).order_by(ApprovalRow.created_at))
    return [Approval(id=r.id, proposal_id=r.proposal_id, proposal_hash=r.proposal_hash, decision_id=r.decision_id,
                     actor=r.actor, role=r.role, verdict=r.verdict, comment=r.comment, created_at=r.created_at)  # type: ignore[arg-type]
            for r in rows]


def executions_for(s: Session, pid: str) -> list[Execution]:
    rows = s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == pid).order_by(ExecutionRow.device_id))
    return [Execution(id=r.id, proposal_id=r.proposal_id, device_id=r.device_id,
                      status=ExecutionStatus(r.status), key=r.key, detail=r.detail or {}, error=r.error,
                      started_at=r.started_at, finished_at=r.finished_at) for r in rows]
