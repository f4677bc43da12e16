"""Each parameter spec's value check, compiled once into a closure (split from
:mod:`core.kernel.datamodel.registry`): ranges merged with the type's implicit bounds, XML Schema
patterns translated and precompiled, messages that name the rule and never a secret's value."""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.kernel import values as tr106
from core.kernel.datamodel.specs import INT_BOUNDS, Check, DataModelError, Number, ParamSpec, Typed

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
