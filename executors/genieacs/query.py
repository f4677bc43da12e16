"""The subset of MongoDB's query language the GenieACS NBI accepts, for the fake NBI.

Why: real callers (and our adapter) look devices up with ``query`` — by ``_id``, by
``_deviceId._SerialNumber``, by a parameter value, by ``_lastInform`` — and GenieACS hands the
query to MongoDB after ``query.expand`` appends ``._value`` to parameter paths and turns date
strings into dates. The fake evaluates the same operators in Python: implicit equality (an array
field matches when any element does), ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex
$options $not $and $or $nor``. Anything else is a 400, as MongoDB would reject it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from executors.genieacs.document import parse_time

Getter = Callable[[str], list[Any]]
_MISSING = object()
_DATE_FIELDS = ("_lastInform", "_registered", "_lastBoot", "_lastBootstrap", "timestamp", "expiry")


class QueryError(ValueError):
    """A query the NBI would reject (unknown operator, bad regex, wrong operand)."""


def _is_date_field(field: str) -> bool:
    return field.rsplit(".", 1)[-1] in _DATE_FIELDS


def _norm(field: str, operand: Any) -> Any:
    if _is_date_field(field) and isinstance(operand, str | int | float) and not isinstance(operand, bool):
        dt = parse_time(operand) if not isinstance(operand, str) else parse_time(operand.replace(" +0000", "Z"))
        if dt is None:
            raise QueryError(f"{field}: {operand!r} is not a date")
        return dt
    return operand


def normalize_date(field: str, operand: Any) -> Any:
    """An operand as the query engine compares it (a date field's string or epoch → datetime)."""
    return _norm(field, operand)


def _cmp(a: Any, b: Any, op: str) -> bool:
    numeric = (int, float)
    same = (
        (isinstance(a, numeric) and not isinstance(a, bool) and isinstance(b, numeric) and not isinstance(b, bool))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, datetime) and isinstance(b, datetime))
    )
    if not same:
        return False
    if op == "$gt":
        return bool(a > b)
    if op == "$gte":
        return bool(a >= b)
    if op == "$lt":
        return bool(a < b)
    return bool(a <= b)


def _same(v: Any, operand: Any) -> bool:
    return bool(v == operand) and isinstance(v, bool) == isinstance(operand, bool)


def _eq(values: list[Any], operand: Any) -> bool:
    if operand is None:
        return not values or any(v is None for v in values)
    return any(_same(v, operand) for v in values)


def _field_match(values: list[Any], cond: Any, field: str) -> bool:
    if not (isinstance(cond, Mapping) and cond and all(str(k).startswith("$") for k in cond)):
        return _eq(values, _norm(field, cond))
    for op, raw in cond.items():
        if op == "$options":
            continue
        operand = (
            raw
            if op in ("$regex", "$exists", "$not")
            else (
                [_norm(field, x) for x in raw] if op in ("$in", "$nin") and isinstance(raw, list) else _norm(field, raw)
            )
        )
        if op == "$eq":
            ok = _eq(values, operand)
        elif op == "$ne":
            ok = not _eq(values, operand)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            ok = any(_cmp(v, operand, op) for v in values)
        elif op == "$in":
            if not isinstance(operand, list):
                raise QueryError(f"{field}: $in needs an array")
            ok = any(_eq(values, x) for x in operand)
        elif op == "$nin":
            if not isinstance(operand, list):
                raise QueryError(f"{field}: $nin needs an array")
            ok = not any(_eq(values, x) for x in operand)
        elif op == "$exists":
            ok = bool(values) == bool(operand)
        elif op == "$regex":
            flags = re.IGNORECASE if "i" in str(cond.get("$options", "")) else 0
            try:
                rx = re.compile(str(operand), flags)
            except re.error as exc:
                raise QueryError(f"{field}: bad $regex: {exc}") from None
            ok = any(isinstance(v, str) and rx.search(v) for v in values)
        elif op == "$not":
            ok = not _field_match(values, operand, field)
        else:
            raise QueryError(f"unknown query operator {op!r}")
        if not ok:
            return False
    return True


def matches(get: Getter, query: Mapping[str, Any]) -> bool:
    """Whether the document behind ``get`` (field → list of values, empty if absent) matches."""
    if not isinstance(query, Mapping):
        raise QueryError("a query is a JSON object")
    for key, cond in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list) or not cond or not all(isinstance(c, Mapping) for c in cond):
                raise QueryError(f"{key} needs a non-empty array of queries")
            results = [matches(get, c) for c in cond]
            if key == "$and" and not all(results):
                return False
            if key == "$or" and not any(results):
                return False
            if key == "$nor" and any(results):
                return False
        elif key.startswith("$"):
            raise QueryError(f"unknown top-level operator {key!r}")
        elif not _field_match(get(key), cond, key):
            return False
    return True


def nested_getter(doc: Mapping[str, Any]) -> Getter:
    """A getter over a plain JSON document (tasks, faults, presets): dotted paths, arrays fan out."""

    def get(field: str) -> list[Any]:
        nodes: list[Any] = [doc]
        for seg in field.split("."):
            nxt: list[Any] = []
            for n in nodes:
                if isinstance(n, Mapping) and seg in n:
                    nxt.append(n[seg])
                elif isinstance(n, list):
                    nxt.extend(x[seg] for x in n if isinstance(x, Mapping) and seg in x)
            nodes = nxt
        out: list[Any] = []
        for n in nodes:
            if isinstance(n, list):
                out.extend(n)
            else:
                out.append(n)
        return [_norm(field, v) if _is_date_field(field) and isinstance(v, str) else v for v in out]

    return get


def project(doc: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """MongoDB-style inclusion projection on a nested document (``_id`` always kept)."""
    out: dict[str, Any] = {}
    if "_id" in doc:
        out["_id"] = doc["_id"]
    for field in fields:
        parts = field.split(".")
        src: Any = doc
        for seg in parts:
            if isinstance(src, Mapping) and seg in src:
                src = src[seg]
            else:
                src = _MISSING
                break
        if src is _MISSING:
            continue
        dst = out
        for seg in parts[:-1]:
            dst = dst.setdefault(seg, {})
        dst[parts[-1]] = src
    return out


__all__ = ["QueryError", "matches", "nested_getter", "normalize_date", "project"]
