"""The simulator adapter: the executor contract (``executors.base``) served by the digital twin.

Why it behaves like a device and not like a dict: everything above it (lifecycle, rollback,
verification, policy evidence) is tested against this adapter first, so it keeps CWMP's
semantics — SetParameterValues is atomic and validated against *the device's own* data model
(9005/9006/9007/9008 per parameter), ``ParameterKey`` is stored only on success and makes a
repeated apply a no-op, read-back shows what the device really kept, TR-098 firmware is reached
through :mod:`core.kernel.datamodel.tr098`, and injected faults (:mod:`executors.sim.faults`) turn into
the typed errors the contract promises.
"""

from __future__ import annotations

import ipaddress
import random
import statistics
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from core.kernel.datamodel.tr098 import Untranslatable, to_device_paths, translate_set
from core.kernel.models import Change, Device, Protocol, Scalar
from executors.base import (
    ApplyResult,
    Busy,
    Discovery,
    Executor,
    Fault,
    InvalidParameterName,
    InvalidValue,
    NotWritable,
    OperateResult,
    ParamValue,
    Presence,
    Timeout,
    dispatch_command,
)
from executors.sim import diagnostics
from executors.sim import faults as fault_kinds
from executors.sim.catalog import catalog, generic_path
from executors.sim.state import DeviceState, answering, inform_time, presence_from, presence_of, read_values
from executors.sim.twin import Twin, TwinConflict
from executors.sim.values import ValueProblem, family, validate_write

T = TypeVar("T")

_FAULT_CLASS: dict[int, type[Fault]] = {
    9005: InvalidParameterName,
    9006: InvalidValue,
    9007: InvalidValue,
    9008: NotWritable,
}
FIRMWARE_FILE_TYPE = "1 Firmware Upgrade Image"
MAX_PARAMETER_KEY = 32  # cwmp-1-x.xsd: ParameterKey is string(32)
# Commands whose completion a device reports by booting again (the fault completion_unreported drops that).
UNREPORTED_COMMANDS = frozenset({"reboot", "factory_reset", "download"})


def fault_for(device_id: str, problems: dict[str, tuple[int, str]]) -> Fault:
    """One SetParameterValues fault from per-parameter problems: the specific subclass (and
    code) when every parameter failed the same way, else 9003 invalid arguments, as CWMP does.
    9006 (wrong type) is raised as :class:`InvalidValue` carrying code 9006."""
    codes = {code for code, _ in problems.values()}
    detail = "; ".join(msg for _, msg in problems.values())
    if len(codes) == 1:
        code = next(iter(codes))
        cls = _FAULT_CLASS.get(code, Fault)
        return cls(device_id, f"SetParameterValues refused ({code}): {detail}", code=code, per_parameter=problems)
    return Fault(
        device_id,
        f"SetParameterValues refused (9003 invalid arguments): {detail}",
        code=9003,
        per_parameter=problems,
    )


_IMAGE_SUFFIXES = (".bin", ".img", ".fw", ".trx", ".itb", ".tar", ".gz", ".tgz", ".zip")


def version_from_url(url: str) -> str:
    """``https://fw.example/x/V3R017C10S120.bin`` → ``V3R017C10S120`` (when no version is given)."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    while name.lower().endswith(_IMAGE_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    return name


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] + "."


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SimExecutor(Executor):
    """Executor over the simulated fleet. ``timeout_s`` bounds how long one call waits for a
    (``slow``) device before raising :class:`~executors.base.Timeout`."""

    name = "sim"

    def __init__(
        self,
        twin: Twin | None = None,
        *,
        database_url: str | None = None,
        timeout_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # One lifecycle step touches a device several times within milliseconds; 50 ms of trust in
        # the cached state saves a database round trip each time (see Twin.fresh_s).
        self.twin = twin if twin is not None else Twin(database_url, fresh_s=0.05)
        self.timeout_s = timeout_s
        self._sleep = sleep

    def with_timeout(self, timeout_s: float | None) -> SimExecutor:
        """The same fleet with a different per-call timeout."""
        return SimExecutor(self.twin, timeout_s=timeout_s, sleep=self._sleep)

    def _transact(self, device_id: str, fn: Callable[[DeviceState], T]) -> T:
        """Run one twin write, speaking the executor contract when it loses every race: a
        :class:`~executors.sim.twin.TwinConflict` is the simulator's own type and must not leak
        to callers (campaigns, the lifecycle), so it becomes the retryable :class:`Busy`."""
        try:
            return self.twin.transact(device_id, fn)
        except TwinConflict as exc:
            raise Busy(device_id, f"another writer kept changing the device; nothing was committed ({exc})") from exc

    # ------------------------------------------------------------------ gating
    def _live(self, device: Device) -> DeviceState:
        """The device's state, if a request sent now would be answered (else the typed error)."""
        return self._answering(device, self.twin.state(device.id))

    def _answering(self, device: Device, state: DeviceState) -> DeviceState:
        """``state`` if a request sent to the device in that state would be answered; else the
        typed error (offline, unreachable, or a ``slow`` device past the timeout)."""
        return answering(state, device.id, self.timeout_s, self._sleep)

    # ------------------------------------------------------------------ reading
    # Presence and reads are answered by executors.sim.state, which the CLI's DB-API reader of the
    # twin (executors.sim.lite) shares: one implementation, with or without SQLAlchemy and pydantic.
    def presence(self, device: Device) -> Presence:
        state = self.twin.state(device.id)
        online, reachable, detail = presence_of(state)
        return Presence(
            device_id=device.id,
            online=online,
            reachable=reachable,
            last_seen=inform_time(state.last_inform),
            detail=detail,
        )

    def presence_many(self, devices: Sequence[Device]) -> dict[str, Presence]:
        """:meth:`presence` of many devices from one read of their presence columns (the same
        answer, without building each device's state); a device the twin lacks is left out."""
        out: dict[str, Presence] = {}
        for did, up, reachable_flag, faults, last_inform in self.twin.presence_rows([d.id for d in devices]):
            online, reachable, detail = presence_from(up, reachable_flag, faults)
            out[did] = Presence(device_id=did, online=online, reachable=reachable,
                                last_seen=inform_time(last_inform), detail=detail)
        return out

    def read(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        return read_values(self._live(device), device.id, paths, self.twin.clock(), ParamValue)

    def discover(self, device: Device) -> Discovery:
        state = self._live(device)
        model = state.model
        tree = state.tree()
        keys = state.view().keys() if model.is_tr098 else tree.keys()
        objects = sorted({generic_path(_parent(k)) for k in keys})
        imap = state.instance_map().model_dump(mode="json") if model.is_tr098 else {}
        firmware = str(tree.get(f"{model.root.value}DeviceInfo.SoftwareVersion", state.firmware))
        return Discovery(
            device_id=device.id,
            root=model.root,
            data_model_version=model.data_model,
            supported_objects=objects,
            instance_map=imap,
            firmware=firmware,
            parameters=self._writability(state),
        )

    @staticmethod
    def _writability(state: DeviceState) -> dict[str, bool | None]:
        """Every parameter in TR-181 terms → writable, as this firmware implements it."""
        model = state.model
        if not model.is_tr098:
            return {p: spec.writable for p in state.tree() if (spec := model.spec(p)) is not None}
        out: dict[str, bool | None] = {}
        for tr, entry in state.view().items():
            spec = model.spec(entry.device_path)
            out[tr] = entry.writable if entry.writable is not None else (spec.writable if spec else None)
        return out

    # ------------------------------------------------------------------ writing: Set
    def _apply(self, device: Device, changes: Sequence[Change], key: str) -> ApplyResult:
        # Presence is judged inside the transaction, on the state the write commits against (the
        # twin proves it current), so a Set costs the device one round trip, not two.
        gone: list[bool] = []  # the device took the Set and went away (goodbye_on_set)

        def fn(s: DeviceState) -> ApplyResult:
            gone.clear()  # the twin may run this again after a conflict
            self._answering(device, s)
            if len(key) > MAX_PARAMETER_KEY and s.model.protocol == Protocol.CWMP:
                raise Fault(
                    device.id,
                    f"ParameterKey {key!r} is longer than {MAX_PARAMETER_KEY} characters "
                    "(CWMP limit); use a shorter idempotency key",
                    code=9003,
                )
            writes, problems = self._plan(s, changes)
            if problems:
                raise fault_for(device.id, problems)
            tree = s.tree()
            if s.parameter_key == key and all(tree.get(p) == v for p, v in writes.items()):
                return ApplyResult(device_id=device.id, key=key, status=0, applied=[], idempotent_skip=True)
            faults = s.faults
            if "fault_on_set" in faults:
                f = faults["fault_on_set"]
                raise Fault(device.id, f"SetParameterValues failed: {f['message']}", code=int(f["code"]))
            counter = faults.get("fail_after_n_sets")
            if counter is not None:
                if counter["count"] >= counter["n"]:
                    raise Fault(
                        device.id,
                        f"SetParameterValues failed: internal error after "
                        f"{counter['count']} successful sets (injected)",
                        code=int(counter["code"]),
                    )
                counter["count"] += 1
            sticky = faults.get("not_sticky")
            kept = writes
            if sticky:
                reverted = {
                    dp
                    for c in changes
                    for dp in self._device_paths_of(s, c.path, writes)
                    if fault_kinds.matches_path(sticky, c.path, dp)
                }
                kept = {p: v for p, v in writes.items() if p not in reverted}
            s.set_values(dict(kept))
            s.parameter_key = key
            status = 1 if "reboot_required" in faults else 0
            s.event("set", key=key, status=status, paths=[c.path for c in changes])
            self.run_requested_diagnostics(s, kept)
            if faults.pop("goodbye_on_set", None) is not None:  # it took the Set and went away unanswered
                faults["offline"] = {}
                gone.append(True)
            return ApplyResult(device_id=device.id, key=key, status=status, applied=[c.path for c in changes])

        res = self._transact(device.id, fn)
        if gone:
            raise Timeout(device.id, "the device took the Set and went away before its answer reached us "
                                     "(injected goodbye_on_set): it may have applied it")
        return res

    def _device_paths_of(self, s: DeviceState, tr181_path: str, writes: dict[str, Scalar]) -> list[str]:
        if not s.model.is_tr098:
            return [tr181_path]
        try:
            return to_device_paths(tr181_path, s.instance_map())
        except Untranslatable:
            return list(writes)

    def _plan(self, s: DeviceState, changes: Sequence[Change]) -> tuple[dict[str, Scalar], dict[str, tuple[int, str]]]:
        """Device path → coerced value for every change, or the per-parameter problems."""
        model = s.model
        tree = s.tree()
        work = dict(tree)
        writes: dict[str, Scalar] = {}
        problems: dict[str, tuple[int, str]] = {}
        reject = s.faults.get("reject_value")
        view = s.view() if model.is_tr098 else None
        for change in changes:
            path = change.path
            if model.is_tr098:
                try:
                    plan = translate_set(path, change.value, s.instance_map(), work)
                except Untranslatable as exc:
                    shown = view.get(path) if view is not None else None
                    if shown is not None and shown.writable is False:
                        problems[path] = (9008, f"{path} is read-only on this device: {exc.reason}")
                    else:
                        problems[path] = (9005, str(exc))
                    continue
            else:
                plan = {path: change.value}
            staged: dict[str, Scalar] = {}
            for dp, raw in plan.items():
                spec = model.spec(dp) if dp in tree else None
                if spec is None:
                    where = "" if dp == path else f" (device parameter {dp})"
                    problems[path] = (9005, f"{path} is not a parameter of this device{where}")
                    break
                if not spec.writable:
                    problems[path] = (9008, f"{path} is read-only on this device")
                    break
                declared = change.type
                view_type = view[path].type if view is not None and path in view else None
                tr_type = view_type or spec.type
                if declared and family(declared) != family(tr_type):
                    problems[path] = (9006, f"{path} is {tr_type} on this device, not {declared}")
                    break
                try:
                    sibling = work.get(_parent(dp) + spec.enum_ref) if spec.enum_ref else None
                    value = validate_write(raw, spec, sibling)
                except ValueProblem as exc:
                    problems[path] = (exc.code, f"{path}: {exc.message}")
                    break
                if reject is not None and fault_kinds.matches_path(reject, path, dp):
                    problems[path] = (int(reject.get("code", 9007)), f"{path}: value rejected by the device")
                    break
                staged[dp] = value
            else:
                writes.update(staged)
                work.update(staged)
        return writes, problems

    def run_requested_diagnostics(self, s: DeviceState, writes: dict[str, Scalar]) -> None:
        """CWMP-style diagnostics: setting ``DiagnosticsState=Requested`` runs the test.

        Public device-side API: the CWMP CPE simulator calls it after its own Set, on the state
        it is committing (it *is* the device, so no grant is involved)."""
        state_path = (
            "InternetGatewayDevice.IPPingDiagnostics." if s.model.is_tr098 else "Device.IP.Diagnostics.IPPing."
        ) + "DiagnosticsState"
        if not s.model.is_tr098:
            self._run_tr143(s, writes)
        if writes.get(state_path) != "Requested":
            return
        tree = s.tree()
        base = _parent(state_path)
        self._ipping(
            s,
            str(tree.get(base + "Host", "")),
            int(tree.get(base + "NumberOfRepetitions", 3) or 3),
            int(tree.get(base + "Timeout", 1000) or 1000),
            int(tree.get(base + "DataBlockSize", 64) or 64),
        )

    def _run_tr143(self, s: DeviceState, writes: dict[str, Scalar]) -> None:
        """TraceRoute and TR-143 download/upload tests, where the firmware has them (the writes
        reached the tree only if its schema does): run at once, results written back, a
        ``diagnostics_complete`` event like IPPing's."""
        tr = diagnostics.TRACEROUTE
        if not any(writes.get(b + "DiagnosticsState") == "Requested"
                   for b in (tr, diagnostics.DOWNLOAD, diagnostics.UPLOAD)):
            return  # a plain Set: no test to run, so no need to look for DNS servers either
        tree = s.tree()
        seed = f"{s.id}|{s.boot_count}"
        has_dns = bool(self._dns_servers(s))
        runs: list[tuple[str, dict[str, Scalar | None]]] = []
        if writes.get(tr + "DiagnosticsState") == "Requested":
            host = str(tree.get(tr + "Host", "")).strip()
            ok = bool(host) and " " not in host and not host.endswith(".invalid") and (_is_ip(host) or has_dns)
            runs.append(("TraceRoute", diagnostics.traceroute(
                s.link, seed, host, ok, int(tree.get(tr + "NumberOfTries", 3) or 3),
                int(tree.get(tr + "MaxHopCount", 30) or 30), int(tree.get(tr + "RouteHopsNumberOfEntries", 0) or 0))))
        for kind, base, url_key in (("download", diagnostics.DOWNLOAD, "DownloadURL"),
                                    ("upload", diagnostics.UPLOAD, "UploadURL")):
            if writes.get(base + "DiagnosticsState") == "Requested":
                runs.append((kind.capitalize() + "Diagnostics", diagnostics.transfer(
                    kind, s.model.access, s.link, seed, str(tree.get(base + url_key, "")), has_dns,
                    _ts(self.twin.clock()), int(tree.get(base + "TestFileLength", 0) or 0))))
        for name, values in runs:
            s.set_values(values)
            result: dict[str, Any] = {k.rsplit(".", 1)[-1]: v for k, v in values.items()
                                      if v is not None and ".RouteHops." not in k}
            s.event("diagnostics_complete", events=["8 DIAGNOSTICS COMPLETE"], diagnostic=name, **result)

    # ------------------------------------------------------------------ writing: commands
    def _operate(self, device: Device, command: str, args: dict[str, Scalar]) -> OperateResult:
        result = self.device_command(device, command, args)
        if command in UNREPORTED_COMMANDS and "completion_unreported" in self.twin.state(device.id).faults:
            # The device did it, but the controller never hears so (no Boot! subscription): what a
            # controller can truthfully answer is "accepted, not confirmed" (USP executor: pending).
            return result.model_copy(update={"status": "pending", "output": {
                **result.output, "detail": f"{command} accepted; its completion was never reported "
                                           "(injected completion_unreported)"}})
        return result

    def device_command(self, device: Device, command: str, args: dict[str, Scalar], *,
                       gate: bool = True) -> OperateResult:
        """What the simulated device does for ``command`` (reboot, factory_reset, download,
        ipping), committed to the twin.

        Public device-side API for the simulators that *are* the device (the USP agent, the CWMP
        CPE): they run a command they were sent, so no write grant is involved — the grant was
        checked by the controller side, :meth:`operate`. ``gate`` first checks that a request
        sent now would be answered (offline, unreachable, slow), as a controller's request is;
        a CPE already in a session with its ACS passes ``gate=False``."""
        if gate:
            self._live(device)
        refused = self.twin.state(device.id).faults.get("command_refused")
        if refused is not None and refused.get("command", command) == command:
            raise Fault(device.id, f"{command} refused by the device: {refused['message']} (injected command_refused)",
                        code=int(refused["code"]))
        handlers = {"reboot": self._reboot, "factory_reset": self._factory_reset, "download": self._download,
                    "ipping": self._ipping_command}
        return dispatch_command(device, command, args, handlers)

    def _boot(self, s: DeviceState, kind: str, events: list[str], **data: Any) -> None:
        """A (re)start: boot counter, uptime, DHCP re-learn, firmware quirks, the boot event."""
        now = self.twin.clock()
        model = s.model
        s.boot_count += 1
        s.boot_ts = now
        s.last_inform = now
        s.event(kind, ts=now, events=events, boot_count=s.boot_count, firmware=s.record.firmware, **data)
        dns_paths = self._dns_paths(s)
        if model.has_quirk("dns_lost_after_reboot"):
            before = self._dns_servers(s)
            if model.is_tr098:
                s.set_values(dict.fromkeys(dns_paths, ""))
            else:
                s.set_values(dict.fromkeys(dns_paths))
            s.event(
                "dns_lost",
                ts=now + 1,
                servers_before=before,
                firmware=s.record.firmware,
                cause="firmware bug: WAN DNS servers dropped after reboot",
            )
        elif not self._dns_servers(s):
            s.restore_paths(dns_paths)  # DHCP hands the servers out again
        if "reboot_hangs" in s.faults:
            s.online = False
            s.event("offline", ts=now + 1, reason="did not come back after reboot (injected reboot_hangs)")

    @staticmethod
    def _dns_paths(s: DeviceState) -> list[str]:
        if s.model.is_tr098:
            wan = s.instance_map().wan
            return [wan.prefix + "DNSServers"] if wan is not None else []
        return ["Device.DNS.Client.Server."]

    @staticmethod
    def _dns_servers(s: DeviceState) -> list[str]:
        tree = s.tree()
        if s.model.is_tr098:
            wan = s.instance_map().wan
            raw = str(tree.get(wan.prefix + "DNSServers", "")) if wan is not None else ""
            return [x.strip() for x in raw.split(",") if x.strip()]
        rows = s.keys_under("Device.DNS.Client.Server.")
        return [str(v) for p in rows if p.endswith(".DNSServer") and (v := tree[p])]

    def _reboot(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        def fn(s: DeviceState) -> OperateResult:
            self._boot(
                s,
                "boot",
                ["1 BOOT", "M Reboot"],
                cause="remote_reboot",
                command_key=str(args.get("command_key", "")),
            )
            return OperateResult(
                device_id=device.id,
                command="reboot",
                status="done",
                output={"boot_count": s.boot_count, "online": s.online},
            )

        return self._transact(device.id, fn)

    def _factory_reset(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        def fn(s: DeviceState) -> OperateResult:
            url_path = f"{s.model.root.value}ManagementServer.URL"
            keep = {url_path: s.overrides[url_path]} if url_path in s.overrides else {}
            s.reset_overrides(keep)
            s.parameter_key = ""
            self._boot(s, "bootstrap", ["0 BOOTSTRAP", "1 BOOT"], cause="factory_reset")
            return OperateResult(
                device_id=device.id,
                command="factory_reset",
                status="done",
                output={"boot_count": s.boot_count, "online": s.online},
            )

        return self._transact(device.id, fn)

    def _download(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        url = str(args.get("url", "")).strip()
        if not url:
            raise Fault(device.id, "download needs a url argument", code=9003)
        file_type = str(args.get("file_type", FIRMWARE_FILE_TYPE))
        if file_type != FIRMWARE_FILE_TYPE:
            raise Fault(device.id, f"file type {file_type!r} is not supported by this device", code=9003)
        version = str(args.get("version") or version_from_url(url))

        def fn(s: DeviceState) -> tuple[OperateResult | None, dict[str, Any] | None]:
            failing = s.faults.get("download_fails")
            if failing is not None:
                s.event(
                    "transfer_complete",
                    events=["7 TRANSFER COMPLETE", "M Download"],
                    url=url,
                    fault_code=failing["code"],
                    fault_string=failing["message"],
                )
                return None, failing
            previous = s.record.firmware
            if "download_not_installed" in s.faults:  # fetched and reported, never installed (genieacs-sim)
                s.event("transfer_complete", events=["7 TRANSFER COMPLETE"], url=url, fault_code=0,
                        previous=previous, firmware=previous, installed=False)
                return OperateResult(device_id=device.id, command="download", status="done",
                                     output={"firmware": previous, "previous": previous, "installed": False,
                                             "model_key": s.model_key, "online": s.online}), None
            model = s.model
            sw_path = f"{model.root.value}DeviceInfo.SoftwareVersion"
            s.restore_paths([sw_path])
            target = catalog().model_for(model.vendor, model.model, version)
            if target is not None:
                s.set_model(target.key)
            else:
                s.set_values({sw_path: version})
            s.record = s.record.model_copy(update={"firmware": version})
            s.event(
                "transfer_complete",
                events=["7 TRANSFER COMPLETE", "M Download"],
                url=url,
                fault_code=0,
                previous=previous,
                firmware=version,
            )
            self._boot(s, "boot", ["1 BOOT", "M Download"], cause="firmware_upgrade")
            if "download_bricks" in s.faults:
                s.online = False
                s.event(
                    "offline",
                    reason="did not come back after the firmware upgrade (injected download_bricks)",
                )
            return OperateResult(
                device_id=device.id,
                command="download",
                status="done",
                output={
                    "firmware": version,
                    "previous": previous,
                    "model_key": s.model_key,
                    "online": s.online,
                },
            ), None

        result, failure = self._transact(device.id, fn)
        if failure is not None:
            raise Fault(device.id, f"download failed: {failure['message']}", code=int(failure["code"]))
        assert result is not None
        return result

    def _ipping_command(self, device: Device, args: dict[str, Scalar]) -> OperateResult:
        host = str(args.get("host", args.get("Host", ""))).strip()
        try:
            reps = int(args.get("repetitions", args.get("NumberOfRepetitions", 4)))
            timeout_ms = int(args.get("timeout_ms", args.get("Timeout", 1000)))
            size = int(args.get("size", args.get("DataBlockSize", 64)))
        except (TypeError, ValueError) as exc:
            raise InvalidValue(device.id, f"ipping arguments must be integers: {exc}", code=9007) from None
        if not 1 <= reps <= 1000 or timeout_ms < 1 or not 1 <= size <= 65535:
            raise InvalidValue(
                device.id,
                "ipping needs 1 <= repetitions <= 1000, timeout_ms >= 1, 1 <= size <= 65535",
                code=9007,
            )

        def fn(s: DeviceState) -> dict[str, Any]:
            return self._ipping(s, host, reps, timeout_ms, size)

        output = self._transact(device.id, fn)
        status: Literal["done", "failed"] = "done" if output["DiagnosticsState"] == "Complete" else "failed"
        return OperateResult(device_id=device.id, command="ipping", status=status, output=output)

    def _ipping(self, s: DeviceState, host: str, reps: int, timeout_ms: int, size: int) -> dict[str, Any]:
        """Deterministic ping results from the device's link (slower and lossy when degraded)."""
        link = s.link
        resolvable = bool(host) and " " not in host and not host.endswith(".invalid")
        if resolvable and not _is_ip(host) and not self._dns_servers(s):
            resolvable = False  # no DNS server, no name resolution
        rtts: list[int] = []
        failures = 0
        if resolvable:
            rnd = random.Random(f"{s.id}|{host}|{s.boot_count}|{reps}|{size}")
            base = float(link.get("latency_ms", 10.0)) + zlib.crc32(host.encode()) % 25
            loss = float(link.get("loss_pct", 0.0)) / 100.0
            for _ in range(reps):
                rtt = base * rnd.uniform(0.85, 1.4)
                if link.get("degraded"):
                    rtt += rnd.expovariate(1 / 40.0)
                if rnd.random() < loss or rtt > timeout_ms:
                    failures += 1
                else:
                    rtts.append(max(1, round(rtt)))
        state = "Complete" if resolvable else "Error_CannotResolveHostName"
        output: dict[str, Any] = {
            "DiagnosticsState": state,
            "Host": host,
            "NumberOfRepetitions": reps,
            "SuccessCount": len(rtts),
            "FailureCount": failures if resolvable else 0,
            "AverageResponseTime": round(statistics.fmean(rtts)) if rtts else 0,
            "MinimumResponseTime": min(rtts) if rtts else 0,
            "MaximumResponseTime": max(rtts) if rtts else 0,
        }
        model = s.model
        prefix = "InternetGatewayDevice.IPPingDiagnostics." if model.is_tr098 else "Device.IP.Diagnostics.IPPing."
        tree = s.tree()
        values: dict[str, Scalar | None] = {prefix + "Timeout": timeout_ms, prefix + "DataBlockSize": size}
        values.update({prefix + k: v for k, v in output.items()})
        s.set_values({p: v for p, v in values.items() if p in tree})
        s.event("diagnostics_complete", events=["8 DIAGNOSTICS COMPLETE"], diagnostic="IPPing", **output)
        return output
