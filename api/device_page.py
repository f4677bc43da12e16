"""Read models of the console's device page: the parameter tree one level at a time,
and the changes applied to a device, to be drawn as markers on its telemetry charts.

Why a level at a time: a gateway's tree holds thousands of parameters (hosts, neighbours, stats);
the page opens with the root's objects and asks for a subtree when a person expands it, from the
stored snapshot or, with "refresh", read live from the device for that subtree only.

Writable marks: a live read carries what the device itself says (TR-069 GetParameterNames'
``Writable``, USP's access); a stored snapshot does not, so the standard's access for the path
(``core.kernel.datamodel``) stands in, and ``writable_source`` says which it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.native_paths import is_tr098, native_name, settable
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Device
from core.kernel.secrets import mask_value
from core.store.schema import ProposalDeviceRow, ProposalRow

# Proposals whose end is a change on the device (or its restore): drawn as markers.
FINISHED = ("done", "rolled_back", "failed", "rollback_pending")
MAX_ALLOWED = 64


def _registry(device: Device) -> Any:
    """The TR-181 registry the tree's paths are checked against (every device's tree is TR-181)."""
    from core.kernel.datamodel.registry import get_registry

    try:
        return get_registry("Device.", "usp" if str(device.protocol) == "usp" else "cwmp")
    except Exception:  # an unknown root: no marks rather than no tree
        return None


def tree_level(device: Device, prefix: str, rows: Iterable[Mapping[str, Any]], *, live: bool) -> list[dict[str, Any]]:
    """The direct children of ``prefix`` among ``rows`` (dicts with path, value, type and, when
    read live, writable and the device's own path): objects with how many parameters they hold,
    then parameters with their value (secrets masked), type, whether they are writable, when the
    standard enumerates them the values allowed and, on a TR-098 device, what the device calls it
    (``native``). The tree is TR-181 for every device: a TR-098 device's adapter reads and writes
    it through the translation (:mod:`core.kernel.datamodel.tr098`), and the store keeps it so."""
    if not prefix.endswith("."):
        prefix += "."
    tr098 = is_tr098(str(device.root))
    reg = _registry(device)
    objects: dict[str, int] = {}
    params: list[dict[str, Any]] = []
    for r in rows:
        path = str(r["path"])
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        head, dot, _ = rest.partition(".")
        if dot:
            objects[prefix + head + "."] = objects.get(prefix + head + ".", 0) + 1
            continue
        spec = reg.find(path) if reg is not None else None
        if live and r.get("writable") is not None:
            writable, source = bool(r["writable"]), "device"
        else:
            writable, source = bool(spec is not None and spec.access != "readOnly"), "standard"
            if writable and tr098:  # and the translation carries a Set of it to the device's own tree
                value = r.get("value")
                writable = settable(path, "" if value is None else value, vendor=device.vendor, model=device.model)
        allowed = None
        if writable and reg is not None:
            try:
                vals = reg.allowed_values(path)
            except Exception:
                vals = None
            allowed = list(vals[:MAX_ALLOWED]) if vals else None
        native = native_name(path, read_as=r.get("device_path"), vendor=device.vendor,
                             model=device.model) if tr098 else None
        params.append({"kind": "param", "name": head, "path": path, "value": mask_value(path, r.get("value")),
                       "type": r.get("type") or (spec.type if spec is not None else "string"),
                       "writable": writable, "writable_source": source, "allowed": allowed, "native": native})

    def order(name: str) -> tuple[int, int | str]:
        seg = name.rstrip(".").rsplit(".", 1)[-1]
        return (0, int(seg)) if seg.isdigit() else (1, seg)

    out = [{"kind": "object", "name": p[len(prefix):].rstrip("."), "path": p, "parameters": n}
           for p, n in sorted(objects.items(), key=lambda kv: order(kv[0]))]
    return out + sorted(params, key=lambda p: order(p["path"]))


def snapshot_rows(snapshot: Mapping[str, Any]) -> list[JsonObject]:
    rows = []
    for path, v in snapshot.items():
        value = v.get("value") if isinstance(v, dict) else v
        typ = v.get("type") if isinstance(v, dict) else None
        rows.append({"path": path, "value": value, "type": typ})
    return rows


def applied_changes(s: Session, device_id: str, since: datetime) -> list[dict[str, Any]]:
    """Proposals that ended on this device since ``since`` — applied, rolled back or failed — with
    what they set, newest last: the markers of "did my channel change help?"."""
    rows = s.execute(select(ProposalRow.id, ProposalRow.intent, ProposalRow.state, ProposalRow.updated_at,
                            ProposalRow.changes, ProposalRow.operations)
                     .join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id)
                     .where(ProposalDeviceRow.device_id == device_id, ProposalRow.state.in_(FINISHED),
                            ProposalRow.updated_at >= since)
                     .order_by(ProposalRow.updated_at).limit(200)).all()
    out = []
    for pid, intent, state, ts, changes, operations in rows:
        mine = [c for c in (changes or []) if not c.get("target") or c.get("target") == device_id]
        what = [f"{c['path'].removeprefix('Device.')} = {mask_value(c['path'], c.get('value'))}" for c in mine[:4]]
        what += [str(o.get("command")) for o in (operations or [])[:2]]
        out.append({"proposal_id": pid, "ts": ts.isoformat(), "state": state, "intent": intent, "what": what})
    return out
