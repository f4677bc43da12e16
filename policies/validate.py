"""Fast structural check of the policy input document, run by every engine before evaluating.

Why here and not (only) in Rego: a missing or ill-typed field makes a Rego deny rule silently
undefined, which reads as allow. Checking the full shape in Rego costs hundreds of µs per decision
in regorus (every loop iteration is paid), while this hand-written walk costs a few µs. It mirrors
``policies/schema.py`` (a test proves they agree); ``gateward.input`` keeps a coarse check in
Rego for callers that query the pack directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg_int(v: Any) -> bool:
    return _int(v) and v >= 0


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _list(v: Any) -> bool:
    return isinstance(v, list)


def _dict(v: Any) -> bool:
    return isinstance(v, dict)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _scalar(v: Any) -> bool:
    return isinstance(v, str | bool | int | float)


def _one_of(*values: Any) -> Check:
    allowed = frozenset(values)

    def check(v: Any) -> bool:
        return isinstance(v, str | type(None)) and v in allowed

    check.__doc__ = " | ".join(sorted(str(a) for a in values))
    return check


_KIND = _one_of("human", "job")
_BAND = _one_of("2.4GHz", "5GHz", "6GHz")
_ROOT = _one_of("Device.", "InternetGatewayDevice.")
_PROTOCOL = _one_of("cwmp", "usp")
_COMPAT = _one_of("green", "yellow", "red", None)
_COMMAND = _one_of("reboot", "factory_reset", "download", "ipping")

_WHAT: dict[Check, str] = {
    _str: "a string",
    _int: "an integer",
    _nonneg_int: "a non-negative integer",
    _bool: "a boolean",
    _list: "a list",
    _dict: "an object",
    _opt_str: "a string or null",
    _scalar: "a string, number or boolean",
    _KIND: "human or job",
    _BAND: "2.4GHz, 5GHz or 6GHz",
    _ROOT: "Device. or InternetGatewayDevice.",
    _PROTOCOL: "cwmp or usp",
    _COMPAT: "green, yellow, red or null",
    _COMMAND: "reboot, factory_reset, download or ipping",
}

PROPOSAL: dict[str, Check] = {
    "id": _str,
    "hash": _str,
    "author": _str,
    "author_kind": _KIND,
    "intent": _str,
    "emergency": _bool,
    "action_type": _opt_str,
    "source": _str,
    "target_count": _nonneg_int,
    "targets": _list,
    "changes": _list,
    "operations": _list,
    "preview": _dict,
}
PREVIEW: dict[str, Check] = {
    "exists": _bool,
    "devices_total": _nonneg_int,
    "devices_present": _nonneg_int,
    "blind": _bool,
}
CHANGE: dict[str, Check] = {"path": _str, "pattern": _str, "value": _scalar, "type": _str, "secret": _bool}
SECRET_FACTS: dict[str, Check] = {"length": _nonneg_int, "sha256_lower": _str, "contains_ssid": _bool}
OPERATION: dict[str, Check] = {"command": _COMMAND, "args": _dict}
DEVICE: dict[str, Check] = {
    "id": _str,
    "vendor": _str,
    "model": _str,
    "firmware": _str,
    "region": _str,
    "root": _ROOT,
    "protocol": _PROTOCOL,
    "compat": _COMPAT,
    "present": _bool,
    "reboots_24h": _nonneg_int,
    "failed_changes_7d": _nonneg_int,
    "radios": _list,
    "ssids": _list,
}
# What the rules read of a radio; its current channel and bandwidth are informational (a device
# may not report them) and ssids are never read, so neither is required here.
RADIO: dict[str, Check] = {"index": _int, "band": _BAND, "auto_channel": _bool}
ACTOR: dict[str, Check] = {"id": _str, "roles": _list, "kind": _KIND}
CONTEXT: dict[str, Check] = {
    "now": _str,
    "now_ns": _int,
    "fleet_size": _nonneg_int,
    "live_proposals": _list,
    "profiles": _list,
}
LIVE: dict[str, Check] = {"id": _str, "author": _str, "targets": _list, "changes": _list}
PROFILE: dict[str, Check] = {"id": _str, "targets": _list, "changes": _list}
LIVE_CHANGE: dict[str, Check] = {"path": _str, "value": _scalar}


class InputError(ValueError):
    """The input document does not have the shape of policies/schema.py; names the field."""


# Fast path (every decision pays this walk): the exact types that pass a check outright. Anything
# else, a subclass or a value a check constrains further, takes the check itself, so the outcome is
# the check's either way.
_PLAIN: dict[Check, frozenset[type]] = {
    _str: frozenset({str}),
    _int: frozenset({int}),
    _bool: frozenset({bool}),
    _list: frozenset({list}),
    _dict: frozenset({dict}),
    _opt_str: frozenset({str, type(None)}),
    _scalar: frozenset({str, bool, int, float}),
}
_NOTHING: frozenset[type] = frozenset()
_Compiled = tuple[tuple[str, frozenset[type], Check], ...]
_COMPILED: dict[int, _Compiled] = {}


def _compiled(spec: dict[str, Check]) -> _Compiled:
    found = _COMPILED.get(id(spec))
    if found is None:
        found = _COMPILED[id(spec)] = tuple((key, _PLAIN.get(check, _NOTHING), check) for key, check in spec.items())
    return found


def _fields(obj: Any, spec: dict[str, Check], where: str) -> None:
    if not isinstance(obj, dict):
        raise InputError(f"{where} must be an object")
    for key, check in spec.items():
        if key not in obj:
            raise InputError(f"{where}.{key} is missing")
        if not check(obj[key]):
            raise InputError(f"{where}.{key} must be {_WHAT[check]}")


_MISSING = object()


def _ok(obj: Any, spec: dict[str, Check]) -> bool:
    """``_fields`` without building a message: True when it would pass (fast path only)."""
    if type(obj) is not dict:
        return False
    for key, plain, check in _compiled(spec):
        value = obj.get(key, _MISSING)
        if type(value) not in plain and (value is _MISSING or not check(value)):
            return False
    return True


def _all_str(seq: list[Any]) -> bool:
    return all(type(item) is str for item in seq)


def _fast_ok(doc: Any) -> bool:
    """True when :func:`check_input` would pass, checked without building the field names its
    messages need (a few µs instead of ~15 on every decision). False means "take the full check",
    which raises naming the field or, for values the fast path does not know (subclasses of the
    plain types), passes."""
    if type(doc) is not dict:
        return False
    proposal: Any = doc.get("proposal")
    if not _ok(proposal, PROPOSAL) or not _ok(proposal["preview"], PREVIEW):
        return False
    targets = proposal["targets"]
    if not _all_str(targets) or proposal["target_count"] < len(targets):
        return False
    for change in proposal["changes"]:
        if not _ok(change, CHANGE):
            return False
        facts = change.get("secret_facts")
        if facts is not None and not _ok(facts, SECRET_FACTS):
            return False
    for op in proposal["operations"]:
        if not _ok(op, OPERATION):
            return False
    devices = doc.get("devices")
    if type(devices) is not list:
        return False
    known = set()
    for device in devices:
        if not _ok(device, DEVICE):
            return False
        for radio in device["radios"]:
            if not _ok(radio, RADIO):
                return False
        known.add(device["id"])
    if not known.issuperset(targets):
        return False
    actor: Any = doc.get("actor")
    if not _ok(actor, ACTOR) or not _all_str(actor["roles"]):
        return False
    context: Any = doc.get("context")
    if not _ok(context, CONTEXT):
        return False
    for live in context["live_proposals"]:
        if not _ok(live, LIVE):
            return False
        for change in live["changes"]:
            if not _ok(change, LIVE_CHANGE):
                return False
    for profile in context["profiles"]:
        if not _ok(profile, PROFILE):
            return False
        for change in profile["changes"]:
            if not _ok(change, LIVE_CHANGE):
                return False
    return True


def _items(seq: list[Any], spec: dict[str, Check], where: str) -> None:
    for i, item in enumerate(seq):
        _fields(item, spec, f"{where}[{i}]")


def _strings(seq: list[Any], where: str) -> None:
    for i, item in enumerate(seq):
        if not isinstance(item, str):
            raise InputError(f"{where}[{i}] must be a string")


def check_outline(doc: Any) -> None:
    """The top-level shape only (sections and their kinds): what fleet grouping reads before each
    class document gets the full :func:`check_input` in the engine."""
    if not isinstance(doc, dict):
        raise InputError("the input document must be an object")
    proposal = doc.get("proposal")
    if not isinstance(proposal, dict):
        raise InputError("proposal must be an object")
    for key in ("id", "changes", "targets"):
        if key not in proposal:
            raise InputError(f"proposal.{key} is missing")
    if not isinstance(doc.get("devices"), list):
        raise InputError("devices must be a list")
    context = doc.get("context")
    if not isinstance(context, dict):
        raise InputError("context must be an object")
    for key in ("live_proposals", "profiles"):
        if not isinstance(context.get(key), list):
            raise InputError(f"context.{key} must be a list")
    if not isinstance(doc.get("actor"), dict):
        raise InputError("actor must be an object")


def check_input(doc: Any) -> None:
    """Raise :class:`InputError` naming the first field that is missing or ill-typed."""
    if not _fast_ok(doc):
        _slow_check(doc)


def _slow_check(doc: Any) -> None:
    """The full walk, naming the first bad field."""
    if not isinstance(doc, dict):
        raise InputError("the input document must be an object")
    proposal: dict[str, Any] = doc.get("proposal")  # type: ignore[assignment]  # checked next line
    _fields(proposal, PROPOSAL, "proposal")
    _strings(proposal["targets"], "proposal.targets")
    _fields(proposal["preview"], PREVIEW, "proposal.preview")
    if proposal["target_count"] < len(proposal["targets"]):
        raise InputError("proposal.target_count must be at least the number of targets listed")
    for i, change in enumerate(proposal["changes"]):
        where = f"proposal.changes[{i}]"
        _fields(change, CHANGE, where)
        facts = change.get("secret_facts")
        if facts is not None:
            _fields(facts, SECRET_FACTS, f"{where}.secret_facts")
    _items(proposal["operations"], OPERATION, "proposal.operations")
    devices = doc.get("devices")
    if not isinstance(devices, list):
        raise InputError("devices must be a list")
    known: set[str] = set()
    for i, device in enumerate(devices):
        where = f"devices[{i}]"
        _fields(device, DEVICE, where)
        _items(device["radios"], RADIO, f"{where}.radios")
        known.add(device["id"])
    missing = [t for t in proposal["targets"] if t not in known]
    if missing:
        raise InputError(f"no device facts for {len(missing)} target(s), e.g. {missing[0]}")
    actor: dict[str, Any] = doc.get("actor")  # type: ignore[assignment]  # checked next line
    _fields(actor, ACTOR, "actor")
    _strings(actor["roles"], "actor.roles")
    context: dict[str, Any] = doc.get("context")  # type: ignore[assignment]  # checked next line
    _fields(context, CONTEXT, "context")
    for i, live in enumerate(context["live_proposals"]):
        _fields(live, LIVE, f"context.live_proposals[{i}]")
        _items(live["changes"], LIVE_CHANGE, f"context.live_proposals[{i}].changes")
    for i, profile in enumerate(context["profiles"]):
        _fields(profile, PROFILE, f"context.profiles[{i}]")
        _items(profile["changes"], LIVE_CHANGE, f"context.profiles[{i}].changes")
