"""What an approver needs on one screen, assembled from the store (read-only, masked).

Builds on ``core.views.proposal_detail`` (proposal, per-device preview diff, decision, approvals,
executions) and adds what the console shows beside it: the backup, the blast radius (targets by
model / firmware / region), the proposal's execution log from the audit trail, and the policy
decision in plain words. Secret values never leave: previews and the trail are masked by the
lifecycle and the audit module already, and everything is masked again here, because a leaked
passphrase cannot be taken back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.scrub import scrub
from core.models import Proposal
from core.secrets import MASK, mask_changes, mask_params
from core.store import repo
from core.store.schema import AuditEventRow, BackupRow, DeviceRow, ProposalDeviceRow, ProposalRow
from core.views import proposal_detail

LOG_LIMIT = 300


_SUMMARY_COLUMNS = (ProposalRow.id, ProposalRow.author, ProposalRow.intent, ProposalRow.state, ProposalRow.risk,
                    ProposalRow.hash, ProposalRow.targets, ProposalRow.changes, ProposalRow.operations,
                    ProposalRow.source, ProposalRow.error, ProposalRow.created_at, ProposalRow.updated_at)


def _iso(ts: Any) -> str:
    return str(ts.isoformat().replace("+00:00", "Z"))


def list_summaries(s: Session, *, states: list[str] | None, author: str | None, device_id: str | None,
                   limit: int, offset: int) -> list[dict[str, Any]]:
    """The queue's rows straight from the columns (no ORM objects, no full proposal models):
    the list is the API's hottest read. Same order and masking as ``repo.list_proposals`` and
    ``core.views.proposal_public``."""
    q = select(*_SUMMARY_COLUMNS)
    if states:
        q = q.where(ProposalRow.state.in_(states))
    if author:
        q = q.where(ProposalRow.author == author)
    if device_id:
        q = q.join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id).where(
            ProposalDeviceRow.device_id == device_id)
    rows = s.execute(q.order_by(ProposalRow.created_at.desc(), ProposalRow.id).limit(limit).offset(offset))
    out = []
    for (pid, author_, intent, state, risk, hash_, targets, changes, operations, source, error, created,
         updated) in rows:
        targets = list(targets or [])
        out.append({"id": pid, "author": author_, "intent": intent, "state": state, "risk": risk, "hash": hash_,
                    "target_count": len(targets), "targets": targets[:20], "changes": mask_changes(changes or []),
                    "operations": list(operations or []), "source": source, "error": error,
                    "created_at": _iso(created), "updated_at": _iso(updated)})
    return out


def count_proposals(s: Session, states: list[str] | None, author: str | None, device_id: str | None) -> int:
    q = select(func.count()).select_from(ProposalRow)
    if states:
        q = q.where(ProposalRow.state.in_(states))
    if author:
        q = q.where(ProposalRow.author == author)
    if device_id:
        q = q.join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id).where(
            ProposalDeviceRow.device_id == device_id)
    return int(s.scalar(q) or 0)


def blast_radius(s: Session, targets: list[str]) -> dict[str, Any]:
    models: Counter[str] = Counter()
    firmwares: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    subscribers: set[str] = set()
    for start in range(0, len(targets), 500):
        chunk = targets[start:start + 500]
        rows = s.execute(select(DeviceRow.model, DeviceRow.firmware, DeviceRow.region, DeviceRow.subscriber)
                         .where(DeviceRow.id.in_(chunk)))
        for model, firmware, region, sub in rows:
            models[model] += 1
            firmwares[f"{model} {firmware}"] += 1
            regions[region] += 1
            if sub:
                subscribers.add(sub)
    return {"targets": len(targets), "subscribers": len(subscribers), "by_model": dict(models.most_common()),
            "by_firmware": dict(firmwares.most_common()), "by_region": dict(regions.most_common())}


def _mask_preview(preview: dict[str, Any] | None) -> dict[str, Any] | None:
    if not preview:
        return preview
    devices = []
    for d in preview.get("devices", []):
        lines = mask_changes(d.get("lines", []))
        for ln in lines:
            if ln.get("secret"):
                ln["before"] = MASK if ln.get("before") not in (None, "") else ln.get("before")
                ln["after"] = MASK
        devices.append({**d, "lines": lines})
    return {**preview, "devices": devices}


def _backup(s: Session, pid: str) -> list[dict[str, Any]]:
    rows = s.scalars(select(BackupRow).where(BackupRow.proposal_id == pid).order_by(BackupRow.device_id))
    return [{"device_id": r.device_id, "created_at": r.created_at.isoformat(), "params": mask_params(r.params or {})}
            for r in rows]


def _log(s: Session, pid: str) -> list[dict[str, Any]]:
    rows = list(s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid)
                          .order_by(AuditEventRow.seq.desc()).limit(LOG_LIMIT)))
    return [{"seq": r.seq, "ts": r.ts.isoformat(), "actor": r.actor, "action": r.action, "device_id": r.device_id,
             "data": r.data} for r in reversed(rows)]


def explanation(s: Session, p: Proposal) -> str | None:
    from policies.explain import explain

    rec = repo.latest_decision(s, p.id, include_dry_run=True)
    return None if rec is None else explain(p, rec)


def detail(s: Session, pid: str) -> dict[str, Any]:
    out = proposal_detail(s, pid)
    p = repo.proposal_from_row(repo.get_proposal_row(s, pid))
    out["preview"] = _mask_preview(out.get("preview"))
    if out.get("decision") is not None:
        out["decision"]["explanation"] = explanation(s, p)
    out["backup"] = _backup(s, pid)
    out["blast_radius"] = blast_radius(s, list(p.targets))
    out["log"] = _log(s, pid)
    return dict(scrub(out))
