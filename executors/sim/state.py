"""One simulated device's state, and how the simulator answers a live read of it.

Why apart from :mod:`executors.sim.twin` (which stores these states) and
:mod:`executors.sim.executor` (which serves the executor contract from them): both import
SQLAlchemy or pydantic, ~0.5 s before a line is printed, and ``gateward device ID`` must start,
read and print in ≤ 0.3 s. This module imports neither: the twin's DB-API reader
(:mod:`executors.sim.lite`) builds a :class:`DeviceState` from the stored row and answers through
the very functions :class:`~executors.sim.executor.SimExecutor` uses (:func:`presence_of`,
:func:`answering`, :func:`read_values`), so the CLI's fast path cannot drift from the adapter.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from core.kernel.datamodel.paths import is_empty_table
from core.kernel.jsontypes import JsonObject
from executors.errors import DeviceOffline, InvalidParameterName, Timeout
from executors.sim.catalog import (
    CatalogModel,
    Identity,
    ParamSpec,
    build_factory_tree,
    fill_counts,
    generic_path,
    get_model,
)

if TYPE_CHECKING:  # core.kernel.datamodel.tr098 is imported where a TR-098 tree is read: a TR-181 one needs none of it
    from core.kernel.datamodel.tr098 import InstanceMap
    from core.kernel.datamodel.tr098_view import ViewEntry
    from core.kernel.models import Device, Scalar

V = TypeVar("V")


@dataclass
class DeviceState:
    """One device's twin state. A state handed out by :meth:`Twin.state` is a shared cached
    snapshot: mutate only the copy that :meth:`Twin.transact` passes to its callback.

    ``record_json`` is the inventory record as stored; :attr:`record` decodes it (pydantic) on
    first use, so a read that needs only the firmware (:attr:`firmware`) never builds the model."""

    id: str
    model_key: str
    region: str
    upstream_id: str | None
    record_json: str
    identity: Identity
    overrides: dict[str, Scalar | None]
    parameter_key: str
    online: bool
    reachable: bool
    boot_count: int
    boot_ts: float
    last_inform: float
    faults: dict[str, dict[str, Any]]
    link: dict[str, Any]
    version: int
    pending_events: list[tuple[str, JsonObject, float]] = field(default_factory=list)
    dirty: bool = False
    _record: Device | None = field(default=None, init=False, repr=False)
    _tree: dict[str, Scalar] | None = field(default=None, repr=False)
    _imap: InstanceMap | None = field(default=None, repr=False)
    _view: dict[str, ViewEntry] | None = field(default=None, repr=False)
    # Parameter names under a prefix ("Device.WiFi.Radio.1."), in tree order, per prefix asked:
    # a lifecycle step reads the same objects several times, and each read scanned the whole tree
    # (~270 names) per prefix. Valid while the tree's names are: dropped with the tree.
    _under: dict[str, list[str]] | None = field(default=None, repr=False)

    # -- the inventory record ---------------------------------------------------------------
    @property
    def record(self) -> Device:
        """The device's ``core.kernel.models.Device`` record."""
        if self._record is None:
            from core.kernel.models import Device

            self._record = Device.model_validate_json(self.record_json)
        return self._record

    @record.setter
    def record(self, value: Device) -> None:
        """Replace the record (a new JSON string: :meth:`Twin._commit` then writes it)."""
        self._record = value
        self.record_json = value.model_dump_json()

    @property
    def firmware(self) -> str:
        """``record.firmware``, without building the record when it is not built yet."""
        if self._record is not None:
            return self._record.firmware
        return str(orjson.loads(self.record_json)["firmware"])

    # -- derived views (cached on the snapshot) ------------------------------------------
    @property
    def model(self) -> CatalogModel:
        return get_model(self.model_key)

    def tree(self) -> dict[str, Scalar]:
        """The device-native parameter tree (secrets included; dynamic values as stored)."""
        if self._tree is None:
            model = self.model
            tree = build_factory_tree(model, self.region, self.identity)
            schema = model.param_schema()
            for path, value in self.overrides.items():
                if value is None:
                    if path.endswith("."):
                        for p in [p for p in tree if p.startswith(path)]:
                            del tree[p]
                    else:
                        tree.pop(path, None)
                elif generic_path(path) in schema:
                    tree[path] = value
            fill_counts(tree, model)
            self._tree = tree
        return self._tree

    def instance_map(self) -> InstanceMap:
        if self._imap is None:
            from core.kernel.datamodel.tr098 import instance_map_from_params

            m = self.model
            self._imap = instance_map_from_params(self.tree(), vendor=m.vendor, model=m.model)
        return self._imap

    def view(self) -> dict[str, ViewEntry]:
        """TR-181 view of a TR-098 tree (see :func:`core.kernel.datamodel.tr098_view.tr181_view`)."""
        if self._view is None:
            from core.kernel.datamodel.tr098_view import tr181_view

            self._view = tr181_view(self.tree(), self.instance_map())
        return self._view

    def presence_flags(self) -> tuple[bool, bool]:
        return presence_flags(self.online, self.reachable, self.faults)

    # -- mutation (only on the copy inside Twin.transact) ---------------------------------
    def _changed(self) -> None:
        self.dirty = True
        self._tree = self._imap = self._view = None
        self._under = None

    def keys_under(self, prefix: str) -> list[str]:
        """The tree's parameter names that start with ``prefix``, in tree order (do not mutate)."""
        under = self._under
        if under is None:
            under = self._under = {}
        hits = under.get(prefix)
        if hits is None:
            hits = under[prefix] = [k for k in self.tree() if k.startswith(prefix)]
        return hits

    def set_values(self, values: dict[str, Scalar | None]) -> None:
        """Record parameter values (device paths); ``None`` deletes a parameter or, for a path
        ending in ``.``, a whole object instance."""
        if not values:
            return
        for path, value in values.items():
            self.overrides.pop(path, None)
            self.overrides[path] = value
        tree = self._tree
        if tree is not None and all(_plain_leaf(tree, p, v) for p, v in values.items()):
            # New values of parameters the tree already has: exactly what a rebuild (factory tree,
            # overrides, counts) would give, without rebuilding it. No row appears or goes, so no
            # count changes. A copy: the cached state this one was forked from shares the tree.
            self._tree = {**tree, **values}  # type: ignore[dict-item]
            self._imap = self._view = None  # TR-098 views are derived from values too: rebuilt
            self.dirty = True
            return
        self._changed()

    def restore_paths(self, prefixes: Sequence[str]) -> None:
        """Forget overrides under ``prefixes``: those parameters go back to the factory tree."""
        gone = [p for p in self.overrides if p.startswith(tuple(prefixes))]
        for p in gone:
            del self.overrides[p]
        if gone:
            self._changed()

    def reset_overrides(self, keep: dict[str, Scalar | None] | None = None) -> None:
        self.overrides = dict(keep or {})
        self._changed()

    def set_model(self, model_key: str) -> None:
        get_model(model_key)
        self.model_key = model_key
        self._changed()

    def event(self, kind: str, ts: float | None = None, **data: Any) -> None:
        self.pending_events.append((kind, data, time.time() if ts is None else ts))
        self.dirty = True

    def touch(self) -> None:
        self.dirty = True

    def fork(self) -> DeviceState:
        """A private copy to mutate; shares the cached tree until something changes."""
        clone = copy.copy(self)
        clone.overrides = dict(self.overrides)
        clone.faults = copy.deepcopy(self.faults)
        clone.link = dict(self.link)
        clone.pending_events = []
        clone.dirty = False
        return clone


def _plain_leaf(tree: dict[str, Scalar], path: str, value: Scalar | None) -> bool:
    """Is setting ``path`` to ``value`` a plain value change of a parameter the tree holds (no
    deletion, no new row, no count)? Only those may skip the rebuild in ``set_values``."""
    return value is not None and path in tree and not path.endswith(("NumberOfEntries", "."))


def dynamic_value(state: DeviceState, kind: str, now: float) -> Scalar:
    if kind == "uptime":
        return max(0, int(now - state.boot_ts))
    if kind == "parameter_key":
        return state.parameter_key
    raise ValueError(f"unknown dynamic value {kind!r}")


# ---------------------------------------------------------------------------- live reads
def inform_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def presence_flags(online: bool, reachable: bool, faults: Mapping[str, object]) -> tuple[bool, bool]:
    """``(online, reachable)`` of a device from its stored flags and faults (an injected
    ``offline`` or ``unreachable`` fault wins over the flag)."""
    up = online and "offline" not in faults
    return up, up and reachable and "unreachable" not in faults


def presence_of(state: DeviceState) -> tuple[bool, bool, str]:
    """``(online, reachable, detail)`` of the device in ``state``, as the simulator reports it."""
    return presence_from(state.online, state.reachable, state.faults)


def presence_from(online: bool, reachable: bool, faults: Mapping[str, object]) -> tuple[bool, bool, str]:
    """:func:`presence_of` from a device row's presence columns alone (a fleet's presence is read
    without building each device's state)."""
    online, reachable = presence_flags(online, reachable, faults)
    if not online:
        detail = "offline: no inform" + (" (injected)" if "offline" in faults else "")
    elif not reachable:
        detail = "online but unreachable: connection requests fail; changes wait for the next inform"
    else:
        detail = "online and reachable"
    return online, reachable, detail


def answering(state: DeviceState, device_id: str, timeout_s: float | None,
              sleep: Callable[[float], None]) -> DeviceState:
    """``state`` if a request sent to the device in that state would be answered; else the
    typed error (offline, unreachable, or a ``slow`` device past the timeout). A ``slow``
    device answers after its delay: this sleeps it."""
    online, reachable = state.presence_flags()
    if not online:
        raise DeviceOffline(
            device_id, f"device is offline (last inform {inform_time(state.last_inform):%Y-%m-%d %H:%M:%SZ})"
        )
    if not reachable:
        raise DeviceOffline(
            device_id,
            "connection request failed: the device informs but cannot be reached "
            "now (NAT/CGNAT?); the request will be retried at its next inform",
        )
    slow = state.faults.get("slow")
    if slow:
        delay = float(slow.get("delay_s", 0.0))
        if timeout_s is not None and delay > timeout_s:
            sleep(timeout_s)
            raise Timeout(device_id, f"no answer within {timeout_s:g}s (the device is slow); retry later")
        sleep(delay)
    return state


def shown_value(state: DeviceState, spec: ParamSpec, value: Scalar, now: float) -> Scalar:
    """What a read returns for a parameter: secrets blank, dynamic values computed ``now``."""
    if spec.secret:
        return ""
    if spec.dynamic is not None:
        return dynamic_value(state, spec.dynamic, now)
    return value


def why_missing(state: DeviceState, path: str) -> str:
    """Why a TR-098 device has no ``path`` (a TR-181 path), for its 9005 fault."""
    from core.kernel.datamodel.tr098 import Untranslatable, to_device_paths

    try:
        device_paths = to_device_paths(path, state.instance_map())
    except Untranslatable as exc:
        return str(exc)
    return f"{path} is not supported by this device (it has no {device_paths[0]})"


def read_values(state: DeviceState, device_id: str, paths: Sequence[str], now: float,
                make: Callable[..., V]) -> dict[str, V]:
    """The executor contract's ``read`` of an answering device: each value built with
    ``make(path=, device_path=, value=, type=, writable=)`` (the contract's ``ParamValue``, or a
    lighter record with those fields); every path the device lacks named in one
    :class:`~executors.errors.InvalidParameterName` (CWMP 9005)."""
    model = state.model
    out: dict[str, V] = {}
    bad: dict[str, tuple[int, str]] = {}

    if model.is_tr098:
        from core.kernel.datamodel.tr098_view import select_view_paths

        view = state.view()
        tree = state.tree()

        def emit(tr: str) -> None:
            entry = view[tr]
            spec = model.spec(entry.device_path)
            value = entry.value
            if spec is not None and entry.device_path in tree:
                value = shown_value(state, spec, value, now)
            out[tr] = make(
                path=tr,
                device_path=entry.device_path,
                value=value,
                type=entry.type or (spec.type if spec else "string"),
                writable=entry.writable if entry.writable is not None else (spec.writable if spec else False),
            )

        hits, bad = select_view_paths(view, paths, lambda p: why_missing(state, p))
        for k in hits:
            emit(k)
    else:
        tree = state.tree()

        def emit181(p: str) -> None:
            spec = model.spec(p)
            assert spec is not None
            out[p] = make(
                path=p,
                device_path=p,
                value=shown_value(state, spec, tree[p], now),
                type=spec.type,
                writable=spec.writable,
            )

        for path in paths:
            if path.endswith("."):
                hits = state.keys_under(path)
                if not hits and not is_empty_table(path, tree.__contains__):
                    bad[path] = (9005, f"{path} matches no parameter on this device")
                for k in hits:
                    emit181(k)
            elif path in tree:
                emit181(path)
            else:
                bad[path] = (
                    9005,
                    f"{path} is not a parameter of this device "
                    f"({model.vendor} {model.model} {state.firmware})",
                )
    if bad:
        names = ", ".join(bad)
        raise InvalidParameterName(device_id, f"invalid parameter name(s): {names}", per_parameter=bad)
    return out
