"""Per-device capabilities: the data model each device class really exposes, kept and used at validate.

Why: the registry knows what TR-181 allows, not what a firmware implements.
A parameter a device reports as read-only was previewed and approved by two people before the device
refused it. ``discover()`` (every adapter: the simulator's tree, USP GetSupportedDM, GenieACS's
``_writable`` flags) reports each parameter with its writability; :func:`record` keeps that per
(vendor, model, firmware, root) and the instance numbers per device, and :func:`for_devices` hands
:func:`core.validation.validate_changes` a :class:`CapabilitySet` so a path the device lacks or cannot
write is refused at validate — before anyone approves — naming the device's own data model.

A device whose adapter reports its whole schema and every instance it has (``Discovery.instances_complete``:
USP, GetSupportedDM made concrete with GetInstances) is held to both: a path its schema lacks is
refused even in a table no instance of which was seen, and a path into a table instance it does not have
is refused even when it has no instance of that table at all ("it has no Device.WiFi.SSID instances") —
which TR-069 discovery cannot tell from a table it did not list. Both were refused by the agent at apply
(USP 7026), after two people had approved.

A discovery that says which contract commands the device's data model has (``Discovery.commands``: USP,
from GetSupportedDM) is stored with the class too, and an operation the device lacks is refused at validate:
the OB-USP-Agent has no ``Device.DeviceInfo.FirmwareImage.`` table, and a governed download to
it was approved before the agent answered 7026. An adapter that does not say (``None``) refuses nothing.

Never blocks on missing discovery: a class with no stored capabilities validates against the registry
alone, a parameter whose writability the device did not state is not refused, and an adapter that
reports no parameters stores nothing.

A device whose vendor, model or firmware is ``unknown`` (a USP agent onboarded from its endpoint ID
alone) is no class: two such agents may be different products, and validating one against the other's
data model would refuse or admit paths on another device's word. Discovery first learns the identity
from the device's own ``DeviceInfo`` (:func:`learn_identity`, audited ``device.updated``); a device still
unidentified after that is keyed by itself (:func:`class_key`), so it is discovered and validated alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import audit
from core.kernel.datamodel.paths import _merge
from core.kernel.datamodel.paths import concretise as concretise
from core.kernel.datamodel.paths import generic as generic
from core.kernel.datamodel.paths import split_parameters as split_parameters
from core.kernel.datamodel.paths import table_of as table_of
from core.kernel.datamodel.paths import tables_seen as tables_seen
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Device, utcnow
from core.store.fastsql import Prepared
from core.store.records import among
from core.store.schema import DeviceCapabilityRow, DeviceInstancesRow, DeviceRow

if TYPE_CHECKING:
    from core.store import Store

log = logging.getLogger("gateward.capabilities")

RULE_MISSING = "device_model_missing"
RULE_READ_ONLY = "device_model_read_only"
RULE_INSTANCE = "device_model_instance"
RULE_COMMAND = "device_model_command"
#: The key under which a device's stored instance numbers (``device_instances.instances``) say that its
#: discovery listed every instance it has (``Discovery.instances_complete``); never a table path.
COMPLETE_KEY = "@complete"
UNKNOWN = "unknown"  # what onboarding records for an identity field the agent did not claim
IDENTITY_ACTOR = "discovery"  # who the audit trail names for identity learnt from DeviceInfo


def unidentified(device: Device) -> bool:
    """Is any of the device's class fields (vendor, model, firmware) unknown? Such a device shares no
    capability class with any other device (see the module docstring)."""
    return any(v.strip().lower() in ("", UNKNOWN) for v in (device.vendor, device.model, device.firmware))


def own_model(device: Device) -> str:
    """The ``model`` key of an unidentified device's own capability row: ``<model>@<device id>``,
    or a digest of the id where that would not fit the 64-character column. Never another device's."""
    tag = f"{device.model}@{device.id}"
    if len(tag) <= 64:
        return tag
    return f"{device.model[:20]}@sha256:{hashlib.sha256(device.id.encode()).hexdigest()[:32]}"


def class_key(device: Device, firmware: str | None = None) -> tuple[str, str, str, str]:
    """(vendor, model, firmware, root) under which ``device``'s capabilities are stored and found:
    its class, or — while its identity is unknown — the device itself (its recorded firmware, so the
    key found at validate is the key stored at discovery)."""
    root = str(device.root)
    if unidentified(device):
        return device.vendor, own_model(device), device.firmware, root
    return device.vendor, device.model, firmware or device.firmware, root


class _Discovered(Protocol):
    """What :func:`record` needs of :class:`executors.base.Discovery` (kept structural: no executor import)."""

    @property
    def root(self) -> Any: ...
    @property
    def firmware(self) -> str: ...
    @property
    def data_model_version(self) -> str: ...
    @property
    def parameters(self) -> dict[str, bool | None]: ...
    @property
    def instances_complete(self) -> bool: ...
    @property
    def commands(self) -> list[str] | None: ...
    @property
    def command_paths(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class CapabilitySet:
    """One device's stored data model as validation uses it (pure data; no store)."""

    label: str  # "Vantec CGW-3400 fw 7.2.6-CGW3400"
    params: Mapping[str, bool | None]
    instances: Mapping[str, Sequence[int]] = field(default_factory=dict)
    discovered_at: str = ""
    instances_at: str = ""  # when this device's instance numbers were read (they can go stale)
    #: the device's discovery reported its whole schema and every instance it has (USP): a path the
    #: schema lacks is missing, and a table absent from ``instances`` has no instance
    instances_complete: bool = False
    #: the contract commands the device's data model has (``None``: its discovery did not say) and the
    #: command each runs as there (``download`` → ``Device.DeviceInfo.FirmwareImage.{i}.Download()``)
    commands: frozenset[str] | None = None
    command_paths: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def _tables(self) -> set[str]:
        return tables_seen(self.params)

    def problem(self, path: str) -> tuple[str, str] | None:
        """``(rule, message)`` when the device's own data model refuses a write to ``path``, else None.

        A path in a table the discovered unit had no instances of is not refused as missing (that unit
        could not list the table's parameters); the device refuses it at apply if it must — unless
        its discovery listed the whole schema (``instances_complete``), which names every table."""
        g = generic(path)
        if g not in self.params:
            table = table_of(g)
            if table is not None and table not in self._tables and not self.instances_complete:
                return None
            return RULE_MISSING, (f"{path} is not supported by {self.label} (the device's own data model has no "
                                  "such parameter)")
        if self.params[g] is False:
            return RULE_READ_ONLY, (f"{path} is not writable on {self.label} "
                                    "(the device's own data model says read-only)")
        return self._instance_problem(path)

    def command_problem(self, command: str) -> tuple[str, str] | None:
        """``(rule, message)`` when the device's own data model lacks the contract ``command``, else None
        (also when its discovery did not say which commands it has)."""
        if self.commands is None or command in self.commands:
            return None
        path = self.command_paths.get(command)
        lacks = f"has no {path}" if path else "has no command for it"
        return RULE_COMMAND, (f"{command} is not supported by {self.label}: its own data model {lacks} "
                              "(`gateward devices discover` refreshes)")

    def _instance_problem(self, path: str) -> tuple[str, str] | None:
        segs = path.split(".")
        for k, seg in enumerate(segs):
            if not seg.isdigit():
                continue
            table = ".".join(segs[:k]) + "."
            have = self.instances.get(table)
            if have is None and self.instances_complete:
                when = f" at {self.instances_at[:16]}" if self.instances_at else ""
                return RULE_INSTANCE, (f"{path}: {table}{seg} does not exist on this device: it has no "
                                       f"{table.rstrip('.')} instances ({self.label} reported none{when}; "
                                       "`gateward devices discover` refreshes)")
            if have is not None and int(seg) not in have:
                listed = ", ".join(str(n) for n in have) or "none"
                when = f" at {self.instances_at[:16]}" if self.instances_at else ""
                return RULE_INSTANCE, (f"{path}: {table}{seg} does not exist on this device ({self.label} reported "
                                       f"{table} instances {listed} in its own data model{when}; "
                                       "`gateward devices discover` refreshes)")
        return None


def label_of(vendor: str, model: str, firmware: str) -> str:
    return f"{vendor} {model} fw {firmware}"


# ---------------------------------------------------------------------------- storing
def _upsert(s: Session, table: Any, values: dict[str, Any], keys: Sequence[str]) -> None:
    ins: Any = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = ins(table).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=list(keys),
                                         set_={k: stmt.excluded[k] for k in values if k not in keys}))


def _union(s: Session, key: tuple[str, str, str, str], params: dict[str, bool | None],
           commands: dict[str, Any] | None) -> tuple[dict[str, bool | None], dict[str, Any] | None]:
    """What this discovery says, added to what the class is already known to have: units of one firmware
    differ in the objects they hold right now, so a re-discovery only widens (never narrows) the set —
    its parameters and its commands (a discovery that does not say which commands keeps what was said)."""
    row = s.get(DeviceCapabilityRow, key)
    if row is None:
        return params, commands
    merged: dict[str, bool | None] = dict(row.params)
    for path, writable in params.items():
        merged[path] = _merge(merged[path], writable) if path in merged else writable
    return merged, _union_commands(row.commands, commands)


def _stored_commands(disc: _Discovered) -> JsonObject | None:
    """``device_capabilities.commands``: ``{"supported": [...], "paths": {command: path}}``, or None when
    the discovery does not say."""
    if disc.commands is None:
        return None
    return {"supported": list(dict.fromkeys(disc.commands)), "paths": dict(disc.command_paths)}


def _union_commands(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if old is None or new is None:
        return new if old is None else old
    return {"supported": list(dict.fromkeys([*old.get("supported", []), *new.get("supported", [])])),
            "paths": {**old.get("paths", {}), **new.get("paths", {})}}


def record(s: Session, device: Device, disc: _Discovered) -> dict[str, Any]:
    """Store what ``disc`` says about ``device``'s class (merged with earlier discoveries of the class,
    see :func:`_union`) and the device's own instance numbers (replaced).

    Keyed by the firmware the device reported (its row may be stale after an upgrade). Returns a short
    summary; ``stored`` is False when the adapter reported no parameters (nothing is overwritten then).
    """
    root = str(getattr(disc.root, "value", disc.root))
    vendor, model, firmware, _ = class_key(device, disc.firmware or device.firmware)
    summary: dict[str, Any] = {"device_id": device.id, "vendor": vendor, "model": model,
                               "firmware": firmware, "root": root, "stored": False}
    if unidentified(device):
        summary["own_class"] = True  # identity unknown: stored for this device alone
    if not disc.parameters:
        return summary
    params, instances = split_parameters(disc.parameters)
    stored_instances: dict[str, Any] = dict(instances)
    if disc.instances_complete:
        stored_instances[COMPLETE_KEY] = True
    params, commands = _union(s, (vendor, model, firmware, root), params, _stored_commands(disc))
    now = utcnow()
    _upsert(s, DeviceCapabilityRow.__table__,
            {"vendor": vendor, "model": model, "firmware": firmware, "root": root,
             "protocol": str(device.protocol), "data_model_version": disc.data_model_version[:64], "params": params,
             "commands": commands, "source_device_id": device.id, "discovered_at": now},
            ["vendor", "model", "firmware", "root"])
    _upsert(s, DeviceInstancesRow.__table__,
            {"device_id": device.id, "firmware": firmware, "instances": stored_instances, "discovered_at": now},
            ["device_id"])
    read_only = sum(1 for w in params.values() if w is False)
    summary.update(stored=True, parameters=len(params), read_only=read_only, tables=len(instances),
                   firmware_differs=firmware != device.firmware,
                   instances_complete=bool(stored_instances.get(COMPLETE_KEY)),
                   commands=None if commands is None else list(commands["supported"]),
                   lacks_commands=None if commands is None else [c for c in commands["paths"]
                                                                  if c not in commands["supported"]])
    return summary


# ---------------------------------------------------------------------------- reading
def note_instances(s: Session, device: Device, paths: Iterable[str]) -> list[str]:
    """Add the table instances ``paths`` name (``Device.LocalAgent.Subscription.3.`` or a parameter
    inside one) to ``device``'s stored instance numbers, at once: the instances the controller itself
    creates (its subscriptions, any Add) and those a live check found. Why: discovery is a snapshot,
    and a path into an instance made after it was refused as missing (``Subscription.1``
    refused while ``usp subscriptions`` listed three). Only a stored row of the device's current
    firmware is widened (an older one proves nothing, :func:`for_devices`); returns the instances added."""
    row = s.get(DeviceInstancesRow, device.id)
    if row is None or row.firmware != device.firmware:
        return []
    instances: dict[str, Any] = dict(row.instances or {})
    added: list[str] = []
    for path in paths:
        segs = path.rstrip(".").split(".")
        for k, seg in enumerate(segs):
            if not seg.isdigit():
                continue
            table = ".".join(segs[:k]) + "."
            have = list(instances.get(table) or [])
            if int(seg) not in have:
                instances[table] = sorted([*have, int(seg)])
                added.append(f"{table}{seg}.")
    if added:
        row.instances = instances  # a new object: the JSON column is written
    return added


def forget_instances(s: Session, device: Device, paths: Iterable[str]) -> list[str]:
    """Remove the table instances ``paths`` name (``Device.LocalAgent.Subscription.3.``: the instance
    a USP Delete removed) from ``device``'s stored instance numbers, at once, with every table inside
    them — :func:`note_instances`'s counterpart. Why: a subscription ``gateward usp unsubscribe``
    deleted stayed stored, so a change to it passed validation against an instance that no longer
    exists. The table stays listed (possibly with no instance), so a path into the deleted instance
    is refused as missing. A path whose last segment is no instance number names no instance and is
    skipped; only a stored row of the device's current firmware is changed; returns the instances removed."""
    row = s.get(DeviceInstancesRow, device.id)
    if row is None or row.firmware != device.firmware:
        return []
    instances: dict[str, Any] = dict(row.instances or {})
    removed: list[str] = []
    changed = False
    for path in paths:
        table, _, seg = path.rstrip(".").rpartition(".")
        if not seg.isdigit() or not table:
            continue
        table += "."
        have = list(instances.get(table) or [])
        if int(seg) in have:
            instances[table] = [n for n in have if n != int(seg)]
            removed.append(f"{table}{seg}.")
            changed = True
        inside = f"{table}{seg}."
        for nested in [t for t in instances if t.startswith(inside)]:
            removed.extend(f"{nested}{n}." for n in instances.pop(nested) or [])
            changed = True
    if changed:
        row.instances = instances  # a new object: the JSON column is written
    return removed


def for_devices(s: Session, devices: Iterable[Device]) -> dict[str, CapabilitySet]:
    """``{device_id: CapabilitySet}`` for the devices whose class has stored capabilities (others absent).

    Instance numbers are used only when the device's own last discovery was of the firmware it is
    recorded with: after an upgrade its old instances prove nothing.
    """
    devs = list(devices)
    if not devs:
        return {}
    keys = {d.id: class_key(d) for d in devs}
    models = sorted({k[1] for k in keys.values()})
    # Every validation asks: run on the session's cursor (core.store.fastsql).
    rows = {(v, m, f, r): (params, commands, at)
            for v, m, f, r, params, commands, at in _CLASSES.all(s, {"models": models})}
    if not rows:
        return {}
    inst = {did: (fw, instances, at) for did, fw, instances, at in _INSTANCES.all(s, {"ids": [d.id for d in devs]})}
    out: dict[str, CapabilitySet] = {}
    for d in devs:
        row = rows.get(keys[d.id])
        if row is None:
            continue
        params, commands, discovered_at = row
        own = inst.get(d.id)
        fresh = own is not None and own[0] == d.firmware
        label = (f"device {d.id} (identity unknown)" if unidentified(d)
                 else label_of(d.vendor, d.model, d.firmware))
        tables = dict(own[1]) if own is not None and fresh else {}
        complete = bool(tables.pop(COMPLETE_KEY, False))
        out[d.id] = CapabilitySet(label, dict(params), tables, discovered_at.isoformat(),
                                  own[2].isoformat() if own is not None and fresh else "",
                                  instances_complete=complete,
                                  commands=None if commands is None else frozenset(commands.get("supported", [])),
                                  command_paths=dict((commands or {}).get("paths", {})))
    return out


_CAPS = DeviceCapabilityRow.__table__
_INST = DeviceInstancesRow.__table__
_CLASSES = Prepared(select(_CAPS.c.vendor, _CAPS.c.model, _CAPS.c.firmware, _CAPS.c.root, _CAPS.c.params,
                           _CAPS.c.commands, _CAPS.c.discovered_at).where(among(_CAPS.c.model, "models")))
_INSTANCES = Prepared(select(_INST.c.device_id, _INST.c.firmware, _INST.c.instances, _INST.c.discovered_at)
                      .where(among(_INST.c.device_id, "ids")))


def stored_classes(s: Session, vendor: str | None = None, model: str | None = None) -> list[DeviceCapabilityRow]:
    q = select(DeviceCapabilityRow)
    if vendor:
        q = q.where(DeviceCapabilityRow.vendor == vendor)
    if model:
        q = q.where(DeviceCapabilityRow.model == model)
    return list(s.scalars(q.order_by(DeviceCapabilityRow.vendor, DeviceCapabilityRow.model,
                                     DeviceCapabilityRow.root, DeviceCapabilityRow.firmware)))


# ---------------------------------------------------------------------------- discovering
class _Readers(Protocol):
    def reader(self, device: Device) -> Any: ...


def discover(store: Store, router: _Readers, devices: Sequence[Device]) -> list[dict[str, Any]]:
    """Discover each device through its read path and store the result, one transaction per device
    (a device that fails is reported with its error; the others are still stored)."""
    from core.kernel.ports.executor import ExecutorError

    out: list[JsonObject] = []
    for d in devices:
        d = learn_identity(store, router, d)
        try:
            disc = router.reader(d).discover(d)
        except ExecutorError as exc:
            out.append({"device_id": d.id, "stored": False, "error": str(exc)})
            continue
        with store.write() as s:
            out.append(record(s, d, disc))
    return out


#: Adapters whose discovery is cheap enough to run unasked: the simulator reads its model, USP reuses
#: the GetSupportedDM the executor already holds per agent. GenieACS would refresh the whole device tree
#: (a session of its own), so it is discovered only on request (``gateward devices discover``).
CHEAP_ADAPTERS = frozenset({"sim", "usp"})
#: Adapters whose discovery says which contract commands the device has (``Discovery.commands``): a class
#: of theirs stored without them (discovered before migration 0029, or by an agent that listed none) is
#: discovered again when next met — at most once per :data:`UNSAID_COMMANDS_RETRY`, so an agent that
#: never says is not asked for its whole data model at every contact.
COMMAND_ADAPTERS = frozenset({"usp"})
UNSAID_COMMANDS_RETRY = timedelta(hours=24)


def discover_if_unknown(store: Store, router: _Readers, device: Device) -> JsonObject | None:
    """Discover on first contact / onboarding, only when it is cheap (:data:`CHEAP_ADAPTERS`) and the
    device's class has nothing stored yet (one discovery per new class; an unidentified device is a
    class of its own, :func:`class_key`) — or was stored without the commands its adapter reports
    (:data:`COMMAND_ADAPTERS`), so a firmware download to a device lacking the table is refused at
    validation for classes known before that too. Learns an unknown identity first. Never raises: a
    failed discovery must not stop onboarding (validation then falls back to the registry)."""
    if device.adapter not in CHEAP_ADAPTERS:
        return None
    try:
        device = learn_identity(store, router, device)  # its own class, not "unknown unknown fw unknown"
        with store.read() as s:
            known = for_devices(s, [device]).get(device.id)
        if known is not None and not _commands_due(known, device):
            return None
        return discover(store, router, [device])[0]
    except Exception as exc:  # onboarding goes on; validation falls back to the registry for this class
        return {"device_id": device.id, "stored": False, "error": f"{type(exc).__name__}: {exc}"}


def _commands_due(known: CapabilitySet, device: Device) -> bool:
    """Whether a stored class should be discovered again for the commands it has not said."""
    if known.commands is not None or device.adapter not in COMMAND_ADAPTERS or not known.discovered_at:
        return False
    at = datetime.fromisoformat(known.discovered_at)
    return utcnow() - (at if at.tzinfo is not None else at.replace(tzinfo=UTC)) >= UNSAID_COMMANDS_RETRY


# ---------------------------------------------------------------------------- identity
#: DeviceInfo parameter (under ``Device.``) → the device field it names; ModelName before ProductClass.
IDENTITY_PATHS: tuple[tuple[str, str], ...] = (("DeviceInfo.Manufacturer", "vendor"),
                                               ("DeviceInfo.ModelName", "model"),
                                               ("DeviceInfo.ProductClass", "model"),
                                               ("DeviceInfo.SoftwareVersion", "firmware"))


def _identity_value(value: Any) -> str:
    """A DeviceInfo string fit for a class column: printable, trimmed, at most 64 characters."""
    text = "".join(ch for ch in str(value if value is not None else "") if ch.isprintable()).strip()
    return text[:64]


def _read_identity(router: _Readers, device: Device) -> dict[str, str]:
    """What the device's own DeviceInfo says its vendor, model and firmware are ("" when it does not
    say). A path the device lacks (or a failed read) just leaves that field unsaid."""
    from core.kernel.ports.executor import ExecutorError, InvalidParameterName

    reader = router.reader(device)
    paths = [f"Device.{rel}" for rel, _ in IDENTITY_PATHS]  # readers speak TR-181 and translate
    try:
        values = reader.read(device, paths)
    except InvalidParameterName:
        values = {}
        for path in paths:  # one missing parameter (ModelName) must not hide the others
            try:
                values.update(reader.read(device, [path]))
            except ExecutorError:
                continue
    except ExecutorError:  # offline, timed out: one attempt only (discovery goes on without it)
        return {}
    found: dict[str, str] = {}
    for (_rel, name), path in zip(IDENTITY_PATHS, paths, strict=True):
        pv = values.get(path)
        text = _identity_value(getattr(pv, "value", None)) if pv is not None else ""
        if text and text.lower() != UNKNOWN and not found.get(name):
            found[name] = text
    return found


def learn_identity(store: Store, router: _Readers, device: Device) -> Device:
    """Fill the device's unknown vendor, model and firmware from its own DeviceInfo (Manufacturer,
    ModelName or ProductClass, SoftwareVersion) and return the updated device.

    Why: a USP agent onboarded from its endpoint ID alone is registered ``unknown``/``unknown``/
    ``unknown``; left so, policy reasons read "unknown unknown fw unknown" and every such agent fell
    into one capability class. Only unknown fields are filled (what an admin or the ACS recorded is
    never overwritten), the row changes only if it still holds those unknowns (a concurrent update
    wins), and the change is audited as ``device.updated`` with each field's before and after.
    Never raises: a device that cannot be read keeps its identity (and its own capability key)."""
    if not unidentified(device):
        return device
    try:
        said = _read_identity(router, device)
    except Exception as exc:  # learning is best effort; discovery goes on without it
        log.warning("could not read %s's DeviceInfo to learn its identity: %s", device.id, exc)
        return device
    current = {"vendor": device.vendor, "model": device.model, "firmware": device.firmware}
    changed = {k: {"before": current[k], "after": said[k]} for k in current
               if current[k].strip().lower() in ("", UNKNOWN) and said.get(k)}
    if not changed:
        return device
    with store.write() as s:
        row = s.get(DeviceRow, device.id, with_for_update=True)
        if row is None:
            return device
        for k, c in list(changed.items()):
            if getattr(row, k).strip().lower() not in ("", UNKNOWN):  # someone recorded it meanwhile
                del changed[k]
                continue
            setattr(row, k, c["after"])
        if not changed:
            return device
        updated = device.model_copy(update={k: c["after"] for k, c in changed.items()})
        audit.append(s, actor=IDENTITY_ACTOR, action="device.updated", device=updated,
                     data={"source": "DeviceInfo", "changed": changed})
    return updated
