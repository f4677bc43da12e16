"""One device's governed write — write, verify, restore — shared by single applies and campaign batches.

Why one engine: the lifecycle's apply and the staged (campaign) batch path used to carry their
own copy of this step and the copies drifted (a timeout left a device ``applying`` in one and
``verify_failed`` in the other; a SetParameterValues Status 1 was rolled back in one and
"verified" in the other). Both now call :class:`DeviceEngine`, which answers every step with a
:class:`DeviceResult` (Nornir-style: changed, failed, diff, evidence, error); the callers differ
only in their failure unit (a single apply rolls back every touched device; a batch restores the
failing device and goes on) and in how they record it.

Where the copies disagreed the safer rule is kept:

- **timeout** on a write: the device may or may not hold the change, so the rollback is decided
  there and then — the result is ``verify_failed`` (changed, failed). Recorded like that, a crash
  before the restore makes recovery finish the rollback; recorded as ``applying`` (the lifecycle's
  old rule) recovery could read the device back and call the change ``done``.
- **Status 1 without a reboot**: the device only committed the values; a read-back would show the
  committed value, not the running one. The write is reported failed (changed) and restored, in a
  batch as in a single apply.
- **an operation whose completion was not observed** (the adapter answered ``pending``: e.g. a USP
  ``FactoryReset()`` accepted but no ``Boot!`` within the reboot wait — a factory-fresh agent has no
  Boot! subscription): nothing saw it finish, so it is never "verified". The result is
  ``verify_failed`` with ``unconfirmed`` naming the commands and the error "not confirmed: …", as a
  timeout is; the parameters the proposal wrote are restored, but an operation cannot be undone, so
  the callers raise an alarm for a person to check the device instead of claiming a rollback.

This module never holds a write capability: the writes go through a :class:`DeviceIO` that only
:mod:`core.lifecycle.device_io` implements (it alone may obtain a grant; tests/sanity/test_write_path.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from core.firmware_check import declared_version, download_shortfall, not_undone
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Change, Device, ExecutionStatus, Operation, Proposal, utcnow
from core.kernel.ports.executor import RETRYABLE_ERRORS, ApplyResult, ExecutorError, OperateResult, ParamValue
from core.kernel.ports.executor import Timeout as ExecTimeout
from core.kernel.secrets import mask_value
from core.kernel.values import parse_bool
from core.results import DeviceResult

X = ExecutionStatus
# Operations after which a CPE runs on freshly loaded configuration: a Set answered with
# SetParameterValues Status 1 ("committed, takes effect after reboot") can be verified only after one.
REBOOTING_OPS = frozenset({"reboot", "download"})
AFTER_REBOOT = "applied, takes effect after reboot"


# ---------------------------------------------------------------------------------- device locks
def owner() -> str:
    """Who holds a device lock: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_is_live(holder: str, expires_at: datetime) -> bool:
    """Is another process still working under this lock? On this host, ask the kernel whether
    the pid lives; for another host only expiry can tell."""
    if holder == owner():
        return False
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname():
        return expires_at > utcnow()
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


#: The holder of a ``rollback_pending`` proposal's locks between re-checks: no process
#: (``lock_is_live`` is false for it on every host), so any process's recovery may take it over,
#: while the device stays locked against every other proposal until its restore is confirmed.
PENDING_RESTORE_OWNER = "gateward-pending-restore:0"


def lock_in_use(holder: str, expires_at: datetime) -> bool:
    """Is an apply running under this lock right now, in this process or another live one?"""
    return holder == owner() or lock_is_live(holder, expires_at)


def values_equal(a: Any, b: Any) -> bool:
    """Compare a read-back value with a target, tolerant of CWMP's string/boolean forms."""
    if isinstance(b, bool) or isinstance(a, bool):
        def as_bool(x: Any) -> Any:
            parsed = parse_bool(x)  # strict forms: a padded read-back is not the target
            if parsed is not None:
                return parsed
            return bool(x) if isinstance(x, int) else x
        return bool(as_bool(a) == as_bool(b))
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


# ---------------------------------------------------------------------------------- the engine
class DeviceIO(Protocol):
    """The granted device operations. Implemented only by :mod:`core.lifecycle.device_io`, which issues a
    grant scoped to one proposal, device and purpose around every write."""

    def write(self, p: Proposal, d: Device, changes: list[Change], *, purpose: str, key: str) -> ApplyResult: ...

    def operate(self, p: Proposal, d: Device, op: Operation) -> OperateResult: ...

    def verify(self, p: Proposal, d: Device, *, firmware: str | None = None) -> JsonObject: ...

    def restore(self, p: Proposal, d: Device, backup: dict[str, Any]) -> tuple[list[str], list[str]]: ...

    def read(self, d: Device, paths: list[str]) -> dict[str, ParamValue]: ...


def mismatch_text(bad: Mapping[str, Json]) -> str:
    return ", ".join(f"{k} expected {v['expected']!r} got {v['got']!r}" if isinstance(v, dict) else f"{k}: {v}"
                     for k, v in bad.items())


class DeviceEngine:
    """write → verify → restore for one device of one approved proposal. Gates, locks, backups
    and recording are the caller's: this class only does the device I/O and says what happened."""

    def __init__(self, io: DeviceIO) -> None:
        self.io = io
        #: (proposal, device) → the version a download's image declares, as the write learnt it (the
        #: adapter's file metadata when the proposal named none), so verify compares against it
        self._firmware: dict[tuple[str, str], str] = {}

    def write(self, p: Proposal, d: Device) -> DeviceResult:
        """Write this device's changes and run the proposal's operations (ParameterKey = proposal id)."""
        unconfirmed: dict[str, str] = {}  # command → why its completion was not observed
        wrote = False  # the Set landed: a command failing after it leaves the device changed
        try:
            mine = p.changes_for(d.id)  # a per-target proposal writes this device's own values
            evidence: JsonObject = {}
            if mine:
                res = self.io.write(p, d, mine, purpose="apply", key=p.id)
                wrote = True
                evidence = {"status": res.status, "idempotent_skip": res.idempotent_skip}
                if p.per_target:  # the audit names each device with the values it was given
                    evidence["values"] = {c.path: mask_value(c.path, c.value) for c in mine}
            for op in p.operations:
                result = self.io.operate(p, d, op)
                evidence[f"op:{op.command}"] = result.model_dump(mode="json")
                if result.status == "pending":  # accepted, completion never observed: stop here
                    unconfirmed[op.command] = str(result.output.get("detail") or "its completion was not reported")
                    break
                declared = declared_version(op, result.output) if op.command == "download" else None
                if declared is not None:
                    self._firmware[(p.id, d.id)] = declared
                bad = download_shortfall(op, result.output)
                if bad:  # transferred, not installed: never "verified", whatever the transfer said
                    return DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, diff=bad,
                                        evidence={**evidence, "mismatch": bad, "not_installed": True},
                                        error=f"{d.id}: verification failed: {mismatch_text(bad)}")
        except ExecutorError as exc:
            evidence = {"fault_code": getattr(exc, "code", None),
                        "per_parameter": {k: list(v) for k, v in getattr(exc, "per_parameter", {}).items()}}
            if wrote:  # a command refused after the Set landed: the Set is restored
                return DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, evidence=evidence,
                                    error=str(exc), cause=exc)
            if isinstance(exc, ExecTimeout):  # may have landed: the rollback is decided now (safer rule)
                return DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, evidence=evidence,
                                    error=str(exc), cause=exc)
            # A typed fault from an atomic Set means nothing landed on this device.
            return DeviceResult(d.id, X.FAILED, failed=True, evidence=evidence, error=str(exc),
                                nothing_sent=bool(getattr(exc, "nothing_sent", False)), cause=exc)
        if unconfirmed:
            evidence["unconfirmed"] = list(unconfirmed)
            return DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, evidence=evidence,
                                error=unconfirmed_failure(d, unconfirmed), unconfirmed=list(unconfirmed))
        if evidence.get("status") == 1 and not any(op.command in REBOOTING_OPS for op in p.operations):
            evidence["note"] = AFTER_REBOOT  # a read-back now would show the committed value, not the running one
            return DeviceResult(d.id, X.APPLIED, changed=True, failed=True, evidence=evidence,
                                error=after_reboot_failure(d))
        return DeviceResult(d.id, X.APPLIED, changed=True, evidence=evidence)

    def verify(self, p: Proposal, d: Device) -> DeviceResult:
        """Read the device back: ``verified``, or ``verify_failed`` with the mismatches as ``diff``."""
        try:
            bad = self.io.verify(p, d, firmware=self._firmware.pop((p.id, d.id), None))
        except ExecutorError as exc:
            bad = {"read": exc.message}
        if bad:
            return DeviceResult(d.id, X.VERIFY_FAILED, changed=True, failed=True, diff=bad,
                                evidence={"mismatch": bad},
                                error=f"{d.id}: verification failed: {mismatch_text(bad)}")
        return DeviceResult(d.id, X.VERIFIED, changed=True)

    def restore(self, p: Proposal, d: Device, backup: dict[str, Any], reason: str) -> DeviceResult:
        """Put the backed-up values back: ``rolled_back`` (``evidence`` names what was and was not
        restorable), or ``rollback_failed`` — the device is in an unknown state, an alarm."""
        try:
            restored, unrestorable = self.io.restore(p, d, backup)
        except ExecutorError as exc:
            return DeviceResult(d.id, X.ROLLBACK_FAILED, changed=True, failed=True, evidence={"reason": reason},
                                error=f"{d.id}: rollback failed: {exc.message}", cause=exc)
        evidence: JsonObject = {"reason": reason, "restored": restored, "not_restorable": unrestorable}
        if p.operations:  # a restore writes parameters back; what the operations did stays, said plainly
            evidence["not_undone"] = not_undone(p.operations)
        return DeviceResult(d.id, X.ROLLED_BACK, failed=True, error=reason, evidence=evidence)

    @staticmethod
    def needs_restore(res: DeviceResult, backup: dict[str, Any]) -> bool:
        """Should a failed, changed device be restored from ``backup``? Always, except a device whose
        only failure is an unconfirmed operation, or a download that did not install, and whose backup
        holds nothing restorable: writing
        nothing back and recording ``rolled_back`` would claim an undo that an operation (a reboot,
        a factory reset, a firmware download) cannot have. Such a device stays ``verify_failed``
        and its caller raises ``alarm.operation_unconfirmed``."""
        if not (res.changed and res.failed):
            return False
        if not (res.unconfirmed or res.evidence.get("not_installed")):
            return True
        return any(v.get("restorable") and v.get("value") is not None for v in backup.values())

    def untouched(self, p: Proposal, d: Device, backup: dict[str, Any]) -> bool:
        """Does the device still hold exactly its backup (so an interrupted write never reached it)?
        Never true for a proposal with operations or an unrestorable (secret) value."""
        if p.operations or not backup or any(not v.get("restorable") for v in backup.values()):
            return False
        try:
            values = self.io.read(d, list(backup))
        except ExecutorError:
            return False
        return all(path in values and values_equal(values[path].value, v["value"]) for path, v in backup.items())


def restore_unreachable(res: DeviceResult) -> bool:
    """Did a restore fail only because the device could not be reached (offline, a transport
    timeout, the broker gone: ``executors.errors.RETRYABLE_ERRORS``)? Then nobody knows whether it
    landed — the device may well still hold its original value — and trying later can tell
    (a broker killed mid-apply raised a critical ``rollback_failed`` on a device that had
    never changed). Any other failure (a fault, a value that did not hold) is a real one."""
    return res.status is X.ROLLBACK_FAILED and isinstance(res.cause, RETRYABLE_ERRORS)


def after_reboot_failure(d: Device) -> str:
    """Why a Status-1 Set without a reboot in the proposal is rolled back rather than verified:
    the device only committed the values, so "verified" would be a claim nobody checked."""
    return (f"{d.id}: {AFTER_REBOOT} (SetParameterValues Status 1) and this proposal has no reboot; "
            "it cannot be verified, so it is rolled back — propose it again with a reboot operation")


def unconfirmed_failure(d: Device, unconfirmed: dict[str, str]) -> str:
    """Why an operation the device accepted is not "verified": nobody saw it complete (issue:
    a real OB-USP-Agent's FactoryReset() was reported applied and verified after 180 s of
    silence). The text starts with the device and says "not confirmed", so CLI, API and audit
    readers see the same cause."""
    parts = "; ".join(f"{command} not confirmed: {detail}" for command, detail in unconfirmed.items())
    return f"{d.id}: {parts}"


UNCONFIRMED_ACTION = ("the device accepted the command but its completion was never observed; "
                      "check the device by hand (it cannot be rolled back)")
