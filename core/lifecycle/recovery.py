"""Finishing what a dead process (or a full disk, or a lost database connection) left: recovery
from the recorded execution history, the re-check of ``rollback_pending`` restores, the locks an
apply could not release, and the creates cut half-way (``core.lifecycle.create_intents``: a submit
is finished, a campaign's proposal without its campaign cancelled).

Why a live process settles its own: another process's recovery must leave a live holder's locks
alone (it may be writing), so an apply this process could not finish — the database went away
mid-way — would stay ``applying`` with its devices locked for as long as this process lives. The
process that holds it therefore retries in the background (:meth:`Recovery.settle_soon`) and
finishes it from the recorded history the moment the database answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select

from core import audit
from core.execution import lock_in_use, lock_is_live, owner
from core.kernel.errors import NotFound, database_unavailable_cause, storage_full_cause
from core.kernel.models import TERMINAL_STATES, Actor, ActorKind, Device, ExecutionStatus, Proposal, utcnow
from core.kernel.ports.executor import ExecutorError
from core.lifecycle.context import EDITABLE, EXECUTING, ROLLING, WRITTEN, ApplyOutcome, LifecycleContext, S, X
from core.lifecycle.create_intents import CAMPAIGN, CreateIntents, Intent
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.executions import ExecutionLog
from core.lifecycle.locking import DeviceLocks
from core.lifecycle.rollback import Rollback
from core.locks import LOCKS, clear_dead_locks
from core.states import move_execution, require_state, set_state
from core.store import repo
from core.store.schema import DeviceLockRow, ExecutionRow, ProposalRow

log = logging.getLogger("gateward.lifecycle")
SETTLE_RETRY_S = 0.5  # first retry of a stranded proposal's settling after the database went away
SETTLE_RETRY_MAX_S = 5.0
SETTLED_KEPT = 1000  # settled proposals remembered for a retried apply's answer
ENDED = frozenset({"done", "rolled_back", "failed", "rollback_pending"})  # what a retried apply answers as is
INTENT_SWEEP_S = 5.0  # the worker's round looks for creates whose process is gone at most this often
UNDECIDED = frozenset({S.DRAFT, S.VALIDATED, S.PREVIEWED})  # what a submit cut before its decision leaves


class Recovery:
    """Crash recovery, pending restores, stranded locks."""

    def __init__(self, ctx: LifecycleContext, io: GrantedIO, log: ExecutionLog, locks: DeviceLocks,
                 rollback: Rollback, intents: CreateIntents) -> None:
        self.ctx, self.io, self.log, self.locks, self.rollback = ctx, io, log, locks, rollback
        self.intents = intents
        self._next_recheck = 0.0  # monotonic time of the next rollback_pending re-check (recheck_pending)
        self._next_sweep = 0.0  # monotonic time of the next look for abandoned creates (recheck_pending)
        self._recheck_lock = threading.Lock()
        # One settling at a time: an apply retried after an outage waits here for its proposal's.
        self._settle_lock = threading.Lock()
        self._settler: threading.Thread | None = None
        self._settler_guard = threading.Lock()
        #: proposals this process settled after its apply of them was cut, and how they ended
        self.settled: dict[str, str] = {}
        locks.on_strand = self.settle_soon
        # Creates of this process stopped after the proposal was recorded (the database went away, an
        # error): settled (a submit finished by ``finish_submit`` — the submission phase's, wired by
        # the façade —, a campaign's proposal cancelled) once the database answers.
        self._cut_submits: dict[str, Actor] = {}
        self.finish_submit: Callable[[str, Actor], str] | None = None

    def note_cut_submit(self, pid: str, actor: Actor) -> None:
        with self._settler_guard:
            self._cut_submits[pid] = actor
        self.settle_soon()

    def _finish_submits(self) -> list[tuple[str, str]]:
        with self._settler_guard:
            todo, self._cut_submits = self._cut_submits, {}
        done: list[tuple[str, str]] = []
        for pid, actor in sorted(todo.items()):
            try:
                it = self.intents.get(pid)
                if it is not None and self.intents.live(it):  # its call has not returned yet
                    with self._settler_guard:
                        self._cut_submits.setdefault(pid, actor)
                elif it is not None:
                    done += self._settle_intents([it])
            except Exception as exc:
                if storage_full_cause(exc) is None and database_unavailable_cause(exc) is None:
                    log.exception("proposal %s: settling its cut create failed", pid)
                    continue  # its intent stays: the worker's round (or a restart's recovery) tries again
                with self._settler_guard:
                    self._cut_submits.setdefault(pid, actor)
        return done

    # ------------------------------------------------------------------ creates cut half-way
    def settle_intents(self, *, own_are_dead: bool = False, actor_id: str = "system:recovery"
                       ) -> list[tuple[str, str]]:
        """Every create whose process is gone (or, ``own_are_dead``: a predecessor with this pid), settled:
        a submit's proposal previewed and decided from what was recorded, as the submit would have;
        one that cannot be finished, and a campaign's proposal whose campaign was never recorded,
        cancelled with the reason. Each audited; a database still away leaves it for the next round."""
        return self._settle_intents(self.intents.abandoned(own_are_dead=own_are_dead), actor_id)

    def create_under_way(self, pid: str, actor_id: str = "system:recovery") -> bool:
        """Does a live process still create ``pid``? An intent no live process works on is settled now."""
        it = self.intents.get(pid)
        if it is None or self.intents.live(it):
            return it is not None
        self._settle_intents([it], actor_id)
        it = self.intents.get(pid)
        return it is not None and self.intents.live(it)

    def _settle_intents(self, found: list[Intent], actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        done: list[tuple[str, str]] = []
        again = False
        for it in found:
            if not self.intents.take_over(it):
                continue  # another recoverer took it first
            try:
                done.append((it.proposal_id, self._settle_intent(it, actor_id)))
            except Exception as exc:
                if storage_full_cause(exc) is None and database_unavailable_cause(exc) is None:
                    log.exception("proposal %s: settling its cut %s failed", it.proposal_id, it.kind)
                else:
                    # The database went away again while this process finished it. Taken over, the intent
                    # names this live process, so no other process settles it: this one tries again — it
                    # was dropped here, and sat undecided, holding its devices, until the process stopped.
                    with self._settler_guard:
                        self._cut_submits.setdefault(it.proposal_id, Actor(id=it.actor, kind=ActorKind.JOB))
                    again = True
            finally:
                self.intents.release(it.proposal_id)
        for pid, what in done:
            log.warning("proposal %s: %s", pid, what)
        if again:
            self.settle_soon()
        return done

    def _settle_intent(self, it: Intent, actor_id: str) -> str:
        pid = it.proposal_id
        gone = (f"the process that created it ({it.owner}) died before" if it.owner != owner()
                else "the request that created it stopped before")
        actor = Actor(id=actor_id, roles=("admin",), kind=ActorKind.JOB)
        try:
            p = self.ctx.get(pid)
        except NotFound:
            return "gone (nothing to settle)"  # the intent went with its proposal (cascade)
        if p.state in TERMINAL_STATES or (it.kind != CAMPAIGN and p.state not in UNDECIDED):
            self._end_intent(pid)
            return f"{p.state} (its {it.kind} had ended; nothing to do)"
        if it.kind == CAMPAIGN:
            why = (f"its campaign was never recorded: {gone} the campaign — create the campaign again")
            self._cancel(pid, actor, why)
            return f"cancelled ({why})"
        with self.ctx.store.write() as s:
            audit.append(s, actor=actor_id, action="proposal.submit_resumed", proposal_id=pid, data={
                "state": str(p.state), "kind": it.kind, "owner": it.owner,
                "reason": f"its {it.kind} was cut: {gone} its decision; previewed and decided now"})
        try:
            assert self.finish_submit is not None, "wired by the façade"
            state = self.finish_submit(pid, Actor(id=it.actor, roles=("admin",), kind=ActorKind.JOB))
        except Exception as exc:
            if storage_full_cause(exc) is not None or database_unavailable_cause(exc) is not None:
                raise
            why = f"its {it.kind} was cut ({gone} its decision) and could not be finished: {exc}"
            self._cancel(pid, actor, why[:1000])
            return f"cancelled ({why[:300]})"
        self._end_intent(pid)
        return f"{state} (its {it.kind} was cut: {gone} its decision; finished)"

    def _cancel(self, pid: str, actor: Actor, reason: str) -> None:
        """Cancel ``pid`` and end its intent in one transaction, audited with the reason."""
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            if p.state not in TERMINAL_STATES:
                require_state(p, *EDITABLE, doing="cancel")
                self.locks.refuse_if_executing(s, p, actor.id, doing="cancel")
                set_state(s, row, S.CANCELLED, actor.id, "proposal.cancelled", {"reason": reason})
            self.intents.end_in(s, pid)

    def _end_intent(self, pid: str) -> None:
        with self.ctx.store.write() as s:
            self.intents.end_in(s, pid)

    def settle_stranded(self, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        """Finish what an apply of this process left when the database's disk was full or its
        connection was lost: its locks (which only this process may release while it lives —
        another process's recovery sees a live holder) and, if the proposal was left between backup
        and its end, the recovery a restart would do (:meth:`_recover_from_history`: approved again
        when nothing was written, else verified or rolled back). Called before every apply, by the
        worker's round and by :meth:`settle_soon`'s thread; a proposal whose settling fails again
        (the disk still full, the database still away) stays for the next call."""
        with self._settle_lock:
            todo = self.locks.take_stranded()
            creates = self._finish_submits()  # logged there; not applies a retry asks about
            done: list[tuple[str, str]] = []
            for pid in sorted(todo):
                try:
                    done.append((pid, self._settle_one(pid, actor_id)))
                except Exception as exc:
                    if storage_full_cause(exc) is None and database_unavailable_cause(exc) is None:
                        log.exception("proposal %s: settling what its apply left failed", pid)
                    self.locks.strand(pid, wake=False)  # the settler thread, if any, goes on retrying
            for pid, what in done:
                log.warning("proposal %s: settled after its apply was cut: %s", pid, what)
                if what.split(" ", 1)[0].rstrip(":") not in ENDED:
                    continue  # approved again: a retried apply applies it
                self.settled[pid] = what
                while len(self.settled) > SETTLED_KEPT:
                    self.settled.pop(next(iter(self.settled)))
            return creates + done

    def settle_soon(self) -> None:
        """Settle the stranded proposals in the background, retrying until the database takes it
        (every ``SETTLE_RETRY_S``, backing off to ``SETTLE_RETRY_MAX_S``): a live process never
        holds locks on a change it abandoned for longer than the outage. One thread at a time."""
        with self._settler_guard:
            if self._settler is not None and self._settler.is_alive():
                return
            self._settler = threading.Thread(target=self._settle_until_done, name="gw-settle", daemon=True)
            self._settler.start()

    def _settle_until_done(self) -> None:
        delay = SETTLE_RETRY_S
        while True:
            time.sleep(delay)
            try:
                self.settle_stranded()
            except Exception:  # never let the thread die with work left
                log.exception("settling stranded proposals failed")
            with self._settler_guard:
                if not self.locks.stranded() and not self._cut_submits:
                    self._settler = None
                    return
            delay = min(delay * 2, SETTLE_RETRY_MAX_S)

    def held_live(self) -> list[tuple[str, str]]:
        """Proposals between backup and their end whose locks a live process holds: left to it by
        :meth:`recover`, and named by ``gateward recover`` so that "nothing to recover" is never said
        while a change is under way or waiting for its holder to finish it."""
        with self.ctx.store.read() as s:
            rows = s.execute(select(ProposalRow.id, ProposalRow.state, DeviceLockRow.owner, DeviceLockRow.acquired_at,
                                    DeviceLockRow.expires_at)
                             .join(DeviceLockRow, DeviceLockRow.proposal_id == ProposalRow.id)
                             .where(ProposalRow.state.in_([str(x) for x in EXECUTING]))).all()
        seen: dict[str, str] = {}
        for pid, state, holder, since, expires in rows:
            if pid not in seen and lock_in_use(holder, expires) and holder != owner():
                seen[pid] = (f"{state}, held by the live process {holder} since {since:%Y-%m-%d %H:%M:%S}Z — left "
                             "to it: it finishes the apply, also one a lost database cut (once the database answers); "
                             "if that process hangs, stop it and run `gateward recover` again")
        return sorted(seen.items())

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
                                   "reason": "its apply was cut (disk full or database lost); released once writable"})
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
        audit.chain_leftovers(self.ctx.store)  # events a stopped process committed unlinked, first
        with self.ctx.store.read() as s:
            executing = set(s.scalars(select(ProposalRow.id).where(
                ProposalRow.state.in_([str(x) for x in EXECUTING | {S.ROLLBACK_PENDING}]))))
            locks: dict[str, list[DeviceLockRow]] = {}
            for lock in s.scalars(select(DeviceLockRow)):
                locks.setdefault(lock.proposal_id, []).append(lock)
        actor = Actor(id=actor_id, roles=("admin",), kind=ActorKind.JOB)
        results: list[tuple[str, str]] = self.settle_intents(own_are_dead=True, actor_id=actor_id)
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
            sweep = now >= self._next_sweep
            if sweep:
                self._next_sweep = now + INTENT_SWEEP_S
        if sweep:  # creates whose process died (an API killed mid-submit): finished or undone here
            done += self.settle_intents(actor_id=actor_id)
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
