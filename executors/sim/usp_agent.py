"""One simulated USP agent: a twin device seen through its own TR-369 data model.

Why a separate device side rather than the SimExecutor behind a USP facade: the controller must be
tested against something that answers *like an agent* — Get with per-path ``err_code`` 7026, Set
with ``allow_partial=false`` failing as a whole with 7004 and ``param_errs`` (7011 type, 7012
value, 7013 not writable, 7026 path), Add/Delete of table rows, GetInstances, GetSupportedDM built
from the firmware's own parameter specs, sync commands (``Reboot()``) and async ones
(``IPPing()`` → ``Request.{i}`` → OperationComplete). The MQTT side (topics, presence, drops,
notifications, reboots) lives in :mod:`executors.sim.usp_host`; this module does no I/O except
reading and writing the twin.

The agent validates values with the same rules and fault injections as the SimExecutor
(``executors.sim.values.validate_write``, ``executors.sim.faults``). Commands run the twin's device
behaviour (reboot with its firmware quirks, IPPing, firmware download) through the public
``SimExecutor.device_command``: the agent *is* the device, so no write grant is involved here —
the controller side's ``Executor.operate`` checked the grant before the Operate was ever sent.

State: the agent keeps a private copy of its twin state and tree. With ``persist="sync"`` every
Set/Add/Delete is committed to the twin before the response goes out (a CPE writing flash before
answering); with ``persist="batched"`` the change is acknowledged from memory and the host flushes
it to the twin shortly after (:meth:`SimAgent.flush`) — a benchmark mode, so one process can serve
thousands of Sets per second.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from core.kernel.datamodel.paths import is_empty_table
from core.kernel.datamodel.tr098 import Untranslatable, to_tr181
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Scalar
from core.kernel.values import parse_wire_bool
from executors.base import ExecutorError
from executors.sim import faults as fault_kinds
from executors.sim.catalog import CatalogModel, ParamSpec, fill_counts, generic_path
from executors.sim.executor import SimExecutor
from executors.sim.twin import DeviceState, Twin, dynamic_value
from executors.sim.values import ValueProblem, validate_write
from executors.usp import datamodel as dm
from executors.usp import records
from executors.usp.errors import to_usp
from executors.usp.proto import msg_pb
from executors.usp.records import Header

Persist = Literal["sync", "batched"]
Mutation = Callable[[DeviceState], None]
SUPPORTED_VERSIONS = "1.0,1.1,1.2,1.3"
NOTIF_TYPES = ("ValueChange", "ObjectCreation", "ObjectDeletion", "OperationComplete", "Event")
SUB_FIELDS: dict[str, str] = {
    "Enable": "boolean", "ID": "string", "NotifType": "string", "ReferenceList": "string",
    "Persistent": "boolean", "NotifRetry": "boolean", "Recipient": "string",
}


@dataclass
class Subscription:
    id: str
    notif_type: str
    reference_list: str
    enable: bool = True
    persistent: bool = True
    notif_retry: bool = False
    recipient: str = ""

    def refs(self) -> list[str]:
        return [r.strip() for r in self.reference_list.split(",") if r.strip()]

    def matches(self, notif_type: str, path: str) -> bool:
        if not self.enable or self.notif_type != notif_type:
            return False
        return any(path == r or (r.endswith(".") and path.startswith(r)) or _glob(r, path) for r in self.refs())


def _glob(pattern: str, path: str) -> bool:
    if "*" not in pattern:
        return False
    return re.fullmatch(re.escape(pattern).replace(r"\*", r"[^.]+") + (".*" if pattern.endswith(".") else ""),
                        path) is not None


OverlayEntry = tuple[Scalar, str, bool]


class Overlay(Mapping[str, OverlayEntry]):
    """The parameters the agent itself implements (:meth:`SimAgent._overlay`), built on first use.

    Why lazy: the overlay is rebuilt for every request (subscriptions and requests change under
    it), yet a Get or Set of a device parameter never needs it — and every overlay path lies
    under ``<root>LocalAgent.``, so a membership test outside that prefix is answered without it.
    """

    __slots__ = ("_build", "_data", "_prefix")

    def __init__(self, build: Callable[[], dict[str, OverlayEntry]], prefix: str) -> None:
        self._build = build
        self._data: dict[str, OverlayEntry] | None = None
        self._prefix = prefix

    def _get(self) -> dict[str, OverlayEntry]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.startswith(self._prefix) and key in self._get()

    def __getitem__(self, key: str) -> OverlayEntry:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


@dataclass
class AsyncRequest:
    """A ``LocalAgent.Request.{i}`` row: an async command in progress."""

    instance: int
    command: str
    name: str
    command_key: str
    args: dict[str, str]
    status: str = "Active"


@dataclass
class Action:
    """What the host must do after answering: ``reboot``, ``factory_reset``, ``async`` (run a
    :class:`AsyncRequest`), or ``notify`` (value changes to report) — or, instead of answering,
    ``goodbye``: say goodbye first, then answer (``answer``) or not, and be gone (the
    ``goodbye_on_set`` fault)."""

    kind: Literal["reboot", "factory_reset", "async", "notify", "goodbye"]
    command_key: str = ""
    request: AsyncRequest | None = None
    changes: list[tuple[str, str]] = field(default_factory=list)
    answer: bool = True


class Outcome:
    """What the agent answers (a response or Error Message, or nothing) and what the host must do
    next. ``payload``: the answer already serialized — a Set writes its SetResp directly
    (:func:`records.set_resp_payload`, the same bytes) — parsed only if someone reads ``response``."""

    __slots__ = ("_response", "actions", "payload")

    def __init__(self, response: msg_pb.Msg | None, actions: list[Action] | None = None, *,
                 payload: bytes | None = None) -> None:
        self._response = response
        self.actions: list[Action] = actions if actions is not None else []
        self.payload = payload

    @property
    def response(self) -> msg_pb.Msg | None:
        if self._response is None and self.payload is not None:
            self._response = msg_pb.Msg.FromString(self.payload)
        return self._response

    def serialized(self) -> bytes | None:
        """The answer as it goes on the wire (None: the agent answers nothing)."""
        if self.payload is not None:
            return self.payload
        return self._response.SerializeToString() if self._response is not None else None


class SimAgent:
    """The device side of one agent (see the module docstring)."""

    def __init__(
        self,
        twin: Twin,
        device_id: str,
        *,
        controller_id: str,
        persist: Persist = "sync",
        ops: SimExecutor | None = None,
        hidden: Sequence[str] = (),
        factory_subscriptions: bool = True,
    ) -> None:
        # Configured like a real agent: ``hidden`` root-relative objects (e.g. "WiFi.") are
        # not in this agent's data model at all; without ``factory_subscriptions`` it ships with no
        # subscription, as the OB-USP-Agent's example does, and the controller must create them.
        self.hidden = tuple(h if h.endswith(".") else h + "." for h in hidden)
        self._hidden_cache: tuple[str, tuple[str, ...]] | None = None
        self.factory_subs = factory_subscriptions
        self.twin = twin
        self.device_id = device_id
        self.controller_id = controller_id
        self.persist: Persist = persist
        self.ops = ops or SimExecutor(twin, sleep=lambda _s: None)
        self.subscriptions: dict[int, Subscription] = {}
        self.requests: dict[int, AsyncRequest] = {}
        self.reboot_required = False
        self.started = twin.clock()  # the agent process's own start: LocalAgent.UpTime counts from it
        self._next_sub = 1
        self._next_req = 1
        self._dirty: list[Mutation] = []
        self._specs: dict[str, ParamSpec | None] = {}
        self._specs_for = ""
        self.state: DeviceState
        self.tree: dict[str, Scalar]
        self.refresh()
        self.root = self.model.root.value
        self._hide()
        self.endpoint_id = self._endpoint_id()
        self.factory_subscriptions()

    # ------------------------------------------------------------------ identity & state
    @property
    def model(self) -> CatalogModel:
        return self.state.model

    def _endpoint_id(self) -> str:
        own = self.tree.get(f"{self.root}LocalAgent.EndpointID")
        if isinstance(own, str) and own:
            return own
        rec = self.state.record
        return f"os::{rec.oui}-{rec.serial}"

    def refresh(self) -> None:
        """Reload from the twin (after a change another process made, or a command ran)."""
        self.flush()
        base = self.twin.state(self.device_id)
        # The agent answers from its own copy of the tree (self.tree); its private state need not
        # hold one too. Built on a throwaway fork, the tree is not cached on the state the Sets are
        # applied to, so applying one only invalidates (it would otherwise patch a cached copy of
        # the whole tree per Set); anything that asks that state for its tree rebuilds it.
        self.tree = dict(base.fork().tree())
        self.state = base.fork()
        self._objects: set[str] | None = None
        if hasattr(self, "root"):
            self._hide()

    def _hidden_prefixes(self) -> tuple[str, ...]:
        root = getattr(self, "root", None)
        if root is None:
            return ()
        cached = self._hidden_cache
        if cached is None or cached[0] != root:  # the root is fixed once known; checked all the same
            cached = self._hidden_cache = (root, tuple(root + h for h in self.hidden))
        return cached[1]

    def is_hidden(self, path: str) -> bool:
        """Whether ``path`` lies in an object this agent's data model does not have."""
        prefixes = self._hidden_prefixes()
        return bool(prefixes) and path.startswith(prefixes)

    def _hide(self) -> None:
        prefixes = self._hidden_prefixes()
        if prefixes:
            self.tree = {p: v for p, v in self.tree.items() if not p.startswith(prefixes)}

    def flush(self) -> int:
        """Commit changes acknowledged from memory (``persist="batched"``); returns how many."""
        if not self._dirty:
            return 0
        fns, self._dirty = self._dirty, []

        def replay(s: DeviceState) -> None:
            for fn in fns:
                fn(s)

        self.twin.transact(self.device_id, replay)
        return len(fns)

    def _commit(self, fn: Mutation, writes: dict[str, Scalar | None]) -> None:
        if self.persist == "sync":
            self.twin.transact(self.device_id, fn)
        else:
            self._dirty.append(fn)
        fn(self.state)
        self.state.pending_events.clear()
        self._mirror(writes)

    def _mirror(self, writes: dict[str, Scalar | None]) -> None:
        shape_changed = False
        for path, value in writes.items():
            if value is None:
                shape_changed = True
                if path.endswith("."):
                    for p in [p for p in self.tree if p.startswith(path)]:
                        del self.tree[p]
                else:
                    self.tree.pop(path, None)
            else:
                if path not in self.tree:
                    shape_changed = True
                self.tree[path] = value
        if shape_changed:
            fill_counts(self.tree, self.model)
            self._objects = None

    def factory_subscriptions(self) -> None:
        """The factory configuration: a persistent Boot! subscription for the provisioned controller
        (operators pre-provision it so the first boot is never missed) — unless this agent is configured
        like the OB-USP-Agent's example, which ships with none."""
        if not self.factory_subs:
            self.subscriptions = {}
            self._next_sub = 1
            return
        self.subscriptions = {
            1: Subscription(id="gw-boot", notif_type="Event", reference_list=f"{self.root}Boot!", notif_retry=True,
                            recipient=f"{self.root}LocalAgent.Controller.1"),
        }
        self._next_sub = 2

    @property
    def faults(self) -> dict[str, JsonObject]:
        return self.state.faults

    def presence_flags(self) -> tuple[bool, bool]:
        return self.state.presence_flags()

    def slow_delay(self) -> float:
        slow = self.state.faults.get("slow")
        return float(slow.get("delay_s", 0.0)) if slow else 0.0

    # ------------------------------------------------------------------ the data model
    def overlay(self) -> Overlay:
        """:meth:`_overlay`, built only when a request touches it."""
        return Overlay(self._overlay, f"{self.root}LocalAgent.")

    def _overlay(self) -> dict[str, OverlayEntry]:
        """Parameters the agent itself implements: ``<root>LocalAgent.`` (value, type, writable);
        every path lies under that object (:class:`Overlay` relies on it)."""
        la = f"{self.root}LocalAgent."
        out: dict[str, tuple[Scalar, str, bool]] = {
            la + "EndpointID": (self.endpoint_id, "string", False),
            la + "SupportedProtocols": ("MQTT", "string", False),
            # the agent's own uptime; DeviceInfo.UpTime is the device's (OB-USP-Agent: the kernel's)
            la + "UpTime": (max(0, int(self.twin.clock() - self.started)), "unsignedInt", False),
            self.root + dm.KEY_PARAM: (self.state.parameter_key, "string", True),
            self.root + dm.REBOOT_FLAG_PARAM: (self.reboot_required, "boolean", False),
            la + "ControllerNumberOfEntries": (1, "unsignedInt", False),
            la + "Controller.1.EndpointID": (self.controller_id, "string", False),
            la + "Controller.1.Enable": (True, "boolean", False),
            la + "SubscriptionNumberOfEntries": (len(self.subscriptions), "unsignedInt", False),
            la + "RequestNumberOfEntries": (len(self.requests), "unsignedInt", False),
        }
        for i, s in self.subscriptions.items():
            base = f"{la}Subscription.{i}."
            out.update({
                base + "Enable": (s.enable, "boolean", True),
                base + "ID": (s.id, "string", True),
                base + "NotifType": (s.notif_type, "string", True),
                base + "ReferenceList": (s.reference_list, "string", True),
                base + "Persistent": (s.persistent, "boolean", True),
                base + "NotifRetry": (s.notif_retry, "boolean", True),
                base + "Recipient": (s.recipient, "string", False),
            })
        for i, r in self.requests.items():
            base = f"{la}Request.{i}."
            out.update({
                base + "Command": (r.command, "string", False),
                base + "CommandKey": (r.command_key, "string", False),
                base + "Status": (r.status, "string", False),
                base + "Originator": (self.controller_id, "string", False),
            })
        return out

    def _wire(self, path: str, overlay: Mapping[str, OverlayEntry], now: float) -> str:
        if path in overlay:
            return records.usp_value(overlay[path][0])
        spec = self.model.spec(path)
        if spec is not None:
            if spec.secret:
                return ""
            if spec.dynamic is not None:
                return records.usp_value(dynamic_value(self.state, spec.dynamic, now))
        return records.usp_value(self.tree[path])

    def _resolve(self, requested: str, overlay: Mapping[str, OverlayEntry]) -> list[str]:
        """Every parameter path a requested path names (exact, partial ``X.``, or ``*`` search)."""
        if "*" in requested:
            rx = re.compile(re.escape(requested).replace(r"\*", r"[^.]+") + (".*" if requested.endswith(".") else ""))
            return [p for p in (*self.tree, *overlay) if rx.fullmatch(p)]
        if requested.endswith("."):
            hits = [p for p in self.tree if p.startswith(requested)]
            hits += [p for p in overlay if p.startswith(requested) and p not in self.tree]
            return hits
        return [requested] if requested in self.tree or requested in overlay else []

    # ------------------------------------------------------------------ dispatch
    def handle(self, msg: msg_pb.Msg) -> Outcome:
        """Answer one request Message (a response Message or an Error)."""
        msg_id = msg.header.msg_id
        req = msg.body.request
        which = req.WhichOneof("req_type")
        try:
            if which == "get":
                return Outcome(self._get(msg_id, req.get))
            if which == "set":
                return self._set(msg_id, req.set)
            if which == "add":
                return self._add(msg_id, req.add)
            if which == "delete":
                return self._delete(msg_id, req.delete)
            if which == "operate":
                return self._operate(msg_id, req.operate)
            if which == "get_supported_dm":
                return Outcome(self._get_supported_dm(msg_id, req.get_supported_dm))
            if which == "get_instances":
                return Outcome(self._get_instances(msg_id, req.get_instances))
            if which == "get_supported_protocol":
                resp = records.response(msg_id, Header.GET_SUPPORTED_PROTO)
                resp.body.response.get_supported_protocol_resp.agent_supported_protocol_versions = (
                    SUPPORTED_VERSIONS
                )
                return Outcome(resp)
        except ExecutorError as exc:  # the twin refused (e.g. a conflict): an internal error
            return Outcome(records.error(msg_id, 7003, f"internal error: {exc}"))
        return Outcome(records.error(msg_id, 7001, f"message type {which or '?'} is not supported by this agent"))

    # ------------------------------------------------------------------ Get
    def _get(self, msg_id: str, get: msg_pb.Get) -> msg_pb.Msg:
        resp = records.response(msg_id, Header.GET)
        out = resp.body.response.get_resp
        overlay = self.overlay()
        now = self.twin.clock()
        for requested in get.param_paths:
            rpr = out.req_path_results.add(requested_path=requested)
            if not requested.startswith(self.root):
                rpr.err_code = 7026
                rpr.err_msg = f"Invalid path: {requested} is not under this agent's root {self.root}"
                continue
            paths = self._resolve(requested, overlay)
            if not paths and is_empty_table(requested, lambda k: k in self.tree or k in overlay):
                continue  # a table with no instances: an empty result, no error (TR-369 Get)
            if not paths:
                rpr.err_code = 7026
                rpr.err_msg = (f"Invalid path: {requested} is not in the data model of this device "
                               f"({self.model.vendor} {self.model.model} {self.state.record.firmware})")
                continue
            by_obj: dict[str, msg_pb.GetResp.ResolvedPathResult] = {}
            for path in paths:
                obj, name = records.split_param(path)
                res = by_obj.get(obj)
                if res is None:
                    res = rpr.resolved_path_results.add(resolved_path=obj)
                    by_obj[obj] = res
                res.result_params[name] = self._wire(path, overlay, now)
        return resp

    # ------------------------------------------------------------------ Set
    def _object_paths(self) -> set[str]:
        """Every object path the tree holds (``Device.``, ``Device.WiFi.``, ``Device.WiFi.SSID.1.``...)."""
        if self._objects is None:
            objs: set[str] = set()
            for p in self.tree:
                idx = p.find(".")
                while idx > 0:
                    objs.add(p[: idx + 1])
                    idx = p.find(".", idx + 1)
            self._objects = objs
        return self._objects

    def _expand_obj(self, obj_path: str, overlay: Mapping[str, OverlayEntry]) -> list[str]:
        if not obj_path.endswith("."):
            obj_path += "."
        if "*" in obj_path:
            rx = re.compile(re.escape(obj_path).replace(r"\*", r"[^.]+"))
            objs = {m.group(0) for p in (*self.tree, *overlay) if (m := rx.match(p))}
            return sorted(objs)
        exists = obj_path in self._object_paths() or any(p.startswith(obj_path) for p in overlay)
        return [obj_path] if exists else []

    def _check(self, path: str, raw: str, work: Mapping[str, Scalar], overlay: Mapping[str, OverlayEntry]
               ) -> tuple[Scalar, None] | tuple[None, tuple[int, str]]:
        """The coerced value, or (USP code, message) saying why the device refuses it."""
        if path in overlay:
            _, type_name, writable = overlay[path]
            if not writable:
                return None, (7013, f"{path} is read-only")
            if path.endswith(dm.KEY_PARAM):
                if len(raw) > dm.MAX_KEY_LENGTH:
                    return None, (7012, f"{path} is longer than {dm.MAX_KEY_LENGTH} characters")
                return raw, None
            if type_name == "boolean":  # agents in the field accept padded text forms; so does this one
                b = parse_wire_bool(raw)
                if b is None:
                    return None, (7011, f"{path} expects a boolean, got {raw!r}")
                return b, None
            if path.endswith(".NotifType") and raw not in NOTIF_TYPES:
                return None, (7012, f"{path}: {raw!r} is not one of {', '.join(NOTIF_TYPES)}")
            return raw, None
        spec = self._spec(path) if path in self.tree else None
        if spec is None:
            return None, (7026, f"Invalid path: {path} is not a parameter of this device "
                                f"({self.model.vendor} {self.model.model} {self.state.record.firmware})")
        if not spec.writable:
            return None, (7013, f"{path} is read-only on this device")
        try:
            sibling = work.get(path.rsplit(".", 1)[0] + "." + spec.enum_ref) if spec.enum_ref else None
            value = validate_write(raw, spec, sibling)
        except ValueProblem as exc:
            return None, (to_usp(exc.code), f"{path}: {exc.message}")
        reject = self.state.faults.get("reject_value")
        if reject is not None and fault_kinds.matches_path(reject, path, *self._tr181_alias(path)):
            return None, (to_usp(int(reject.get("code", 9007))), f"{path}: value rejected by the device")
        return value, None

    def _spec(self, path: str) -> ParamSpec | None:
        """``self.model.spec(path)``, remembered per path for the firmware the device runs now.
        Why: a fan-out sets the same few parameters over and over, and the catalogue lookup (the
        model, then the generic ``{i}`` path) was a tenth of the agent's CPU per Set."""
        model_key = self.state.model_key
        if self._specs_for != model_key:  # a firmware update can change the model
            self._specs, self._specs_for = {}, model_key
        try:
            return self._specs[path]
        except KeyError:
            spec = self._specs[path] = self.model.spec(path)
            return spec

    def _tr181_alias(self, path: str) -> list[str]:
        """The TR-181 name of a TR-098 parameter, so path faults named in TR-181 still match."""
        if not self.model.is_tr098:
            return []
        try:
            alias = to_tr181(path, self.state.instance_map())
        except (Untranslatable, KeyError, ValueError):
            return []
        return [alias] if alias else []

    def _set(self, msg_id: str, req: msg_pb.Set) -> Outcome:
        overlay = self.overlay()
        work: MutableMapping[str, Scalar] = ChainMap({}, self.tree)  # the tree as this Set leaves it
        tree_writes: dict[str, Scalar] = {}
        sub_writes: dict[str, Scalar] = {}
        errors: list[tuple[str, int, str]] = []
        soft_errors: dict[str, list[tuple[str, int, str]]] = {}
        updated: list[tuple[str, dict[str, str]]] = []
        allow_partial = req.allow_partial
        for upd in req.update_objs:
            obj_path = upd.obj_path
            # every field read once: each access to a protobuf field builds a new Python object
            settings = [(ps.param, ps.value, ps.required) for ps in upd.param_settings]
            objs = self._expand_obj(obj_path, overlay)
            if not objs:
                for param, _, required in settings:
                    if required or not allow_partial:
                        errors.append((_join(obj_path, param), 7026,
                                       f"Invalid path: object {obj_path} does not exist on this device"))
                continue
            for obj in objs:
                done: dict[str, str] = {}
                for param, raw, required in settings:
                    path = obj + param
                    value, problem = self._check(path, raw, work, overlay)
                    if problem is not None:
                        if required or not allow_partial:
                            errors.append((path, *problem))
                        else:
                            soft_errors.setdefault(obj, []).append((param, *problem))
                        continue
                    assert value is not None
                    if path in overlay:
                        sub_writes[path] = value
                    else:
                        tree_writes[path] = value
                        work[path] = value
                    done[param] = records.usp_value(value)
                updated.append((obj, done))
        if errors:
            detail = "; ".join(m for _, _, m in errors)
            return Outcome(records.error(msg_id, 7004, f"Invalid arguments: {detail}", errors))
        faults = self.state.faults
        if "fault_on_set" in faults:
            f = faults["fault_on_set"]
            return Outcome(records.error(msg_id, to_usp(int(f["code"])), f"Set failed: {f['message']}"))
        counter = faults.get("fail_after_n_sets")
        bump = False
        if counter is not None:
            if counter["count"] >= counter["n"]:
                return Outcome(records.error(
                    msg_id, to_usp(int(counter["code"])),
                    f"Set failed: internal error after {counter['count']} successful sets (injected)"))
            bump = True
        key_path = self.root + dm.KEY_PARAM
        key = sub_writes.pop(key_path, None)
        kept = dict(tree_writes)
        sticky = faults.get("not_sticky")
        if sticky:
            kept = {p: v for p, v in kept.items() if not fault_kinds.matches_path(sticky, p, *self._tr181_alias(p))}
        if "reboot_required" in faults and (tree_writes or key is not None):
            self.reboot_required = True
        self._apply_subscription_writes(sub_writes)
        if tree_writes or key is not None:
            paths = sorted(tree_writes)

            def fn(s: DeviceState) -> None:
                if kept:
                    s.set_values(dict(kept))
                if key is not None:
                    s.parameter_key = str(key)
                if bump and "fail_after_n_sets" in s.faults:
                    s.faults["fail_after_n_sets"]["count"] += 1
                s.event("set", key=str(key or ""), status=1 if self.reboot_required else 0, paths=paths,
                        via="usp")

            self._commit(fn, dict(kept))
        payload = records.set_resp_payload(msg_id, [(obj, done, soft_errors.get(obj, ())) for obj, done in updated])
        changes = [(p, records.usp_value(v)) for p, v in kept.items() if self.tree.get(p) == v]
        actions = [Action("notify", changes=changes)] if changes else []
        goodbye = faults.get("goodbye_on_set")
        if goodbye is not None and (tree_writes or key is not None):  # it took the Set: goodbye, then gone
            answer = bool(goodbye.get("answer", True))

            def gone(s: DeviceState) -> None:
                s.faults.pop("goodbye_on_set", None)
                s.faults["offline"] = {}

            self._commit(gone, {})
            actions.insert(0, Action("goodbye", answer=answer))
        return Outcome(None, actions, payload=payload)

    def _apply_subscription_writes(self, writes: dict[str, Scalar]) -> None:
        prefix = f"{self.root}LocalAgent.Subscription."
        for path, value in writes.items():
            if not path.startswith(prefix):
                continue
            inst_s, name = path[len(prefix):].split(".", 1)
            sub = self.subscriptions.get(int(inst_s))
            if sub is None:
                continue
            attr = {"Enable": "enable", "ID": "id", "NotifType": "notif_type", "ReferenceList": "reference_list",
                    "Persistent": "persistent", "NotifRetry": "notif_retry"}.get(name)
            if attr is not None:
                setattr(sub, attr, value)

    # ------------------------------------------------------------------ Add / Delete
    def _table_of(self, obj_path: str) -> str | None:
        """The generic path of a multi-instance table (``Device.DNS.Client.Server.{i}.``) or None."""
        if not obj_path.endswith("."):
            return None
        generic = generic_path(obj_path[:-1]) + ".{i}."
        if any(p.startswith(generic) for p in self.model.param_schema()):
            return generic
        return None

    def _add(self, msg_id: str, req: msg_pb.Add) -> Outcome:
        resp = records.response(msg_id, Header.ADD)
        out = resp.body.response.add_resp
        actions: list[Action] = []
        for obj in req.create_objs:
            result = out.created_obj_results.add(requested_path=obj.obj_path)
            params = {ps.param: ps.value for ps in obj.param_settings}
            if obj.obj_path == f"{self.root}LocalAgent.Subscription.":
                problem = self._add_subscription(params, result)
            else:
                problem = self._add_row(obj.obj_path, params, result)
            if problem is not None:
                if not req.allow_partial:
                    code, message, perrs = problem
                    return Outcome(records.error(msg_id, code, message, perrs))
                result.oper_status.oper_failure.err_code = problem[0]
                result.oper_status.oper_failure.err_msg = problem[1]
        return Outcome(resp, actions)

    def _add_subscription(self, params: dict[str, str], result: msg_pb.AddResp.CreatedObjectResult
                          ) -> tuple[int, str, list[tuple[str, int, str]]] | None:
        sub_id = params.get("ID") or f"cpe-{self._next_sub}"
        if any(s.id == sub_id for s in self.subscriptions.values()):
            return 7025, f"a subscription with ID {sub_id!r} already exists", []
        notif_type = params.get("NotifType", "")
        if notif_type not in NOTIF_TYPES:
            return 7004, "Invalid arguments", [(f"{self.root}LocalAgent.Subscription.NotifType", 7012,
                                                f"NotifType {notif_type!r} is not one of {', '.join(NOTIF_TYPES)}")]
        unknown = sorted(set(params) - set(SUB_FIELDS))
        if unknown:
            return 7004, "Invalid arguments", [(f"{self.root}LocalAgent.Subscription.{unknown[0]}", 7026,
                                                f"unknown parameter {unknown[0]}")]
        n = self._next_sub
        self._next_sub += 1

        def flag(name: str, default: bool) -> bool:
            return parse_wire_bool(params[name]) is True if name in params else default

        self.subscriptions[n] = Subscription(
            id=sub_id, notif_type=notif_type, reference_list=params.get("ReferenceList", ""),
            enable=flag("Enable", False), persistent=flag("Persistent", False),
            notif_retry=flag("NotifRetry", False), recipient=f"{self.root}LocalAgent.Controller.1",
        )
        path = f"{self.root}LocalAgent.Subscription.{n}."
        ok = result.oper_status.oper_success
        ok.instantiated_path = path
        ok.unique_keys["ID"] = sub_id
        return None

    def _add_row(self, obj_path: str, params: dict[str, str], result: msg_pb.AddResp.CreatedObjectResult
                 ) -> tuple[int, str, list[tuple[str, int, str]]] | None:
        generic = self._table_of(obj_path)
        if generic is None:
            return 7018, f"{obj_path} is not a table this device can add rows to", []
        numbers = [int(seg) for p in self.tree if p.startswith(obj_path)
                   if (seg := p[len(obj_path):].split(".", 1)[0]).isdigit()]
        n = max(numbers, default=0) + 1
        base = f"{obj_path}{n}."
        schema = self.model.param_schema()
        row: dict[str, Scalar] = {}
        for gpath, spec in schema.items():
            if gpath.startswith(generic) and "." not in gpath[len(generic):]:
                leaf = gpath[len(generic):]
                default: Scalar = spec.enum[0] if spec.enum else (
                    False if spec.type == "boolean" else 0 if spec.type in dm.INT_TYPES else "")
                row[base + leaf] = default
        work = {**self.tree, **row}
        errors: list[tuple[str, int, str]] = []
        for name, raw in params.items():
            path = base + name
            if path not in row:
                errors.append((path, 7026, f"Invalid path: {name} is not a parameter of {generic}"))
                continue
            spec = schema[generic + name]
            if not spec.writable:
                errors.append((path, 7013, f"{path} is read-only"))
                continue
            try:
                value = validate_write(raw, spec)
            except ValueProblem as exc:
                errors.append((path, to_usp(exc.code), f"{path}: {exc.message}"))
                continue
            row[path] = value
            work[path] = value
        if errors:
            return 7004, "Invalid arguments", errors

        def fn(s: DeviceState) -> None:
            s.set_values(dict(row))
            s.event("object_created", path=base, via="usp")

        self._commit(fn, dict(row))
        ok = result.oper_status.oper_success
        ok.instantiated_path = base
        return None

    def _delete(self, msg_id: str, req: msg_pb.Delete) -> Outcome:
        resp = records.response(msg_id, Header.DELETE)
        out = resp.body.response.delete_resp
        sub_prefix = f"{self.root}LocalAgent.Subscription."
        for obj_path in req.obj_paths:
            result = out.deleted_obj_results.add(requested_path=obj_path)
            ok = result.oper_status.oper_success
            if obj_path.startswith(sub_prefix):
                inst = obj_path[len(sub_prefix):].rstrip(".")
                if inst.isdigit() and int(inst) in self.subscriptions:
                    del self.subscriptions[int(inst)]
                    ok.affected_paths.append(obj_path)
                continue
            parent = obj_path.rstrip(".").rsplit(".", 1)[0] + "."
            last = obj_path.rstrip(".").rsplit(".", 1)[-1]
            if not obj_path.endswith(".") or not last.isdigit() or self._table_of(parent) is None:
                err = (7026, f"Invalid path: {obj_path} is not a table row of this device")
                if not req.allow_partial:
                    return Outcome(records.error(msg_id, 7004, "Invalid arguments", [(obj_path, *err)]))
                result.oper_status.oper_failure.err_code = err[0]
                result.oper_status.oper_failure.err_msg = err[1]
                continue
            if not any(p.startswith(obj_path) for p in self.tree):
                continue  # deleting a row that is not there is not an error (TR-369)

            def fn(s: DeviceState, obj_path: str = obj_path) -> None:
                s.set_values({obj_path: None})
                s.event("object_deleted", path=obj_path, via="usp")

            self._commit(fn, {obj_path: None})
            ok.affected_paths.append(obj_path)
        return Outcome(resp)

    # ------------------------------------------------------------------ GetInstances
    def _get_instances(self, msg_id: str, req: msg_pb.GetInstances) -> msg_pb.Msg:
        resp = records.response(msg_id, Header.GET_INSTANCES)
        out = resp.body.response.get_instances_resp
        overlay = self.overlay()
        keys = [*self.tree, *overlay]
        for obj_path in req.obj_paths:
            rpr = out.req_path_results.add(requested_path=obj_path)
            if not obj_path.endswith(".") or not any(p.startswith(obj_path) for p in keys):
                rpr.err_code = 7026
                rpr.err_msg = f"Invalid path: {obj_path} is not an object of this device"
                continue
            found: dict[str, None] = {}
            for p in keys:
                if not p.startswith(obj_path):
                    continue
                segs = p[len(obj_path):].split(".")[:-1]
                prefix = obj_path
                for i, seg in enumerate(segs):
                    prefix += seg + "."
                    if seg.isdigit():
                        found.setdefault(prefix, None)
                        if req.first_level_only and i == 0:
                            break
                    elif req.first_level_only and i == 0:
                        break
            for inst in found:
                ci = rpr.curr_insts.add(instantiated_obj_path=inst)
                alias = self.tree.get(inst + "Alias")
                if alias:
                    ci.unique_keys["Alias"] = str(alias)
                if inst in overlay or inst + "ID" in overlay:
                    ci.unique_keys["ID"] = str(overlay[inst + "ID"][0])
        return resp

    # ------------------------------------------------------------------ GetSupportedDM
    def supported_objects(self) -> dict[str, dict[str, tuple[str, bool]]]:
        """Generic object path → {param name: (type, writable)}, LocalAgent included."""
        objs: dict[str, dict[str, tuple[str, bool]]] = {}
        prefixes = self._hidden_prefixes()
        for gpath, spec in self.model.param_schema().items():
            if prefixes and gpath.startswith(prefixes):
                continue
            obj, name = records.split_param(gpath)
            objs.setdefault(obj, {})[name] = (spec.type, spec.writable)
        la = f"{self.root}LocalAgent."
        objs.setdefault(la, {}).update({
            "EndpointID": ("string", False), "SupportedProtocols": ("string", False),
            dm.KEY_PARAM.split(".")[-1]: ("string", True), dm.REBOOT_FLAG_PARAM.split(".")[-1]: ("boolean", False),
            "SubscriptionNumberOfEntries": ("unsignedInt", False), "RequestNumberOfEntries": ("unsignedInt", False),
            "ControllerNumberOfEntries": ("unsignedInt", False),
        })
        objs[la + "Subscription.{i}."] = {k: (t, k != "Recipient") for k, t in SUB_FIELDS.items()}
        objs[la + "Request.{i}."] = {k: ("string", False) for k in ("Command", "CommandKey", "Status", "Originator")}
        objs[la + "Controller.{i}."] = {"EndpointID": ("string", False), "Enable": ("boolean", False)}
        # every ancestor object exists too
        for obj in list(objs):
            parts = obj.rstrip(".").split(".")
            for i in range(1, len(parts)):
                objs.setdefault(".".join(parts[:i]) + ".", {})
        return objs

    def _commands(self) -> list[tuple[str, str, list[str], list[str], bool]]:
        """(generic object path, command name, input args, output args, async) per command."""
        out: list[tuple[str, str, list[str], list[str], bool]] = []
        for name in ("reboot", "factory_reset", "ipping", "download"):
            path = dm.command_path(self.root, name)
            assert path is not None
            if self.is_hidden(path):
                continue
            obj, cmd = path.rsplit(".", 1)
            ins = list(dm.IPPING_INPUT) if name == "ipping" else list(dm.DOWNLOAD_INPUT) if name == "download" else []
            outs = list(dm.IPPING_OUTPUT) if name == "ipping" else []
            out.append((generic_path(obj) + ".", cmd, ins, outs, name in dm.ASYNC_COMMANDS))
        return out

    def _get_supported_dm(self, msg_id: str, req: msg_pb.GetSupportedDM) -> msg_pb.Msg:
        resp = records.response(msg_id, Header.GET_SUPPORTED_DM)
        out = resp.body.response.get_supported_dm_resp
        objs = self.supported_objects()
        commands = self._commands()
        for obj, *_ in commands:
            objs.setdefault(obj, {})
        version = self.model.data_model.replace(".", "-")
        uri = (f"urn:broadband-forum-org:tr-098-{version}-0" if self.model.is_tr098
               else f"urn:broadband-forum-org:tr-181-{version}-0-usp")
        VT = msg_pb.GetSupportedDMResp
        for requested in req.obj_paths:
            ror = out.req_obj_results.add(req_obj_path=requested, data_model_inst_uri=uri)
            want = generic_path(requested.rstrip(".")) + "." if requested.endswith(".") else None
            if want is None or want not in objs:
                ror.err_code = 7026
                ror.err_msg = f"Invalid path: {requested} is not a supported object"
                ror.data_model_inst_uri = ""
                continue
            for obj in sorted(o for o in objs if o.startswith(want)):
                rel = obj[len(want):].rstrip(".").split(".") if obj != want else []
                if req.first_level_only and not (len(rel) <= 1 or (len(rel) == 2 and rel[1] == "{i}")):
                    continue
                multi = obj.endswith("{i}.")
                so = ror.supported_objs.add(supported_obj_path=obj, is_multi_instance=multi)
                so.access = VT.OBJ_ADD_DELETE if multi and self._addable(obj) else VT.OBJ_READ_ONLY
                if req.return_params:
                    for name, (type_name, writable) in sorted(objs[obj].items()):
                        so.supported_params.add(
                            param_name=name,
                            access=VT.PARAM_READ_WRITE if writable else VT.PARAM_READ_ONLY,
                            value_type=dm.VALUE_TYPES.get(type_name, VT.PARAM_STRING),
                            value_change=VT.VALUE_CHANGE_ALLOWED,
                        )
                if req.return_commands:
                    for cobj, cmd, ins, outs, is_async in commands:
                        if cobj == obj:
                            so.supported_commands.add(
                                command_name=cmd, input_arg_names=ins, output_arg_names=outs,
                                command_type=VT.CMD_ASYNC if is_async else VT.CMD_SYNC,
                            )
                if req.return_events and obj == self.root:
                    so.supported_events.add(event_name=dm.BOOT_EVENT,
                                            arg_names=["Cause", "CommandKey", "FirmwareUpdated", "ParameterMap"])
        return resp

    def _addable(self, generic_obj: str) -> bool:
        return generic_obj.endswith("LocalAgent.Subscription.{i}.") or any(
            generic_obj.startswith(t) for t in ("Device.DNS.Client.Server.{i}.", "Device.Hosts.Host.{i}.")
        )

    # ------------------------------------------------------------------ Operate
    def _operate(self, msg_id: str, req: msg_pb.Operate) -> Outcome:
        name = dm.command_name(self.root, req.command)
        resp = records.response(msg_id, Header.OPERATE)
        result = resp.body.response.operate_resp.operation_results.add(executed_command=req.command)
        if name is None:
            return Outcome(records.error(msg_id, 7026, f"Invalid path: command {req.command} is not supported"))
        if self.is_hidden(req.command):  # the object is not in this agent's schema: the OB-USP-Agent's words
            return Outcome(records.error(msg_id, 7026,
                                         f"CheckPathProperties: Path ({req.command}) does not exist in the schema"))
        refused = self.state.faults.get("command_refused")
        if refused is not None and refused.get("command", name) == name:  # an Error, as a real agent refuses
            why = f"{req.command}: {refused['message']} (injected command_refused)"
            return Outcome(records.error(msg_id, 7006, why))
        args = dict(req.input_args)
        if name in ("reboot", "factory_reset"):
            kind: Literal["reboot", "factory_reset"] = "reboot" if name == "reboot" else "factory_reset"
            result.req_output_args.SetInParent()
            return Outcome(resp if req.send_resp else None, [Action(kind, command_key=req.command_key)])
        problem = self._check_args(name, args)
        if problem is not None:
            result.cmd_failure.err_code = 7027
            result.cmd_failure.err_msg = problem
            return Outcome(resp if req.send_resp else None)
        n = self._next_req
        self._next_req += 1
        request = AsyncRequest(n, req.command, name, req.command_key, args)
        self.requests[n] = request
        result.req_obj_path = f"{self.root}LocalAgent.Request.{n}."
        return Outcome(resp if req.send_resp else None, [Action("async", command_key=req.command_key,
                                                                  request=request)])

    @staticmethod
    def _check_args(name: str, args: dict[str, str]) -> str | None:
        if name == "ipping":
            unknown = sorted(set(args) - set(dm.IPPING_INPUT) - {"Interface", "ProtocolVersion", "DSCP"})
            if unknown:
                return f"unknown input argument(s) {', '.join(unknown)} (expected {', '.join(dm.IPPING_INPUT)})"
            if not args.get("Host", "").strip():
                return "IPPing() needs the Host input argument"
            for k in ("NumberOfRepetitions", "Timeout", "DataBlockSize"):
                if k in args and not args[k].strip().isdigit():
                    return f"{k} must be an unsigned integer, got {args[k]!r}"
        if name == "download" and not args.get("URL", "").strip():
            return "Download() needs the URL input argument"
        return None

    def run_command(self, name: str, args: dict[str, str]) -> JsonObject:
        """Run a command's device behaviour on the twin (blocking); raises the twin's typed errors."""
        self.flush()
        device = self.twin.device(self.device_id)
        if name == "ipping":
            margs: dict[str, Scalar] = {"host": args.get("Host", "")}
            for src, dst in (("NumberOfRepetitions", "repetitions"), ("Timeout", "timeout_ms"),
                             ("DataBlockSize", "size")):
                if src in args:
                    margs[dst] = int(args[src])
            result = self.ops.device_command(device, "ipping", margs)
        elif name == "download":
            dargs: dict[str, Scalar] = {"url": args.get("URL", "")}
            if args.get("X_GATEWARD_Version"):
                dargs["version"] = args["X_GATEWARD_Version"]
            result = self.ops.device_command(device, "download", dargs)
        else:
            result = self.ops.device_command(device, name, {"command_key": args.get("CommandKey", "")})
        self.refresh()
        self.endpoint_id = self._endpoint_id()
        return dict(result.output)

    def booted(self, *, factory_reset: bool) -> None:
        """Forget run-time state after a (re)boot: async requests; after a factory reset also
        every subscription but the factory ones."""
        self.requests.clear()
        self.reboot_required = False
        self.started = self.twin.clock()
        if factory_reset:
            self.factory_subscriptions()

    # ------------------------------------------------------------------ notifications
    def subscriptions_for(self, notif_type: str, path: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.matches(notif_type, path)]

    def boot_params(self, cause: str, command_key: str = "", firmware_updated: bool = False) -> dict[str, str]:
        return {"Cause": cause, "CommandKey": command_key, "FirmwareUpdated": records.usp_value(firmware_updated),
                "ParameterMap": "{}"}

    def identity(self) -> tuple[str, str, str]:
        rec = self.state.record
        return rec.oui, rec.product_class, rec.serial


def _join(obj: str, param: str) -> str:
    return (obj if obj.endswith(".") else obj + ".") + param

