"""One CWMP session as GenieACS runs it, for the fake NBI: inform, then the queued tasks.

Why these rules and not simpler ones — each is what GenieACS does (``lib/cwmp.ts``,
``lib/session.ts``) and each changes what a caller must do:

* The task list is read when the session starts; tasks run one at a time in insertion order.
  A faulted task stays queued with a fault ``<deviceId>:task_<id>`` and blocks only itself —
  unless the task has an ``expiry`` still ahead: then the next session deletes the fault and runs
  the task again (GenieACS 1.2.16, seen by hand); an expired task is dropped unrun.
* ``getParameterValues`` / ``refreshObject`` refresh the cache from the CPE (a name that does
  not exist is silently forgotten — no fault) — unless the cache already holds the name with a
  ``_timestamp`` inside the current refresh interval (one second, aligned to a per-device offset,
  ``lib/default-provisions.ts`` ``refresh``): then no RPC is sent and the old value and
  ``_timestamp`` stay. Every value learnt or set in a session carries the session's timestamp
  (plus one millisecond per RPC, as ``sessionContext.timestamp + iteration``).
* ``setParameterValues`` becomes ``value`` declarations: a parameter GenieACS has never seen is
  discovered first; a parameter that does not exist or is not writable is **skipped silently**;
  the value is converted to the *cached* type (the task's ``xsd:`` type is dropped); a value
  equal to the **cached** one is **not sent**; the rest go out in SetParameterValues RPCs of at
  most 32 parameters with an **empty ParameterKey**; the CPE's Status (0/1) is not recorded;
  after success the cache holds the value that was sent, not a read-back. A 9005 fault from the
  CPE is "recovered": the names are forgotten and the Set is retried without them.
* Reboot, FactoryReset and Download take effect after the session; the CPE then informs again
  (``1 BOOT``/``M Reboot``, ``0 BOOTSTRAP``, ``1 BOOT``/``7 TRANSFER COMPLETE``/``M Download``).
* A download task is *done* when the CPE answers DownloadResponse (Status 1): GenieACS answers the
  task 200 and keeps an operation awaiting the CPE's TransferComplete, which arrives in a later
  session, right after its Inform (``lib/session.ts`` ``transferComplete``). FaultCode 0 sets
  ``Downloads.<i>.LastDownload`` (to the download's time), ``LastFileName`` …; any other code puts
  ``Downloads.<i>.Download`` back and records ``cwmp.<code>`` on the task's channel — a fault
  whose task is already gone. Seen against GenieACS 1.2.16 with genieacs-sim (issue 37 item 6).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.kernel.models import Scalar
from executors.genieacs.ids import fault_id
from executors.genieacs.timing import interval_start
from testing.genieacs.cpe import CpeFault, SessionDropped, SimulatedCpe
from testing.genieacs.fake_store import CachedLeaf, DeviceRecord, FakeStore, iso

if TYPE_CHECKING:
    from executors.sim.twin import Twin

SPV_BATCH = 32  # cwmp.gpvBatchSize default
_INT_RE = re.compile(r"^\s*[+-]?\d+")
_INT_TYPES = ("xsd:int", "xsd:unsignedInt", "xsd:long", "xsd:unsignedLong")


class TaskFault(Exception):
    """A channel fault GenieACS records: ``code`` like ``cwmp.9007``."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail or {}


@dataclass
class SessionReport:
    device_id: str
    events: list[str]
    done: list[str] = field(default_factory=list)
    faulted: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    rpcs: list[dict[str, Any]] = field(default_factory=list)
    dropped: bool = False  # the CPE closed the session mid-task (its tasks stay queued)


def sanitize(value: Scalar, xsd: str) -> Scalar:
    """GenieACS's ``sanitizeParameterValue``: coerce to the cached type where it can."""
    if xsd == "xsd:boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        return value
    if xsd in _INT_TYPES:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        m = _INT_RE.match(str(value))
        return int(m.group(0)) if m else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _same(a: Scalar | None, b: Scalar) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


class AcsSession:
    """Runs one session for one device. Post-session actions are returned, not run."""

    def __init__(
        self,
        store: FakeStore,
        record: DeviceRecord,
        cpe: SimulatedCpe,
        events: list[str],
        *,
        twin: Twin,
        files_url: str,
        log: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.record = record
        self.cpe = cpe
        self.events = events
        self.twin = twin
        self.files_url = files_url.rstrip("/")
        self.log = log
        self.clock = clock
        self.report = SessionReport(record.id, list(events))
        self.after: list[tuple[str, dict[str, Any]]] = []
        self.started = clock()
        self.iteration = 0
        self.fresh_from = interval_start(self.started, record.id)

    def _ts(self) -> float:
        """The timestamp GenieACS gives what this session learns now (session start + iteration ms)."""
        self.iteration += 1
        return self.started + self.iteration / 1000.0

    def _rpc(self, name: str, **data: Any) -> None:
        entry = {"device": self.record.id, "rpc": name, "ts": self.clock(), **data}
        self.report.rpcs.append(entry)
        self.log(entry)

    # ------------------------------------------------------------------ the session
    def run(self) -> SessionReport:
        now = self.started
        self.twin.inform(self.record.twin_id, self.events)
        self._rpc("Inform", events=list(self.events))
        with self.store.lock:
            self.record.device_id = self.cpe.device_id_struct()
            for p in self.cpe.inform_parameters():
                self.record.put(p, now)
            if "1 BOOT" in self.events:
                self.record.last_boot = now
            if "0 BOOTSTRAP" in self.events:
                self.record.last_bootstrap = now
        with self.store.lock:
            transfers, self.record.transfers = self.record.transfers, []
        for tc in transfers:  # CPE requests come after the Inform, before the ACS's
            self._transfer_complete(tc)
        if "0 BOOTSTRAP" in self.events and self.store.bootstrap_refreshes_tree:
            self._refresh("")  # an operator's bootstrap preset that refreshes the whole tree
        tasks = self.store.device_tasks(self.record.id)
        for task in tasks:
            tid = task["_id"]
            channel = f"task_{tid}"
            fid = fault_id(self.record.id, tid)
            with self.store.lock:
                if task.get("expiry") is not None and task["expiry"] <= self.clock():
                    self.store.tasks.pop(tid, None)
                    self.store.faults.pop(fid, None)
                    self.report.expired.append(tid)
                    continue
                fault_left = self.store.faults.get(fid)
                if fault_left is not None:
                    if fault_left.get("expiry") is None or fault_left["expiry"] < self.clock():
                        continue
                    # GenieACS 1.2.16 deletes, when a session starts, every fault whose expiry is still
                    # ahead ("Delete expired faults" with the comparison reversed, lib/cwmp.ts
                    # processRequest) and so runs its task again: a faulted task that has an expiry is
                    # retried at each session of the device until it expires (seen against it)
                    self.store.faults.pop(fid, None)
            try:
                try:
                    self._run_task(task)
                except SessionDropped:
                    # GenieACS caches the session when the socket closes and, after its session timeout,
                    # ends it with this fault on the task's channel (lib/cwmp.ts onConnection, endSession)
                    self.report.dropped = True
                    raise TaskFault("session_terminated", "The TR-069 session was unsuccessfully terminated",
                                    {}) from None
            except TaskFault as f:
                with self.store.lock:
                    fault: dict[str, Any] = {
                        "_id": fid,
                        "device": self.record.id,
                        "channel": channel,
                        "code": f.code,
                        "message": f.message,
                        "detail": f.detail,
                        "timestamp": self.clock(),
                        "retries": 0,
                        "provisions": [[task["name"]]],
                    }
                    if "expiry" in task:
                        fault["expiry"] = task["expiry"]
                    self.store.faults[fid] = fault
                self.report.faulted.append(tid)
                if self.report.dropped:  # nothing more in a session whose CPE has gone
                    return self.report
                continue
            with self.store.lock:
                self.store.tasks.pop(tid, None)
            self.report.done.append(tid)
        self._presets()
        return self.report

    # ------------------------------------------------------------------ presets
    def _presets(self) -> None:
        """The stored presets GenieACS would run in this session, after the tasks, as far as this
        double models them: ``events`` all matching (an empty map matches every Inform), a
        ``precondition`` that is empty or ``<parameter> IS NOT NULL`` (judged on the cache), and
        configurations that are GenieACS's own ``refresh`` (``{"type": "provision", "name":
        "refresh", "args": [path, every]}`` or ``{"type": "age", ...}``) — each path refreshed, ``*``
        for any instance. Any other preset is stored, not run. What GenieACS 1.2.16 did with
        Gateward's refresh presets by hand (docs/genieacs.md): every periodic session read the
        subtrees, each value stamped just after the session's ``_lastInform``; a queued Set ran
        first, and GenieACS did not read the value it had just set again (this double reads the
        whole subtree: the value just set, stamped in the same session either way)."""
        with self.store.lock:
            presets = sorted(self.store.named["presets"].values(),
                             key=lambda p: (p.get("weight") or 0, str(p.get("_id"))))
        for preset in presets:
            events = preset.get("events") or {}
            if any(bool(want) != (code in self.events) for code, want in events.items()):
                continue
            cond = str(preset.get("precondition") or "").strip()
            if cond:
                m = re.fullmatch(r"([A-Za-z0-9_.]+) IS NOT NULL", cond)
                leaf = self.record.params.get(m.group(1)) if m else None
                if leaf is None or leaf.value is None:
                    continue
            for conf in preset.get("configurations") or []:
                if conf.get("type") == "provision" and conf.get("name") == "refresh" and conf.get("args"):
                    self._refresh_pattern(str(conf["args"][0]))
                elif conf.get("type") == "age" and conf.get("name"):
                    self._refresh_pattern(str(conf["name"]))

    def _refresh_pattern(self, pattern: str) -> None:
        """Refresh every object ``pattern`` names (``*`` for any instance the CPE has)."""
        if "*" not in pattern:
            self._refresh(pattern)
            return
        head = pattern[: pattern.index("*")].rstrip(".")
        rx = re.compile(re.escape(pattern.rstrip(".")).replace(r"\*", r"[^.]+") + r"(?=\.|$)")
        found = {m.group(0) for p in self.cpe.snapshot(head) if (m := rx.match(p))}
        for obj in sorted(found):
            self._refresh(obj)

    # ------------------------------------------------------------------ tasks
    def _run_task(self, task: dict[str, Any]) -> None:
        name = task.get("name")
        if name == "getParameterValues":
            for p in task.get("parameterNames", []):
                self._refresh(str(p))
        elif name == "refreshObject":
            self._refresh(str(task.get("objectName", "")))
        elif name == "setParameterValues":
            self._set([(str(v[0]), v[1]) for v in task.get("parameterValues", [])])
        elif name == "addObject":
            self._add_object(str(task["objectName"]), task.get("parameterValues") or [])
        elif name == "deleteObject":
            self._delete_object(str(task["objectName"]))
        elif name == "reboot":
            self._accept("reboot")
            self.after.append(("reboot", {"command_key": task["_id"]}))
            self._rpc("Reboot", commandKey=task["_id"])
        elif name == "factoryReset":
            self._accept("factory_reset")
            self.after.append(("factory_reset", {}))
            self._rpc("FactoryReset")
        elif name == "download":
            self._download(task)
        # any other name: GenieACS logs "Invalid task" and drops it

    def _accept(self, command: str) -> None:
        """The CPE's answer to a Reboot/FactoryReset RPC: a SOAP fault is recorded as GenieACS does
        (``cwmp.<code>`` on the task's channel) and nothing happens after the session."""
        try:
            self.cpe.accept_command(command)
        except CpeFault as f:
            self._rpc("Fault", code=f.code, message=f.message, detail=f.detail())
            raise TaskFault(f"cwmp.{f.code}", f.message, f.detail()) from None

    def _cached_fresh(self, name: str) -> bool:
        """The cache holds ``name`` refreshed inside this session's refresh interval."""
        rec = self.record
        with self.store.lock:
            leaf = rec.params.get(name)
            if leaf is not None:
                return leaf.ts >= self.fresh_from
            obj = rec.objects.get(name) if name else (True, min((o[1] for o in rec.objects.values()), default=0.0))
            if obj is None or obj[1] < self.fresh_from:
                return False
            base = name + "." if name else ""
            under = [p.ts for k, p in rec.params.items() if k.startswith(base)]
            return bool(under) and min(under) >= self.fresh_from

    def _refresh(self, path: str) -> None:
        name = path.rstrip(".")
        if self._cached_fresh(name):
            self._rpc("CachedRead", path=name)  # not an RPC: GenieACS answers from its cache
            return
        found = self.cpe.snapshot(name)
        self._rpc("GetParameterValues", path=name, count=len(found))
        with self.store.lock:
            self.record.refresh(name, found, self._ts())

    def _set(self, items: list[tuple[str, Scalar]]) -> None:
        for _ in range(4):  # 9005 recovery re-evaluates the declarations
            pending: list[tuple[str, Scalar, str]] = []
            for path, raw in items:
                leaf = self.record.params.get(path)
                if leaf is None:
                    self._refresh(path)  # discover a parameter the cache has never seen
                    leaf = self.record.params.get(path)
                if leaf is None or not leaf.writable:
                    continue  # does not exist / not writable: GenieACS skips it without a fault
                value = sanitize(raw, leaf.type)
                if _same(leaf.value, value):
                    continue  # equal to the cached value: nothing is sent
                pending.append((path, value, leaf.type))
            if not pending:
                self._rpc("SetParameterValues", skipped=[p for p, _ in items], parameterList=[])
                return
            try:
                for i in range(0, len(pending), SPV_BATCH):
                    batch = pending[i : i + SPV_BATCH]
                    res = self.cpe.set_parameter_values(batch, "")
                    self._rpc(
                        "SetParameterValues",
                        parameterKey="",
                        parameterList=[[p, v, t] for p, v, t in batch],
                        status=res.status,
                    )
                    now = self._ts()
                    with self.store.lock:
                        for p, v, t in batch:
                            self.record.put_value(p, v, t, now)
                return
            except CpeFault as f:
                self._rpc("Fault", code=f.code, message=f.message, detail=f.detail())
                if f.code == 9005:
                    with self.store.lock:
                        for p, _, _ in pending:
                            self.record.forget(p)
                    continue
                raise TaskFault(f"cwmp.{f.code}", f.message, f.detail()) from None
        raise TaskFault("too_many_commits", "Too many commit iterations")

    def _add_object(self, object_name: str, values: list[Any]) -> None:
        table = object_name.rstrip(".") + "."
        try:
            n, _status = self.cpe.add_object(table, "")
        except CpeFault as f:
            raise TaskFault(f"cwmp.{f.code}", f.message, f.detail()) from None
        self._rpc("AddObject", objectName=table, instanceNumber=n)
        self._refresh(f"{table}{n}")
        if values:
            self._set([(f"{table}{n}.{v[0]}", v[1]) for v in values if isinstance(v, list) and len(v) >= 2])

    def _delete_object(self, object_name: str) -> None:
        inst = object_name.rstrip(".")
        if not self.cpe.snapshot(inst):
            return  # "instances" provision with nothing to delete: done, no fault
        try:
            self.cpe.delete_object(inst + ".", "")
        except CpeFault as f:
            raise TaskFault(f"cwmp.{f.code}", f.message, f.detail()) from None
        self._rpc("DeleteObject", objectName=inst + ".")
        with self.store.lock:
            self.record.forget(inst)

    def _download(self, task: dict[str, Any]) -> None:
        """The Download RPC, as GenieACS declares it: a ``Downloads.<i>`` instance for the file
        (reused for the same file type and name) whose ``Download`` becomes this session's time, an
        operation awaiting the TransferComplete, and the CPE's transfer after the session. The
        task itself is done: the CPE answered Status 1."""
        name, file_type = str(task.get("fileName", "")), str(task.get("fileType", ""))
        url = f"{self.files_url}/{name}"
        command_key = str(task["_id"])
        ts = self._ts()
        with self.store.lock:
            inst = self._download_instance(file_type, name, ts)
            self._leaf(f"Downloads.{inst}.Download", _stamp(ts), "xsd:dateTime", ts, writable=True)
            self.store.operations[(self.record.id, command_key)] = {
                "task": command_key, "instance": inst, "timestamp": ts, "fileType": file_type, "fileName": name,
            }
            meta = self.store.files.get(name)
        self._rpc("Download", fileType=file_type, url=url, commandKey=command_key)
        version = "" if meta is None else str(meta.get("metadata", {}).get("version") or name.rsplit(".", 1)[0])
        self.after.append(("download", {"command_key": command_key, "file_type": file_type, "url": url,
                                        "version": version, "found": meta is not None}))

    def _download_instance(self, file_type: str, name: str, ts: float) -> int:
        """The ``Downloads.<i>`` for this file type and name, created with GenieACS's defaults."""
        found = sorted({int(p.split(".")[1]) for p in self.record.params
                        if p.startswith("Downloads.") and p.split(".")[1].isdigit()})
        for i in found:
            rec = self.record.params
            if (rec.get(f"Downloads.{i}.FileType") and rec[f"Downloads.{i}.FileType"].value == file_type
                    and rec.get(f"Downloads.{i}.FileName") and rec[f"Downloads.{i}.FileName"].value == name):
                return i
        inst = (found[-1] + 1) if found else 1
        epoch = _stamp(0.0)
        for leaf, value, xsd, writable in (
            ("FileType", file_type, "xsd:string", True), ("FileName", name, "xsd:string", True),
            ("TargetFileName", "", "xsd:string", True), ("Download", epoch, "xsd:dateTime", True),
            ("LastFileType", "", "xsd:string", False), ("LastFileName", "", "xsd:string", False),
            ("LastTargetFileName", "", "xsd:string", False), ("LastDownload", epoch, "xsd:dateTime", False),
            ("StartTime", epoch, "xsd:dateTime", False), ("CompleteTime", epoch, "xsd:dateTime", False),
        ):
            self._leaf(f"Downloads.{inst}.{leaf}", value, xsd, ts, writable=writable)
        return inst

    def _leaf(self, path: str, value: Scalar, xsd: str, ts: float, *, writable: bool) -> None:
        self.record.params[path] = CachedLeaf(value, xsd, writable, ts)
        self.record.objects.setdefault("Downloads", (True, ts))
        self.record.objects.setdefault(path.rsplit(".", 1)[0], (True, ts))

    def _transfer_complete(self, tc: dict[str, Any]) -> None:
        """GenieACS's ``transferComplete``: the operation it matches is settled — FaultCode 0 records
        the download on the document, any other code reverts ``Download`` and faults the channel."""
        key, code = str(tc["command_key"]), int(tc.get("fault_code", 0))
        self._rpc("TransferComplete", commandKey=key, faultCode=code, faultString=str(tc.get("fault_string", "")))
        ts = self._ts()
        with self.store.lock:
            op = self.store.operations.pop((self.record.id, key), None)
            if op is None:
                return  # GenieACS answers TransferCompleteResponse and records nothing
            base = f"Downloads.{op['instance']}."
            if code:
                last = self.record.params.get(base + "LastDownload")
                self._leaf(base + "Download", last.value if last else _stamp(0.0), "xsd:dateTime", ts, writable=True)
                fid = fault_id(self.record.id, op["task"])
                self.store.faults[fid] = {
                    "_id": fid, "device": self.record.id, "channel": f"task_{op['task']}", "code": f"cwmp.{code}",
                    "message": str(tc.get("fault_string", "")),
                    "detail": {"faultCode": str(code), "faultString": str(tc.get("fault_string", "")),
                               "setParameterValuesFault": None},
                    "timestamp": op["timestamp"], "retries": 0,
                    "provisions": [["download", op["fileType"], op["fileName"], ""]],
                }
                return
            for leaf, value, xsd in (
                ("LastDownload", _stamp(op["timestamp"]), "xsd:dateTime"),
                ("LastFileType", op["fileType"], "xsd:string"),
                ("LastFileName", op["fileName"], "xsd:string"), ("LastTargetFileName", "", "xsd:string"),
                ("StartTime", _stamp(float(tc["start"])), "xsd:dateTime"),
                ("CompleteTime", _stamp(float(tc["complete"])), "xsd:dateTime"),
            ):
                self._leaf(base + leaf, value, xsd, ts, writable=False)


def _stamp(ts: float) -> str:
    """A GenieACS ``xsd:dateTime`` value (``2026-11-26T01:20:39.416Z``)."""
    return iso(ts) or ""


__all__ = ["SPV_BATCH", "AcsSession", "SessionReport", "TaskFault", "sanitize"]
