"""The fake NBI's collections: GenieACS's MongoDB (devices, tasks, faults, files, presets).

Why in memory: GenieACS keeps its *cache* of each CPE in MongoDB; the fake keeps the same cache
per process (the CPE's real state is the twin, shared across processes). What matters is that
the cache behaves like GenieACS's: it is filled by sessions (a refresh, a successful Set
writes the value it *sent*, not a read-back), it goes stale when the device changes by itself,
and documents come out nested with ``_value/_type/_timestamp/_writable/_object``, ``_id``,
``_deviceId``, ``_lastInform``, ``_registered``, ``_lastBoot`` and ``_tags``.
"""

from __future__ import annotations

import functools
import itertools
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.kernel.models import Scalar
from executors.genieacs.query import Getter, project
from testing.genieacs.cpe import Param


def iso(ts: float | None) -> str | None:
    """GenieACS dates as JSON: ``2024-01-31T12:00:00.000Z``."""
    if ts is None:
        return None
    return _iso(ts)


@functools.lru_cache(maxsize=4096)
def _iso(ts: float) -> str:
    """Memoised: a listing page renders the same few timestamps many times over (a document's
    registered/boot/inform dates, a model's shared leaves), and formatting them was most of the
    time ``GET /devices`` took per document at 100,000 devices."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_counter = itertools.count(secrets.randbelow(1 << 20))


def object_id(now: float) -> str:
    """A MongoDB ObjectId-shaped id (24 hex digits: time, random, counter)."""
    return f"{int(now) & 0xFFFFFFFF:08x}{secrets.token_hex(5)}{next(_counter) & 0xFFFFFF:06x}"


@dataclass(slots=True)
class CachedLeaf:
    value: Scalar
    type: str
    writable: bool
    ts: float


@dataclass
class DeviceRecord:
    """GenieACS's cached copy of one CPE."""

    id: str
    twin_id: str
    device_id: dict[str, str]
    registered: float
    last_boot: float | None = None
    last_bootstrap: float | None = None
    tags: list[str] = field(default_factory=list)
    params: dict[str, CachedLeaf] = field(default_factory=dict)
    objects: dict[str, tuple[bool, float]] = field(default_factory=dict)
    # A record bulk-loaded as a fleet listing (``FakeNbi.load_devices``) has no twin behind it
    # (``twin_id`` is ""): its last inform is this fixed time, and no session can run for it.
    inform_ts: float | None = None
    # The ``_lastInform`` GenieACS's store holds for a CPE with a twin: the start of its last
    # session, written when that session ENDS (``lib/cwmp.ts`` endSession → saveDevice). While a
    # session runs, queries still see the previous one — so a device can become visible with a
    # ``_lastInform`` older than a document another, shorter session saved meanwhile (found
    # against GenieACS 1.2.16; an incremental scan by ``_lastInform`` must look back for it).
    saved_inform: float | None = None
    # TransferCompletes the CPE has yet to send (issue 37 item 6): a CPE sends one only inside a
    # session, after its Inform — a real one in the session after it rebooted into the image,
    # genieacs-sim in its next session of any kind. Each: command_key, fault_code, fault_string,
    # start, complete.
    transfers: list[dict[str, Any]] = field(default_factory=list)
    # A listing record's rendered ``_lastInform`` (for that time) and ``_deviceId``: the same for
    # every listing of it, so rendered once (``_listing_meta``). GenieACS's driver turns a stored
    # BSON date into JSON in C++ per document; in Python it was a third of the double's CPU.
    listing_memo: tuple[float | None, str | None, dict[str, str]] | None = field(default=None, repr=False,
                                                                                compare=False)

    # ------------------------------------------------------------------ cache updates
    def _add_objects(self, path: str, ts: float) -> None:
        parts = path.split(".")
        for i in range(1, len(parts)):
            obj = ".".join(parts[:i])
            writable = parts[i - 1].isdigit() or (i < len(parts) and parts[i].isdigit())
            self.objects[obj] = (writable, ts)

    def put(self, p: Param, ts: float) -> None:
        self.params[p.name] = CachedLeaf(p.value, p.type, p.writable, ts)
        self._add_objects(p.name, ts)

    def put_value(self, path: str, value: Scalar, type_: str, ts: float) -> None:
        """What GenieACS records after a successful Set: the value it sent, not a read-back."""
        old = self.params.get(path)
        self.params[path] = CachedLeaf(value, type_, old.writable if old else True, ts)

    def forget(self, prefix: str) -> None:
        """Drop a leaf, or an object and everything below it (the CPE says it is gone)."""
        name = prefix.rstrip(".")
        base = name + "."
        for p in [p for p in self.params if p == name or p.startswith(base)]:
            del self.params[p]
        for o in [o for o in self.objects if o == name or o.startswith(base)]:
            del self.objects[o]

    def refresh(self, prefix: str, found: dict[str, Param], ts: float) -> None:
        """Replace what the cache holds under ``prefix`` by what the CPE reported."""
        name = prefix.rstrip(".")
        if name and name in self.params and name in found:
            self.put(found[name], ts)
            return
        if name:
            self.forget(name)
        else:
            self.params.clear()
            self.objects.clear()
        for p in found.values():
            self.put(p, ts)

    # ------------------------------------------------------------------ output
    def meta(self, last_inform: float | None) -> dict[str, Any]:
        return {
            "_id": self.id,
            "_deviceId": {f"_{k}": v for k, v in self.device_id.items()},
            "_registered": iso(self.registered),
            "_lastInform": iso(last_inform),
            "_lastBoot": iso(self.last_boot),
            "_lastBootstrap": iso(self.last_bootstrap),
            "_tags": list(self.tags),
        }

    def to_json(self, last_inform: float | None, projection: list[str] | None = None) -> dict[str, Any]:
        meta = self.meta(last_inform)
        if not meta["_tags"]:
            del meta["_tags"]
        if projection is None:
            doc = meta
            leaves: Iterable[str] = self.params
            objects: Iterable[str] = self.objects
            prefixes: tuple[str, ...] = ()
            only: dict[str, frozenset[str]] = {}  # no projection: every attribute of every node
        else:
            doc = project(meta, [p for p in projection if p.startswith("_")])
            prefixes, only = _split_projection(projection)
            leaves = [p for p in self.params if _wanted(prefixes, p) or p in only]
            objects = [o for o in self.objects if _wanted(prefixes, o) or o in only]
        for o in objects:
            node = _node(doc, o)
            writable, ts = self.objects[o]
            node.update(_attributes(o, {"_object": True, "_writable": writable, "_timestamp": iso(ts)}, prefixes, only))
        for p in leaves:
            leaf = self.params[p]
            node = _node(doc, p)
            attrs = {
                "_object": False,
                "_writable": leaf.writable,
                "_timestamp": iso(leaf.ts),
                "_value": leaf.value,
                "_type": leaf.type,
            }
            node.update(_attributes(p, attrs, prefixes, only))
        return doc

    def getter(self, last_inform: float | None) -> Getter:
        """Field → values, with GenieACS's ``query.expand`` rule: a parameter path means its ``_value``."""
        meta: dict[str, list[Any]] = {
            "_id": [self.id],
            "_tags": list(self.tags),
            "_lastInform": [_dt(last_inform)] if last_inform is not None else [],
            "_registered": [_dt(self.registered)],
            "_lastBoot": [_dt(self.last_boot)] if self.last_boot is not None else [],
            "_lastBootstrap": [_dt(self.last_bootstrap)] if self.last_bootstrap is not None else [],
        }
        for k, v in self.device_id.items():
            meta[f"_deviceId._{k}"] = [v]

        def get(fld: str) -> list[Any]:
            if fld in meta:
                return meta[fld]
            path, _, attr = fld.rpartition(".")
            if attr.startswith("_") and path:
                leaf = self.params.get(path)
                if leaf is not None:
                    return [
                        {
                            "_value": leaf.value,
                            "_type": leaf.type,
                            "_writable": leaf.writable,
                            "_timestamp": _dt(leaf.ts),
                            "_object": False,
                        }.get(attr)
                    ]
                if path in self.objects:
                    return [{"_object": True, "_writable": self.objects[path][0]}.get(attr)]
                return []
            leaf = self.params.get(fld)
            return [leaf.value] if leaf is not None else []

        return get


def _dt(ts: float | None) -> datetime | None:
    """A stored date as MongoDB holds it: millisecond precision (what ``iso`` renders), so a date
    a client read back from a document compares equal to the stored one."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def listing_record(gid: str, device_id: dict[str, str], inform_ts: float, params: dict[str, CachedLeaf],
                   objects: dict[str, tuple[bool, float]]) -> DeviceRecord:
    """A read-only device document for a fleet listing (bulk load: no twin, no sessions). ``params``
    and ``objects`` may be shared between records of one model (they are never written)."""
    rec = DeviceRecord(id=gid, twin_id="", device_id=device_id, registered=inform_ts, last_boot=inform_ts,
                       last_bootstrap=inform_ts, params=params, objects=objects, inform_ts=inform_ts)
    _memo(rec, inform_ts)  # stored rendered, as MongoDB stores the date: no listing pays for it
    return rec


def listing_template(root: str, manufacturer: str, model: str, firmware: str, hardware: str = "",
                     ts: float = 0.0) -> tuple[dict[str, CachedLeaf], dict[str, tuple[bool, float]]]:
    """The ``DeviceInfo`` identity leaves a model's listing records share (``root`` without the dot)."""
    info = f"{root}.DeviceInfo"
    values = {"Manufacturer": manufacturer, "ModelName": model, "SoftwareVersion": firmware,
              "HardwareVersion": hardware}
    params = {f"{info}.{k}": CachedLeaf(v, "xsd:string", False, ts) for k, v in values.items()}
    return params, {root: (False, ts), info: (False, ts)}


def listing_json(rec: DeviceRecord, last_inform: float | None, projection: list[str] | None) -> dict[str, Any]:
    """``rec.to_json(last_inform, projection)`` for a device listing (``GET /devices``), the same
    document, cheaper for bulk-loaded listing records: their parameter tree is shared by every
    record of a model and never written (``listing_record``), so its projected, rendered form is
    built once per (model, projection) and shared by every document that lists it; only the
    per-device part (``_id``, ``_deviceId``, dates, tags) is rendered per document. The returned
    document may share nodes with others: serialise it, do not modify it. Records a session
    writes (twin-backed) always take ``to_json``."""
    if rec.twin_id or projection is None:
        return rec.to_json(last_inform, projection)
    proj = tuple(projection)
    meta_fields, tree = _listing_tree(rec, proj)
    if all("." not in f for f in meta_fields):
        doc = _listing_meta(rec, last_inform, meta_fields)
    else:
        meta = rec.meta(last_inform)
        if not meta["_tags"]:
            del meta["_tags"]
        doc = project(meta, meta_fields)
    doc.update(tree)  # disjoint keys: the tree's top level is data-model roots, the metadata's "_…"
    return doc


_DATES = {"_registered": "registered", "_lastBoot": "last_boot", "_lastBootstrap": "last_bootstrap"}


def _memo(rec: DeviceRecord, last_inform: float | None) -> tuple[float | None, str | None, dict[str, str]]:
    """A listing record's rendered ``_lastInform`` (for ``last_inform``) and ``_deviceId``."""
    memo = rec.listing_memo
    if memo is None or memo[0] != last_inform:
        memo = rec.listing_memo = (last_inform, iso(last_inform), {f"_{k}": v for k, v in rec.device_id.items()})
    return memo


def _listing_meta(rec: DeviceRecord, last_inform: float | None, fields: list[str]) -> dict[str, Any]:
    """``project(meta, fields)`` for top-level metadata fields, rendering only those asked for:
    ``_id`` first, then each field in the projection's order, a missing one (no tags) left out."""
    memo = _memo(rec, last_inform)
    out: dict[str, Any] = {"_id": rec.id}
    for f in fields:
        if f in _DATES:
            out[f] = iso(getattr(rec, _DATES[f]))
        elif f == "_lastInform":
            out[f] = memo[1]
        elif f == "_deviceId":
            out[f] = memo[2]  # shared by this record's documents: serialised, never modified
        elif f == "_tags" and rec.tags:
            out[f] = list(rec.tags)
    return out


_TREES: dict[tuple[int, int, tuple[str, ...]], tuple[Any, Any, list[str], dict[str, Any]]] = {}
_TREES_MAX = 1024


def _listing_tree(rec: DeviceRecord, proj: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """The metadata fields of ``proj`` and the projected parameter tree of a listing record's
    (shared) ``params``/``objects``, built as ``DeviceRecord.to_json`` builds it. Keyed by the
    identity of those two dictionaries; the entry holds them, so an id is never reused while
    it is cached."""
    key = (id(rec.params), id(rec.objects), proj)
    hit = _TREES.get(key)
    if hit is not None and hit[0] is rec.params and hit[1] is rec.objects:
        return hit[2], hit[3]
    shell = DeviceRecord(id="", twin_id="", device_id={}, registered=0.0, params=rec.params, objects=rec.objects)
    tree = shell.to_json(None, [p for p in proj if not p.startswith("_")])
    tree = {k: v for k, v in tree.items() if not k.startswith("_")}
    meta_fields = [p for p in proj if p.startswith("_")]
    if len(_TREES) >= _TREES_MAX:
        _TREES.clear()
    _TREES[key] = (rec.params, rec.objects, meta_fields, tree)
    return meta_fields, tree


#: The attributes GenieACS stores on a parameter or object node (``lib/cwmp/db.ts``).
ATTRIBUTES = frozenset({"_object", "_writable", "_timestamp", "_value", "_type"})


def _split_projection(projection: list[str]) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
    """A projection's parameter part: whole subtrees (``Device.DeviceInfo``) and single
    attributes of one node (``Device.DeviceInfo.SoftwareVersion._value``). GenieACS hands the
    projection to MongoDB, and the stored document nests each attribute under its node, so
    ``X._value`` keeps only ``_value`` of ``X``; a path that a whole-subtree entry already covers
    is dropped (``optimizeProjection``), as it would change nothing."""
    prefixes: list[str] = []
    only: dict[str, set[str]] = {}
    for p in projection:
        if p.startswith("_"):
            continue
        node, _, attr = p.rpartition(".")
        if node and attr in ATTRIBUTES:
            only.setdefault(node, set()).add(attr)
        else:
            prefixes.append(p)
    whole = tuple(prefixes)
    return whole, {n: frozenset(a) for n, a in only.items() if not _wanted(whole, n)}


def _attributes(path: str, attrs: dict[str, Any], prefixes: tuple[str, ...],
                only: dict[str, frozenset[str]]) -> dict[str, Any]:
    """The attributes of one node that the projection keeps, in their stored order."""
    keep = only.get(path)
    if keep is None or _wanted(prefixes, path):  # not asked by attribute, or its whole subtree is asked
        return attrs
    return {k: v for k, v in attrs.items() if k in keep}


@functools.lru_cache(maxsize=65536)
def _wanted(prefixes: tuple[str, ...], path: str) -> bool:
    """Whether a projection keeps ``path`` (memoised: a listing page asks it of the same paths for
    every document)."""
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def _node(doc: dict[str, Any], path: str) -> dict[str, Any]:
    node = doc
    for seg in path.split("."):
        node = node.setdefault(seg, {})
    return node


class FakeStore:
    """Every collection, behind one re-entrant lock (the NBI's handlers and sessions share it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # What a CPE's first session (0 BOOTSTRAP) leaves in its document. GenieACS 1.2.16 with its
        # stock configuration keeps only the Inform's parameters (no ModelName, no Manufacturer
        # value: ``lib/init.ts`` presets only clear the cache at bootstrap); an operator's bootstrap
        # preset that refreshes the tree is modelled by setting this True.
        self.bootstrap_refreshes_tree = False
        self.devices: dict[str, DeviceRecord] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        # GenieACS's ``operations`` collection: a Download the CPE answered with Status 1, awaiting
        # its TransferComplete, by (device id, command key).
        self.operations: dict[tuple[str, str], dict[str, Any]] = {}
        self.named: dict[str, dict[str, dict[str, Any]]] = {
            "presets": {},
            "objects": {},
            "provisions": {},
            "virtualParameters": {},
        }

    # ------------------------------------------------------------------ tasks
    def insert_task(self, task: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """``insertTasks``: stamp, convert ``expiry`` seconds to a date, replace a queued task
        with the same ``uniqueKey`` on the same device."""
        now = time.time() if now is None else now
        with self.lock:
            task["timestamp"] = now
            if "expiry" in task:
                task["expiry"] = now + float(task["expiry"])
            key = task.get("uniqueKey")
            if key:
                for tid in [
                    t for t, v in self.tasks.items() if v["device"] == task["device"] and v.get("uniqueKey") == key
                ]:
                    del self.tasks[tid]
            task["_id"] = object_id(now)
            self.tasks[task["_id"]] = task
            return task

    def device_tasks(self, device_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return sorted((t for t in self.tasks.values() if t["device"] == device_id), key=lambda t: t["timestamp"])

    @staticmethod
    def task_json(task: dict[str, Any]) -> dict[str, Any]:
        out = dict(task)
        out["timestamp"] = iso(task["timestamp"])
        if "expiry" in task:
            out["expiry"] = iso(task["expiry"])
        return out

    # ------------------------------------------------------------------ faults
    @staticmethod
    def fault_json(fault: dict[str, Any]) -> dict[str, Any]:
        out = dict(fault)
        out["timestamp"] = iso(fault["timestamp"])
        if "expiry" in fault:
            out["expiry"] = iso(fault["expiry"])
        return out


__all__ = ["CachedLeaf", "DeviceRecord", "FakeStore", "iso", "listing_json", "listing_record", "listing_template",
           "object_id"]
