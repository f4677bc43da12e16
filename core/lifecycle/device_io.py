"""The lifecycle's device I/O — the one module of Gateward that issues write grants.

Every write, operation and restore a proposal makes goes through :class:`GrantedIO`: it makes the
commit before it durable, issues a grant scoped to one proposal, device and purpose (paths or
command), calls the executor and revokes the grant. It holds the store (durability, the device row
of a diagnostic, its audit event) and the executor router — the lifecycle's phases do not: they are
handed this object (or the :class:`core.execution.DeviceEngine` over it), so nothing else can obtain
a writer. ``tests/sanity/test_write_path.py`` checks that no other module imports ``core.grants``.
Reads (presence, backup, read-back) go through here too, so one module is the lifecycle's whole
contact with devices.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select

from core import audit, rbac
from core.execution import values_equal
from core.firmware_check import SOFTWARE_VERSION as SOFTWARE_VERSION
from core.grants import GrantAuthority
from core.kernel.errors import DeviceRefused, DeviceUnavailable, Forbidden, Invalid
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Change, Device, Operation, Proposal, Scalar
from core.kernel.ports.executor import (
    ApplyResult,
    BackupRead,
    DeviceOffline,
    DeviceReader,
    ExecutorError,
    Fault,
    InvalidParameterName,
    OperateResult,
    ParamValue,
    Timeout,
    UnknownDevice,
)
from core.kernel.ports.waits import InformWait, listening
from core.kernel.secrets import is_secret_path
from core.routing import ExecutorRouter
from core.store import Store, repo
from core.store.schema import ExecutionRow
from core.validation import validate_operation

# A TR-106 trigger parameter (``DiagnosticsState``) starts an action when set; the device then
# reports the action's state, never the value written. It verifies by the action having started
# or finished, and there is no earlier value to restore (the test's inputs are restored as usual).
TRIGGER_HELD = {"Requested": ("Requested", "Complete")}


def is_trigger_path(path: str) -> bool:
    """True when the data model marks ``path`` as a trigger (``command`` in the BBF XML)."""
    from core.kernel.datamodel.registry import get_registry

    root = "InternetGatewayDevice." if path.startswith("InternetGatewayDevice.") else "Device."
    spec = get_registry(root).find(path)
    return bool(spec is not None and spec.command_trigger)


def holds_backup(backed_up: dict[str, Any], got: ParamValue | None) -> bool:
    """Does a read-back value show what the backup holds? A parameter backed up as absent holds
    when it is gone again or empty."""
    if backed_up.get("absent"):
        return got is None or got.value in ("", None)
    return got is not None and values_equal(got.value, backed_up["value"])


class GrantedIO:
    """The engine's device I/O (:class:`core.execution.DeviceIO`) and the lifecycle's reads. Every
    write and operation runs under a grant scoped to one proposal, device and purpose; only this
    module may issue one.

    It owns its grant authority (one per lifecycle): :attr:`verifier` is what the
    composition root binds the router's adapters to, so they accept this lifecycle's grants only."""

    def __init__(self, store: Store, router: ExecutorRouter) -> None:
        self.store = store
        self.router = router
        #: told of every inform wait of this lifecycle's device calls (``gateward apply`` prints them)
        self.wait_listeners: list[Callable[[str | None, InformWait], None]] = []
        self._authority = GrantAuthority()
        #: the authority's check, one object (binding the same verifier twice is a no-op)
        self.verifier = self._authority.verify

    def reader(self, d: Device) -> DeviceReader:
        """The read path of ``d`` (presence, reads; no write attribute)."""
        return self.router.reader(d)

    def read(self, d: Device, paths: list[str]) -> dict[str, ParamValue]:
        return self.router.reader(d).read(d, paths)

    def write(self, p: Proposal, d: Device, changes: list[Change], *, purpose: str, key: str) -> ApplyResult:
        self.store.ensure_durable()  # nothing reaches a device on a commit that is not yet durable
        writer = self.router.writer(d)
        grant = self._authority.issue(proposal_id=p.id, proposal_hash=p.hash, device_id=d.id,
                                purpose=purpose, paths=[c.path for c in changes])  # type: ignore[arg-type]
        try:
            with self.waits(p, d, purpose):
                return writer.apply(d, changes, key, grant)
        finally:
            self._authority.revoke(grant)

    def operate(self, p: Proposal, d: Device, op: Operation) -> OperateResult:
        self.store.ensure_durable()
        writer = self.router.writer(d)
        grant = self._authority.issue(proposal_id=p.id, proposal_hash=p.hash, device_id=d.id, purpose="operate",
                                commands=[op.command])
        try:
            with self.waits(p, d, op.command):
                return writer.operate(d, op.command, dict(op.args), grant)
        finally:
            self._authority.revoke(grant)

    def waits(self, p: Proposal | None, d: Device, step: str) -> AbstractContextManager[None]:
        """Around a device call: an adapter's inform wait (a device behind NAT whose task waits in
        the ACS's queue for its next periodic inform) becomes the audit event
        ``device.waiting_for_inform`` — with when the inform is due — which the API's trail, the
        console's live feed and ``gateward apply`` show while the call still waits."""
        def heard(wait: InformWait) -> None:
            with self.store.write() as s:
                audit.append(s, actor="gateward", action="device.waiting_for_inform",
                             proposal_id=p.id if p is not None else None, device=d,
                             data={"step": step, **wait.as_dict()})
                if p is not None:  # the execution row says so while it waits (API, console); its next move clears it
                    ex = s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id,
                                                              ExecutionRow.device_id == d.id)).first()
                    if ex is not None:
                        ex.detail = {**(ex.detail or {}), "waiting_for_inform": {"step": step, **wait.as_dict()}}
            for listener in list(self.wait_listeners):
                listener(p.id if p is not None else None, wait)
        return listening(heard)

    def verify(self, p: Proposal, d: Device, *, firmware: str | None = None) -> JsonObject:
        """Mismatches between the device and the proposal, masked; empty means it held. A download
        holds when the device reports the version its image declares: the proposal's, else
        ``firmware`` (what the write learnt from the image's metadata)."""
        with self.waits(p, d, "verify"):
            return self._verify(p, d, firmware)

    def _verify(self, p: Proposal, d: Device, firmware: str | None) -> JsonObject:
        reader = self.router.reader(d)
        pres = reader.presence(d)
        if not pres.online:
            return {"presence": f"device did not come back ({pres.detail or 'offline'})"}
        firmware = next((str(op.args["version"]) for op in p.operations
                         if op.command == "download" and op.args.get("version")), firmware)
        if firmware is not None:  # a firmware upgrade holds when the device reports the new version
            got = reader.read(d, [SOFTWARE_VERSION]).get(SOFTWARE_VERSION)
            if got is None or str(got.value) != firmware:
                return {SOFTWARE_VERSION: {"expected": firmware, "got": None if got is None else got.value}}
        readable = [c for c in p.changes_for(d.id) if not is_secret_path(c.path)]
        if not readable:
            return {}
        values = reader.read(d, [c.path for c in readable])
        bad: JsonObject = {}
        for c in readable:
            got = values.get(c.path)
            if got is not None and is_trigger_path(c.path) and str(got.value) in TRIGGER_HELD.get(str(c.value), ()):
                continue  # the device reports the action's state (running or done), never the trigger
            if got is None or not values_equal(got.value, c.value):
                bad[c.path] = {"expected": c.value, "got": None if got is None else got.value}
        return bad

    def restore(self, p: Proposal, d: Device, backup: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Write the backed-up values back and check they hold. Raises ExecutorError if not."""
        restore = [Change(path=path, value=v["value"], type=v["type"]) for path, v in backup.items()
                   if v.get("restorable") and v.get("value") is not None]
        unrestorable = [path for path, v in backup.items() if not v.get("restorable")]
        if restore:
            self.write(p, d, restore, purpose="rollback", key=f"{p.id}-rb")
            values = self.read_tolerant(d, [c.path for c in restore])
            wrong = [c.path for c in restore if not holds_backup(backup[c.path], values.get(c.path))]
            if wrong:
                raise Fault(d.id, f"rollback did not hold for {', '.join(wrong)}")
        return [c.path for c in restore], unrestorable

    def read_tolerant(self, d: Device, paths: list[str]) -> dict[str, ParamValue]:
        """Read ``paths``; a path the device does not have is simply missing from the result."""
        reader = self.router.reader(d)
        try:
            return reader.read(d, paths) if paths else {}
        except InvalidParameterName:
            values: dict[str, ParamValue] = {}
            for path in paths:
                try:
                    values.update(reader.read(d, [path]))
                except InvalidParameterName:
                    continue
            return values

    def backup_read(self, d: Device, paths: list[str], not_before: datetime | None) -> BackupRead:
        """The backup read, right before the write. With ``not_before`` (this proposal's live preview
        read the device from then on) the adapter may answer from that read when it can prove the
        device untouched since (``read_for_backup``); a path the device lacks, or no preview, reads
        the device now, path by path where needed."""
        if not_before is not None:
            try:
                return self.router.reader(d).read_for_backup(d, paths, not_before=not_before)
            except InvalidParameterName:
                pass  # tolerated below: a string row the device lacks is backed up as absent
        return BackupRead(values=self.read_tolerant(d, paths))

    def backup_params(self, p: Proposal, d: Device, not_before: datetime | None = None) -> JsonObject:
        """What must be restored if the change does not hold. A string parameter the device does not
        have yet (e.g. a DNS server row that a firmware bug dropped) is backed up as absent and
        restored by clearing it; anything else missing cannot be backed up, so nothing is written.
        Values answered from the preview's read carry ``source`` saying so."""
        mine = p.changes_for(d.id)  # a per-target proposal backs up what this device gets
        with self.waits(p, d, "backup"):
            read = self.backup_read(d, [c.path for c in mine], not_before)
        values = read.values
        params: dict[str, Any] = {}
        for c in mine:
            if is_trigger_path(c.path):  # an action (DiagnosticsState=Requested), not a state to restore
                continue
            secret = is_secret_path(c.path)
            pv = values.get(c.path)
            if pv is None:
                if secret or (c.type or "string") != "string":
                    raise Fault(d.id, f"backup: {c.path} does not exist on the device", code=9005)
                params[c.path] = {"value": "", "type": "string", "secret": False, "restorable": True,
                                  "absent": True}
                continue
            params[c.path] = {"value": None if secret else pv.value, "type": pv.type, "secret": secret,
                              "restorable": not secret}
            if read.source == "preview":
                params[c.path]["source"] = read.detail
        return params

    def diagnose(self, device_id: str, command: str, args: dict[str, Scalar], actor: Actor) -> JsonObject:
        """Read-only diagnostics (IPPing). It changes no configuration, so it needs no approval,
        but it still goes through a grant, presence and the audit trail."""
        if command != "ipping":
            raise Invalid(f"{command} is not a diagnostic; reboots and resets go through a proposal")
        if not rbac.can_diagnose(actor):
            raise Forbidden(f"{actor.id} may not run diagnostics")
        issues = validate_operation(Operation(command="ipping", args=args))
        if issues:
            raise Invalid(issues[0].message)
        with self.store.read() as s:
            d = repo.get_device(s, device_id)
        try:
            pres = self.router.reader(d).presence(d)
        except ExecutorError as exc:
            self._refuse_diagnostic(d, command, args, actor, exc)
        if not (pres.online and pres.reachable):
            why = pres.detail or ("offline" if not pres.online else "online but not reachable")
            self._refuse_diagnostic(d, command, args, actor, DeviceOffline(d.id, why))
        grant = self._authority.issue(proposal_id=f"diag-{device_id}"[:32], proposal_hash="", device_id=device_id,
                                purpose="diagnostic", commands=["ipping"])
        try:
            result = self.router.writer(d).operate(d, "ipping", args, grant)
        except ExecutorError as exc:
            sent = isinstance(exc, Timeout) and not exc.nothing_sent  # no answer: it may have run
            self._refuse_diagnostic(d, command, args, actor, exc, sent=sent)
        finally:
            self._authority.revoke(grant)
        with self.store.write() as s:
            audit.append(s, actor=actor.id, action="diagnostic.ipping", device=d,
                         data={"args": dict(args), "status": result.status, "output": result.output})
        return result.model_dump(mode="json")

    def _refuse_diagnostic(self, d: Device, command: str, args: dict[str, Scalar], actor: Actor,
                           exc: ExecutorError, *, sent: bool = False) -> NoReturn:
        """The adapter could not run the diagnostic — the device is offline or unreachable, the
        adapter does not hold it (an inventory row its fleet lacks), or the device refused the
        command: audited as ``diagnostic.refused``, raised as a refusal that names the device and why.
        ``sent``: the command reached the device and no answer came back (a timeout), so it may
        have run; a diagnostic changes nothing either way."""
        reason = exc.message
        with self.store.write() as s:
            audit.append(s, actor=actor.id, action="diagnostic.refused", device=d,
                         data={"command": command, "args": dict(args), "reason": reason, "sent": sent})
        outcome = "no result came back (a diagnostic changes nothing)" if sent else "nothing was run"
        text = f"cannot run {command} on {d.id}: {reason}; {outcome}"
        if isinstance(exc, Fault):
            raise DeviceRefused(f"{text} (fault {exc.code})", device_id=d.id) from exc
        if isinstance(exc, UnknownDevice):
            text += f" — the inventory registers it for adapter {d.adapter}, which does not hold it: register it " \
                    "where it lives, or retire it"
        raise DeviceUnavailable(f"{text} — try again when it answers" if exc.retryable else text,
                                device_id=d.id) from exc
