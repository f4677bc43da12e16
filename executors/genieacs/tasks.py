"""GenieACS tasks: build them, and check every one before it is sent.

Why the check is strict and client-side: the NBI's own ``sanitizeTask`` throws on a malformed
task *after* the request was accepted, and the throw escapes into a timer and takes the NBI
worker down — the caller gets no HTTP answer at all and cannot tell whether the task was
queued. So nothing leaves this process unless its name, paths, value/type pairs, expiry and
unique key are well formed. The shapes follow GenieACS's API reference (``docs/api-reference``)
and ``lib/api-functions.ts``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.kernel.models import Scalar
from executors.genieacs.xsd import KNOWN_TYPES, XsdValueError, encode

TASK_NAMES = frozenset(
    {
        "getParameterValues",
        "setParameterValues",
        "refreshObject",
        "addObject",
        "deleteObject",
        "reboot",
        "factoryReset",
        "download",
    }
)
MAX_PATH = 256  # cwmp-1-x.xsd: parameter names are string(256)
MAX_EXPIRY_S = 30 * 86400
_SEGMENT = r"(?:\d+|[A-Za-z_][A-Za-z0-9_\-]*)"
PATH_RE = re.compile(rf"^(?:Device|InternetGatewayDevice)(?:\.{_SEGMENT})*$")
INSTANCE_RE = re.compile(rf"^(?:Device|InternetGatewayDevice)(?:\.{_SEGMENT})*\.\d+$")
_RELATIVE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)*$")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,256}$")
_COMMON = {"name", "expiry", "uniqueKey"}
_ALLOWED: dict[str, set[str]] = {
    "getParameterValues": _COMMON | {"parameterNames"},
    "setParameterValues": _COMMON | {"parameterValues"},
    "refreshObject": _COMMON | {"objectName"},
    "addObject": _COMMON | {"objectName", "parameterValues"},
    "deleteObject": _COMMON | {"objectName"},
    "reboot": _COMMON,
    "factoryReset": _COMMON,
    "download": _COMMON | {"fileType", "fileName", "targetFileName"},
}


class InvalidTask(ValueError):
    """A task GenieACS must never see; the message says which field is wrong."""


def check_path(path: object, *, what: str = "parameter name") -> str:
    """A full parameter/object path, no trailing dot, at most 256 characters."""
    if not isinstance(path, str) or not path:
        raise InvalidTask(f"{what} must be a non-empty string, got {type(path).__name__}")
    if len(path) > MAX_PATH:
        raise InvalidTask(f"{what} {path[:40]}… is longer than {MAX_PATH} characters")
    if not PATH_RE.match(path):
        raise InvalidTask(
            f"{what} {path!r} is not a TR-069 path (Device.… or InternetGatewayDevice.…, no wildcards, no trailing dot)"
        )
    return path


def _check_scalar(value: object, where: str) -> None:
    if isinstance(value, bool | int | str):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    raise InvalidTask(f"{where}: value must be a string, number or boolean, got {type(value).__name__}")


def _check_parameter_values(items: object) -> None:
    if not isinstance(items, list) or not items:
        raise InvalidTask("parameterValues must be a non-empty list of [path, value, xsd:type]")
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"parameterValues[{i}]"
        if not isinstance(item, list | tuple) or len(item) not in (2, 3):
            raise InvalidTask(f"{where} must be [path, value] or [path, value, xsd:type]")
        path = check_path(item[0], what=f"{where} path")
        if path in seen:
            raise InvalidTask(f"{where}: {path} is set twice in one task")
        seen.add(path)
        _check_scalar(item[1], where)
        if len(item) == 3:
            xsd = item[2]
            if xsd not in KNOWN_TYPES:
                raise InvalidTask(f"{where}: {xsd!r} is not a CWMP value type (xsd:string, xsd:unsignedInt, …)")
            try:
                typed = encode(item[1], str(xsd))
            except XsdValueError as exc:
                raise InvalidTask(f"{where} ({path}): {exc}") from None
            if typed != item[1] or type(typed) is not type(item[1]):
                raise InvalidTask(f"{where} ({path}): value is not in its {xsd} form; build tasks with set_values()")


def validate_task(task: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidTask` unless ``task`` is a well-formed GenieACS task."""
    if not isinstance(task, Mapping):
        raise InvalidTask("a task is a JSON object")
    name = task.get("name")
    if name not in TASK_NAMES:
        raise InvalidTask(f"unknown task name {name!r}; known: {', '.join(sorted(TASK_NAMES))}")
    extra = set(task) - _ALLOWED[str(name)]
    if extra:
        raise InvalidTask(f"{name} task has unexpected field(s): {', '.join(sorted(extra))}")
    if "expiry" in task:
        expiry = task["expiry"]
        if isinstance(expiry, bool) or not isinstance(expiry, int | float) or not 0 < expiry <= MAX_EXPIRY_S:
            raise InvalidTask(f"expiry must be a number of seconds in (0, {MAX_EXPIRY_S}]")
    if "uniqueKey" in task:
        key = task["uniqueKey"]
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise InvalidTask("uniqueKey must be 1-256 printable characters without spaces")
    if name == "getParameterValues":
        names = task.get("parameterNames")
        if not isinstance(names, list) or not names:
            raise InvalidTask("getParameterValues needs a non-empty parameterNames list")
        for i, p in enumerate(names):
            check_path(p, what=f"parameterNames[{i}]")
    elif name == "setParameterValues":
        _check_parameter_values(task.get("parameterValues"))
    elif name == "refreshObject":
        obj = task.get("objectName")
        if obj != "":
            check_path(obj, what="objectName")
    elif name == "addObject":
        check_path(task.get("objectName"), what="objectName")
        keys = task.get("parameterValues", [])
        if not isinstance(keys, list):
            raise InvalidTask("addObject parameterValues must be a list of [relative name, value]")
        for i, item in enumerate(keys):
            if not isinstance(item, list | tuple) or len(item) != 2 or not isinstance(item[0], str):
                raise InvalidTask(f"parameterValues[{i}] must be [relative name, value]")
            if not _RELATIVE_RE.match(item[0]):
                raise InvalidTask(f"parameterValues[{i}]: {item[0]!r} is not a parameter name inside the new instance")
            _check_scalar(item[1], f"parameterValues[{i}]")
    elif name == "deleteObject":
        obj = check_path(task.get("objectName"), what="objectName")
        if not INSTANCE_RE.match(obj):
            raise InvalidTask(f"deleteObject needs an instance path ending in its number, got {obj!r}")
    elif name == "download":
        for key in ("fileType", "fileName"):
            v = task.get(key)
            if not isinstance(v, str) or not v.strip():
                raise InvalidTask(f"download needs a non-empty {key}")
        if "targetFileName" in task and not isinstance(task["targetFileName"], str):
            raise InvalidTask("targetFileName must be a string")


# ---------------------------------------------------------------------------- builders


def _with(task: dict[str, Any], expiry_s: float | None, unique_key: str | None) -> dict[str, Any]:
    if expiry_s is not None:
        task["expiry"] = round(expiry_s, 3)
    if unique_key is not None:
        task["uniqueKey"] = unique_key
    validate_task(task)
    return task


def get_values(names: Iterable[str], *, expiry_s: float | None = None, unique_key: str | None = None) -> dict[str, Any]:
    """``getParameterValues``: GenieACS refreshes each name (a leaf or a whole object) from the CPE."""
    return _with({"name": "getParameterValues", "parameterNames": list(dict.fromkeys(names))}, expiry_s, unique_key)


def refresh_object(object_name: str, *, expiry_s: float | None = None, unique_key: str | None = None) -> dict[str, Any]:
    return _with({"name": "refreshObject", "objectName": object_name.rstrip(".")}, expiry_s, unique_key)


def set_values(
    triples: Sequence[tuple[str, Scalar, str]], *, expiry_s: float | None = None, unique_key: str | None = None
) -> dict[str, Any]:
    """``setParameterValues`` with every value already in its ``xsd`` form."""
    values = [[p, encode(v, t), t] for p, v, t in triples]
    return _with({"name": "setParameterValues", "parameterValues": values}, expiry_s, unique_key)


def add_object(
    object_name: str,
    values: Sequence[tuple[str, Scalar]] = (),
    *,
    expiry_s: float | None = None,
    unique_key: str | None = None,
) -> dict[str, Any]:
    """``addObject`` on a table (``Device.DNS.Client.Server``); ``values`` are relative
    ``[name, value]`` pairs GenieACS sets on the new instance (its alias keys)."""
    task: dict[str, Any] = {"name": "addObject", "objectName": object_name.rstrip(".")}
    if values:
        task["parameterValues"] = [[n, v] for n, v in values]
    return _with(task, expiry_s, unique_key)


def delete_object(instance: str, *, expiry_s: float | None = None, unique_key: str | None = None) -> dict[str, Any]:
    """``deleteObject`` of one instance (``Device.DNS.Client.Server.3``)."""
    return _with({"name": "deleteObject", "objectName": instance.rstrip(".")}, expiry_s, unique_key)


def simple(name: str, *, expiry_s: float | None = None, unique_key: str | None = None) -> dict[str, Any]:
    """``reboot`` / ``factoryReset``."""
    return _with({"name": name}, expiry_s, unique_key)


def download(
    file_type: str, file_name: str, *, target: str = "", expiry_s: float | None = None, unique_key: str | None = None
) -> dict[str, Any]:
    task: dict[str, Any] = {"name": "download", "fileType": file_type, "fileName": file_name}
    if target:
        task["targetFileName"] = target
    return _with(task, expiry_s, unique_key)


__all__ = [
    "PATH_RE",
    "TASK_NAMES",
    "InvalidTask",
    "add_object",
    "check_path",
    "delete_object",
    "download",
    "get_values",
    "refresh_object",
    "set_values",
    "simple",
    "validate_task",
]
