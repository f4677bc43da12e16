"""The TR-181 / TR-098 data-model registry: what a parameter is, and whether a value fits it.

This is the first gate of the write path (``docs/safety.md``, invariant 1): a change reaches a
device only if its path exists in the device's data model, is writable, and its value has the
right type, range, length, pattern and enumeration.  The facts come from the Broadband Forum
XML, compiled by :mod:`core.datamodel.generate` into small committed tables under ``data/``,
so the runtime needs neither ``lxml`` nor the XML.

Design choices worth knowing:

* Specs are keyed by their ``{i}`` pattern path.  A concrete path (``Device.WiFi.Radio.2.
  Channel``, alias form ``Device.WiFi.Radio.[cpe-r2].Channel`` or wildcard ``*``) is mapped to
  its pattern once and then cached, so a lookup is one dict probe.
* Every spec's checks are compiled into one closure at load time (ranges merged with the
  type's implicit bounds, regexes translated from XML Schema syntax and precompiled), so a
  ``validate`` call is a cache probe plus a handful of comparisons.
* Messages name the path and the rule and never contain a secret parameter's value: they are
  shown to approvers and written to the audit log.
* String sizes count UTF-8 bytes (TR-181 sizes, and 802.11's 32-octet SSID, are octets), and a
  named TR-106 type is checked for what it means, not only its facets: an ``IPAddress`` must
  be an IP address (:mod:`core.values`; the XML gives that type only a size).  A string being
  *written* may not contain control characters, and a display string (SSID, names,
  descriptions) no line breaks or bidirectional overrides either (rule ``control``).
* Constraints that live only in description prose (channel vs. band, TransmitPower vs.
  TransmitPowerSupported) are not here: the values a device lists are known only from the
  device, and are checked at preview (``core.validation.device_listed_issues``).
* Values are returned as plain ``str | int | float | bool`` (lists as their comma-separated
  wire form, dateTimes as ISO strings) because they flow into ``core.models.Change`` and the
  proposal hash, which take only JSON scalars.
"""

from __future__ import annotations

import binascii
import dataclasses
import gzip
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

from core import values as tr106

__all__ = [
    "RULES",
    "CommandSpec",
    "DataModelError",
    "EventSpec",
    "ObjectSpec",
    "ParamSpec",
    "Registry",
    "get_registry",
    "load_table",
    "pattern_of",
    "xsd_regex_to_python",
]

RULES = frozenset(
    {"unknown_path", "not_writable", "type", "range", "enum", "enum_readonly", "length", "pattern",
     "deleted", "list", "control"}
)

Number = int | float
Typed = str | int | float | bool
Check = Callable[[str, Any, bool], Typed]

DATA_FILES = {
    ("Device.", "cwmp"): "tr181-cwmp.json.gz",
    ("Device.", "usp"): "tr181-usp.json.gz",
    ("InternetGatewayDevice.", "cwmp"): "tr098.json.gz",
}

# Implicit value ranges of the TR-106 integer types.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "unsignedInt": (0, 2**32 - 1),
    "int": (-(2**31), 2**31 - 1),
    "unsignedLong": (0, 2**64 - 1),
    "long": (-(2**63), 2**63 - 1),
}
_ARTICLE = {
    "string": "a string", "boolean": "a boolean", "unsignedInt": "an unsignedInt", "int": "an int",
    "unsignedLong": "an unsignedLong", "long": "a long", "decimal": "a decimal",
    "dateTime": "a dateTime", "base64": "valid base64", "hexBinary": "valid hexBinary",
}
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})*")
# TR-106 lets vendors extend an enumeration with values named X_<VENDOR>_<name>.
_VENDOR_ENUM_RE = re.compile(r"X_[0-9A-Za-z][0-9A-Za-z-]*_\S+")
_ENUM_SHOWN = 12
_CACHE_LIMIT = 200_000


class DataModelError(ValueError):
    """A path or value the data model rejects.

    ``rule`` is one of :data:`RULES`, so callers (lifecycle, API, planner) can branch on the
    kind of problem; ``str(exc)`` is ``"<path>: <what is wrong>"`` for people.
    """

    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.rule = rule
        self.detail = message


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """Everything the standard says about one parameter.

    ``path`` and ``pattern_path`` are both the ``{i}`` form (a spec describes every instance;
    the concrete path is whatever the caller looked up).  ``ranges`` is a union of
    ``(min, max, step)`` with ``None`` for an open bound; ``sizes`` are alternative
    ``(min, max)`` lengths (characters for strings, bytes for hexBinary/base64); ``patterns``
    are alternative XML-Schema regexes, ``""`` meaning the empty string is allowed.
    """

    path: str
    pattern_path: str
    name: str
    type: str
    access: str = "readOnly"
    data_type: str | None = None
    is_list: bool = False
    list_max_length: int | None = None
    list_min_items: int | None = None
    list_max_items: int | None = None
    list_nested: bool = False
    enum: tuple[str, ...] = ()
    enum_readonly: tuple[str, ...] = ()
    enum_ref: str | None = None
    enum_ref_null: str | None = None
    ranges: tuple[tuple[Number | None, Number | None, Number | None], ...] = ()
    sizes: tuple[tuple[int | None, int | None], ...] = ()
    patterns: tuple[str, ...] = ()
    units: str | None = None
    default: str | None = None
    default_type: str | None = None
    hidden: bool = False
    secured: bool = False
    command_trigger: bool = False
    version: str | None = None
    status: str = "current"
    forced_inform: bool = False
    active_notify: str | None = None
    ref_targets: tuple[str, ...] = ()
    ref_type: str | None = None
    mandatory: bool = False

    @property
    def writable(self) -> bool:
        """Settable by a controller: readWrite, or writeOnceReadOnly (set once, then fixed)."""
        return self.access != "readOnly" and self.status != "deleted"

    @property
    def secret(self) -> bool:
        """``hidden`` or ``secured`` in the standard: never log or display the value."""
        return self.hidden or self.secured

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"

    @property
    def settable_enum(self) -> tuple[str, ...]:
        """Enumeration values a controller may write (readOnly values are report-only)."""
        ro = set(self.enum_readonly)
        return tuple(v for v in self.enum if v not in ro)


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """An object (``path`` ends in ``.``; multi-instance tables end in ``{i}.``)."""

    path: str
    access: str = "readOnly"
    multi_instance: bool = False
    min_entries: int = 1
    max_entries: int | None = 1
    num_entries_param: str | None = None
    enable_param: str | None = None
    unique_keys: tuple[str, ...] = ()
    version: str | None = None
    status: str = "current"

    @property
    def name(self) -> str:
        return self.path

    @property
    def writable(self) -> bool:
        """Instances can be added and deleted (AddObject/DeleteObject, USP Add/Delete)."""
        return self.access == "readWrite" and self.status != "deleted"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A USP command such as ``Device.IP.Diagnostics.IPPing()``."""

    path: str
    name: str
    is_async: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    mandatory_inputs: tuple[str, ...] = ()
    input_specs: Mapping[str, ParamSpec] = dataclasses.field(default_factory=dict, repr=False)
    version: str | None = None
    status: str = "current"


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A USP event such as ``Device.Boot!``."""

    path: str
    name: str
    args: tuple[str, ...]
    version: str | None = None
    status: str = "current"


# --------------------------------------------------------------------------- XSD regexes

_XSD_CLASS_ESCAPES = {
    "i": "[A-Za-z_:]",
    "I": "[^A-Za-z_:]",
    "c": "[-.0-9:A-Z_a-z]",
    "C": "[^-.0-9:A-Z_a-z]",
}


def xsd_regex_to_python(pattern: str) -> str:
    """Translate an XML-Schema regex to Python ``re`` syntax (to be used with ``fullmatch``).

    XSD regexes are implicitly anchored and treat ``^`` and ``$`` as ordinary characters;
    ``\\i``/``\\c`` are XML name classes.  Characters Python would read as set operations
    inside a class are escaped.  Everything else the BBF files use is common syntax.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _XSD_CLASS_ESCAPES:
                cls = _XSD_CLASS_ESCAPES[nxt]
                out.append(cls[1:-1] if in_class and not cls.startswith("[^") else cls)
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append(ch)
            elif ch in "[&~|":
                out.append("\\" + ch)
            else:
                out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            if pattern[i + 1: i + 2] == "^":
                out.append("^")
                i += 1
        elif ch in "^$":
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- formatting


def _fmt_num(x: Number) -> str:
    return str(x) if isinstance(x, int) or not x.is_integer() else str(int(x))


def _fmt_ranges(ranges: list[tuple[Number, Number, Number | None]]) -> str:
    parts = []
    for lo, hi, step in ranges:
        text = f"{_fmt_num(lo)}..{_fmt_num(hi)}"
        if step:
            text += f" step {_fmt_num(step)}"
        parts.append(text)
    return ", ".join(parts)


def _fmt_sizes(sizes: tuple[tuple[int | None, int | None], ...]) -> str:
    exact = all(lo is not None and lo == hi for lo, hi in sizes)
    if exact:
        return " or ".join(str(lo) for lo, _ in sizes)
    return ", ".join(f"{lo or 0}..{'' if hi is None else hi}" for lo, hi in sizes)


def _fmt_enum(values: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(values[:_ENUM_SHOWN])
    return shown + (", ..." if len(values) > _ENUM_SHOWN else "")


def _show(value: Any, secret: bool) -> str:
    """How a rejected value appears in a message: ``repr`` for strings, never for secrets."""
    if secret:
        return "value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _fmt_num(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _wire(value: Typed) -> str:
    """The TR-069 string form of a typed item (used when joining list items)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _fmt_num(value)
    return str(value)


# --------------------------------------------------------------------------- compilation


def _type_error(path: str, value: Any, type_name: str, secret: bool) -> DataModelError:
    return DataModelError(path, "type", f"{_show(value, secret)} is not {_ARTICLE.get(type_name, type_name)}")


def _compile_item(spec: ParamSpec, allowed_enum: tuple[str, ...], allowed_ro: frozenset[str],
                  named: tr106.NamedCheck | None = None) -> Callable[[str, Any, bool, bool], Typed]:
    """The check for one scalar (a whole value, or one item of a list).

    Returns ``item(path, value, for_write, secret) -> typed``.  ``allowed_enum`` is the spec's
    own enumeration or, for an ``enumerationRef``, the referenced parameter's superset.
    """
    t = spec.type
    if t in INT_BOUNDS:
        tmin, tmax = INT_BOUNDS[t]
        ranges = _effective_ranges(spec.ranges, tmin, tmax)
        return _int_check(t, ranges)
    if t == "boolean":
        return _bool_check
    if t == "decimal":
        return _decimal_check(_effective_ranges(spec.ranges, -math.inf, math.inf))
    if t == "dateTime":
        return _datetime_check
    if t in ("hexBinary", "base64"):
        return _binary_check(t, spec.sizes)
    return _string_check(spec, allowed_enum, allowed_ro, named)


def _effective_ranges(ranges: tuple[tuple[Number | None, Number | None, Number | None], ...],
                      tmin: Number, tmax: Number) -> list[tuple[Number, Number, Number | None]]:
    """Explicit ranges clipped to the type's implicit bounds; the type bounds if none."""
    if not ranges:
        return [(tmin, tmax, None)]
    out: list[tuple[Number, Number, Number | None]] = []
    for lo, hi, step in ranges:
        out.append((tmin if lo is None else max(lo, tmin), tmax if hi is None else min(hi, tmax), step))
    return out


def _in_ranges(n: Number, ranges: list[tuple[Number, Number, Number | None]]) -> bool:
    return any(lo <= n <= hi and (not step or (n - lo) % step == 0) for lo, hi, step in ranges)


def _int_check(type_name: str, ranges: list[tuple[Number, Number, Number | None]],
               ) -> Callable[[str, Any, bool, bool], Typed]:
    single = ranges[0] if len(ranges) == 1 and not ranges[0][2] else None
    lo, hi = (single[0], single[1]) if single else (0, 0)
    text = _fmt_ranges(ranges)

    def check(path: str, value: Any, for_write: bool, secret: bool) -> Typed:
        try:
            n = tr106.as_int(value)
        except tr106.LexicalError:
            raise _type_error(path, value, type_name, secret) from None
        if single is not None:
            if lo <= n <= hi:
                return n
        elif _in_ranges(n, ranges):
            return n
        raise DataModelError(path, "range", f"{_show(n, secret)} is outside {text}")

    return check


def _bool_check(path: str, value: Any, for_write: bool, secret: bool) -> Typed:
    b = tr106.parse_bool(value)
    if b is None:
        raise _type_error(path, value, "boolean", secret)
    return b


def _decimal_check(ranges: list[tuple[Number, Number, Number | None]],
                   ) -> Callable[[str, Any, bool, bool], Typed]:
    text = _fmt_ranges(ranges)
    bounded = ranges != [(-math.inf, math.inf, None)]

    def check(path: str, value: Any, for_write: bool, secret: bool) -> Typed:
        if isinstance(value, bool):
            raise _type_error(path, value, "decimal", secret)
        if isinstance(value, (int, float)) or (isinstance(value, str) and _DECIMAL_RE.fullmatch(value)):
            x = float(value)
        else:
            raise _type_error(path, value, "decimal", secret)
        if not math.isfinite(x):
            raise _type_error(path, value, "decimal", secret)
        if bounded and not _in_ranges(x, ranges):
            raise DataModelError(path, "range", f"{_show(x, secret)} is outside {text}")
        return x

    return check


def _datetime_check(path: str, value: Any, for_write: bool, secret: bool) -> Typed:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise DataModelError(path, "type", "dateTime needs a time zone (use UTC, suffix Z)")
        return value.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str) or not _DATETIME_RE.fullmatch(value):
        raise _type_error(path, value, "dateTime", secret)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _type_error(path, value, "dateTime", secret) from None
    return value


def _binary_check(type_name: str, sizes: tuple[tuple[int | None, int | None], ...],
                  ) -> Callable[[str, Any, bool, bool], Typed]:
    size_text = _fmt_sizes(sizes) if sizes else ""

    def check(path: str, given: Any, for_write: bool, secret: bool) -> Typed:
        value: str
        if isinstance(given, (bytes, bytearray)):
            raw = bytes(given)
            value = raw.hex() if type_name == "hexBinary" else binascii.b2a_base64(raw, newline=False).decode()
            n = len(raw)
        elif not isinstance(given, str):
            raise _type_error(path, given, type_name, secret)
        else:
            value = given
            if type_name == "hexBinary":
                if not _HEX_RE.fullmatch(value):
                    raise _type_error(path, value, type_name, secret)
                n = len(value) // 2
            else:
                try:
                    n = len(binascii.a2b_base64(value, strict_mode=True))
                except (binascii.Error, ValueError):
                    raise _type_error(path, value, type_name, secret) from None
        if sizes and not _size_ok(n, sizes):
            raise DataModelError(path, "length", f"length {n} bytes is outside {size_text}")
        return value

    return check


def _size_ok(n: int, sizes: tuple[tuple[int | None, int | None], ...]) -> bool:
    return any((lo is None or n >= lo) and (hi is None or n <= hi) for lo, hi in sizes)


def _string_check(spec: ParamSpec, allowed_enum: tuple[str, ...], allowed_ro: frozenset[str],
                  named: tr106.NamedCheck | None = None) -> Callable[[str, Any, bool, bool], Typed]:
    """Enumeration, control characters (writes), size in UTF-8 bytes, pattern, named type."""
    sizes = spec.sizes
    size_text = _fmt_sizes(sizes) if sizes else ""
    exact_sizes = bool(sizes) and all(lo is not None and lo == hi for lo, hi in sizes)
    max_only = sizes[0][1] if len(sizes) == 1 and sizes[0][0] in (None, 0) else None
    regex = None
    pattern_text = ""
    if spec.patterns:
        alternatives = [xsd_regex_to_python(p) for p in spec.patterns]
        regex = re.compile("|".join(f"(?:{a})" for a in alternatives))
        pattern_text = " or ".join(repr(p) if p == "" else p for p in spec.patterns)
    enum_set = frozenset(allowed_enum)
    settable = tuple(v for v in allowed_enum if v not in allowed_ro)
    enum_text_all = _fmt_enum(allowed_enum)
    enum_text_set = _fmt_enum(settable)
    display = tr106.is_display_string(spec.name)
    write_min = tr106.MIN_WRITE_BYTES.get(spec.name)
    if write_min is not None and sizes:
        write_min = (write_min[0], f"{write_min[1]} ({write_min[0]}..{sizes[0][1]} bytes)")

    def check(path: str, given: Any, for_write: bool, secret: bool) -> Typed:
        value: str
        if type(given) is str:
            value = given
        else:
            if isinstance(given, bool) or not isinstance(given, (str, int, float)):
                raise _type_error(path, given, "string", secret)
            value = _wire(given) if not isinstance(given, str) else str(given)
        if for_write:
            problem = tr106.control_problem(value, display=display, secret=secret)
            if problem is not None:
                raise DataModelError(path, "control", problem)
            if write_min is not None and tr106.byte_length(value) < write_min[0]:
                raise DataModelError(path, "length", write_min[1])
        if enum_set:
            if value not in enum_set:
                if not _VENDOR_ENUM_RE.fullmatch(value):
                    shown = enum_text_set if for_write else enum_text_all
                    raise DataModelError(path, "enum", f"{_show(value, secret)} is not one of {shown}")
            elif for_write and value in allowed_ro:
                raise DataModelError(
                    path, "enum_readonly",
                    f"{_show(value, secret)} can be reported but not set (settable: {enum_text_set})")
        if sizes:
            n = tr106.byte_length(value)
            if max_only is not None:
                if n > max_only:
                    raise DataModelError(path, "length", f"length {_fmt_len(n, value)} is outside 0..{max_only}")
            elif not _size_ok(n, sizes):
                verb = "is not" if exact_sizes else "is outside"
                raise DataModelError(path, "length", f"length {_fmt_len(n, value)} {verb} {size_text}")
        if named is not None:  # before the pattern: "is not an IPv4 address" says more than a regex
            problem = named(value)
            if problem is not None:
                raise DataModelError(path, "pattern", f"{_show(value, secret)} {problem}")
        if regex is not None and not regex.fullmatch(value):
            raise DataModelError(path, "pattern", f"{_show(value, secret)} does not match {pattern_text}")
        return value

    return check


def _fmt_len(n: int, value: str) -> str:
    """``33`` for ASCII; ``33 bytes (12 characters)`` when UTF-8 makes the two differ."""
    return str(n) if n == len(value) else f"{n} bytes ({len(value)} characters)"


def _compile(spec: ParamSpec, ref_enum: tuple[str, ...], label: str,
             named: tr106.NamedCheck | None = None) -> Check:
    """Compile every check for ``spec`` into ``check(path, value, for_write) -> typed``.

    ``ref_enum`` is the enumeration of the parameter an ``enumerationRef`` points at: the
    superset of what a device may accept (the device's own value of it narrows it further,
    which only a live read can tell).
    """
    allowed_enum = spec.enum
    allowed_ro = frozenset(spec.enum_readonly)
    if spec.enum_ref and not allowed_enum and ref_enum:
        extra = (spec.enum_ref_null,) if spec.enum_ref_null is not None else ()
        allowed_enum = tuple(dict.fromkeys(ref_enum + extra))
        allowed_ro = frozenset()
    item = _compile_item(spec, allowed_enum, allowed_ro, named)
    secret = spec.secret
    null_ok = spec.hidden or spec.secured or spec.command_trigger
    deleted = spec.status == "deleted"
    read_only = spec.access == "readOnly"
    if deleted:
        def deleted_check(path: str, value: Any, for_write: bool) -> Typed:
            raise DataModelError(path, "deleted", f"deleted parameter (status deleted in {label})")
        return deleted_check

    if not spec.is_list:
        def check(path: str, value: Any, for_write: bool) -> Typed:
            if for_write:
                if read_only:
                    raise DataModelError(path, "not_writable", "read-only parameter")
            elif null_ok and value == "":
                return ""  # hidden/secured/trigger parameters read back as the null value
            return item(path, value, for_write, secret)
        return check

    max_len = spec.list_max_length
    min_items = spec.list_min_items
    max_items = spec.list_max_items
    nested = spec.list_nested
    if nested:
        # Items are bracketed (``[0,1,…],[…]``); the item facets describe what is inside the
        # brackets, and only string-typed contents are checked (others are tuples of the type).
        inner = item if spec.type == "string" else None

        def item(path: str, value: Any, for_write: bool, secret: bool) -> Typed:
            if not isinstance(value, str) or not (value.startswith("[") and value.endswith("]")):
                raise DataModelError(path, "type", f"{_show(value, secret)} is not a bracketed list item")
            if inner is not None:
                inner(path, value[1:-1], for_write, secret)
            return value

    def list_check(path: str, value: Any, for_write: bool) -> Typed:
        if for_write and read_only:
            raise DataModelError(path, "not_writable", "read-only parameter")
        if isinstance(value, str):
            items: list[Any] = _split_list(value, nested)
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        typed: list[str] = []
        for raw in items:
            try:
                typed.append(_wire(item(path, raw, for_write, secret)))
            except DataModelError as exc:
                raise DataModelError(path, exc.rule, f"item {exc.detail}") from None
        joined = ",".join(typed)
        if max_len is not None and tr106.byte_length(joined) > max_len:
            raise DataModelError(path, "list",
                                 f"list length {_fmt_len(tr106.byte_length(joined), joined)} is outside 0..{max_len}")
        n = len(typed)
        if (min_items is not None and n < min_items) or (max_items is not None and n > max_items):
            bounds = f"{min_items or 0}..{'' if max_items is None else max_items}"
            raise DataModelError(path, "list", f"item count {n} is outside {bounds}")
        return joined

    return list_check


def _split_list(value: str, nested: bool) -> list[str]:
    """Split a TR-069 list string; with ``nested``, commas inside ``[...]`` do not split."""
    if value.strip() == "":
        return []
    if not nested or "[" not in value:
        return [v.strip() for v in value.split(",")]
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(value):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
    items.append(value[start:].strip())
    return items


# --------------------------------------------------------------------------- loading


def _tuple_ranges(raw: Any) -> tuple[tuple[Number | None, Number | None, Number | None], ...]:
    return tuple((r[0], r[1], r[2]) for r in raw or ())


def _param_spec(path: str, rec: Mapping[str, Any]) -> ParamSpec:
    lst = rec.get("list")
    return ParamSpec(
        path=path,
        pattern_path=path,
        name=path.rsplit(".", 1)[-1],
        type=rec["type"],
        access=rec.get("access", "readOnly"),
        data_type=rec.get("data_type"),
        is_list=lst is not None,
        list_max_length=(lst or {}).get("max_length"),
        list_min_items=(lst or {}).get("min_items"),
        list_max_items=(lst or {}).get("max_items"),
        list_nested=bool((lst or {}).get("nested")),
        enum=tuple(rec.get("enum", ())),
        enum_readonly=tuple(rec.get("enum_ro", ())),
        enum_ref=rec.get("enum_ref"),
        enum_ref_null=rec.get("enum_null"),
        ranges=_tuple_ranges(rec.get("range")),
        sizes=tuple((s[0], s[1]) for s in rec.get("size", ())),
        patterns=tuple(rec.get("pattern", ())),
        units=rec.get("units"),
        default=rec.get("default"),
        default_type=rec.get("default_type"),
        hidden=bool(rec.get("hidden")),
        secured=bool(rec.get("secured")),
        command_trigger=bool(rec.get("command")),
        version=rec.get("version"),
        status=rec.get("status", "current"),
        forced_inform=bool(rec.get("forced_inform")),
        active_notify=rec.get("active_notify"),
        ref_targets=tuple(rec.get("ref", ())),
        ref_type=rec.get("ref_type"),
        mandatory=bool(rec.get("mandatory")),
    )


def _is_instance(segment: str) -> bool:
    """An instance number (1, 2, …), a CWMP alias (``[cpe-1]``), a USP wildcard or ``{i}``."""
    if segment.isdigit():
        return segment.isascii() and segment[0] != "0"
    return segment in ("{i}", "*") or (len(segment) > 2 and segment[0] == "[" and segment[-1] == "]")


def pattern_of(path: str) -> str:
    """``Device.WiFi.Radio.2.Channel`` → ``Device.WiFi.Radio.{i}.Channel``."""
    parts = path.split(".")
    return ".".join("{i}" if _is_instance(p) else p for p in parts)


class Registry:
    """One data model (TR-181 CWMP, TR-181 USP or TR-098), loaded from a compiled table."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.root: str = table["root"]
        self.flavour: str = table["flavour"]
        self.model_version: str = table["model"]
        self.spec_urn: str | None = table.get("spec")
        self.source: str | None = table.get("source")
        standard = "TR-098" if self.root.startswith("InternetGatewayDevice") else "TR-181"
        self.label = f"{standard} {self.model_version}" + (" USP" if self.flavour == "usp" else "")
        self._raw: dict[str, Mapping[str, Any]] = table["params"]
        self._sorted: list[str] = sorted(self._raw)
        # pattern path → (spec, check), built on first use of each pattern (or by precompile()).
        self._built: dict[str, tuple[ParamSpec, Check]] = {}
        # concrete or pattern path → (spec, check): the one dict probe on the hot path.
        self._cache: dict[str, tuple[ParamSpec, Check]] = {}
        self._objects: dict[str, ObjectSpec] = {
            p: _object_spec(p, rec) for p, rec in table["objects"].items()
        }
        self._commands: dict[str, CommandSpec] = {
            p: _command_spec(p, rec) for p, rec in (table.get("commands") or {}).items()
        }
        # named data type → its TYPE record (``base``, facets): see core.datamodel.generate.
        self._types: Mapping[str, Mapping[str, Any]] = table.get("types") or {}
        self._events: dict[str, EventSpec] = {
            p: EventSpec(path=p, name=p.rsplit(".", 1)[-1], args=tuple(rec.get("args", ())),
                         version=rec.get("version"), status=rec.get("status", "current"))
            for p, rec in (table.get("events") or {}).items()
        }
        self._lock = threading.Lock()
        self.commands: Mapping[str, CommandSpec] = MappingProxyType(self._commands)
        self.events: Mapping[str, EventSpec] = MappingProxyType(self._events)

    def __repr__(self) -> str:
        return (f"<Registry {self.label} root={self.root} flavour={self.flavour} "
                f"params={len(self._raw)} objects={len(self._objects)}>")

    def __len__(self) -> int:
        return len(self._raw)

    def _spec(self, pattern: str) -> ParamSpec | None:
        """The spec of a pattern path (built on first use)."""
        built = self._built.get(pattern)
        if built is None:
            built = self._build(pattern)
        return built[0] if built is not None else None

    def _build(self, pattern: str) -> tuple[ParamSpec, Check] | None:
        rec = self._raw.get(pattern)
        if rec is None:
            return None
        spec = _param_spec(pattern, rec)
        built = (spec, _compile(spec, self._ref_enum(spec), self.label, self._named(spec)))
        self._built[pattern] = built
        return built

    def type_chain(self, name: str) -> tuple[str, ...]:
        """``name`` and its ``base=`` ancestors, most derived first (``IPv4Address``, ``IPAddress``)."""
        chain: list[str] = []
        cur: str | None = name
        while cur and cur not in chain and len(chain) < 20:
            chain.append(cur)
            cur = (self._types.get(cur) or {}).get("base")
        return tuple(chain)

    def _named(self, spec: ParamSpec) -> tr106.NamedCheck | None:
        """The semantic check of the parameter's named TR-106 type (string types only)."""
        if spec.data_type is None or spec.type != "string":
            return None
        return tr106.named_type_check(self.type_chain(spec.data_type))

    def _ref_enum(self, spec: ParamSpec) -> tuple[str, ...]:
        """For an ``enumerationRef``, the referenced parameter's enumeration (the superset)."""
        if not spec.enum_ref or spec.enum:
            return ()
        target = self._raw.get(spec.enum_ref) or {}
        return tuple(target.get("enum", ()))

    def precompile(self) -> Registry:
        """Build every spec and check now (server start-up, benchmarks) rather than on first
        use; either way each pattern is compiled exactly once."""
        for pattern in self._sorted:
            if pattern not in self._built:
                self._build(pattern)
        return self

    # ---------------------------------------------------------------- lookups

    def _entry(self, path: str) -> tuple[ParamSpec, Check] | None:
        entry = self._cache.get(path)
        if entry is not None:
            return entry
        pattern = pattern_of(path)
        entry = self._built.get(pattern) or self._build(pattern)
        if entry is None:
            return None
        if len(self._cache) >= _CACHE_LIMIT:
            with self._lock:  # bounded: a fleet has few distinct instance numbers per table
                self._cache = {}
        self._cache[path] = entry
        return entry

    def find(self, path: str) -> ParamSpec | None:
        """The spec for a concrete or ``{i}`` path, or ``None`` if the model has no such parameter."""
        entry = self._entry(path)
        return entry[0] if entry is not None else None

    def lookup(self, path: str) -> ParamSpec:
        """Like :meth:`find` but raises :class:`DataModelError` (rule ``unknown_path``)."""
        entry = self._entry(path)
        if entry is None:
            raise self._unknown(path)
        return entry[0]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._entry(path) is not None

    def _unknown(self, path: str) -> DataModelError:
        pattern = pattern_of(path)
        if pattern in self._commands:
            what = f"a command, not a parameter (not settable in {self.label})"
        elif pattern in self._objects or pattern + "." in self._objects:
            what = f"an object, not a parameter (in {self.label})"
        else:
            what = f"unknown parameter (not in {self.label})"
        return DataModelError(path, "unknown_path", what)

    def object_spec(self, path: str) -> ObjectSpec | None:
        """The object at ``path`` (``Device.WiFi.SSID.1.``, ``Device.WiFi.SSID.`` → the table)."""
        if not path.endswith("."):
            path += "."
        pattern = pattern_of(path)
        spec = self._objects.get(pattern)
        if spec is None and not pattern.endswith("{i}."):
            spec = self._objects.get(pattern + "{i}.")
        return spec

    def command_spec(self, path: str) -> CommandSpec | None:
        """A USP command by concrete or pattern path (``Device.WiFi.AccessPoint.1.Security.Reset()``)."""
        return self._commands.get(pattern_of(path))

    def event_spec(self, path: str) -> EventSpec | None:
        return self._events.get(pattern_of(path))

    def is_secret(self, path: str) -> bool:
        """True when the standard marks the parameter ``hidden`` or ``secured``."""
        entry = self._entry(path)
        return entry is not None and entry[0].secret

    def allowed_values(self, path: str, *, for_write: bool = True) -> tuple[str, ...] | None:
        """The enumeration a value must come from (own, or the ``enumerationRef`` superset),
        settable values only when ``for_write``; ``None`` when the parameter is not enumerated."""
        spec = self.lookup(path)
        if spec.enum:
            return spec.settable_enum if for_write else spec.enum
        ref_enum = self._ref_enum(spec)
        if ref_enum:
            extra = (spec.enum_ref_null,) if spec.enum_ref_null is not None else ()
            return tuple(dict.fromkeys(ref_enum + extra))
        return None

    def parameters_under(self, prefix: str, *, include_deleted: bool = False) -> Iterator[ParamSpec]:
        """Specs whose path starts with ``prefix`` (concrete or ``{i}``), in path order."""
        pattern = pattern_of(prefix)
        for path in self._sorted:
            if path.startswith(pattern):
                spec = self._spec(path)
                if spec is not None and (include_deleted or spec.status != "deleted"):
                    yield spec

    def objects_under(self, prefix: str) -> Iterator[ObjectSpec]:
        pattern = pattern_of(prefix)
        for path in sorted(self._objects):
            if path.startswith(pattern):
                yield self._objects[path]

    # ---------------------------------------------------------------- validation

    def validate(self, path: str, value: Any, *, for_write: bool = True) -> Typed:
        """Check ``value`` for ``path`` and return it typed (``"36"`` → ``36``).

        ``for_write=True`` (the default: a proposed change) also rejects read-only parameters
        and read-only enumeration values; ``for_write=False`` checks a value as reported by a
        device (hidden/secured parameters may then read back as the empty string).
        Raises :class:`DataModelError` with ``rule`` and a message that never shows a secret.
        """
        entry = self._cache.get(path)
        if entry is None:
            entry = self._entry(path)
            if entry is None:
                raise self._unknown(path)
        return entry[1](path, value, for_write)

    def check(self, path: str, value: Any, *, for_write: bool = True) -> DataModelError | None:
        """:meth:`validate` that returns the error instead of raising it (for bulk reports)."""
        try:
            self.validate(path, value, for_write=for_write)
        except DataModelError as exc:
            return exc
        return None

    def validate_command_args(self, command: str, args: Mapping[str, Any]) -> dict[str, Typed]:
        """Validate USP command input arguments; unknown arguments are ``unknown_path`` errors
        and mandatory ones that are missing are ``type`` errors (a value of no type at all)."""
        spec = self.command_spec(command)
        if spec is None:
            raise DataModelError(command, "unknown_path", f"unknown command (not in {self.label})")
        out: dict[str, Typed] = {}
        for name, value in args.items():
            arg = spec.input_specs.get(name)
            if arg is None:
                raise DataModelError(f"{command}.{name}", "unknown_path",
                                     f"unknown input argument of {spec.name}")
            check = _compile(arg, self._ref_enum(arg), self.label, self._named(arg))
            out[name] = check(f"{command}.{name}", value, True)
        for name in spec.mandatory_inputs:
            if name not in args:
                raise DataModelError(f"{command}.{name}", "type", "mandatory input argument missing")
        return out


def _object_spec(path: str, rec: Mapping[str, Any]) -> ObjectSpec:
    return ObjectSpec(
        path=path,
        access=rec.get("access", "readOnly"),
        multi_instance=bool(rec.get("multi")),
        min_entries=int(rec.get("min_entries", 1)),
        max_entries=rec.get("max_entries", 1),
        num_entries_param=rec.get("num_entries"),
        enable_param=rec.get("enable"),
        unique_keys=tuple(rec.get("unique_keys", ())),
        version=rec.get("version"),
        status=rec.get("status", "current"),
    )


def _command_spec(path: str, rec: Mapping[str, Any]) -> CommandSpec:
    inputs = {name: _param_spec(f"{path}.{name}", arg) for name, arg in (rec.get("inputs") or {}).items()}
    return CommandSpec(
        path=path,
        name=path.rsplit(".", 1)[-1] if not path.endswith(".") else path,
        is_async=bool(rec.get("async")),
        inputs=tuple(inputs),
        outputs=tuple(rec.get("outputs", ())),
        mandatory_inputs=tuple(n for n, s in inputs.items() if s.mandatory),
        input_specs=MappingProxyType(inputs),
        version=rec.get("version"),
        status=rec.get("status", "current"),
    )


def load_table(file_name: str) -> dict[str, Any]:
    """Read one compiled table shipped in ``core/datamodel/data``."""
    data = resources.files("core.datamodel").joinpath("data", file_name).read_bytes()
    table: dict[str, Any] = orjson.loads(gzip.decompress(data))
    return table


_registries: dict[tuple[str, str], Registry] = {}
_registries_lock = threading.Lock()


def _normalise_root(root: Any) -> str:
    text = str(getattr(root, "value", root))
    if not text.endswith("."):
        text += "."
    if text not in ("Device.", "InternetGatewayDevice."):
        raise ValueError(f"unknown data-model root {text!r} (expected Device. or InternetGatewayDevice.)")
    return text


def get_registry(root: Any = "Device.", flavour: str = "cwmp") -> Registry:
    """The registry for a root (``"Device."``, ``"InternetGatewayDevice."`` or a
    ``core.models.Root``) and flavour (``cwmp``/``usp``; ignored for TR-098). Loaded once."""
    key_root = _normalise_root(root)
    flavour = str(getattr(flavour, "value", flavour)).lower()
    if key_root == "InternetGatewayDevice.":
        flavour = "cwmp"
    elif flavour not in ("cwmp", "usp"):
        raise ValueError(f"unknown flavour {flavour!r} (expected cwmp or usp)")
    key = (key_root, flavour)
    reg = _registries.get(key)
    if reg is None:
        with _registries_lock:
            reg = _registries.get(key)
            if reg is None:
                reg = Registry(load_table(DATA_FILES[key]))
                _registries[key] = reg
    return reg
