"""The network around a gateway, as graphs (networkx): the upstream chain it hangs off, the
other gateways on that upstream, and the Wi-Fi air it shares with its neighbours.

Why graphs: two questions decide whether a CPE change is right at all. "Is this an upstream
problem?" — if half the homes behind the same PON port or CMTS are degraded, no setting on one
gateway will help, and the answer is an escalation with that evidence. "Which channel is
clean?" — a channel is only as good as the neighbours heard on it and on the channels that
overlap it, weighted by how loud they are. Both are graph walks over rows the store already has
(``topology_nodes``, ``devices.upstream_id``, ``wifi_neighbors``, plus recent WAN events and
telemetry for health). Everything here only reads; SSIDs in the air graph are untrusted text and
are returned as stored for the caller to wrap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import networkx as nx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.kernel.errors import NotFound
from core.kernel.jsontypes import JsonObject
from core.kernel.models import utcnow
from core.store.schema import (
    DEGRADED_EVENT_KINDS,
    DeviceEventRow,
    DeviceRow,
    TelemetryRow,
    TopologyNodeRow,
    WifiNeighborRow,
)

# A sibling counts as degraded when, within the window, it reported the WAN down or degraded,
# or its WAN latency averaged above this (FTTH idles at ~6 ms, cable at ~14 ms).
DEGRADED_LATENCY_MS = 100.0
# An upstream is suspected when at least this many others share it and this share is degraded.
OUTAGE_MIN_SIBLINGS = 3
OUTAGE_DEGRADED_SHARE = 0.5

# 5 GHz channels bonded into one 80 MHz block (40 MHz blocks are the halves).
_BLOCKS_80 = ((36, 40, 44, 48), (52, 56, 60, 64), (100, 104, 108, 112), (116, 120, 124, 128),
              (132, 136, 140, 144), (149, 153, 157, 161))
_BLOCKS_40 = (*(b[i:i + 2] for b in _BLOCKS_80 for i in (0, 2)), (165,))


@dataclass(frozen=True)
class NodeInfo:
    id: str
    kind: str
    label: str
    attrs: JsonObject = field(default_factory=dict)

    def as_dict(self) -> JsonObject:
        return {"id": self.id, "kind": self.kind, "label": self.label, "attrs": dict(self.attrs)}


@dataclass
class UpstreamHealth:
    """The device's upstream and how its other customers are doing."""

    device_id: str
    upstream_id: str | None
    chain: list[NodeInfo]
    siblings: int
    degraded: list[str]
    window_hours: float
    device_degraded: bool
    building: str | None = None

    @property
    def degraded_share(self) -> float:
        return len(self.degraded) / self.siblings if self.siblings else 0.0

    @property
    def suspected_outage(self) -> bool:
        """An upstream problem, not a CPE problem: many others on the same feed are degraded too."""
        return self.siblings >= OUTAGE_MIN_SIBLINGS and self.degraded_share >= OUTAGE_DEGRADED_SHARE

    def as_dict(self) -> JsonObject:
        return {"device_id": self.device_id, "upstream_id": self.upstream_id,
                "chain": [n.as_dict() for n in self.chain], "building": self.building,
                "siblings": self.siblings, "degraded_siblings": len(self.degraded),
                "degraded_share": round(self.degraded_share, 2), "degraded_sample": self.degraded[:10],
                "device_degraded": self.device_degraded, "suspected_outage": self.suspected_outage,
                "window_hours": self.window_hours}


def _device_row(s: Session, device_id: str) -> DeviceRow:
    row = s.get(DeviceRow, device_id)
    if row is None:
        raise NotFound(f"unknown device {device_id!r}")
    return row


def upstream_graph(s: Session, device_id: str) -> nx.DiGraph:
    """Directed graph parent → child over the device's upstream chain, every gateway on the same
    upstream and the buildings they sit in. Node attributes: ``kind``, ``label``, ``attrs``."""
    dev = _device_row(s, device_id)
    g: nx.DiGraph = nx.DiGraph()
    node_id = dev.upstream_id
    seen: set[str] = set()
    while node_id and node_id not in seen:
        seen.add(node_id)
        row = s.get(TopologyNodeRow, node_id)
        if row is None:
            g.add_node(node_id, kind="unknown", label=node_id, attrs={})
            break
        g.add_node(row.id, kind=row.kind, label=row.label, attrs=dict(row.attrs or {}))
        if row.parent_id:
            g.add_edge(row.parent_id, row.id)
        node_id = row.parent_id
    if dev.upstream_id is None:
        g.add_node(dev.id, kind="gateway", label=dev.id, attrs={})
        return g
    for bld in s.scalars(select(TopologyNodeRow).where(TopologyNodeRow.parent_id == dev.upstream_id,
                                                       TopologyNodeRow.kind == "building")):
        g.add_node(bld.id, kind="building", label=bld.label, attrs=dict(bld.attrs or {}))
        g.add_edge(dev.upstream_id, bld.id)
    for rid, tags in s.execute(select(DeviceRow.id, DeviceRow.tags).where(DeviceRow.upstream_id == dev.upstream_id)):
        g.add_node(rid, kind="gateway", label=rid, attrs={})
        building = next((t.split(":", 1)[1] for t in (tags or []) if str(t).startswith("building:")), None)
        if building and g.has_node(building):
            g.add_edge(building, rid)
        else:
            g.add_edge(dev.upstream_id, rid)
    return g


def chain_of(g: nx.DiGraph, upstream_id: str | None) -> list[NodeInfo]:
    """Upstream first (PON port / CMTS), then its parents (OLT)."""
    if upstream_id is None or not g.has_node(upstream_id):
        return []
    out = [upstream_id]
    node = upstream_id
    while True:
        parents = list(g.predecessors(node))
        if not parents:
            break
        node = parents[0]
        out.append(node)
    return [NodeInfo(n, g.nodes[n].get("kind", ""), g.nodes[n].get("label", n), g.nodes[n].get("attrs", {}))
            for n in out]


def degraded_devices(s: Session, device_ids: Sequence[str], *, hours: float = 6,
                     now: datetime | None = None) -> set[str]:
    """Which of ``device_ids`` showed WAN trouble in the window (events or latency)."""
    if not device_ids:
        return set()
    since = (now or utcnow()) - timedelta(hours=hours)
    out: set[str] = set()
    ids = list(device_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.update(s.scalars(select(DeviceEventRow.device_id).where(
            DeviceEventRow.device_id.in_(chunk), DeviceEventRow.kind.in_(DEGRADED_EVENT_KINDS),
            DeviceEventRow.ts >= since).distinct()))
        rows = s.execute(select(TelemetryRow.device_id, func.avg(TelemetryRow.value)).where(
            TelemetryRow.device_id.in_(chunk), TelemetryRow.metric == "wan.latency_ms",
            TelemetryRow.ts >= since).group_by(TelemetryRow.device_id)).all()
        out.update(d for d, avg in rows if avg is not None and float(avg) > DEGRADED_LATENCY_MS)
    return out


def upstream_health(s: Session, device_id: str, *, hours: float = 6, now: datetime | None = None) -> UpstreamHealth:
    dev = _device_row(s, device_id)
    g = upstream_graph(s, device_id)
    gateways = [n for n, a in g.nodes(data=True) if a.get("kind") == "gateway" and n != device_id]
    bad = degraded_devices(s, [*gateways, device_id], hours=hours, now=now)
    building = next((t.split(":", 1)[1] for t in (dev.tags or []) if str(t).startswith("building:")), None)
    return UpstreamHealth(device_id=device_id, upstream_id=dev.upstream_id, chain=chain_of(g, dev.upstream_id),
                          siblings=len(gateways), degraded=sorted(d for d in bad if d != device_id),
                          window_hours=hours, device_degraded=device_id in bad, building=building)


# ============================================================================ the Wi-Fi air


def dbm_to_mw(dbm: float) -> float:
    return float(math.pow(10.0, dbm / 10.0))


def overlap(band: str, a: int, b: int, width_mhz: int = 20) -> float:
    """How much a neighbour on channel ``b`` interferes with us on ``a`` (0..1).

    2.4 GHz channels are 5 MHz apart and 20 MHz wide: channels fewer than 5 apart overlap
    partly (1/6/11 are the only clean trio). 5/6 GHz channels do not overlap at 20 MHz; at 40 or
    80 MHz every channel in our bonded block is co-channel for us.
    """
    if band == "2.4GHz":
        return max(0.0, 1.0 - abs(a - b) / 5.0)
    if a == b:
        return 1.0
    if band == "5GHz" and width_mhz >= 40:
        blocks = _BLOCKS_80 if width_mhz >= 80 else _BLOCKS_40
        for block in blocks:
            if a in block:
                return 1.0 if b in block else 0.0
    return 0.0


def block_of(channel: int, width_mhz: int) -> tuple[int, ...]:
    """The 5 GHz bonded block a primary channel belongs to at this width (``()`` if none:
    e.g. channel 165 has no 40 or 80 MHz block)."""
    if width_mhz < 40:
        return (channel,)
    for block in _BLOCKS_80 if width_mhz >= 80 else _BLOCKS_40:
        if channel in block:
            return block if len(block) > 1 else ()
    return ()


@dataclass(frozen=True)
class ChannelLoad:
    channel: int
    neighbours: int
    power_mw: float
    strongest_dbm: float | None

    def as_dict(self) -> JsonObject:
        return {"channel": self.channel, "neighbours": self.neighbours,
                "power_dbm": round(10 * math.log10(self.power_mw), 1) if self.power_mw > 0 else None,
                "strongest_dbm": self.strongest_dbm}


def wifi_graph(s: Session, device_id: str) -> nx.Graph:
    """Undirected interference graph: the device and every access point it hears, edges weighted
    by received power (mW). Managed neighbours (other gateways of ours) carry their device id.
    Node attributes: ``kind`` (self | managed | foreign), ``ssid``, ``bssid``, ``band``, ``channel``."""
    _device_row(s, device_id)
    g: nx.Graph = nx.Graph()
    g.add_node(device_id, kind="self")
    for r in s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.device_id == device_id)):
        node = f"bss:{r.bssid}"
        g.add_node(node, kind="managed" if r.neighbor_device_id else "foreign", device_id=r.neighbor_device_id,
                   ssid=r.ssid, bssid=r.bssid, band=r.band, channel=int(r.channel), rssi_dbm=float(r.rssi_dbm))
        g.add_edge(device_id, node, weight=dbm_to_mw(float(r.rssi_dbm)), rssi_dbm=float(r.rssi_dbm))
    return g


def neighbours(g: nx.Graph, device_id: str, band: str) -> list[dict[str, Any]]:
    out = []
    for n in g.neighbors(device_id):
        a = g.nodes[n]
        if a.get("band") == band:
            out.append({**a, "node": n})
    return sorted(out, key=lambda a: -float(a.get("rssi_dbm", -100)))


def channel_occupancy(g: nx.Graph, device_id: str, band: str) -> dict[int, ChannelLoad]:
    """Per channel: how many neighbours sit on it, their summed power and the loudest."""
    acc: dict[int, list[float]] = {}
    for a in neighbours(g, device_id, band):
        acc.setdefault(int(a["channel"]), []).append(float(a["rssi_dbm"]))
    return {ch: ChannelLoad(ch, len(v), sum(dbm_to_mw(x) for x in v), max(v)) for ch, v in sorted(acc.items())}


def interference(g: nx.Graph, device_id: str, band: str, channel: int, width_mhz: int = 20,
                 exclude: Iterable[str] = ()) -> float:
    """Received neighbour power (mW) that would land on ``channel``, overlap-weighted."""
    skip = set(exclude)
    total = 0.0
    for a in neighbours(g, device_id, band):
        if a["node"] in skip:
            continue
        total += dbm_to_mw(float(a["rssi_dbm"])) * overlap(band, channel, int(a["channel"]), width_mhz)
    return total


def interference_dbm(mw: float) -> float | None:
    return round(10 * math.log10(mw), 1) if mw > 0 else None
