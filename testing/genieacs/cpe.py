"""The device side of the fake GenieACS: one CWMP CPE whose state is the digital twin.

Why a CPE of our own instead of the simulator adapter: the fake ACS must drive the twin with the
RPCs a real ACS sends — GetParameterValues on *native* paths (``InternetGatewayDevice.`` on
TR-098 firmware), an atomic SetParameterValues that answers 9003/9005/9006/9007/9008 per
parameter and stores the ``ParameterKey`` it was given only on success, Status 1 when the change
needs a reboot, AddObject/DeleteObject, and Reboot/FactoryReset/Download that take effect after
the session. Value rules (coercion, ranges, enumerations held in siblings) and injected faults
come from :mod:`executors.sim` so the CPE disagrees with the standard exactly the way the
twin's firmware does. Boots, factory resets, downloads and diagnostics reuse the simulator's
device behaviour (DNS-lost-after-reboot quirks, bricking downloads …) through
:class:`~executors.sim.executor.SimExecutor`'s public device-side API; that coupling is kept to
:class:`TwinDeviceActions` at the bottom of this file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.kernel.datamodel.tr098 import to_tr181
from core.kernel.models import Scalar
from executors.base import ExecutorError
from executors.base import Fault as ExecFault
from executors.genieacs.xsd import family as xsd_family
from executors.genieacs.xsd import xsd_of
from executors.sim import faults as fault_kinds
from executors.sim.catalog import ParamSpec
from executors.sim.twin import DeviceState, Twin, dynamic_value
from executors.sim.values import ValueProblem, validate_write

FAULT_STRINGS = {
    9000: "Method not supported",
    9001: "Request denied",
    9002: "Internal error",
    9003: "Invalid arguments",
    9004: "Resources exceeded",
    9005: "Invalid parameter name",
    9006: "Invalid parameter type",
    9007: "Invalid parameter value",
    9008: "Attempt to set a non-writable parameter",
    9010: "File transfer failure",
    9016: "File transfer failure: unable to access file",
}
FORCED_INFORM = (
    "RootDataModelVersion",
    "DeviceSummary",
    "DeviceInfo.SpecVersion",
    "DeviceInfo.HardwareVersion",
    "DeviceInfo.SoftwareVersion",
    "DeviceInfo.ProvisioningCode",
    "ManagementServer.ParameterKey",
    "ManagementServer.ConnectionRequestURL",
    "ManagementServer.AliasBasedAddressing",
)


class SessionDropped(Exception):
    """The CPE went away mid-session (``goodbye_on_set``: it applied the Set and closed the
    connection before its SetParameterValuesResponse): the session ends with its task still queued."""


class CpeFault(Exception):
    """A SOAP fault from the CPE: ``code`` 9000-9032; ``per_parameter`` are the
    SetParameterValuesFault entries ``(name, code, message)``."""

    def __init__(self, code: int, message: str, per_parameter: Sequence[tuple[str, int, str]] = ()) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.per_parameter = list(per_parameter)

    def detail(self) -> dict[str, Any]:
        """The ``detail`` GenieACS stores with a ``cwmp.*`` fault (``lib/soap.ts`` faultStruct)."""
        out: dict[str, Any] = {"faultCode": str(self.code), "faultString": self.message}
        if self.per_parameter:
            out["setParameterValuesFault"] = [
                {"parameterName": n, "faultCode": str(c), "faultString": m} for n, c, m in self.per_parameter
            ]
        return out


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter as a GetParameterValues/GetParameterNames pair reports it."""

    name: str
    value: Scalar
    type: str  # xsd
    writable: bool


@dataclass
class SetResult:
    status: int
    applied: list[str] = field(default_factory=list)


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] + "."


class SimulatedCpe:
    """The CPE for one twin device. Stateless apart from the twin: safe to create per session."""

    def __init__(self, twin: Twin, twin_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self.twin = twin
        self.twin_id = twin_id
        self.clock = clock

    # ------------------------------------------------------------------ presence
    def state(self) -> DeviceState:
        return self.twin.state(self.twin_id)

    def online(self) -> bool:
        return self.state().presence_flags()[0]

    def connection_request(self) -> str:
        """Answer an HTTP connection request: ``""`` when accepted, else what GenieACS reports.

        What GenieACS 1.2.16 says is decided by how the request failed, not by whether the CPE informs
        (``lib/connection-request.ts``): a refused connection (ECONNREFUSED) and a dropped one (no
        answer to the SYN: the agent's ``timeout`` destroys the request, ECONNRESET "socket hang up")
        are both "Device is offline"; any other error (an ICMP host unreachable) is "Connection request
        error: <message>". So a CPE behind a NAT that drops the request (``unreachable``, the commonest)
        is "Device is offline" although it informs; ``unreachable`` with ``says="error"`` is one whose
        path answers with an error (seen by hand: issue 46)."""
        state = self.state()
        online, reachable = state.presence_flags()
        if not online:
            return "Device is offline"
        if not reachable:
            if (state.faults.get("unreachable") or {}).get("says") != "error":
                return "Device is offline"
            url = str(state.tree().get(f"{state.model.root.value}ManagementServer.ConnectionRequestURL", ""))
            host = urlsplit(url).netloc or "cpe:7547"
            return f"Connection request error: connect EHOSTUNREACH {host}"
        return ""

    def session_delay_s(self) -> float:
        """How long the CPE takes to open its session after a connection request (``slow``)."""
        slow = self.state().faults.get("slow")
        return float(slow.get("delay_s", 0.0)) if slow else 0.0

    def device_id_struct(self) -> dict[str, str]:
        rec = self.state().record
        return {
            "Manufacturer": rec.vendor,
            "OUI": rec.oui,
            "ProductClass": rec.product_class,
            "SerialNumber": rec.serial,
        }

    # ------------------------------------------------------------------ reads
    def _shown(self, state: DeviceState, path: str, spec: ParamSpec, value: Scalar, now: float) -> Scalar:
        if spec.secret:
            return ""  # CWMP: secured parameters read back empty
        if spec.dynamic is not None:
            return dynamic_value(state, spec.dynamic, now)
        return value

    def _param(self, state: DeviceState, path: str, value: Scalar, now: float) -> Param:
        spec = state.model.spec(path)
        assert spec is not None
        return Param(path, self._shown(state, path, spec, value, now), xsd_of(spec.type), spec.writable)

    def snapshot(self, prefix: str = "") -> dict[str, Param]:
        """Everything a refresh of ``prefix`` learns (GetParameterNames + GetParameterValues):
        the leaf itself, or every leaf of the object; empty when the path does not exist."""
        state = self.state()
        tree = state.tree()
        now = self.clock()
        name = prefix.rstrip(".")
        if name and name in tree:
            return {name: self._param(state, name, tree[name], now)}
        base = name + "." if name else ""
        return {p: self._param(state, p, v, now) for p, v in tree.items() if p.startswith(base)}

    def get_parameter_values(self, names: Sequence[str]) -> list[Param]:
        out: dict[str, Param] = {}
        for n in names:
            got = self.snapshot(n)
            if not got:
                raise CpeFault(9005, FAULT_STRINGS[9005], [(n, 9005, f"{n} does not exist")])
            out.update(got)
        return list(out.values())

    def inform_parameters(self) -> list[Param]:
        """The parameters the data model marks forcedInform: every Inform carries them (TR-069)."""
        state = self.state()
        tree = state.tree()
        now = self.clock()
        root = state.model.root.value
        out = [self._param(state, root + leaf, tree[root + leaf], now) for leaf in FORCED_INFORM if root + leaf in tree]
        if state.model.is_tr098:
            wan = state.instance_map().wan
            if wan is not None and wan.prefix + "ExternalIPAddress" in tree:
                p = wan.prefix + "ExternalIPAddress"
                out.append(self._param(state, p, tree[p], now))
        return out

    # ------------------------------------------------------------------ SetParameterValues
    def set_parameter_values(self, values: Sequence[tuple[str, Scalar, str]], parameter_key: str) -> SetResult:
        """Atomic: every value is checked against the firmware first; one problem and nothing
        is written (9003 with per-parameter faults, or the single code when all agree)."""
        actions = TwinDeviceActions(self.twin)
        gone: list[bool] = []

        def fn(s: DeviceState) -> SetResult:
            gone.clear()  # the twin may run this again after a conflict
            model = s.model
            tree = s.tree()
            work = dict(tree)
            writes: dict[str, Scalar] = {}
            problems: dict[str, tuple[int, str]] = {}
            reject = s.faults.get("reject_value")
            for name, raw, xsd in values:
                spec = model.spec(name) if name in tree else None
                if spec is None:
                    problems[name] = (9005, f"{name} is not a parameter of this device")
                    continue
                if not spec.writable:
                    problems[name] = (9008, f"{name} is read-only")
                    continue
                if xsd and xsd_family(xsd) != xsd_family(xsd_of(spec.type)):
                    problems[name] = (9006, f"{name} is {spec.type}, not {xsd}")
                    continue
                try:
                    sibling = work.get(_parent(name) + spec.enum_ref) if spec.enum_ref else None
                    value = validate_write(raw, spec, sibling)
                except ValueProblem as exc:
                    problems[name] = (exc.code, f"{name}: {exc.message}")
                    continue
                if reject is not None and fault_kinds.matches_path(reject, *self._names(s, name)):
                    problems[name] = (int(reject.get("code", 9007)), f"{name}: value rejected by the device")
                    continue
                writes[name] = value
                work[name] = value
            if problems:
                codes = {c for c, _ in problems.values()}
                code = next(iter(codes)) if len(codes) == 1 else 9003
                raise CpeFault(code, FAULT_STRINGS.get(code, "Fault"), [(n, c, m) for n, (c, m) in problems.items()])
            injected = s.faults.get("fault_on_set")
            if injected is not None:
                raise CpeFault(int(injected["code"]), str(injected["message"]))
            counter = s.faults.get("fail_after_n_sets")
            if counter is not None:
                if counter["count"] >= counter["n"]:
                    raise CpeFault(int(counter["code"]), f"internal error after {counter['count']} sets (injected)")
                counter["count"] += 1
            kept = dict(writes)
            sticky = s.faults.get("not_sticky")
            if sticky:
                kept = {p: v for p, v in writes.items() if not fault_kinds.matches_path(sticky, *self._names(s, p))}
            s.set_values(dict(kept))
            s.parameter_key = parameter_key
            status = 1 if "reboot_required" in s.faults else 0
            s.event("set", key=parameter_key, status=status, paths=sorted(writes), via="cwmp")
            actions.after_set(s, kept)
            if s.faults.pop("goodbye_on_set", None) is not None:  # applied, then gone before answering
                s.faults["offline"] = {}
                gone.append(True)
            return SetResult(status=status, applied=sorted(writes))

        result = self.twin.transact(self.twin_id, fn)
        if gone:
            raise SessionDropped(f"{self.twin_id} applied the Set and closed the session before answering")
        return result

    @staticmethod
    def _names(s: DeviceState, native: str) -> tuple[str, ...]:
        """A native path and, on TR-098 firmware, the TR-181 path it stands for (faults name either)."""
        if not s.model.is_tr098:
            return (native,)
        tr = to_tr181(native, s.instance_map())
        return (native, tr) if tr else (native,)

    # ------------------------------------------------------------------ objects
    def add_object(self, object_name: str, parameter_key: str) -> tuple[int, int]:
        """AddObject on ``X.Table.``: a new instance with the firmware's default leaves."""
        table = object_name if object_name.endswith(".") else object_name + "."

        def fn(s: DeviceState) -> tuple[int, int]:
            generic = ".".join("{i}" if seg.isdigit() else seg for seg in table.split(".")[:-1]) + ".{i}."
            leaves = {
                p[len(generic) :]: spec
                for p, spec in s.model.param_schema().items()
                if p.startswith(generic) and "{i}" not in p[len(generic) :]
            }
            if not leaves:
                raise CpeFault(
                    9005, FAULT_STRINGS[9005], [(table, 9005, f"{table} is not a table this device can extend")]
                )
            tree = s.tree()
            used = {
                int(p[len(table) :].split(".", 1)[0])
                for p in tree
                if p.startswith(table) and p[len(table) :].split(".", 1)[0].isdigit()
            }
            n = max(used, default=0) + 1
            s.set_values({f"{table}{n}.{leaf}": _default(spec) for leaf, spec in leaves.items()})
            s.parameter_key = parameter_key
            s.event("add_object", object=table, instance=n, key=parameter_key, via="cwmp")
            return n, 0

        return self.twin.transact(self.twin_id, fn)

    def delete_object(self, object_name: str, parameter_key: str) -> int:
        inst = object_name if object_name.endswith(".") else object_name + "."

        def fn(s: DeviceState) -> int:
            if not any(p.startswith(inst) for p in s.tree()):
                raise CpeFault(9005, FAULT_STRINGS[9005], [(inst, 9005, f"{inst} does not exist")])
            s.set_values({inst: None})
            s.parameter_key = parameter_key
            s.event("delete_object", object=inst, key=parameter_key, via="cwmp")
            return 0

        return self.twin.transact(self.twin_id, fn)

    def accept_command(self, command: str) -> None:
        """Answer a Reboot/FactoryReset RPC: a CPE that refuses it (the twin's ``command_refused``
        fault) answers with a SOAP fault and does nothing (issue 37)."""
        refused = self.state().faults.get("command_refused")
        if refused is not None and refused.get("command", command) == command:
            raise CpeFault(int(refused.get("code", 9001)), f"{refused['message']} (injected command_refused)")

    # ------------------------------------------------------------------ after-session actions
    def reboot(self, command_key: str = "") -> None:
        TwinDeviceActions(self.twin).reboot(self.state(), command_key)

    def factory_reset(self) -> None:
        TwinDeviceActions(self.twin).factory_reset(self.state())

    def download(self, file_type: str, url: str, version: str) -> None:
        """Download and install; a failed transfer raises the TransferComplete fault."""
        TwinDeviceActions(self.twin).download(self.state(), file_type, url, version)


def _default(spec: ParamSpec) -> Scalar:
    if spec.enum:
        return spec.enum[0]
    if spec.type in ("int", "unsignedInt", "long", "unsignedLong"):
        lo = spec.range[0] if spec.range and spec.range[0] is not None else 0
        return max(0, lo) if spec.type.startswith("unsigned") else lo
    if spec.type == "boolean":
        return False
    return ""


class TwinDeviceActions:
    """The simulator's device behaviour for boots, resets, downloads and diagnostics.

    Through :class:`~executors.sim.executor.SimExecutor`'s public device-side API
    (``device_command``, ``run_requested_diagnostics``): the CPE *is* the device, already in a
    session with its ACS, so it needs no write grant and no presence gate (``gate=False``).
    """

    def __init__(self, twin: Twin) -> None:
        from executors.sim.executor import SimExecutor

        self._sim = SimExecutor(twin)

    def after_set(self, s: DeviceState, writes: dict[str, Scalar]) -> None:
        """CWMP diagnostics: ``DiagnosticsState=Requested`` runs the test (8 DIAGNOSTICS COMPLETE)."""
        self._sim.run_requested_diagnostics(s, writes)

    def reboot(self, state: DeviceState, command_key: str) -> None:
        self._sim.device_command(state.record, "reboot", {"command_key": command_key}, gate=False)

    def factory_reset(self, state: DeviceState) -> None:
        self._sim.device_command(state.record, "factory_reset", {}, gate=False)

    def download(self, state: DeviceState, file_type: str, url: str, version: str) -> None:
        try:
            self._sim.device_command(state.record, "download",
                                     {"url": url, "file_type": file_type, "version": version}, gate=False)
        except ExecFault as exc:
            raise CpeFault(
                exc.code, FAULT_STRINGS.get(exc.code, "File transfer failure") + f": {exc.message}"
            ) from None
        except ExecutorError as exc:
            raise CpeFault(9002, exc.message) from None


__all__ = ["FAULT_STRINGS", "CpeFault", "Param", "SetResult", "SimulatedCpe", "TwinDeviceActions"]
