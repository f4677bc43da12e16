"""Remediation cases: one per (device, problem) while active, a cooldown after closing.

Why a case and not just a proposal: the problem outlives any one proposal — it is detected again
and again while it lasts (those detections must not open twins), it may wait for a token, an
approver or a device that is offline, it is confirmed gone only some time after the fix landed,
and after it closes the same detection must not reopen it at once (cooldown) nor ever on the old
evidence that led to the fix.

Statuses: ``open`` (waiting for a worker and tokens) → ``dispatched`` (a worker has it) →
``proposed`` (waiting for approvers) / ``applied`` (the change verified; closes after the confirm
window unless the problem comes back) / ``escalated`` (a person must look: policy denied, the fix
failed, no automated remedy, profile conflict) → ``closed``. ``suppressed`` records detections
during a cooldown (one row per cooldown, counting hits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brain.remediation.schema import ACTIVE, RemediationCaseRow
from core.kernel.ids import new_id
from core.kernel.jsontypes import JsonObject

CHUNK = 2000


@dataclass
class NewCase:
    device_id: str
    problem: str
    kind: str
    evidence: dict[str, Any]
    upstream_id: str | None = None
    class_key: str = ""
    last_evidence_at: datetime | None = None
    cooldown_h: float = 24.0
    status: str = "open"
    resolution: str | None = None


@dataclass
class OpenResult:
    """What opening cases from detections did: the cases opened (and those a fix did not hold,
    ``persisted``), and how many detections were deduplicated, suppressed or stale. Bookkeeping of
    the case table in bulk, not an outcome of acting on a device: nothing here can fail."""

    opened: list[str] = field(default_factory=list)
    duplicates: int = 0
    suppressed: int = 0
    stale: int = 0
    persisted: list[str] = field(default_factory=list)

    def as_dict(self) -> JsonObject:
        return {"opened": len(self.opened), "duplicates": self.duplicates, "suppressed": self.suppressed,
                "stale": self.stale, "persisted_after_fix": len(self.persisted)}


def case_dict(r: RemediationCaseRow) -> JsonObject:
    def iso(x: datetime | None) -> str | None:
        return x.isoformat() if x else None

    return {"id": r.id, "device_id": r.device_id, "problem": r.problem, "kind": r.kind, "status": r.status,
            "upstream_id": r.upstream_id, "class": r.class_key, "proposal_id": r.proposal_id,
            "proposal_ids": list(r.proposal_ids or []), "attempts": r.attempts, "hits": r.hits,
            "evidence": r.evidence, "resolution": r.resolution, "opened_at": iso(r.opened_at),
            "updated_at": iso(r.updated_at), "dispatched_at": iso(r.dispatched_at), "applied_at": iso(r.applied_at),
            "closed_at": iso(r.closed_at), "cooldown_until": iso(r.cooldown_until), "not_before": iso(r.not_before)}


def _row(c: NewCase, now: datetime) -> dict[str, Any]:
    return {"id": new_id("rc"), "device_id": c.device_id, "problem": c.problem, "kind": c.kind, "status": c.status,
            "upstream_id": c.upstream_id, "class_key": c.class_key[:240], "proposal_id": None, "proposal_ids": [],
            "unit_id": None, "attempts": 0, "hits": 1, "evidence": c.evidence, "resolution": c.resolution,
            "not_before": None, "last_evidence_at": c.last_evidence_at, "opened_at": now, "updated_at": now,
            "dispatched_at": None, "applied_at": None, "closed_at": None,
            "cooldown_until": None}


def open_many(s: Session, items: Sequence[NewCase], now: datetime) -> OpenResult:
    """Open cases in bulk, deduplicated against active cases, cooldowns and stale evidence.
    Runs in the caller's write transaction; concurrent openers are resolved by the partial unique
    index (the loser counts a duplicate)."""
    out = OpenResult()
    merged: dict[tuple[str, str], NewCase] = {}
    for c in items:
        merged.setdefault((c.device_id, c.problem), c)
    keys = list(merged)
    for i in range(0, len(keys), CHUNK):
        _open_chunk(s, [merged[k] for k in keys[i:i + CHUNK]], now, out)
    return out


def _open_chunk(s: Session, items: list[NewCase], now: datetime, out: OpenResult) -> None:
    devices = sorted({c.device_id for c in items})
    rows = list(s.scalars(select(RemediationCaseRow).where(
        RemediationCaseRow.device_id.in_(devices),
        or_(RemediationCaseRow.status.in_(ACTIVE), RemediationCaseRow.status == "suppressed",
            RemediationCaseRow.closed_at.is_not(None)))))
    active: dict[tuple[str, str], RemediationCaseRow] = {}
    last_closed: dict[tuple[str, str], RemediationCaseRow] = {}
    suppressed: dict[tuple[str, str], RemediationCaseRow] = {}
    for r in rows:
        k = (r.device_id, r.problem)
        if r.status in ACTIVE:
            active[k] = r
        elif r.status == "suppressed":
            if r.cooldown_until and r.cooldown_until > now:
                suppressed[k] = r
        elif r.closed_at is not None and (k not in last_closed or r.closed_at > last_closed[k].closed_at):  # type: ignore[operator]
            last_closed[k] = r
    fresh: list[dict[str, Any]] = []
    for c in items:
        k = (c.device_id, c.problem)
        cur = active.get(k)
        if cur is not None:
            cur.hits += 1
            cur.updated_at = now
            if c.last_evidence_at and (cur.last_evidence_at is None or c.last_evidence_at > cur.last_evidence_at):
                cur.last_evidence_at = c.last_evidence_at
                cur.evidence = {**(cur.evidence or {}), "latest": c.evidence}
            seen, fixed = c.last_evidence_at, cur.applied_at
            newer = seen is not None and fixed is not None and seen > fixed
            if cur.status == "applied" and newer:
                cur.status = "escalated"
                cur.resolution = "the problem persisted after the fix was applied: " + str(c.evidence.get("summary"))
                out.persisted.append(cur.id)
            else:
                out.duplicates += 1
            continue
        closed = last_closed.get(k)
        if closed is not None and c.last_evidence_at is not None and closed.closed_at is not None \
                and c.last_evidence_at <= closed.closed_at:
            out.stale += 1  # the evidence that led to the last fix, still inside the window
            continue
        if closed is not None and closed.cooldown_until is not None and closed.cooldown_until > now:
            sup = suppressed.get(k)
            if sup is not None:
                sup.hits += 1
                sup.updated_at = now
            else:
                row = _row(c, now) | {"status": "suppressed", "cooldown_until": closed.cooldown_until,
                                      "resolution": f"in cooldown after case {closed.id} until "
                                                    f"{closed.cooldown_until:%Y-%m-%d %H:%M}Z", "closed_at": now}
                fresh.append(row)
                suppressed[k] = RemediationCaseRow(**row)
            out.suppressed += 1
            continue
        row = _row(c, now)
        if c.status == "escalated":
            row["resolution"] = c.resolution
        fresh.append(row)
        out.opened.append(row["id"])
    if not fresh:
        return
    try:
        with s.begin_nested():
            s.execute(insert(RemediationCaseRow), fresh)
    except IntegrityError:
        for row in fresh:  # a concurrent opener won some of them: insert one by one
            try:
                with s.begin_nested():
                    s.execute(insert(RemediationCaseRow), [row])
            except IntegrityError:
                if row["id"] in out.opened:
                    out.opened.remove(row["id"])
                out.duplicates += 1


def queue_depth(s: Session) -> dict[str, int]:
    counts = dict(s.execute(select(RemediationCaseRow.status, func.count()).group_by(RemediationCaseRow.status))
                  .all())
    return {str(k): int(v) for k, v in counts.items()}


def latest_for(s: Session, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RemediationCaseRow]:
    if not pairs:
        return {}
    q = select(RemediationCaseRow).where(tuple_(RemediationCaseRow.device_id, RemediationCaseRow.problem)
                                         .in_(list(pairs)))
    out: dict[tuple[str, str], RemediationCaseRow] = {}
    for r in s.scalars(q.order_by(RemediationCaseRow.opened_at)):
        out[(r.device_id, r.problem)] = r
    return out


def confirm_applied(s: Session, now: datetime, confirm_h: float, cooldowns: dict[str, float]) -> int:
    """Close applied cases whose problem did not come back within the confirm window."""
    cutoff = now - timedelta(hours=confirm_h)
    rows = list(s.scalars(select(RemediationCaseRow).where(
        RemediationCaseRow.status == "applied", RemediationCaseRow.applied_at <= cutoff).limit(5000)))
    for r in rows:
        by = ", ".join(r.proposal_ids or []) or r.proposal_id
        text = (f"provisioned by {by}" if r.kind == "ztp" else
                f"fixed by {by}; not detected again for {confirm_h:g} h")
        close(r, now, text, cooldowns.get(r.problem, 0.0 if r.kind == "ztp" else 24.0))
    return len(rows)


def close(r: RemediationCaseRow, now: datetime, resolution: str, cooldown_h: float) -> None:
    r.status = "closed"
    r.resolution = resolution[:2000]
    r.closed_at = now
    r.updated_at = now
    r.cooldown_until = now + timedelta(hours=cooldown_h)


def stale_dispatched(s: Session, now: datetime, after_s: float) -> int:
    """Dispatched cases whose worker is gone (SQLite in-memory queue after a restart, a job lost):
    back to open. A case's proposal, if it got one, is followed, never made twice."""
    cutoff = now - timedelta(seconds=after_s)
    rows = list(s.scalars(select(RemediationCaseRow).where(
        RemediationCaseRow.status == "dispatched", RemediationCaseRow.dispatched_at < cutoff).limit(5000)))
    for r in rows:
        r.status, r.unit_id, r.updated_at = "open", None, now
    return len(rows)


def open_candidates(s: Session, now: datetime, halted: Sequence[str], limit: int) -> list[RemediationCaseRow]:
    q = (select(RemediationCaseRow).where(
        RemediationCaseRow.status == "open",
        or_(RemediationCaseRow.not_before.is_(None), RemediationCaseRow.not_before <= now))
        .order_by(RemediationCaseRow.opened_at, RemediationCaseRow.id).limit(limit))
    if halted:
        q = q.where(and_(RemediationCaseRow.problem.not_in(list(halted))))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)  # two workers ticking at once take disjoint cases
    return list(s.scalars(q))
