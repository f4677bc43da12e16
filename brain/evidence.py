"""The core evidence bundle: everything the offline planner reads about a device on every turn.

Why one bundle for every turn: a request's wording is a poor guide to what is wrong — "the Wi-Fi
dies" may be radar on a DFS channel, "no internet" an empty DNS server list, "firmware" a config
fault. So the planner reads the same core evidence whatever was said (presence and last seen, the
radios with neighbours and utilisation, radar events, client signal, DNS, WAN/upstream health, the
inform settings, history with past proposals and their outcomes, live campaigns and proposals
touching the device, compat status) and lets detectors decide; words only re-rank what the
detectors found. Everything here is read-only (``brain.tools``).

The bundle is cached in the thread's state for :data:`CACHE_TTL_S` seconds so that a clarifying
follow-up does not read the device again; a proposal submitted in the thread invalidates it (the
device is about to change).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from brain.tools import HistoryArgs, NeighbourArgs, NoArgs, PingArgs, ReadArgs, ToolContext, ToolResult, call_tool
from core.kernel.jsontypes import JsonObject

OnTool = Callable[[ToolResult], None]
Evidence_ = dict[str, dict[str, Any]]

CACHE_TTL_S = 120.0
HISTORY_METRICS = ["wifi.channel_utilization_pct", "wifi.client_rssi_dbm", "wifi.dfs_radar_events",
                   "wifi.retransmissions_pct", "wan.latency_ms", "wan.up", "dns.failures"]
HISTORY_EVENTS = ["dfs_radar", "boot", "wan_down", "wan_degraded", "dns_lost", "inform"]
LIVE_READS = {"radios": "Device.WiFi.Radio.", "dns": "Device.DNS.Client."}
MGMT_PATHS = ["Device.ManagementServer.PeriodicInformEnable", "Device.ManagementServer.PeriodicInformInterval"]


def store(ev: Evidence_, key: str, r: ToolResult, on_tool: OnTool) -> ToolResult:
    """Keep a tool result as evidence under ``key`` and report it (the chat shows every call)."""
    ev[key] = {"name": r.name, "args": r.args, "ok": r.ok, "summary": r.summary, "data": r.data, "error": r.error}
    on_tool(r)
    return r


def _online(ev: Evidence_) -> bool:
    return bool((((ev.get("device_summary") or {}).get("data") or {}).get("presence") or {}).get("online"))


def gather_bundle(ctx: ToolContext, on_tool: OnTool, *, ping: bool = False) -> Evidence_:
    """Read the core evidence. ``ping`` (an IPPing from the gateway) is only run when the request
    is about connectivity: it is the one probe that costs the device seconds."""
    ev: Evidence_ = {}
    store(ev, "device_summary", call_tool(ctx, "device_summary", {}), on_tool)
    store(ev, "topology", call_tool(ctx, "topology", NoArgs().model_dump()), on_tool)
    online = _online(ev)
    if online:
        for key in ("radios", "dns"):
            store(ev, key, call_tool(ctx, "read_parameters", ReadArgs(paths=[LIVE_READS[key]]).model_dump()),
                  on_tool)
    source: Literal["stored", "live"] = "live" if online else "stored"
    store(ev, "mgmt", call_tool(ctx, "read_parameters", ReadArgs(paths=MGMT_PATHS, source=source).model_dump()),
          on_tool)
    store(ev, "history", call_tool(ctx, "history", HistoryArgs(hours=24, metrics=HISTORY_METRICS,
                                                               event_kinds=HISTORY_EVENTS).model_dump()), on_tool)
    if online:
        from brain.tools import radios_from_values

        radios = radios_from_values((ev["radios"].get("data") or {}).get("values", {})) if ev["radios"]["ok"] else []
        if radios:
            ctx.cache.setdefault("radios", radios)  # wifi_neighbors needs them: no second live read
        for band in sorted({r.band for r in radios} & {"2.4GHz", "5GHz"}):
            store(ev, f"wifi_neighbors:{band}",
                  call_tool(ctx, "wifi_neighbors", NeighbourArgs(band=band).model_dump()),  # type: ignore[arg-type]
                  on_tool)
        if ping and not (ev["topology"].get("data") or {}).get("suspected_outage"):
            store(ev, "ipping", call_tool(ctx, "run_ipping", PingArgs(host="192.0.2.53").model_dump()), on_tool)
    return ev


def gather_facts(ctx: ToolContext, on_tool: OnTool) -> Evidence_:
    """What ``brain.answers`` reads on a turn that only asks for facts: presence, compat and live
    proposals, history (events, past proposals, telemetry) and the radios — not the neighbours,
    DNS or inform settings a diagnosis needs (an answer reads further paths itself)."""
    ev: Evidence_ = {}
    store(ev, "device_summary", call_tool(ctx, "device_summary", {}), on_tool)
    store(ev, "history", call_tool(ctx, "history", HistoryArgs(hours=24, metrics=HISTORY_METRICS,
                                                               event_kinds=HISTORY_EVENTS).model_dump()), on_tool)
    if _online(ev):
        store(ev, "radios", call_tool(ctx, "read_parameters", ReadArgs(paths=[LIVE_READS["radios"]]).model_dump()),
              on_tool)
    return ev


def cached(state_bundle: dict[str, Any] | None, device_id: str, *, now: float | None = None) -> Evidence_ | None:
    """The thread's cached bundle when it is for this device and fresh enough, else None."""
    if not state_bundle or state_bundle.get("device_id") != device_id:
        return None
    age = (now if now is not None else time.time()) - float(state_bundle.get("at", 0.0))
    if age < 0 or age > CACHE_TTL_S:
        return None
    ev = state_bundle.get("evidence")
    return ev if isinstance(ev, dict) else None


def to_cache(ev: Evidence_, device_id: str) -> dict[str, Any]:
    return {"device_id": device_id, "at": time.time(), "evidence": ev}


def radio_window(ev: Evidence_, metric: str, radio: int) -> JsonObject | None:
    """The bundle's 24 h telemetry window of ``metric`` reported for radio ``radio``, if any."""
    for w in ((ev.get("history") or {}).get("data") or {}).get("telemetry") or []:
        if w.get("metric") == metric and str((w.get("labels") or {}).get("radio")) == str(radio):
            return dict(w)
    return None


def window_total(window: dict[str, Any] | None) -> int:
    """What a counter reported over its window (mean × samples, as the window keeps no sum)."""
    return round(float(window.get("mean") or 0) * int(window.get("count") or 0)) if window else 0
