"""Fast structural check of the policy input document, run by every engine before evaluating.

Why here and not (only) in Rego: a missing or ill-typed field makes a Rego deny rule silently
undefined, which reads as allow. Checking the full shape in Rego costs hundreds of µs per decision
in regorus (every loop iteration is paid), while this check costs a few µs. It mirrors
``policies/schema.py`` (a test proves they agree); ``gateward.input`` keeps a coarse check in
Rego for callers that query the pack directly (the embedded engine skips it: this check implies
it). The field specs below are the one statement of the shape: the hand-written walk reads them
to name a bad field, and they are compiled once into a pydantic-core validator that answers the
common "it passes" in Rust (``_fast_ok``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import CoreSchema, SchemaValidator, core_schema

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
    check.allowed = allowed  # type: ignore[attr-defined]  # read by _core (the compiled fast path)
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


# Fast path (every decision pays it): the specs above compiled once into a pydantic-core validator
# (Rust; ~5 µs for a one-device document against ~11 µs for the same walk in Python). It only
# answers "passes"; anything it refuses takes the full walk below, which names the field or, for a
# value the compiled form is stricter about (a subclass of a plain type), passes. So the compiled
# form must never pass what the walk refuses (tests/policies/test_schema.py mutates every field to
# check), and it does not need to pass everything the walk passes.
_STRICT_SCALARS: dict[Check, CoreSchema] = {
    _str: core_schema.str_schema(strict=True),
    _int: core_schema.int_schema(strict=True),
    _nonneg_int: core_schema.int_schema(strict=True, ge=0),
    _bool: core_schema.bool_schema(strict=True),
    _list: core_schema.is_instance_schema(list),
    _dict: core_schema.is_instance_schema(dict),
    _opt_str: core_schema.nullable_schema(core_schema.str_schema(strict=True)),
    _scalar: core_schema.union_schema([
        core_schema.str_schema(strict=True), core_schema.bool_schema(strict=True),
        core_schema.int_schema(strict=True), core_schema.float_schema(strict=True),
    ]),
}


def _core(check: Check) -> CoreSchema:
    found = _STRICT_SCALARS.get(check)
    if found is not None:
        return found
    allowed = getattr(check, "allowed", None)  # a _one_of check: its values, exactly
    if allowed is None:
        raise TypeError(f"no compiled form for check {check!r}")
    return core_schema.literal_schema(sorted(allowed, key=repr))


def _object(spec: dict[str, Check], nested: dict[str, CoreSchema] | None = None,
            optional: dict[str, CoreSchema] | None = None) -> CoreSchema:
    """A spec as a strict typed dict: every key required, extra keys ignored (as the walk does);
    ``nested`` replaces a key's plain check with the schema of its contents."""
    nested = nested or {}
    fields = {key: core_schema.typed_dict_field(nested.get(key) or _core(check)) for key, check in spec.items()}
    for key, schema in (optional or {}).items():
        fields[key] = core_schema.typed_dict_field(schema, required=False)
    return core_schema.typed_dict_schema(fields, extra_behavior="ignore", strict=True)


def _list_of(item: CoreSchema) -> CoreSchema:
    return core_schema.list_schema(item, strict=True)


def _changes_of(spec: dict[str, Check]) -> CoreSchema:
    return _list_of(_object(spec))


_STRINGS = _list_of(core_schema.str_schema(strict=True))
_DOCUMENT = SchemaValidator(core_schema.typed_dict_schema({
    "proposal": core_schema.typed_dict_field(_object(PROPOSAL, nested={
        "targets": _STRINGS,
        "changes": _list_of(_object(CHANGE, optional={
            "secret_facts": core_schema.nullable_schema(_object(SECRET_FACTS))})),
        "operations": _list_of(_object(OPERATION)),
        "preview": _object(PREVIEW),
    })),
    "devices": core_schema.typed_dict_field(_list_of(_object(DEVICE, nested={"radios": _list_of(_object(RADIO))}))),
    "actor": core_schema.typed_dict_field(_object(ACTOR, nested={"roles": _STRINGS})),
    "context": core_schema.typed_dict_field(_object(CONTEXT, nested={
        "live_proposals": _list_of(_object(LIVE, nested={"changes": _changes_of(LIVE_CHANGE)})),
        "profiles": _list_of(_object(PROFILE, nested={"changes": _changes_of(LIVE_CHANGE)})),
    })),
}, extra_behavior="ignore", strict=True))


def _fast_ok(doc: Any) -> bool:
    """True when :func:`check_input` would pass, checked without building the field names its
    messages need. False means "take the full check", which raises naming the field or, for
    values the fast path does not know (subclasses of the plain types), passes."""
    if type(doc) is not dict or not _DOCUMENT.isinstance_python(doc):
        return False
    targets = doc["proposal"]["targets"]
    if doc["proposal"]["target_count"] < len(targets):
        return False
    return {device["id"] for device in doc["devices"]}.issuperset(targets)


def _fields(obj: Any, spec: dict[str, Check], where: str) -> None:
    if not isinstance(obj, dict):
        raise InputError(f"{where} must be an object")
    for key, check in spec.items():
        if key not in obj:
            raise InputError(f"{where}.{key} is missing")
        if not check(obj[key]):
            raise InputError(f"{where}.{key} must be {_WHAT[check]}")


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
