"""Generate the compact data-model tables under ``core/kernel/datamodel/data`` from the BBF XML.

Run ``python -m core.kernel.datamodel.generate --shared /work/shared/datamodels``.

Why a generator and committed output rather than parsing the XML at start-up: the three
"full" XML files are ~11 MB and take seconds to parse; the runtime (API, lifecycle, executors)
needs only the validation-relevant facts, loads them in milliseconds, and must not depend on
``lxml`` or on ``../shared`` being present.  The output is deterministic (sorted keys, gzip
``mtime=0``) so that regenerating from the same XML gives byte-identical files and a test can
prove the committed tables are exactly what the XML says.

Only the standard library is used (``xml.etree``); the files are not namespaced below the root
element, so plain tag names work.

Output format (one gzipped JSON document per file, ``format`` 1)::

    {"format": 1, "model": "Device:2.19", "root": "Device.", "flavour": "cwmp",
     "spec": "urn:…", "source": "tr-181-2-19-1-cwmp-full.xml", "source_sha256": "…",
     "objects": {"Device.WiFi.Radio.{i}.": {OBJECT}},
     "params":  {"Device.WiFi.Radio.{i}.Channel": {PARAM}},
     "commands": {"Device.IP.Diagnostics.IPPing()": {COMMAND}},   # USP only
     "events":   {"Device.Boot!": {EVENT}},                        # USP only
     "types":    {"IPv4Address": {TYPE}}}

PARAM keys (absent = the default shown):
    ``type`` primitive type (string, boolean, unsignedInt, int, unsignedLong, long, decimal,
    dateTime, base64, hexBinary); ``data_type`` named TR-106/TR-181 type the parameter
    refers to; ``access`` (readOnly) readWrite | writeOnceReadOnly; ``list`` {} or
    {max_length, min_items, max_items, nested} when the value is a comma-separated list
    (``nested``: items are themselves bracketed lists, ``[1,2],[3,4]``);
    ``enum`` settable+readable values; ``enum_ro`` values that are readOnly (reportable, not
    settable); ``enum_ref`` pattern path of the sibling whose value lists the allowed values,
    ``enum_null`` the extra null value; ``range`` [[min|null, max|null, step|null], …] (a
    union); ``size`` [[min|null, max|null], …] (alternatives; bytes for hexBinary/base64);
    ``pattern`` XML-Schema regexes (alternatives; "" allows the empty string); ``units``;
    ``default`` / ``default_type``; ``hidden`` / ``secured``; ``command`` (trigger
    parameter: ``syntax command="true"``, plus every writable ``DiagnosticsState``, which
    TR-106 defines as a trigger although the XML does not mark it); ``version`` (inherited
    from the object when absent); ``status`` (current; a parameter of a deleted or obsoleted
    object takes the object's status); ``forced_inform``; ``active_notify``; ``ref`` /
    ``ref_type`` / ``ref_target_type`` (pathRef targets, resolved to absolute paths).
    List defaults are converted from the XML's ``[a,b]`` notation to the wire form ``a,b``.
OBJECT keys: ``access`` (readOnly: readWrite = instances can be added/deleted), ``multi``,
    ``min_entries``, ``max_entries`` (null = unbounded), ``num_entries``, ``enable``,
    ``unique_keys``, ``version``, ``status``.
TYPE keys (the file's named ``dataType`` definitions, TR-106's IPAddress, MACAddress, … among
    them, resolved through their ``base=`` chains so the runtime can check a value against the
    named type's semantics, e.g. an IPv4Address must be a real IPv4 address): ``type``, ``base``
    (the ``base=`` name, absent at the root of a chain), ``size``, ``pattern``, ``list``.
COMMAND keys: ``async``, ``inputs`` {arg name: PARAM (+ ``mandatory``)}, ``outputs`` [names],
    ``version``, ``status``.  EVENT keys: ``args`` [names], ``version``, ``status``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.kernel.jsontypes import Json, JsonObject

FORMAT = 1
PRIMITIVES = frozenset(
    {"string", "boolean", "unsignedInt", "int", "unsignedLong", "long", "decimal", "dateTime",
     "base64", "hexBinary"}
)
FACET_KINDS = ("enumeration", "enumerationRef", "range", "size", "pattern", "units", "pathRef",
               "instanceRef")

SOURCES: dict[str, tuple[str, str, str]] = {
    # output file: (xml file, root, flavour)
    "tr181-cwmp.json.gz": ("tr-181-2-19-1-cwmp-full.xml", "Device.", "cwmp"),
    "tr181-usp.json.gz": ("tr-181-2-19-1-usp-full.xml", "Device.", "usp"),
    "tr098.json.gz": ("tr-098-1-8-0-full.xml", "InternetGatewayDevice.", "cwmp"),
}
LICENSE_FILE = "LICENSE-BBF.txt"
DATA_DIR = Path(__file__).resolve().parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _local(tag: Any) -> str:
    """Tag name without a namespace (only the root element is namespaced; be safe anyway)."""
    if not isinstance(tag, str):
        return ""  # comments / processing instructions
    return tag.rsplit("}", 1)[-1]


def _children(elem: ET.Element) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag)]


def _deleted(elem: ET.Element) -> bool:
    return elem.get("status") == "deleted"


def _num(text: str | None) -> int | float | None:
    """Facet numbers: ints where possible (ranges of decimals may be fractional)."""
    if text is None or text == "" or text == "unbounded":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclass
class _Facets:
    """A type resolved so far: primitive plus facets. ``None`` means "not given here"."""

    type: str | None = None
    list_: JsonObject | None = None
    enum: list[tuple[str, bool]] | None = None  # (value, readOnly)
    enum_ref: tuple[str, str | None] | None = None
    range: list[list[int | float | None]] | None = None
    size: list[list[int | None]] | None = None
    pattern: list[str] | None = None
    units: str | None = None
    path_ref: dict[str, Any] | None = None
    data_type: str | None = None

    def merged_over(self, base: _Facets) -> _Facets:
        """Derived facets replace the base's facets of the same kind (BBF restriction)."""
        return _Facets(
            type=self.type or base.type,
            list_=self.list_ if self.list_ is not None else base.list_,
            enum=self.enum if self.enum is not None else base.enum,
            enum_ref=self.enum_ref if self.enum_ref is not None else base.enum_ref,
            range=self.range if self.range is not None else base.range,
            size=self.size if self.size is not None else base.size,
            pattern=self.pattern if self.pattern is not None else base.pattern,
            units=self.units if self.units is not None else base.units,
            path_ref=self.path_ref if self.path_ref is not None else base.path_ref,
            data_type=self.data_type or base.data_type,
        )


def _read_facets(elem: ET.Element, facets: _Facets) -> None:
    """Collect the facet children of a type element (``string``, ``dataType``, …)."""
    enum: list[tuple[str, bool]] = []
    ranges: list[list[int | float | None]] = []
    sizes: list[list[int | None]] = []
    patterns: list[str] = []
    seen_enum = seen_range = seen_size = seen_pattern = False
    for child in _children(elem):
        kind = _local(child.tag)
        if _deleted(child):
            # A deleted facet (TR-098 keeps e.g. ``<size status="deleted"/>``) no longer applies,
            # but its presence still says the facet kind was specified here.
            if kind == "size":
                seen_size = True
            elif kind == "pattern":
                seen_pattern = True
            elif kind == "enumeration":
                seen_enum = True
            continue
        if kind == "enumeration":
            seen_enum = True
            enum.append((child.get("value", ""), child.get("access") == "readOnly"))
        elif kind == "enumerationRef":
            facets.enum_ref = (child.get("targetParam", ""), child.get("nullValue"))
        elif kind == "range":
            seen_range = True
            mn, mx, st = (_num(child.get("minInclusive")), _num(child.get("maxInclusive")),
                          _num(child.get("step")))
            ranges.append([mn, mx, None if st in (None, 1) else st])
        elif kind == "size":
            seen_size = True
            smin, smax = _num(child.get("minLength")), _num(child.get("maxLength"))
            if smin is None and smax is None:
                continue
            sizes.append([int(smin) if smin is not None else None,
                          int(smax) if smax is not None else None])
        elif kind == "pattern":
            seen_pattern = True
            patterns.append(child.get("value", ""))
        elif kind == "units":
            facets.units = child.get("value")
        elif kind == "pathRef":
            facets.path_ref = {
                "targets": (child.get("targetParent") or "").split(),
                "ref_type": child.get("refType"),
                "target_type": child.get("targetType"),
            }
    if seen_enum:
        facets.enum = enum
    if seen_range:
        facets.range = ranges
    if seen_size:
        facets.size = sizes
    if seen_pattern:
        facets.pattern = patterns


class _Types:
    """The root-level named ``dataType`` definitions, resolved through ``base=`` chains."""

    def __init__(self, root: ET.Element) -> None:
        self._elems = {dt.get("name", ""): dt for dt in root.findall("dataType")}
        self._cache: dict[str, _Facets] = {}

    def table(self) -> dict[str, Any]:
        """Every named type as a TYPE record (module docstring), keyed by name."""
        out: JsonObject = {}
        for name in sorted(self._elems):
            facets = self.resolve(name)
            rec: JsonObject = {}
            if facets.type:
                rec["type"] = facets.type
            base = self._elems[name].get("base")
            if base:
                rec["base"] = base
            if facets.list_ is not None:
                rec["list"] = facets.list_
            if facets.size:
                rec["size"] = facets.size
            if facets.pattern is not None:
                rec["pattern"] = facets.pattern
            out[name] = rec
        return out

    def resolve(self, name: str, _depth: int = 0) -> _Facets:
        if name in self._cache:
            return self._cache[name]
        if _depth > 20:
            raise ValueError(f"dataType {name}: base= chain too deep (cycle?)")
        elem = self._elems.get(name)
        if elem is None:
            raise ValueError(f"dataType {name!r} is referenced but not defined")
        own = _type_body(elem, self, _depth)
        base_name = elem.get("base")
        result = own.merged_over(self.resolve(base_name, _depth + 1)) if base_name else own
        self._cache[name] = result
        return result


def _type_body(elem: ET.Element, types: _Types, depth: int = 0) -> _Facets:
    """Facets of a ``syntax`` or ``dataType`` body: optional ``list``, one type element,
    or bare facets (a named type derived with ``base=`` may carry facets directly)."""
    facets = _Facets()
    for child in _children(elem):
        kind = _local(child.tag)
        if kind == "list":
            lst: JsonObject = {}
            for key, attr in (("min_items", "minItems"), ("max_items", "maxItems")):
                n = _num(child.get(attr))
                if n is not None and not (key == "min_items" and n == 0):
                    lst[key] = n
            if child.get("nestedBrackets") == "required":
                lst["nested"] = True
            for size in child.findall("size"):
                if not _deleted(size) and size.get("maxLength"):
                    lst["max_length"] = int(size.get("maxLength", "0"))
            facets.list_ = lst
        elif kind in PRIMITIVES:
            facets.type = kind
            _read_facets(child, facets)
        elif kind == "dataType":
            ref = child.get("ref") or child.get("base")
            if not ref:
                raise ValueError("dataType element without ref= or base=")
            inner = _Facets()
            _read_facets(child, inner)
            resolved = inner.merged_over(types.resolve(ref, depth + 1))
            resolved.data_type = ref
            if facets.list_ is not None:  # ``list`` precedes the type and wraps it
                resolved.list_ = {**(resolved.list_ or {}), **facets.list_}
            facets = resolved
        elif kind in FACET_KINDS:
            _read_facets(elem, facets)
            break
    return facets


def _levels(object_path: str) -> list[str]:
    """Split an object path into hierarchy levels, ``X.{i}`` counting as one level."""
    parts = [p for p in object_path.split(".") if p]
    levels: list[str] = []
    for part in parts:
        if part == "{i}" and levels:
            levels[-1] += ".{i}"
        else:
            levels.append(part)
    return levels


def resolve_relative(ref: str, object_path: str, root: str) -> str:
    """Resolve a BBF relative path (TR-106 A.2.3.4) against the object it appears in.

    ``Name`` is relative to the current object, ``.Name`` to the root object and each leading
    ``#`` climbs one level from the current object, so ``###.IP.Interface.`` inside
    ``Device.DNS.Client.Server.{i}.`` means ``Device.IP.Interface.``.
    """
    if not ref:
        return ref
    if ref.startswith(root):
        return ref
    if ref.startswith("#"):
        hashes = len(ref) - len(ref.lstrip("#"))
        rest = ref[hashes:].lstrip(".")
        levels = _levels(object_path)
        base = levels[: max(1, len(levels) - hashes)]
        return ".".join(base) + "." + rest
    if ref.startswith("."):
        return root + ref[1:]
    return object_path + ref


def _param_record(param: ET.Element, obj_path: str, obj_version: str | None, types: _Types,
                  root: str) -> dict[str, Any]:
    syntax = param.find("syntax")
    if syntax is None:
        raise ValueError(f"{obj_path}{param.get('name')}: no syntax")
    facets = _type_body(syntax, types)
    data_type = facets.data_type
    if facets.type is None:
        raise ValueError(f"{obj_path}{param.get('name')}: unresolvable type")
    rec: dict[str, Any] = {"type": facets.type}
    if data_type:
        rec["data_type"] = data_type
    access = param.get("access") or "readOnly"
    if access != "readOnly":
        rec["access"] = access
    if facets.list_ is not None:
        rec["list"] = facets.list_
    if facets.enum:
        rec["enum"] = [v for v, _ in facets.enum]
        ro = [v for v, readonly in facets.enum if readonly]
        if ro:
            rec["enum_ro"] = ro
    if facets.enum_ref is not None:
        target, null = facets.enum_ref
        rec["enum_ref"] = resolve_relative(target, obj_path, root)
        if null is not None:
            rec["enum_null"] = null
    if facets.range:
        rec["range"] = facets.range
    if facets.size:
        rec["size"] = facets.size
    if facets.pattern is not None:
        rec["pattern"] = facets.pattern
    if facets.units:
        rec["units"] = facets.units
    if facets.path_ref is not None:
        rec["ref"] = [resolve_relative(t, obj_path, root) for t in facets.path_ref["targets"]]
        if facets.path_ref["ref_type"]:
            rec["ref_type"] = facets.path_ref["ref_type"]
        if facets.path_ref["target_type"]:
            rec["ref_target_type"] = facets.path_ref["target_type"]
    for default in syntax.findall("default"):
        if not _deleted(default):
            rec["default"] = _default_value(default.get("value", ""), facets.list_ is not None)
            rec["default_type"] = default.get("type", "object")
    for flag in ("hidden", "secured", "command"):
        if syntax.get(flag) == "true":
            rec[flag] = True
    if param.get("name") == "DiagnosticsState" and access == "readWrite":
        # Not marked command="true" in the XML, but TR-106 defines it as one: writing
        # "Requested" starts the test and the value read back is the test's state, not what
        # was written (so read-back verification must treat it as a trigger).
        rec["command"] = True
    version = param.get("version") or obj_version
    if version:
        rec["version"] = version
    status = param.get("status") or "current"
    if status != "current":
        rec["status"] = status
    if param.get("forcedInform") == "true":
        rec["forced_inform"] = True
    if param.get("activeNotify") and param.get("activeNotify") != "normal":
        rec["active_notify"] = param.get("activeNotify")
    if param.get("mandatory") == "true":
        rec["mandatory"] = True
    return rec


def _default_value(value: str, is_list: bool) -> str:
    """The XML writes list defaults as ``[a,b]`` (``[]`` = empty); devices use ``a,b``."""
    if is_list and len(value) >= 2 and value[0] == "[" and value[-1] == "]":
        return value[1:-1]
    return value


def _arg_names(container: ET.Element | None, prefix: str = "") -> list[str]:
    """Argument names of a command input/output or an event, objects flattened to paths."""
    names: list[str] = []
    if container is None:
        return names
    for child in _children(container):
        kind = _local(child.tag)
        if kind == "parameter" and child.get("name") and not _deleted(child):
            names.append(prefix + child.get("name", ""))
        elif kind == "object" and child.get("name") and not _deleted(child):
            names.extend(_arg_names(child, prefix + child.get("name", "")))
    return names


def _arg_records(container: ET.Element | None, obj_path: str, version: str | None, types: _Types,
                 root: str, prefix: str = "") -> JsonObject:
    out: JsonObject = {}
    if container is None:
        return out
    for child in _children(container):
        kind = _local(child.tag)
        if _deleted(child) or not child.get("name"):
            continue
        if kind == "parameter":
            rec = _param_record(child, obj_path, version, types, root)
            rec["access"] = "readWrite"  # an input argument is by definition supplied
            out[prefix + child.get("name", "")] = rec
        elif kind == "object":
            out.update(_arg_records(child, obj_path, version, types, root,
                                    prefix + child.get("name", "")))
    return out


def _object_record(obj: ET.Element) -> JsonObject:
    """An object's own facts (OBJECT in the module docstring)."""
    orec: JsonObject = {}
    if (obj.get("access") or "readOnly") != "readOnly":
        orec["access"] = obj.get("access")
    if (obj.get("name") or "").endswith("{i}."):
        orec["multi"] = True
    max_e = obj.get("maxEntries") or "1"
    orec["min_entries"] = _num(obj.get("minEntries")) if obj.get("minEntries") else 1
    orec["max_entries"] = None if max_e == "unbounded" else int(max_e)
    for attr, key in (("numEntriesParameter", "num_entries"), ("enableParameter", "enable")):
        if obj.get(attr):
            orec[key] = obj.get(attr)
    keys = [p.get("ref") for uk in obj.findall("uniqueKey") for p in uk.findall("parameter")]
    if keys:
        orec["unique_keys"] = keys
    if obj.get("version"):
        orec["version"] = obj.get("version")
    if (obj.get("status") or "current") != "current":
        orec["status"] = obj.get("status")
    return orec


def _versioned(rec: JsonObject, node: ET.Element, version: str | None) -> JsonObject:
    """``rec`` with the node's version (or its object's) and a status other than current."""
    if node.get("version") or version:
        rec["version"] = node.get("version") or version
    if (node.get("status") or "current") != "current":
        rec["status"] = node.get("status")
    return rec


class _Tables:
    """The parameters, commands and events of a model, filled object by object."""

    def __init__(self, types: _Types, root: str) -> None:
        self.types, self.root = types, root
        self.params: dict[str, Any] = {}
        self.commands: JsonObject = {}
        self.events: JsonObject = {}

    def add_members(self, obj: ET.Element, path: str) -> None:
        version = obj.get("version")
        obj_status = obj.get("status") or "current"
        for child in _children(obj):
            kind, name = _local(child.tag), child.get("name")
            if not name:
                continue
            if kind == "parameter":
                rec = _param_record(child, path, version, self.types, self.root)
                # A parameter of a deleted/obsoleted object inherits that status.
                if obj_status in ("deleted", "obsoleted") and rec.get("status") != "deleted":
                    rec["status"] = obj_status
                self.params[path + name] = rec
            elif kind == "command":
                self.commands[path + name] = _versioned({
                    "async": child.get("async") == "true",
                    "inputs": _arg_records(child.find("input"), path, child.get("version") or version,
                                           self.types, self.root),
                    "outputs": _arg_names(child.find("output")),
                }, child, version)
            elif kind == "event":
                self.events[path + name] = _versioned({"args": _arg_names(child)}, child, version)

    def warn_dangling(self) -> None:
        """enumerationRef / pathRef targets must exist: a dangling one means the resolver is wrong."""
        for ppath, rec in self.params.items():
            target = rec.get("enum_ref")
            if target and target not in self.params:
                print(f"warning: {ppath}: enumerationRef target {target} not found", file=sys.stderr)


def extract(xml_path: Path, root: str, flavour: str) -> JsonObject:
    """Parse one full XML file into the compact table described in the module docstring."""
    raw = xml_path.read_bytes()
    doc = ET.fromstring(raw)
    types = _Types(doc)
    model = doc.find("model")
    if model is None:
        raise ValueError(f"{xml_path}: no <model>")
    objects: JsonObject = {}
    tables = _Tables(types, root)
    for obj in model.findall("object"):  # not profile/object (those are ref= requirements)
        path = obj.get("name")
        if not path:
            continue
        objects[path] = _object_record(obj)
        tables.add_members(obj, path)
    tables.warn_dangling()
    out: JsonObject = {
        "format": FORMAT, "model": model.get("name"), "root": root, "flavour": flavour, "spec": doc.get("spec"),
        "source": xml_path.name, "source_sha256": hashlib.sha256(raw).hexdigest(),
        "objects": objects, "params": tables.params,
    }
    if tables.commands or tables.events:
        out["commands"] = tables.commands
        out["events"] = tables.events
    out["types"] = types.table()
    return out


def dump_bytes(table: Mapping[str, Json]) -> bytes:
    """Deterministic gzip of compact, key-sorted JSON (mtime 0, no file name in the header)."""
    payload = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    return buf.getvalue()


def generate(shared: Path, out_dir: Path) -> dict[str, int]:
    """Write every table and the licence note into ``out_dir``; return file sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    for out_name, (xml_name, root, flavour) in SOURCES.items():
        data = dump_bytes(extract(shared / xml_name, root, flavour))
        (out_dir / out_name).write_bytes(data)
        sizes[out_name] = len(data)
    lic = shared / LICENSE_FILE
    if lic.exists():
        shutil.copyfile(lic, out_dir / LICENSE_FILE)
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "datamodels",
                        help="directory holding the BBF full XML files (default ../shared/datamodels)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args(argv)
    if not (args.shared / SOURCES["tr181-cwmp.json.gz"][0]).exists():
        print(f"error: {args.shared} has no BBF XML files; pass --shared DIR", file=sys.stderr)
        return 2
    for name, size in generate(args.shared, args.out).items():
        print(f"{args.out / name}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
