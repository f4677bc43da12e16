"""Finishing what a dead process (or a full disk) left: recovery from the recorded execution
history, the re-check of ``rollback_pending`` restores, and the locks an apply could not release.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import delete, select

from core import audit
from core.errors import NotFound, storage_full_cause
from core.execution import lock_is_live, owner
from core.lifecycle.context import EXECUTING, ROLLING, WRITTEN, ApplyOutcome, LifecycleContext, S, X
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.executions import ExecutionLog
from core.lifecycle.locking import DeviceLocks
from core.lifecycle.rollback import Rollback
from core.locks import LOCKS, clear_dead_locks
from core.models import TERMINAL_STATES, Actor, ActorKind, Device, ExecutionStatus, Proposal, utcnow
from core.ports.executor import ExecutorError
from core.states import move_execution, set_state
from core.store import repo
from core.store.schema import DeviceLockRow, ExecutionRow, ProposalRow

log = logging.getLogger("gateward.lifecycle")


class Recovery:
    """Crash recovery, pending restores, stranded locks."""

    def __init__(self, ctx: LifecycleContext, io: GrantedIO, log: ExecutionLog, locks: DeviceLocks,
                 rollback: Rollback) -> None:
        self.ctx, self.io, self.log, self.locks, self.rollback = ctx, io, log, locks, rollback
        self._next_recheck = 0.0  # monotonic time of the next rollback_pending re-check (recheck_pending)
        self._recheck_lock = threading.Lock()

    def settle_stranded(self, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        """Finish what an apply of this process left when the database's disk was full: its locks
        (which only this process may release while it lives — another process's recovery sees a
        live holder) and, if the proposal was left between backup and its end, the recovery a
        restart would do (:meth:`_recover_from_history`: approved again when nothing was written,
        else verified or rolled back). Called before every apply and by the worker's round; a
        proposal whose settling fails again (the disk still full) stays for the next call."""
        todo = self.locks.take_stranded()
        done: list[tuple[str, str]] = []
        for pid in sorted(todo):
            try:
                done.append((pid, self._settle_one(pid, actor_id)))
            except Exception as exc:
                if storage_full_cause(exc) is None:
                    log.exception("proposal %s: settling after a full disk failed", pid)
                self.locks.strand(pid)
        return done

    def _settle_one(self, pid: str, actor_id: str) -> str:
        p = self.ctx.get(pid)
        what = f"{p.state}: locks released"
        if p.state in EXECUTING:
            what = self._recover_from_history(p, Actor(id=actor_id, roles=("admin",), kind=ActorKind.JOB))
        with self.ctx.store.write() as s:
            mine = [r[0] for r in s.execute(select(LOCKS.c.device_id).where(
                LOCKS.c.proposal_id == pid, LOCKS.c.owner == owner()))]
            if mine:
                s.execute(delete(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.owner == owner()))
                audit.append(s, actor=actor_id, action="lock.released", proposal_id=pid,
                             data={"devices": mine, "owners": [owner()],
                                   "reason": "its apply stopped on a full disk; released once writable"})
        return what

    def recover(self, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        """Finish what a dead process left behind, deciding from the recorded execution history.

        Candidates are proposals between backup and their end, and any proposal holding device
        locks whatever its state. One is taken over only when its lock owner is gone (same host:
        the pid is dead; another host: the lock expired). The outcome per recorded history is
        the table in docs/safety.md ("Invariant 6"). Nothing is deleted: execution and backup
        rows stay as evidence, and the proposal's own writes are never replayed, only verified or
        reverted.
        """
        with self.ctx.store.read() as s:
            executing = set(s.scalars(select(ProposalRow.id).where(
                ProposalRow.state.in_([str(x) for x in EXECUTING | {S.ROLLBACK_PENDING}]))))
            locks: dict[str, list[DeviceLockRow]] = {}
            for lock in s.scalars(select(DeviceLockRow)):
                locks.setdefault(lock.proposal_id, []).append(lock)
        actor = Actor(id=actor_id, roles=("admin",), kind=ActorKind.JOB)
        results: list[tuple[str, str]] = []
        for pid in sorted(executing | set(locks)):
            held = locks.get(pid, [])
            if any(lock_is_live(lk.owner, lk.expires_at) for lk in held):
                continue
            try:
                p = self.ctx.get(pid)
            except NotFound:
                p = None
            if p is not None and p.staged and p.state not in TERMINAL_STATES:
                continue  # a campaign's batches resume themselves (apply_batch verifies, never re-writes)
            if p is not None and p.state is S.ROLLBACK_PENDING:
                results.append((pid, self._recheck_pending(p, actor, own_are_dead=True)))
                continue  # its locks stay until its restore is confirmed
            if p is not None and not p.staged and (p.state in EXECUTING or (p.state is S.DONE and held)):
                results.append((pid, self._recover_from_history(p, actor)))
                if self.ctx.get(pid).state is S.ROLLBACK_PENDING:
                    continue  # the devices owed a restore stay locked (Rollback._end_pending took the locks over)
            else:
                state = p.state if p is not None else "unknown"
                results.append((pid, f"lock released ({state}: its holder died before any write)"))
            if held:
                # Read again and cleared in one transaction, each holder's liveness checked there:
                # a lock a live process took on this proposal while it was recovered stays.
                with self.ctx.store.write() as s:
                    clear_dead_locks(s, pid, None, actor_id, "recovery: the holding process is gone",
                                     own_are_dead=True)
        return results

    def recheck_pending(self, every_s: float = 30.0, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        """The worker's round (``gateward run``, ``gateward worker``): settle what a full disk left
        (:meth:`settle_stranded`) and, at most every ``every_s``, re-check each ``rollback_pending``
        proposal no live process is re-checking — so a restore that waited for an unreachable device
        is confirmed (or redone) soon after the device answers again, without a person."""
        done = self.settle_stranded(actor_id)
        now = time.monotonic()
        with self._recheck_lock:
            if now < self._next_recheck:
                return done
            self._next_recheck = now + every_s
        with self.ctx.store.read() as s:
            pids = list(s.scalars(select(ProposalRow.id).where(ProposalRow.state == str(S.ROLLBACK_PENDING))))
        actor = Actor(id=actor_id, roles=("admin",), kind=ActorKind.JOB)
        for pid in sorted(pids):
            try:
                done.append((pid, self._recheck_pending(self.ctx.get(pid), actor)))
            except Exception:  # one proposal's trouble must not stop the others' re-checks
                log.exception("proposal %s: re-checking its pending restore failed", pid)
        return done

    def _recheck_pending(self, p: Proposal, actor: Actor, *, own_are_dead: bool = False) -> str:
        """Try a ``rollback_pending`` proposal's owed restores again, under its device locks taken
        over from no process (or a dead one): a live process re-checking it already is left alone."""
        claimed = self.locks.claim_pending(p, own_are_dead=own_are_dead)
        if claimed is None:
            return "rollback_pending (another live process is re-checking it)"
        with self.ctx.store.read() as s:
            devices = repo.get_devices(s, p.targets)
            reason = self._interrupted_reason(list(repo.executions_for(s, p.id)))
        try:
            self.rollback.touched(p, [devices[t] for t in p.targets], actor, ApplyOutcome(proposal=p),
                                  reason=reason, recheck=True)
        finally:
            if self.ctx.get(p.id).state is S.ROLLBACK_PENDING:  # an error part-way: hand the locks back
                self.locks.hand_back(p.id)
        after = self.ctx.get(p.id)
        if after.state is S.ROLLBACK_PENDING:
            return "rollback_pending (the device is still unreachable; re-checked later)"
        return f"{after.state} (the pending restore was re-checked{': ' + after.error if after.error else ''})"

    def _recover_from_history(self, p: Proposal, actor: Actor) -> str:
        """One proposal whose apply (or manual rollback) died: what the executions recorded decides."""
        with self.ctx.store.read() as s:
            devices = repo.get_devices(s, p.targets)
            execs = {e.device_id: e for e in repo.executions_for(s, p.id)}
        ordered = [devices[t] for t in p.targets]
        history = {d.id: execs[d.id].status if d.id in execs else None for d in ordered}
        with self.ctx.store.write() as s:
            audit.append(s, actor=actor.id, action="recovery.started", proposal_id=p.id,
                         data={"state": str(p.state), "history": {k: v and str(v) for k, v in history.items()}})
        if any(st in ROLLING for st in history.values()):
            reason = self._interrupted_reason(list(execs.values()))
            self.rollback.touched(p, ordered, actor, ApplyOutcome(proposal=p), reason=f"recovery: {reason}")
            return f"{self.ctx.get(p.id).state} (finished an interrupted rollback: {reason})"
        if p.state is S.DONE:
            return "done (lock released; no rollback had started)"
        if not any(st in WRITTEN for st in history.values()):
            self._reopen(p, actor)
            return "approved (no write had happened; backup and execution records kept)"
        return self._verify_or_roll_back(p, ordered, actor, history)

    @staticmethod
    def _interrupted_reason(execs: list[Any]) -> str:
        """Why the dead process was rolling back, from what it recorded."""
        for ex in execs:
            if ex.detail.get("reason"):
                return str(ex.detail["reason"])
        for ex in execs:
            if ex.error:
                return f"{ex.device_id}: {ex.error}"
            if ex.detail.get("mismatch"):
                return f"{ex.device_id}: verification failed: {sorted(ex.detail['mismatch'])}"
        return "rollback interrupted"

    def _reopen(self, p: Proposal, actor: Actor) -> None:
        """Interrupted before any write: approved again, with this attempt's rows kept and marked
        ``abandoned`` (the next apply takes a fresh backup and reuses the execution rows)."""
        with self.ctx.store.write() as s:
            row = repo.get_proposal_row(s, p.id)
            abandoned = []
            for ex in s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id)):
                move_execution(ex, ExecutionStatus.ABANDONED)
                ex.detail = {**(ex.detail or {}), "abandoned": "the applying process died before any write"}
                ex.finished_at = utcnow()
                abandoned.append(ex.device_id)
            set_state(s, row, S.APPROVED, actor.id, "recovery.reopened",
                      {"note": "interrupted before any write; approved again, apply to retry",
                             "abandoned": abandoned})

    def _verify_or_roll_back(self, p: Proposal, ordered: list[Device], actor: Actor,
                             history: dict[str, ExecutionStatus | None]) -> str:
        """Writes happened and nobody had decided to roll back: done if every device was written and
        holds the change; otherwise every touched device is restored."""
        pid = p.id
        all_written = all(history[d.id] in (X.APPLYING, X.APPLIED, X.VERIFIED) for d in ordered)
        failure: str | None = None if all_written else "interrupted before every device was written"
        if failure is None:
            try:
                for d in ordered:
                    bad = self.io.verify(p, d)
                    if bad:
                        failure = f"{d.id}: after restart the change did not hold: {sorted(bad)}"
                        self.log.update(pid, d, X.VERIFY_FAILED, "device.verify_failed", actor.id,
                                        detail={"mismatch": bad})
                        break
            except ExecutorError as exc:
                failure = f"verification after restart failed: {exc.message}"
        if failure is None:
            for d in ordered:
                self.log.update(pid, d, X.VERIFIED, "device.verified", actor.id)
            with self.ctx.store.write() as s:
                row = repo.get_proposal_row(s, pid)
                set_state(s, row, S.DONE, actor.id, "proposal.done", {"recovered": True})
            return "done (verified after restart)"
        self.rollback.touched(p, ordered, actor, ApplyOutcome(proposal=p), reason=f"recovery: {failure}")
        return f"{self.ctx.get(pid).state} ({failure})"
