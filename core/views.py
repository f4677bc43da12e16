"""Read models for output (API, CLI, console): everything masked, nothing writable.

Proposals keep secret values in the store because the lifecycle must write them; no surface
shows them. These functions are the one place that turns stored objects into what people see.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.kernel.jsontypes import JsonObject
from core.kernel.models import Approval, Execution, Proposal
from core.kernel.secrets import MASK, is_secret_path
from core.readmodels.proposal import DecisionDetailView
from core.store import repo
from core.store.records import DecisionRowRecord


def proposal_public(p: Proposal) -> JsonObject:
    data = p.model_dump(mode="json")
    data["changes"] = [{**c, "value": MASK} if is_secret_path(c["path"]) else c for c in data["changes"]]
    return data


def decision_public(rec: DecisionRowRecord | DecisionDetailView, current_hash: str) -> JsonObject:
    """A policy decision as the detail shows it: its result's fields flat, and whether it is for the
    proposal's current content (``current_hash``)."""
    return {"id": rec.id, "proposal_hash": rec.proposal_hash, "current": rec.proposal_hash == current_hash,
            "revision": rec.revision, "engine": rec.engine, "duration_us": rec.duration_us,
            "created_at": rec.created_at.isoformat(), "would_deny": rec.would_deny, **rec.result}


def approval_public(a: Approval, current_hash: str) -> JsonObject:
    """An approval, and whether it is bound to the proposal's current content."""
    return {**a.model_dump(mode="json"), "current": a.proposal_hash == current_hash}


def execution_public(e: Execution) -> JsonObject:
    return e.model_dump(mode="json")


def proposal_detail(s: Session, pid: str) -> JsonObject:
    row = repo.get_proposal_row(s, pid)
    p = repo.proposal_from_row(row)
    rec = repo.latest_decision(s, pid)
    decision = decision_public(rec, p.hash) if rec is not None else None
    approvals = [approval_public(a, p.hash) for a in repo.approvals_for(s, pid)]
    executions = [execution_public(e) for e in repo.executions_for(s, pid)]
    return {"proposal": proposal_public(p), "preview": row.preview, "decision": decision,
            "approvals": approvals, "executions": executions}
