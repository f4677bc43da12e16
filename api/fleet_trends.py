"""The fleet over time: trends for a range, the upstreams in trouble now, and
the tiles' counts done right.

Each trend is counted by the database in fixed buckets (about 48 per range), so a range of a month
over a large fleet is one grouped query per series, not rows shipped to Python:

* ``online_pct`` — the share of ``wan.up`` samples that said up, per bucket (the fleet's own
  reports; presence is asked live and has no history);
* ``changes_per_hour`` — device writes that finished verified, per hour of the bucket;
* ``failure_pct`` — of the device writes that finished, the share that failed or rolled back;
* ``cases_opened`` / ``cases_closed`` — remediation cases by when they opened and closed.

The outage list applies ``core.topology``'s suspected-outage rule to every upstream at once: an
upstream with at least ``OUTAGE_MIN_SIBLINGS`` other devices where at least half reported WAN
trouble in the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from core.kernel.models import utcnow
from core.store.buckets import time_bucket
from core.store.schema import DeviceEventRow, DeviceRow, ExecutionRow, TelemetryRow, TopologyNodeRow

BUCKETS = 48
FINISHED_OK = ("verified",)
FINISHED_BAD = ("failed", "rolled_back", "verify_failed", "rollback_failed")
# Remediation cases a person still has to look at; an applied case waits for its verification.
OPEN_CASE_STATES = ("open", "dispatched", "proposed", "escalated")


def _counts(s: Session, col: Any, size_s: int, since: datetime, *where: Any) -> dict[int, float]:
    dialect = s.get_bind().dialect.name
    b = time_bucket(dialect, col, size_s).label("b")
    rows = s.execute(select(b, func.count()).where(col >= since, *where).group_by(b))
    return {int(k): float(n) for k, n in rows if k is not None}


def trends(s: Session, hours: int, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    size_s = max(300, math.ceil(hours * 3600 / BUCKETS / 300) * 300)
    since = now - timedelta(hours=hours)
    first = int(since.timestamp()) // size_s
    last = int(now.timestamp()) // size_s
    dialect = s.get_bind().dialect.name
    b = time_bucket(dialect, TelemetryRow.ts, size_s).label("b")
    up = {int(k): (float(avg) * 100 if avg is not None else None) for k, avg in s.execute(
        select(b, func.avg(TelemetryRow.value)).where(TelemetryRow.metric == "wan.up", TelemetryRow.ts >= since)
        .group_by(b)) if k is not None}
    ok = _counts(s, ExecutionRow.finished_at, size_s, since, ExecutionRow.status.in_(FINISHED_OK))
    bad = _counts(s, ExecutionRow.finished_at, size_s, since, ExecutionRow.status.in_(FINISHED_BAD))
    opened, closed = _cases(s, size_s, since)
    points = []
    for k in range(first, last + 1):
        done = ok.get(k, 0.0) + bad.get(k, 0.0)
        online = up.get(k)
        points.append({"ts": datetime.fromtimestamp(k * size_s, now.tzinfo).isoformat(),
                       "online_pct": round(online, 2) if online is not None else None,
                       "changes_per_hour": round(ok.get(k, 0.0) * 3600 / size_s, 2),
                       "failure_pct": round(100 * bad.get(k, 0.0) / done, 1) if done else None,
                       "cases_opened": int(opened.get(k, 0)), "cases_closed": int(closed.get(k, 0))})
    return {"hours": hours, "bucket_s": size_s, "since": since.isoformat(), "points": points,
            "totals": {"changes": int(sum(ok.values())), "failures": int(sum(bad.values())),
                       "cases_opened": int(sum(opened.values())), "cases_closed": int(sum(closed.values()))}}


def _cases(s: Session, size_s: int, since: datetime) -> tuple[dict[int, float], dict[int, float]]:
    try:
        from brain.remediation.schema import RemediationCaseRow
    except ImportError:  # a build without remediation
        return {}, {}
    return (_counts(s, RemediationCaseRow.opened_at, size_s, since),
            _counts(s, RemediationCaseRow.closed_at, size_s, since))


def open_cases_by_problem(s: Session) -> tuple[dict[str, int], int]:
    """Open cases per problem (applied ones are not open), and how many are applied and waiting
    for their verification."""
    try:
        from brain.remediation.schema import RemediationCaseRow
    except ImportError:
        return {}, 0
    rows = s.execute(select(RemediationCaseRow.problem, func.count()).where(
        RemediationCaseRow.status.in_(OPEN_CASE_STATES)).group_by(RemediationCaseRow.problem)).all()
    applied = int(s.scalar(select(func.count()).select_from(RemediationCaseRow).where(
        RemediationCaseRow.status == "applied")) or 0)
    return {str(p): int(n) for p, n in sorted(rows, key=lambda r: (-int(r[1]), str(r[0])))}, applied


def active_campaigns(s: Session) -> int:
    """Every campaign not in a terminal state (denied, rejected, aborted, completed, failed are
    not active), however many there are."""
    try:
        from campaigns.schema import CampaignRow
        from campaigns.states import TERMINAL
    except ImportError:
        return 0
    return int(s.scalar(select(func.count()).select_from(CampaignRow).where(
        CampaignRow.state.not_in(sorted(TERMINAL)))) or 0)


def outages(s: Session, hours: float = 6, now: datetime | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Upstreams (PON port, CMTS …) where most devices reported WAN trouble in the window: which
    one, its parent (the OLT), and N of N degraded, worst first."""
    from core.store.schema import degraded_event
    from core.topology import OUTAGE_DEGRADED_SHARE, OUTAGE_MIN_SIBLINGS

    since = (now or utcnow()) - timedelta(hours=hours)
    bad = {str(u): int(n) for u, n in s.execute(
        select(DeviceRow.upstream_id, func.count(func.distinct(DeviceEventRow.device_id)))
        .join(DeviceEventRow, DeviceEventRow.device_id == DeviceRow.id)
        .where(DeviceRow.upstream_id.is_not(None), degraded_event(),  # the partial index: migration 0036
               DeviceEventRow.ts >= since).group_by(DeviceRow.upstream_id)) if u is not None}
    if not bad:
        return []
    sizes = _sizes(s, bad)
    hits = [(u, n, sizes.get(u, 0)) for u, n in bad.items()]
    hits = [(u, n, total) for u, n, total in hits
            if total - 1 >= OUTAGE_MIN_SIBLINGS and n / max(total, 1) >= OUTAGE_DEGRADED_SHARE]
    hits.sort(key=lambda h: (-h[1] / max(h[2], 1), -h[1], h[0]))
    hits = hits[:limit]
    nodes = {r.id: r for r in s.scalars(select(TopologyNodeRow).where(TopologyNodeRow.id.in_([u for u, _, _ in hits])))}
    parents = {r.id: r for r in s.scalars(select(TopologyNodeRow).where(
        TopologyNodeRow.id.in_([n.parent_id for n in nodes.values() if n.parent_id])))}
    out = []
    for u, n, total in hits:
        node = nodes.get(u)
        parent = parents.get(node.parent_id) if node is not None and node.parent_id else None
        out.append({"upstream_id": u, "kind": node.kind if node else "upstream", "label": node.label if node else u,
                    "parent": {"id": parent.id, "kind": parent.kind, "label": parent.label} if parent else None,
                    "degraded": n, "devices": total, "window_hours": hours})
    return out


def _sizes(s: Session, upstreams: Iterable[str]) -> dict[str, int]:
    ids = list(upstreams)
    out: dict[str, int] = {}
    for i in range(0, len(ids), 500):
        out.update({str(u): int(n) for u, n in s.execute(
            select(DeviceRow.upstream_id, func.count()).where(DeviceRow.upstream_id.in_(ids[i:i + 500]))
            .group_by(DeviceRow.upstream_id))})
    return out


__all__ = ["active_campaigns", "faults", "open_cases_by_problem", "outages", "trends"]


FAULT_STATES = ("failed", "verify_failed", "rolled_back", "rollback_failed")
# A rollback a person decided on — a campaign's abort (core/staged/rollout.py: "abort: …") or a
# rollback asked for by hand (core/lifecycle/rollback.py: "manual: …") — undoes a write that held:
# not a fault. Its reason is the execution's error; the audit trail keeps it.
PERSON_ROLLBACKS = ("abort:", "manual:")


def _not_a_persons_rollback() -> ColumnElement[bool]:
    error = func.coalesce(ExecutionRow.error, "")
    decided = or_(*(error.startswith(p, autoescape=True) for p in PERSON_ROLLBACKS))
    return ~and_(ExecutionRow.status == "rolled_back", decided)


def faults(s: Session, *, limit: int = 50, before: str | None = None, device_id: str | None = None
           ) -> dict[str, Any]:
    """Device writes that did not hold — failed, failed verification (and were rolled back), a
    rollback that failed — newest first, across the fleet: which device, which proposal and why (the
    execution's error). A rollback a person decided on is not one. Keyset-paged on (finished_at, id):
    ``before`` is the ``next`` of the page before."""
    from core.store.schema import ProposalRow

    q = (select(ExecutionRow.id, ExecutionRow.device_id, ExecutionRow.proposal_id, ExecutionRow.status,
                ExecutionRow.error, ExecutionRow.finished_at, ProposalRow.intent)
         .join(ProposalRow, ProposalRow.id == ExecutionRow.proposal_id)
         .where(ExecutionRow.status.in_(FAULT_STATES), ExecutionRow.finished_at.is_not(None),
                _not_a_persons_rollback()))
    if device_id:
        q = q.where(ExecutionRow.device_id == device_id)
    if before:
        ts, _, eid = before.partition("|")
        try:
            at = datetime.fromisoformat(ts)
        except ValueError as exc:
            from core.kernel.errors import Invalid

            raise Invalid("before is not a cursor this list gave out") from exc
        q = q.where((ExecutionRow.finished_at < at) | ((ExecutionRow.finished_at == at) & (ExecutionRow.id < eid)))
    rows = s.execute(q.order_by(ExecutionRow.finished_at.desc(), ExecutionRow.id.desc()).limit(limit + 1)).all()
    items = [{"execution_id": r.id, "device_id": r.device_id, "proposal_id": r.proposal_id, "intent": r.intent,
              "status": r.status, "error": r.error, "finished_at": r.finished_at.isoformat()} for r in rows[:limit]]
    nxt = f"{rows[limit - 1].finished_at.isoformat()}|{rows[limit - 1].id}" if len(rows) > limit else None
    return {"items": items, "next": nxt}
