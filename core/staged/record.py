"""Writing down what a batch did: each device's final result, its audit events and its
compatibility evidence, in one transaction per batch — and the restore of one device from its
backup, the step every phase that finds a device failed ends with."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from core import audit, compat
from core.execution import UNCONFIRMED_ACTION
from core.kernel.models import Actor, Device, Proposal, utcnow
from core.results import DeviceResult
from core.staged.context import StagedContext
from core.staged.outcome import FINAL, BatchOutcome, X
from core.states import check_execution
from core.store.schema import BackupRow, ExecutionRow

EXECS = cast(Table, ExecutionRow.__table__)
BACKUPS = cast(Table, BackupRow.__table__)
# Executed once per batch with one parameter set per device (executemany), built once.
RESTART = update(EXECS).where(EXECS.c.id == bindparam("b_id")).values(
    status=bindparam("status"), started_at=bindparam("started_at", type_=EXECS.c.started_at.type))
SETTLE = update(EXECS).where(EXECS.c.id == bindparam("b_id")).values(
    status=bindparam("status"), detail=bindparam("detail", type_=EXECS.c.detail.type), error=bindparam("error"),
    finished_at=bindparam("finished_at", type_=EXECS.c.finished_at.type))


def restore_one(ctx: StagedContext, p: Proposal, d: Device, backup: dict[str, Any], out: BatchOutcome,
                reason: str) -> DeviceResult:
    """Put ``d`` back from ``backup``; the result carries ``reason`` (why it was restored)."""
    with out.on_device():
        res = ctx.engine.restore(p, d, backup, reason)
    res.reason = reason
    return res


def record(ctx: StagedContext, p: Proposal, devices: list[Device], results: dict[str, DeviceResult],
           actor: Actor) -> None:
    """Each device's final result, its audit events and its compatibility evidence, in one
    transaction per batch (a single apply records per step; the counts come out the same).
    Every status change is checked against the execution state machine before anything is
    written; the rows are then updated by one statement executed for the whole batch."""
    now = utcnow()
    events: list[audit.EventArgs] = []
    with ctx.store.write() as s:
        rows = {r.device_id: r for r in s.execute(select(
            EXECS.c.id, EXECS.c.device_id, EXECS.c.status, EXECS.c.detail, EXECS.c.finished_at).where(
            EXECS.c.proposal_id == p.id, EXECS.c.device_id.in_([d.id for d in devices])))}
        evidence: list[tuple[tuple[str, str, str, str], tuple[int, int, int], str | None]] = []
        workflows = compat.workflows_for(p.changes, p.operations, compat.policy_data(ctx.policy))
        updates: list[dict[str, Any]] = []
        for d in devices:
            res = results.get(d.id) or DeviceResult(d.id, X.PENDING)
            status, detail, err = res.status, res.evidence, res.error if res.failed else None
            row = rows[d.id]
            check_execution(row.status, status, f"{p.id}/{d.id}")
            inc = compat.outcome_of(row.status, status)
            if any(inc):
                evidence += [((d.vendor, d.model, d.firmware, wf), inc, err) for wf in workflows]
            updates.append({"b_id": row.id, "status": str(status), "detail": {**(row.detail or {}), **detail},
                            "error": err, "finished_at": now if status in FINAL else row.finished_at})
            events += _events(p, d, res, actor, err)
        if updates:
            s.execute(SETTLE, updates)
        audit.append_many(s, events)
        compat.record_many(s, evidence)  # the compatibility matrix, in the same transaction


def _events(p: Proposal, d: Device, res: DeviceResult, actor: Actor, err: str | None) -> list[audit.EventArgs]:
    """A device's audit event for its final status, and the alarms it raises."""
    status = res.status
    data = {"status": str(status), **res.evidence, **({"error": err} if err else {})}
    events: list[audit.EventArgs] = [{"actor": actor.id, "action": f"device.{status}", "proposal_id": p.id,
                                     "device": d, "data": data}]
    if status is X.ROLLBACK_FAILED:
        events.append({"actor": actor.id, "action": "alarm.rollback_failed", "proposal_id": p.id,
                       "device": d, "data": {"severity": "critical", "error": err,
                                             "action_needed": "inspect and restore by hand"}})
    if res.unconfirmed:
        events.append({"actor": actor.id, "action": "alarm.operation_unconfirmed", "proposal_id": p.id,
                       "device": d, "data": {"severity": "critical", "error": err, "commands": res.unconfirmed,
                                             "action_needed": UNCONFIRMED_ACTION}})
    return events
