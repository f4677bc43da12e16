"""The single apply (``Lifecycle.apply``): every gate re-checked from the store, every target
locked, presence and a backup of the paths about to change, then per device through the
:class:`core.execution.DeviceEngine` — ``applying`` before the write, write, ``applied``, read back —
to ``done``; the first failure restores every touched device (:mod:`core.lifecycle.rollback`).

The steps of one run hand each other a :class:`_Run` (the rows as last committed, the failure so
far), so each step is a small method and the statements per proposal stay few: a row this apply
committed is moved again without reading it back (docs/performance.md, D1).

Fan-out: presence, the backup read, the writes and the read-back of a proposal's devices
run up to ``GATEWARD_APPLY_CONCURRENCY`` at a time (:mod:`core.fanout`). The first target is written
alone — a write whose request never left defers the whole apply exactly as before, and a bad change
fails on one device instead of eight — then the rest, started in target order. Each device's own
steps (``applying``, the write, ``applied``) stay in order on one thread, and everything a run
records goes through ``_Run.lock``; the first failure starts no further device, lets the writes
already under way finish and be recorded, then rolls back every touched device as before. A limit
of 1 is the serial apply, statement for statement.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core import audit, rbac
from core.execution import DeviceEngine
from core.failpoints import failpoint
from core.fanout import map_bounded, run_bounded
from core.kernel.errors import (
    Conflict,
    DatabaseUnavailable,
    DeviceUnavailable,
    Forbidden,
    GatewardError,
    StorageFull,
    cause_text,
    database_unavailable_cause,
    storage_full_cause,
)
from core.kernel.ids import new_id
from core.kernel.jsontypes import JsonObject
from core.kernel.models import TERMINAL_STATES, Actor, Device, ExecutionStatus, Proposal, utcnow
from core.kernel.ports.executor import ExecutorError
from core.lifecycle.context import WRITTEN, ApplyOutcome, LifecycleContext, S, X
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.executions import ExecutionLog
from core.lifecycle.gates import Gates
from core.lifecycle.locking import DeviceLocks
from core.lifecycle.recovery import Recovery
from core.lifecycle.rollback import Rollback
from core.lifecycle.schedule import PreconditionFailed, Scheduling
from core.locks import LOCKS
from core.results import DeviceResult
from core.states import move_execution, set_state
from core.store import repo
from core.store.records import ExecutionRecord, ProposalRecord, delete_where, insert_rows
from core.store.schema import BackupRow, ExecutionRow

_BACKUPS = cast(Table, BackupRow.__table__)
WAITING_FOR_INFORM = "waiting for the device's next inform"  # a Presence.detail prefix (executors/genieacs)


@dataclass(frozen=True)
class _Applied:
    """A write the device acknowledged whose ``applied`` is recorded with the verification after it."""

    device: Device
    evidence: JsonObject
    at: datetime


@dataclass
class _Progress:
    """How far one apply got, kept outside the database: what a person is told when the database
    itself fails (full, or gone) and cannot be asked. ``started``: the devices whose ``applying``
    committed — each may hold the change — in the order written."""

    targets: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def written(self) -> str:
        if not self.started:
            return "no device was written"
        shown = ", ".join(self.started[:10]) + (f" and {len(self.started) - 10} more" if len(self.started) > 10 else "")
        of = f" of {len(self.targets)}" if self.targets else ""
        return f"{len(self.started)}{of} device(s) written or being written: {shown}"


@dataclass
class _Run:
    """One apply's way through its devices, as far as it got: what the steps of
    :meth:`Apply._write_and_verify` hand each other. ``row``: the proposal's row as this apply last
    committed it (its moves match that version instead of reading it again); ``opened``: the
    execution rows the backup wrote, not yet moved; ``held``: each device's execution row as this
    apply last committed it (only the lock holder writes them); ``deferred``: the last device's
    write, acknowledged, its ``applied`` recorded with what follows; ``failure``: why the writes or
    the verification stopped (the rollback's reason)."""

    p: Proposal
    devices: Sequence[Device]
    actor: Actor
    outcome: ApplyOutcome
    opened: dict[str, ExecutionRecord]
    row: ProposalRecord | None
    held: dict[str, ExecutionRecord] = field(default_factory=dict)
    deferred: _Applied | None = None
    failure: str | None = None
    progress: _Progress = field(default_factory=lambda: _Progress())
    #: held by the fanned-out writes around everything they record (``run`` fields, the outcome, rows)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, device_id: str, failure: str | None, shown: str) -> None:
        """Stop here: ``failure`` is the rollback's reason, ``shown`` the device's line in the outcome."""
        self.failure = failure
        self.outcome.results[device_id].reason = shown


class Apply:
    """The single apply: gates, locks, presence, backup, then per device write → verify, or a
    rollback of every touched device. Device I/O only through ``engine`` and ``io``."""

    def __init__(self, ctx: LifecycleContext, io: GrantedIO, engine: DeviceEngine, *, gates: Gates,
                 locks: DeviceLocks, log: ExecutionLog, rollback: Rollback, recovery: Recovery,
                 scheduling: Scheduling) -> None:
        self.ctx, self.io, self.engine = ctx, io, engine
        self.gates, self.locks, self.log, self.rollback, self.recovery = gates, locks, log, rollback, recovery
        self.scheduling = scheduling

    def apply(self, pid: str, actor: Actor) -> ApplyOutcome:
        """Back up, write, verify — or roll back. Returns the outcome; raises only when nothing
        was written (gate refused, device locked or offline) — or when the database's disk is full
        (:class:`StorageFull`, one line naming the cause and the command that finishes it)."""
        if not rbac.can_apply(actor):
            raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not apply changes")
        self.recovery.settle_stranded()
        if pid in self.recovery.settled:  # a retry of an apply this process settled after it was cut
            p = self.ctx.get(pid)
            if p.state in TERMINAL_STATES or p.state is S.ROLLBACK_PENDING:
                return ApplyOutcome(proposal=p)  # the answer the cut request would have had
        if self.scheduling.waiting(self.ctx.get(pid)):  # before its time: who asked is recorded, nothing written
            return self.scheduling.request_start(pid, actor)
        progress = _Progress()
        try:
            return self._apply(pid, actor, progress)
        except GatewardError:
            raise
        except Exception as exc:
            if storage_full_cause(exc) is not None:
                raise self._storage_full(pid, exc, progress) from exc
            if database_unavailable_cause(exc) is not None:
                self.locks.strand(pid)  # settled by this process once the database answers (Recovery.settle_soon)
                raise self._connection_lost(pid, exc, progress) from exc
            raise

    def _apply(self, pid: str, actor: Actor, progress: _Progress) -> ApplyOutcome:
        t0 = time.perf_counter()
        # The gates' transaction and the backup's prepare the device write: they commit without
        # waiting for their WAL flush, and the device's own ``applying`` commit — synchronous, before
        # the write (``GrantedIO.write``) — flushes them. Every way out of ``apply`` commits durably.
        with self.ctx.store.write(durable=False) as s:
            row, p = self.ctx.load(s, pid)
            devices = repo.get_devices(s, p.targets)
            self.gates.check(s, p, devices, stored_preview=row.preview)  # a staged proposal is refused here
            self.locks.acquire(s, p)
            audit.append(s, actor=actor.id, action="apply.started", proposal_id=pid, data={"hash": p.hash})
        progress.targets = list(p.targets)
        self.ctx.time("gates", t0)
        # From here on the locks are ours: every way out of this method releases them (a kill -9
        # leaves them to ``recover``, which clears locks of dead owners). A change that ends
        # ``done`` releases them in the transaction that records it.
        released = False
        try:
            ordered = [devices[t] for t in p.targets]
            # The row as the gates read it: the backup's transaction moves it only if nobody has
            # since (its save matches that version), and the moves after it reuse it likewise.
            opened = self._presence_and_backup(p, ordered, actor, row.preview, row=row)
            failpoint("lifecycle.after_backup")
            outcome = self._write_and_verify(p, ordered, actor, opened, row=row, progress=progress)
            released = outcome.proposal.state is S.DONE  # a rollback_pending kept only the owed devices' locks
            return outcome
        finally:
            if not released:
                self.locks.release(pid)
            self.ctx.store.ensure_durable()

    def _presence_and_backup(self, p: Proposal, ordered: list[Device], actor: Actor,
                             preview: dict[str, Any] | None = None, *, row: ProposalRecord | None = None
                             ) -> dict[str, ExecutionRecord]:
        """Everything before the first write. Any refusal here (offline, unreadable, the proposal
        changed meanwhile) leaves the devices untouched and is audited as ``apply.deferred``.
        Returns the execution rows the backup opened, by device. ``row``: see :meth:`_backup`."""
        try:
            t0 = time.perf_counter()
            answers = map_bounded(lambda d: self.io.reader(d).presence(d), ordered, self._limit())
            for d, answer in zip(ordered, answers, strict=True):  # decided in target order, as read serially
                pres = answer.get()
                if not (pres.online and pres.reachable):
                    raise DeviceUnavailable(
                        f"device {d.id} is not reachable now ({pres.detail or 'offline'}); nothing was changed — "
                        "apply again when it is back", device_id=d.id)
                if (pres.detail or "").startswith(WAITING_FOR_INFORM):  # NAT: the adapter queues for the next inform
                    with self.ctx.store.write() as s:
                        audit.append(s, actor=actor.id, action="apply.waiting_for_inform", proposal_id=p.id, device=d,
                                     data={"note": pres.detail})
            self.ctx.time("presence", t0)
            self.scheduling.check_preconditions(p, ordered, actor)  # what the request was conditional on, read again
            t0 = time.perf_counter()
            opened = self._backup(p, ordered, actor, preview, row=row)
            self.ctx.time("backup", t0)
            return opened
        except PreconditionFailed:
            raise  # the proposal is cancelled with the fact; not a deferral
        except (DeviceUnavailable, ExecutorError, Conflict) as exc:
            with self.ctx.store.write() as s:
                audit.append(s, actor=actor.id, action="apply.deferred", proposal_id=p.id, data={"reason": str(exc)})
            if isinstance(exc, ExecutorError):
                raise DeviceUnavailable(f"backup read failed, nothing was changed: {exc}") from exc
            raise

    def _defer_unsent(self, p: Proposal, actor: Actor, exc: ExecutorError) -> None:
        """The first write's connection request failed and its task was deleted before it ran
        (``DeviceOffline.nothing_sent``): nothing reached any device, exactly as when the backup read
        fails — which is the probe a backup answered from the preview read does not make.
        So the apply is deferred the same way: approved again, this attempt's execution rows kept
        as ``abandoned`` for the next apply, ``DeviceUnavailable`` raised."""
        with self.ctx.store.write() as s:
            row = repo.get_proposal_row(s, p.id)
            for ex in s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id)):
                move_execution(ex, ExecutionStatus.ABANDONED)
                kept = {k: v for k, v in (ex.detail or {}).items() if k != "waiting_for_inform"}  # the wait is over
                ex.detail = {**kept, "abandoned": f"nothing was sent: {exc.message}"}
                ex.finished_at = utcnow()
            set_state(s, row, S.APPROVED, actor.id, "apply.deferred", {"reason": str(exc)})
        raise DeviceUnavailable(
            f"device {exc.device_id} is not reachable now ({exc.message}); nothing was changed — apply again "
            "when it is back", device_id=exc.device_id) from exc

    @staticmethod
    def _preview_read_since(preview: dict[str, Any] | None, p: Proposal, device_id: str) -> datetime | None:
        """When this proposal's stored live preview began reading ``device_id`` — only if that preview
        is of the current content and read the device without error; else ``None`` (read afresh)."""
        if not preview or preview.get("source") != "live" or preview.get("hash") != p.hash:
            return None
        ok = any(dp.get("device_id") == device_id and dp.get("present") and not dp.get("error")
                 for dp in preview.get("devices") or [])
        try:
            return datetime.fromisoformat(str(preview.get("taken_at"))) if ok else None
        except ValueError:
            return None

    def _backup(self, p: Proposal, devices: Sequence[Device], actor: Actor,
                preview: dict[str, Any] | None = None, *, row: ProposalRecord | None = None
                ) -> dict[str, ExecutionRecord]:
        """Read and store the backup of every touched parameter; ``preview`` is the stored preview
        the gates just checked (its read may serve as the backup, ``GrantedIO.backup_params``). Returns the
        ``pending`` execution rows it opened, by device. ``row``: the proposal's row as the gates
        read it, moved here without reading it again — its save matches that version, so a change
        made since refuses the backup as a changed hash or state would."""
        paths = list(dict.fromkeys(c.path for c in p.changes))
        backups: list[dict[str, Any]] = []
        reads = map_bounded(lambda d: self.io.backup_params(p, d, self._preview_read_since(preview, p, d.id)),
                            devices, self._limit())
        for d, read in zip(devices, reads, strict=True):  # the first device that failed, in target order
            params = read.get()
            backups.append({"id": new_id("b"), "proposal_id": p.id, "device_id": d.id, "params": params,
                            "created_at": utcnow()})
        changed = Conflict(f"proposal {p.id} changed during backup; nothing was changed")
        failpoint("lifecycle.before_backup")
        with self.ctx.store.write(durable=False) as s:  # flushed by the first device's ``applying`` commit
            if row is None:
                row = ProposalRecord.load(s, p.id, for_update=True)
            if row.hash != p.hash or row.state != str(S.APPROVED):
                raise changed
            insert_rows(s, _BACKUPS, backups)
            opened = self.log.open_in(s, p, devices)
            # The backup is *not* a snapshot: stored as one, these few parameters became the device's
            # "latest snapshot". A verified apply merges its values instead.
            from_preview = [b["device_id"] for b in backups if any("source" in v for v in b["params"].values())]
            set_state(s, row, S.BACKED_UP, actor.id, "proposal.backed_up",
                      {"devices": len(backups), "paths": paths,
                             **({"from_preview_read": from_preview} if from_preview else {})}, save=False)
            try:
                set_state(s, row, S.APPLYING, actor.id, "proposal.applying")
            except Conflict as exc:  # the version the gates read is not the stored one any more
                raise changed from exc
        return opened

    def _write_and_verify(self, p: Proposal, devices: Sequence[Device], actor: Actor,
                          opened: dict[str, ExecutionRecord] | None = None, *,
                          row: ProposalRecord | None = None, progress: _Progress | None = None) -> ApplyOutcome:
        """Write every device in order through the engine, then verify them all; the first failure
        stops the writes and rolls back every touched device (the failure unit is the proposal).
        ``opened``: the execution rows the backup just wrote (only this lock holder writes them,
        so each device's ``applying`` moves that row without reading it again). ``row``: the
        proposal's row as the backup committed it; its moves below match that version instead of
        reading the row again (a change made since refuses them with ``Conflict``)."""
        run = _Run(p, devices, actor, ApplyOutcome(proposal=p), dict(opened or {}), row,
                   progress=progress or _Progress())
        t0 = time.perf_counter()
        self._write_all(run)
        self.ctx.time("apply", t0)
        failure = self._verify_or_finish(run)
        if failure is None:
            return run.outcome
        t0 = time.perf_counter()
        self.rollback.touched(p, devices, actor, run.outcome, reason=failure)
        self.ctx.time("rollback", t0)
        run.outcome.proposal = self.ctx.get(p.id)
        return run.outcome

    def _write_all(self, run: _Run) -> None:
        """Write the devices in order until one fails (``run.failure``) or all are written.

        With no watch window the verification follows the last write at once, so that device's
        ``applied`` (and the proposal's ``verifying``) commit with what comes next — ``verified`` +
        ``done``, or ``verify_failed`` — instead of in a transaction of their own.
        Its ``applying`` was committed before the write, and recovery decides the same from
        ``applying`` as from ``applied`` (both count as written: verified, else rolled back)."""
        defer_last = self.ctx.settings.verify_window_s <= 0
        limit = self._limit()
        if limit <= 1 or len(run.devices) <= 2:
            for d in run.devices:
                if not self._write_one(run, d, last=d is run.devices[-1], defer_last=defer_last):
                    break
            return
        if self._write_one(run, run.devices[0], last=False, defer_last=defer_last):  # the first alone
            self._write_fanned(run, run.devices[1:], limit, defer_last=defer_last)

    def _write_fanned(self, run: _Run, devices: Sequence[Device], limit: int, *, defer_last: bool) -> None:
        """Write ``devices`` up to ``limit`` at a time, started in order until one fails. The device
        whose write ends last, with none failed, is the run's last (its ``applied`` may be deferred
        to the verification, as a serial apply's last device's is)."""
        ended = 0

        def one(d: Device) -> None:
            nonlocal ended
            with run.lock:
                if run.failure is not None:  # a device failed since this one was handed out
                    return
                self._start_write(run, d)
            res = self.engine.write(run.p, d)  # the device I/O, outside the lock
            with run.lock:
                ended += 1
                self._after_write(run, d, res, last=ended == len(devices) and run.failure is None,
                                  defer_last=defer_last)

        run_bounded(one, devices, limit, stop=lambda: run.failure is not None, name="gw-apply")

    def _write_one(self, run: _Run, d: Device, *, last: bool, defer_last: bool) -> bool:
        """``applying`` (committed before the write), the write, and what it answered recorded.
        Returns whether the next device may be written."""
        self._start_write(run, d)
        return self._after_write(run, d, self.engine.write(run.p, d), last=last, defer_last=defer_last)

    def _start_write(self, run: _Run, d: Device) -> None:
        """Where each device write starts: its ``applying``, committed before the write."""
        ex = run.opened.pop(d.id, None)
        self.log.update(run.p.id, d, X.APPLYING, "device.applying", run.actor.id, ex=ex)
        run.progress.started.append(d.id)  # committed: from here the device may hold the change
        if ex is not None:
            run.held[d.id] = ex
        failpoint("lifecycle.before_write")

    def _after_write(self, run: _Run, d: Device, res: DeviceResult, *, last: bool, defer_last: bool) -> bool:
        """What the write answered, recorded. Returns whether the next device may be written."""
        p, actor, outcome = run.p, run.actor, run.outcome
        outcome.add(res)
        if res.cause is not None:  # the write raised: a typed fault (nothing landed) or a timeout
            self._write_failed(run, d, res, res.cause)
            return False
        failpoint("lifecycle.after_write")
        if res.unconfirmed:  # accepted, never seen to complete: never "verified" (core.execution)
            self.log.update(p.id, d, res.status, "device.unconfirmed", actor.id, error=res.error,
                            detail=res.evidence)
            outcome.applied.append(d.id)
            outcome.unconfirmed[d.id] = list(res.unconfirmed)
            run.fail(d.id, res.error, res.error or "not confirmed")
            return False
        if res.evidence.get("not_installed"):  # transferred, still on the old image: verify failed, here
            self.log.update(p.id, d, res.status, "device.verify_failed", actor.id, error=res.error,
                            detail=res.evidence)
            outcome.applied.append(d.id)
            run.fail(d.id, res.error, res.error or "the firmware did not install")
            return False
        last = last and not res.failed
        if last and defer_last:
            run.deferred = _Applied(d, res.evidence, utcnow())
            outcome.applied.append(d.id)
            return False
        self._record_applied(run, d, res, last=last)
        outcome.applied.append(d.id)
        if res.failed:  # Status 1 without a reboot: a read-back now would not show the running value
            run.fail(d.id, res.error, res.error or "failed")
            return False
        return True

    def _write_failed(self, run: _Run, d: Device, res: DeviceResult, cause: ExecutorError) -> None:
        """A write that raised. If it was the first and its request never left, nothing reached any
        device: the apply is deferred (raises). Otherwise recorded — a timeout comes back
        ``verify_failed``: the rollback is decided now (core.execution)."""
        if not run.outcome.applied and res.nothing_sent:
            self._defer_unsent(run.p, run.actor, cause)  # the first write never reached any device
        self.log.update(run.p.id, d, res.status, "device.apply_failed", run.actor.id, error=res.error,
                        detail=res.evidence)
        run.fail(d.id, res.error, cause.message)

    def _record_applied(self, run: _Run, d: Device, res: DeviceResult, *, last: bool) -> None:
        """The device's ``applied``; after the last device, the proposal's ``verifying`` in the
        same transaction (every device written)."""
        p, actor = run.p, run.actor
        ex = run.held.pop(d.id, None)
        with self.ctx.store.write() as s:
            self.log.update_in(s, p.id, d, X.APPLIED, "device.applied", actor.id, detail=res.evidence, ex=ex)
            if last:
                row = run.row or ProposalRecord.load(s, p.id, for_update=True)
                set_state(s, row, S.VERIFYING, actor.id, "proposal.verifying")
        if last:
            run.row = row  # committed: the version the final move matches
        if ex is not None:
            run.held[d.id] = ex

    def _verify_or_finish(self, run: _Run) -> str | None:
        """Read every written device back and, when all hold, record ``done``; returns the failure
        to roll back for (None: done). Whatever goes wrong here, the write the device acknowledged
        (``run.deferred``) is put on record before the error goes on."""
        try:
            failpoint("lifecycle.after_apply")
            if run.failure is None:
                t0 = time.perf_counter()
                run.failure = self._verify_all(run.p, run.devices, run.actor, run.outcome, run.deferred)
                self.ctx.time("verify", t0)
                if run.failure is not None:
                    run.deferred = None  # _verify_all recorded it with the failure
            if run.failure is None:
                self._record_done(run)
                return None
        except BaseException:
            if run.deferred is not None:  # whatever went wrong, the write the device acknowledged is on record
                with contextlib.suppress(Exception), self.ctx.store.write() as s:
                    self._record_applied_in(s, run.p, run.deferred, run.actor)
            raise
        return run.failure

    def _record_done(self, run: _Run) -> None:
        """Verified: every device's execution, the snapshots, ``done`` and the end of the locks
        commit together (a process that dies before it is recovered as ``applying``)."""
        p, actor, outcome = run.p, run.actor, run.outcome
        with self.ctx.store.write() as s:
            row = run.row or ProposalRecord.load(s, p.id, for_update=True)
            execs = run.held if all(d.id in run.held for d in run.devices) else {
                e.device_id: e for e in ExecutionRecord.for_proposal(s, p.id)}
            if run.deferred is not None:  # row and execution saved once each, with ``done`` below
                self._record_applied_in(s, p, run.deferred, actor, row=row, ex=execs.get(run.deferred.device.id),
                                        save=False)
            for d in run.devices:
                self.log.update_in(s, p.id, d, X.VERIFIED, "device.verified", actor.id, ex=execs.get(d.id),
                                   changes=p)
            self.log.snapshot_verified(s, p, run.devices)
            set_state(s, row, S.DONE, actor.id, "proposal.done", {"devices": outcome.applied})
            delete_where(s, LOCKS, proposal_id=p.id)
        run.deferred = None
        for d in run.devices:
            written = outcome.results.get(d.id)
            outcome.add(DeviceResult(d.id, X.VERIFIED, changed=True, evidence=written.evidence if written else {}))
        outcome.proposal = repo.proposal_from_row(row)

    def _record_applied_in(self, s: Session, p: Proposal, written: _Applied, actor: Actor, *,
                           row: ProposalRecord | None = None, ex: ExecutionRecord | None = None,
                           save: bool = True) -> None:
        """The last device's ``applied`` and the proposal's ``verifying``, recorded in the caller's
        transaction after the verification that followed the write (``_write_and_verify``); the
        events say when the device acknowledged the write. ``save=False``: the caller moves ``row``
        and ``ex`` on in this transaction and saves them then."""
        self.log.update_in(s, p.id, written.device, ExecutionStatus.APPLIED, "device.applied", actor.id,
                           detail={**written.evidence, "acknowledged_at": written.at.isoformat()}, ex=ex,
                           save=save or ex is None)
        if row is None:
            row = ProposalRecord.load(s, p.id, for_update=True)
        set_state(s, row, S.VERIFYING, actor.id, "proposal.verifying",
                  {"acknowledged_at": written.at.isoformat()}, save=save)

    def _verify_all(self, p: Proposal, devices: Sequence[Device], actor: Actor, outcome: ApplyOutcome,
                    deferred: _Applied | None = None) -> str | None:
        """Read every device back; the first mismatch is recorded (after ``deferred``, the last
        write's ``applied`` not yet on record) and returned."""
        failure: str | None = None
        window = self.ctx.settings.verify_window_s
        for attempt in range(2 if window > 0 else 1):
            if attempt:
                time.sleep(window)
            reads = map_bounded(lambda d: self.engine.verify(p, d), devices, self._limit())
            for d, read in zip(devices, reads, strict=True):  # the first mismatch in target order
                res = read.get()
                if res.failed:
                    outcome.add(res)
                    with self.ctx.store.write() as s:
                        if deferred is not None:
                            self._record_applied_in(s, p, deferred, actor)
                        self.log.update_in(s, p.id, d, res.status, "device.verify_failed", actor.id,
                                           detail=res.evidence)
                    failure = res.error or f"{d.id}: verification failed"
                    res.reason = failure
                    return failure
        return failure  # verified: the caller records it with ``done`` in one transaction

    def _limit(self) -> int:
        """How many of this proposal's devices are read or written at once (``GATEWARD_APPLY_CONCURRENCY``)."""
        return max(1, int(self.ctx.settings.apply_concurrency))

    def _storage_full(self, pid: str, exc: BaseException, progress: _Progress) -> StorageFull:
        """One line for a person: the cause and where the disk is, which devices were written, and
        the command that finishes it."""
        try:
            with self.ctx.store.read() as s:
                state: str | None = ProposalRecord.load(s, pid).state
                written = [e.device_id for e in ExecutionRecord.for_proposal(s, pid) if e.status in WRITTEN]
        except Exception:  # the disk (or its database) cannot be read either: what this apply knows
            state, written = None, list(progress.started)
        started = _Progress(progress.targets, sorted(set(written) | set(progress.started),
                                                     key=lambda d: (d not in progress.started, d)))
        if state == str(S.APPROVED):
            what, then = "no device was written and it is still approved", " and apply again"
        elif not started.started:
            what, then = f"no device was written (left {state or 'applying'}; recovery makes it approved again)", \
                " and apply again"
        else:
            what, then = (f"the change is half-applied: {started.written()} (left {state or 'applying'}; recovery "
                          "verifies them or rolls them back from the backup)", "")
        return StorageFull(
            f"apply of proposal {pid} stopped: the database's disk is full ({storage_full_cause(exc)}; "
            f"{self.store_location()}) — {what}. Free space there, then run `gateward recover` (or restart "
            f"`gateward run`, which does it at start){then}", proposal_id=pid, written=started.started)

    def _connection_lost(self, pid: str, exc: BaseException, progress: _Progress) -> DatabaseUnavailable:
        """One line for a person when the database went away mid-apply: what was written, who
        finishes it, and what to do. Nothing is read: the database is not answering."""
        cause = cause_text(database_unavailable_cause(exc) or exc)
        return DatabaseUnavailable(
            f"apply of proposal {pid} was cut: the database stopped answering ({cause}; {self.store_location()}) — "
            f"{progress.written()}. A running server finishes it from what was recorded as soon as the database "
            "answers again (approved again if nothing was written, else verified or rolled back from the backup) — "
            "retry the apply then for its outcome; after a command that ended, or a server that stopped first, run "
            "`gateward recover` (the next start of `gateward run` does it too)", proposal_id=pid,
            written=list(progress.started))

    def store_location(self) -> str:
        """Where the database keeps its data, for a person freeing space (never the password)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.ctx.store.url)
        if url.get_backend_name() == "sqlite":
            return f"SQLite file {url.database}{_disk_of(str(url.database or ''))}"
        return f"PostgreSQL {url.host or 'localhost'}/{url.database}"


def _disk_of(path: str) -> str:
    """`` on the disk mounted at /srv (12 KiB free)``: where a person frees space."""
    import os

    from core.kernel.errors import free_bytes

    if not path or path == ":memory:":
        return ""
    mount = os.path.dirname(os.path.abspath(path))
    while not os.path.ismount(mount) and mount != os.path.dirname(mount):
        mount = os.path.dirname(mount)
    free = free_bytes(path)
    shown = "unknown" if free is None else f"{free // 1024:,} KiB"
    return f" on the disk mounted at {mount} ({shown} free)"
