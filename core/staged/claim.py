"""Before a batch touches a device: every gate of the lifecycle re-derived from the store, each
device's execution record read (never started, left mid-way by a dead worker, or finished), and the
locks of the devices that still need work — a device another live proposal holds is skipped, not
waited on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.capabilities import class_key
from core.execution import lock_is_live, owner
from core.kernel.errors import Conflict, Forbidden
from core.kernel.models import Actor, Device, ExecutionStatus, Proposal, utcnow
from core.locks import LOCKS, clear_dead_locks
from core.results import DeviceResult
from core.staged.context import StagedContext
from core.staged.outcome import ALREADY_DONE, RESUMABLE, BatchOutcome, S, X
from core.staged.record import EXECS
from core.staging import Way
from core.states import require_state, set_state
from core.store import repo
from core.store.schema import DeviceLockRow


def one_per_class(devices: dict[str, Device]) -> dict[str, Device]:
    """One device of each class (its capability class — a device of unknown identity is its own —
    and protocol) in ``devices``.

    The batch's write-time validation (``check_gates``: every change against the device's data
    model) depends on the device only through its class when every device gets the same changes,
    so one device per class stands for the batch: a batch of 1,000 devices of 3 classes validates
    3 times, not 1,000. A per-target proposal gives each device its own values and is checked
    device by device (the caller passes every device)."""
    first: dict[tuple[tuple[str, str, str, str], str], Device] = {}
    for d in devices.values():
        first.setdefault((class_key(d), str(d.protocol)), d)
    return {d.id: d for d in first.values()}


class Claims:
    """The gates, the execution records and the locks of one batch."""

    def __init__(self, ctx: StagedContext) -> None:
        self.ctx = ctx

    def gates(self, pid: str, device_ids: Sequence[str]) -> tuple[Proposal, dict[str, Device]]:
        """Every gate of the lifecycle, re-derived from the store for this batch. A running rollout
        (``applying``) only reads, so concurrent batches do not queue on the proposal's row lock;
        the first batch of an ``approved`` one re-checks under the lock and moves it to ``applying``."""
        with self.ctx.store.read() as s:
            p, devices = self._gates_in(s, pid, device_ids, lock=False)
        if p.state is S.APPLYING:
            return p, devices
        with self.ctx.store.write() as s:
            p, devices = self._gates_in(s, pid, device_ids, lock=True)
        return p, devices

    def _gates_in(self, s: Session, pid: str, device_ids: Sequence[str], *,
                  lock: bool) -> tuple[Proposal, dict[str, Device]]:
        row = repo.get_proposal_row(s, pid, for_update=lock)
        p = repo.proposal_from_row(row)
        if p.state not in (S.APPROVED, S.APPLYING):
            require_state(p, S.APPROVED, S.APPLYING, doing="run a batch of")
        unknown = sorted(set(device_ids).difference(p.targets))
        if unknown:
            raise Forbidden(f"{unknown[0]} is not a target of proposal {pid}; the approval does not cover it")
        devices = repo.get_devices(s, list(device_ids))
        self.ctx.check_gates(s, p, devices if p.per_target else one_per_class(devices), (S.APPROVED, S.APPLYING),
                             way=Way.BATCH, batch=list(device_ids))
        if lock and p.state is S.APPROVED:
            set_state(s, row, S.APPLYING, "system:campaign", "proposal.applying", {"staged": True})
        return p, devices

    def lock_batch(self, p: Proposal, ids: list[str], out: BatchOutcome) -> list[str]:
        with self.ctx.store.write() as s:
            return self.lock_in(s, p, ids, out)

    def lock_in(self, s: Session, p: Proposal, ids: list[str], out: BatchOutcome) -> list[str]:
        """Lock what can be locked; devices held by another live proposal are skipped, not waited on.
        One read of the batch's lock rows, one multi-row insert (the primary key is the lock)."""
        now = utcnow()
        exp = now + timedelta(seconds=self.ctx.settings.lock_ttl_s)
        me = owner()
        got: list[str] = []
        new: list[dict[str, Any]] = []
        reclaim: list[str] = []
        held = {r.device_id: r for r in s.execute(select(
            LOCKS.c.device_id, LOCKS.c.proposal_id, LOCKS.c.owner, LOCKS.c.expires_at).where(
            LOCKS.c.device_id.in_(ids)))}
        for dev_id in ids:
            lock = held.get(dev_id)
            if lock is not None:
                if lock.proposal_id == p.id and not lock_is_live(lock.owner, lock.expires_at):
                    reclaim.append(dev_id)  # a dead worker's
                    got.append(dev_id)
                else:
                    out.add(DeviceResult(dev_id, X.SKIPPED, reason=f"locked by {lock.proposal_id}"))
                continue
            new.append({"device_id": dev_id, "proposal_id": p.id, "owner": me, "acquired_at": now,
                        "expires_at": exp})
            got.append(dev_id)
        if reclaim:
            s.execute(update(LOCKS).where(LOCKS.c.proposal_id == p.id, LOCKS.c.device_id.in_(reclaim))
                      .values(owner=me, acquired_at=now, expires_at=exp))
        try:
            if new:
                s.execute(insert(LOCKS), new)
        except IntegrityError as exc:
            raise Conflict("a device of this batch was locked concurrently; the batch will be retried") from exc
        return got

    def claim(self, p: Proposal, device_ids: Sequence[str], out: BatchOutcome,
              actor: Actor) -> tuple[list[str], dict[str, ExecutionStatus], list[str]]:
        """One transaction: what each device's execution record says (never started → fresh; left
        mid-way by a dead worker → resume; finished → already done), and the locks of the devices
        that still need work. A lock a dead worker left on a finished device is cleared here: the
        worker was killed after recording the batch and before releasing it, and only this
        redelivery of the batch will ever look at those devices again. Returns (fresh, resume
        status per device, locked)."""
        with self.ctx.store.write() as s:
            execs = dict(s.execute(select(EXECS.c.device_id, EXECS.c.status).where(
                EXECS.c.proposal_id == p.id, EXECS.c.device_id.in_(list(device_ids)))).all())
            fresh: list[str] = []
            resume: dict[str, ExecutionStatus] = {}
            for dev_id in dict.fromkeys(device_ids):
                st = execs.get(dev_id)
                if st is None or st == str(X.PENDING):
                    fresh.append(dev_id)
                elif X(st) in RESUMABLE:
                    resume[dev_id] = X(st)
                else:
                    out.add(DeviceResult(dev_id, X.SKIPPED, evidence={ALREADY_DONE: True, "status": st}))
            locked = self.lock_in(s, p, fresh + list(resume), out) if fresh or resume else []
            if out.already_done:
                clear_dead_locks(s, p.id, out.already_done, actor.id, "the batch's devices were already finished")
        return fresh, resume, locked

    def release(self, pid: str, ids: list[str]) -> None:
        if ids:
            with self.ctx.store.write() as s:
                s.execute(delete(DeviceLockRow).where(DeviceLockRow.proposal_id == pid,
                                                      DeviceLockRow.device_id.in_(ids)))
