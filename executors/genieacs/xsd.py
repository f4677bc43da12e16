"""CWMP value types (``xsd:*``) as GenieACS stores and sends them.

Why: GenieACS keeps each parameter as ``{_value, _type}`` where ``_value`` is already a JSON
number for ``xsd:int``/``xsd:unsignedInt``, a JSON boolean for ``xsd:boolean`` and a string for
everything else, and a ``setParameterValues`` task carries ``[path, value, "xsd:type"]``. The
adapter must turn a TR-181 change into exactly that triple and refuse, before anything is sent,
a value that does not fit the type (a device would answer 9006; GenieACS might coerce it first).
"""

from __future__ import annotations

import re

from core.kernel.models import Scalar
from core.kernel.values import parse_wire_bool, parse_wire_int

INT_TYPES = frozenset({"xsd:int", "xsd:unsignedInt", "xsd:long", "xsd:unsignedLong"})
UNSIGNED = frozenset({"xsd:unsignedInt", "xsd:unsignedLong"})
KNOWN_TYPES = frozenset(
    INT_TYPES | {"xsd:string", "xsd:boolean", "xsd:dateTime", "xsd:base64", "xsd:hexBinary", "xsd:decimal"}
)
_BOUNDS = {
    "xsd:int": (-(2**31), 2**31 - 1),
    "xsd:unsignedInt": (0, 2**32 - 1),
    "xsd:long": (-(2**63), 2**63 - 1),
    "xsd:unsignedLong": (0, 2**64 - 1),
}
_INT_RE = re.compile(r"^[+-]?\d+$")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?$")


class XsdValueError(ValueError):
    """A value that does not fit its ``xsd:`` type (CWMP fault 9006)."""


def xsd_of(type_name: str | None) -> str:
    """``unsignedInt`` → ``xsd:unsignedInt``; an unknown or missing type is ``xsd:string``."""
    if not type_name:
        return "xsd:string"
    name = type_name if type_name.startswith("xsd:") else f"xsd:{type_name}"
    return name if name in KNOWN_TYPES else "xsd:string"


def plain(xsd_type: str | None) -> str:
    """``xsd:unsignedInt`` → ``unsignedInt`` (the TR-106 name the executor contract reports)."""
    if not xsd_type:
        return "string"
    return xsd_type.split(":", 1)[1] if ":" in xsd_type else xsd_type


def decode(value: object, xsd_type: str | None) -> Scalar:
    """A ``_value`` from a GenieACS device document as a Python scalar of its type."""
    t = xsd_of(plain(xsd_type))
    if t == "xsd:boolean":  # xsd whiteSpace=collapse: a padded " true" is still true on this wire
        return parse_wire_bool(value) is True
    if t in INT_TYPES:
        if isinstance(value, bool):
            return int(value)
        n = parse_wire_int(value)
        return n if n is not None else str(value).strip()
    if value is None:
        return ""
    return str(value) if not isinstance(value, str) else value


def encode(value: Scalar, xsd_type: str) -> Scalar:
    """``value`` in the JSON form a task carries for ``xsd_type``; :class:`XsdValueError` when it
    cannot be that type (never quotes the value: it may be a passphrase)."""
    t = xsd_of(plain(xsd_type))
    if t == "xsd:boolean":  # lenient about blanks as xsd:boolean is; the write gate refused padding before
        b = parse_wire_bool(value)
        if b is not None:
            return b
        raise XsdValueError(f"expected {t} (true/false/1/0), got {type(value).__name__}")
    if t in INT_TYPES:
        if isinstance(value, bool):
            raise XsdValueError(f"expected {t}, got a boolean")
        if isinstance(value, float):
            if not value.is_integer():
                raise XsdValueError(f"expected {t}, got a fraction")
            n = int(value)
        elif isinstance(value, int):
            n = value
        else:
            text = str(value).strip()
            if not _INT_RE.match(text):
                raise XsdValueError(f"expected {t}, got a non-integer string")
            n = int(text)
        lo, hi = _BOUNDS[t]
        if not lo <= n <= hi:
            raise XsdValueError(f"{n} is outside the range of {t}")
        return n
    text = "true" if value is True else "false" if value is False else str(value)
    if t == "xsd:hexBinary" and not _HEX_RE.match(text):
        raise XsdValueError("expected xsd:hexBinary (pairs of hex digits)")
    if t == "xsd:base64" and (len(text) % 4 or not _B64_RE.match(text)):
        raise XsdValueError("expected xsd:base64")
    if t == "xsd:dateTime" and not _DT_RE.match(text):
        raise XsdValueError("expected xsd:dateTime (ISO 8601, e.g. 2024-01-31T12:00:00Z)")
    return text


def family(xsd_type: str | None) -> str:
    """Coarse family used to compare a proposal's declared type with the device's."""
    t = xsd_of(plain(xsd_type))
    if t in INT_TYPES:
        return "integer"
    if t == "xsd:boolean":
        return "boolean"
    return "string"


__all__ = ["INT_TYPES", "KNOWN_TYPES", "XsdValueError", "decode", "encode", "family", "plain", "xsd_of"]
