"""Recording what happened to each device: the execution rows (each move checked against
:mod:`core.states`, audited, with the compatibility evidence of an outcome) and the snapshots a
verified apply or a restore leaves behind.

Why apart: the apply, the rollback and recovery all record device steps the same way; one
:class:`ExecutionLog` does it for them, in the caller's transaction or its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from core import audit, compat
from core.kernel.errors import Conflict, NotFound
from core.kernel.ids import new_id
from core.kernel.jsontypes import Json
from core.kernel.models import Device, ExecutionStatus, Proposal, utcnow
from core.lifecycle.context import LifecycleContext
from core.states import check_execution, move_execution
from core.store import repo
from core.store.records import ExecutionRecord, insert_rows
from core.store.schema import ParameterSnapshotRow, ProposalRow

_SNAPSHOTS = cast(Table, ParameterSnapshotRow.__table__)

class ExecutionLog:
    """Execution rows and the snapshots that follow them."""

    def __init__(self, ctx: LifecycleContext) -> None:
        self.ctx = ctx

    def update(self, pid: str, device: Device, status: ExecutionStatus, action: str, actor: str,
               detail: Mapping[str, Json] | None = None, error: str | None = None,
               ex: ExecutionRecord | None = None) -> None:
        with self.ctx.store.write() as s:
            self.update_in(s, pid, device, status, action, actor, detail, error, ex=ex)

    def update_in(self, s: Session, pid: str, device: Device, status: ExecutionStatus, action: str, actor: str,
                  detail: Mapping[str, Json] | None = None, error: str | None = None,
                  ex: ExecutionRecord | None = None, changes: Proposal | None = None,
                  save: bool = True) -> None:
        """Move one device's execution row (audited, compat evidence on an outcome) in the caller's
        transaction; ``ex`` is the row when the caller already loaded it, ``changes`` the proposal
        when the caller holds it (for the compatibility evidence). ``save=False``: the caller moves
        the same ``ex`` again in this transaction and saves it then."""
        if ex is None:
            ex = ExecutionRecord.one(s, pid, device.id)
        if ex is None:
            raise NotFound(f"no execution record for {device.id} in {pid}")
        before = move_execution(ex, status)
        if detail:
            ex.detail = {**(ex.detail or {}), **detail}
        if ex.detail and "waiting_for_inform" in ex.detail:  # the wait is over once the device moved on
            ex.detail = {k: v for k, v in ex.detail.items() if k != "waiting_for_inform"}
        if error is not None:
            ex.error = error
        if status is ExecutionStatus.APPLYING:
            ex.started_at = utcnow()
        if status in (ExecutionStatus.VERIFIED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
                      ExecutionStatus.FAILED):
            ex.finished_at = utcnow()
        if save:
            ex.save(s)
        audit.append(s, actor=actor, action=action, proposal_id=pid, device=device,
                     data={"status": str(status), **(detail or {}), **({"error": error} if error else {})})
        if any(compat.outcome_of(before, status)):  # evidence for the compatibility matrix
            data = compat.policy_data(self.ctx.policy)
            if changes is not None:
                workflows = compat.workflows_for(changes.changes, changes.operations, data)
            else:
                prow = s.get(ProposalRow, pid)
                workflows = compat.workflows_for(prow.changes, prow.operations, data) if prow is not None else []
            if workflows:
                compat.record(s, device, workflows, before, status, error)

    @staticmethod
    def open_in(s: Session, p: Proposal, devices: Sequence[Device]) -> dict[str, ExecutionRecord]:
        """One ``pending`` execution per device for this attempt, returned by device. A row that
        recovery marked ``abandoned`` (an earlier attempt died before any write) is reused, its
        history kept in ``detail.previous_attempts``; any other existing row means the proposal
        already ran here."""
        existing = {r.device_id: r for r in ExecutionRecord.for_proposal(s, p.id)}
        opened: dict[str, ExecutionRecord] = {}
        for d in devices:
            ex = existing.get(d.id)
            if ex is None:
                check_execution(None, ExecutionStatus.PENDING, f"{p.id}/{d.id}")
                ex = opened[d.id] = ExecutionRecord(id=new_id("x"), proposal_id=p.id, device_id=d.id,
                                                    status=str(ExecutionStatus.PENDING), key=p.id,
                                                    detail={"attempt": 1})
                ex.insert(s)
                continue
            if ex.status != str(ExecutionStatus.ABANDONED):
                raise Conflict(f"proposal {p.id} already has a {ex.status} execution on {d.id}; nothing was changed")
            old = dict(ex.detail or {})
            previous = list(old.pop("previous_attempts", []))
            previous.append({**old, "status": ex.status, "error": ex.error})
            move_execution(ex, ExecutionStatus.PENDING)
            ex.detail = {"attempt": int(old.get("attempt", 1)) + 1, "previous_attempts": previous}
            ex.error, ex.started_at, ex.finished_at = None, None, None
            ex.save(s)
            opened[d.id] = ex
        return opened

    @staticmethod
    def merge_snapshot(s: Session, device_id: str, values: dict[str, tuple[Any, str | None]], source: str) -> bool:
        """Store a new full snapshot of ``device_id``: its latest full snapshot with ``values``
        (path → (value, type)) put in, secrets masked. Without a full snapshot to start from nothing
        is stored — a handful of parameters must never pass for the device's state (defect 12).
        Returns whether a snapshot was stored."""
        from core.kernel.secrets import mask_params

        if not values:
            return False
        base = repo.latest_snapshot(s, device_id)
        if base is None:
            return False
        params = dict(base)
        for path, (value, typ) in values.items():
            old = params.get(path)
            params[path] = {"value": value, "type": typ or (old.get("type") if isinstance(old, dict) else "string")}
        insert_rows(s, _SNAPSHOTS, [{"device_id": device_id, "taken_at": utcnow(), "source": source,
                                     "params": mask_params(params)}])
        return True

    def snapshot_verified(self, s: Session, p: Proposal, devices: Sequence[Device]) -> None:
        """After a verified apply, each device's stored snapshot shows the values it now holds."""
        for d in devices:
            values = {c.path: (c.value, c.type) for c in p.changes_for(d.id)}
            self.merge_snapshot(s, d.id, values, "applied")
