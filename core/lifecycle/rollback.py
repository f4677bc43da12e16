"""Restoring devices from their backup: after a failed apply (every touched device), on a person's
request after ``done`` (refused on drift unless forced), and the restores a ``rollback_pending``
proposal still owes (re-checked by a read first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, rbac
from core.execution import UNCONFIRMED_ACTION, DeviceEngine, restore_unreachable, values_equal
from core.failpoints import failpoint
from core.kernel.errors import Conflict, DeviceUnavailable, Forbidden, Invalid
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind, Device, ExecutionStatus, Proposal, utcnow
from core.kernel.ports.executor import RETRYABLE_ERRORS, ExecutorError
from core.kernel.secrets import is_secret_path
from core.lifecycle.context import TOUCHED, WRITTEN, ApplyOutcome, LifecycleContext, S, X, not_restored_text
from core.lifecycle.device_io import GrantedIO, holds_backup
from core.lifecycle.executions import ExecutionLog
from core.lifecycle.locking import DeviceLocks
from core.locks import LOCKS
from core.results import DeviceResult
from core.states import require_state, set_state
from core.store import repo
from core.store.records import delete_where
from core.store.schema import BackupRow, ExecutionRow, ProposalRow

RESTORE_PENDING_ACTION = ("none yet: the restore is re-checked by `gateward recover` and by the worker until the "
                          "device answers; a read showing the original value clears this alarm, another value is "
                          "restored from the backup")


@dataclass
class _Findings:
    """What one rollback pass found, which decides how the proposal ends: restores that failed
    (``alarms``), operations nobody saw complete (``unconfirmed``), restores still owed because a
    device was unreachable (``pending``: device → why), and the values restored (``snapshots``)."""

    alarms: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    #: downloads that did not install, with nothing to write back: they stay ``verify_failed``
    not_installed: list[str] = field(default_factory=list)
    snapshots: dict[str, dict[str, tuple[Any, str | None]]] = field(default_factory=dict)

    @classmethod
    def earlier(cls, execs: dict[str, Any]) -> _Findings:
        """A re-check starts from what earlier passes found: it stays part of how the rollback ends."""
        found = cls()
        for earlier in execs.values():
            if earlier.status == X.ROLLBACK_FAILED:
                found.alarms.append(earlier.error or f"{earlier.device_id}: rollback failed")
            elif (earlier.detail or {}).get("unconfirmed"):
                found.unconfirmed.append(earlier.error or f"{earlier.device_id}: not confirmed")
        return found


class Rollback:
    """The rollback phase; restores go through ``engine`` (granted by ``io``)."""

    def __init__(self, ctx: LifecycleContext, io: GrantedIO, engine: DeviceEngine, log: ExecutionLog,
                 locks: DeviceLocks) -> None:
        self.ctx, self.io, self.engine, self.log, self.locks = ctx, io, engine, log, locks

    def touched(self, p: Proposal, devices: Sequence[Device], actor: Actor, outcome: ApplyOutcome,
                reason: str, *, recheck: bool = False) -> None:
        """Restore every touched device from its backup and end the proposal ``rolled_back``, or
        ``failed`` (a restore failed, an operation is unconfirmed), or ``rollback_pending`` when a
        restore could not be confirmed only because its device was unreachable: that
        device stays ``rolling_back`` and locked, and ``Recovery._recheck_pending`` tries it again.
        ``recheck``: this is that re-check — only the pending devices are looked at, by a read
        first (the original value back clears the alarm without writing), and what earlier passes
        found (a failed restore, an unconfirmed operation) still decides the end.

        The steps: load the executions and backups (:meth:`_records`); per touched device, restore
        it (:meth:`_restore_written`, or :meth:`_recheck_restore` on a re-check) and record how that
        went (:meth:`_record_restore`); then end the proposal (:meth:`_finish`)."""
        execs, backups = self._records(p)
        found = _Findings.earlier(execs) if recheck else _Findings()
        for d in devices:
            ex = execs.get(d.id)
            if ex is None or ex.status not in TOUCHED:
                continue
            back = backups.get(d.id, {})
            if recheck:
                if ex.status != X.ROLLING_BACK:
                    continue  # only the restores still owed
                res = outcome.add(self._recheck_restore(p, d, back, reason))
            else:
                restored = self._restore_written(p, d, ex, back, actor, outcome, reason, found)
                if restored is None:
                    continue
                res = restored
            self._record_restore(p, d, res, back, actor, outcome, found, recheck=recheck)
        self._finish(p, devices, execs, actor, outcome, reason, found, recheck=recheck)

    def _records(self, p: Proposal) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The proposal's executions by device, and each device's backup."""
        with self.ctx.store.read() as s:
            execs = {e.device_id: e for e in repo.executions_for(s, p.id)}
            # Oldest first, so each device keeps its newest backup (an abandoned attempt's stays as evidence).
            backups = {b.device_id: b.params for b in s.scalars(select(BackupRow).where(
                BackupRow.proposal_id == p.id).order_by(BackupRow.created_at))}
        return execs, backups

    def _restore_written(self, p: Proposal, d: Device, ex: Any, back: dict[str, Any], actor: Actor,
                         outcome: ApplyOutcome, reason: str, found: _Findings) -> DeviceResult | None:
        """Restore one device this apply touched; ``None`` when there is nothing to write back (an
        unconfirmed operation with no value to restore: it stays ``verify_failed``)."""
        written = outcome.results.get(d.id)
        if written is None and (ex.detail or {}).get("unconfirmed"):
            # Recovery after a crash: the dead process recorded this device as unconfirmed.
            written = DeviceResult(d.id, ExecutionStatus.VERIFY_FAILED, changed=True, failed=True,
                                   evidence=dict(ex.detail), error=ex.error,
                                   unconfirmed=list(ex.detail["unconfirmed"]))
        if written is not None and written.unconfirmed:
            # An operation the device accepted but nobody saw complete cannot be undone: a person
            # is told to look (a critical alarm, like a reboot that never comes back).
            msg = written.error or f"{d.id}: not confirmed"
            found.unconfirmed.append(msg)
            with self.ctx.store.write() as s:
                audit.append(s, actor=actor.id, action="alarm.operation_unconfirmed", proposal_id=p.id,
                             device=d, data={"severity": "critical", "error": msg,
                                             "commands": written.unconfirmed,
                                             "action_needed": UNCONFIRMED_ACTION})
            if not self.engine.needs_restore(written, back):
                return None  # nothing to write back: it stays verify_failed, never "rolled back"
        if written is not None and written.evidence.get("not_installed") and not self.engine.needs_restore(
                written, back):
            found.not_installed.append(written.error or f"{d.id}: the firmware did not install")
            return None  # a download restores nothing: it stays verify_failed, never "rolled back"
        self.log.update(p.id, d, ExecutionStatus.ROLLING_BACK, "device.rolling_back", actor.id,
                        detail={"reason": reason})
        res = self.engine.restore(p, d, back, reason)
        before = outcome.results.get(d.id)
        res.reason = before.reason if before is not None else None  # why it failed, kept through its restore
        return outcome.add(res)

    def _record_restore(self, p: Proposal, d: Device, res: DeviceResult, back: dict[str, Any], actor: Actor,
                        outcome: ApplyOutcome, found: _Findings, *, recheck: bool) -> None:
        """Record one device's restore: pending (unreachable), failed (a critical alarm), or rolled
        back (with the values restored, for the stored snapshot)."""
        if restore_unreachable(res):
            found.pending[d.id] = self._restore_pending(p, d, res, actor, first=not recheck)
            return
        if res.status is ExecutionStatus.ROLLBACK_FAILED:
            msg = res.error or f"{d.id}: rollback failed"
            found.alarms.append(msg)
            self.log.update(p.id, d, ExecutionStatus.ROLLBACK_FAILED, "device.rollback_failed", actor.id,
                            error=msg)
            with self.ctx.store.write() as s:
                audit.append(s, actor=actor.id, action="alarm.rollback_failed", proposal_id=p.id, device=d,
                             data={"severity": "critical", "error": msg,
                                   "action_needed": "device left in an unknown state; inspect and restore by hand"})
            return
        restored, unrestorable = res.evidence["restored"], res.evidence["not_restorable"]
        confirmed, undone = res.evidence.get("confirmed_by"), res.evidence.get("not_undone")
        with self.ctx.store.write() as s:
            self.log.update_in(s, p.id, d, ExecutionStatus.ROLLED_BACK, "device.rolled_back", actor.id,
                               detail={"restored": restored, "not_restorable": unrestorable,
                                       **({"not_undone": undone} if undone else {}),
                                       **({"confirmed_by": confirmed} if confirmed else {})})
            if recheck:  # the restore the pending alarm was about is confirmed now
                audit.append(s, actor=actor.id, action="alarm.cleared", proposal_id=p.id, device=d,
                             data={"alarm": "alarm.rollback_unconfirmed",
                                   "how": confirmed or "restored from the backup and read back"})
        found.snapshots[d.id] = {path: (back[path]["value"], back[path].get("type")) for path in restored}

    def _finish(self, p: Proposal, devices: Sequence[Device], execs: dict[str, Any], actor: Actor,
                outcome: ApplyOutcome, reason: str, found: _Findings, *, recheck: bool) -> None:
        """End the proposal: ``rollback_pending`` while a restore is owed, else ``failed`` (an alarm,
        an unconfirmed operation, or commands refused before anything changed) or ``rolled_back``."""
        alarms, unconfirmed = found.alarms, found.unconfirmed
        outcome.alarms += alarms + unconfirmed
        failpoint("lifecycle.before_rolled_back")
        partial = not_restored_text(outcome.not_restored)
        detail: JsonObject = {"reason": reason, "devices": outcome.rolled_back, "restored": outcome.restored,
                              "not_restored": {k: v for k, v in outcome.not_restored.items() if v},
                              "partial": bool(partial)}
        with self.ctx.store.write() as s:
            row = repo.get_proposal_row(s, p.id)
            for device_id, values in found.snapshots.items():  # the stored snapshot shows the restored values
                self.log.merge_snapshot(s, device_id, values, "restored")
            if found.pending:
                self._end_pending(s, row, actor, reason, detail, found.pending, alarms + unconfirmed)
                return
            if recheck:  # resolved: the locks the re-check took (the devices waited for it) go with it
                delete_where(s, LOCKS, proposal_id=p.id)
            if alarms or unconfirmed:
                # Failed, not rolled back: some device is in a state nobody confirmed.
                error = reason
                if alarms:
                    error += f"; ROLLBACK FAILED: {'; '.join(alarms)}"
                if unconfirmed:
                    error += ("; UNCONFIRMED: the operation was accepted but its completion was never observed, "
                              "and it cannot be rolled back — check the device")
                set_state(s, row, S.FAILED, actor.id, "proposal.failed",
                          {**detail, "alarms": alarms + unconfirmed,
                                 **({"unconfirmed": outcome.unconfirmed} if outcome.unconfirmed else {})},
                          error=error + (f"; {partial}" if partial else ""))
            elif found.not_installed and not outcome.rolled_back:
                set_state(s, row, S.FAILED, actor.id, "proposal.failed",
                          {**detail, "not_installed": found.not_installed},
                          error=f"{reason}; the firmware did not install, and a download cannot be rolled back: "
                                "the device runs the image it ran before (nothing to restore)")
            elif (p.operations and not any(p.changes_for(d.id) for d in devices) and not outcome.rolled_back
                  and not any(ex.status in WRITTEN for ex in execs.values())):
                # Commands only, refused before any device did anything (a reboot the agent
                # answered with an error ended "rolled_back"): nothing was undone, so it failed.
                set_state(s, row, S.FAILED, actor.id, "proposal.failed", detail,
                          error=f"{reason}; nothing sent to roll back: no device was changed")
            else:
                set_state(s, row, S.ROLLED_BACK, actor.id, "proposal.rolled_back", detail,
                          error=f"{reason}; {partial}" if partial else reason)

    def _restore_pending(self, p: Proposal, d: Device, res: DeviceResult, actor: Actor, *, first: bool) -> str:
        """Record a restore the device was unreachable for: its execution stays ``rolling_back``
        (the rollback is decided, not finished), and the first time a ``warning`` alarm says it is
        re-checked — not the critical ``rollback_failed``: nothing says the device changed."""
        why = res.cause.message if res.cause is not None else (res.error or "unreachable")
        msg = f"{d.id}: restore not confirmed, the device could not be reached ({why})"
        with self.ctx.store.write() as s:
            self.log.update_in(s, p.id, d, ExecutionStatus.ROLLING_BACK, "device.restore_pending", actor.id,
                               detail={"restore_pending": why}, error=msg)
            if first:
                audit.append(s, actor=actor.id, action="alarm.rollback_unconfirmed", proposal_id=p.id, device=d,
                             data={"severity": "warning", "error": msg, "action_needed": RESTORE_PENDING_ACTION})
        return msg

    def _end_pending(self, s: Session, row: ProposalRow, actor: Actor, reason: str, detail: JsonObject,
                     pending: dict[str, str], alarms: list[str]) -> None:
        """``rollback_pending``, in the caller's transaction: the devices still owed a restore stay
        locked (held by no process, :data:`PENDING_RESTORE_OWNER`, so any recovery may take them
        over, and no other proposal may write them meanwhile); the proposal's other locks go."""
        error = (f"{reason}; ROLLBACK PENDING: {'; '.join(pending.values())} — re-checked by `gateward recover` "
                 "and by the worker until the device answers")
        if alarms:
            error += f"; ALSO: {'; '.join(alarms)}"
        if row.state != str(S.ROLLBACK_PENDING):
            set_state(s, row, S.ROLLBACK_PENDING, actor.id, "proposal.rollback_pending",
                      {**detail, "pending": list(pending), "alarms": alarms}, error=error)
        else:
            row.error, row.updated_at = error, utcnow()
            audit.append(s, actor=actor.id, action="recovery.restore_pending", proposal_id=row.id,
                         data={"pending": list(pending), "note": "still unreachable; re-checked later"})
        self.locks.hold_for_restore(s, row.id, list(pending))

    def _recheck_restore(self, p: Proposal, d: Device, backup: dict[str, Any], reason: str) -> DeviceResult:
        """A pending restore, tried again: read the device first — if it shows every backed-up value
        the restore is confirmed without writing (the usual case: the change never landed);
        otherwise restore it through the grant path, as any rollback does."""
        restorable = {path: v for path, v in backup.items() if v.get("restorable") and v.get("value") is not None}
        if restorable:
            try:
                values = self.io.read_tolerant(d, list(restorable))
            except ExecutorError as exc:
                if isinstance(exc, RETRYABLE_ERRORS):
                    return DeviceResult(d.id, X.ROLLBACK_FAILED, changed=True, failed=True,
                                        error=f"{d.id}: rollback failed: {exc.message}", cause=exc)
                values = {}  # unreadable otherwise: the restore below says what it finds
            if all(holds_backup(v, values.get(path)) for path, v in restorable.items()):
                return DeviceResult(d.id, X.ROLLED_BACK, failed=True, error=reason, evidence={
                    "reason": reason, "restored": list(restorable),
                    "not_restorable": [path for path, v in backup.items() if not v.get("restorable")],
                    "confirmed_by": "a read showed the original value; nothing was written"})
        return self.engine.restore(p, d, backup, reason)

    def rollback(self, pid: str, actor: Actor, reason: str, *, force: bool = False) -> ApplyOutcome:
        """Revert a finished change from its backup (an approver's call after ``done``).

        The backup is the value *before this proposal*. If a device no longer holds what this
        proposal wrote — a later proposal or a local change set it since — restoring would silently
        overwrite that. So the live values are compared first, under the device
        locks, and on drift nothing is written: Conflict names each path, its live value and what
        changed it. ``force=True`` restores anyway; it needs a person with approver, senior_approver
        or admin and a reason, and is audited as ``rollback.forced`` with the drift."""
        if not rbac.can_review(actor) and "admin" not in actor.roles:
            raise Forbidden(f"{actor.id} may not roll back changes (needs approver, senior_approver or admin)")
        if force and actor.kind is not ActorKind.HUMAN:
            raise Forbidden(f"{actor.id} is a job; only a person may force a rollback over later changes")
        if force and not reason.strip():
            raise Invalid("forcing a rollback needs a reason (--reason TEXT)")
        with self.ctx.store.write() as s:
            _, p = self.ctx.load(s, pid)
            require_state(p, S.DONE, doing="roll back")
            self.locks.acquire(s, p)
            audit.append(s, actor=actor.id, action="rollback.requested", proposal_id=pid,
                         data={"reason": reason, "force": force})
            devices = repo.get_devices(s, p.targets)
        ordered = [devices[t] for t in p.targets]
        outcome = ApplyOutcome(proposal=p)
        try:
            self._refuse_on_drift(p, ordered, actor, reason, force=force)
            self.touched(p, ordered, actor, outcome, reason=f"manual: {reason}")
        finally:
            self.locks.release(pid)
        outcome.proposal = self.ctx.get(pid)
        return outcome

    def _refuse_on_drift(self, p: Proposal, devices: Sequence[Device], actor: Actor, reason: str, *,
                         force: bool) -> None:
        """Raise (nothing written) if a device cannot be read or no longer holds what ``p`` wrote,
        unless forced; a forced rollback over drift is audited as ``rollback.forced``."""
        try:
            drift = self._rollback_drift(p, devices)
        except ExecutorError as exc:
            with self.ctx.store.write() as s:
                audit.append(s, actor=actor.id, action="rollback.refused", proposal_id=p.id,
                             data={"reason": reason, "error": exc.message})
            raise DeviceUnavailable(f"cannot roll back proposal {p.id}: {exc.device_id}: {exc.message}; the live "
                                    "values could not be compared with what it wrote, so nothing was changed",
                                    device_id=exc.device_id) from exc
        if not drift:
            return
        text = "; ".join(f"{x['device_id']} {x['path']} is {x['live']!r} (this proposal wrote {x['wrote']!r}; "
                         f"{x['changed_by']})" for x in drift[:10])
        with self.ctx.store.write() as s:
            audit.append(s, actor=actor.id, action="rollback.forced" if force else "rollback.refused",
                         proposal_id=p.id, data={"reason": reason, "drift": drift})
        if not force:
            raise Conflict(f"cannot roll back proposal {p.id}: the device changed since it was applied — {text}. "
                           "Restoring its backup would overwrite that; roll back the later change first, or "
                           "force it (--force, an approver with a reason)", drift=drift)

    def _rollback_drift(self, p: Proposal, devices: Sequence[Device]) -> list[JsonObject]:
        """Parameters whose live value is no longer what ``p`` wrote, with who changed them. Secrets
        read back empty and cannot be compared (nor restored); they are skipped."""
        with self.ctx.store.read() as s:
            execs = {e.device_id: e for e in repo.executions_for(s, p.id)}
        out: list[JsonObject] = []
        for d in devices:
            readable = [c for c in p.changes_for(d.id) if not is_secret_path(c.path)]
            ex = execs.get(d.id)
            if ex is None or ex.status not in TOUCHED or not readable:
                continue
            values = self.io.read_tolerant(d, [c.path for c in readable])
            for c in readable:
                got = values.get(c.path)
                if got is not None and values_equal(got.value, c.value):
                    continue
                with self.ctx.store.read() as s:
                    later = self._later_writer(s, p, d.id, c.path, ex.started_at or p.created_at)
                out.append({"device_id": d.id, "path": c.path, "wrote": c.value,
                            "live": None if got is None else got.value,
                            "changed_by": f"changed by later proposal {later}" if later
                            else "changed on the device outside Gateward"})
        return out

    @staticmethod
    def _later_writer(s: Session, p: Proposal, device_id: str, path: str, since: datetime) -> str | None:
        """The newest other proposal that wrote ``path`` on ``device_id`` after ``since``, if any."""
        rows = s.execute(select(ExecutionRow.proposal_id, ProposalRow.changes)
                         .join(ProposalRow, ProposalRow.id == ExecutionRow.proposal_id)
                         .where(ExecutionRow.device_id == device_id, ExecutionRow.proposal_id != p.id,
                                ExecutionRow.status.in_([str(x) for x in TOUCHED]),
                                ExecutionRow.started_at >= since)
                         .order_by(ExecutionRow.started_at.desc()))
        for pid, changes in rows:
            if any(isinstance(c, dict) and c.get("path") == path and c.get("target") in (None, device_id)
                   for c in changes or []):
                return str(pid)
        return None
