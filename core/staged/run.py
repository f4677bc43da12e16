"""A batch's never-started devices, phase by phase: read (presence and backup; nothing recorded
yet), write ahead (backups and ``applying`` rows committed before the first device is touched),
write (the halt read before every write), verify, restore what did not hold, record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select

from core import audit
from core.failpoints import failpoint
from core.kernel.errors import DeviceUnavailable
from core.kernel.ids import new_id
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Device, Proposal, utcnow
from core.kernel.ports.executor import ExecutorError
from core.results import DeviceResult
from core.staged.context import StagedContext
from core.staged.outcome import HALTED, BatchOutcome, X
from core.staged.record import BACKUPS, EXECS, RESTART, record, restore_one
from core.states import check_execution

# How often a batch's read phase (presence, backup) polls the halt. Before every *write* it is read
# each time; the read phase writes nothing, so polling it per device only doubled the checks.
HALT_POLL_READS_S = 0.05


class FreshRun:
    """One batch's devices that no worker started: each phase a method, run in order by ``run``."""

    def __init__(self, ctx: StagedContext, p: Proposal, actor: Actor, out: BatchOutcome,
                 stop: Callable[[], bool] | None) -> None:
        self.ctx, self.p, self.actor, self.out, self.stop = ctx, p, actor, out, stop

    def run(self, devices: list[Device]) -> None:
        ready, backups = self.read(devices)
        if not ready:
            return
        self.write_ahead(ready, backups)
        results, written = self.write(ready)
        self.verify(written, results)
        self.restore_failed(ready, results, {b["device_id"]: b["params"] for b in backups})
        for res in results.values():
            self.out.add(res)
        record(self.ctx, self.p, ready, results, self.actor)

    def read(self, devices: list[Device]) -> tuple[list[Device], list[dict[str, Any]]]:
        """Presence and backup read, before anything is recorded: the devices ready to write and
        their backup rows. Reads change nothing, so the halt is polled here only every
        ``HALT_POLL_READS_S`` (to stop reading soon after a halt), not per device: the check that
        keeps the promise is the one before every write."""
        backups: list[dict[str, Any]] = []
        ready: list[Device] = []
        halted, next_poll = False, 0.0
        for d in devices:
            if self.stop is not None and not halted and time.monotonic() >= next_poll:
                halted, next_poll = self.stop(), time.monotonic() + HALT_POLL_READS_S
            if halted:
                self.out.add(DeviceResult(d.id, X.PENDING, evidence={HALTED: True}))
                continue
            params = self._backup(d)
            if params is not None:
                backups.append({"id": new_id("b"), "proposal_id": self.p.id, "device_id": d.id, "params": params,
                                "created_at": utcnow()})
                ready.append(d)
        return ready, backups

    def _backup(self, d: Device) -> JsonObject | None:
        """``d``'s backup, or None with ``d`` skipped (not reachable, or its read failed)."""
        reader = self.ctx.router.reader(d)
        try:
            with self.out.on_device():
                pres = reader.presence(d)
            if not (pres.online and pres.reachable):
                self.out.add(DeviceResult(d.id, X.SKIPPED, reason=f"not reachable: {pres.detail or 'offline'}"))
                return None
            if self.p.preconditions:  # what the change was conditional on, read live (as the single apply does)
                with self.out.on_device():
                    unmet = self.ctx.unmet(self.p, d)
                if unmet is not None:
                    self.out.add(DeviceResult(d.id, X.SKIPPED, reason=f"precondition no longer holds: {unmet[0]} — "
                                                                      f"now {unmet[1]}; nothing was written"))
                    return None
            with self.out.on_device():
                return self.ctx.backup(self.p, d)
        except ExecutorError as exc:
            self.out.add(DeviceResult(d.id, X.SKIPPED, reason=f"backup read failed: {exc.message}"))
            return None
        except DeviceUnavailable as exc:  # a precondition's fact could not be read: not written
            self.out.add(DeviceResult(d.id, X.SKIPPED, reason=exc.message))
            return None

    def write_ahead(self, ready: list[Device], backups: list[dict[str, Any]]) -> None:
        """Backups and ``applying`` rows commit before the first device is touched — in one
        transaction of multi-row statements, however large the batch."""
        now = utcnow()
        with self.ctx.store.write() as s:
            s.execute(insert(BACKUPS), backups)
            existing = {r.device_id: r for r in s.execute(select(EXECS.c.id, EXECS.c.device_id, EXECS.c.status).where(
                EXECS.c.proposal_id == self.p.id, EXECS.c.device_id.in_([d.id for d in ready])))}
            fresh_rows: list[dict[str, Any]] = []
            again: list[dict[str, Any]] = []
            for d in ready:
                row = existing.get(d.id)
                check_execution(None if row is None else row.status, X.APPLYING, f"{self.p.id}/{d.id}")
                if row is None:
                    fresh_rows.append({"id": new_id("x"), "proposal_id": self.p.id, "device_id": d.id,
                                       "status": str(X.APPLYING), "key": self.p.id, "detail": {}, "started_at": now})
                else:
                    again.append({"b_id": row.id, "status": str(X.APPLYING), "started_at": now})
            if fresh_rows:
                s.execute(insert(EXECS), fresh_rows)
            if again:
                s.execute(RESTART, again)
            audit.append_many(s, [{"actor": self.actor.id, "action": "device.applying", "proposal_id": self.p.id,
                                   "device": d, "data": {"staged": True}} for d in ready])

    def write(self, ready: list[Device]) -> tuple[dict[str, DeviceResult], list[Device]]:
        """Each device's write, the halt read before every one (a halt stops the next). Returns
        every device's result and the devices written."""
        results: dict[str, DeviceResult] = {}
        written: list[Device] = []
        for d in ready:
            if self.stop is not None and self.stop():
                results[d.id] = DeviceResult(d.id, X.PENDING, evidence={HALTED: True})
                continue
            with self.out.on_device():
                res = results[d.id] = self.ctx.engine.write(self.p, d)
            if res.status is X.APPLIED and not res.failed:
                written.append(d)
                failpoint("staged.after_write")
            elif res.failed:
                res.reason = res.cause.message if res.cause is not None else (res.error or "failed")
        return results, written

    def verify(self, written: list[Device], results: dict[str, DeviceResult]) -> None:
        for d in written:
            with self.out.on_device():
                res = self.ctx.engine.verify(self.p, d)
            if res.failed:
                res.reason = "verification failed: " + ", ".join(sorted(res.diff))
                results[d.id] = res
            else:
                results[d.id] = DeviceResult(d.id, X.VERIFIED, changed=True, evidence=results[d.id].evidence)

    def restore_failed(self, ready: list[Device], results: dict[str, DeviceResult],
                       backup_by: dict[str, dict[str, Any]]) -> None:
        """A timeout, a Status 1 without reboot, a failed verification: restored from the backup.
        Not an unconfirmed operation with nothing to write back (it stays verify_failed with an
        alarm, core.execution)."""
        for d in ready:
            res = results[d.id]
            if not self.ctx.engine.needs_restore(res, backup_by.get(d.id, {})):
                continue
            reason = "verification failed" if res.diff else (res.cause.message if res.cause else res.error)
            restored = restore_one(self.ctx, self.p, d, backup_by.get(d.id, {}), self.out, reason or "failed")
            restored.evidence = {**res.evidence, **restored.evidence}  # why it was restored stays on the row
            restored.unconfirmed, restored.reason = res.unconfirmed, res.reason or restored.reason
            results[d.id] = restored
