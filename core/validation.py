"""Validate a proposal's changes against each target device's data model.

Pure functions over the registry (no store, no executor), so the planner's self-check and the
lifecycle's gate run the very same checks. A TR-181 change aimed at TR-098 firmware must also
translate to ``InternetGatewayDevice.`` and pass the TR-098 model's own limits.

Some limits only the device knows: the channels its radio lists in ``PossibleChannels``, the
powers in ``TransmitPowerSupported``, the standards in ``SupportedStandards`` (every
``enumerationRef`` of the data model, plus the two the standard states only in prose).
:func:`device_listed_issues` checks a change against those lists given the device's values (a
live read at preview, or its stored snapshot), so a value the device does not list fails the
preview instead of reaching the device.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from typing import Protocol as Interface
from urllib.parse import urlparse

from core.kernel.datamodel.registry import DataModelError, ParamSpec, Registry, get_registry
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Change, Device, Operation, Protocol, Root
from core.kernel.values import listed_values

if TYPE_CHECKING:
    from core.capabilities import CapabilitySet

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")


class Reader(Interface):
    """The read path of an executor (``ReadOnlyExecutor``): all the device-listed check may use."""

    def read(self, device: Device, paths: Sequence[str]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Issue:
    device_id: str | None
    path: str
    rule: str
    message: str


def flavour_for(device: Device) -> str:
    return "usp" if device.protocol is Protocol.USP else "cwmp"


def normalise(changes: Sequence[Change]) -> list[Change]:
    """Coerce values to their data-model types ("36" → 36) and fill in the type, before hashing,
    so that the hash an approver signs is over typed values. Unknown paths are left untouched for
    :func:`validate_changes` to report."""
    reg = get_registry(Root.DEVICE, "cwmp")
    usp = get_registry(Root.DEVICE, "usp")
    out: list[Change] = []
    for c in changes:
        spec = reg.find(c.path) or usp.find(c.path)
        if spec is None:
            out.append(c)
            continue
        registry = reg if reg.find(c.path) is not None else usp
        try:
            typed = registry.validate(c.path, c.value, for_write=False)
        except DataModelError:
            out.append(c if c.type else c.model_copy(update={"type": spec.type}))
            continue
        # model_copy keeps a per-target change's ``target`` (it is part of what is hashed).
        out.append(c.model_copy(update={"value": typed, "type": c.type or spec.type}))
    return out


def validate_changes(device: Device, changes: Sequence[Change],
                     known: Mapping[str, Json] | None = None,
                     capabilities: CapabilitySet | None = None) -> list[Issue]:
    """Every problem with ``changes`` on ``device``; empty means valid.

    ``known``: the device's values when the caller has them (its stored snapshot, a live read):
    then a value the device does not list as supported is a problem too (:func:`device_listed_issues`).
    ``capabilities``: the device's own data model as discovered (``core.capabilities``): then a path it
    lacks or marks read-only is a problem too, even where TR-181 allows the write. ``None`` (nothing
    discovered yet): the registry alone decides, as before.
    """
    issues: list[Issue] = []
    reg = get_registry(Root.DEVICE, flavour_for(device))
    seen: set[str] = set()
    for c in changes:
        if c.path in seen:
            issues.append(Issue(device.id, c.path, "duplicate", f"{c.path}: set twice in one proposal"))
            continue
        seen.add(c.path)
        if not c.path.startswith("Device."):
            issues.append(Issue(device.id, c.path, "root",
                                f"{c.path}: proposals use TR-181 Device. paths; the executor translates "
                                "for InternetGatewayDevice. firmware"))
            continue
        try:
            spec = reg.lookup(c.path)
            reg.validate(c.path, c.value, for_write=True)
        except DataModelError as exc:
            issues.append(Issue(device.id, c.path, exc.rule, str(exc)))
            continue
        if c.type and c.type != spec.type:
            issues.append(Issue(device.id, c.path, "type",
                                f"{c.path}: declared type {c.type} but the data model says {spec.type}"))
            continue
        refused = capabilities.problem(c.path) if capabilities is not None else None
        if refused is not None:
            issues.append(Issue(device.id, c.path, refused[0], refused[1]))
            continue
        if device.root is Root.IGD:
            issues.extend(_validate_tr098(device, c))
    if known and not issues:
        issues.extend(device_listed_issues(device, changes, known))
    return issues


def per_target_issues(devices: Mapping[str, Device], changes: Sequence[Change],
                      known: Mapping[str, Mapping[str, Json]] | None = None,
                      capabilities: Mapping[str, CapabilitySet] | None = None) -> list[str]:
    """Every problem of a per-target proposal, each target checked with its own values against
    its own registry, listed values and discovered data model; each message names the device.

    Why not one representative per device class, as for ordinary proposals: two devices of one
    class get different values here (channel 1 on one, 6 on the other), so each is its own case."""
    from core.kernel.models import changes_for

    out: list[str] = []
    for device_id, d in devices.items():
        mine = changes_for(changes, device_id)
        out += [f"{device_id}: {i.message}" for i in validate_changes(
            d, mine, (known or {}).get(device_id), (capabilities or {}).get(device_id))]
    return out


# TR-181 states these only in prose ("MUST be one of PossibleChannels"; TransmitPower "MUST be one of
# the values in TransmitPowerSupported"); the data model's enumerationRef facets give the rest.
_PROSE_LISTS = {
    "Device.WiFi.Radio.{i}.Channel": "Device.WiFi.Radio.{i}.PossibleChannels",
    "Device.WiFi.Radio.{i}.TransmitPower": "Device.WiFi.Radio.{i}.TransmitPowerSupported",
}


def listed_by(path: str, spec: ParamSpec | None = None) -> str | None:
    """The concrete path of the parameter in which the device lists the values ``path`` may take
    (``Device.WiFi.Radio.2.Channel`` → ``Device.WiFi.Radio.2.PossibleChannels``), or ``None``."""
    spec = spec or get_registry(Root.DEVICE, "cwmp").find(path) or get_registry(Root.DEVICE, "usp").find(path)
    if spec is None:
        return None
    source = _PROSE_LISTS.get(spec.path) or spec.enum_ref
    if not source:
        return None
    # Carry the change's instance numbers into the source's {i}s along the shared prefix
    # (``Device.WiFi.EndPoint.{i}.Profile.{i}.Security.ModeEnabled`` → ``….EndPoint.3.Security.ModesSupported``).
    concrete, pattern, src = path.split("."), spec.path.split("."), source.split(".")
    out: list[str] = []
    for k, seg in enumerate(src):
        if k < len(pattern) - 1 and pattern[k] == seg:
            out.append(concrete[k])
        elif seg == "{i}":
            return None  # an instance the change does not name
        else:
            out.extend(src[k:])
            break
    return ".".join(out)


def _scalar(raw: Any) -> Any:
    """A value as read (``ParamValue``), as stored in a snapshot (``{"value": …}``) or bare."""
    if isinstance(raw, dict):
        return raw.get("value")
    return getattr(raw, "value", raw)


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def device_listed_issues(device: Device, changes: Sequence[Change], known: Mapping[str, Json],
                         reader: Reader | None = None) -> list[Issue]:
    """Changes whose value the device itself does not list as supported (rule ``device_listed``).

    ``known`` maps TR-181 paths to the device's values (``ParamValue``, snapshot ``{"value": …}``
    or bare scalars). A list the device leaves empty or does not report says nothing and is not
    a problem. ``reader`` (optional) reads the lists ``known`` lacks, one path at a time; a path
    the device does not implement is skipped, because its absence is not a refusal.
    """
    reg = get_registry(Root.DEVICE, flavour_for(device))
    wanted: list[tuple[Change, ParamSpec, str]] = []
    for c in changes:
        spec = reg.find(c.path)
        source = listed_by(c.path, spec) if spec is not None else None
        if spec is not None and source is not None:
            wanted.append((c, spec, source))
    if not wanted:
        return []
    values: JsonObject = dict(known)
    if reader is not None:
        values.update(_read_missing(reader, device, [src for _, _, src in wanted if src not in values]))
    issues: list[Issue] = []
    for c, spec, source in wanted:
        raw = _scalar(values.get(source))
        allowed = listed_values(_wire(raw)) if raw is not None else None
        if allowed is None:
            continue
        items = _items(reg, c, spec)
        bad = [item for item in items if item not in allowed and item != spec.enum_ref_null]
        if bad:
            name = source.rsplit(".", 1)[-1]
            issues.append(Issue(device.id, c.path, "device_listed",
                                f"{c.path}: {', '.join(bad)} is not supported by this device "
                                f"({name}: {_wire(raw) or 'empty'})"))
    return issues


def _items(reg: Registry, change: Change, spec: ParamSpec) -> list[str]:
    """The change's value as the device would list it: typed ("036" → "36"), lists split."""
    try:
        typed = reg.validate(change.path, change.value, for_write=False)
    except DataModelError:
        typed = change.value
    text = _wire(typed)
    return [v.strip() for v in text.split(",") if v.strip()] if spec.is_list else [text]


def _read_missing(reader: Reader, device: Device, paths: list[str]) -> JsonObject:
    from core.kernel.ports.executor import ExecutorError

    out: JsonObject = {}
    for path in dict.fromkeys(paths):
        try:
            out.update(reader.read(device, [path]))
        except ExecutorError:
            continue  # not implemented by this device: it lists nothing to hold the change to
    return out


def listed_error(device: Device, changes: Sequence[Change], known: Mapping[str, Any],
                 reader: Reader | None = None) -> str | None:
    """:func:`device_listed_issues` as one preview error line (``None`` when every value is listed):
    set as the device's ``DevicePreview.error``, which policy treats as an incomplete preview."""
    issues = device_listed_issues(device, changes, known, reader)
    return "; ".join(i.message for i in issues) or None


def _validate_tr098(device: Device, change: Change) -> list[Issue]:
    from core.kernel.datamodel.tr098 import Untranslatable, tr098_patterns

    try:
        patterns, value = tr098_patterns(change.path, change.value, vendor=device.vendor, model=device.model)
    except Untranslatable as exc:
        return [Issue(device.id, change.path, "untranslatable", f"{change.path}: {exc}")]
    reg = get_registry(Root.IGD)
    issues = []
    for pattern in patterns:
        try:
            reg.validate(pattern, value, for_write=True)
        except DataModelError as exc:
            issues.append(Issue(device.id, change.path, exc.rule, f"{change.path} (as {pattern}): {exc}"))
    return issues


def validate_operation(op: Operation) -> list[Issue]:
    args = op.args
    path = f"operation:{op.command}"
    if op.command in ("reboot", "factory_reset"):
        extra = sorted(set(args) - {"reason"})
        return [Issue(None, path, "args", f"{op.command} takes no arguments (got {', '.join(extra)})")] if extra else []
    if op.command == "download":
        url = str(args.get("url", ""))
        odd = next((ch for ch in url if not "\x21" <= ch <= "\x7e"), None)
        if odd is not None:  # a CR/LF splits the request line a CPE sends; a NUL or a space hides what follows
            return [Issue(None, path, "args", f"download url may not hold spaces or control characters — only "
                                             f"printable ASCII, percent-encode the rest (found U+{ord(odd):04X})")]
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return [Issue(None, path, "args", f"download needs an http(s) url (got {url!r})")]
        if len(url) > 256:
            return [Issue(None, path, "args", "download url is longer than 256 characters")]
        return []
    if op.command == "ipping":
        host = str(args.get("host", ""))
        ok = bool(_HOST_RE.match(host))
        if not ok:
            try:
                ipaddress.ip_address(host)
                ok = True
            except ValueError:
                ok = False
        if not ok:
            return [Issue(None, path, "args", f"ipping needs a host name or IP address (got {host!r})")]
        reps = args.get("repetitions", 3)
        if not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= 100:
            return [Issue(None, path, "args", f"ipping repetitions must be 1..100 (got {reps!r})")]
        return []
    return [Issue(None, path, "args", f"unknown operation {op.command!r}")]
