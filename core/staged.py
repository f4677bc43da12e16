"""Staged execution: applying one approved proposal to its targets batch by batch (campaign rings).

A campaign is *one* proposal — one hash, one policy decision, one set of approvals over the whole
target list — executed in batches by workers. Every gate of the lifecycle is re-checked for each
batch. What differs from :meth:`Lifecycle.apply` is the failure unit: a device that faults or fails
verification is rolled back on its own and the batch goes on; whether the campaign continues is
the campaign's analysis gate's call, not the lifecycle's.

At-least-once delivery is safe: an execution row is unique per (proposal, device) and is written
(``applying``) before the device is touched, so a redelivered batch finds devices already done and
skips them, and finds devices a dead worker left ``applying`` and verifies (or restores) them
instead of writing again. Nothing is changed twice.

Each device goes through the same :class:`core.execution.DeviceEngine` as a single apply (one
write → verify → restore, one :class:`~core.execution.DeviceResult` per device). This module holds
no write capability of its own and reaches into no lifecycle internals: it is given the engine
(whose writes the lifecycle grants), the gate check and the backup read as explicit dependencies.

Where the batch path and the single apply used to disagree, the safer rule now holds for both
(see core.execution): a timeout decides the rollback, and a Status-1 Set without a reboot is
restored, not "verified". And a device a dead worker had already decided to roll back
(``verify_failed``, ``rolling_back``) is restored on resume, never verified or written again;
only one left ``applying`` (nothing decided yet) is read back — and re-written only if it still
holds exactly its backup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, compat
from core.capabilities import class_key
from core.config import Settings
from core.errors import Conflict, Forbidden
from core.execution import (
    UNCONFIRMED_ACTION,
    Aggregate,
    DeviceEngine,
    DeviceResult,
    lock_is_live,
    owner,
)
from core.failpoints import failpoint
from core.ids import new_id
from core.locks import LOCKS, clear_dead_locks
from core.models import Actor, Device, ExecutionStatus, Proposal, ProposalState, utcnow
from core.ports.executor import ExecutorError
from core.routing import ExecutorRouter
from core.states import check_execution, require_state, set_state
from core.store import Store, repo
from core.store.schema import BackupRow, DeviceLockRow, ExecutionRow
from policies.base import PolicyEngine

GateCheck = Callable[[Session, Proposal, dict[str, Device], tuple[ProposalState, ...]], None]
BackupRead = Callable[[Proposal, Device], dict[str, Any]]

S = ProposalState
X = ExecutionStatus
EXECS = cast(Table, ExecutionRow.__table__)
BACKUPS = cast(Table, BackupRow.__table__)
# Executed once per batch with one parameter set per device (executemany), built once.
_RESTART = update(EXECS).where(EXECS.c.id == bindparam("b_id")).values(
    status=bindparam("status"), started_at=bindparam("started_at", type_=EXECS.c.started_at.type))
_SETTLE = update(EXECS).where(EXECS.c.id == bindparam("b_id")).values(
    status=bindparam("status"), detail=bindparam("detail", type_=EXECS.c.detail.type), error=bindparam("error"),
    finished_at=bindparam("finished_at", type_=EXECS.c.finished_at.type))
FINAL = frozenset({X.VERIFIED, X.ROLLED_BACK, X.ROLLBACK_FAILED, X.FAILED, X.SKIPPED})
RESUMABLE = frozenset({X.APPLYING, X.APPLIED, X.VERIFY_FAILED, X.ROLLING_BACK})
# A resumed device in one of these was already decided to be rolled back: finish that, nothing else.
DECIDED = frozenset({X.VERIFY_FAILED, X.ROLLING_BACK})
CHANGED = frozenset({X.APPLYING, X.APPLIED, X.VERIFIED, X.VERIFY_FAILED, X.ROLLING_BACK, X.ROLLBACK_FAILED})
# How often a batch's read phase (presence, backup) polls the halt. Before every *write* it is read
# each time; the read phase writes nothing, so polling it per device only doubled the checks.
HALT_POLL_READS_S = 0.05


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


@dataclass
class BatchOutcome(Aggregate):
    """A batch's (or an abort's) per-device :class:`DeviceResult` in ``results``, and the lists the
    campaign analysis reads."""

    proposal_id: str
    results: dict[str, DeviceResult] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rolled_back: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    already_done: list[str] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    # Time spent waiting on devices (presence, backup read, write, read-back, restore: the executor
    # call and the lifecycle's grant around it), wall and this thread's CPU. The rest of a batch's
    # time is the control plane's own — what a campaign's throughput is limited by when devices
    # answer fast (campaigns record both per batch; bench/campaign_run.py reports them apart).
    device_s: float = 0.0
    device_cpu_s: float = 0.0

    @property
    def executed(self) -> int:
        return len(self.verified) + len(self.failed)

    @contextmanager
    def on_device(self) -> Iterator[None]:
        """Count the enclosed device call's time as device time."""
        w, c = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.device_s += time.perf_counter() - w
            self.device_cpu_s += time.thread_time() - c


class StagedExecution:
    """Staged runs of one lifecycle. Reached as ``lifecycle.apply_batch`` etc.; it writes only
    through ``engine`` (granted by the lifecycle), re-checks gates with ``check_gates`` and reads
    backups with ``backup``."""

    def __init__(self, store: Store, settings: Settings, policy: PolicyEngine, router: ExecutorRouter,
                 engine: DeviceEngine, *, backup: BackupRead, check_gates: GateCheck) -> None:
        self.store, self.settings, self.policy, self.router = store, settings, policy, router
        self.engine, self._backup, self._check_gates = engine, backup, check_gates

    @staticmethod
    def _load(s: Session, pid: str) -> tuple[Any, Proposal]:
        row = repo.get_proposal_row(s, pid, for_update=True)
        return row, repo.proposal_from_row(row)

    def _get(self, pid: str) -> Proposal:
        with self.store.read() as s:
            return repo.proposal_from_row(repo.get_proposal_row(s, pid))

    def _staged_gates(self, pid: str, device_ids: Sequence[str]) -> tuple[Proposal, dict[str, Device]]:
        """Every gate of the lifecycle, re-derived from the store for this batch. A running rollout
        (``applying``) only reads, so concurrent batches do not queue on the proposal's row lock;
        the first batch of an ``approved`` one re-checks under the lock and moves it to ``applying``."""
        with self.store.read() as s:
            p, devices = self._gates_in(s, pid, device_ids, lock=False)
        if p.state is S.APPLYING:
            return p, devices
        with self.store.write() as s:
            p, devices = self._gates_in(s, pid, device_ids, lock=True)
        return p, devices

    def _gates_in(self, s: Session, pid: str, device_ids: Sequence[str], *,
                  lock: bool) -> tuple[Proposal, dict[str, Device]]:
        row = repo.get_proposal_row(s, pid, for_update=lock)
        p = repo.proposal_from_row(row)
        if not p.staged:
            raise Conflict(f"proposal {pid} is not staged; apply it with `gateward apply`")
        if p.state not in (S.APPROVED, S.APPLYING):
            require_state(p, S.APPROVED, S.APPLYING, doing="run a batch of")
        unknown = sorted(set(device_ids).difference(p.targets))
        if unknown:
            raise Forbidden(f"{unknown[0]} is not a target of proposal {pid}; the approval does not cover it")
        devices = repo.get_devices(s, list(device_ids))
        self._check_gates(s, p, devices if p.per_target else one_per_class(devices), (S.APPROVED, S.APPLYING))
        if lock and p.state is S.APPROVED:
            set_state(s, row, S.APPLYING, "system:campaign", "proposal.applying", {"staged": True})
        return p, devices

    def _lock_batch(self, p: Proposal, ids: list[str], out: BatchOutcome) -> list[str]:
        with self.store.write() as s:
            return self._lock_in(s, p, ids, out)

    def _lock_in(self, s: Session, p: Proposal, ids: list[str], out: BatchOutcome) -> list[str]:
        """Lock what can be locked; devices held by another live proposal are skipped, not waited on.
        One read of the batch's lock rows, one multi-row insert (the primary key is the lock)."""
        now = utcnow()
        exp = now + timedelta(seconds=self.settings.lock_ttl_s)
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
                    out.skipped[dev_id] = f"locked by {lock.proposal_id}"
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

    def _claim(self, p: Proposal, device_ids: Sequence[str], out: BatchOutcome,
               actor: Actor) -> tuple[list[str], dict[str, ExecutionStatus], list[str]]:
        """One transaction: what each device's execution record says (never started → fresh; left
        mid-way by a dead worker → resume; finished → already done), and the locks of the devices
        that still need work. A lock a dead worker left on a finished device is cleared here: the
        worker was killed after recording the batch and before releasing it, and only this
        redelivery of the batch will ever look at those devices again. Returns (fresh, resume
        status per device, locked)."""
        with self.store.write() as s:
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
                    out.already_done.append(dev_id)
            locked = self._lock_in(s, p, fresh + list(resume), out) if fresh or resume else []
            if out.already_done:
                clear_dead_locks(s, p.id, out.already_done, actor.id, "the batch's devices were already finished")
        return fresh, resume, locked

    def _release(self, pid: str, ids: list[str]) -> None:
        if ids:
            with self.store.write() as s:
                s.execute(delete(DeviceLockRow).where(DeviceLockRow.proposal_id == pid,
                                                      DeviceLockRow.device_id.in_(ids)))

    def apply_batch(self, pid: str, device_ids: Sequence[str], actor: Actor, *,
                    stop: Callable[[], bool] | None = None) -> BatchOutcome:
        """Apply an approved staged proposal to ``device_ids``. ``stop`` is polled before every device
        write (and every ``HALT_POLL_READS_S`` while the batch reads its devices): once it returns
        true no further device is written (the campaign halted); devices already written in this
        batch are still verified, so their outcome is known."""
        from core import rbac

        if not rbac.can_apply(actor):
            raise Forbidden(f"{actor.id} may not apply changes")
        out = BatchOutcome(proposal_id=pid)
        p, devices = self._staged_gates(pid, device_ids)
        fresh, resume, locked = self._claim(p, device_ids, out, actor)
        try:
            mine = set(locked)
            self._resume_devices(p, [devices[d] for d in resume if d in mine], resume, actor, out)
            self._run_fresh(p, [devices[d] for d in fresh if d in mine], actor, out, stop)
        finally:
            failpoint("staged.before_release")  # a kill here leaves the locks to the redelivery
            self._release(pid, locked)
        return out

    def _run_fresh(self, p: Proposal, devices: list[Device], actor: Actor, out: BatchOutcome,
                   stop: Callable[[], bool] | None) -> None:
        backups: list[dict[str, Any]] = []
        ready: list[Device] = []
        # Presence + backup read, before anything is recorded. Reads change nothing, so the halt is
        # polled here only every HALT_POLL_READS_S (to stop reading soon after a halt), not per
        # device: the check that keeps the promise is the one before every write, below.
        halted, next_poll = False, 0.0
        for d in devices:
            if stop is not None and not halted and time.monotonic() >= next_poll:
                halted, next_poll = stop(), time.monotonic() + HALT_POLL_READS_S
            if halted:
                out.halted.append(d.id)
                continue
            reader = self.router.reader(d)
            try:
                with out.on_device():
                    pres = reader.presence(d)
                if not (pres.online and pres.reachable):
                    out.skipped[d.id] = f"not reachable: {pres.detail or 'offline'}"
                    continue
                with out.on_device():
                    params = self._backup(p, d)
            except ExecutorError as exc:
                out.skipped[d.id] = f"backup read failed: {exc.message}"
                continue
            backups.append({"id": new_id("b"), "proposal_id": p.id, "device_id": d.id, "params": params,
                            "created_at": utcnow()})
            ready.append(d)
        if not ready:
            return
        # Write-ahead: backups and 'applying' rows commit before the first device is touched — in
        # one transaction of multi-row statements, however large the batch.
        now = utcnow()
        with self.store.write() as s:
            s.execute(insert(BACKUPS), backups)
            existing = {r.device_id: r for r in s.execute(select(EXECS.c.id, EXECS.c.device_id, EXECS.c.status).where(
                EXECS.c.proposal_id == p.id, EXECS.c.device_id.in_([d.id for d in ready])))}
            fresh_rows: list[dict[str, Any]] = []
            again: list[dict[str, Any]] = []
            for d in ready:
                row = existing.get(d.id)
                check_execution(None if row is None else row.status, X.APPLYING, f"{p.id}/{d.id}")
                if row is None:
                    fresh_rows.append({"id": new_id("x"), "proposal_id": p.id, "device_id": d.id,
                                       "status": str(X.APPLYING), "key": p.id, "detail": {}, "started_at": now})
                else:
                    again.append({"b_id": row.id, "status": str(X.APPLYING), "started_at": now})
            if fresh_rows:
                s.execute(insert(EXECS), fresh_rows)
            if again:
                s.execute(_RESTART, again)
            audit.append_many(s, [{"actor": actor.id, "action": "device.applying", "proposal_id": p.id,
                                   "device": d, "data": {"staged": True}} for d in ready])
        results: dict[str, DeviceResult] = {}
        written: list[Device] = []
        for d in ready:  # the halt is read before every write: a halt stops the next one
            if stop is not None and stop():
                results[d.id] = DeviceResult(d.id, X.PENDING, evidence={"halted": True})
                out.halted.append(d.id)
                continue
            with out.on_device():
                res = results[d.id] = self.engine.write(p, d)
            if res.status is X.APPLIED and not res.failed:
                written.append(d)
                failpoint("staged.after_write")
            elif res.failed:
                out.failed[d.id] = res.cause.message if res.cause is not None else (res.error or "failed")
        for d in written:
            with out.on_device():
                res = self.engine.verify(p, d)
            if res.failed:
                results[d.id] = res
                out.failed[d.id] = "verification failed: " + ", ".join(sorted(res.diff))
            else:
                results[d.id] = DeviceResult(d.id, X.VERIFIED, changed=True, evidence=results[d.id].evidence)
                out.verified.append(d.id)
        backup_by = {b["device_id"]: b["params"] for b in backups}
        for d in ready:
            res = results[d.id]
            # a timeout, a Status 1 without reboot, a failed verification; not an unconfirmed
            # operation with nothing to write back (it stays verify_failed with an alarm, core.execution)
            if self.engine.needs_restore(res, backup_by.get(d.id, {})):
                reason = "verification failed" if res.diff else (res.cause.message if res.cause else res.error)
                restored = self._restore_one(p, d, backup_by.get(d.id, {}), out, reason or "failed")
                restored.evidence = {**res.evidence, **restored.evidence}  # why it was restored stays on the row
                restored.unconfirmed = res.unconfirmed
                results[d.id] = restored
        for res in results.values():
            out.add(res)
        self._record(p, ready, results, actor)

    def _restore_one(self, p: Proposal, d: Device, backup: dict[str, Any], out: BatchOutcome,
                     reason: str) -> DeviceResult:
        with out.on_device():
            res = self.engine.restore(p, d, backup, reason)
        if res.status is X.ROLLBACK_FAILED:
            out.alarms.append(res.error or f"{d.id}: rollback failed")
        else:
            out.rolled_back.append(d.id)
        return res

    def _record(self, p: Proposal, devices: list[Device], results: dict[str, DeviceResult], actor: Actor) -> None:
        """Each device's final result, its audit events and its compatibility evidence, in one
        transaction per batch (a single apply records per step; the counts come out the same).
        Every status change is checked against the execution state machine before anything is
        written; the rows are then updated by one statement executed for the whole batch."""
        now = utcnow()
        events: list[dict[str, Any]] = []
        with self.store.write() as s:
            rows = {r.device_id: r for r in s.execute(select(
                EXECS.c.id, EXECS.c.device_id, EXECS.c.status, EXECS.c.detail, EXECS.c.finished_at).where(
                EXECS.c.proposal_id == p.id, EXECS.c.device_id.in_([d.id for d in devices])))}
            evidence: list[tuple[tuple[str, str, str, str], tuple[int, int, int], str | None]] = []
            workflows = compat.workflows_for(p.changes, p.operations, compat.policy_data(self.policy))
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
                events.append({"actor": actor.id, "action": f"device.{status}", "proposal_id": p.id, "device": d,
                               "data": {"status": str(status), **detail, **({"error": err} if err else {})}})
                if status is X.ROLLBACK_FAILED:
                    events.append({"actor": actor.id, "action": "alarm.rollback_failed", "proposal_id": p.id,
                                   "device": d, "data": {"severity": "critical", "error": err,
                                                         "action_needed": "inspect and restore by hand"}})
                if res.unconfirmed:
                    events.append({"actor": actor.id, "action": "alarm.operation_unconfirmed", "proposal_id": p.id,
                                   "device": d, "data": {"severity": "critical", "error": err,
                                                         "commands": res.unconfirmed,
                                                         "action_needed": UNCONFIRMED_ACTION}})
            if updates:
                s.execute(_SETTLE, updates)
            audit.append_many(s, events)
            compat.record_many(s, evidence)  # the compatibility matrix, in the same transaction

    def _resume_devices(self, p: Proposal, devices: list[Device], status: dict[str, ExecutionStatus],
                        actor: Actor, out: BatchOutcome) -> None:
        """Devices a dead worker left mid-way. One whose rollback was already decided is restored —
        unless it was recorded unconfirmed (an operation nobody saw complete) with nothing to write
        back: that stays ``verify_failed`` (an empty restore would record an undo a reboot cannot
        have). Otherwise read it back: verified if it holds; re-written only if it was left
        ``applying`` and still holds exactly its backup (the worker never reached it); restored
        otherwise."""
        if not devices:
            return
        with self.store.read() as s:
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
                row = recorded.get(d.id)
                detail = (row.detail if row is not None else None) or {}
                if detail.get("unconfirmed"):  # an operation nobody saw complete: never "rolled back"
                    prior = DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, evidence=dict(detail),
                                         error=row.error if row is not None else None,
                                         unconfirmed=list(detail["unconfirmed"]))
                    out.failed[d.id] = prior.error or "not confirmed"
                    if not self.engine.needs_restore(prior, backup):
                        continue  # stays verify_failed, its alarm already raised
                    restored = self._restore_one(p, d, backup, out, prior.error or "not confirmed")
                    restored.unconfirmed = prior.unconfirmed
                    results[d.id] = restored
                    continue
                out.failed[d.id] = "interrupted rollback finished"
                results[d.id] = self._restore_one(p, d, backup, out, "interrupted rollback finished")
                continue
            with out.on_device():
                res = self.engine.verify(p, d)
            if not res.failed:
                results[d.id] = DeviceResult(d.id, X.VERIFIED, changed=True, evidence={"resumed": True})
                out.verified.append(d.id)
            elif status[d.id] is X.APPLYING and self._untouched(p, d, backup, out):
                # Still exactly as backed up: the dead worker never reached it. A parameter Set is
                # idempotent, so it is simply applied now; operations are never re-run on a guess.
                requeue.append(d)
            else:
                out.failed[d.id] = "interrupted write did not hold"
                results[d.id] = self._restore_one(p, d, backup, out, "interrupted write did not hold")
        for res in results.values():
            out.add(res)
        self._record(p, [d for d in devices if d.id in results], results, actor)
        if requeue:
            self._run_fresh(p, requeue, actor, out, None)

    def _untouched(self, p: Proposal, d: Device, backup: dict[str, Any], out: BatchOutcome) -> bool:
        with out.on_device():
            return self.engine.untouched(p, d, backup)

    # ------------------------------------------------------------------ whole-campaign steps
    def staged_progress(self, pid: str) -> dict[str, int]:
        """Counts of executions by status, plus targets never started."""
        from sqlalchemy import func

        with self.store.read() as s:
            p = repo.proposal_from_row(repo.get_proposal_row(s, pid))
            counts = {str(st): int(n) for st, n in s.execute(select(ExecutionRow.status, func.count()).where(
                ExecutionRow.proposal_id == pid).group_by(ExecutionRow.status)).all()}
        started = sum(counts.values())
        return {**counts, "not_started": len(p.targets) - started,
                "targets": len(p.targets)}

    def finish_staged(self, pid: str, actor: Actor, note: str = "") -> Proposal:
        """Close a staged proposal whose rollout ended: done if every changed device verified."""
        prog = self.staged_progress(pid)
        with self.store.write() as s:
            row, p = self._load(s, pid)
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
        return self._get(pid)

    def rollback_staged(self, pid: str, actor: Actor, reason: str, *, batch: int = 500,
                        stop: Callable[[], bool] | None = None) -> BatchOutcome:
        """Abort: restore every device this staged proposal changed, from its backup."""
        out = BatchOutcome(proposal_id=pid)
        p = self._get(pid)
        if not p.staged:
            raise Conflict(f"proposal {pid} is not staged")
        with self.store.read() as s:
            changed = [r.device_id for r in s.scalars(select(ExecutionRow).where(
                ExecutionRow.proposal_id == pid, ExecutionRow.status.in_([str(x) for x in CHANGED])))]
        for start in range(0, len(changed), batch):
            ids = changed[start:start + batch]
            locked = self._lock_batch(p, ids, out)
            try:
                with self.store.read() as s:
                    devices = repo.get_devices(s, locked)
                    backups = {b.device_id: b.params for b in s.scalars(select(BackupRow).where(
                        BackupRow.proposal_id == pid, BackupRow.device_id.in_(locked)))}
                results = {d: out.add(self._restore_one(p, devices[d], backups.get(d, {}), out, f"abort: {reason}"))
                           for d in locked}
                self._record(p, [devices[d] for d in locked], results, actor)
            finally:
                self._release(pid, locked)
        with self.store.write() as s:
            row, cur = self._load(s, pid)
            if cur.state not in (S.ROLLED_BACK, S.FAILED):
                if out.alarms:
                    set_state(s, row, S.FAILED, actor.id, "proposal.failed", {"reason": reason,
                                    "alarms": out.alarms[:20]}, error=f"abort: {reason}; rollback failed on "
                                    f"{len(out.alarms)} device(s)")
                else:
                    set_state(s, row, S.ROLLED_BACK, actor.id, "proposal.rolled_back",
                                    {"reason": reason, "devices": len(out.rolled_back)}, error=f"aborted: {reason}")
        return out

