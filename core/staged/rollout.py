"""Whole-rollout steps of a staged proposal: its progress, closing it when the rollout ended, and
the abort that restores every device it changed from its backup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.kernel.errors import Conflict
from core.kernel.models import Actor, Proposal
from core.locks import clear_dead_locks
from core.results import DeviceResult
from core.staged.claim import Claims
from core.staged.context import StagedContext
from core.staged.outcome import CHANGED, NOT_INSTALLED, BatchOutcome, S, X
from core.staged.record import record, restore_one
from core.states import require_state, set_state
from core.store import repo
from core.store.schema import BackupRow, ExecutionRow


def _load(s: Session, pid: str) -> tuple[Any, Proposal]:
    row = repo.get_proposal_row(s, pid, for_update=True)
    return row, repo.proposal_from_row(row)


def _get(ctx: StagedContext, pid: str) -> Proposal:
    with ctx.store.read() as s:
        return repo.proposal_from_row(repo.get_proposal_row(s, pid))


def progress(ctx: StagedContext, pid: str) -> dict[str, int]:
    """Counts of executions by status, plus targets never started."""
    with ctx.store.read() as s:
        p = repo.proposal_from_row(repo.get_proposal_row(s, pid))
        counts = {str(st): int(n) for st, n in s.execute(select(ExecutionRow.status, func.count()).where(
            ExecutionRow.proposal_id == pid).group_by(ExecutionRow.status)).all()}
    started = sum(counts.values())
    return {**counts, "not_started": len(p.targets) - started, "targets": len(p.targets)}


def finish(ctx: StagedContext, pid: str, actor: Actor, note: str = "") -> Proposal:
    """Close a staged proposal whose rollout ended: done if every changed device verified."""
    prog = progress(ctx, pid)
    with ctx.store.write() as s:
        row, p = _load(s, pid)
        require_state(p, S.APPLYING, S.APPROVED, doing="finish")
        # The rollout is over: no batch will come back for a lock a dead worker left behind.
        clear_dead_locks(s, pid, None, actor.id, "the staged rollout finished")
        bad = prog.get(str(X.ROLLBACK_FAILED), 0)
        # left verify_failed: an operation nobody saw complete (core.execution) — not "done" either
        unconfirmed = prog.get(str(X.VERIFY_FAILED), 0)
        if bad or unconfirmed:
            why = [f"{bad} device(s) could not be rolled back"] if bad else []
            why += [f"{unconfirmed} device(s) not confirmed (check them by hand)"] if unconfirmed else []
            set_state(s, row, S.FAILED, actor.id, "proposal.failed", {"progress": prog, "note": note},
                      error="; ".join(why))
        else:
            set_state(s, row, S.DONE, actor.id, "proposal.done", {"progress": prog, "note": note})
    return _get(ctx, pid)


def abort(ctx: StagedContext, claims: Claims, pid: str, actor: Actor, reason: str, *, batch: int = 500,
          stop: Callable[[], bool] | None = None) -> BatchOutcome:
    """Restore every device this staged proposal changed, from its backup, ``batch`` at a time.
    A download that did not install, with no value to write back, stays verify_failed: an abort
    that "rolled back" it would claim an undo nobody can do (it says what it could not undo)."""
    out = BatchOutcome(proposal_id=pid, abort=True)
    p = _get(ctx, pid)
    if not p.staged:
        raise Conflict(f"proposal {pid} is not staged")
    with ctx.store.read() as s:
        rows = list(s.execute(select(ExecutionRow.device_id, ExecutionRow.detail).where(
            ExecutionRow.proposal_id == pid, ExecutionRow.status.in_([str(x) for x in CHANGED]))))
    changed = [r.device_id for r in rows]
    kept = {r.device_id for r in rows if (r.detail or {}).get(NOT_INSTALLED)}
    for start in range(0, len(changed), batch):
        locked = claims.lock_batch(p, changed[start:start + batch], out)
        try:
            _restore_batch(ctx, p, locked, kept, actor, reason, out)
        finally:
            claims.release(pid, locked)
    with ctx.store.write() as s:
        row, cur = _load(s, pid)
        if cur.state in (S.ROLLED_BACK, S.FAILED):
            return out
        if out.alarms:
            set_state(s, row, S.FAILED, actor.id, "proposal.failed", {"reason": reason, "alarms": out.alarms[:20]},
                      error=f"abort: {reason}; rollback failed on {len(out.alarms)} device(s)")
        else:
            kept_text = (f"; {len(kept)} download(s) did not install and stay verify_failed (a download "
                         "cannot be rolled back; the devices run the image they ran before)") if kept else ""
            set_state(s, row, S.ROLLED_BACK, actor.id, "proposal.rolled_back",
                      {"reason": reason, "devices": len(out.rolled_back), "not_installed": len(kept)},
                      error=f"aborted: {reason}{kept_text}")
    return out


def _restore_batch(ctx: StagedContext, p: Proposal, locked: list[str], kept: set[str], actor: Actor, reason: str,
                   out: BatchOutcome) -> None:
    with ctx.store.read() as s:
        devices = repo.get_devices(s, locked)
        backups = {b.device_id: b.params for b in s.scalars(select(BackupRow).where(
            BackupRow.proposal_id == p.id, BackupRow.device_id.in_(locked)))}
    restore = [d for d in locked if d not in kept or ctx.engine.needs_restore(
        DeviceResult(d, X.VERIFY_FAILED, changed=True, failed=True, evidence={NOT_INSTALLED: True}),
        backups.get(d, {}))]
    for d in locked:
        if d not in restore:
            out.add(DeviceResult(d, X.VERIFY_FAILED, changed=True, evidence={NOT_INSTALLED: True}))
    results = {d: out.add(restore_one(ctx, p, devices[d], backups.get(d, {}), out, f"abort: {reason}"))
               for d in restore}
    record(ctx, p, [devices[d] for d in restore], results, actor)
