"""Checking one value against one firmware parameter spec, with CWMP's fault codes.

Why separate: the simulated CPE must answer a SetParameterValues the way firmware does —
coerce the wire strings (``"6"`` → 6, ``"true"``/``"1"`` → True), then 9006 for a value of the
wrong type and 9007 for one outside the range, length, pattern or enumeration *the device*
implements (including enumerations held in a sibling such as ``PossibleChannels``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from core.kernel.models import Scalar
from core.kernel.values import LexicalError, as_bool, as_int
from executors.sim.catalog import ParamSpec

INT_TYPES = frozenset({"int", "unsignedInt", "long", "unsignedLong"})
UNSIGNED = frozenset({"unsignedInt", "unsignedLong"})
_INT_RE = re.compile(r"^[+-]?\d+$")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")


class ValueProblem(Exception):
    """A value the device refuses: ``code`` is 9006 (type) or 9007 (value)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def family(type_name: str) -> str:
    """Coarse type family used to compare a declared TR-181 type with the device's type."""
    if type_name in INT_TYPES:
        return "integer"
    if type_name == "boolean":
        return "boolean"
    return "string"


def _coerce_int(value: Scalar, type_name: str) -> int:
    try:
        return as_int(value)
    except LexicalError:
        raise ValueProblem(9006, f"expected {type_name}, got {value!r}") from None


def _coerce_bool(value: Scalar) -> bool:
    try:
        return as_bool(value)
    except LexicalError as exc:
        raise ValueProblem(9006, str(exc)) from None


def _as_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce(value: Scalar, spec: ParamSpec) -> Scalar:
    """The value in the parameter's own type, or :class:`ValueProblem` 9006."""
    if spec.is_list:
        return _as_text(value)
    if spec.type in INT_TYPES:
        return _coerce_int(value, spec.type)
    if spec.type == "boolean":
        return _coerce_bool(value)
    if spec.type == "hexBinary":
        text = _as_text(value).strip()
        if not _HEX_RE.match(text):
            raise ValueProblem(9006, f"expected hexBinary (pairs of hex digits), got {len(text)} characters")
        return text
    return _as_text(value)


@lru_cache(maxsize=4096)
def allowed_items(text: str) -> frozenset[str]:
    """A sibling's list of allowed values, ranges (``1-13``) expanded."""
    out: set[str] = set()
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        if sep and lo and _INT_RE.match(lo) and _INT_RE.match(hi):
            out.update(str(n) for n in range(int(lo), int(hi) + 1))
        else:
            out.add(item)
    return frozenset(out)


def check(value: Scalar, spec: ParamSpec, sibling: Scalar | None = None, *, secret_name: bool = False) -> None:
    """Raise :class:`ValueProblem` 9007 if ``value`` (already coerced) breaks a constraint.

    ``sibling`` is the value of ``spec.enum_ref`` on the same object. Messages never quote a
    secret value.
    """
    shown = "the value" if spec.secret or secret_name else repr(value)
    items = [s.strip() for s in str(value).split(",")] if spec.is_list else [value]
    for item in items:
        if spec.type in INT_TYPES and not spec.is_list:
            n = int(item)
            if spec.type in UNSIGNED and n < 0:
                raise ValueProblem(9007, f"{shown} is negative; the parameter is {spec.type}")
            if spec.range is not None:
                lo, hi = spec.range
                if (lo is not None and n < lo) or (hi is not None and n > hi):
                    bounds = f"[{'' if lo is None else lo}..{'' if hi is None else hi}]"
                    raise ValueProblem(9007, f"{shown} is outside the allowed range {bounds}")
        if spec.enum is not None and str(item) not in spec.enum:
            if str(item) in spec.ro_enum:
                raise ValueProblem(9007, f"{shown} can be reported but not set (settable: {', '.join(spec.enum)})")
            raise ValueProblem(9007, f"{shown} is not one of {', '.join(spec.enum)}")
        if spec.enum_ref is not None and sibling is not None:
            allowed = allowed_items(str(sibling))
            if allowed and str(item) not in allowed:
                raise ValueProblem(9007, f"{shown} is not supported by this device ({spec.enum_ref}: {sibling})")
    text = str(value)
    if spec.length is not None and not spec.is_list:
        lo_len, hi_len = spec.length
        size = len(text) // 2 if spec.type == "hexBinary" else len(text)
        if size < lo_len or (hi_len is not None and size > hi_len):
            unit = "bytes" if spec.type == "hexBinary" else "characters"
            bounds = f"{lo_len}..{'' if hi_len is None else hi_len}"
            what = "the value" if spec.secret or secret_name else repr(value)
            raise ValueProblem(9007, f"{what} has {size} {unit}; allowed length is {bounds}")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise ValueProblem(9007, f"{shown} does not match the pattern {spec.pattern!r}")


def validate_write(raw: Scalar, spec: ParamSpec, sibling: Scalar | None = None) -> Scalar:
    """What a simulated device stores for a Set of ``raw``: coerced to the parameter's type, a
    list normalised (items stripped, empties dropped), then checked against the spec and the
    ``enum_ref`` ``sibling``; raises :class:`ValueProblem` otherwise.

    Why one function: the SimExecutor, the USP agent and the CWMP CPE simulators are one device
    and must refuse a Set for the same reasons; each used to carry its own copy of these steps."""
    value = coerce(raw, spec)
    if spec.is_list:
        value = ",".join(item.strip() for item in str(value).split(",") if item.strip())
    check(value, spec, sibling)
    return value
