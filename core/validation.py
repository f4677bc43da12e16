"""Validate a proposal's changes against each target device's data model.

Pure functions over the registry (no store, no executor), so the planner's self-check and the
lifecycle's gate run the very same checks. A TR-181 change aimed at TR-098 firmware must also
translate to ``InternetGatewayDevice.`` and pass the TR-098 model's own limits.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from core.datamodel.registry import DataModelError, get_registry
from core.models import Change, Device, Operation, Protocol, Root

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")


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
            out.append(c if c.type else Change(path=c.path, value=c.value, type=spec.type))
            continue
        out.append(Change(path=c.path, value=typed, type=c.type or spec.type))
    return out


def validate_changes(device: Device, changes: Sequence[Change]) -> list[Issue]:
    """Every problem with ``changes`` on ``device``; empty means valid."""
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
        if device.root is Root.IGD:
            issues.extend(_validate_tr098(device, c))
    return issues


def _validate_tr098(device: Device, change: Change) -> list[Issue]:
    from executors.translate import Untranslatable, tr098_patterns

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
