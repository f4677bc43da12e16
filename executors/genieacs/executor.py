"""The GenieACS adapter: the executor contract over TR-069, through GenieACS's NBI.

What it does that a thin REST wrapper would not, and why:

* **Reads are refreshes, and are checked to be.** GenieACS answers from its cache; every read
  queues a ``getParameterValues`` task with a connection request. GenieACS turns it into a
  ``refresh`` with one-second granularity aligned to a per-device offset: inside the interval of
  the previous read or write it answers from its cache with no RPC. So a read is posted after
  that interval's boundary (:mod:`executors.genieacs.timing`) and its values are accepted only
  when every ``_timestamp`` is later than the task's own ``timestamp`` (both GenieACS's clock);
  otherwise it is retried after the next boundary, and after ``read_attempts`` it fails with a
  clear :class:`~executors.base.Timeout`. A value that reverted on the device is seen, and the
  lifecycle's verify step is a true read-back.
* **Three tasks per change.** A fresh read is remembered per device (the task's timestamp and
  the device's ``_lastInform``): for ``reuse_read_s`` the Set's pre-check is answered from one
  document GET when no session has happened since (``_lastInform`` unchanged) and every value
  still carries a timestamp from that read — the cache then provably holds what the device said
  (a plain ``read`` always goes to the device). A governed change is the backup read, one
  ``setParameterValues`` with the connection request, and one verify read — or, when the backup
  can be answered from this proposal's preview read (:meth:`GenieAcsExecutor._preview_doc`), the
  Set and the verify read alone. Behind NAT each task waits for a periodic inform, so there the
  proof allows the device's own informs since, as long as none gave these values anew: 3 informs
  per change (preview, Set, read-back), not 4.
* **Sets are checked before they are sent, against a fresh cache.** GenieACS silently skips a
  parameter that does not exist or is not writable, converts the value to the type it has
  cached, and does not send a value equal to the cached one. So the adapter refreshes the
  target parameters, then refuses (nothing sent) any path the device lacks (9005), any
  read-only one (9008), a value of the wrong type (9006) or outside the BBF data model's range,
  enumeration, length or pattern (9007). One ``setParameterValues`` task carries the whole
  change, so the CPE applies it atomically; more than 32 parameters would be split by GenieACS
  and are refused.
* **Every outcome is read from the reason phrase.** 200 done; 202 "Task faulted" → the fault
  ``<deviceId>:task_<id>`` is read, mapped (cwmp.9005/9006/9007/9008/9003/9002 → typed faults
  with per-parameter causes on TR-181 paths) and deleted, which deletes the task;
  202 "Task queued but not processed" → :class:`~executors.base.Timeout`; any other 202 phrase
  is a failed connection request → :class:`~executors.base.DeviceOffline`. A task that did not
  complete is withdrawn (``DELETE /tasks/<id>``) so it cannot land at the device's next inform
  after the lifecycle has moved on or rolled back; every task also carries an ``expiry`` as a
  net for a crash between posting and withdrawing, and a ``uniqueKey`` so a retry replaces
  rather than duplicates a queued task. 5xx, dropped connections and timeouts become
  :class:`~executors.base.Timeout` (a Set may have landed: the lifecycle treats it so) after a
  best-effort withdrawal by unique key.
* **Idempotency without ParameterKey.** GenieACS always sends an empty ``ParameterKey`` (its
  session code never fills it), so the key cannot live on the device. The adapter records the
  last applied key as a GenieACS tag ``gateward-key-<key>``; an apply whose key is that tag and
  whose values are already in place is an ``idempotent_skip`` and sends nothing.
* **Presence never sends a connection request.** A bare ``POST …/tasks?connection_request``
  makes the CPE open a session of its own, which then collides with the next task's session
  (GenieACS's ``cwmp_session`` lock; the CPE's Inform is answered 400 "CPE already in
  session"). Online is the last inform (``_lastInform`` within ``online_factor`` × the
  device's PeriodicInformInterval); reachable is the outcome of the last real task's
  connection request (its 202 reason phrase), remembered per device for ``cr_memory_s``. A task
  of ours that ran in a session moments ago already proves both: presence then asks nothing.
* **Reboot and factory reset wait for the device.** GenieACS answers 200 at the end of the
  session that delivered the RPC, while the CPE is still going down; the command completes when
  ``_lastBoot`` moves past the task's timestamp (the ``1 BOOT`` Inform), or fails with
  :class:`~executors.base.Timeout` after ``reboot_timeout_s`` (or the ``timeout_s`` argument).
  A firmware download waits the same way before it reads the new SoftwareVersion.
* **TR-098 firmware** is spoken to in ``InternetGatewayDevice.`` paths; the instance map comes
  from the device's own tree (``core.kernel.datamodel.tr098``) and results are reported in TR-181 paths.
* **What GenieACS cannot tell us**: the SetParameterValues Status (1 = applied after reboot) is
  parsed but not recorded by GenieACS (1.2.16 ``lib/session.ts``), so :attr:`ApplyResult.status`
  is always 0 here; see ``docs/genieacs.md`` for what that means for verification.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

from core.kernel.datamodel.paths import is_empty_table
from core.kernel.datamodel.registry import Registry, get_registry
from core.kernel.datamodel.tr098 import (
    SAME_NAME_OBJECTS,
    InstanceMap,
    Untranslatable,
    instance_map_from_params,
    to_device_paths,
    translate_set,
)
from core.kernel.datamodel.tr098_view import ViewEntry, tr181_view
from core.kernel.models import Change, Device, Root, Scalar
from core.kernel.ports.waits import InformWait, announce
from executors.base import (
    ApplyResult,
    BackupRead,
    DeviceOffline,
    Discovery,
    Executor,
    ExecutorError,
    Fault,
    InvalidParameterName,
    InvalidValue,
    OperateResult,
    ParamValue,
    Presence,
    PreviewRead,
    Timeout,
    UnknownDevice,
    dispatch_command,
)
from executors.genieacs import tasks as T
from executors.genieacs.document import DeviceDoc, Leaf, parse_time
from executors.genieacs.faults import AcsFault, fault_for, fault_from_genieacs
from executors.genieacs.ids import fault_id, genieacs_device_id, is_device_id
from executors.genieacs.nbi import (
    NbiAuthError,
    NbiClient,
    NbiError,
    NbiRejected,
    NbiUnavailable,
    NoSuchDevice,
    TaskOutcome,
)
from executors.genieacs.timing import interval_start, next_boundary
from executors.genieacs.xsd import XsdValueError, encode, family, plain

log = logging.getLogger("gateward.genieacs")

SPV_LIMIT = 32  # GenieACS splits a SetParameterValues above cwmp.gpvBatchSize (32): no longer atomic
KEY_TAG = "gateward-key-"
FIRMWARE_FILE_TYPE = "1 Firmware Upgrade Image"
DEFAULT_INTERVAL_S = 3600
_IGD = "InternetGatewayDevice."
# NBI tasks that change the CPE: a session that broke while one ran leaves its outcome unknown
_CHANGING_TASKS = frozenset({"setParameterValues", "addObject", "deleteObject", "download", "reboot", "factoryReset"})
#: Every TR-098 object the TR-181 view is built from (``core/datamodel/tr098_view.py``): LAN and WAN
#: devices (WLANs, hosts, DHCP, WAN connections, which also make the instance map) and the
#: same-name objects. Reads project to these and discover refreshes only these (refreshing the
#: whole tree took 10.7 s on a small TR-098 device).
TR098_SUBTREES = tuple(
    dict.fromkeys([f"{_IGD}LANDevice", f"{_IGD}WANDevice", *(p.rstrip(".") for p in SAME_NAME_OBJECTS.values())])
)
#: Discover adds the top-level leaf that carries the data-model version.
TR098_DISCOVER = (*TR098_SUBTREES, f"{_IGD}DeviceSummary")
_VERSION_RE = re.compile(r"InternetGatewayDevice:(\d+\.\d+)")
_VALUE_RULES = {
    "type": 9006,
    "range": 9007,
    "enum": 9007,
    "enum_readonly": 9007,
    "length": 9007,
    "pattern": 9007,
    "list": 9007,
}


class NbiRefused(ExecutorError):
    """The NBI (or the proxy in front of it) refused our credentials: a configuration problem."""


class NbiUnreachable(DeviceOffline):
    """A task could not be posted: the NBI refused the connection (down, or the wrong address). The
    request never left this host, so nothing was queued or sent — unlike a :class:`Timeout`, which
    means "may have landed" — and the lifecycle defers the apply instead of rolling back. A
    :class:`DeviceOffline` to the contract (the device cannot be reached now; retryable): a restore
    refused so is owed and tried again (``rollback_pending``), never a ``rollback_failed`` alarm."""

    retryable = True
    nothing_sent = True


class _LostAnswer(Timeout):
    """The NBI went away with a task that changes the CPE (the connection dropped, no answer): the
    task may be queued, may have run, or never have been stored. To every caller but the Set it is
    the :class:`Timeout` it always was; the Set settles it on facts once the NBI is back
    (:meth:`GenieAcsExecutor._settle_lost_set`)."""


@dataclass
class _Plan:
    """A checked Set: native triples, native→TR-181 names, the fresh document, problems."""

    triples: list[tuple[str, Scalar, str]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    problems: dict[str, tuple[int, str]] = field(default_factory=dict)
    doc: DeviceDoc | None = None
    reused: bool = False


@dataclass(frozen=True)
class _Fresh:
    """A read that provably reached the CPE: what was asked, the task's GenieACS timestamp, the
    device's ``_lastInform`` right after it, and when (adapter monotonic clock)."""

    names: tuple[str, ...]
    mark: datetime
    last_inform: datetime | None
    at: float
    wall_start: float = 0.0  # adapter wall clock before the read task was posted
    wall_end: float = 0.0  # adapter wall clock once the read was accepted
    #: each value's ``_timestamp`` as that read left it: a later session that gave a value anew
    #: (an Inform's VALUE CHANGE, another client's task) moves it
    stamps: Mapping[str, datetime | None] = field(default_factory=dict)
    #: not a read of this process's: GenieACS's cache as a backup took it (:meth:`GenieAcsExecutor._cached_since`);
    #: the Set's pre-check may go by it as long as every value keeps its stamp (sessions since or not)
    cached: bool = False


@dataclass
class _BackupAsk:
    """A backup read that may be answered from this proposal's preview read (``read_for_backup``):
    the read must have begun at or after ``not_before`` (wall clock) and be at most ``max_age_s``
    old. ``used`` is set to the read that answered it."""

    not_before: float
    max_age_s: float
    used: _Fresh | None = None
    #: the device's sessions since that read (a device behind NAT informs on its own), or None
    informed_since: datetime | None = None
    #: answered from GenieACS's cache with no read of this process's to go by (another process — the
    #: ``gateward propose`` before this ``gateward apply`` — read the device): the oldest value's
    #: ``_timestamp``, every one at or after ``not_before``
    cached_at: datetime | None = None
    #: answered older than ``max_age_s`` because the device's latest session gave every value
    #: (:meth:`GenieAcsExecutor._given_at_last_inform`): that inform's time and when the next is due
    at_inform: tuple[datetime, datetime] | None = None


WAITING_FOR_INFORM = "waiting for the device's next inform"
#: What a refusal of a NAT'd device says when waiting for its inform was turned off: the setting by name.
WAIT_OFF = ("GATEWARD_GENIEACS_INFORM_WAIT_S=0 turns off waiting for its next inform: unset it (the default waits "
            "up to the device's own PeriodicInformInterval) or set it to the seconds to wait")
_INTERVAL_PATHS = tuple(f"{root}ManagementServer.PeriodicInformInterval"
                        for root in ("Device.", "InternetGatewayDevice."))


@dataclass(frozen=True)
class _Reach:
    """The outcome of the last real task's connection request to a device."""

    ok: bool
    reason: str
    at: float  # adapter monotonic clock
    wall: float  # adapter wall clock: an inform after this may mean the device is reachable again
    #: a failed request to a device that informs (within ``online_factor`` × its interval): it is
    #: behind NAT, whatever words GenieACS used ("Device is offline" for a dropped or refused
    #: request, "Connection request error: …" for others — lib/connection-request.ts)
    informs: bool = False


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0]


def _covers(names: Sequence[str], path: str) -> bool:
    return any(path == n or path.startswith(n + ".") or not n for n in names)


def _generic(path: str) -> str:
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


def _same(a: Scalar | None, b: Scalar) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


class GenieAcsExecutor(Executor):
    """Executor over a GenieACS NBI (see the module docstring for the rules it follows)."""

    name = "genieacs"

    def __init__(
        self,
        client: NbiClient | None = None,
        *,
        url: str | None = None,
        auth_header: str | None = None,
        timeout_s: float = 10.0,
        session_budget_s: float = 30.0,
        task_expiry_s: float = 300.0,
        online_factor: float = 2.0,
        reboot_timeout_s: float = 180.0,
        reuse_read_s: float = 30.0,
        backup_reuse_s: float = 120.0,
        read_attempts: int = 3,
        cr_memory_s: float = 300.0,
        inform_wait_s: float | None = None,
        nbi_back_s: float = 60.0,
        preview_cache_s: float = 120.0,
        clock: Callable[[], float] = time.time,
        **client_options: Any,
    ) -> None:
        if client is None:
            if not url:
                raise ValueError("GenieAcsExecutor needs an NBI client or url (GATEWARD_GENIEACS_URL)")
            client = NbiClient(url, auth_header=auth_header, timeout_s=max(30.0, timeout_s), **client_options)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.timeout_s = timeout_s
        self.session_budget_s = session_budget_s
        self.task_expiry_s = task_expiry_s
        self.online_factor = online_factor
        self.reboot_timeout_s = reboot_timeout_s
        self.reuse_read_s = reuse_read_s
        self.backup_reuse_s = backup_reuse_s
        self.read_attempts = max(1, read_attempts)
        self.cr_memory_s = cr_memory_s
        self.inform_wait_s = inform_wait_s
        self.nbi_back_s = nbi_back_s
        self.preview_cache_s = preview_cache_s
        self.clock = clock
        self._fresh: dict[str, _Fresh] = {}
        self._reach: dict[str, _Reach] = {}
        self._touched: dict[str, float] = {}  # gid -> adapter time when a task of ours last ended
        self._posted: dict[str, float] = {}  # gid -> adapter time when a task of ours was last posted
        self._ran: dict[str, bool] = {}  # gid -> whether that task ran in a session (its _lastInform)
        # gid -> (adapter wall clock when a task of ours that then ran in a session was posted, its name):
        # the device informed after that moment and answered; presence needs no NBI query for a while
        self._alive: dict[str, tuple[float, str]] = {}
        self._interval: dict[str, int] = {}  # gid -> PeriodicInformInterval seen by the last presence query
        # per thread (the API shares one adapter): gids read by :meth:`_read_or_last_inform` while their
        # reach is unknown; True once the cache would do as the last inform's values behind NAT — then
        # a failed connection request of that thread's read is not waited on
        self._probes = threading.local()
        self._last_inform: dict[str, datetime | None] = {}  # gid -> _lastInform seen with it

    @property
    def _probing(self) -> dict[str, bool]:
        got: dict[str, bool] = self._probes.__dict__.setdefault("gids", {})
        return got

    def with_timeout(self, timeout_s: float) -> GenieAcsExecutor:
        """The same NBI (shared client) with a different wait for the CPE's session."""
        return GenieAcsExecutor(
            self.client,
            timeout_s=timeout_s,
            session_budget_s=self.session_budget_s,
            task_expiry_s=self.task_expiry_s,
            online_factor=self.online_factor,
            reboot_timeout_s=self.reboot_timeout_s,
            reuse_read_s=self.reuse_read_s,
            backup_reuse_s=self.backup_reuse_s,
            read_attempts=self.read_attempts,
            cr_memory_s=self.cr_memory_s,
            inform_wait_s=self.inform_wait_s,
            nbi_back_s=self.nbi_back_s,
            preview_cache_s=self.preview_cache_s,
            clock=self.clock,
        )

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # ------------------------------------------------------------------ plumbing
    def _gid(self, device: Device) -> str:
        """The GenieACS id of ``device``.

        Built from OUI/ProductClass/Serial (GenieACS's own rule) — but only when the record's id
        agrees with those fields, so an inconsistent record can never address another CPE. A
        record without them may carry the GenieACS id itself, or be looked up by serial."""
        if device.oui and device.serial:
            gid = genieacs_device_id(device.oui, device.product_class, device.serial)
            raw = "-".join(p for p in (device.oui, device.product_class, device.serial) if p)
            if device.id not in (raw, gid):
                raise UnknownDevice(
                    device.id,
                    f"the device record's id does not match its OUI/ProductClass/Serial ({raw}); refusing to "
                    "address GenieACS device " + gid,
                )
            return gid
        if is_device_id(device.id) and device.id.count("-") in (1, 2):
            return device.id
        if device.serial:
            found = self._nbi(device, lambda: self.client.devices_by_serial(device.serial))
            if len(found) == 1:
                return str(found[0]["_id"])
            if len(found) > 1:
                raise UnknownDevice(device.id, f"{len(found)} GenieACS devices have serial {device.serial!r}")
        raise UnknownDevice(device.id, "GenieACS cannot identify this device: it needs the OUI and serial number")

    def genieacs_id(self, device: Device) -> str:
        """The GenieACS ``_id`` this adapter uses for ``device`` (raises :class:`UnknownDevice`)."""
        return self._gid(device)

    def _nbi(self, device: Device, call: Callable[[], Any]) -> Any:
        """Run an NBI call, mapping client errors onto the contract's errors."""
        try:
            return call()
        except NoSuchDevice:
            raise UnknownDevice(device.id, "GenieACS has no such device (it has never informed this ACS)") from None
        except NbiAuthError as exc:
            raise NbiRefused(device.id, exc.message) from None
        except NbiRejected as exc:
            raise Fault(device.id, f"GenieACS rejected the request: {exc.message}", code=9003) from None
        except NbiUnavailable as exc:
            raise Timeout(device.id, f"{exc.message}; retry later") from None

    def _doc(self, device: Device, gid: str, projection: Sequence[str] | None = None) -> DeviceDoc:
        raw = self._nbi(device, lambda: self.client.device(gid, projection))
        if raw is None:
            raise UnknownDevice(device.id, f"GenieACS has no device {gid!r} (it has never informed this ACS)")
        try:
            return DeviceDoc.parse(raw)
        except ValueError as exc:
            raise Fault(device.id, f"GenieACS returned an unreadable device document: {exc}", code=9002) from None

    def _post(self, device: Device, gid: str, task: dict[str, Any], what: str, nat: bool) -> TaskOutcome:
        """Post ``task`` (with a connection request unless ``nat``); the NBI's refusals as typed errors."""
        self._posted[gid] = time.time()
        self._ran[gid] = False
        try:
            return self.client.post_task(
                gid, task, connection_request=not nat, timeout_s=self.timeout_s,
                session_budget_s=self.session_budget_s,
            )
        except NoSuchDevice:
            # GenieACS looks the device up before it queues anything: the task was not stored
            gone = UnknownDevice(
                device.id,
                f"GenieACS has no device {gid!r} (deleted from the ACS, or it never informed it); the {what} task "
                "was not queued: nothing was sent",
            )
            gone.nothing_sent = True
            raise gone from None
        except NbiAuthError as exc:
            raise NbiRefused(device.id, exc.message) from None
        except NbiRejected as exc:
            raise Fault(device.id, f"GenieACS rejected the {what} task: {exc.message}", code=9003) from None
        except NbiUnavailable as exc:
            if not exc.maybe_applied:  # the connection was never made: the request did not leave this host
                raise NbiUnreachable(device.id, f"{exc.message}; the {what} task was not sent") from None
            if exc.status is None and what in _CHANGING_TASKS:  # no answer at all: the NBI went away mid-task
                raise _LostAnswer(device.id, exc.message) from None
            note = self._withdraw_unique(gid, task)
            raise Timeout(device.id, f"{exc.message}{note}") from None
        except T.InvalidTask as exc:  # our own bug: never send it
            raise Fault(device.id, f"refused to send a malformed {what} task: {exc}", code=9003) from None
        finally:
            self._touched[gid] = time.time()

    def _run(
        self, device: Device, gid: str, task: dict[str, Any], names: Mapping[str, str] | None = None
    ) -> TaskOutcome:
        """Post one task with a connection request and turn the answer into success or a typed error.
        A device known to be behind NAT (its connection requests fail, it informs) gets the task
        without a connection request when ``inform_wait_s`` allows waiting for its next inform."""
        what = str(task.get("name"))
        nat = self._behind_nat(gid)
        if nat:  # a stranded task must expire when we stop waiting, never land later
            task = {**task, "expiry": round(self._wait_s(gid), 3)}
        out = self._post(device, gid, task, what, nat)
        kind = out.kind
        self._ran[gid] = kind in ("done", "faulted")
        if self._ran[gid]:
            self._alive[gid] = (self._posted[gid], what)
        if kind == "connection_failed":
            self._reach[gid] = _Reach(False, out.reason, time.monotonic(), time.time(),
                                      informs=self._informs(device, gid))
        elif kind in ("done", "faulted"):
            self._reach[gid] = _Reach(True, out.reason, time.monotonic(), time.time())
        if kind == "done":
            return out
        if kind == "faulted":
            fault = self._take_fault(device, gid, out.task_id, names or {}, what)
            if isinstance(fault, AcsFault) and task.get("name") in _CHANGING_TASKS:
                # GenieACS's own fault (session_terminated, timeout …), not the CPE's: the session broke
                # with the RPC sent, so the CPE may have applied it (a CPE that applied a Set of its own
                # ACS settings and hung up): an unknown outcome, which the lifecycle rolls back
                raise Timeout(device.id, f"{fault.message} — the {what} task had been sent to the CPE, which "
                                         "may have applied it (read back to know)")
            raise fault
        if self._waits and not self._probing.get(gid) and (
            (nat and kind == "accepted") or (kind == "connection_failed" and self._reach[gid].informs)
        ):
            expiry = float(task.get("expiry", self.task_expiry_s))
            if kind == "connection_failed" and expiry < self._wait_s(gid) and task.get("uniqueKey"):
                # queued with the expiry of a device that answers connection requests: queue it again (its
                # uniqueKey replaces the copy) to last the wait — else a CPE informing less often than
                # task_expiry_s would never get a task through, nor its interval read
                out, expiry = self._requeue(device, gid, task, what), self._wait_s(gid)
            return self._await_inform(device, gid, out, names or {}, what, min(self._wait_s(gid), expiry))
        raise self._not_run(device, gid, out, what, kind)

    def _not_run(self, device: Device, gid: str, out: TaskOutcome, what: str, kind: str) -> ExecutorError:
        """A task that did not run in time: withdrawn if it still can be, and the error that says so."""
        withdrawn = self._withdraw(gid, out.task_id)
        if withdrawn.endswith("was withdrawn") and self._session_since(gid, out.task):
            # GenieACS deletes under the session lock, waiting for a session to end first, and answers
            # 200 even when that session ran the task: a session since the task was queued means it may have
            withdrawn = withdrawn.replace("was withdrawn", "was deleted, but a session of the device began after it "
                                          "was queued: it may have run (read back to know)")
        if kind == "connection_failed":
            if not self._reach[gid].informs:
                err = DeviceOffline(device.id, f"device is offline (GenieACS: {out.reason!r}; no recent inform); "
                                               f"{withdrawn}")
            else:
                err = DeviceOffline(
                    device.id,
                    f"connection request failed (GenieACS: {out.reason!r}): the device informs but cannot be reached "
                    f"now (NAT/CGNAT?); {withdrawn}; {WAIT_OFF}",
                )
            # the task was still queued when we deleted it: it never ran, nothing reached the device
            err.nothing_sent = withdrawn.endswith("was withdrawn")
            return err
        return Timeout(
            device.id,
            f"the device did not run the {what} task within {self.timeout_s:g}s "
            f"(GenieACS: {out.reason or 'Accepted'!r}); {withdrawn}",
        )

    def _requeue(self, device: Device, gid: str, task: Mapping[str, Any], what: str) -> TaskOutcome:
        """``task`` queued again without a connection request and with ``expiry`` = the inform wait; the
        same ``uniqueKey`` replaces the copy GenieACS holds (``lib/api-functions.ts``)."""
        again = {**task, "expiry": round(self._wait_s(gid), 3)}
        self._posted[gid] = time.time()
        try:
            out: TaskOutcome = self._nbi(device, lambda: self.client.post_task(
                gid, again, connection_request=False, timeout_s=self.timeout_s, session_budget_s=self.session_budget_s))
            return out
        except Timeout as exc:
            raise Timeout(device.id, f"{exc.message} (queueing the {what} task again for the device's next inform)"
                          ) from None

    def _behind_nat(self, gid: str) -> bool:
        """Queue for the next inform: waiting is allowed and the last connection request to this
        device failed while it informs (NAT/CGNAT), not long ago."""
        reach = self._reach.get(gid)
        return (
            self._waits
            and reach is not None
            and not reach.ok
            and reach.informs
            and time.monotonic() - reach.at <= self.cr_memory_s
        )

    @property
    def _waits(self) -> bool:
        """Whether a NAT'd device's task may wait for its next inform: the default (unset), or a
        positive ``inform_wait_s``; ``0`` turns it off."""
        return self.inform_wait_s is None or self.inform_wait_s > 0

    def _wait_s(self, gid: str) -> float:
        """How long a task queued for ``gid``'s next inform is waited for (and its ``expiry``). Set:
        ``inform_wait_s``. The default: the device's own PeriodicInformInterval as GenieACS holds it
        (read with the device's first task when it holds none) plus ``session_budget_s`` for the
        session itself — the next inform is due within one interval. Not read yet: the bound the
        online rule already uses (``online_factor`` × 3,600 s), said so where it is announced."""
        if self.inform_wait_s is not None:
            return self.inform_wait_s
        interval = self._interval.get(gid)
        if interval is None:
            return self.online_factor * DEFAULT_INTERVAL_S
        return max(1, interval) + self.session_budget_s

    def _wait_words(self, gid: str) -> str:
        """How long the wait lasts and what bounds it, for people."""
        wait = self._wait_s(gid)
        if self.inform_wait_s is not None:
            return f"waiting up to {wait:g}s: GATEWARD_GENIEACS_INFORM_WAIT_S"
        interval = self._interval.get(gid)
        if interval is None:
            return (f"waiting up to {wait:g}s: its PeriodicInformInterval is not read yet (read with this task), "
                    f"so {self.online_factor:g} × {DEFAULT_INTERVAL_S}s, as for being online")
        return (f"waiting up to {wait:g}s: its own interval of {interval}s and {self.session_budget_s:g}s "
                "for the session")

    def _informs(self, device: Device, gid: str) -> bool:
        """Whether the device informed within ``online_factor`` × its own PeriodicInformInterval
        (GenieACS's records; the interval remembered for :meth:`_due`)."""
        try:
            doc = self._doc(device, gid, ["_lastInform", *_INTERVAL_PATHS])
        except ExecutorError:
            return False
        interval = next((doc.value(p) for p in _INTERVAL_PATHS if isinstance(doc.value(p), int)), None)
        if isinstance(interval, int):
            self._interval[gid] = interval
        self._last_inform[gid] = doc.last_inform
        last = doc.last_inform
        if last is None:
            return False
        age = self.clock() - last.timestamp()
        return age <= self.online_factor * max(self._interval.get(gid, DEFAULT_INTERVAL_S), 1)

    def _learn_interval(self, gid: str, doc: DeviceDoc) -> None:
        """Remember the device's own PeriodicInformInterval when ``doc`` holds it."""
        interval = next((doc.value(p) for p in _INTERVAL_PATHS if isinstance(doc.value(p), int)), None)
        if isinstance(interval, int) and not isinstance(interval, bool):
            self._interval[gid] = interval

    def _due(self, gid: str) -> tuple[datetime | None, int | None, str]:
        """When the device's next inform is due: its last inform plus its own PeriodicInformInterval
        (None when GenieACS holds no interval for it), and the words for it."""
        interval, last = self._interval.get(gid), self._last_inform.get(gid)
        if interval is None or last is None:
            return None, interval, ("due time unknown: GenieACS holds no PeriodicInformInterval for it yet"
                                    if interval is None else "due time unknown: no inform recorded")
        due = last + timedelta(seconds=interval)
        now = datetime.fromtimestamp(self.clock(), UTC)
        seen = f"last inform {last:%H:%M:%SZ}"
        if due < now:  # informs since the one we saw: the next one on the same beat
            due += timedelta(seconds=interval * math.ceil((now - due).total_seconds() / max(interval, 1)))
            # the one seen is not the last any more (by hand: "last inform 04:52:36Z" after one at 04:53:06)
            seen = (f"last inform {due - timedelta(seconds=interval):%H:%M:%SZ} by its beat, "
                    f"{last:%H:%M:%SZ} the last GenieACS showed")
        return due, interval, (f"due at {due:%Y-%m-%d %H:%M:%SZ}, from its own PeriodicInformInterval of "
                               f"{interval}s ({seen})")

    def _await_inform(
        self, device: Device, gid: str, out: TaskOutcome, names: Mapping[str, str], what: str, wait_s: float
    ) -> TaskOutcome:
        """The task stays queued (no connection request reaches the CPE); it runs in the session
        of the device's next periodic inform. Wait for it to leave the queue; a fault is mapped as
        usual; no inform in time withdraws it. The wait ends a second before the task's ``expiry``,
        so a task that left the queue ran rather than expired, and the withdrawal finds it queued."""
        deadline = time.monotonic() + max(0.5, wait_s - 1.0)
        fid = fault_id(gid, out.task_id)
        due, interval, when = self._due(gid)
        bound = (self._wait_words(gid) if wait_s >= self._wait_s(gid)
                 else f"waiting up to {wait_s:g}s: the task's expiry")
        reason = self._reach[gid].reason if gid in self._reach else ""
        announce(InformWait(device.id, due, interval, reason,
                            f"{WAITING_FOR_INFORM} ({when}): its connection requests fail ({reason!r}, NAT/CGNAT?), "
                            f"so the {what} task waits in GenieACS's queue for it ({bound})"))
        while time.monotonic() < deadline:
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if self._nbi(device, lambda: self.client.fault(fid)) is not None:
                self._touched[gid] = time.time()
                raise self._take_fault(device, gid, out.task_id, names, what)
            if not self._nbi(device, lambda: self.client.tasks({"_id": out.task_id})):
                self._await_commit(device, gid, out)
                self._touched[gid] = time.time()
                return TaskOutcome(200, "OK (ran at the device's inform)", out.task)
        withdrawn = self._withdraw(gid, out.task_id)
        text = (f"the device did not inform within {wait_s:g}s to run the queued {what} task "
                f"(its connection requests fail: NAT/CGNAT?; {when}); {withdrawn}")
        if withdrawn.endswith("was withdrawn") and not self._session_since(gid, out.task):
            # still queued when deleted and no session since it was queued: it never ran
            gone = DeviceOffline(device.id, f"{text}: nothing sent")
            gone.nothing_sent = True
            raise gone
        raise Timeout(device.id, text)

    def _await_commit(self, device: Device, gid: str, out: TaskOutcome) -> None:
        """After a queued task left the queue in an inform's session: wait until GenieACS has written
        that session to the device document (``_lastInform`` later than the task's ``timestamp``).
        Why (found against GenieACS 1.2.16): the task is deleted *during* the session, the
        document is written at its end, so a read at once saw the previous session's values and the
        read was taken for "answered from its cache" three times running — 80 s, and the preview
        failed. With a connection request the NBI answers only after the session ended; here nobody
        waits for that but us. Bounded by ``session_budget_s``; a fault or a timeout is the caller's."""
        deadline = time.monotonic() + max(5.0, float(self.session_budget_s or 30.0))
        while time.monotonic() < deadline:
            if self._session_since(gid, out.task):
                return
            time.sleep(0.25)

    def _withdraw(self, gid: str, task_id: str) -> str:
        """Delete a task that did not complete, so it cannot run later; says what happened."""
        if not task_id:
            return "no task id to withdraw"
        try:
            gone = self.client.delete_task(task_id)
        except NbiError as exc:
            log.warning("could not withdraw GenieACS task %s of %s: %s", task_id, gid, exc)
            return f"the queued task {task_id} could NOT be withdrawn ({exc.message}); it may run at the next inform"
        if gone:
            return f"the queued task {task_id} was withdrawn"
        return f"task {task_id} had already left the queue (it may have run: read back to know)"

    def _withdraw_unique(self, gid: str, task: Mapping[str, Any]) -> str:
        key = task.get("uniqueKey")
        if not key:
            return ""
        try:
            queued = self.client.tasks({"device": gid, "uniqueKey": key})
            for t in queued:
                self.client.delete_task(str(t.get("_id", "")))
        except NbiError as exc:
            return f"; the task (uniqueKey {key}) may still be queued: withdrawing it failed ({exc.message})"
        return f"; {len(queued)} queued copy(ies) withdrawn" if queued else "; nothing was left queued"

    def _take_fault(
        self, device: Device, gid: str, task_id: str, names: Mapping[str, str], what: str = ""
    ) -> ExecutorError:
        """Read, map and clear the fault of a faulted task (clearing it deletes the task).

        A fault that cannot be cleared, on a task that changes the CPE, is no refusal: GenieACS
        1.2.16 deletes, at each later session of the device, a fault whose task's ``expiry`` is still
        ahead, and runs the task again (every task of ours has an expiry) — found against it — so the
        change may still land: a :class:`Timeout`, which the lifecycle rolls back."""
        fid = fault_id(gid, task_id)
        try:
            doc = self.client.fault(fid)
        except NbiError as exc:
            doc = None
            log.warning("could not read GenieACS fault %s: %s", fid, exc)
        left = ""
        try:
            self.client.delete_fault(fid)
        except NbiError as exc:
            withdrawn = self._withdraw(gid, task_id)
            if "could NOT be withdrawn" in withdrawn:  # (a task already gone cannot run again)
                left = withdrawn
            log.warning("could not clear GenieACS fault %s: %s", fid, exc)
        fault = fault_from_genieacs(device.id, doc, names, what)
        if left and what in _CHANGING_TASKS:
            return Timeout(device.id, f"{fault.message} — but the faulted {what} task could not be cleared ({left}): "
                                      "GenieACS runs a faulted task again at the device's next session until its "
                                      "expiry, so it may still land (read back to know)")
        return fault

    def _refresh(self, device: Device, gid: str, names: Sequence[str]) -> None:
        if names:
            self._wait_interval(gid)
            wanted = self._with_interval(device, gid, [n.rstrip(".") for n in names])
            task = T.get_values(wanted, expiry_s=self.task_expiry_s, unique_key=_once("get"))
            self._run(device, gid, task)

    def _with_interval(self, device: Device, gid: str, names: list[str]) -> list[str]:
        """``names`` and, while the device's own PeriodicInformInterval is unknown here and inform
        waits are on, that parameter too: GenieACS holds it only once read (it is in no Inform), and
        a wait for the device's next inform says when that is due from it (GenieACS had
        none for a genieacs-sim CPE informing every 30 s)."""
        if not self._waits or gid in self._interval:
            return names
        own = f"{device.root.value}ManagementServer.PeriodicInformInterval"
        if any(own == n or own.startswith(n.rstrip(".") + ".") for n in names):
            return names
        return [*names, own]

    def _wait_interval(self, gid: str) -> None:
        """Sleep until the refresh interval of our last task's session on ``gid`` is over: a read
        inside it would be answered from GenieACS's cache (GenieACS's clock assumed close to ours;
        the ``_timestamp`` check catches it when not).

        GenieACS compares the read's session with the values' ``_timestamp`` — the *start* of the
        session that last read or wrote them, which is the device's ``_lastInform`` — not with when
        the NBI answered us (GenieACS polls task completion every 500 ms, so its answer can come a
        good part of a second after the session). So the wait is from ``_lastInform`` when it is
        plausibly our task's session (between our post and its answer), else from the answer."""
        last = self._touched.get(gid)
        if last is None:
            return
        until = next_boundary(last, gid)
        if until - time.time() > 0.02 and self._ran.get(gid):
            started = self._session_start(gid)
            posted = self._posted.get(gid, last)
            if started is not None and posted - 0.25 <= started <= last:
                until = next_boundary(started, gid)
        time.sleep(max(0.0, until - time.time() + 0.005))

    def _session_since(self, gid: str, task: Mapping[str, Any]) -> bool:
        """Whether a session of the device began after ``task`` was queued (``_lastInform`` later than
        its ``timestamp``, both GenieACS's clock). Unknown counts as yes: only proof makes "never ran"."""
        mark = parse_time(task.get("timestamp"))
        try:
            raw = self.client.device(gid, ["_lastInform"])
            last = DeviceDoc.parse(raw).last_inform if raw is not None else None
        except (NbiError, ValueError):
            return True
        return mark is None or (last is not None and last > mark)

    def _session_start(self, gid: str) -> float | None:
        """The device's ``_lastInform`` (the start of its last session), or ``None`` if unknown."""
        try:
            raw = self.client.device(gid, ["_lastInform"])
            when = DeviceDoc.parse(raw).last_inform if raw is not None else None
        except (NbiError, ValueError):
            return None
        return when.timestamp() if when is not None else None

    def _fresh_doc(
        self,
        device: Device,
        gid: str,
        names: Sequence[str],
        projection: Sequence[str] | None,
        backup: _BackupAsk | None = None,
    ) -> DeviceDoc:
        """Refresh ``names`` from the CPE and return the document, accepting it only when every
        value under ``names`` was refreshed after the task was queued (``_timestamp`` later than
        the task's ``timestamp``); a read answered from the cache is retried after the boundary.
        A backup read (``backup``) is answered from the preview's read when that provably still
        holds what the device has (:meth:`_preview_doc`)."""
        names = [n.rstrip(".") for n in names]
        proj = None if projection is None else [*projection, "_lastInform"]
        if backup is not None:
            kept = self._preview_doc(gid, names, proj, backup)
            if kept is not None:
                return kept
        carried = self._carried(gid, names)
        if carried:
            try:
                return self._fresh_read(device, gid, [*names, *carried], None if proj is None else [*proj, *carried])
            except InvalidParameterName:
                self._fresh.pop(gid, None)  # a carried name is gone from the device: read just what was asked
        return self._fresh_read(device, gid, names, proj)

    def _carried(self, gid: str, names: Sequence[str]) -> list[str]:
        """The names of the last fresh read of ``gid`` that ``names`` do not cover, when that read is
        recent enough to serve a backup (``backup_reuse_s``) and the union stays one small task.

        Why: a preview reads the change's paths and then, e.g., a radio's PossibleChannels; without
        this the second read would replace the first as "the fresh read" and the backup could not be
        answered from it. Read again in the same session, the union is one read of the device —
        nothing is pieced together from reads with other sessions between them."""
        seen = self._fresh.get(gid)
        if seen is None or self.backup_reuse_s <= 0 or time.monotonic() - seen.at > self.backup_reuse_s:
            return []
        extra = [n for n in seen.names if not _covers(names, n)]
        return extra if len(names) + len(extra) <= SPV_LIMIT else []

    def _fresh_read(
        self, device: Device, gid: str, names: list[str], proj: list[str] | None
    ) -> DeviceDoc:
        stale: list[str] = []
        for _ in range(self.read_attempts):
            self._wait_interval(gid)
            started = time.time()
            asked = self._with_interval(device, gid, names)
            task = T.get_values(asked, expiry_s=self.task_expiry_s, unique_key=_once("get"))
            out = self._run(device, gid, task)
            mark = parse_time(out.task.get("timestamp"))
            doc = self._doc(device, gid, proj)
            self._learn_interval(gid, doc)  # (read with it when asked: presence's query learns it too)
            if mark is None:  # not GenieACS 1.x: nothing to check against
                return doc
            stale = [
                p for p, leaf in doc.params.items()
                if _covers(names, p) and (leaf.timestamp is None or leaf.timestamp <= mark)
            ]
            if not stale:
                stamps = {p: leaf.timestamp for p, leaf in doc.params.items() if _covers(names, p)}
                self._fresh[gid] = _Fresh(tuple(names), mark, doc.last_inform, time.monotonic(), started, time.time(),
                                          stamps)
                return doc
        raise Timeout(
            device.id,
            f"GenieACS answered the read of {', '.join(names[:3])}{' …' if len(names) > 3 else ''} from its cache "
            f"{self.read_attempts} time(s) (e.g. {stale[0]} has no value newer than the request): the CPE itself "
            "was not read; try again",
        )

    def _reused_doc(self, gid: str, names: Sequence[str], projection: Sequence[str] | None) -> DeviceDoc | None:
        """The cached document, when it provably still holds what a recent fresh read got from the
        device: every value from that read, and no session since (``_lastInform`` unchanged) — or,
        behind NAT, none that gave these values anew or booted the device (:meth:`_still_as_read`)."""
        names = [n.rstrip(".") for n in names]
        seen = self._fresh.get(gid)
        # behind NAT a read costs an inform interval: the read may be as old as a backup answered from it
        max_age = max(self.reuse_read_s, self.backup_reuse_s) if self._behind_nat(gid) else self.reuse_read_s
        if seen is None or time.monotonic() - seen.at > max_age:
            return None
        if not all(_covers(seen.names, n) for n in names):
            return None
        try:
            raw = self.client.device(gid, None if projection is None else [*projection, "_lastInform"])
            doc = DeviceDoc.parse(raw) if raw is not None else None
        except (NbiError, ValueError):
            return None
        if doc is None or doc.last_inform is None:
            return None
        covered = {p: leaf for p, leaf in doc.params.items() if _covers(names, p)}
        if any(leaf.timestamp is None or leaf.timestamp <= seen.mark for leaf in covered.values()):
            return None
        return doc if self._still_as_read(gid, seen, doc, covered) else None

    def _preview_doc(
        self, gid: str, names: Sequence[str], projection: Sequence[str] | None, ask: _BackupAsk
    ) -> DeviceDoc | None:
        """The cached document as the backup, only when the preview's read provably still holds what
        the device has: that read began after ``ask.not_before`` (this proposal's preview), is at most
        ``ask.max_age_s`` old, covers ``names``; no task of ours ran since; GenieACS has no task
        queued for the device; no session happened since (``_lastInform`` unchanged — every CWMP
        session starts with an Inform); and every value still carries a ``_timestamp`` from the CPE
        later than that read's task. Anything else (or any NBI trouble) → ``None``: read the device.

        A device behind NAT (its tasks wait for its periodic informs) informs every interval whether
        or not anything happened, so there "no session" is relaxed to: no session since gave any of
        these values anew — each still carries the very ``_timestamp`` the preview read left (an
        Inform's VALUE CHANGE carries the changed parameter, TR-069 3.2.1, and GenieACS stamps it;
        another client's task would too) — and none booted or bootstrapped the device
        (``_lastBoot``/``_lastBootstrap`` not after that read). Those sessions told the ACS nothing
        about these values, exactly as no session would have; a change on the CPE that reaches no
        Inform is missed either way (``backup_reuse_s`` bounds it). It spares a whole inform interval
        per change."""
        seen = self._fresh.get(gid)
        if self._touched.get(gid, 0.0) > (seen.wall_end if seen is not None else 0.0):
            return None  # a task of ours since the last read (or no read at all): the cache may hold what we sent
        if (
            seen is None
            or seen.cached  # no read of this process's to go by (another process read it)
            or seen.wall_start < ask.not_before  # a read from before the preview (that the preview went by)
            or not all(_covers(seen.names, n) for n in names)
        ):
            return self._cached_since(gid, names, projection, ask)
        if time.monotonic() - seen.at > ask.max_age_s:
            return None
        got = self._idle_doc(gid, names, projection)
        if got is None:
            return None
        doc, covered = got
        if not covered or any(leaf.timestamp is None or leaf.timestamp <= seen.mark for leaf in covered.values()):
            return None
        if not self._still_as_read(gid, seen, doc, covered):
            return None
        if doc.last_inform != seen.last_inform:
            ask.informed_since = doc.last_inform
        ask.used = seen
        return doc

    def _idle_doc(
        self, gid: str, names: Sequence[str], projection: Sequence[str] | None
    ) -> tuple[DeviceDoc, dict[str, Leaf]] | None:
        """GenieACS's document of ``gid`` and its leaves under ``names`` — only while no task waits to
        run on the device (ours or anyone's) and it has informed; None for anything else (NBI trouble
        included): the caller reads the device then."""
        try:
            if self.client.tasks({"device": gid}):
                return None
            raw = self.client.device(gid, projection)
            doc = DeviceDoc.parse(raw) if raw is not None else None
        except (NbiError, ValueError):
            return None
        if doc is None or doc.last_inform is None:
            return None
        return doc, {p: leaf for p, leaf in doc.params.items() if _covers(names, p)}

    def _cached_since(
        self, gid: str, names: Sequence[str], projection: Sequence[str] | None, ask: _BackupAsk
    ) -> DeviceDoc | None:
        """GenieACS's cache as the backup (or the preview: :meth:`read_for_preview`) when this process
        holds no read of the device of its own (the preview ran in another process: ``gateward
        propose``, then ``gateward apply``): only when every value under ``names`` was read from the
        device at most ``ask.max_age_s`` ago (its ``_timestamp``, GenieACS's clock — by the preview's
        read or any session since that gave it anew: the device's value as GenieACS last learnt it
        either way; a session that gave nothing anew changed nothing GenieACS could know), no task is
        queued for the device, and it has not booted or bootstrapped since. Behind NAT this spares a
        whole inform interval per read. What it cannot see is what :meth:`_preview_doc` cannot
        either: a change on the CPE that reaches no Inform."""
        got = self._idle_doc(gid, names, projection)
        if got is None:
            return None
        doc, covered = got
        stamps = [leaf.timestamp for leaf in covered.values()]
        if not covered:
            return None
        if any(ts is None for ts in stamps):
            return None
        oldest = min(ts for ts in stamps if ts is not None)
        if self.clock() - oldest.timestamp() > ask.max_age_s:
            ask.at_inform = self._given_at_last_inform(gid, doc, oldest)
            if ask.at_inform is None:
                return None
        # a boot begins a session: with none since the values were read (``_lastInform`` not later), none
        informed = doc.last_inform
        if informed is not None and informed > oldest and not self._not_booted_since(gid, oldest):
            return None
        if not all(any(_covers([n], p) for p in covered) for n in names):
            return None  # a name the cache holds nothing under: read the device (it may lack it)
        ask.cached_at = oldest
        self._fresh[gid] = _Fresh(tuple(names), oldest - timedelta(microseconds=1), doc.last_inform, time.monotonic(),
                                  ask.not_before, time.time(), {p: leaf.timestamp for p, leaf in covered.items()},
                                  cached=True)
        return doc

    def _given_at_last_inform(self, gid: str, doc: DeviceDoc, oldest: datetime) -> tuple[datetime, datetime] | None:
        """``(last inform, next due)`` when the device's latest session gave every value (none older
        than that session's refresh interval: a refresh preset, or a read at that inform) and its next
        inform is not yet overdue (its own PeriodicInformInterval plus ``session_budget_s``); else None. Not for a
        device whose connection requests are known to be answered: reading it costs a second.

        Why: behind NAT a read waits for the device's next inform. What its latest inform gave is all
        GenieACS can know until that next inform — a read asked now would be answered then, in the
        very session a Set could run in — so that cache is as good as the read, however many seconds
        old it is (issue 58 item 2: with GenieACS refreshing the changed parameters at each inform,
        ``gateward genieacs refresh-preset``, a change costs the Set's inform and the read-back's).
        What it cannot see is what a read-then-Set cannot either: a change on the CPE that reaches
        no Inform (a VALUE CHANGE inform is a session, and moves ``_lastInform`` past the values).
        Only behind NAT (known: :meth:`_read_or_last_inform` learns it first): a device that answers
        connection requests is read, which costs a second."""
        last = doc.last_inform
        # (GenieACS's ``refresh`` in that session took a value read since the start of the session's
        # one-second refresh interval as fresh, and read nothing again: such values count as given)
        if last is None or oldest.timestamp() < interval_start(last.timestamp(), gid):
            return None
        interval: object = self._interval.get(gid)
        if interval is None:  # as GenieACS holds it, for this bound only: the waits go by one read from the device
            try:
                raw = self.client.device(gid, list(_INTERVAL_PATHS))
            except NbiError:
                return None
            held = DeviceDoc.parse(raw) if raw is not None else None
            interval = next((held.value(p) for p in _INTERVAL_PATHS if isinstance(held.value(p), int)), None) \
                if held is not None else None
        if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
            return None
        due = last + timedelta(seconds=interval)
        if self.clock() > due.timestamp() + self.session_budget_s:
            return None  # overdue: it may have gone, or its informs changed; read it
        if not self._behind_nat(gid):
            if gid in self._probing:  # not known yet: the read that follows finds out without waiting
                self._probing[gid] = True
            return None
        return last, due

    def _still_as_read(self, gid: str, seen: _Fresh, doc: DeviceDoc, covered: Mapping[str, Leaf]) -> bool:
        """Whether the device's sessions since ``seen`` (a fresh read) left ``covered`` as that read
        found them: no session at all (``_lastInform`` unchanged); or, for a device behind NAT, whose
        periodic informs come whatever happens, none that gave any of these values anew (each still
        carries the ``_timestamp`` that read left) or booted the device (:meth:`_preview_doc`)."""
        if doc.last_inform == seen.last_inform:
            return True
        if not (self._behind_nat(gid) or seen.cached) or any(
                seen.stamps.get(p) != leaf.timestamp for p, leaf in covered.items()):
            return False
        return self._not_booted_since(gid, seen.mark)

    def _not_booted_since(self, gid: str, mark: datetime) -> bool:
        """GenieACS records no boot or bootstrap of the device after ``mark`` (its clock)."""
        try:
            raw = self.client.device(gid, ["_lastBoot", "_lastBootstrap"])
        except NbiError:
            return False
        if raw is None:
            return False
        for key in ("_lastBoot", "_lastBootstrap"):
            when = parse_time(raw.get(key)) if raw.get(key) is not None else None
            if raw.get(key) is not None and (when is None or when > mark):
                return False
        return True

    # ------------------------------------------------------------------ reading
    def read_for_backup(
        self, device: Device, paths: Sequence[str], *, not_before: datetime | None = None
    ) -> BackupRead:
        """The backup read. With ``not_before`` (this proposal's preview began reading then) and
        ``backup_reuse_s`` > 0 it may be answered from the preview's read of the device — one task
        and one refresh-interval wait less per change — when :meth:`_preview_doc` can prove nothing
        touched the device since; otherwise it reads the device as :meth:`read` does."""
        if not_before is None or self.backup_reuse_s <= 0:
            # (behind NAT too: a Set queued for an inform that never comes is withdrawn unrun — nothing
            # sent, the apply deferred — so the backup's own read is no longer needed as the probe)
            return BackupRead(values=self.read(device, paths))
        ask = _BackupAsk(not_before=not_before.timestamp(), max_age_s=self.backup_reuse_s)
        values = self._read_or_last_inform(device, paths, ask)
        if ask.cached_at is not None:
            return BackupRead(
                values=values,
                source="preview",
                detail=f"GenieACS's cache: {self._cache_words(ask)}",
            )
        if ask.used is None:
            return BackupRead(values=values)
        age = time.monotonic() - ask.used.at
        since = (
            f"informs since (the last at {_iso(ask.informed_since)}: periodic, behind NAT) gave none of these values "
            "anew and booted nothing"
            if ask.informed_since is not None else f"no session: _lastInform {_iso(ask.used.last_inform)}"
        )
        return BackupRead(
            values=values,
            source="preview",
            detail=(
                f"preview read at {ask.used.mark.isoformat()} (GenieACS clock), {age:.1f}s before the backup; device "
                f"untouched since ({since}; no queued task; every value's _timestamp from that read)"
            ),
        )

    def read_for_preview(self, device: Device, paths: Sequence[str]) -> PreviewRead:
        """The preview's before values from GenieACS's cache when every value was read from the device
        at most ``preview_cache_s`` ago and nothing since could have changed it that GenieACS would
        know (:meth:`_cached_since`) — said so, with from when; else a read of the device. Behind NAT
        that read costs the device's next inform; with it, a change costs the Set's inform and the
        read-back's: 2 (the backup then answered from the same values)."""
        reach = self._reach.get(self._gid(device)) if paths else None
        if not paths or self.preview_cache_s <= 0 or (reach is not None and reach.ok):
            # (a device whose connection requests are answered is read now: it costs a second, not an inform)
            return PreviewRead(values=self.read(device, paths))
        ask = _BackupAsk(not_before=0.0, max_age_s=self.preview_cache_s)
        values = self._read_or_last_inform(device, paths, ask)
        if ask.cached_at is None and ask.used is not None:  # this process's own read, provably unchanged since
            ask.cached_at = min((ts for ts in ask.used.stamps.values() if ts is not None), default=ask.used.mark)
        if ask.cached_at is None:
            return PreviewRead(values=values)
        return PreviewRead(values=values, source="cache", detail=f"from GenieACS's cache: {self._cache_words(ask)}")

    def _read_or_last_inform(self, device: Device, paths: Sequence[str], ask: _BackupAsk) -> dict[str, ParamValue]:
        """:meth:`_read` for a preview or a backup, which may be answered from what the device's last
        inform gave (:meth:`_given_at_last_inform`) once the device is known to sit behind NAT. Not
        known yet (this process never reached it: a fresh ``gateward propose`` or ``apply``) while
        the cache would do, the read is a probe: its connection request failing on a device that
        informs withdraws the unrun read instead of waiting for the next inform, and the read is
        asked again knowing it — answered from the last inform's values. A device that answers is
        simply read; one that neither answers nor informs is offline; any other read is as before."""
        gid = self._gid(device)
        if not paths or gid in self._reach or not self._waits:
            return self._read(device, paths, ask)
        touched = self._touched.get(gid)
        self._probing[gid] = False
        try:
            return self._read(device, paths, ask)
        except DeviceOffline as exc:
            if not (self._probing.get(gid) and self._behind_nat(gid) and exc.nothing_sent):
                raise
        finally:
            self._probing.pop(gid, None)
        # the probe's read was withdrawn unrun: it touched nothing the cache holds
        if touched is None:
            self._touched.pop(gid, None)
        else:
            self._touched[gid] = touched
        return self._read(device, paths, ask)

    def _cache_words(self, ask: _BackupAsk) -> str:
        assert ask.cached_at is not None
        if ask.at_inform is not None:
            last, due = ask.at_inform
            return (f"every value as the device's last inform gave it, at {last:%H:%M:%SZ} "
                    f"({self.clock() - last.timestamp():.0f}s ago, GenieACS clock; the next is due by "
                    f"{due:%H:%M:%SZ}): "
                    "nothing GenieACS could know is newer until then; no queued task, no boot since")
        return (f"every value read from the device at most {self.clock() - ask.cached_at.timestamp():.0f}s ago "
                f"(the oldest at {ask.cached_at:%H:%M:%SZ}, GenieACS clock), no session since gave any anew, "
                "no queued task, no boot since")

    def read(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        return self._read(device, paths, None)

    def _read(self, device: Device, paths: Sequence[str], backup: _BackupAsk | None) -> dict[str, ParamValue]:
        if not paths:  # e.g. the backup of a reboot-only proposal: nothing to ask (an empty GPV is malformed)
            return {}
        gid = self._gid(device)
        for p in paths:
            try:
                T.check_path(p.rstrip("."), what="path")
            except T.InvalidTask as exc:
                raise InvalidParameterName(device.id, str(exc), per_parameter={p: (9005, str(exc))}) from None
        if device.root is Root.IGD:
            return self._read_tr098(device, gid, paths, backup)
        names = [p.rstrip(".") for p in paths]
        doc = self._fresh_doc(device, gid, names, names, backup)
        out: dict[str, ParamValue] = {}
        bad: dict[str, tuple[int, str]] = {}
        for path in paths:
            hits = doc.under(path) if path.endswith(".") else ({path: doc.params[path]} if path in doc.params else {})
            if not hits and path.endswith(".") and (path[:-1] in doc.objects or is_empty_table(path, doc.has)):
                continue  # a table the device has with no rows: nothing to answer (core.kernel.datamodel.paths)
            if not hits:
                why = (
                    f"{path} matches no parameter on this device"
                    if path.endswith(".")
                    else f"{path} is not a parameter of this device ({device.vendor} {device.model} {device.firmware})"
                )
                bad[path] = (9005, why)
            for p, leaf in hits.items():
                out[p] = self._value(p, p, leaf)
        if bad:
            raise InvalidParameterName(device.id, f"invalid parameter name(s): {', '.join(bad)}", per_parameter=bad)
        return out

    @staticmethod
    def _value(path: str, device_path: str, leaf: Leaf, entry: ViewEntry | None = None) -> ParamValue:
        value = leaf.value if entry is None else entry.value
        return ParamValue(
            path=path,
            device_path=device_path,
            value="" if value is None else value,
            type=(entry.type if entry is not None and entry.type else plain(leaf.type)),
            writable=(entry.writable if entry is not None and entry.writable is not None else leaf.writable),
        )

    def _tr098_state(
        self, device: Device, doc: DeviceDoc
    ) -> tuple[dict[str, Scalar], InstanceMap, dict[str, ViewEntry]]:
        params = doc.values()
        imap = instance_map_from_params(params, vendor=device.vendor, model=device.model)
        return params, imap, tr181_view(params, imap)

    def _read_tr098(
        self, device: Device, gid: str, paths: Sequence[str], backup: _BackupAsk | None = None
    ) -> dict[str, ParamValue]:
        cached = self._doc(device, gid, TR098_SUBTREES)
        first: list[str] = []
        if not any(p.startswith(f"{_IGD}LANDevice.") for p in cached.values()):
            # GenieACS 1.2 knows a newly registered device from its Inform (names at most, no values):
            # without the LAN and WAN devices' values there is no instance map, and every WiFi/IP
            # path would look absent
            first = [f"{_IGD}LANDevice", f"{_IGD}WANDevice"]
            cached = self._fresh_doc(device, gid, first, TR098_SUBTREES)
        _, imap, view = self._tr098_state(device, cached)
        targets: set[str] = set()
        for path in paths:
            entries = (
                [e for k, e in view.items() if k.startswith(path)]
                if path.endswith(".")
                else ([view[path]] if path in view else [])
            )
            natives = [e.device_path for e in entries]
            if not path.endswith("."):
                with contextlib.suppress(Untranslatable):
                    natives += to_device_paths(path, imap)
            else:  # the object itself: GenieACS may know some of its leaves only by name (no value
                # yet — ModelName and Manufacturer after a stock 1.2 registration), so the cached
                # view alone would never ask for them
                natives += _same_name_object(path)
            targets.update(_parent(n) if n.startswith(_IGD + "LANDevice.") else n for n in natives)
        wanted = sorted(_collapse(targets))
        if wanted and not (first and all(_covers(first, w) for w in wanted)):
            doc = self._fresh_doc(device, gid, wanted, TR098_SUBTREES, backup)
        else:  # nothing to ask, or that first read of the LAN and WAN devices just read it (one session,
            # not two: behind NAT, one inform interval each)
            doc = cached
        _, imap, view = self._tr098_state(device, doc)
        out: dict[str, ParamValue] = {}
        bad: dict[str, tuple[int, str]] = {}
        for path in paths:
            keys = [k for k in view if k.startswith(path)] if path.endswith(".") else ([path] if path in view else [])
            if not keys and not is_empty_table(path, view.__contains__):
                bad[path] = (
                    9005,
                    f"{path} matches no parameter on this device"
                    if path.endswith(".")
                    else self._why_missing(path, imap),
                )
            for k in keys:
                entry = view[k]
                leaf = doc.params.get(entry.device_path) or Leaf(entry.value, "xsd:string", entry.writable, None)
                out[k] = self._value(k, entry.device_path, leaf, entry)
        if bad:
            raise InvalidParameterName(device.id, f"invalid parameter name(s): {', '.join(bad)}", per_parameter=bad)
        return out

    @staticmethod
    def _why_missing(path: str, imap: InstanceMap) -> str:
        try:
            natives = to_device_paths(path, imap)
        except Untranslatable as exc:
            return str(exc)
        return f"{path} is not supported by this device (it has no {natives[0]})"

    # ------------------------------------------------------------------ presence & discovery
    def presence(self, device: Device) -> Presence:
        """From GenieACS's records only: never a connection request (it would start a session of
        its own that collides with the next task's). When a task of ours ran in a session of the
        device moments ago, that outcome already says online and reachable (:meth:`_presence_known`)
        and GenieACS is not asked again."""
        gid = self._gid(device)
        known = self._presence_known(device, gid)
        if known is not None:
            return known
        doc = self._doc(device, gid, ["_lastInform", *_INTERVAL_PATHS])
        own = next((doc.value(p) for p in _INTERVAL_PATHS if isinstance(doc.value(p), int)), None)
        interval = own if isinstance(own, int) else DEFAULT_INTERVAL_S
        if isinstance(own, int):
            self._interval[gid] = own
        self._last_inform[gid] = doc.last_inform
        now = datetime.fromtimestamp(self.clock(), UTC)
        last = doc.last_inform
        age = (now - last).total_seconds() if last is not None else None
        recent = age is not None and age <= self.online_factor * max(interval, 1)
        reach = self._reach.get(gid)
        if reach is not None and (
            time.monotonic() - reach.at > self.cr_memory_s
            or (not reach.ok and last is not None and last.timestamp() > reach.wall and not self._behind_nat(gid))
        ):
            # lapsed, or the device informed since the failure: worth one more try (not when its tasks
            # are queued for informs anyway: an inform says nothing about connection requests)
            reach = None
        if not recent:
            why = f" (the last connection request: {reach.reason!r})" if reach is not None and not reach.ok else ""
            return Presence(
                device_id=device.id, online=False, reachable=False, last_seen=last,
                detail=f"no inform since {_ago(age)}, expected every {interval}s{why}",
            )
        if reach is not None and not reach.ok and self._waits:  # it informs: NAT, whatever the words
            _, _, when = self._due(gid)
            return Presence(
                device_id=device.id, online=True, reachable=True, last_seen=last,
                detail=f"{WAITING_FOR_INFORM} ({when}): its connection requests fail ({reach.reason!r}, "
                f"NAT/CGNAT?), so tasks are queued for its periodic inform ({self._wait_words(gid)})",
            )
        if reach is not None and not reach.ok:
            what = "cannot be reached (NAT/CGNAT?)"
            return Presence(
                device_id=device.id, online=True, reachable=False, last_seen=last,
                detail=f"online but unreachable: the last connection request failed ({reach.reason!r}: the device "
                f"{what}); last inform {_ago(age)}, every {interval}s; {WAIT_OFF}",
            )
        how = "the last connection request was answered" if reach is not None else "no connection request tried yet"
        return Presence(
            device_id=device.id, online=True, reachable=True, last_seen=last,
            detail=f"online and reachable as far as GenieACS knows (last inform {_ago(age)}, every {interval}s; {how})",
        )

    def _presence_known(self, device: Device, gid: str) -> Presence | None:
        """Presence from our own last task, without an NBI query (one device query less
        per lifecycle step), only when it proves what the query would: the task ran in a session of
        the device (so the device informed after we posted it, and its connection request was
        answered) at most ``reuse_read_s`` ago and within ``online_factor`` × the inform interval
        the last query saw; no connection request failed since; no reboot, reset or download since
        (those take the device down, and they forget this). Anything else: ``None``, ask GenieACS.
        A device that dropped since is then caught by the next task's connection request, exactly
        as between a query and that task (``DeviceOffline``, the task withdrawn unrun)."""
        seen, interval, reach = self._alive.get(gid), self._interval.get(gid), self._reach.get(gid)
        if seen is None or interval is None or reach is None or not reach.ok:
            return None
        since, what = seen
        age = self.clock() - since
        if not 0 <= age <= min(self.reuse_read_s, self.online_factor * max(interval, 1)):
            return None
        return Presence(
            device_id=device.id, online=True, reachable=True, last_seen=datetime.fromtimestamp(since, UTC),
            detail=f"online and reachable: our {what} task ran in a session of the device {age:.1f}s ago "
            f"(inform every {interval}s; GenieACS not asked again)",
        )

    def discover(self, device: Device) -> Discovery:
        """Refresh and describe the device. A TR-098 device gets one ``getParameterValues`` of
        :data:`TR098_SUBTREES` (one session) instead of a refresh of its whole tree."""
        gid = self._gid(device)
        self._wait_interval(gid)  # inside our last task's refresh interval GenieACS would answer from its cache
        doc: DeviceDoc | None = None
        if device.root is Root.IGD:
            self._run(device, gid, T.get_values(TR098_DISCOVER, expiry_s=self.task_expiry_s, unique_key=_once("get")))
            doc = self._doc(device, gid, TR098_DISCOVER)
            if doc.root() is not Root.IGD:
                doc = None  # the record was wrong about the root: learn the whole tree
        if doc is None:
            self._run(device, gid, T.refresh_object("", expiry_s=self.task_expiry_s, unique_key=_once("refresh")))
            doc = self._doc(device, gid)
        root = doc.root() or device.root
        values = doc.values()
        if root is Root.IGD:
            _, imap, view = self._tr098_state(device, doc)
            keys: Sequence[str] = list(view)
            m = _VERSION_RE.search(str(values.get(_IGD + "DeviceSummary", "")))
            version = m.group(1) if m else ""
            imap_json = imap.model_dump(mode="json")
            params = {k: e.writable if e.writable is not None else (leaf.writable if (
                leaf := doc.params.get(e.device_path)) else None) for k, e in view.items()}
        else:
            keys = list(doc.params)
            version = str(values.get("Device.RootDataModelVersion", ""))
            imap_json = {}
            params = {k: leaf.writable for k, leaf in doc.params.items()}  # GenieACS's _writable, per leaf
        firmware = str(values.get(f"{root.value}DeviceInfo.SoftwareVersion", device.firmware))
        return Discovery(
            device_id=device.id,
            root=root,
            data_model_version=version,
            supported_objects=sorted({_generic(_parent(k)) + "." for k in keys}),
            instance_map=imap_json,
            firmware=firmware,
            parameters=params,
        )

    # ------------------------------------------------------------------ writing: Set
    def _plan(self, device: Device, gid: str, changes: Sequence[Change], reuse: bool = True) -> _Plan:
        """Refresh the targets (or reuse a provably fresh read), then check every change against the
        fresh cache and the BBF model."""
        plan = _Plan()
        for c in changes:
            try:
                T.check_path(c.path)
            except T.InvalidTask as exc:
                plan.problems[c.path] = (9005, str(exc))
        if device.root is Root.IGD:
            return self._plan_tr098(device, gid, changes, plan, reuse)
        targets = [c.path for c in changes if c.path not in plan.problems]
        if not targets:
            return plan
        reused = self._reused_doc(gid, targets, [*targets, "_tags"]) if reuse else None
        plan.reused = reused is not None
        plan.doc = doc = reused or self._fresh_doc(device, gid, targets, [*targets, "_tags"])
        registry = get_registry(Root.DEVICE, "cwmp")
        for c in changes:
            if c.path in plan.problems:
                continue
            leaf = doc.params.get(c.path)
            if leaf is None:
                plan.problems[c.path] = (
                    9005,
                    f"{c.path} is not a parameter of this device ({device.vendor} {device.model} {device.firmware})",
                )
                continue
            self._check_native(plan, c, c.path, c.value, leaf, plain(leaf.type), registry)
        return plan

    def _plan_tr098(self, device: Device, gid: str, changes: Sequence[Change], plan: _Plan, reuse: bool) -> _Plan:
        # the objects the TR-181 view is built from (as reads use), not the whole tree: on a real
        # GenieACS a whole TR-098 document is a slow query, and the plan asked for it twice
        proj = [*TR098_SUBTREES, "_tags"]
        cached = self._doc(device, gid, proj)
        params, imap, view = self._tr098_state(device, cached)
        targets: set[str] = set()
        for c in changes:
            if c.path in plan.problems:
                continue
            try:
                targets.update(translate_set(c.path, c.value, imap, params))
            except Untranslatable:
                continue
        wanted = sorted(targets)
        reused = self._reused_doc(gid, wanted, proj) if reuse and wanted else None
        plan.reused = reused is not None
        plan.doc = doc = reused or (self._fresh_doc(device, gid, wanted, proj) if wanted else cached)
        params, imap, view = self._tr098_state(device, doc)
        work = dict(params)
        registry = get_registry(Root.IGD)
        for c in changes:
            if c.path in plan.problems:
                continue
            try:
                writes = translate_set(c.path, c.value, imap, work)
            except Untranslatable as exc:
                shown = view.get(c.path)
                if shown is not None and shown.writable is False:
                    plan.problems[c.path] = (9008, f"{c.path} is read-only on this device: {exc.reason}")
                else:
                    plan.problems[c.path] = (9005, str(exc))
                continue
            tr_type = view[c.path].type if c.path in view and view[c.path].type else None
            for native, value in writes.items():
                leaf = doc.params.get(native)
                if leaf is None:
                    plan.problems[c.path] = (9005, f"{c.path} is not supported by this device (it has no {native})")
                    break
                if not self._check_native(plan, c, native, value, leaf, tr_type or plain(leaf.type), registry):
                    break
                work[native] = value
        return plan

    def _check_native(
        self, plan: _Plan, c: Change, native: str, value: Scalar, leaf: Leaf, tr_type: str, registry: Registry
    ) -> bool:
        path = c.path
        if leaf.writable is False:
            plan.problems[path] = (
                9008,
                f"{path} is read-only on this device" + ("" if native == path else f" ({native})"),
            )
            return False
        if c.type and family(c.type) != family(tr_type):
            plan.problems[path] = (9006, f"{path} is {tr_type} on this device, not {c.type}")
            return False
        try:
            typed = encode(value, leaf.type)
        except XsdValueError as exc:
            plan.problems[path] = (9006, f"{path}: {exc}")
            return False
        problem = registry.check(native, typed, for_write=False)
        if problem is not None and problem.rule in _VALUE_RULES:
            plan.problems[path] = (_VALUE_RULES[problem.rule], f"{path}: {problem.detail}")
            return False
        plan.triples.append((native, typed, leaf.type))
        plan.names.setdefault(native, path)
        return True

    def _apply(self, device: Device, changes: Sequence[Change], key: str) -> ApplyResult:
        if not changes:
            return ApplyResult(device_id=device.id, key=key, status=0, applied=[])
        if len({c.path for c in changes}) != len(changes):
            raise InvalidValue(device.id, "the same path is set twice in one change", code=9003)
        gid = self._gid(device)
        tag = KEY_TAG + key
        plan = self._plan(device, gid, changes)
        if plan.reused and plan.doc is not None and (
            tag in plan.doc.tags or any(_same(plan.doc.value(n), v) for n, v, _ in plan.triples)
        ):
            # GenieACS does not send a value equal to its cache, and an idempotent skip trusts it:
            # both decisions must rest on the device's state now, not on the remembered read.
            plan = self._plan(device, gid, changes, reuse=False)
        if plan.problems:
            raise fault_for(device.id, plan.problems)
        assert plan.doc is not None
        if len(plan.triples) > SPV_LIMIT:
            raise Fault(
                device.id,
                f"{len(plan.triples)} parameters in one Set: GenieACS would split it into "
                f"batches of {SPV_LIMIT} and it would no longer be atomic; split the change",
                code=9004,
            )
        if tag in plan.doc.tags and all(_same(plan.doc.value(n), v) for n, v, _ in plan.triples):
            return ApplyResult(device_id=device.id, key=key, status=0, applied=[], idempotent_skip=True)
        task = T.set_values(plan.triples, expiry_s=self.task_expiry_s, unique_key=f"gateward-set-{key}")
        self._fresh.pop(gid, None)  # from here on the cache holds what we sent, not what the device said
        try:
            self._run(device, gid, task, plan.names)
        except _LostAnswer as lost:
            self._settle_lost_set(device, gid, task, plan, lost)
        self._mark_key(gid, plan.doc.tags, tag)
        return ApplyResult(device_id=device.id, key=key, status=0, applied=[c.path for c in changes])

    def _settle_lost_set(self, device: Device, gid: str, task: Mapping[str, Any], plan: _Plan,
                         lost: _LostAnswer) -> None:
        """The NBI went away while it held our Set (a restart: the connection dropped, no answer). An
        unknown outcome, not a failure: wait (up to ``nbi_back_s``) for the NBI to answer again, then
        settle on facts. A copy still queued is withdrawn — unrun (no session since it was queued):
        nothing was sent, the apply is deferred; a fault is the CPE's answer, mapped as usual. Gone
        from the queue (it ran, or was never stored): read the targets from the device — every value
        as sent means the Set landed (returns; the lifecycle's verify reads back as always); every
        value as before it, with nothing left to run, means nothing landed (deferred). Anything else,
        or no NBI in time, stays the :class:`Timeout` it was: the lifecycle rolls back. Found against
        GenieACS 1.2.16: an NBI restarted mid-Set was back in 5 s, the Set had landed, and the apply
        had ended ``rollback_failed`` with an alarm (its restore hit the NBI still down)."""
        queued = self._when_back(device, gid, task, lost)
        for t in queued:
            tid = str(t.get("_id", ""))
            if self._nbi(device, partial(self.client.fault, fault_id(gid, tid))) is not None:
                raise self._take_fault(device, gid, tid, plan.names, "setParameterValues")
            withdrawn = self._withdraw(gid, tid)
            if withdrawn.endswith("was withdrawn") and not self._session_since(gid, t):
                raise NbiUnreachable(device.id, f"{lost.message}; once the NBI answered again the Set was still "
                                                "queued, unrun: withdrawn, nothing sent")
        natives = [n for n, _, _ in plan.triples]
        try:
            doc = self._fresh_doc(device, gid, natives, natives)
        except ExecutorError as exc:
            raise Timeout(device.id, f"{lost.message}; the NBI is back but the device could not be read to "
                                     f"know whether the Set landed ({exc.message})") from None
        now = {n: doc.value(n) for n in natives}
        if all(_same(now[n], v) for n, v, _ in plan.triples):
            log.info("%s: the NBI went away mid-Set; the device holds every value sent: applied", gid)
            return
        before = plan.doc.values() if plan.doc is not None else {}
        if not queued and all(n in before and _same(now[n], before[n]) for n in natives):
            raise NbiUnreachable(device.id, f"{lost.message}; once the NBI answered again no Set was queued and "
                                            "the device holds every value it had: nothing landed")
        raise Timeout(device.id, f"{lost.message}; once the NBI answered again the device held neither the change "
                                 f"nor what it had ({', '.join(f'{n}={now[n]!r}' for n in natives[:3])})")

    def _when_back(self, device: Device, gid: str, task: Mapping[str, Any], lost: _LostAnswer) -> list[dict[str, Any]]:
        """Wait for the NBI to answer again (at most ``nbi_back_s``); the copies of ``task`` it holds
        (by ``uniqueKey``). Not back in time: the :class:`Timeout` the lost answer was."""
        key = task.get("uniqueKey")
        deadline = time.monotonic() + self.nbi_back_s
        while True:
            try:
                return self.client.tasks({"device": gid, "uniqueKey": key})
            except NbiError as exc:
                if time.monotonic() >= deadline:
                    raise Timeout(device.id, f"{lost.message}; the NBI did not answer again within "
                                             f"{self.nbi_back_s:g}s ({exc.message}), so whether the Set ran is "
                                             "unknown") from None
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _mark_key(self, gid: str, tags: Sequence[str], tag: str) -> None:
        """Record the applied key on the ACS (best effort: the change itself already landed)."""
        try:
            self.client.add_tag(gid, tag)
            for old in tags:
                if old.startswith(KEY_TAG) and old != tag:
                    self.client.remove_tag(gid, old)
        except NbiError as exc:
            log.warning("could not record key tag %s on %s: %s", tag, gid, exc)

    # ------------------------------------------------------------------ writing: commands
    def _operate(self, device: Device, command: str, args: dict[str, Scalar]) -> OperateResult:
        handlers = {"reboot": self._reboot, "factory_reset": self._factory_reset, "download": self._download,
                    "ipping": self._ipping}
        return dispatch_command(device, command, args, handlers, over=" over TR-069")

    def _reboot(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        return self._boot_command(device, "reboot", "reboot", args)

    def _factory_reset(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        return self._boot_command(device, "factory_reset", "factoryReset", args)

    def _boot_command(self, device: Device, command: str, task_name: str, args: dict[str, Scalar]) -> OperateResult:
        """Send the command, then wait for the device to come back (``_lastBoot`` past the task)."""
        gid = self._gid(device)
        self._fresh.pop(gid, None)
        task = T.simple(task_name, expiry_s=self.task_expiry_s, unique_key=f"gateward-{command.replace('_', '-')}")
        out = self._run(device, gid, task)
        self._alive.pop(gid, None)  # the device goes down after this session: presence asks GenieACS again
        booted = self._await_boot(device, gid, out, args)
        return OperateResult(
            device_id=device.id, command=command, status="done",
            output={"task": out.task_id, "last_boot": booted.isoformat()},
        )

    def _await_boot(self, device: Device, gid: str, out: TaskOutcome, args: dict[str, Scalar]) -> datetime:
        """Poll ``_lastBoot`` until it is later than the task's timestamp (GenieACS's clock)."""
        try:
            limit = float(args.get("timeout_s", self.reboot_timeout_s))
        except (TypeError, ValueError):
            raise InvalidValue(device.id, "timeout_s must be a number of seconds", code=9007) from None
        mark = parse_time(out.task.get("timestamp")) or datetime.fromtimestamp(self.clock(), UTC)
        deadline = time.monotonic() + limit
        last: datetime | None = None
        while True:
            last = self._doc(device, gid, ["_lastBoot"]).last_boot
            if last is not None and last > mark:
                self._touched[gid] = time.time()
                return last
            if time.monotonic() >= deadline:
                raise Timeout(
                    device.id,
                    f"the device took the {out.task.get('name')} command but has not booted again within {limit:g}s "
                    f"(GenieACS _lastBoot {last.isoformat() if last else 'never'}); it may still be down",
                )
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _download(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        """A firmware download, done when the CPE's TransferComplete is in.

        GenieACS answers the task at the CPE's DownloadResponse (Status 1: "not finished yet"); the
        outcome comes later in a TransferComplete RPC, which a CPE sends in a *later* session — a real
        CPE after it rebooted into the image (``1 BOOT``, ``7 TRANSFER COMPLETE``), genieacs-sim at its
        next session of any kind. GenieACS records it on the device document (``Downloads.<i>.LastDownload``
        set to the download's time, ``LastFileName``) or, on a fault, as a fault on the task's channel
        (``cwmp.9016`` …). So: post, wait for either (nudging the CPE into a session now and then), then
        read SoftwareVersion back. A transfer that completed but left the version unchanged is reported
        as it is (``installed: false``); the lifecycle's verify compares the version and fails it."""
        url = str(args.get("url", "")).strip()
        if not url:
            raise Fault(device.id, "download needs a url argument", code=9003)
        file_type = str(args.get("file_type", FIRMWARE_FILE_TYPE))
        name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        gid = self._gid(device)
        files = self._nbi(device, lambda: self.client.files({"_id": name}))
        if not files:
            raise Fault(
                device.id,
                f"GenieACS has no file {name!r}: upload the image first "
                f"(PUT /files/{name} with fileType, oui, productClass, version headers)",
                code=9003,
            )
        meta = files[0].get("metadata") or {}
        expected = str(args.get("version") or meta.get("version") or "")
        # SoftwareVersion is in every Inform (forcedInform), so GenieACS's copy is the version of the
        # device's last session: before the task, and — once the TransferComplete is recorded — of
        # the session that carried it, after any reboot. No read task needed on either side.
        sw = _software_version(device)
        previous = self._cached_version(device, gid, sw)
        self._fresh.pop(gid, None)
        out = self._run(
            device, gid, T.download(file_type, name, expiry_s=self.task_expiry_s, unique_key="gateward-download")
        )
        self._alive.pop(gid, None)  # the device may reboot into the image: presence asks GenieACS again
        booted = self._await_transfer(device, gid, out, name, args)
        self._fresh.pop(gid, None)
        running = self._cached_version(device, gid, sw)
        installed = running != previous or (bool(expected) and running == expected)
        output: dict[str, Any] = {
            "task": out.task_id, "file": name, "transfer": "complete", "firmware": running, "previous": previous,
            "expected": expected, "rebooted": booted is not None, "installed": installed,
        }
        if booted is not None:
            output["last_boot"] = booted.isoformat()
        if expected and running != expected:
            output["detail"] = (
                f"the CPE reported the transfer of {name} complete but runs {running or 'nothing readable'}, "
                f"not {expected}" + ("" if booted is not None else " (it did not reboot)")
            )
        return OperateResult(device_id=device.id, command="download", status="done", output=output)

    def _cached_version(self, device: Device, gid: str, native: str) -> str:
        """The SoftwareVersion GenieACS holds from the device's last Inform; a live read when it
        holds none (a document that never had it)."""
        value = self._doc(device, gid, [native]).value(native)
        if value is None:
            sw = "Device.DeviceInfo.SoftwareVersion"  # TR-098 devices answer through the translated view
            got = self.read(device, [sw]).get(sw)
            value = None if got is None else got.value
        return "" if value is None else str(value)

    #: Seconds between connection requests while a download's TransferComplete is awaited: a CPE
    #: sends it only in a session, and genieacs-sim opens none of its own for PeriodicInformInterval
    #: (300 s) — a real CPE informs after its reboot and never needs one.
    transfer_nudge_s: float = 3.0

    def _await_transfer(
        self, device: Device, gid: str, out: TaskOutcome, name: str, args: dict[str, Scalar]
    ) -> datetime | None:
        """Wait for this download's TransferComplete as GenieACS records it; the device's new
        ``_lastBoot`` if it rebooted since the task, else None. A TransferComplete fault (the fault
        GenieACS keeps on the task's channel) is raised typed with the CPE's code, and cleared."""
        try:
            limit = float(args.get("timeout_s", self.reboot_timeout_s))
        except (TypeError, ValueError):
            raise InvalidValue(device.id, "timeout_s must be a number of seconds", code=9007) from None
        mark = parse_time(out.task.get("timestamp")) or datetime.fromtimestamp(self.clock(), UTC)
        fid = fault_id(gid, out.task_id) if out.task_id else ""
        start = time.monotonic()
        deadline, nudge_at = start + limit, start + self.transfer_nudge_s
        while True:
            doc = self._doc(device, gid, ["Downloads", "_lastBoot"])
            if _transfer_recorded(doc, name, mark):
                self._touched[gid] = time.time()
                return doc.last_boot if doc.last_boot is not None and doc.last_boot > mark else None
            fault = self._nbi(device, lambda: self.client.fault(fid)) if fid else None
            if fault is not None:
                with contextlib.suppress(NbiError):
                    self.client.delete_fault(fid)
                base = fault_from_genieacs(device.id, fault, {})
                raise Fault(
                    device.id,
                    f"the CPE reported the download of {name} failed (TransferComplete {fault.get('code')} "
                    f"{fault.get('message') or 'no message'}); it still runs its old image",
                    code=base.code,
                )
            now = time.monotonic()
            if now >= deadline:
                raise Timeout(
                    device.id,
                    f"the CPE took the download of {name} but reported no TransferComplete within {limit:g}s "
                    f"(GenieACS _lastBoot {_iso(doc.last_boot)}); it may still be downloading or installing",
                )
            if now >= nudge_at:
                self._nudge(device, gid)
                nudge_at = time.monotonic() + self.transfer_nudge_s
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _nudge(self, device: Device, gid: str) -> None:
        """Ask the CPE for a session (a connection request with a SoftwareVersion read) so it can
        deliver its TransferComplete; best effort — a CPE that is rebooting does not answer, and
        a task it did not run is withdrawn so it cannot land later."""
        task = T.get_values([_software_version(device)], expiry_s=self.task_expiry_s,
                            unique_key=_once("transfer-nudge"))
        try:
            res = self.client.post_task(gid, task, connection_request=True, timeout_s=min(self.timeout_s, 5.0),
                                        session_budget_s=self.session_budget_s)
        except NbiError as exc:
            log.info("nudging %s for its TransferComplete failed: %s", gid, exc)
            return
        if res.kind != "done":
            self._withdraw(gid, res.task_id)

    def _ipping(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        host = str(args.get("host", args.get("Host", ""))).strip()
        try:
            reps = int(args.get("repetitions", args.get("NumberOfRepetitions", 4)))
            timeout_ms = int(args.get("timeout_ms", args.get("Timeout", 1000)))
            size = int(args.get("size", args.get("DataBlockSize", 64)))
        except (TypeError, ValueError) as exc:
            raise InvalidValue(device.id, f"ipping arguments must be integers: {exc}", code=9007) from None
        if not host or not 1 <= reps <= 1000 or timeout_ms < 1 or not 1 <= size <= 65535:
            raise InvalidValue(
                device.id,
                "ipping needs a host, 1 <= repetitions <= 1000, timeout_ms >= 1, 1 <= size <= 65535",
                code=9007,
            )
        gid = self._gid(device)
        prefix = (_IGD + "IPPingDiagnostics.") if device.root is Root.IGD else "Device.IP.Diagnostics.IPPing."
        self._refresh(device, gid, [prefix])
        doc = self._doc(device, gid, [prefix.rstrip(".")])
        wanted: dict[str, Scalar] = {
            "Host": host,
            "NumberOfRepetitions": reps,
            "Timeout": timeout_ms,
            "DataBlockSize": size,
            "DiagnosticsState": "Requested",
        }
        triples: list[tuple[str, Scalar, str]] = []
        for leaf_name, value in wanted.items():
            leaf = doc.params.get(prefix + leaf_name)
            if leaf is None:
                if leaf_name in ("Host", "DiagnosticsState"):
                    raise InvalidParameterName(
                        device.id,
                        f"this device has no {prefix}{leaf_name}: no IPPing diagnostic",
                        per_parameter={prefix + leaf_name: (9005, "missing")},
                    )
                continue
            try:
                triples.append((prefix + leaf_name, encode(value, leaf.type), leaf.type))
            except XsdValueError as exc:
                raise InvalidValue(device.id, f"ipping {leaf_name}: {exc}", code=9006) from None
        self._run(device, gid, T.set_values(triples, expiry_s=self.task_expiry_s, unique_key="gateward-ipping"))
        self._refresh(device, gid, [prefix])
        doc = self._doc(device, gid, [prefix.rstrip(".")])
        keys = (
            "DiagnosticsState",
            "Host",
            "NumberOfRepetitions",
            "SuccessCount",
            "FailureCount",
            "AverageResponseTime",
            "MinimumResponseTime",
            "MaximumResponseTime",
        )
        output: dict[str, Any] = {k: doc.value(prefix + k) for k in keys if doc.has(prefix + k)}
        state = str(output.get("DiagnosticsState", ""))
        status: Literal["done", "failed", "pending"] = (
            "done" if state == "Complete" else "pending" if state == "Requested" else "failed"
        )
        return OperateResult(device_id=device.id, command="ipping", status=status, output=output)


def _once(what: str) -> str:
    """A unique key for a one-off task: it lets a lost answer be cleaned up by key."""
    return f"gateward-{what}-{uuid.uuid4().hex[:16]}"


def _software_version(device: Device) -> str:
    """The device's own SoftwareVersion path (TR-098 or TR-181)."""
    return (_IGD if device.root is Root.IGD else "Device.") + "DeviceInfo.SoftwareVersion"


def _transfer_recorded(doc: DeviceDoc, name: str, mark: datetime) -> bool:
    """GenieACS recorded a successful TransferComplete for ``name`` since ``mark``: a
    ``Downloads.<i>`` whose ``LastFileName`` is the file and whose ``LastDownload`` (the time of the
    download session, set only by a TransferComplete with FaultCode 0) is not before the task."""
    for path, leaf in doc.params.items():
        if not (path.startswith("Downloads.") and path.endswith(".LastDownload")):
            continue
        base = path[: -len("LastDownload")]
        when = parse_time(leaf.value)
        if when is not None and when >= mark and doc.value(base + "LastFileName") == name:
            return True
    return False


def _collapse(paths: set[str]) -> set[str]:
    """Drop paths already covered by a parent object in the set."""
    ordered = sorted(paths, key=len)
    kept: list[str] = []
    for p in ordered:
        if not any(p == k or p.startswith(k + ".") for k in kept):
            kept.append(p)
    return set(kept)


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when is not None else "unknown"


def _ago(age: float | None) -> str:
    if age is None:
        return "never"
    if age < 120:
        return f"{age:.0f}s ago"
    if age < 7200:
        return f"{age / 60:.0f} min ago"
    return f"{age / 3600:.1f} h ago"


__all__ = ["KEY_TAG", "SPV_LIMIT", "GenieAcsExecutor", "NbiRefused", "NbiUnreachable"]


def _same_name_object(path: str) -> list[str]:
    """The native TR-098 object (no trailing dot, as GenieACS refreshes it) for a TR-181 object path
    inside an object whose names are the same in both trees (``Device.DeviceInfo.`` →
    ``InternetGatewayDevice.DeviceInfo``); nothing for any other path."""
    for tr181, tr098 in SAME_NAME_OBJECTS.items():
        if path.startswith(tr181):
            return [(tr098 + path[len(tr181):]).rstrip(".")]
    return []
