"""The USP adapter: the executor contract (``executors.base``) spoken as a TR-369 controller.

The contract is synchronous; the controller is asynchronous. :class:`UspExecutor` runs a
:class:`~executors.usp.controller.UspController` on a background event loop and turns each contract
call into one or a few USP requests:

* ``read`` — Get (TR-181 agents) or one Get of the whole tree (TR-098-rooted agents, translated with
  ``core.kernel.datamodel.tr098`` exactly as for CWMP firmware). Values are typed with the agent's own
  GetSupportedDM answer, cached per (root, OUI, product class, firmware).
* ``presence`` — the controller's connection state plus a live probe (GetSupportedProtocol): an
  agent that is connected but does not answer is *online but not reachable*.
* ``apply`` — Get of the touched parameters and the idempotency key (a no-op when both already
  hold), then **one** Set with ``allow_partial=false`` and every parameter ``required``, the key
  (``<root>LocalAgent.X_GATEWARD_ParameterKey``) riding in the same Set. A 7004 with ``param_errs``
  becomes InvalidValue/NotWritable/InvalidParameterName per parameter (mixed causes: ``Fault``
  9003), keyed by the TR-181 path the caller used.
* ``operate`` — ``Reboot()``/``FactoryReset()`` wait for the agent's Boot! event; ``IPPing()`` and
  ``Download()`` are async: a ``LocalAgent.Subscription`` for OperationComplete is ensured first, and
  the result comes from the OperationComplete notification.

Errors: an agent known to be disconnected → :class:`~executors.base.DeviceOffline`; a request with
no answer → :class:`~executors.base.Timeout` whose message says a real agent drops Records with a
wrong endpoint ID silently; an agent whose identity (OUI-ProductClass-Serial) is not the device's →
:class:`~executors.base.UnknownDevice`.

Fan-out: :meth:`UspExecutor.get_many` reads many devices concurrently on the loop;
:meth:`UspExecutor.apply_many` applies many devices' changes concurrently, each checked against
its own write grant exactly like :meth:`Executor.apply`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from core.kernel.datamodel.paths import concretise
from core.kernel.datamodel.tr098 import InstanceMap, Untranslatable, instance_map_from_params, translate_set
from core.kernel.datamodel.tr098_view import select_view_paths, tr181_view
from core.kernel.models import Change, Device, Root, Scalar
from core.kernel.ports.topics import AgentTopics
from core.kernel.ports.topics import endpoint_for as endpoint_for
from core.kernel.secrets import is_secret_path
from core.kernel.values import parse_wire_bool
from executors.base import (
    COMMANDS,
    ApplyResult,
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
    Timeout,
    UnknownDevice,
    WriteGrant,
)
from executors.usp import datamodel as dm
from executors.usp import own_topic, records
from executors.usp import subscriptions as subs
from executors.usp.controller import (
    DEFAULT_ENDPOINT_ID,
    AgentGoneMidRequest,
    AgentOffline,
    AgentState,
    UspController,
    UspEvent,
    UspTimeout,
)
from executors.usp.errors import PartialApply, UspError, describe, fault_from_problems, to_cwmp, typed_fault
from executors.usp.keeper import Created, Managed, SubscriptionKeeper
from executors.usp.loop import LoopThread, LoopTimeout
from executors.usp.proto import msg_pb
from executors.usp.topics import DEFAULT_AGENT_TOPICS, conventional_topics

log = logging.getLogger(__name__)
T = TypeVar("T")
IDENTITY_LEAVES = ("ManufacturerOUI", "ProductClass", "SerialNumber", "SoftwareVersion")
# After a FactoryReset(), how long a reconnected agent still gets to send its Boot! before its
# restart is judged from its UpTime instead (a factory-fresh agent keeps no Boot! subscription).
BOOT_AFTER_RECONNECT_S = 2.0


@dataclass
class SupportedDM:
    """One firmware's data model as its agent describes it (GetSupportedDM)."""

    root: str
    uri: str
    params: dict[str, tuple[str, bool]]  # generic param path → (TR-181 type, writable)
    objects: list[str]
    commands: set[str]

    def spec(self, path: str) -> tuple[str, bool] | None:
        return self.params.get(_generic(path))

    @classmethod
    def from_resp(cls, root: str, resp: msg_pb.GetSupportedDMResp) -> SupportedDM:
        params: dict[str, tuple[str, bool]] = {}
        objects: list[str] = []
        commands: set[str] = set()
        uri = ""
        VT = msg_pb.GetSupportedDMResp
        for ror in resp.req_obj_results:
            if ror.err_code:
                raise UspError(int(ror.err_code), f"GetSupportedDM {ror.req_obj_path}: {ror.err_msg}")
            uri = uri or ror.data_model_inst_uri
            for so in ror.supported_objs:
                objects.append(so.supported_obj_path)
                for p in so.supported_params:
                    params[so.supported_obj_path + p.param_name] = (
                        dm.TYPE_NAMES.get(int(p.value_type), "string"),
                        p.access in (VT.PARAM_READ_WRITE, VT.PARAM_WRITE_ONLY),
                    )
                for c in so.supported_commands:
                    commands.add(so.supported_obj_path + c.command_name)
        return cls(root, uri, params, objects, commands)


@dataclass
class AgentInfo:
    """What the executor learned about one agent (cleared on Boot!/OnBoardRequest)."""

    endpoint_id: str
    device_id: str
    root: str
    firmware: str
    oui: str
    product_class: str
    dm: SupportedDM
    subscriptions: set[str] = field(default_factory=set)
    serial: str = ""

    def is_device(self, device: Device) -> bool:
        """Whether the agent's DeviceInfo names ``device``: its ``OUI-ProductClass-Serial`` id, or —
        for a device registered from its endpoint ID alone (a pending agent accepted before anything
        reported its product class, as with the OB-USP-Agent, whose Boot! carries none) — the same
        OUI and serial, and the same product class where the inventory knows one."""
        if self.device_id == device.id:
            return True
        if not (device.oui and device.serial and self.serial):
            return False
        if device.id.upper() != f"OS::{device.oui}-{device.serial}".upper():
            return False  # a device known by OUI-ProductClass-Serial must be named exactly that
        return (device.oui.upper() == self.oui.upper() and device.serial == self.serial
                and (not device.product_class or device.product_class == self.product_class))

    @property
    def key_path(self) -> str | None:
        path = self.root + dm.KEY_PARAM
        return path if self.dm.spec(path) is not None else None

    @property
    def reboot_flag_path(self) -> str | None:
        path = self.root + dm.REBOOT_FLAG_PARAM
        return path if self.dm.spec(path) is not None else None


def _generic(path: str) -> str:
    return ".".join("{i}" if seg.isdigit() else seg for seg in path.split("."))


def _mtp(st: AgentState) -> str:
    """How the agent is reached, for presence: its WebSocket (and from where), or MQTT and its version."""
    return f"WebSocket from {st.mtp.peer}" if st.mtp is not None else f"MQTT {st.mqtt_version}"


class UspExecutor(Executor):
    """Executor over a USP controller (see the module docstring).

    ``timeout_s`` bounds one request; ``probe_timeout_s`` one presence probe; reboots and async
    commands wait up to ``reboot_timeout_s`` / ``operation_timeout_s`` for their notification.
    """

    name = "usp"

    def __init__(
        self,
        controller: UspController | None = None,
        *,
        url: str | None = None,
        endpoint_id: str = DEFAULT_ENDPOINT_ID,
        mqtt_version: int = 5,
        timeout_s: float = 10.0,
        probe_timeout_s: float = 3.0,
        reboot_timeout_s: float = 180.0,
        operation_timeout_s: float = 120.0,
        runner: LoopThread | None = None,
        topics: AgentTopics | None = None,
        auto_subscribe: bool = False,
        watch: Sequence[str] = subs.DEFAULT_WATCH,
        controller_topic: str | None = None,
        managed: Managed | None = None,
        session_expiry_s: int = 0,
        agent_topics: tuple[str, ...] = DEFAULT_AGENT_TOPICS,
        installation: str = "",
        _shared: tuple[dict[str, AgentInfo], dict[tuple[str, str, str, str], SupportedDM]] | None = None,
        _keeper: SubscriptionKeeper | None = None,
    ) -> None:
        self._owns_runner = runner is None and controller is None
        self.runner = runner or LoopThread("usp-controller")
        if controller is None:
            if url is None:
                raise ValueError("UspExecutor needs a controller or an MQTT url")
            controller = UspController(url, endpoint_id=endpoint_id, mqtt_version=mqtt_version,
                                       request_timeout_s=timeout_s, topics=topics, topic=controller_topic,
                                       session_expiry_s=session_expiry_s, agent_topics=agent_topics,
                                       installation=installation)
        self.controller = controller
        # the subscriptions the controller relies on, kept on the fleet's agents (executors.usp.keeper)
        self.watch = tuple(watch)
        self.keeper = _keeper or SubscriptionKeeper(controller, watch=self.watch, timeout_s=timeout_s,
                                                    enabled=auto_subscribe, managed=managed)
        self._start_lock: asyncio.Lock | None = None
        self.last_connect_error = ""
        if not controller.started:
            try:
                self.runner.run(self._start(), timeout=30)
            except (ConnectionError, OSError, TimeoutError) as exc:  # the broker may come later
                self.last_connect_error = str(exc) or type(exc).__name__
                log.warning("USP controller could not connect yet (%s); every call will try again", exc)
        self.timeout_s = timeout_s
        self.probe_timeout_s = probe_timeout_s
        self.reboot_timeout_s = reboot_timeout_s
        self.operation_timeout_s = operation_timeout_s
        self._info, self._dm_cache = _shared or ({}, {})
        if _shared is None:
            self.runner.loop.call_soon_threadsafe(self.controller.add_listener, self._on_event)
        self._closed = False

    def with_timeout(self, timeout_s: float | None, *, probe_timeout_s: float | None = None) -> UspExecutor:
        """The same controller and caches with a different per-request timeout; the presence probe
        waits ``probe_timeout_s`` when given (a first contact waits as long as its caller said), else
        no longer than the request timeout."""
        t = self.timeout_s if timeout_s is None else timeout_s
        probe = min(self.probe_timeout_s, t) if probe_timeout_s is None else probe_timeout_s
        clone = UspExecutor(self.controller, timeout_s=t, probe_timeout_s=probe,
                            reboot_timeout_s=self.reboot_timeout_s, operation_timeout_s=self.operation_timeout_s,
                            runner=self.runner, watch=self.watch, _shared=(self._info, self._dm_cache),
                            _keeper=self.keeper)  # one view of the agents
        return clone

    @property
    def auto_subscribe(self) -> bool:
        """Whether agents' contacts make this process ensure their subscriptions (the keeper's switch)."""
        return self.keeper.enabled

    @property
    def subscribed(self) -> dict[str, subs.EnsureReport]:
        """The agents whose subscriptions were last ensured, with what was found and created."""
        return self.keeper.subscribed

    def enable_auto_subscribe(self, managed: Managed | None, on_created: Created | None = None) -> None:
        """Make this the long-running controller that keeps agents' subscriptions in place.

        Why a switch and not a constructor option: the runtime builds the adapter lazily, for a CLI
        command as for ``gateward run``; only the process that listens for events (``gateward run``,
        ``gateward worker``: ``gateward.runtime.UspEvents``) turns it on, so a short-lived command
        never writes to an agent's subscription table by itself. ``managed`` says which endpoints
        belong to an active device of the fleet; nothing is written to any other agent. ``on_created``
        is told the subscription instances made, so the stored model has them at once."""
        self.keeper.managed = managed
        if on_created is not None:  # else the hook the composition root gave the adapter stays
            self.keeper.on_created = on_created
        self.keeper.enabled = True

    async def _start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self.controller.started:
                await self.controller.start(timeout=5)

    async def _connected(self, device: Device) -> None:
        """Start the controller if the broker was not there before; else DeviceOffline, saying why."""
        if self.controller.started:
            return
        try:
            await self._start()
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise DeviceOffline(device.id, f"the USP controller cannot reach the MQTT broker at "
                                           f"{self.controller.link.url}: {exc}") from None

    def connect(self, timeout: float = 10.0) -> bool:
        """Connect the controller to the broker now if it is not yet; True once it is.

        Why callers need this: requests connect on first use, but notifications (Boot!,
        OnBoardRequest, ValueChange) arrive only after the controller subscribed its topic, so an
        event source must not wait for the first request. Never raises; a False is retried by the
        caller (after that first success the MQTT link reconnects by itself)."""
        if self.controller.started:
            return True
        try:
            self.runner.run(self._start(), timeout=timeout)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.debug("USP controller could not connect to %s: %s", self.controller.link.url, exc)
            self.last_connect_error = str(exc) or type(exc).__name__
            return False
        return True

    def add_event_listener(self, listener: Callable[[UspEvent], None]) -> None:
        """Call ``listener`` for every USP event (Boot!, OnBoardRequest, ValueChange, connect, ...)
        — on the controller's event-loop thread, so it must be quick (hand work off to a queue).
        Remediation jobs and zero-touch provisioning build on this; ``controller.events()`` is the
        asyncio-native form. The listener consumes notifications for every process of this
        controller endpoint, so the controller joins the shared subscription group (MQTT 5)."""
        self.runner.loop.call_soon_threadsafe(functools.partial(self.controller.add_listener, listener, consumer=True))

    def remove_event_listener(self, listener: Callable[[UspEvent], None]) -> None:
        self.runner.loop.call_soon_threadsafe(self.controller.remove_listener, listener)

    def _on_event(self, event: UspEvent) -> None:
        if event.kind in ("boot", "onboard"):
            self._info.pop(event.endpoint_id, None)  # firmware (and so the data model) may have changed
        self.keeper.on_event(event)  # contacts (re)check the agent's subscriptions (executors.usp.keeper)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.keeper.closed = True  # no new checks; the loop cancels running ones when it stops
        if self._owns_runner:
            try:
                if self.controller.started:
                    self.runner.run(self.controller.stop(), timeout=10)
            finally:
                self.runner.stop()
                if self.controller.topics is not None:
                    self.controller.topics.close()  # write the topics learnt in this process

    # ------------------------------------------------------------------ plumbing
    def _run(self, device: Device, coro: Coroutine[Any, Any, T], budget: float | None = None) -> T:
        """Run on the controller's loop; every request inside has its own timeout, and the budget
        is a backstop so a synchronous caller can never hang."""
        if budget is None:
            budget = self.timeout_s * 5 + self.probe_timeout_s * 2 + 10
        try:
            return self.runner.run(coro, timeout=budget)
        except LoopTimeout:
            raise Timeout(device.id, f"the USP exchange did not finish within {budget:g}s; retry later") from None

    def _offline(self, device: Device, exc: AgentOffline) -> DeviceOffline:
        return DeviceOffline(device.id, f"USP agent {exc.endpoint_id} is not connected: {exc.detail}")

    def _timeout(self, device: Device, exc: UspTimeout) -> Timeout:
        return Timeout(device.id, str(exc))

    async def _call(self, device: Device, coro: Coroutine[Any, Any, T]) -> T:
        """Await a controller request, translating transport failures into the contract's errors."""
        try:
            return await coro
        except (AgentOffline, UspTimeout, ConnectionError) as exc:
            raise self._transport_error(device, exc) from None

    def _transport_error(self, device: Device, exc: AgentOffline | UspTimeout | ConnectionError) -> ExecutorError:
        if isinstance(exc, AgentGoneMidRequest):  # sent, then a goodbye: an unknown outcome, as a timeout
            return Timeout(device.id, f"USP agent {exc.endpoint_id}: {exc.detail}")
        if isinstance(exc, AgentOffline):
            return self._offline(device, exc)
        if isinstance(exc, UspTimeout):
            return self._timeout(device, exc)
        return DeviceOffline(device.id, f"USP controller cannot reach the broker: {exc}")

    def _ready_now(self, device: Device) -> AgentInfo | None:
        """What :meth:`_ready` returns when it has nothing to await — the controller running, the
        agent connected and answering, its info learnt and naming this device — else None (the
        loop then does the probing, learning or raising)."""
        if not self.controller.started:
            return None
        ep = endpoint_for(device)
        st = self.controller.agent(ep)
        if st is None or st.connected is not True or st.unanswered:
            return None
        info = self._info.get(ep)
        if info is None or not info.is_device(device):
            return None
        return info

    async def _ready(self, device: Device) -> AgentInfo:
        """The agent's info, after checking it is connected, answering, and is this device."""
        await self._connected(device)
        ep = endpoint_for(device)
        st = self.controller.agent(ep)
        if st is not None and st.connected is False:
            since = datetime.fromtimestamp(st.last_seen, UTC).strftime("%H:%M:%SZ") if st.last_seen else "?"
            raise DeviceOffline(device.id, f"USP agent {ep} is not connected (disconnected at {since}: "
                                           f"{st.disconnect_reason or 'no reason given'})")
        if (st is None or st.connected is None) and ep not in self._info:
            # never heard from since this controller started: probe its conventional topic first
            if not await self.controller.probe(ep, self.probe_timeout_s):
                why = self.controller.mismatch(ep)
                raise DeviceOffline(
                    device.id,
                    f"no USP agent {ep} has connected to controller {self.controller.endpoint_id}, and a probe on "
                    f"its topic{self._topic_of(ep)} got no answer within {self.probe_timeout_s:g}s; "
                    + (why or "retry after its next inform (its mqtt_connect Record)"),
                )
        elif st is not None and st.unanswered and not await self.controller.probe(ep, self.probe_timeout_s):
            raise DeviceOffline(
                device.id,
                f"USP agent {ep} has not answered since {st.unanswered}, nor a probe within "
                f"{self.probe_timeout_s:g}s: it may have left without a goodbye (a clean MQTT DISCONNECT publishes "
                "no will; OB-USP-Agent does so when its MQTT client is disabled) or be busy; this request was not "
                f"sent — {self.controller.mismatch(ep)}; retry after its next inform (any Record from the agent, "
                "e.g. mqtt_connect or Boot!, marks it answering again)",
            )
        info = self._info.get(ep)
        if info is None:
            info = await self._learn(device, ep)
            self.keeper.on_exchange(ep)  # an agent there before this process: its first exchange counts
        if not info.is_device(device):
            raise UnknownDevice(device.id, f"USP agent {ep} is device {info.device_id}, not {device.id}")
        return info

    def _topic_of(self, ep: str) -> str:
        st = self.controller.agent(ep)
        if st is None:
            return "?"
        if st.topic_source == "convention":  # never learnt: every conventional topic was asked
            return "s " + ", ".join(conventional_topics(ep, self.controller.agent_topics)) + " (conventions)"
        return f" {st.topic} ({st.topic_source})"

    async def _learn(self, device: Device, ep: str) -> AgentInfo:
        paths = [f"{root}DeviceInfo.{leaf}" for root in ("Device.", "InternetGatewayDevice.")
                 for leaf in IDENTITY_LEAVES]
        values, _errors = await self._call(device, self.controller.get(ep, paths, timeout=self.timeout_s))
        root = next((r for r in ("Device.", "InternetGatewayDevice.")
                     if f"{r}DeviceInfo.SerialNumber" in values), None)
        if root is None:
            raise UnknownDevice(device.id, f"USP agent {ep} reports no DeviceInfo.SerialNumber under any root")
        oui = values.get(f"{root}DeviceInfo.ManufacturerOUI", "")
        pc = values.get(f"{root}DeviceInfo.ProductClass", "")
        serial = values[f"{root}DeviceInfo.SerialNumber"]
        firmware = values.get(f"{root}DeviceInfo.SoftwareVersion", "")
        key = (root, oui, pc, firmware)
        sdm = self._dm_cache.get(key)
        if sdm is None:
            try:
                resp = await self._call(device, self.controller.get_supported_dm(ep, [root], timeout=self.timeout_s))
                sdm = SupportedDM.from_resp(root, resp)
            except UspError as exc:
                raise typed_fault(device.id, exc, doing="GetSupportedDM") from None
            self._dm_cache[key] = sdm
        info = AgentInfo(ep, f"{oui}-{pc}-{serial}", root, firmware, oui, pc, sdm, serial=serial)
        self._info[ep] = info
        return info

    # ------------------------------------------------------------------ presence
    def presence(self, device: Device) -> Presence:
        return self._run(device, self.apresence(device))

    async def apresence(self, device: Device) -> Presence:
        try:
            await self._connected(device)
        except DeviceOffline as exc:
            return Presence(device_id=device.id, online=False, reachable=False, detail=exc.message)
        ep = endpoint_for(device)
        st = self.controller.agent(ep)
        last = datetime.fromtimestamp(st.last_seen, UTC) if st is not None and st.last_seen else None
        if st is not None and st.connected is False:
            return Presence(device_id=device.id, online=False, reachable=False, last_seen=last,
                            detail=f"offline: USP agent {ep} disconnected ({st.disconnect_reason or 'no reason'})")
        t0 = time.perf_counter()
        answered = await self.controller.probe(ep, self.probe_timeout_s)
        st = self.controller.agent(ep)
        last = datetime.fromtimestamp(st.last_seen, UTC) if st is not None and st.last_seen else last
        if answered:
            assert st is not None
            return Presence(device_id=device.id, online=True, reachable=True, last_seen=last,
                            detail=f"USP agent {ep} connected ({_mtp(st)}, USP {st.usp_versions}); "
                                   f"answered a probe in {(time.perf_counter() - t0) * 1000:.1f} ms")
        if st is not None and st.connected is False:
            return Presence(device_id=device.id, online=False, reachable=False, last_seen=last,
                            detail=f"offline: USP agent {ep} disconnected ({st.disconnect_reason or 'no reason'})")
        connected = st is not None and st.connected is True
        if connected:
            detail = (f"online but unreachable: USP agent {ep} is connected to the broker but did not answer a "
                      f"probe within {self.probe_timeout_s:g}s; changes wait until it answers (next inform)")
        else:
            detail = (f"offline: no USP agent {ep} has connected to controller {self.controller.endpoint_id} "
                      f"and a probe on its topic{self._topic_of(ep)} got no answer within {self.probe_timeout_s:g}s")
            why = self.controller.mismatch(ep)
            detail += f"; {why}" if why else ""
        return Presence(device_id=device.id, online=connected, reachable=False, last_seen=last, detail=detail)

    # ------------------------------------------------------------------ reading
    def read(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        # The common case — a known, answering TR-181 agent — is one Get sent from this thread
        # (UspController.request_threadsafe): the answer is the only thread hop.
        info = self._ready_now(device)
        if info is not None and info.root != Root.IGD.value:
            try:
                resp = self.controller.request_threadsafe(
                    info.endpoint_id, records.get(records.new_msg_id(), list(paths)), self.timeout_s)
            except (AgentOffline, UspTimeout, ConnectionError) as exc:
                raise self._transport_error(device, exc) from None
            if resp is not None:
                values, errors = records.flatten_get_resp(resp.body.response.get_resp)
                return self._typed_values(device, info, values, errors)
        return self._run(device, self.aread(device, paths))

    async def aread(self, device: Device, paths: Sequence[str]) -> dict[str, ParamValue]:
        info = await self._ready(device)
        if info.root == Root.IGD.value:
            return await self._read_tr098(device, info, paths)
        values, errors = await self._call(device, self.controller.get(info.endpoint_id, list(paths),
                                                                      timeout=self.timeout_s))
        return self._typed_values(device, info, values, errors)

    @staticmethod
    def _typed_values(device: Device, info: AgentInfo, values: Mapping[str, str],
                      errors: Mapping[str, tuple[int, str]]) -> dict[str, ParamValue]:
        """A GetResp as the contract's values, typed with the agent's data model."""
        bad = {p: (to_cwmp(code), f"{p}: {msg or describe(code)} (USP {code})") for p, (code, msg) in errors.items()}
        if bad:
            raise InvalidParameterName(device.id, f"invalid parameter name(s): {', '.join(bad)}", per_parameter=bad)
        out: dict[str, ParamValue] = {}
        for path, raw in values.items():
            spec = info.dm.spec(path)
            type_name, writable = spec if spec is not None else ("string", None)
            out[path] = ParamValue(path=path, device_path=path, value=dm.typed(raw, type_name), type=type_name,
                                   writable=writable)
        return out

    async def _tree(self, device: Device, info: AgentInfo) -> dict[str, Scalar]:
        values, errors = await self._call(device, self.controller.get(info.endpoint_id, [info.root],
                                                                      timeout=self.timeout_s))
        if errors:
            code, msg = next(iter(errors.values()))
            raise Fault(device.id, f"reading the {info.root} tree failed: USP {code} {msg}", code=to_cwmp(code))
        types = {p: (info.dm.spec(p) or ("string", False))[0] for p in values}
        return dm.typed_map(values, types)

    async def _read_tr098(self, device: Device, info: AgentInfo, paths: Sequence[str]) -> dict[str, ParamValue]:
        tree = await self._tree(device, info)
        imap = instance_map_from_params(tree, vendor=device.vendor, model=device.model)
        view = tr181_view(tree, imap)
        out: dict[str, ParamValue] = {}
        bad: dict[str, tuple[int, str]] = {}

        def emit(tr: str) -> None:
            entry = view[tr]
            spec = info.dm.spec(entry.device_path)
            writable = entry.writable if entry.writable is not None else (spec[1] if spec else False)
            out[tr] = ParamValue(path=tr, device_path=entry.device_path, value=entry.value,
                                 type=entry.type or (spec[0] if spec else "string"), writable=writable)

        hits, bad = select_view_paths(view, paths, lambda p: f"{p} is not supported by this TR-098 device over USP")
        for k in hits:
            emit(k)
        if bad:
            raise InvalidParameterName(device.id, f"invalid parameter name(s): {', '.join(bad)}", per_parameter=bad)
        return out

    def discover(self, device: Device) -> Discovery:
        return self._run(device, self.adiscover(device))

    async def adiscover(self, device: Device) -> Discovery:
        info = await self._ready(device)
        imap: dict[str, Any] = {}
        complete = False
        if info.root == Root.IGD.value:
            tree = await self._tree(device, info)
            m = instance_map_from_params(tree, vendor=device.vendor, model=device.model)
            imap = m.model_dump(mode="json")
            view = tr181_view(tree, m)
            objects = sorted({_generic(k.rsplit(".", 1)[0]) + "." for k in view})
            params: dict[str, bool | None] = {
                k: e.writable if e.writable is not None else (s[1] if (s := info.dm.spec(e.device_path)) else None)
                for k, e in view.items()}
        else:
            # LocalAgent included: its read-only parameters are refused as read-only at validate,
            # not as "not supported by this device"
            objects = sorted(info.dm.objects)
            params = {k: w for k, (_t, w) in info.dm.params.items()}
            try:  # GetInstances: this device's instance numbers (core.capabilities keeps them per device)
                found = await self._call(device, self.controller.get_instances(info.endpoint_id, [info.root],
                                                                               timeout=self.timeout_s))
                params = concretise(params, [o for objs in found.values() for o in objs])
                complete = True  # the whole schema, and every instance the device has (validation checks both)
            except UspError:
                pass  # the schema alone still says what the firmware has and what it can write
        version = info.dm.uri.split("tr-181-")[-1].split("tr-098-")[-1]
        version = ".".join(version.split("-")[:2]) if version else ""
        commands, command_paths = self._commands_of(info)
        return Discovery(device_id=device.id, root=Root(info.root), data_model_version=version,
                         supported_objects=objects, instance_map=imap, firmware=info.firmware, parameters=params,
                         instances_complete=complete, commands=commands, command_paths=command_paths)

    @staticmethod
    def _commands_of(info: AgentInfo) -> tuple[list[str] | None, dict[str, str]]:
        """The contract commands the agent's GetSupportedDM lists (each looked for as the command this
        adapter would Operate, ``dm.command_path``), and those paths, generic. Why: the
        OB-USP-Agent has no ``DeviceInfo.FirmwareImage.`` table, and a governed download to it was
        approved before the agent answered 7026; validation now refuses it. An answer listing no command
        at all (not even the ``Reboot()`` every agent has) says nothing: ``None``."""
        paths = {c: _generic(p) for c in COMMANDS if (p := dm.command_path(info.root, c)) is not None}
        if not info.dm.commands:
            return None, paths
        listed = {_generic(c) for c in info.dm.commands}
        return [c for c, p in paths.items() if p in listed], paths

    # ------------------------------------------------------------------ writing: Set
    def _apply(self, device: Device, changes: Sequence[Change], key: str) -> ApplyResult:
        return self._run(device, self._aapply(device, changes, key))

    async def apply_many(
        self, items: Sequence[tuple[Device, Sequence[Change], str, WriteGrant | None]], *, concurrency: int = 500,
    ) -> list[ApplyResult | ExecutorError]:
        """Apply many devices' changes concurrently (run on the executor's loop, e.g. via
        ``executor.runner.run(...)``). Every item's grant is verified like :meth:`Executor.apply`;
        each result is the ApplyResult or the typed error for that device."""
        for device, changes, _key, grant in items:
            self.check_grant(grant, device, paths=[c.path for c in changes])
        sem = asyncio.Semaphore(concurrency)

        async def one(device: Device, changes: Sequence[Change], key: str) -> ApplyResult | ExecutorError:
            async with sem:
                try:
                    return await self._aapply(device, changes, key)
                except ExecutorError as exc:
                    return exc

        return list(await asyncio.gather(*(one(d, c, k) for d, c, k, _ in items)))

    async def get_many(self, devices: Sequence[Device], paths: Sequence[str], *, concurrency: int = 500
                       ) -> dict[str, dict[str, ParamValue] | ExecutorError]:
        """Read the same paths from many devices concurrently (on the executor's loop)."""
        sem = asyncio.Semaphore(concurrency)

        async def one(device: Device) -> dict[str, ParamValue] | ExecutorError:
            async with sem:
                try:
                    return await self.aread(device, paths)
                except ExecutorError as exc:
                    return exc

        results = await asyncio.gather(*(one(d) for d in devices))
        return {d.id: r for d, r in zip(devices, results, strict=True)}

    async def _aapply(self, device: Device, changes: Sequence[Change], key: str) -> ApplyResult:
        info = await self._ready(device)
        self._refuse_secret_on_shared_topic(device, info.endpoint_id, changes)
        if info.root == Root.IGD.value:
            writes, to_tr181 = await self._plan_tr098(device, info, changes)
        else:
            writes = {c.path: c.value for c in changes}
            to_tr181 = {c.path: c.path for c in changes}
            self._check_declared_types(device, info, changes)
        key_path = info.key_path
        if key_path is not None and len(key) > dm.MAX_KEY_LENGTH:
            raise Fault(device.id, f"idempotency key {key!r} is longer than {dm.MAX_KEY_LENGTH} characters", code=9003)
        if await self._already_applied(device, info, writes, key):
            return ApplyResult(device_id=device.id, key=key, status=0, applied=[], idempotent_skip=True)
        values: dict[str, object] = dict(writes)
        if key_path is not None:
            values[key_path] = key
        try:
            resp = await self._call(device, self.controller.set(info.endpoint_id, values, timeout=self.timeout_s))
        except UspError as exc:
            raise typed_fault(device.id, exc, doing="USP Set", to_tr181=to_tr181) from None
        self._check_set_resp(device, resp, to_tr181)
        status = 0
        flag = info.reboot_flag_path
        if flag is not None:
            try:
                got, _ = await self.controller.get(info.endpoint_id, [flag], timeout=self.timeout_s)
                status = 1 if dm.typed(got.get(flag, "false"), "boolean") is True else 0
            except (UspTimeout, AgentOffline, UspError) as exc:  # the Set landed; the flag is advisory
                log.warning("%s: could not read %s after the Set: %s", device.id, flag, exc)
        return ApplyResult(device_id=device.id, key=key, status=status, applied=[c.path for c in changes])

    def _refuse_secret_on_shared_topic(self, device: Device, endpoint_id: str, changes: Sequence[Change]) -> None:
        """A secret (a Wi-Fi key, a password) is never published to a topic other agents may share:
        every agent subscribed there would receive it (:mod:`executors.usp.own_topic`). Nothing is
        sent; the agent is moved to its own topic once onboarded (the keeper), then it can be."""
        st = self.controller.agent(endpoint_id)
        if st is None or st.mtp is not None or own_topic.is_own_topic(endpoint_id, st.topic):
            return  # (a WebSocket is the agent's own connection)
        secret = [c.path for c in changes if is_secret_path(c.path)]
        if secret:
            err = Fault(device.id, f"{', '.join(secret)}: {own_topic.shared_topic_refusal(endpoint_id, st.topic)}",
                        code=9003)
            err.nothing_sent = True
            raise err

    @staticmethod
    def _check_set_resp(device: Device, resp: msg_pb.SetResp, to_tr181: Mapping[str, str]) -> None:
        """An atomic Set must come back all success; anything else leaves the device half-changed."""
        problems: list[str] = []
        for res in resp.updated_obj_results:
            status = res.oper_status
            if status.WhichOneof("oper_status") == "oper_failure":
                f = status.oper_failure
                problems.append(f"{res.requested_path}: USP {f.err_code} {f.err_msg}")
                continue
            for inst in status.oper_success.updated_inst_results:
                for pe in inst.param_errs:
                    path = inst.affected_path + pe.param
                    problems.append(f"{to_tr181.get(path, path)}: USP {pe.err_code} {pe.err_msg}")
        if problems:
            raise PartialApply(device.id, "the agent applied the Set only in part despite allow_partial=false ("
                                          + "; ".join(problems) + "); the device state is unknown — restore it")

    def _check_declared_types(self, device: Device, info: AgentInfo, changes: Sequence[Change]) -> None:
        problems: dict[str, tuple[int, str]] = {}
        for c in changes:
            spec = info.dm.spec(c.path)
            if c.type and spec is not None and dm.type_family(c.type) != dm.type_family(spec[0]):
                problems[c.path] = (9006, f"{c.path} is {spec[0]} on this device, not {c.type}")
        if problems:
            raise fault_from_problems(device.id, problems, doing="USP Set not sent: declared types disagree")

    async def _already_applied(self, device: Device, info: AgentInfo, writes: Mapping[str, Scalar], key: str) -> bool:
        """True when the device already holds ``key`` and every value (an idempotent re-apply)."""
        key_path = info.key_path
        if key_path is None or not writes:
            return False
        current, errors = await self._call(device, self.controller.get(info.endpoint_id, [*writes, key_path],
                                                                       timeout=self.timeout_s))
        if errors or current.get(key_path) != key:
            return False
        for path, value in writes.items():
            if path not in current:
                return False
            type_name = (info.dm.spec(path) or ("string", False))[0]
            if dm.typed(current[path], type_name) != dm.typed(records.usp_value(value), type_name):
                return False
        return True

    async def _plan_tr098(self, device: Device, info: AgentInfo, changes: Sequence[Change]
                          ) -> tuple[dict[str, Scalar], dict[str, str]]:
        tree = await self._tree(device, info)
        imap: InstanceMap = instance_map_from_params(tree, vendor=device.vendor, model=device.model)
        work = dict(tree)
        writes: dict[str, Scalar] = {}
        to_tr181: dict[str, str] = {}
        problems: dict[str, tuple[int, str]] = {}
        view = tr181_view(tree, imap)
        for c in changes:
            try:
                plan = translate_set(c.path, c.value, imap, work)
            except Untranslatable as exc:
                shown = view.get(c.path)
                if shown is not None and shown.writable is False:
                    problems[c.path] = (9008, f"{c.path} is read-only on this device: {exc.reason}")
                else:
                    problems[c.path] = (9005, str(exc))
                continue
            for dp, v in plan.items():
                writes[dp] = v
                work[dp] = v
                to_tr181.setdefault(dp, c.path)
        if problems:
            raise fault_from_problems(device.id, problems, doing="USP Set not sent")
        return writes, to_tr181

    # ------------------------------------------------------------------ writing: commands
    def _operate(self, device: Device, command: str, args: dict[str, Scalar]) -> OperateResult:
        wait = self.reboot_timeout_s if command in ("reboot", "factory_reset", "download") else 0.0
        if command in ("ipping", "download"):
            wait += self.operation_timeout_s
        budget = self.timeout_s * 5 + self.probe_timeout_s * 2 + wait + 30
        return self._run(device, self._aoperate(device, command, args), budget=budget)

    async def _aoperate(self, device: Device, command: str, args: dict[str, Scalar]) -> OperateResult:
        info = await self._ready(device)
        path = dm.command_path(info.root, command)
        if path is None:
            raise Fault(device.id, f"command {command!r} is not supported (reboot, factory_reset, download, ipping)",
                        code=9000)
        if command in ("reboot", "factory_reset"):
            return await self._reboot(device, info, command, path)
        if command == "ipping":
            inputs = self._ipping_args(device, args)
        else:
            url = str(args.get("url", "")).strip()
            if not url:
                raise Fault(device.id, "download needs a url argument", code=9003)
            inputs = {"URL": url, "AutoActivate": True}
            if args.get("version"):
                inputs["X_GATEWARD_Version"] = str(args["version"])
        return await self._async_command(device, info, command, path, inputs)

    @staticmethod
    def _ipping_args(device: Device, args: Mapping[str, Scalar]) -> dict[str, object]:
        host = str(args.get("host", args.get("Host", ""))).strip()
        try:
            reps = int(args.get("repetitions", args.get("NumberOfRepetitions", 4)))
            timeout_ms = int(args.get("timeout_ms", args.get("Timeout", 1000)))
            size = int(args.get("size", args.get("DataBlockSize", 64)))
        except (TypeError, ValueError) as exc:
            raise InvalidValue(device.id, f"ipping arguments must be integers: {exc}", code=9007) from None
        if not host or not 1 <= reps <= 1000 or timeout_ms < 1 or not 1 <= size <= 65535:
            raise InvalidValue(device.id, "ipping needs a host, 1 <= repetitions <= 1000, timeout_ms >= 1, "
                                          "1 <= size <= 65535", code=9007)
        return {"Host": host, "NumberOfRepetitions": reps, "Timeout": timeout_ms, "DataBlockSize": size}

    async def _reboot(self, device: Device, info: AgentInfo, command: str, path: str) -> OperateResult:
        ep = info.endpoint_id
        command_key = f"gw-{uuid.uuid4().hex[:12]}"
        await self._ensure_boot_subscription(device, info)
        booted = self.controller.expect(lambda e: e.endpoint_id == ep and e.kind == "boot", ep)
        # A factory reset wipes the agent's subscriptions (OB-USP-Agent's stock reset file has none),
        # so its Boot! never comes: its reconnect, then an UpTime shorter than the wait, says it restarted.
        back = (self.controller.expect(lambda e: e.endpoint_id == ep and e.kind == "connect", ep)
                if command == "factory_reset" else None)
        sent = time.monotonic()
        # no subscription check may run across the reboot: a request sent after the Operate is lost
        self.keeper.begin_reboot(ep)
        try:
            try:
                result = await self.controller.operate(ep, path, command_key=command_key, timeout=self.timeout_s)
            except AgentOffline as exc:
                st = self.controller.agent(ep)
                if st is None or st.connected is not False or "before answering" not in exc.detail:
                    raise self._transport_error(device, exc) from None
                # It said goodbye after it got the Reboot(), its answer overtaken by its goodbye (answers
                # come back on the reply connection): it is rebooting — its Boot! says when it is back.
                result = None
            except (UspTimeout, ConnectionError) as exc:
                raise self._transport_error(device, exc) from None
            if result is not None and result.WhichOneof("operation_resp") == "cmd_failure":
                f = result.cmd_failure
                raise typed_fault(device.id, UspError(int(f.err_code), f.err_msg), doing=f"Operate {path}")
            if back is not None:
                restarted = await self._back_from_reset(device, info, booted, back, sent)
                if restarted is not None:
                    return restarted
            try:
                event = await asyncio.wait_for(asyncio.shield(booted),
                                               max(0.0, self.reboot_timeout_s - (time.monotonic() - sent)))
            except TimeoutError:
                return OperateResult(device_id=device.id, command=command, status="pending",
                                     output={"detail": f"{path} accepted; no Boot! from {ep} within "
                                                       f"{self.reboot_timeout_s:g}s"
                                                       + (" and no reconnect with an UpTime that short"
                                                          if back is not None else "")})
        except UspError as exc:
            raise typed_fault(device.id, exc, doing=f"Operate {path}") from None
        finally:
            self.controller.cancel_expectation(booted)
            if back is not None:
                self.controller.cancel_expectation(back)
            self.keeper.end_reboot(ep)
        return OperateResult(device_id=device.id, command=command, status="done",
                             output={"boot_cause": event.data.get("Cause", ""),
                                     "command_key": event.data.get("CommandKey", ""),
                                     "firmware_updated": parse_wire_bool(event.data.get("FirmwareUpdated")) is True,
                                     "online": True})

    async def _back_from_reset(self, device: Device, info: AgentInfo, booted: asyncio.Future[UspEvent],
                               back: asyncio.Future[UspEvent], sent: float) -> OperateResult | None:
        """A FactoryReset()'s completion without a Boot!: the agent reconnected (its connect Record)
        and, asked at once, reports an UpTime no longer than the time since the command was sent —
        it restarted. None when a Boot! came first (the caller reads it), or the wait ran out, or the
        reconnect was not a restart (the caller then waits for a Boot! until its deadline)."""
        ep = info.endpoint_id
        left = self.reboot_timeout_s - (time.monotonic() - sent)
        await asyncio.wait({asyncio.shield(booted), asyncio.shield(back)}, timeout=max(0.0, left),
                           return_when=asyncio.FIRST_COMPLETED)
        if booted.done() or not back.done():
            return None
        try:  # a reset file that provisions a Boot! subscription sends it right after the connect
            await asyncio.wait_for(asyncio.shield(booted), BOOT_AFTER_RECONNECT_S)
            return None
        except TimeoutError:
            pass
        # The agent's own uptime and the device's: OB-USP-Agent's DeviceInfo.UpTime is the kernel's, so
        # on a host (or in a container) where its FactoryReset() restarts the process only, just
        # LocalAgent.UpTime starts again (seen by hand: DeviceInfo.UpTime 4793 s a second after).
        paths = [f"{info.root}LocalAgent.UpTime", f"{info.root}DeviceInfo.UpTime"]
        try:
            values, _errors = await self.controller.get(ep, paths, timeout=self.timeout_s)
        except (AgentOffline, UspTimeout, UspError, ConnectionError) as exc:
            log.info("%s: reconnected after FactoryReset(), but its UpTime could not be read: %s", device.id, exc)
            return None
        elapsed = time.monotonic() - sent
        uptimes = {p: int(v) for p, v in values.items() if p in paths and str(v).strip().isdigit()}
        fresh = next(((p, u) for p, u in uptimes.items() if u <= elapsed + 1), None)
        if fresh is None:
            log.info("%s: reconnected after FactoryReset(), but no UpTime is that short (%s; %.1f s since the "
                     "command): not a restart", device.id, uptimes or "none readable", elapsed)
            return None
        which, uptime = fresh
        return OperateResult(device_id=device.id, command="factory_reset", status="done", output={
            "boot_cause": "RemoteFactoryReset", "command_key": "", "firmware_updated": False, "online": True,
            "confirmed_by": f"reconnect and {which.removeprefix(info.root)} {uptime} s (sent {elapsed:.1f} s ago); "
                            "no Boot!: a factory-fresh agent keeps no Boot! subscription"})

    async def _ensure_boot_subscription(self, device: Device, info: AgentInfo) -> None:
        """Before ``Reboot()``/``FactoryReset()``: the agent has a Boot! subscription for this
        controller (one Get; an Add when it has none). Why: an agent added by hand while
        connected got none until it reconnected, so a governed reboot waited for a Boot! that never
        came, ended unconfirmed and raised a critical alarm while the agent was back in a second.
        A refusal is logged and the reboot goes on (it is then confirmed only by a Boot! that a
        subscription made elsewhere sends)."""
        want = next(w for w in subs.wanted_for(info.root, self.controller.endpoint_id, ()) if w.notif_type == "Event")
        if want.subscription_id in info.subscriptions:
            return
        ep = info.endpoint_id
        try:
            _root, ours, rows = await self._call(device, subs.read_table(self.controller, ep, timeout=self.timeout_s))
            if not any((s.id == want.subscription_id or s.covers("Event", want.reference))
                       and subs.addressed_to_us(s, ours) for s in rows):
                made = await self._call(device, self.controller.add(ep, f"{info.root}LocalAgent.Subscription.", {
                    "Enable": True, "ID": want.subscription_id, "NotifType": "Event",
                    "ReferenceList": want.reference, "Persistent": True, "NotifRetry": want.notif_retry,
                }, timeout=self.timeout_s))
                log.info("%s: created the Boot! subscription %s (%s) before the reboot", device.id,
                         want.subscription_id, made)
                await self.keeper.tell_created(ep, [made])  # in the stored model before the reboot starts
        except UspError as exc:
            log.warning("%s: could not ensure a Boot! subscription before the reboot: %s", device.id, exc)
            return
        info.subscriptions.add(want.subscription_id)

    async def _ensure_opcomplete_subscription(self, device: Device, info: AgentInfo) -> None:
        """Before an async command: an OperationComplete subscription for this controller (found by
        its ID, else added). Its instance goes to the stored model like every Add the controller
        makes (``keeper.tell_created``; one already there is stored again, which adds nothing), so a
        change to it is not refused as missing."""
        sub_id = f"gw-opc-{self.controller.endpoint_id}"
        if sub_id in info.subscriptions:
            return
        try:
            path = await self._call(device, self.controller.subscribe(
                info.endpoint_id, "OperationComplete", info.root, subscription_id=sub_id, notif_retry=True,
                root=info.root, timeout=self.timeout_s))
        except UspError as exc:
            raise typed_fault(device.id, exc, doing="creating an OperationComplete subscription") from None
        await self.keeper.tell_created(info.endpoint_id, [path])
        info.subscriptions.add(sub_id)

    async def _async_command(self, device: Device, info: AgentInfo, command: str, path: str,
                             inputs: Mapping[str, object]) -> OperateResult:
        await self._ensure_opcomplete_subscription(device, info)
        ep = info.endpoint_id
        command_key = f"gw-{uuid.uuid4().hex[:12]}"
        done = self.controller.expect(lambda e: e.endpoint_id == ep and e.kind == "operation_complete"
                                      and e.data.get("command_key") == command_key, ep)
        booted = (self.controller.expect(lambda e: e.endpoint_id == ep and e.kind == "boot", ep)
                  if command == "download" else None)
        try:
            result = await self._call(device, self.controller.operate(ep, path, inputs, command_key=command_key,
                                                                      timeout=self.timeout_s))
            which = result.WhichOneof("operation_resp")
            if which == "cmd_failure":
                f = result.cmd_failure
                raise self._command_fault(device, command, int(f.err_code), f.err_msg)
            if which == "req_output_args":
                output: dict[str, str] = dict(result.req_output_args.output_args)
            else:
                try:
                    event = await asyncio.wait_for(asyncio.shield(done), self.operation_timeout_s)
                except TimeoutError:
                    raise Timeout(device.id, f"{path} started ({result.req_obj_path}) but no OperationComplete "
                                             f"arrived within {self.operation_timeout_s:g}s") from None
                if "failure" in event.data:
                    failure = event.data["failure"]
                    raise self._command_fault(device, command, int(failure["code"]), str(failure["message"]))
                output = dict(event.data.get("output", {}))
            if booted is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(booted), self.reboot_timeout_s)
                except TimeoutError:
                    return OperateResult(device_id=device.id, command=command, status="pending",
                                         output={**output, "detail": "image downloaded; no Boot! yet"})
        except UspError as exc:
            raise typed_fault(device.id, exc, doing=f"Operate {path}") from None
        finally:
            self.controller.cancel_expectation(done)
            if booted is not None:
                self.controller.cancel_expectation(booted)
        return self._command_result(device, command, output)

    def _command_fault(self, device: Device, command: str, code: int, message: str) -> Fault:
        if command == "download":
            return Fault(device.id, f"download failed: {message} (USP {code})", code=9010)
        if code == 7027:
            return InvalidValue(device.id, f"{command}: invalid arguments: {message}", code=9007)
        return Fault(device.id, f"{command} failed: USP {code} {describe(code)}: {message}", code=to_cwmp(code))

    @staticmethod
    def _command_result(device: Device, command: str, output: Mapping[str, str]) -> OperateResult:
        typed: dict[str, Any] = {k: dm.typed(v, "unsignedInt" if v.strip().isdigit() else "string")
                                 for k, v in output.items()}
        status: Literal["done", "failed"] = "done"
        if command == "ipping" and typed.get("DiagnosticsState") not in (None, "Complete"):
            status = "failed"
        return OperateResult(device_id=device.id, command=command, status=status, output=typed)
