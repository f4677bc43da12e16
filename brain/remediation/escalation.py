"""An upstream outage, seen from one caller's gateway, and the case a support agent opens for it.

Why here: when most homes on the same PON port (or CMTS) are degraded, no setting on one gateway
helps — the support agent should say so to the caller and hand the problem to the network team.
``core.topology.upstream_health`` already decides "suspected outage" from the siblings' WAN events
and latency; this module answers the console's question for one device (is there one, and is a
case already open for it?) and opens that case: one remediation case per upstream node, kind
``escalation``, problem ``upstream_outage``, status ``escalated`` (a person must act; no worker
dispatches it), its ``device_id`` the node's id. A second agent escalating the same node finds the
open case and adds their note to it rather than opening a twin.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brain.remediation.cases import NewCase, case_dict, open_many
from brain.remediation.schema import ACTIVE, RemediationCaseRow
from core import audit
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind
from core.store.db import Store

PROBLEM = "upstream_outage"
ESCALATORS = ("support_agent", "approver", "senior_approver", "admin")


def _open_case(s: Session, node_id: str) -> RemediationCaseRow | None:
    return s.scalars(select(RemediationCaseRow).where(RemediationCaseRow.device_id == node_id,
                                                      RemediationCaseRow.problem == PROBLEM,
                                                      RemediationCaseRow.status.in_(ACTIVE))).first()


def upstream_view(store: Store, device_id: str) -> JsonObject:
    """The device's upstream health (``core.topology``) and the open outage case of its upstream."""
    from core import topology

    with store.read() as s:
        health = topology.upstream_health(s, device_id)
        case = _open_case(s, health.upstream_id) if health.upstream_id else None
        return {**health.as_dict(), "case": case_dict(case) if case is not None else None}


def escalate(store: Store, device_id: str, actor: Actor, note: str, now: datetime) -> JsonObject:
    """Open (or add to) the escalated case of the device's upstream node; the case."""
    from core import topology

    if actor.kind is not ActorKind.HUMAN or not any(r in ESCALATORS for r in actor.roles):
        raise Forbidden(f"{actor.id} may not escalate an outage (support agents, approvers, admins)")
    note = note.strip()
    if len(note) > 2000:
        raise Invalid("the note is longer than 2000 characters")
    with store.write() as s:
        health = topology.upstream_health(s, device_id)
        node = health.upstream_id
        if node is None:
            raise Conflict(f"{device_id} has no known upstream (PON port / CMTS) to escalate to")
        chain = " → ".join(f"{n.kind} {n.label}" for n in health.chain) or node
        said = (f"{len(health.degraded)} of {health.siblings} other homes on {chain} degraded in the last "
                f"{health.window_hours:g} h" + ("" if health.suspected_outage else " (below the outage threshold)"))
        entry = {"by": actor.id, "at": now.isoformat(), "device_id": device_id, "note": note, "seen": said}
        existing = _open_case(s, node)
        row: RemediationCaseRow | None = existing
        if existing is not None:
            existing.evidence = {**(existing.evidence or {}),
                                 "escalations": [*(existing.evidence or {}).get("escalations", []), entry]}
            existing.hits += 1
            existing.updated_at = now
        else:
            item = NewCase(device_id=node, problem=PROBLEM, kind="escalation", upstream_id=node, cooldown_h=0,
                           last_evidence_at=now, status="escalated",
                           resolution=f"escalated by {actor.id} from {device_id}: {said}"
                                      + (f" — {note}" if note else ""),
                           evidence={"summary": f"suspected upstream outage on {chain}", "health": health.as_dict(),
                                     "escalations": [entry]})
            res = open_many(s, [item], now)
            row = _open_case(s, node)  # opened now, or by a concurrent escalation a moment ago
            if row is None:
                raise Conflict(f"the outage case for {node} could not be opened ({res.as_dict()})")
        assert row is not None
        audit.append(s, actor=actor.id, action="remediation.outage_escalated", device_id=device_id,
                     data={"case": row.id, "upstream": node, "note": note, "suspected_outage": health.suspected_outage,
                           "degraded": len(health.degraded), "siblings": health.siblings})
        return {**case_dict(row), "added": existing is not None}
