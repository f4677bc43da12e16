"""The executor contract (README "How the pieces fit"), after NAPALM's driver: one contract, many adapters.

A port at the domain kernel's level: the core services hold adapters through it and
every adapter implements it, so neither imports the other. ``executors.base`` re-exports it for
the adapters that have always imported it from there.

Reading and writing are separate interfaces on purpose:

* :class:`DeviceReader` — ``read``, ``presence``, ``discover``. Anyone may hold one
  (the planner gets a :class:`ReadOnlyExecutor` facade that has no write attribute at all).
* :meth:`Executor.apply` / :meth:`Executor.operate` — write methods that refuse to run without a
  :class:`WriteGrant`, and every grant is checked by the verifier bound to that executor
  (:meth:`Executor.bind_grant_verifier`). The composition root (``gateward.runtime``) binds each
  adapter its router builds to its lifecycle's verifier: the one of the grant authority that
  lifecycle owns, which issues a grant only after checking its store (proposal state, hash, device
  lock) and accepts one only while it is live (signed by that authority, not yet revoked).
  Nothing is process-wide: two runtimes in one process each accept only their own
  grants. An executor nobody bound refuses every write; a bound one cannot be re-bound.

Adapters implement ``_apply``/``_operate``; they never override ``apply``/``operate``.
All paths in and out of an adapter are TR-181 (``Device.``) paths; the adapter translates to
``InternetGatewayDevice.`` for TR-098 firmware (``core.kernel.datamodel.tr098``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.kernel.models import Change, Device, Root, Scalar

# The contract's typed errors live in core.kernel.ports.errors (importable without pydantic);
# they are re-exported here, the contract's public home.
from core.kernel.ports.errors import RETRYABLE_ERRORS as RETRYABLE_ERRORS
from core.kernel.ports.errors import Busy as Busy
from core.kernel.ports.errors import DeviceOffline as DeviceOffline
from core.kernel.ports.errors import ExecutorError as ExecutorError
from core.kernel.ports.errors import Fault as Fault
from core.kernel.ports.errors import InvalidParameterName as InvalidParameterName
from core.kernel.ports.errors import InvalidValue as InvalidValue
from core.kernel.ports.errors import NotWritable as NotWritable
from core.kernel.ports.errors import Timeout as Timeout
from core.kernel.ports.errors import UnknownAdapter as UnknownAdapter
from core.kernel.ports.errors import UnknownDevice as UnknownDevice

# ---------------------------------------------------------------------------- results


class ParamValue(BaseModel):
    """A value read from a device. ``path`` is TR-181; ``device_path`` is what the device calls it."""

    path: str
    device_path: str
    value: Scalar
    type: str = "string"
    writable: bool | None = None


class Presence(BaseModel):
    """The live-trust signal: is the device there, and can we reach it now?

    ``online`` — the device has been heard from recently (CWMP inform / USP connected agent).
    ``reachable`` — a request sent now will be answered promptly (connection request works /
    agent connected). CWMP devices behind NAT can be online but not reachable: changes then wait
    for the next inform.
    """

    device_id: str
    online: bool
    reachable: bool
    last_seen: datetime | None = None
    detail: str = ""


class Discovery(BaseModel):
    device_id: str
    root: Root
    data_model_version: str = ""
    supported_objects: list[str] = Field(default_factory=list)
    instance_map: dict[str, Any] = Field(default_factory=dict)
    firmware: str = ""
    #: Every parameter the device reports, in TR-181 terms → writable (``None``: not said). Concrete
    #: paths (``Device.WiFi.SSID.1.SSID``) when the adapter sees instances, generic (``{i}``) when the
    #: device describes only its schema (USP GetSupportedDM). Empty: the adapter does not report
    #: parameters, and validation falls back to the registry (``core.capabilities``).
    parameters: dict[str, bool | None] = Field(default_factory=dict)
    #: ``parameters`` are the device's whole schema and its concrete paths every instance it has
    #: (USP: GetSupportedDM made concrete with GetInstances of the whole root): a path the schema
    #: lacks is not supported, and a table with no concrete path has no instances. False (TR-069,
    #: or a USP discovery whose GetInstances failed): a table the device listed nothing of says
    #: nothing, and validation lets such paths through for the device to answer.
    instances_complete: bool = False
    #: The contract commands (:data:`COMMANDS`) the device's own data model has (USP: the commands its
    #: GetSupportedDM lists). ``None``: the adapter does not say (TR-069, where Reboot and Download are
    #: RPCs, not data-model commands; the simulator's twins), and validation lets every command through
    #: for the device to answer. A command missing here is refused at validate.
    commands: list[str] | None = None
    #: Contract command → the command of the device's data model it runs as, generic
    #: (``download`` → ``Device.DeviceInfo.FirmwareImage.{i}.Download()``): what a refusal names.
    command_paths: dict[str, str] = Field(default_factory=dict)


class ApplyResult(BaseModel):
    device_id: str
    key: str
    status: int = 0  # CWMP SetParameterValues Status: 0 applied, 1 committed, needs reboot
    applied: list[str] = Field(default_factory=list)
    idempotent_skip: bool = False


class OperateResult(BaseModel):
    device_id: str
    command: str
    status: Literal["done", "pending", "failed"] = "done"
    output: dict[str, Any] = Field(default_factory=dict)


class BackupRead(BaseModel):
    """The lifecycle's backup read and where its values came from (recorded on the backup row).

    ``source`` is ``device`` for a read of the device now, or ``preview`` when the adapter
    answered from this proposal's preview read because it can prove the device is untouched
    since (``detail`` says how)."""

    values: dict[str, ParamValue]
    source: Literal["device", "preview"] = "device"
    detail: str = ""


class PreviewRead(BaseModel):
    """The preview's read and where its values came from (shown to the approver with the preview).

    ``source`` is ``device`` for a read of the device now, or ``cache`` when the adapter answered
    from its ACS's copy of what the device last said and can tell how fresh that is (``detail``:
    from when, and why nothing since changed it) — behind NAT a read of its own costs the device's
    next periodic inform."""

    values: dict[str, ParamValue]
    source: Literal["device", "cache"] = "device"
    detail: str = ""


#: the commands of the executor contract, in the order messages list them
COMMANDS: tuple[str, ...] = ("reboot", "factory_reset", "download", "ipping")
CommandHandler = Callable[[Device, dict[str, Scalar]], OperateResult]


def dispatch_command(device: Device, command: str, args: dict[str, Scalar],
                     handlers: Mapping[str, CommandHandler], *, over: str = "") -> OperateResult:
    """Run ``command`` with the adapter's handler for it, or refuse it with CWMP fault 9000 naming
    the commands this adapter does support (``over``: " over TR-069" and the like).

    Why shared: every synchronous adapter dispatched its commands with the same table and the
    same refusal; one copy keeps the message and the fault code identical across adapters."""
    handler = handlers.get(command)
    if handler is None:
        supported = ", ".join(c for c in COMMANDS if c in handlers) or "none"
        raise Fault(device.id, f"command {command!r} is not supported{over} ({supported})", code=9000)
    return handler(device, args)


class WriteRefused(Exception):
    """A write was attempted without a valid grant from the lifecycle. This is a bug or an attack,
    never a device problem, so it is not an :class:`ExecutorError`."""


# ---------------------------------------------------------------------------- write grants

GrantPurpose = Literal["apply", "rollback", "operate", "diagnostic"]


@dataclass(frozen=True)
class WriteGrant:
    """Permission, issued by ``core.lifecycle``, to write one device for one proposal."""

    proposal_id: str
    proposal_hash: str
    device_id: str
    purpose: GrantPurpose
    paths: frozenset[str] = field(default_factory=frozenset)
    commands: frozenset[str] = field(default_factory=frozenset)
    nonce: str = ""
    mac: str = ""


GrantVerifier = Callable[[WriteGrant], None]
_bind_lock = threading.Lock()


def verify_grant(grant: WriteGrant | None, device: Device, verifier: GrantVerifier | None, *,
                 paths: Sequence[str] = (), command: str | None = None) -> None:
    """Refuse the write unless ``grant`` covers this device and these paths or command and
    ``verifier`` — the one bound to the executor asked to write — accepts it. Adapters with batch
    write paths call :meth:`Executor.check_grant` once per device instead."""
    if not isinstance(grant, WriteGrant):
        raise WriteRefused(
            f"{device.id}: write refused: no grant. Only core.lifecycle may write to a device, "
            "for an approved proposal"
        )
    if grant.device_id != device.id:
        raise WriteRefused(f"{device.id}: write refused: grant is for device {grant.device_id}")
    unexpected = [p for p in paths if p not in grant.paths]
    if unexpected:
        raise WriteRefused(f"{device.id}: write refused: {unexpected[0]} is not covered by the grant")
    if command is not None and command not in grant.commands:
        raise WriteRefused(f"{device.id}: write refused: command {command} is not covered by the grant")
    if verifier is None:
        raise WriteRefused(
            f"{device.id}: write refused: no grant verifier is bound to this executor (the composition "
            "root binds its lifecycle's: ExecutorRouter.bind_grant_verifier)"
        )
    verifier(grant)


# ---------------------------------------------------------------------------- contracts


class DeviceReader(ABC):
    """The read path. Safe to hand to the planner, the API and previews."""

    name: str = "abstract"

    @abstractmethod
    def read(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        """Read parameters (full paths) or subtrees (partial paths ending in ``.``).

        Raises :class:`InvalidParameterName` naming any path the device does not have.
        """

    @abstractmethod
    def presence(self, device: Device) -> Presence:
        """Live presence, from the adapter's own signal (never from the store alone)."""

    def presence_many(self, devices: Sequence[Device]) -> dict[str, Presence]:
        """:meth:`presence` of each of ``devices``, by device id; a device whose presence could not
        be learned (an adapter error) is left out. This default asks one device at a time; an
        adapter that can answer for many at once (the simulator: one read) overrides it."""
        out: dict[str, Presence] = {}
        for d in devices:
            try:
                out[d.id] = self.presence(d)
            except ExecutorError:
                continue
        return out

    @abstractmethod
    def discover(self, device: Device) -> Discovery:
        """Data-model root, version, supported objects and (TR-098) the instance map."""

    def read_for_backup(
        self, device: Device, paths: Sequence[str], *, not_before: datetime | None = None
    ) -> BackupRead:
        """The backup read, just before the first write (the lifecycle calls it, nothing else).

        ``not_before`` is when this proposal's preview began reading. An adapter that can prove a
        read of these paths made since then still holds what the device has (no session, task or
        inform on the device since, within a short max age) may answer from it and say so; every
        other case — and this default — reads the device now, like :meth:`read`."""
        return BackupRead(values=self.read(device, paths))

    def read_for_preview(self, device: Device, paths: Sequence[str]) -> PreviewRead:
        """The preview's read (the lifecycle calls it for the before values an approver sees, never
        for a read-back). An adapter whose device reads wait for the device (a CPE behind NAT) may
        answer from what it provably last learnt, if fresh enough, and say so; every other case —
        and this default — reads the device now, like :meth:`read`."""
        return PreviewRead(values=self.read(device, paths))


class Executor(DeviceReader):
    """A protocol adapter. Subclasses implement the underscored write methods only.

    Its writes are checked by the grant verifier bound to it (:meth:`bind_grant_verifier`); until
    one is bound every write is refused. A clone (``with_timeout``) starts unbound."""

    _grant_verifier: GrantVerifier | None = None  # per instance once bound; never re-bound

    def bind_grant_verifier(self, verifier: GrantVerifier) -> None:
        """Bind the verifier this executor's writes go through. One-shot: binding the very same
        verifier again is a no-op, any other raises :class:`WriteRefused` — so nothing can swap a
        permissive verifier in for the lifecycle's once it is bound."""
        with _bind_lock:
            bound = self._grant_verifier
            if bound is not None and bound == verifier:  # the same check again (== for bound methods)
                return
            if bound is not None:
                raise WriteRefused(f"{self.name}: a grant verifier is already bound to this executor; "
                                   "it cannot be replaced")
            self._grant_verifier = verifier

    @property
    def grant_verifier_bound(self) -> bool:
        return self._grant_verifier is not None

    def check_grant(self, grant: WriteGrant | None, device: Device, *, paths: Sequence[str] = (),
                    command: str | None = None) -> None:
        """:func:`verify_grant` against this executor's own verifier (batch write paths call it
        once per device; :meth:`apply` and :meth:`operate` call it for theirs)."""
        verify_grant(grant, device, self._grant_verifier, paths=paths, command=command)

    def apply(self, device: Device, changes: Sequence[Change], key: str,
              grant: WriteGrant | None = None) -> ApplyResult:
        """Atomically set ``changes`` (all or nothing). ``key`` is the idempotency key
        (CWMP ``ParameterKey``): re-applying with the key the device already holds and the
        values already in place is a no-op reported as ``idempotent_skip``."""
        self.check_grant(grant, device, paths=[c.path for c in changes])
        return self._apply(device, changes, key)

    def operate(self, device: Device, command: str, args: dict[str, Scalar],
                grant: WriteGrant | None = None) -> OperateResult:
        """Run a command: ``reboot``, ``factory_reset``, ``download``, ``ipping``."""
        self.check_grant(grant, device, command=command)
        return self._operate(device, command, args)

    @abstractmethod
    def _apply(self, device: Device, changes: Sequence[Change], key: str) -> ApplyResult: ...

    @abstractmethod
    def _operate(self, device: Device, command: str, args: dict[str, Scalar]) -> OperateResult: ...

    def close(self) -> None:
        """Release connections. Adapters that hold sockets override this."""

    def reader(self) -> ReadOnlyExecutor:
        return ReadOnlyExecutor(self)


class ReadOnlyExecutor(DeviceReader):
    """A facade exposing only the read path. It keeps the adapter in a closure, not an
    attribute, so ``facade.inner.apply`` does not exist to be reached for."""

    __slots__ = ("_backup", "_discover", "_presence", "_presence_many", "_preview", "_read", "name")

    def __init__(self, executor: DeviceReader) -> None:
        self.name = f"{executor.name}(read-only)"
        self._read = executor.read
        self._presence = executor.presence
        self._presence_many = executor.presence_many
        self._discover = executor.discover
        self._backup = executor.read_for_backup
        self._preview = executor.read_for_preview

    def read(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        return self._read(device, paths)

    def presence(self, device: Device) -> Presence:
        return self._presence(device)

    def presence_many(self, devices: Sequence[Device]) -> dict[str, Presence]:
        return self._presence_many(devices)

    def discover(self, device: Device) -> Discovery:
        return self._discover(device)

    def read_for_backup(
        self, device: Device, paths: Sequence[str], *, not_before: datetime | None = None
    ) -> BackupRead:
        return self._backup(device, paths, not_before=not_before)

    def read_for_preview(self, device: Device, paths: Sequence[str]) -> PreviewRead:
        return self._preview(device, paths)
