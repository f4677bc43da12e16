"""Device read models for the console: parameters, history, topology neighbourhood, compat.

Why here and not in ``core``: these are presentation shapes (series ready to plot, a
neighbourhood ready to draw). They read the store with plain SQL over the tables the fleet seed
fills (``telemetry``, ``device_events``, ``topology_nodes``, ``devices.upstream_id``,
``wifi_neighbors``) and are read-only. Strings that come from devices or subscribers (SSIDs,
host names) are returned as data and flagged ``untrusted``; the console renders them as text.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.native_paths import is_tr098, native_name
from core.history import metric_name
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import TERMINAL_STATES, Device, utcnow
from core.kernel.secrets import mask_value
from core.store.schema import (
    DeviceEventRow,
    DeviceLockRow,
    DeviceRow,
    ProposalDeviceRow,
    ProposalRow,
    TelemetryRow,
    TopologyNodeRow,
    WifiNeighborRow,
)

log = logging.getLogger("gateward.api.devices")
WORKFLOWS = ("config", "reboot", "factory_reset", "download")


# ---------------------------------------------------------------------------- compat
@lru_cache(maxsize=1)
def _compat_data() -> dict[str, Any]:
    from policies.loader import DATA_DIR

    try:
        data = json.loads((DATA_DIR / "compat.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def compat_status(device: Device) -> dict[str, Any]:
    """Per-workflow status (green / yellow / red) from the policy pack's compatibility matrix,
    the same data the Rego rules use; ``source`` says whether a firmware row, the model's
    ``*`` row or the default decided it."""
    data = _compat_data()
    default = str(data.get("default_status", "yellow"))
    by_model = ((data.get("matrix") or {}).get(device.vendor) or {}).get(device.model) or {}
    row = by_model.get(device.firmware)
    source = "firmware"
    if row is None:
        row, source = by_model.get("*"), "model"
    if not isinstance(row, dict):
        row, source = {}, "default"
    workflows = {wf: str(row.get(wf, default)) for wf in WORKFLOWS}
    worst = "red" if "red" in workflows.values() else "yellow" if "yellow" in workflows.values() else "green"
    return {"workflows": workflows, "overall": worst, "source": source}


# ---------------------------------------------------------------------------- state
def live_proposals(s: Session, device_ids: list[str]) -> dict[str, list[JsonObject]]:
    """Non-terminal proposals per device (what makes a device 'busy')."""
    if not device_ids:
        return {}
    terminal = [str(t) for t in TERMINAL_STATES]
    rows = s.execute(select(ProposalDeviceRow.device_id, ProposalRow.id, ProposalRow.state, ProposalRow.intent)
                     .join(ProposalRow, ProposalRow.id == ProposalDeviceRow.proposal_id)
                     .where(ProposalDeviceRow.device_id.in_(device_ids), ProposalRow.state.not_in(terminal)))
    out: dict[str, list[JsonObject]] = defaultdict(list)
    for dev, pid, state, intent in rows:
        out[dev].append({"id": pid, "state": state, "intent": intent})
    return out


def busy_device_ids(s: Session) -> set[str]:
    terminal = [str(t) for t in TERMINAL_STATES]
    return set(s.scalars(select(ProposalDeviceRow.device_id)
                         .join(ProposalRow, ProposalRow.id == ProposalDeviceRow.proposal_id)
                         .where(ProposalRow.state.not_in(terminal))))


def lock_of(s: Session, device_id: str) -> JsonObject | None:
    row = s.get(DeviceLockRow, device_id)
    if row is None:
        return None
    return {"proposal_id": row.proposal_id, "since": row.acquired_at.isoformat(),
            "expires_at": row.expires_at.isoformat()}


def facets(s: Session) -> dict[str, dict[str, int]]:
    """Devices per vendor, model, firmware and region (every status), each sorted by key: one
    ``GROUP BY`` in the order of ``ix_devices_status_groups`` (migration 0036), which the index alone
    answers — four counts read the table or four indexes."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("vendors", "models", "firmwares", "regions")}
    for _status, region, model, firmware, vendor, n in s.execute(
            select(DeviceRow.status, DeviceRow.region, DeviceRow.model, DeviceRow.firmware, DeviceRow.vendor,
                   func.count())
            .group_by(DeviceRow.status, DeviceRow.region, DeviceRow.model, DeviceRow.firmware, DeviceRow.vendor)):
        for facet, key in (("vendors", vendor), ("models", model), ("firmwares", firmware), ("regions", region)):
            if key:
                counts[facet][str(key)] += int(n)
    return {facet: dict(sorted(c.items())) for facet, c in counts.items()}


# ---------------------------------------------------------------------------- parameters
def masked_params(params: Mapping[str, Json], device: Device | None = None) -> list[JsonObject]:
    """Stored parameters, secrets masked; on a TR-098 ``device`` each with what the device itself
    calls it (``native``: the store keeps every device's tree in TR-181 names)."""
    tr098 = device is not None and is_tr098(str(device.root))
    out = []
    for path in sorted(params):
        v = params[path]
        value = v.get("value") if isinstance(v, dict) else v
        typ = v.get("type") if isinstance(v, dict) else None
        row: JsonObject = {"path": path, "value": mask_value(path, value), "type": typ or "string"}
        if tr098 and device is not None:
            row["native"] = native_name(path, vendor=device.vendor, model=device.model)
        out.append(row)
    return out


# ---------------------------------------------------------------------------- history
def history(s: Session, device_id: str, hours: int, metrics: list[str] | None,
            max_points: int = 400) -> dict[str, Any]:
    """Telemetry series (one per metric + label set, downsampled to ``max_points``) and events.

    A radio's series is one line whatever channel it was on: its ``channel`` label is not part of
    the series but of each moment, in ``channels`` (``[{"from": ts, "channel": ch}, …]``, one item
    per change), so a chart says which channel a value was measured on, before and after a move."""
    since = utcnow() - timedelta(hours=hours)
    q = (select(TelemetryRow.ts, TelemetryRow.metric, TelemetryRow.value, TelemetryRow.labels)
         .where(TelemetryRow.device_id == device_id, TelemetryRow.ts >= since))
    if metrics:
        q = q.where(TelemetryRow.metric.in_(metrics))
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for ts, metric, value, labels in s.execute(q.order_by(TelemetryRow.metric, TelemetryRow.ts)):
        labels = dict(labels or {})
        channel = labels.pop("channel", None)
        key = (metric, json.dumps(labels, sort_keys=True))
        if key not in series:  # named in words where it is defined (core.history), so no page keeps a copy
            name, unit = metric_name(metric)
            series[key] = {"metric": metric, "name": name, "unit": unit, "labels": labels, "points": [],
                           "channels": []}
        item = series[key]
        item["points"].append([ts.isoformat(), float(value)])
        if channel is not None and (not item["channels"] or item["channels"][-1]["channel"] != str(channel)):
            item["channels"].append({"from": ts.isoformat(), "channel": str(channel)})
    out_series = []
    for item in series.values():
        pts = item["points"]
        if len(pts) > max_points:
            step = len(pts) / max_points
            item["points"] = [pts[int(i * step)] for i in range(max_points - 1)] + [pts[-1]]
        values = [p[1] for p in pts]
        item["stats"] = {"count": len(pts), "min": min(values), "max": max(values), "last": values[-1]}
        out_series.append(item)
    events = [{"ts": ts.isoformat(), "kind": kind, "data": data or {}}
              for ts, kind, data in s.execute(
                  select(DeviceEventRow.ts, DeviceEventRow.kind, DeviceEventRow.data)
                  .where(DeviceEventRow.device_id == device_id, DeviceEventRow.ts >= since)
                  .order_by(DeviceEventRow.ts.desc()).limit(500))]
    return {"device_id": device_id, "hours": hours, "since": since.isoformat(), "series": out_series,
            "events": events}


# ---------------------------------------------------------------------------- topology
def _node(row: TopologyNodeRow) -> JsonObject:
    return {"id": row.id, "kind": row.kind, "label": row.label, "parent_id": row.parent_id, "attrs": row.attrs or {}}


def topology(s: Session, device: Device, sibling_limit: int = 200) -> JsonObject:
    """Upstream chain (device → PON port/CMTS → OLT …), siblings on the same upstream with
    their recent trouble, the building, and Wi-Fi neighbours heard by this device."""
    chain: list[JsonObject] = []
    seen: set[str] = set()
    node_id = device.upstream_id
    while node_id and node_id not in seen and len(chain) < 10:
        seen.add(node_id)
        row = s.get(TopologyNodeRow, node_id)
        if row is None:
            break
        chain.append(_node(row))
        node_id = row.parent_id
    building_id = next((t.split(":", 1)[1] for t in device.tags if t.startswith("building:")), None)
    building = s.get(TopologyNodeRow, building_id) if building_id else None
    siblings: list[JsonObject] = []
    if device.upstream_id:
        rows = s.scalars(select(DeviceRow).where(DeviceRow.upstream_id == device.upstream_id, DeviceRow.id != device.id)
                         .order_by(DeviceRow.id).limit(sibling_limit)).all()
        ids = [r.id for r in rows]
        since = utcnow() - timedelta(hours=24)
        trouble: dict[str, dict[str, int]] = defaultdict(dict)
        if ids:
            for dev, kind, n in s.execute(
                    select(DeviceEventRow.device_id, DeviceEventRow.kind, func.count())
                    .where(DeviceEventRow.device_id.in_(ids), DeviceEventRow.ts >= since,
                           DeviceEventRow.kind.not_in(["inform", "agent_connected"]))
                    .group_by(DeviceEventRow.device_id, DeviceEventRow.kind)):
                trouble[dev][kind] = int(n)
        siblings = [{"id": r.id, "model": r.model, "firmware": r.firmware, "subscriber": r.subscriber,
                     "last_seen": r.last_seen.isoformat() if r.last_seen else None,
                     "events_24h": trouble.get(r.id, {})} for r in rows]
    neighbours = [{"bssid": n.bssid, "ssid": n.ssid, "band": n.band, "channel": n.channel, "rssi_dbm": n.rssi_dbm,
                   "managed_device_id": n.neighbor_device_id, "untrusted": True}
                  for n in s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.device_id == device.id)
                                     .order_by(WifiNeighborRow.rssi_dbm.desc()).limit(200))]
    upstream_trouble = sum(1 for sib in siblings if sib["events_24h"])
    return {"device_id": device.id, "upstream": chain, "building": _node(building) if building else None,
            "siblings": siblings, "siblings_with_trouble_24h": upstream_trouble, "wifi_neighbors": neighbours,
            **_graph_facts(s, device.id)}


def _graph_facts(s: Session, device_id: str) -> JsonObject:
    """The planner's own view of the neighbourhood (``core.topology``): upstream health with the
    suspected-outage verdict, and per-band channel occupancy. Optional: the page still shows the
    raw neighbourhood if that module is unavailable or fails."""
    try:
        from core import topology as topo
    except ImportError:
        return {"upstream_health": None, "channel_occupancy": None}
    try:
        health = topo.upstream_health(s, device_id).as_dict()
        g = topo.wifi_graph(s, device_id)
        occupancy = {band: [load.as_dict() for load in topo.channel_occupancy(g, device_id, band).values()]
                     for band in ("2.4GHz", "5GHz", "6GHz")}
    except Exception:  # a read model must not take the page down
        log.exception("core.topology failed for %s", device_id)
        return {"upstream_health": None, "channel_occupancy": None}
    return {"upstream_health": health, "channel_occupancy": occupancy}
