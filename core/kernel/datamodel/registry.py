"""The TR-181 / TR-098 data-model registry: what a parameter is, and whether a value fits it.

This is the first gate of the write path (``docs/safety.md``, invariant 1): a change reaches a
device only if its path exists in the device's data model, is writable, and its value has the
right type, range, length, pattern and enumeration.  The facts come from the Broadband Forum
XML, compiled by :mod:`core.kernel.datamodel.generate` into small committed tables under ``data/``,
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
  be an IP address (:mod:`core.kernel.values`; the XML gives that type only a size).  A string being
  *written* may not contain control characters, and a display string (SSID, names,
  descriptions) no line breaks or bidirectional overrides either (rule ``control``).
* Constraints that live only in description prose (channel vs. band, TransmitPower vs.
  TransmitPowerSupported) are not here: the values a device lists are known only from the
  device, and are checked at preview (``core.validation.device_listed_issues``).
* Values are returned as plain ``str | int | float | bool`` (lists as their comma-separated
  wire form, dateTimes as ISO strings) because they flow into ``core.kernel.models.Change`` and the
  proposal hash, which take only JSON scalars.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

from core.kernel import values as tr106
from core.kernel.datamodel.checks import _compile, _tuple_ranges, xsd_regex_to_python
from core.kernel.datamodel.specs import (
    RULES,
    Check,
    CommandSpec,
    DataModelError,
    EventSpec,
    ObjectSpec,
    ParamSpec,
    Typed,
)
from core.kernel.jsontypes import Json, JsonObject

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

DATA_FILES = {
    ("Device.", "cwmp"): "tr181-cwmp.json.gz",
    ("Device.", "usp"): "tr181-usp.json.gz",
    ("InternetGatewayDevice.", "cwmp"): "tr098.json.gz",
}

_CACHE_LIMIT = 200_000


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
        # named data type → its TYPE record (``base``, facets): see core.kernel.datamodel.generate.
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

    def validate_command_args(self, command: str, args: Mapping[str, Json]) -> dict[str, Typed]:
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


def load_table(file_name: str) -> JsonObject:
    """Read one compiled table shipped in ``core/kernel/datamodel/data``."""
    data = resources.files("core.kernel.datamodel").joinpath("data", file_name).read_bytes()
    table: JsonObject = orjson.loads(gzip.decompress(data))
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
    ``core.kernel.models.Root``) and flavour (``cwmp``/``usp``; ignored for TR-098). Loaded once."""
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
