"""Devices a dead worker left mid-way, found by a redelivered batch. One whose rollback was already
decided is restored — unless it was recorded unconfirmed (an operation nobody saw complete) with
nothing to write back: that stays ``verify_failed`` (an empty restore would record an undo a reboot
cannot have). Otherwise it is read back: verified if it holds; handed back to be written again only
if it was left ``applying`` and still holds exactly its backup (the worker never reached it — a
parameter Set is idempotent, an operation is never re-run on a guess); restored otherwise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.kernel.models import Actor, Device, ExecutionStatus, Proposal
from core.results import DeviceResult
from core.staged.context import StagedContext
from core.staged.outcome import DECIDED, BatchOutcome, X
from core.staged.record import EXECS, record, restore_one
from core.store.schema import BackupRow


def resume(ctx: StagedContext, p: Proposal, devices: list[Device], status: dict[str, ExecutionStatus],
           actor: Actor, out: BatchOutcome) -> list[Device]:
    """Settle ``devices`` (``status``: what each one's record says); returns those to write again."""
    if not devices:
        return []
    with ctx.store.read() as s:
        backups = {b.device_id: b.params for b in s.scalars(select(BackupRow).where(
            BackupRow.proposal_id == p.id, BackupRow.device_id.in_([d.id for d in devices])))}
        decided = [d.id for d in devices if status[d.id] in DECIDED]
        recorded = {r.device_id: r for r in s.execute(select(
            EXECS.c.device_id, EXECS.c.detail, EXECS.c.error).where(
            EXECS.c.proposal_id == p.id, EXECS.c.device_id.in_(decided)))} if decided else {}
    results: dict[str, DeviceResult] = {}
    requeue: list[Device] = []
    for d in devices:
        backup = backups.get(d.id, {})
        if status[d.id] in DECIDED:  # the safer rule (core.lifecycle recovery): finish the rollback
            res = _finish_rollback(ctx, p, d, backup, recorded.get(d.id), out)
            if res is not None:
                results[d.id] = res
            continue
        with out.on_device():
            read_back = ctx.engine.verify(p, d)
        if not read_back.failed:
            results[d.id] = DeviceResult(d.id, X.VERIFIED, changed=True, evidence={"resumed": True})
        elif status[d.id] is X.APPLYING and _untouched(ctx, p, d, backup, out):
            requeue.append(d)  # still exactly as backed up: the dead worker never reached it
        else:
            results[d.id] = restore_one(ctx, p, d, backup, out, "interrupted write did not hold")
    for res in results.values():
        out.add(res)
    record(ctx, p, [d for d in devices if d.id in results], results, actor)
    return requeue


def _finish_rollback(ctx: StagedContext, p: Proposal, d: Device, backup: dict[str, Any], row: Any,
                     out: BatchOutcome) -> DeviceResult | None:
    """The restore a dead worker had decided; None when there is nothing to record (an unconfirmed
    operation with nothing to write back stays verify_failed, its alarm already raised)."""
    detail = (row.detail if row is not None else None) or {}
    if not detail.get("unconfirmed"):
        return restore_one(ctx, p, d, backup, out, "interrupted rollback finished")
    # an operation nobody saw complete: never "rolled back"
    prior = DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, evidence=dict(detail),
                         error=row.error if row is not None else None, unconfirmed=list(detail["unconfirmed"]))
    prior.reason = prior.error or "not confirmed"
    if not ctx.engine.needs_restore(prior, backup):
        out.add(prior)
        return None
    restored = restore_one(ctx, p, d, backup, out, prior.reason)
    restored.unconfirmed = prior.unconfirmed
    return restored


def _untouched(ctx: StagedContext, p: Proposal, d: Device, backup: dict[str, Any], out: BatchOutcome) -> bool:
    with out.on_device():
        return ctx.engine.untouched(p, d, backup)
