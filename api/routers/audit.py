"""Audit: query the trail (newest first, keyset-paginated by ``seq``) and verify its hash chain.

Read-only for every authenticated role: the trail is what auditors work from, and support and
approvers need it to answer "who changed this and why". Secret values were masked when each
event was appended; responses are scrubbed again on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import ActorDep, RuntimeDep
from api.errors import errors_for
from api.schemas import AuditFindingOut, AuditPage, AuditVerifyOut
from api.scrub import scrub
from core.audit import to_model, verify_chain
from core.errors import Invalid
from core.store.schema import AuditEventRow

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=errors_for(401))


def _utc(ts: datetime | None, name: str) -> datetime | None:
    """Aware UTC, or a 422 for a timestamp that cannot be one (e.g. year 9999 at -23:59)."""
    if ts is None:
        return None
    try:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise Invalid(f"{name}: {ts.isoformat()} is out of range") from exc


@router.get("", response_model=AuditPage, responses=errors_for(422))
def list_events(rt: RuntimeDep, _: ActorDep,
                proposal: Annotated[str | None, Query(max_length=64)] = None,
                device: Annotated[str | None, Query(max_length=128)] = None,
                subscriber: Annotated[str | None, Query(max_length=64)] = None,
                actor: Annotated[str | None, Query(max_length=64)] = None,
                action: Annotated[str | None, Query(max_length=64, description="exact, or a prefix ending in "
                                                    "'.' or '*' (e.g. 'proposal.' or 'device.*')")] = None,
                since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
                until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
                before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    since, until = _utc(since, "since"), _utc(until, "until")
    q = select(AuditEventRow)
    if proposal:
        q = q.where(AuditEventRow.proposal_id == proposal)
    if device:
        q = q.where(AuditEventRow.device_id == device)
    if subscriber:
        q = q.where(AuditEventRow.subscriber == subscriber)
    if actor:
        q = q.where(AuditEventRow.actor == actor)
    if action:
        if action.endswith("*") or action.endswith("."):
            prefix = action.rstrip("*")
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(AuditEventRow.action.like(f"{escaped}%", escape="\\"))
        else:
            q = q.where(AuditEventRow.action == action)
    if since:
        q = q.where(AuditEventRow.ts >= since)
    if until:
        q = q.where(AuditEventRow.ts < until)
    if before_seq:
        q = q.where(AuditEventRow.seq < before_seq)
    with rt.store.read() as s:
        rows = list(s.scalars(q.order_by(AuditEventRow.seq.desc()).limit(limit)))
    items = [scrub(to_model(r).model_dump(mode="json")) for r in rows]
    nxt = rows[-1].seq if len(rows) == limit and rows[-1].seq > 1 else None
    return AuditPage(items=items, next_before_seq=nxt)


@router.get("/verify", response_model=AuditVerifyOut)
def verify(rt: RuntimeDep, _: ActorDep) -> AuditVerifyOut:
    """Check the chain, the keyed head, the keyed checkpoints and this host's anchor file; ``ok=false``
    names the first finding, ``findings`` lists them all, and the answer says what it checked and
    what it cannot detect."""
    with rt.store.read() as s:
        report = verify_chain(s)
    return AuditVerifyOut(ok=report.ok, count=report.count, first_broken_seq=report.first_broken_seq,
                          message=report.message(),
                          findings=[AuditFindingOut(seq=f.seq, text=f.text) for f in report.findings],
                          checked=report.checked, cannot_detect=report.cannot_detect)
