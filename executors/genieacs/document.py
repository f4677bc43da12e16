"""Reading a GenieACS device document (``GET /devices``) into flat, typed parameters.

Why: GenieACS returns its cached copy of the CPE's tree as nested objects — every parameter a
``{_value, _type, _timestamp, _writable}`` leaf, every object ``{_object: true, _writable, …,
children}`` — plus ``_id``, ``_deviceId``, ``_lastInform``, ``_registered``, ``_lastBoot`` and
``_tags``. The executor works with flat ``path → value`` maps (like a GetParameterValues
response), so this module flattens once and types each value by its ``_type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.kernel.models import Root, Scalar
from core.kernel.values import parse_wire_bool
from executors.genieacs.xsd import decode


@dataclass(frozen=True, slots=True)
class Leaf:
    """One cached parameter: ``value`` is ``None`` when GenieACS knows the name but not the value."""

    value: Scalar | None
    type: str
    writable: bool | None
    timestamp: datetime | None


def parse_time(raw: object) -> datetime | None:
    """GenieACS dates (``2024-01-31T12:00:00.000Z``, or epoch milliseconds) as aware datetimes."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw / 1000.0, UTC)
    text = str(raw).strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class DeviceDoc:
    """A device document, flattened."""

    id: str
    device_id: dict[str, str] = field(default_factory=dict)
    last_inform: datetime | None = None
    registered: datetime | None = None
    last_boot: datetime | None = None
    tags: list[str] = field(default_factory=list)
    params: dict[str, Leaf] = field(default_factory=dict)
    objects: dict[str, bool | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DeviceDoc:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("_id"), str):
            raise ValueError("not a GenieACS device document (no _id)")
        dev = raw.get("_deviceId") or {}
        doc = cls(
            id=raw["_id"],
            device_id={str(k).lstrip("_"): str(v) for k, v in dev.items()} if isinstance(dev, Mapping) else {},
            last_inform=parse_time(raw.get("_lastInform")),
            registered=parse_time(raw.get("_registered")),
            last_boot=parse_time(raw.get("_lastBoot")),
            tags=[str(t) for t in raw.get("_tags", []) or []],
        )
        for key, node in raw.items():
            if not key.startswith("_") and isinstance(node, Mapping):
                doc._walk(key, node)
        return doc

    def _walk(self, path: str, node: Mapping[str, Any]) -> None:
        is_leaf = "_value" in node or node.get("_object") is False
        if is_leaf:
            xsd = str(node.get("_type") or "xsd:string")
            value = node.get("_value")
            self.params[path] = Leaf(
                value=None if value is None else decode(value, xsd),
                type=xsd,
                writable=_flag(node.get("_writable")),
                timestamp=parse_time(node.get("_timestamp")),
            )
            return
        self.objects[path] = _flag(node.get("_writable"))
        for key, child in node.items():
            if not key.startswith("_") and isinstance(child, Mapping):
                self._walk(f"{path}.{key}", child)

    # ------------------------------------------------------------------ views
    def root(self) -> Root | None:
        """The data-model root the device reports (``InternetGatewayDevice.`` wins if both)."""
        if any(p.startswith("InternetGatewayDevice.") for p in self.params) or "InternetGatewayDevice" in self.objects:
            return Root.IGD
        if any(p.startswith("Device.") for p in self.params) or "Device" in self.objects:
            return Root.DEVICE
        return None

    def values(self) -> dict[str, Scalar]:
        """``path → value`` for every parameter whose value is known."""
        return {p: leaf.value for p, leaf in self.params.items() if leaf.value is not None}

    def value(self, path: str) -> Scalar | None:
        leaf = self.params.get(path)
        return None if leaf is None else leaf.value

    def has(self, path: str) -> bool:
        return path in self.params

    def under(self, prefix: str) -> dict[str, Leaf]:
        """Every parameter below ``prefix`` (with or without its trailing dot)."""
        base = prefix if prefix.endswith(".") else prefix + "."
        return {p: leaf for p, leaf in self.params.items() if p.startswith(base)}


def _flag(raw: object) -> bool | None:
    """A GenieACS attribute flag (``_writable``, ``_object``): ``None`` when absent; lenient about
    blanks (xsd:boolean collapses them) and false for anything that is not a boolean form."""
    if raw is None:
        return None
    return parse_wire_bool(raw) is True


__all__ = ["DeviceDoc", "Leaf", "parse_time"]
