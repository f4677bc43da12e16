"""A local GenieACS NBI that speaks the real wire protocol and drives the digital twin.

Why: GenieACS (AGPL, needs MongoDB) cannot run in CI here, and a mock would only repeat our own
assumptions. This is a real HTTP server (``http.server``, so reason phrases can be set exactly)
that reproduces what a client of GenieACS's NBI (``lib/nbi.ts``, ``lib/api-functions.ts``)
observes:

* ``GET /<collection>/?query=&projection=&sort=&skip=&limit=`` over devices, tasks, faults,
  files, presets, objects, provisions, virtual_parameters — MongoDB query syntax, ``total``
  header, the ``[\\n…\\n]`` body; device documents nested with ``_value/_type/_timestamp/
  _writable/_object`` plus ``_id``, ``_deviceId``, ``_lastInform``, ``_registered``, ``_tags``.
* ``POST /devices/<id>/tasks?connection_request&timeout=ms`` (GenieACS 1.2.16) — 404 "No such
  device"; the NBI takes the ``cwmp_session_<id>`` lock (waiting up to 5 s) while it stores the
  task (``expiry`` seconds → date, an older task with the same ``uniqueKey`` replaced); if it
  cannot, 202 "Task queued but not processed". Then the connection request: 202 with its error
  ("Device is offline", "Connection request error: …"); no session within ``timeout`` → 202
  "Task queued but not processed"; 202 "Task faulted"; else 200. Without
  ``connection_request`` the task is stored and 202 answered at once: it waits for the device's
  next periodic inform (until ``expiry``). With no body, only a connection request (200, or 504
  with the reason) — and the CPE opens a session of its own. A task that fails GenieACS's own
  ``sanitizeTask`` kills the worker: the connection closes with no HTTP answer.
* The CPE side of the lock: an Inform that arrives while the lock is held (another session, or
  the NBI storing a task) is answered 400 "CPE already in session" and the CPE retries after
  ``cpe_retry_s``; a connection request that reaches a CPE already opening or holding a session
  is accepted and ignored.
* Reboot, factory reset and download take effect after the session that delivered them (which
  GenieACS answers 200): the CPE is down for ``boot_s`` (connection requests fail), then informs
  with ``1 BOOT``/``M Reboot`` (``0 BOOTSTRAP``, ``7 TRANSFER COMPLETE``/``M Download``) and
  ``_lastBoot`` moves.
* ``DELETE /tasks/<id>``, ``POST /tasks/<id>/retry``, ``DELETE /faults/<deviceId>:task_<id>``
  (deletes the task too), tags, ``PUT/DELETE /files/<name>``, presets/provisions (stored, not
  evaluated), ``DELETE /devices/<id>``.
* Sessions with CWMP semantics (see :mod:`testing.genieacs.session`): a connection request
  reaches only online, reachable CPEs; a ``slow`` CPE opens its session late; tasks for a device
  that cannot be reached wait for its next inform (periodic, or ``/_gateward/inform``).

Not GenieACS (documented in ``docs/genieacs.md``): the ``/_gateward/*`` control endpoints
(force an inform, read the RPC log, inject NBI failures), the optional ``Authorization`` check
that stands in for the reverse proxy operators put in front of the NBI, and waits that are
event-driven instead of GenieACS's 500 ms polling (``poll_s=0.5`` answers a task at the poll after
its session, as GenieACS does: the benches that must wait like the real one set it).

Run it: ``python -m testing.genieacs.fake_nbi --port 7557 --database-url sqlite:///var/gateward.db``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import logging
import math
import re
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from core.kernel.models import Protocol
from executors.base import UnknownDevice
from executors.genieacs.ids import fault_id, genieacs_device_id, split_device_id
from executors.genieacs.query import QueryError, matches, nested_getter, normalize_date, project
from executors.sim.twin import Twin
from testing.genieacs.cpe import CpeFault, SimulatedCpe
from testing.genieacs.fake_store import DeviceRecord, FakeStore, iso, listing_json
from testing.genieacs.session import AcsSession, SessionReport

log = logging.getLogger("gateward.genieacs.fake")

_ID = r"([a-zA-Z0-9\-_%]+)"
_ROUTE_SOURCES = {
    "device_tasks": rf"^/devices/{_ID}/tasks/?$",
    "task": r"^/tasks/([a-zA-Z0-9\-_%]+)(/[a-zA-Z_]*)?$",
    "tags": rf"^/devices/{_ID}/tags/{_ID}/?$",
    "named": r"^/(presets|objects|provisions|virtual_parameters)/([a-zA-Z0-9\-_%]+)/?$",
    "file": r"^/files/([a-zA-Z0-9%!*'();:@&=+$,?#\[\]\-_.~]+)/?$",
    "fault": r"^/faults/([a-zA-Z0-9\-_%:]+)/?$",
    "device": rf"^/devices/{_ID}/?$",
    "query": r"^/([a-zA-Z0-9_]+)/?$",
    "control": r"^/_gateward/([a-z\-]+)(?:/(.+))?$",
}
ROUTES = {k: re.compile(v) for k, v in _ROUTE_SOURCES.items()}
COLLECTIONS = ("devices", "tasks", "faults", "files", "presets", "objects", "provisions", "virtualParameters")
DEFAULT_PERIODIC_S = 3600.0
# A CPE opens its session a network round trip or more after the ACS's connection request (an HTTP
# request to the CPE, then its own connection and Inform): never in the millisecond the task was
# queued in. GenieACS stamps an Inform's values with the session's start and a task with its
# queueing, both to the millisecond, so a session started at once made SoftwareVersion look no
# newer than the read task in about one session in five; three such reads in a row failed CI runs.
CONNECTION_REQUEST_RTT_S = 0.002


#: sent as ``GenieACS-Version`` on every answer, as lib/nbi.ts's listener does
VERSION = "1.2.16+gateward-fake"


class WorkerCrash(Exception):
    """What GenieACS does with a task its ``sanitizeTask`` rejects: the worker dies mid-request.

    ``graceful`` (an uncaught exception, what 1.2.16 does): the worker stops accepting and exits
    once its open connections close — the request gets no answer and hangs until the client gives
    up (seen against 1.2.16: a read timeout, the worker gone ~20 s later). Not graceful (the
    injected ``crash_after_queue``, a killed process): the connection closes at once."""

    def __init__(self, message: str, *, graceful: bool = True) -> None:
        super().__init__(message)
        self.graceful = graceful


def sanitize_task(task: Any) -> None:
    """The server-side checks of ``lib/api-functions.ts`` (laxer than the client's)."""

    def valid_param_value(p: Any) -> bool:
        return (
            isinstance(p, list)
            and len(p) >= 2
            and isinstance(p[0], str)
            and bool(p[0])
            and isinstance(p[1], str | bool | int | float)
            and (len(p) < 3 or p[2] is None or isinstance(p[2], str))
        )

    if not isinstance(task, dict):
        raise WorkerCrash("TypeError: task is not an object")
    name = task.get("name")
    if name == "getParameterValues":
        names = task.get("parameterNames")
        if not isinstance(names, list) or not names:
            raise WorkerCrash("Error: Missing 'parameterNames' property")
        for p in names:
            if not isinstance(p, str) or not p:
                raise WorkerCrash(f"Error: Invalid parameter name '{p}'")
    elif name == "setParameterValues":
        values = task.get("parameterValues")
        if not isinstance(values, list) or not values:
            raise WorkerCrash("Error: Missing 'parameterValues' property")
        for p in values:
            if not valid_param_value(p):
                raise WorkerCrash(f"Error: Invalid parameter value '{p}'")
    elif name == "refreshObject":
        if not isinstance(task.get("objectName"), str):
            raise WorkerCrash("Error: Missing 'objectName' property")
    elif name == "deleteObject":
        if not isinstance(task.get("objectName"), str) or not task["objectName"]:
            raise WorkerCrash("Error: Missing 'objectName' property")
    elif name == "addObject":
        values = task.get("parameterValues")
        if values is not None and (not isinstance(values, list) or not all(valid_param_value(p) for p in values)):
            raise WorkerCrash("Error: Invalid 'parameterValues' property")
    elif name == "download" and not task.get("file"):
        for key in ("fileType", "fileName"):
            if not isinstance(task.get(key), str) or not task[key]:
                raise WorkerCrash(f"Error: Missing '{key}' property")
    expiry = task.get("expiry")
    if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int | float)):
        raise WorkerCrash("Error: Invalid 'expiry' property")


class SessionGate:
    """GenieACS's ``cwmp_session_<id>`` lock (held by a CPE session, or briefly by the NBI while it
    stores a task), the waits the NBI does on it, and the CPE's own "I am in a session" flag."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.holder: str | None = None  # "session" | "nbi"
        self.started = 0
        self.cpe_busy = False  # the CPE is opening or holding a session: a connection request is ignored
        self.booting_until = 0.0  # the CPE is rebooting: connection requests fail, it cannot inform

    @property
    def active(self) -> bool:
        return self.holder == "session"

    def acquire(self, holder: str, timeout: float | None) -> bool:
        """Take the lock; ``timeout`` 0 tries once (what a CPE's Inform gets), ``None`` waits."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.holder is None, timeout):
                return False
            self.holder = holder
            if holder == "session":
                self.started += 1
            self.cond.notify_all()
            return True

    def release(self) -> None:
        with self.cond:
            self.holder = None
            self.cond.notify_all()

    def wait_end(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.holder != "session", timeout)

    def wait_started(self, mark: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.started > mark, max(0.0, timeout))


@dataclass
class NbiFailure:
    """An injected NBI failure (not a CPE fault): ``http500``, ``drop`` (no answer) or ``delay``."""

    mode: str
    remaining: int = 1
    delay_s: float = 0.0
    after: int = 0  # requests still answered normally before this failure starts


class FakeNbi:
    """The fake GenieACS: collections, sessions over the twin, and (after :meth:`start`) HTTP."""

    def __init__(
        self,
        twin: Twin,
        *,
        clock: Callable[[], float] = time.time,
        tick_s: float | None = 30.0,
        require_auth: str | None = None,
        files_url: str = "http://127.0.0.1:7567",
        online_threshold_ms: int = 4000,
        lock_wait_s: float = 5.0,
        session_end_wait_s: float = 120.0,
        cpe_retry_s: float = 1.0,
        boot_s: float = 0.5,
        poll_s: float | None = None,
    ) -> None:
        self.twin = twin
        # GenieACS's NBI notices a task's session start and end by polling every 500 ms
        # (lib/api-functions.ts awaitSessionStart/awaitSessionEnd); ``poll_s`` answers a task at the
        # first such poll after its session ended, as a real one does. None: as soon as it ends.
        self.poll_s = poll_s
        self.clock = clock
        self.tick_s = tick_s
        self.require_auth = require_auth
        self.files_url = files_url
        self.online_threshold_ms = online_threshold_ms
        self.lock_wait_s = lock_wait_s
        self.session_end_wait_s = session_end_wait_s
        self.cpe_retry_s = cpe_retry_s
        self.boot_s = boot_s
        self.store = FakeStore()
        self.rpcs: deque[dict[str, Any]] = deque(maxlen=5000)
        self._gates: dict[str, SessionGate] = {}
        self._index: dict[str, str] = {}
        self._index_at = 0.0
        self._deleted: set[str] = set()
        self._version = 0  # bumped whenever a device document appears, goes or informs
        self._orders: dict[str, tuple[int, float, list[Any], list[DeviceRecord]]] = {}
        self._failures: deque[NbiFailure] = deque()
        self.requests = 0  # NBI requests answered or failed so far (every method, every path)
        self._crash_after_queue = 0
        self._restart_armed: tuple[str, float] | None = None  # (when, down_s): restart_on_next_task
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()  # open client connections: a stopped NBI drops them
        self.crash_hang_s = 30.0  # how long a request that crashed its worker is held unanswered
        # Test hook: called with the device's id after a session ran and before GenieACS saves its
        # document (``saved_inform``); a test blocks in it to hold a session open across a sync.
        self.before_session_end: Callable[[str], None] | None = None
        self.url = ""

    # ------------------------------------------------------------------ devices
    def _device_index(self, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            stale = self.clock() - self._index_at > 1.0
            if not self._index or (refresh and stale):
                index: dict[str, str] = {}
                for d in self.twin.devices():
                    if d.protocol == Protocol.CWMP and d.oui and d.serial:
                        index[genieacs_device_id(d.oui, d.product_class, d.serial)] = d.id
                self._index = index
                self._index_at = self.clock()
            return self._index

    def genie_id(self, twin_id: str) -> str:
        """The GenieACS id of a twin device (``OUI-ProductClass-Serial``, escaped)."""
        rec = self.twin.device(twin_id)
        return genieacs_device_id(rec.oui, rec.product_class, rec.serial)

    def _resolve(self, device: str) -> str:
        """Accept either a GenieACS id or a twin/Gateward device id."""
        if device in self._device_index() or device in self.store.devices:
            return device
        try:
            return self.genie_id(device)
        except (UnknownDevice, ValueError):
            return device

    def record(self, gid: str, *, register: bool = False) -> DeviceRecord | None:
        """The cached document of ``gid``, created from a full read of the CPE the first time
        (GenieACS's bootstrap refresh); ``None`` for an id GenieACS has never heard from."""
        with self.store.lock:
            rec = self.store.devices.get(gid)
            if rec is not None:
                return rec
            if gid in self._deleted and not register:
                return None
        twin_id = self._device_index().get(gid) or self._device_index(refresh=True).get(gid)
        if twin_id is None:
            return None
        cpe = SimulatedCpe(self.twin, twin_id, clock=self.clock)
        state = cpe.state()
        found = cpe.snapshot("")
        with self.store.lock:
            rec = self.store.devices.get(gid)
            if rec is None:
                rec = DeviceRecord(
                    id=gid,
                    twin_id=twin_id,
                    device_id=cpe.device_id_struct(),
                    registered=state.boot_ts,
                    last_boot=state.boot_ts,
                    last_bootstrap=state.boot_ts,
                )
                rec.refresh("", found, state.last_inform)
                rec.saved_inform = state.last_inform
                self.store.devices[gid] = rec
                self._deleted.discard(gid)
                self._version += 1
            return rec

    def last_inform(self, rec: DeviceRecord) -> float:
        """The ``_lastInform`` a query sees: as saved when the CPE's last session ended
        (:attr:`DeviceRecord.saved_inform`), never the session still running."""
        if not rec.twin_id:
            return rec.inform_ts or 0.0
        if rec.saved_inform is not None:
            return rec.saved_inform
        return self.twin.state(rec.twin_id).last_inform

    def load_devices(self, records: Iterable[DeviceRecord]) -> int:
        """Bulk-load fleet listings (``fake_store.listing_record``): documents GenieACS holds for
        CPEs the twin does not simulate, so ``GET /devices`` can be exercised at 100,000 devices
        without a twin session per device. They are read-only: no session runs for them."""
        n = 0
        with self.store.lock:
            for rec in records:
                self.store.devices[rec.id] = rec
                self._deleted.discard(rec.id)
                n += 1
            self._version += 1
        return n

    def forget_device(self, gid: str) -> None:
        """What ``DELETE /devices/<id>`` does to the device collection."""
        with self.store.lock:
            self.store.devices.pop(gid, None)
            self._deleted.add(gid)
            self._version += 1

    def find_devices(self, query: dict[str, Any]) -> list[DeviceRecord]:
        ids: list[str]
        if isinstance(query.get("_id"), str):
            ids = [query["_id"]]
        elif isinstance(query.get("_deviceId._SerialNumber"), str):
            serial = query["_deviceId._SerialNumber"]
            ids = [g for g in self._all_ids() if split_device_id(g)[2] == serial]
        else:
            ids = sorted(self._all_ids())
        out = []
        for gid in ids:
            rec = self.record(gid)
            if rec is not None and matches(rec.getter(self.last_inform(rec)), query):
                out.append(rec)
        return out

    def _all_ids(self) -> set[str]:
        """Every device GenieACS would list: the twin's CWMP devices and the documents it holds."""
        with self.store.lock:
            held = set(self.store.devices)
        return held | (set(self._device_index(refresh=True)) - self._deleted)

    def indexed_page(
        self, query: Any, sort: Any, skip: int, limit: int | None
    ) -> tuple[int, list[DeviceRecord]] | None:
        """``(total, page)`` for the two keyset scans an inventory sync makes, read off a sorted
        index the way MongoDB answers them from one; ``None`` for any other query (the caller then
        filters every document). Same results as the general path, only without matching 100,000
        documents per page: sort ``{"_id": 1}`` (or none: the general path lists in ``_id`` order) with
        ``{}`` or ``{"_id": {"$gt"|"$gte": X}}`` (a ``HEAD`` of ``{}`` is the sync's device count), and sort
        ``{"_lastInform": 1, "_id": 1}`` with ``{}``, ``{"_lastInform": {"$gt"|"$gte": T}}`` or
        ``{"$or": [{"_lastInform": {"$gt": T}}, {"_lastInform": T, "_id": {"$gt": X}}]}``."""
        if not isinstance(query, dict) or not (sort is None or isinstance(sort, dict)):
            return None
        if not sort or sort == {"_id": 1}:  # no sort: the general path lists in _id order too
            order = "id"
        elif sort == {"_lastInform": 1, "_id": 1}:
            order = "inform"
        else:
            return None
        keys, recs = self._order(order)
        try:
            start = _keyset_start(query, order, keys)
        except QueryError:
            return None
        if start is None:
            return None
        total = len(recs) - start
        begin = start + max(skip, 0)
        return total, recs[begin:begin + limit] if limit else recs[begin:]

    def _order(self, order: str) -> tuple[list[Any], list[DeviceRecord]]:
        """The sorted index, rebuilt when a document appeared, went or informed (or, when twin
        devices are listed, after a second: the twin changes under other processes too)."""
        with self._lock:
            cached = self._orders.get(order)
        now = self.clock()
        twin_backed = bool(self._index)
        if cached is not None and cached[0] == self._version and not (twin_backed and now - cached[1] > 1.0):
            return cached[2], cached[3]
        version = self._version
        recs = [r for g in self._all_ids() if (r := self.record(g)) is not None]
        if order == "id":
            recs.sort(key=lambda r: r.id)
            keys: list[Any] = [r.id for r in recs]
        else:
            pairs = sorted(((_ms(self.last_inform(r)), r.id), r) for r in recs)
            keys, recs = [k for k, _ in pairs], [r for _, r in pairs]
        with self._lock:
            self._orders[order] = (version, now, keys, recs)
        return keys, recs

    # ------------------------------------------------------------------ sessions
    def gate(self, gid: str) -> SessionGate:
        with self._lock:
            gate = self._gates.get(gid)
            if gate is None:
                gate = self._gates[gid] = SessionGate()
            return gate

    def _cpe(self, rec: DeviceRecord) -> SimulatedCpe:
        return SimulatedCpe(self.twin, rec.twin_id, clock=self.clock)

    def connection_request(self, gid: str) -> str:
        """Send a connection request; on success the CPE opens a session (in the background)
        unless it is already opening or holding one (then it ignores the request)."""
        rec = self.record(gid)
        if rec is None:
            return "No such device"
        cpe = self._cpe(rec)
        gate = self.gate(gid)
        status = "Device is offline" if gate.booting_until > self.clock() else cpe.connection_request()
        with gate.cond:
            ignored = not status and gate.cpe_busy
            if not status and not ignored:
                gate.cpe_busy = True
        result = status or ("accepted, ignored: already in a session" if ignored else "accepted")
        self._log({"device": gid, "rpc": "ConnectionRequest", "ts": self.clock(), "result": result})
        if status or ignored:
            return status
        delay = max(CONNECTION_REQUEST_RTT_S, cpe.session_delay_s())
        t = threading.Thread(target=self._session_thread, args=(gid, ["6 CONNECTION REQUEST"], delay), daemon=True)
        t.start()
        return ""

    def _session_thread(self, gid: str, events: list[str], delay: float) -> None:
        """The CPE opens a session: Inform, and on 400 "CPE already in session" retry later."""
        gate = self.gate(gid)
        try:
            if delay > 0 and self._stop.wait(delay):
                return
            while not self._stop.is_set():
                if gate.acquire("session", 0):
                    try:
                        self._session_locked(gid, events)
                    finally:
                        gate.release()
                    return
                self._log({"device": gid, "rpc": "Inform", "events": list(events), "ts": self.clock(),
                           "result": "400 CPE already in session"})
                if self._stop.wait(self.cpe_retry_s):
                    return
        except Exception:  # a crashed session must not take the server down
            log.exception("session for %s failed", gid)
        finally:
            with gate.cond:
                gate.cpe_busy = False

    def run_session(self, gid: str, events: Sequence[str]) -> SessionReport | None:
        """Run one session now, waiting for the lock (the test hook ``/_gateward/inform`` and the
        periodic ticker); ``None`` if the CPE is offline or rebooting."""
        rec = self.record(gid, register=True)
        if rec is None:
            return None
        gate = self.gate(gid)
        if gate.booting_until > self.clock():
            return None
        gate.acquire("session", None)
        try:
            return self._session_locked(gid, list(events))
        finally:
            gate.release()

    def _session_locked(self, gid: str, events: list[str]) -> SessionReport | None:
        rec = self.record(gid, register=True)
        if rec is None or not rec.twin_id:  # a bulk-loaded listing has no CPE to hold a session with
            return None
        self._version += 1
        cpe = self._cpe(rec)
        if not cpe.online():
            return None
        session = AcsSession(
            self.store, rec, cpe, events, twin=self.twin, files_url=self.files_url, log=self._log, clock=self.clock
        )
        report = session.run()
        hold = self.before_session_end
        if hold is not None:
            hold(gid)
        with self.store.lock:  # GenieACS saves the document, _lastInform = the session's start, at its end
            rec.saved_inform = session.started
            self._version += 1
        for action, args in session.after:
            t = threading.Thread(target=self._after_session, args=(gid, action, args), daemon=True)
            t.start()
        return report

    def _after_session(self, gid: str, action: str, args: dict[str, Any]) -> None:
        """What the CPE does once the session closed: act, stay down ``boot_s``, inform again."""
        rec = self.record(gid)
        if rec is None or self._stop.is_set():
            return
        cpe = self._cpe(rec)
        if action == "download":
            follow_events = self._transfer(rec, cpe, args)
            if follow_events is None:
                return  # no reboot: the CPE's next session (an inform, a connection request) carries it
            action, args = "informed", {"events": follow_events}
        gate = self.gate(gid)
        with gate.cond:
            gate.cpe_busy = True
            gate.booting_until = self.clock() + self.boot_s
        try:
            if action == "reboot":
                cpe.reboot(str(args.get("command_key", "")))
                follow = ["1 BOOT", "M Reboot"]
            elif action == "factory_reset":
                cpe.factory_reset()
                follow = ["0 BOOTSTRAP", "1 BOOT"]
            else:
                follow = list(args.get("events", ["1 BOOT"]))
            if self._stop.wait(self.boot_s):
                return
        except Exception:
            log.exception("after-session %s of %s failed", action, gid)
            with gate.cond:
                gate.cpe_busy = False
            return
        finally:
            with gate.cond:
                gate.booting_until = 0.0
        self._session_thread(gid, follow, 0.0)

    def _transfer(self, rec: DeviceRecord, cpe: SimulatedCpe, args: dict[str, Any]) -> list[str] | None:
        """The CPE fetches the image from the file server and installs it; its TransferComplete is
        queued for its next session. Returns the events of the session it opens itself after
        rebooting into the image, or None when it did not reboot: a failed transfer, or a device that
        does what genieacs-sim does (the twin's ``download_not_installed``) — TransferComplete
        FaultCode 0, no reboot, SoftwareVersion unchanged, nothing sent until its next session. A
        file the server does not have is genieacs-sim's ``9016 Unexpected response 404``."""
        start = self.clock()
        code, text, booted = 0, "", False
        if not args.get("found"):
            code, text = 9016, "Unexpected response 404"
        else:
            before = cpe.state().boot_count
            try:
                cpe.download(str(args.get("file_type", "")), str(args["url"]), str(args.get("version", "")))
            except CpeFault as f:
                code, text = f.code, f.message
            booted = cpe.state().boot_count != before
        with self.store.lock:
            rec.transfers.append({"command_key": args["command_key"], "fault_code": code, "fault_string": text,
                                  "start": start, "complete": self.clock()})
        return ["1 BOOT", "7 TRANSFER COMPLETE", "M Download"] if booted else None

    def inform(self, device: str, events: Sequence[str] = ("2 PERIODIC",)) -> SessionReport | None:
        """Make ``device`` (GenieACS or twin id) inform now: its queued tasks run."""
        return self.run_session(self._resolve(device), events)

    def _log(self, entry: dict[str, Any]) -> None:
        self.rpcs.append(entry)

    def rpc_log(self, device: str | None = None) -> list[dict[str, Any]]:
        gid = self._resolve(device) if device else None
        return [e for e in list(self.rpcs) if gid is None or e.get("device") == gid]

    def _tick(self) -> None:
        """Periodic informs of the devices the NBI knows (each at its PeriodicInformInterval)."""
        assert self.tick_s is not None
        while not self._stop.wait(self.tick_s):
            with self.store.lock:
                records = list(self.store.devices.values())
            for rec in records:
                if self._stop.is_set():
                    return
                if not rec.twin_id:
                    continue
                try:
                    root = "InternetGatewayDevice." if "InternetGatewayDevice" in rec.objects else "Device."
                    leaf = rec.params.get(root + "ManagementServer.PeriodicInformInterval")
                    interval = (
                        float(leaf.value) if leaf is not None and isinstance(leaf.value, int) else DEFAULT_PERIODIC_S
                    )
                    if self.clock() - self.last_inform(rec) >= max(interval, 1.0) and self._cpe(rec).online():
                        self.run_session(rec.id, ["2 PERIODIC"])
                except Exception:
                    log.exception("periodic inform of %s failed", rec.id)

    # ------------------------------------------------------------------ tasks
    def post_task(
        self, gid: str, raw: Any, *, connection_request: bool, timeout_ms: int | None
    ) -> tuple[int, str, Any]:
        """The ``POST /devices/<id>/tasks`` flow of GenieACS 1.2.16 ``lib/nbi.ts``: (status, reason, body)."""
        rec = self.record(gid)
        if rec is None:
            return 404, "Not Found", "No such device"
        sanitize_task(raw)
        task = dict(raw)
        task["device"] = gid
        if not connection_request:
            self._insert(task)
            return 202, "Accepted", FakeStore.task_json(task)
        gate = self.gate(gid)
        if not gate.acquire("nbi", self.lock_wait_s):
            self._insert(task)
            return 202, "Task queued but not processed", FakeStore.task_json(task)
        try:
            self._insert(task)
            mark = gate.started
        finally:
            gate.release()
        body = FakeStore.task_json(task)
        asked = time.monotonic()
        status = self.connection_request(gid)
        if status:
            return 202, status, body
        threshold = (timeout_ms if timeout_ms and timeout_ms > 0 else self.online_threshold_ms) / 1000.0
        with gate.cond:  # awaitSessionStart: _lastInform moved, or a session holds the lock
            started = gate.cond.wait_for(lambda: gate.started > mark or gate.active, max(0.0, threshold))
        if not started or not gate.wait_end(self.session_end_wait_s):
            return 202, "Task queued but not processed", body
        if self.poll_s:  # seen at GenieACS's next poll: never before the first, 500 ms after asking
            polls = max(1, math.ceil((time.monotonic() - asked) / self.poll_s))
            self._stop.wait(max(0.0, asked + polls * self.poll_s - time.monotonic()))
        with self.store.lock:
            faulted = fault_id(gid, task["_id"]) in self.store.faults
        self._maybe_restart("after_session")
        if faulted:
            return 202, "Task faulted", body
        return 200, "OK", body  # 1.2.16 does not check that the task left the queue

    def _insert(self, task: dict[str, Any]) -> None:
        self.store.insert_task(task, self.clock())
        with self._lock:
            crash, self._crash_after_queue = self._crash_after_queue > 0, max(0, self._crash_after_queue - 1)
        if crash:
            raise WorkerCrash("injected: the worker died after the task was queued", graceful=False)
        self._maybe_restart("after_queue")

    def _maybe_restart(self, when: str) -> None:
        """An armed restart (:meth:`restart_on_next_task`) at this point of a task's POST: the process
        dies with the request unanswered — its connection dropped, every other one too — and is
        back on the same port ``down_s`` later. GenieACS's tasks live in MongoDB and its sessions in
        the CWMP service, so what was queued stays queued and a session that ran stays run."""
        with self._lock:
            armed = self._restart_armed
            if armed is None or armed[0] != when:
                return
            self._restart_armed = None
        threading.Thread(target=self._restart, args=(armed[1],), daemon=True).start()
        raise WorkerCrash(f"injected: the NBI restarted {when.replace('_', ' ')}", graceful=False)

    def restart_on_next_task(self, down_s: float, *, when: str = "after_session") -> None:
        """Arm a restart of the NBI at the next task's POST: ``after_queue`` (the task stored, no
        connection request made) or ``after_session`` (the CPE's session ran it, the answer lost)."""
        if when not in ("after_queue", "after_session"):
            raise ValueError(f"restart {when!r}: after_queue or after_session")
        with self._lock:
            self._restart_armed = (when, down_s)

    def _restart(self, down_s: float) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.stop()
        time.sleep(down_s)
        self.start(port=port)

    # ------------------------------------------------------------------ failure injection
    def inject_nbi_failure(self, mode: str, count: int = 1, delay_s: float = 0.0, after: int = 0) -> None:
        """Make the next ``count`` requests fail: ``http500``, ``drop`` (close, no answer), ``delay``,
        or ``crash_after_queue`` (the next task POSTs are queued, then the worker dies unanswered).
        ``after``: answer that many requests normally first (a failure mid-scan, wherever the
        scan's requests come from: this process or another)."""
        if mode == "crash_after_queue":
            with self._lock:
                self._crash_after_queue += max(1, count)
            return
        if mode not in ("http500", "drop", "delay"):
            raise ValueError(f"unknown NBI failure {mode!r}; known: http500, drop, delay, crash_after_queue")
        with self._lock:
            self._failures.append(NbiFailure(mode, max(1, count), delay_s, max(0, after)))

    def take_failure(self) -> NbiFailure | None:
        with self._lock:
            self.requests += 1
            if not self._failures:
                return None
            f = self._failures[0]
            if f.after > 0:
                f.after -= 1
                return None
            f.remaining -= 1
            if f.remaining <= 0:
                self._failures.popleft()
            return f

    # ------------------------------------------------------------------ server
    def start(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> str:
        """Serve HTTP(S) in background threads; returns the base URL."""
        self._stop.clear()  # started again after a stop(): sessions run again
        handler = type("BoundHandler", (_Handler,), {"nbi": self})
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        if ssl_context is not None:
            server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{server.server_address[1]}"
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        self._threads.append(t)
        if self.tick_s:
            ticker = threading.Thread(target=self._tick, daemon=True)
            ticker.start()
            self._threads.append(ticker)
        return self.url

    def stop(self) -> None:
        """Go down as a real NBI process does: stop listening and drop every open connection (an
        idle keep-alive connection must not go on being served by its handler thread)."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads.clear()

    def __enter__(self) -> FakeNbi:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------- HTTP


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GenieACS/1.2-gateward-fake"
    sys_version = ""
    wbufsize = 1 << 16  # one write per response (flushed by handle_one_request), no Nagle stalls
    nbi: FakeNbi

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.nbi._lock:
            self.nbi._conns.add(self.connection)

    def finish(self) -> None:
        with self.nbi._lock:
            self.nbi._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ helpers
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(
        self,
        code: int,
        body: Any = b"",
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(code, reason)
        self.send_header("GenieACS-Version", VERSION)
        if not isinstance(body, bytes | str):
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _list(self, items: list[Any], head_only: bool, total: int | None = None) -> None:
        """The query answer: ``total`` is how many documents match the query, before ``skip`` and
        ``limit`` (``cursor.count()`` in ``lib/nbi.ts``), not how many this page holds."""
        try:  # orjson: ~7x faster than json.dumps on a 1,000-device page; json.dumps for what orjson refuses
            body = b"[\n" + b",\n".join(orjson.dumps(i) for i in items) + b"\n]"
        except (TypeError, orjson.JSONEncodeError):
            body = ("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("total", str(len(items) if total is None else total))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ routing
    def _dispatch(self, method: str) -> None:
        nbi = self.nbi
        failure = nbi.take_failure()
        if failure is not None:
            if failure.mode == "drop":
                self._body()
                self.close_connection = True
                return
            if failure.mode == "http500":
                self._body()
                self._send(
                    500,
                    "Error: injected failure (MongoServerError: connection pool closed)",
                    headers={"Connection": "close"},
                )
                self.close_connection = True
                return
            time.sleep(failure.delay_s)
        if nbi.require_auth is not None and self.headers.get("Authorization") != nbi.require_auth:
            self._body()
            self._send(401, "Unauthorized", headers={"WWW-Authenticate": 'Basic realm="GenieACS NBI"'})
            return
        url = urlsplit(self.path)
        path = url.path
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            for name, rx in ROUTES.items():
                m = rx.match(path)
                if m:
                    getattr(self, f"_r_{name}")(method, m, q)
                    return
            self._body()
            self._send(404, "404 Not Found")
        except WorkerCrash as crash:
            log.error("NBI worker crashed on %s %s: %s (no answer sent)", method, path, crash)
            if crash.graceful:  # no answer: hold the connection until the client gives up (or we stop)
                with contextlib.suppress(OSError):
                    self.connection.settimeout(nbi.crash_hang_s)
                    self.connection.recv(1)
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # GenieACS's throwError: a 500 with the error, then the connection closes
            log.exception("NBI request %s %s failed", method, path)
            with contextlib.suppress(OSError):
                self._send(500, f"{type(exc).__name__}: {exc}", headers={"Connection": "close"})
            self.close_connection = True

    def _r_device_tasks(self, method: str, m: Any, q: dict[str, str]) -> None:
        body = self._body()
        if method != "POST":
            self._send(405, "405 Method Not Allowed", headers={"Allow": "POST"})
            return
        gid = unquote(m.group(1))
        nbi = self.nbi
        if body:
            try:
                task = json.loads(body)
            except json.JSONDecodeError as exc:
                self._send(400, f"SyntaxError: {exc.msg}")
                return
            timeout = q.get("timeout")
            timeout_ms = int(timeout) if timeout and timeout.lstrip("-").isdigit() else None
            code, reason, out = nbi.post_task(
                gid, task, connection_request="connection_request" in q, timeout_ms=timeout_ms
            )
            self._send(code, out, reason=reason)
            return
        if "connection_request" in q:
            if nbi.record(gid) is None:
                self._send(404, "No such device")
                return
            status = nbi.connection_request(gid)
            if status:
                self._send(504, status, reason=status)
            else:
                self._send(200)
            return
        self._send(400)

    def _r_task(self, method: str, m: Any, q: dict[str, str]) -> None:
        self._body()
        nbi = self.nbi
        tid = unquote(m.group(1))
        action = m.group(2)
        store = nbi.store
        if not action or action == "/":
            if method != "DELETE":
                self._send(405, "405 Method Not Allowed", headers={"Allow": "PUT DELETE"})
                return
            with store.lock:
                task = store.tasks.get(tid)
            if task is None:
                self._send(404, "Task not found")
                return
            # lib/nbi.ts: the delete takes the device's cwmp_session lock (waiting up to 5 s), so a task
            # is never deleted under a session that may be running it; a 200 means it never ran
            gate = nbi.gate(task["device"])
            if not gate.acquire("nbi", nbi.lock_wait_s):
                self._send(503, "Device is in session")
                return
            try:
                with store.lock:
                    task = store.tasks.pop(tid, None)
                    if task is not None:
                        store.faults.pop(fault_id(task["device"], tid), None)
            finally:
                gate.release()
            # 200 even when the session that held the lock ran the task meanwhile (GenieACS found it
            # before waiting, and its deleteOne of nothing is no error): a 200 alone does not prove
            # the task never ran
            self._send(200)
        elif action == "/retry":
            if method != "POST":
                self._send(405, "405 Method Not Allowed", headers={"Allow": "POST"})
                return
            with store.lock:
                task = store.tasks.get(tid)
                if task is not None:
                    store.faults.pop(fault_id(task["device"], tid), None)
            self._send(200 if task is not None else 404, "" if task is not None else "Task not found")
        else:
            self._send(404)

    def _r_tags(self, method: str, m: Any, q: dict[str, str]) -> None:
        self._body()
        gid, tag = unquote(m.group(1)), unquote(m.group(2))
        if method not in ("POST", "DELETE"):
            self._send(405, "405 Method Not Allowed", headers={"Allow": "POST, DELETE"})
            return
        rec = self.nbi.record(gid)
        if rec is not None:
            with self.nbi.store.lock:
                if method == "POST" and tag not in rec.tags:
                    rec.tags.append(tag)
                elif method == "DELETE" and tag in rec.tags:
                    rec.tags.remove(tag)
        self._send(200)  # MongoDB updateOne matching nothing is not an error

    def _r_named(self, method: str, m: Any, q: dict[str, str]) -> None:
        body = self._body()
        coll, name = _camel(m.group(1)), unquote(m.group(2))
        docs = self.nbi.store.named[coll]
        if method == "PUT":
            if coll in ("provisions", "virtualParameters"):
                doc: Any = {"_id": name, "script": body.decode("utf-8", "replace")}
            else:
                try:
                    doc = json.loads(body or b"null")
                except json.JSONDecodeError as exc:
                    self._send(400, f"SyntaxError: {exc.msg}")
                    return
                if not isinstance(doc, dict):
                    self._send(400, "TypeError: expected an object")
                    return
                doc["_id"] = name
            with self.nbi.store.lock:
                docs[name] = doc
            self._send(200)
        elif method == "DELETE":
            with self.nbi.store.lock:
                docs.pop(name, None)
            self._send(200)
        else:
            self._send(405, "405 Method Not Allowed", headers={"Allow": "PUT, DELETE"})

    def _r_file(self, method: str, m: Any, q: dict[str, str]) -> None:
        body = self._body()
        name = unquote(m.group(1))
        files = self.nbi.store.files
        if method == "PUT":
            meta = {
                "fileType": self.headers.get("fileType"),
                "oui": self.headers.get("oui"),
                "productClass": self.headers.get("productClass"),
                "version": self.headers.get("version"),
            }
            with self.nbi.store.lock:
                files[name] = {
                    "_id": name,
                    "filename": name,
                    "length": len(body),
                    "uploadDate": iso(self.nbi.clock()),
                    "metadata": meta,
                }
            self._send(201)
        elif method == "DELETE":
            with self.nbi.store.lock:
                gone = files.pop(name, None)
            self._send(200 if gone else 404, "" if gone else "404 Not Found")
        else:
            self._send(405, "405 Method Not Allowed", headers={"Allow": "PUT, DELETE"})

    def _r_fault(self, method: str, m: Any, q: dict[str, str]) -> None:
        self._body()
        if method != "DELETE":
            self._send(405, "405 Method Not Allowed", headers={"Allow": "DELETE"})
            return
        fid = unquote(m.group(1))
        device, _, channel = fid.partition(":")
        store = self.nbi.store
        gate = self.nbi.gate(device)  # api-functions.ts deleteFault: under the device's session lock
        if not gate.acquire("nbi", self.nbi.lock_wait_s):
            self._send(503, "Device is in session")
            return
        try:
            with store.lock:
                store.faults.pop(fid, None)
                if channel.startswith("task_"):
                    store.tasks.pop(channel[5:], None)
        finally:
            gate.release()
        self._send(200)

    def _r_device(self, method: str, m: Any, q: dict[str, str]) -> None:
        self._body()
        if method != "DELETE":
            self._send(405, "405 Method Not Allowed", headers={"Allow": "DELETE"})
            return
        gid = unquote(m.group(1))
        nbi = self.nbi
        nbi.forget_device(gid)
        with nbi.store.lock:
            for tid in [t for t, v in nbi.store.tasks.items() if v["device"] == gid]:
                del nbi.store.tasks[tid]
            for fid in [f for f in nbi.store.faults if f.startswith(gid + ":")]:
                del nbi.store.faults[fid]
        self._send(200)

    def _r_query(self, method: str, m: Any, q: dict[str, str]) -> None:
        self._body()
        coll = _camel(m.group(1))
        if method not in ("GET", "HEAD"):
            self._send(405, "405 Method Not Allowed", headers={"Allow": "GET, HEAD"})
            return
        if coll not in COLLECTIONS:
            self._send(404, "404 Not Found")
            return
        try:
            query = json.loads(q["query"]) if q.get("query") else {}
            sort = json.loads(q["sort"]) if q.get("sort") else None
        except json.JSONDecodeError as exc:
            self._send(400, f"SyntaxError: {exc.msg}")
            return
        projection = [p.strip() for p in q["projection"].split(",") if p.strip()] if q.get("projection") else None
        skip = int(q["skip"]) if q.get("skip", "").isdigit() else 0
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else None
        page = self.nbi.indexed_page(query, sort, skip, limit) if coll == "devices" else None
        if page is not None:
            total, recs = page
            if method == "HEAD":  # GenieACS answers a HEAD with the count alone, before reading a document
                self._list([], head_only=True, total=total)
                return
            with self.nbi.store.lock:
                items = [listing_json(r, self.nbi.last_inform(r), projection) for r in recs]
            self._list(items, head_only=False, total=total)
            return
        try:
            items = self._collection(coll, query, projection, sort)
        except QueryError as exc:
            self._send(400, f"MongoServerError: {exc}")
            return
        total = len(items)
        items = items[skip:]
        if limit:  # MongoDB: limit 0 is no limit
            items = items[:limit]
        self._list(items, head_only=method == "HEAD", total=total)

    def _collection(self, coll: str, query: Any, projection: list[str] | None, sort: Any) -> list[Any]:
        nbi = self.nbi
        if not isinstance(query, dict):
            raise QueryError("query must be a JSON object")
        if coll == "devices":
            recs = nbi.find_devices(query)
            if isinstance(sort, dict) and sort:
                _sort(recs, sort, lambda r: r.getter(nbi.last_inform(r)))
            with nbi.store.lock:
                return [listing_json(r, nbi.last_inform(r), projection) for r in recs]
        with nbi.store.lock:
            if coll == "tasks":
                docs = [FakeStore.task_json(t) for t in nbi.store.tasks.values()]
            elif coll == "faults":
                docs = [FakeStore.fault_json(f) for f in nbi.store.faults.values()]
            elif coll == "files":
                docs = list(nbi.store.files.values())
            else:
                docs = list(nbi.store.named[coll].values())
        out = [d for d in docs if matches(nested_getter(d), query)]
        if isinstance(sort, dict) and sort:
            _sort(out, sort, nested_getter)
        return [project(d, projection) for d in out] if projection else out

    def _r_control(self, method: str, m: Any, q: dict[str, str]) -> None:
        body = self._body()
        nbi = self.nbi
        what, arg = m.group(1), unquote(m.group(2) or "")
        if what == "health":
            self._send(200, {"ok": True, "devices": len(nbi.store.devices), "tasks": len(nbi.store.tasks)})
        elif what == "inform" and method == "POST" and arg:
            events = parse_qs(urlsplit(self.path).query).get("event") or ["2 PERIODIC"]
            gid = nbi._resolve(arg)
            if nbi.record(gid, register=True) is None:
                self._send(404, "No such device")
                return
            report = nbi.run_session(gid, events)
            if report is None:
                self._send(409, {"error": "offline", "detail": "the device is offline: it cannot inform"})
                return
            self._send(
                200,
                {
                    "device": report.device_id,
                    "events": report.events,
                    "done": report.done,
                    "faulted": report.faulted,
                    "expired": report.expired,
                },
            )
        elif what == "rpcs":
            self._send(200, nbi.rpc_log(q.get("device")))
        elif what == "nbi-failure" and method == "POST":
            try:
                spec = json.loads(body or b"{}")
                nbi.inject_nbi_failure(str(spec.get("mode")), int(spec.get("count", 1)), float(spec.get("delay_s", 0)))
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": "invalid", "detail": str(exc)})
                return
            self._send(200, {"ok": True})
        else:
            self._send(404, "404 Not Found")


_NO_INFORM = datetime.min.replace(tzinfo=UTC)  # a document without _lastInform sorts first (null)
_ID_MAX = "\U0010ffff"


def _ms(ts: float | None) -> datetime:
    """An index key for ``_lastInform``: millisecond precision, like the stored date."""
    if not ts:
        return _NO_INFORM
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def _range(cond: Any, fld: str) -> tuple[str, Any] | None:
    """``("$gt"|"$gte", operand)`` when ``cond`` is exactly one lower bound, else ``None``."""
    if isinstance(cond, dict) and len(cond) == 1:
        op, operand = next(iter(cond.items()))
        if op in ("$gt", "$gte"):
            return op, normalize_date(fld, operand) if fld == "_lastInform" else operand
    return None


def _keyset_start(query: dict[str, Any], order: str, keys: list[Any]) -> int | None:
    """Where in the sorted index the documents matching ``query`` begin, when every document from
    there on matches (a pure lower bound in index order); ``None`` for any other query."""
    if not query:
        return 0
    if order == "id":
        bound = _range(query.get("_id"), "_id") if len(query) == 1 else None
        if bound is None or not isinstance(bound[1], str):
            return None
        return (bisect.bisect_right if bound[0] == "$gt" else bisect.bisect_left)(keys, bound[1])
    if len(query) == 1 and "_lastInform" in query:
        bound = _range(query["_lastInform"], "_lastInform")
        if bound is None or not isinstance(bound[1], datetime):
            return None
        if bound[0] == "$gt":
            return bisect.bisect_right(keys, (bound[1], _ID_MAX))
        return bisect.bisect_left(keys, (bound[1], ""))
    branches = query.get("$or") if len(query) == 1 else None
    if not isinstance(branches, list) or len(branches) != 2:
        return None
    later = next((b for b in branches if isinstance(b, dict) and set(b) == {"_lastInform"}), None)
    tie = next((b for b in branches if isinstance(b, dict) and set(b) == {"_lastInform", "_id"}), None)
    if later is None or tie is None:
        return None
    bound = _range(later["_lastInform"], "_lastInform")
    after_id = _range(tie["_id"], "_id")
    at = normalize_date("_lastInform", tie["_lastInform"]) if not isinstance(tie["_lastInform"], dict) else None
    if bound is None or bound[0] != "$gt" or after_id is None or after_id[0] != "$gt" or at != bound[1]:
        return None
    if not isinstance(at, datetime) or not isinstance(after_id[1], str):
        return None
    return bisect.bisect_right(keys, (at, after_id[1]))


def _sort(items: list[Any], sort: dict[str, Any], getter_of: Callable[[Any], Callable[[str], list[Any]]]) -> None:
    """MongoDB-style multi-key sort in place (1 ascending, -1 descending)."""
    for fld, direction in reversed(list(sort.items())):

        def key(item: Any, f: str = fld) -> tuple[int, Any]:
            return _sort_key(getter_of(item)(f))

        items.sort(key=key, reverse=direction == -1)


def _sort_key(values: list[Any]) -> tuple[int, Any]:
    if not values or values[0] is None:
        return (0, "")
    v = values[0]
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, int | float):
        return (2, v)
    return (3, str(v))


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testing.genieacs.fake_nbi",
        description="A local GenieACS NBI over the Gateward digital twin (for tests and demos).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7557)
    parser.add_argument("--database-url", default=None, help="the twin's database (default: GATEWARD_SIM_DATABASE_URL)")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM key for --tls-cert")
    parser.add_argument("--require-auth", default=None, help="exact Authorization header value to demand")
    parser.add_argument("--tick", type=float, default=30.0, help="seconds between periodic-inform checks (0: off)")
    parser.add_argument("--poll", type=float, default=0.0,
                        help="answer a task at GenieACS's next session poll (0.5 as a real one; 0: at once)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        twin = Twin(args.database_url)
    except Exception as exc:
        print(f"error: cannot open the twin database: {exc}", file=sys.stderr)
        return 2
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    nbi = FakeNbi(twin, tick_s=args.tick or None, require_auth=args.require_auth, poll_s=args.poll or None)
    try:
        url = nbi.start(args.host, args.port, ctx)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"fake GenieACS NBI on {url} over {twin.count()} simulated devices (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        nbi.stop()
        twin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["FakeNbi", "NbiFailure", "SessionGate", "WorkerCrash", "main", "sanitize_task"]
