"""The device locks of single applies and rollbacks: taken for every target in one statement,
released at the end (or remembered as stranded on a full disk or a lost database), refused under a live apply, handed
to the restore a ``rollback_pending`` proposal still owes.

Why here, apart: the apply, the manual rollback, recovery and the approval phases all take or look
at the same locks; one object (:class:`DeviceLocks`) holds the statements and the process's set of
stranded proposals, so every phase asks it instead of each keeping its own copy. Clearing a dead
holder's locks is :func:`core.locks.clear_dead_locks` (shared with the staged path).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import orjson
from sqlalchemy import String, bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from core.execution import PENDING_RESTORE_OWNER, lock_in_use, lock_is_live
from core.execution import owner as this_process
from core.kernel.errors import Conflict, Locked, database_unavailable_cause, storage_full_cause
from core.kernel.models import Proposal, utcnow
from core.lifecycle.context import EXECUTING, LifecycleContext
from core.locks import LOCKS, clear_dead_locks
from core.store.fastsql import Prepared
from core.store.records import among
from core.store.schema import DeviceLockRow

_LOCKS_HELD = Prepared(select(LOCKS.c.device_id, LOCKS.c.proposal_id, LOCKS.c.owner, LOCKS.c.acquired_at)
                       .where(among(LOCKS.c.device_id, "ids")).order_by(LOCKS.c.device_id))
# Every target's lock row in one statement, the targets one JSON text expanded by the database;
# answers the devices it locked (a device already locked is skipped, not an error). SQLite needs the
# ``WHERE true`` to read ``ON CONFLICT`` as the upsert clause rather than a join constraint.
_LOCK_INTO = (f"INSERT INTO {LOCKS.name} (device_id, proposal_id, owner, acquired_at, expires_at) "
              "SELECT value, :pid, :owner, :now, :exp FROM ")
_LOCK_BINDS = (bindparam("pid", type_=String()), bindparam("owner", type_=String()),
               bindparam("now", type_=LOCKS.c.acquired_at.type), bindparam("exp", type_=LOCKS.c.expires_at.type),
               bindparam("ids", type_=String()))  # ids: a JSON array's text
_LOCK_CONFLICT = " ON CONFLICT (device_id) DO NOTHING RETURNING device_id"
_TAKE_LOCKS = {
    "sqlite": Prepared(text(_LOCK_INTO + "json_each(:ids) WHERE true" + _LOCK_CONFLICT).bindparams(*_LOCK_BINDS)
                       .columns(LOCKS.c.device_id)),
    "postgresql": Prepared(text(_LOCK_INTO + "json_array_elements_text(CAST(:ids AS json)) AS value" + _LOCK_CONFLICT)
                           .bindparams(*_LOCK_BINDS).columns(LOCKS.c.device_id)),
}
log = logging.getLogger("gateward.lifecycle")


class DeviceLocks:
    """The lifecycle's device locks, and the proposals whose locks a full disk stranded."""

    def __init__(self, ctx: LifecycleContext) -> None:
        self.ctx = ctx
        # Proposals whose locks (and state) an apply of this process could not settle on a full
        # disk; settled by the next apply or the worker's round (Recovery.settle_stranded).
        self._stranded: set[str] = set()
        self._stranded_lock = threading.Lock()
        #: called after a proposal is stranded (``Recovery`` settles it as soon as the database lets it)
        self.on_strand: Callable[[], None] | None = None

    def take_stranded(self) -> set[str]:
        """The stranded proposals, handed over (the set is empty after)."""
        with self._stranded_lock:
            todo, self._stranded = self._stranded, set()
        return todo

    def strand(self, pid: str, *, wake: bool = True) -> None:
        """Remember ``pid``'s locks (and state) as not settled: settled later, by this process
        (``wake``: start the settling thread, :attr:`on_strand`)."""
        with self._stranded_lock:
            self._stranded.add(pid)
        if wake and self.on_strand is not None:
            self.on_strand()

    def stranded(self) -> set[str]:
        """The proposals waiting to be settled (a copy)."""
        with self._stranded_lock:
            return set(self._stranded)

    def hold_for_restore(self, s: Session, pid: str, ids: list[str]) -> None:
        """In the caller's transaction: only the devices ``ids`` owed a restore stay locked, held by
        no process (:data:`PENDING_RESTORE_OWNER`, so any recovery may take them over, and no other
        proposal may write them meanwhile); the proposal's other locks go."""
        s.execute(delete(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.device_id.not_in(ids)))
        now = utcnow()
        s.execute(update(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.device_id.in_(ids))
                  .values(owner=PENDING_RESTORE_OWNER, acquired_at=now, expires_at=now))
        _TAKE_LOCKS[self.ctx.store.dialect].all(s, {  # a device whose lock was gone (recovery) is locked again
            "pid": pid, "owner": PENDING_RESTORE_OWNER, "now": now, "exp": now, "ids": orjson.dumps(ids).decode()})

    def hand_back(self, pid: str) -> None:
        """A re-check of a pending restore stopped part-way: its locks go back to no process."""
        with self.ctx.store.write() as s:
            now = utcnow()
            s.execute(update(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.owner == this_process())
                      .values(owner=PENDING_RESTORE_OWNER, expires_at=now))

    def acquire(self, s: Session, p: Proposal) -> None:
        """Lock every target for this proposal in one statement: the rows of the devices nobody
        holds are inserted, a held one is left alone (``ON CONFLICT DO NOTHING``). Any device not
        taken is named with its holder, and the caller's transaction rolls back whatever this one
        took — a lock check and an insert were two round trips. A lock an earlier apply
        of this proposal left when its process stopped (a crash, a full disk) names the command that
        releases it."""
        now = utcnow()
        ttl = timedelta(seconds=self.ctx.settings.lock_ttl_s)
        taken = {r[0] for r in _TAKE_LOCKS[self.ctx.store.dialect].all(s, {
            "pid": p.id, "owner": this_process(), "now": now, "exp": now + ttl,
            "ids": orjson.dumps(list(p.targets)).decode()})}
        if len(taken) == len(p.targets):
            return
        for dev_id, holder, owner, since in _LOCKS_HELD.all(s, {"ids": [t for t in p.targets if t not in taken]}):
            if holder == p.id:
                gone = "" if lock_in_use(owner, now + timedelta(days=1)) else (
                    "; that process is no longer running: `gateward recover` releases it")
                raise Locked(f"proposal {p.id} is already being applied (lock on {dev_id} held by {owner}{gone})")
            raise Locked(f"device {dev_id} is locked by proposal {holder} (since "
                         f"{since:%Y-%m-%d %H:%M:%S}Z); wait for it to finish", holder=holder)
        # Held when the insert looked, gone by the time it was named (released meanwhile).
        raise Locked(f"a device of proposal {p.id} was locked by another proposal just now; retry")

    def release(self, pid: str) -> None:
        """Release the proposal's locks. On a full disk or a lost database connection the delete
        cannot commit either (issues 34, 45): the locks are remembered as stranded and released by
        this process as soon as the database takes the write (``Recovery.settle_stranded``), or by
        recovery once this process is gone — the original error, not this one, is what the caller
        reports."""
        try:
            with self.ctx.store.write() as s:  # only ours: a device owed a restore stays locked (Rollback._end_pending)
                s.execute(delete(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.owner == this_process()))
        except Exception as exc:
            if storage_full_cause(exc) is None and database_unavailable_cause(exc) is None:
                raise
            log.info("proposal %s: its device locks could not be released (%s); kept for later", pid, exc)
            self.strand(pid)

    def refuse_if_executing(self, s: Session, p: Proposal, actor_id: str, *, doing: str) -> None:
        """An apply holds the proposal's device locks from the gate check to its end, while the
        proposal still reads ``approved`` during presence and backup. Changing it under that apply
        would strand the locks, so refuse while the holder lives; locks of a dead holder that never
        wrote (the state is still before ``backed_up``) are cleared here, with an audit event."""
        locks = list(s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == p.id)))
        live = [lk for lk in locks if lock_in_use(lk.owner, lk.expires_at)]
        if live or p.state in EXECUTING:
            holder = f" (lock on {live[0].device_id} held by {live[0].owner})" if live else ""
            raise Conflict(f"cannot {doing} proposal {p.id}: it is being applied right now{holder}; "
                           "wait for the apply to finish", state=str(p.state))
        if locks:
            clear_dead_locks(s, p.id, None, actor_id, f"it had not written (state {p.state}); cleared to {doing}")

    def claim_pending(self, p: Proposal, *, own_are_dead: bool) -> list[str] | None:
        """Take a pending proposal's locks over for this process, in one transaction: None if any
        is held by a live process (or was taken over by one meanwhile)."""
        alive = lock_is_live if own_are_dead else lock_in_use
        with self.ctx.store.write() as s:
            rows = s.execute(select(LOCKS.c.device_id, LOCKS.c.owner, LOCKS.c.expires_at).where(
                LOCKS.c.proposal_id == p.id)).all()
            if any(alive(r.owner, r.expires_at) for r in rows):
                return None
            now = utcnow()
            ttl = timedelta(seconds=self.ctx.settings.lock_ttl_s)
            taken = 0
            for holder in sorted({r.owner for r in rows}):
                res = s.execute(update(LOCKS).where(LOCKS.c.proposal_id == p.id, LOCKS.c.owner == holder).values(
                    owner=this_process(), acquired_at=now, expires_at=now + ttl))
                taken += int(getattr(res, "rowcount", 0) or 0)
            if taken != len(rows):
                raise Conflict(f"proposal {p.id}'s locks changed while they were taken over; retry")
            return [r.device_id for r in rows]
