"""The planner's read-only tools: typed arguments in, a typed result out.

Why a closed set of typed tools: this is everything the planner — the playbooks or a language
model — can do to the world, and none of it writes. Parameters are read through
``runtime.router.reader(device)``, a :class:`~executors.base.ReadOnlyExecutor` with no write
attribute; history and topology come from the store; diagnostics (IPPing) go through
``Lifecycle.diagnose``, which grants, audits and changes no configuration; the policy dry-run
evaluates a draft without recording anything. A model that names any other tool gets an error
back, never an effect.

Each tool returns a :class:`ToolResult`: ``data`` (raw, for the playbooks' own logic), a one-line
``summary`` for the chat (our words, no device strings), and :meth:`ToolResult.for_model` — the
data with MACs pseudonymised and device/person strings wrapped as untrusted, which is the only
form a model ever sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from brain import knowledge
from brain.channels import parse_channel_list, width_mhz
from brain.untrusted import Pseudonymizer, scrub
from core import history
from core.kernel.errors import GatewardError
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, Device, Scalar
from core.kernel.secrets import MASK, is_secret_path
from core.kernel.values import LexicalError, as_int, parse_bool
from core.services import CoreServices
from core.store import repo
from executors.base import ExecutorError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.kernel.ports.executor import ReadOnlyExecutor

Band = Literal["2.4GHz", "5GHz", "6GHz"]
MAX_PATHS = 20


class ToolError(Exception):
    """A tool could not run with these arguments (bad path, unknown tool…): told to the caller."""


@dataclass
class ToolResult:
    name: str
    args: dict[str, Any]
    ok: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def for_model(self, pseudo: Pseudonymizer) -> str:
        # The summary and error are our words around device strings (vendor, model, firmware, an
        # executor's message): wrapped like the data, never shown to a model bare.
        body: JsonObject = {"ok": self.ok, "summary": scrub(self.summary, pseudo, key="summary")}
        if self.error:
            body["error"] = scrub(self.error, pseudo, key="error")
        if self.data:
            body["data"] = scrub(self.data, pseudo)
        return json.dumps(body, default=str, ensure_ascii=False)

    def event_data(self) -> JsonObject:
        return {"name": self.name, "args": self.args, "summary": self.summary, "ok": self.ok,
                **({"error": self.error} if self.error else {})}


@dataclass
class RadioInfo:
    index: int
    band: str
    channel: int | None
    auto_channel: bool
    bandwidth: str
    possible: list[int]
    tx_power: int | None
    tx_supported: list[int]

    def as_dict(self) -> JsonObject:
        return {"index": self.index, "band": self.band, "channel": self.channel, "auto_channel": self.auto_channel,
                "bandwidth": self.bandwidth, "possible_channels": self.possible, "transmit_power": self.tx_power,
                "transmit_power_supported": self.tx_supported}


@dataclass
class ToolContext:
    """What every tool may use: the runtime's read paths, the device, who is asking."""

    runtime: CoreServices
    device: Device
    actor: Actor
    pseudo: Pseudonymizer
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def reader(self) -> ReadOnlyExecutor:
        return self.runtime.router.reader(self.device)

    def policy_data(self) -> dict[str, Any]:
        return knowledge.policy_data(self.runtime.policy)

    def live_read(self, paths: list[str]) -> JsonObject:
        """Live values (masked) for paths or subtrees; raises ExecutorError."""
        values = self.reader.read(self.device, paths)
        return {p: {"value": MASK if is_secret_path(p) and pv.value not in (None, "") else pv.value,
                    "type": pv.type, "writable": pv.writable} for p, pv in values.items()}

    def radios(self) -> list[RadioInfo]:
        """The device's radios (live read, cached for the turn)."""
        if "radios" not in self.cache:
            vals = self.reader.read(self.device, ["Device.WiFi.Radio."])
            self.cache["radios"] = radios_from_values({p: {"value": pv.value} for p, pv in vals.items()})
        return list(self.cache["radios"])


def radios_from_values(values: dict[str, Any]) -> list[RadioInfo]:
    """Radio facts from ``{path: {"value": …}}`` read results of ``Device.WiFi.Radio.``."""
    by: dict[int, JsonObject] = {}
    for path, item in values.items():
        parts = path.split(".")
        if len(parts) == 5 and parts[:3] == ["Device", "WiFi", "Radio"] and parts[3].isdigit():
            by.setdefault(int(parts[3]), {})[parts[4]] = item.get("value") if isinstance(item, dict) else item
    out = []
    for i in sorted(by):
        r = by[i]
        band = str(r.get("OperatingFrequencyBand") or r.get("SupportedFrequencyBands") or "")
        out.append(RadioInfo(
            index=i, band=band, channel=_int(r.get("Channel")),
            auto_channel=parse_bool(r.get("AutoChannelEnable")) is True,
            bandwidth=str(r.get("OperatingChannelBandwidth") or "20MHz"),
            possible=parse_channel_list(r.get("PossibleChannels")), tx_power=_int(r.get("TransmitPower")),
            tx_supported=[int(x) for x in parse_channel_list(r.get("TransmitPowerSupported"))],
        ))
    return out


def _int(v: Any) -> int | None:
    """An integer the device reported, or None when it reported none (absent, "Auto", garbage)."""
    try:
        return as_int(v)
    except LexicalError:
        return None


# ============================================================================ argument models


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class ReadArgs(_Args):
    paths: list[str] = Field(min_length=1, max_length=MAX_PATHS,
                             description="TR-181 paths or subtrees ending in '.', e.g. Device.WiFi.Radio.")
    source: Literal["stored", "live"] = Field(default="live",
                                              description="live: read the device now; stored: last snapshot")


class HistoryArgs(_Args):
    hours: int = Field(default=24, ge=1, le=24 * 14, description="window length in hours")
    metrics: list[str] | None = Field(default=None, description="telemetry metrics, e.g. wifi.channel_utilization_pct")
    event_kinds: list[str] | None = Field(default=None, description="event kinds, e.g. dfs_radar, dns_lost, boot")


class NeighbourArgs(_Args):
    band: Band = Field(description="radio band to inspect")


class CompatArgs(_Args):
    workflow: Literal["config", "reboot", "factory_reset", "download"] = "config"


class PingArgs(_Args):
    host: str = Field(default="192.0.2.53", description="host name or IP address to ping from the gateway")
    repetitions: int = Field(default=3, ge=1, le=10)


class ChangeSpec(_Args):
    path: str = Field(description="TR-181 parameter path, e.g. Device.WiFi.Radio.2.Channel")
    value: Scalar


class DryRunArgs(_Args):
    intent: str = Field(default="planner draft", max_length=300)
    changes: list[ChangeSpec] = Field(min_length=1, max_length=20)


DEFAULT_METRICS = ("wifi.channel_utilization_pct", "wifi.client_rssi_dbm", "wifi.dfs_radar_events",
                   "wan.latency_ms", "wan.up", "dns.failures", "wifi.client_count")


# ============================================================================ the tools


def device_summary(ctx: ToolContext, _: NoArgs) -> ToolResult:
    d = ctx.device
    data: dict[str, Any] = {"device": {
        "id": d.id, "vendor": d.vendor, "model": d.model, "firmware": d.firmware, "root": str(d.root),
        "protocol": str(d.protocol), "region": d.region, "service": d.service, "subscriber": d.subscriber,
        "upstream_id": d.upstream_id, "last_seen": d.last_seen.isoformat() if d.last_seen else None,
    }}
    try:
        pres = ctx.reader.presence(d)
        data["presence"] = {"online": pres.online, "reachable": pres.reachable, "detail": pres.detail,
                            "last_seen": pres.last_seen.isoformat() if pres.last_seen else None}
    except ExecutorError as exc:
        data["presence"] = {"online": False, "reachable": False, "detail": exc.message}
    data["compat"] = {wf: dict(zip(("status", "source"), compat_of(ctx, wf), strict=True)) for wf in WORKFLOWS}
    with ctx.runtime.store.read() as s:
        snap = repo.latest_snapshot(s, d.id)
        live = repo.live_proposals_touching(s, [d.id], exclude="")
        campaigns = _campaigns_of(s, [p.id for p in live])
    data["snapshot_params"] = len(snap or {})
    data["open_proposals"] = [{"id": p.id, "state": str(p.state), "intent": p.intent,
                               "paths": [c.path for c in p.changes], "operations": [o.command for o in p.operations],
                               **({"campaign": campaigns[p.id]} if p.id in campaigns else {})} for p in live]
    ctx.cache["presence"] = data["presence"]
    ctx.cache["compat"] = data["compat"]
    pres_txt = "online" if data["presence"]["online"] else "OFFLINE"
    return ToolResult("device_summary", {}, True,
                      f"{d.vendor} {d.model} fw {d.firmware} ({d.root}, {d.protocol}, {d.region}), {pres_txt}, "
                      f"compat config={data['compat']['config']['status']}", data)


WORKFLOWS = ("config", "reboot", "factory_reset", "download")


def compat_of(ctx: ToolContext, workflow: str) -> tuple[str, str]:
    """The device's compatibility status for a workflow and where it came from. Execution
    evidence (``core.compat``: enough outcomes on this vendor/model/firmware) overrides the
    static matrix, exactly as policy reads it (``gateward.lib.compat``), so the planner refuses
    what policy would refuse and says why."""
    from core import compat

    d = ctx.device
    pdata = ctx.policy_data()
    with ctx.runtime.store.read() as s:
        rows = compat.evidence_for(s, [(d.vendor, d.model, d.firmware)], [workflow])
    row = rows.get((d.vendor, d.model, d.firmware, workflow))
    if row is not None:
        status = compat.status_of(row.succeeded, row.failed, row.rollback_failed, compat.Thresholds.from_data(pdata))
        if status is not None:
            return status, (f"evidence: {row.failed} failed and {row.rollback_failed} failed rollback(s) in "
                            f"{row.succeeded + row.failed} {workflow} executions on {d.vendor}/{d.model}/{d.firmware}")
    return knowledge.compat_status(pdata, d.vendor, d.model, d.firmware, workflow)


def _campaigns_of(s: Session, proposal_ids: list[str]) -> dict[str, dict[str, str]]:
    """Campaigns behind live proposals (a campaign's staged proposal is live on every device it
    selects): ``{proposal_id: {id, name, state}}``, so a conflict names the campaign."""
    if not proposal_ids:
        return {}
    from sqlalchemy import select

    from campaigns.schema import CampaignRow

    rows = s.execute(select(CampaignRow.proposal_id, CampaignRow.id, CampaignRow.name, CampaignRow.state)
                     .where(CampaignRow.proposal_id.in_(proposal_ids))).all()
    return {pid: {"id": cid, "name": name, "state": state} for pid, cid, name, state in rows}


def read_parameters(ctx: ToolContext, args: ReadArgs) -> ToolResult:
    bad = [p for p in args.paths if not p.startswith("Device.")]
    if bad:
        raise ToolError(f"paths must be TR-181 Device. paths (the executor translates for TR-098); got {bad[0]!r}")
    if args.source == "stored":
        with ctx.runtime.store.read() as s:
            snap = repo.latest_snapshot(s, ctx.device.id) or {}
        values = {k: v for k, v in snap.items() if any(k == p or (p.endswith(".") and k.startswith(p))
                                                        for p in args.paths)}
        missing = [p for p in args.paths if not any(k == p or (p.endswith(".") and k.startswith(p)) for k in snap)]
        note = f"; not in the snapshot: {len(missing)}" if missing else ""
        return ToolResult("read_parameters", args.model_dump(), True, f"{len(values)} stored value(s){note}",
                          {"source": "stored", "values": values, "missing": missing})
    live: JsonObject = {}
    errors: dict[str, str] = {}
    for p in args.paths:  # one at a time so that one unknown path does not hide the others
        try:
            live.update(ctx.live_read([p]))
        except ExecutorError as exc:
            errors[p] = exc.message
    ok = bool(live) or not errors
    summary = f"{len(live)} live value(s)" + (f"; {len(errors)} path(s) failed" if errors else "")
    return ToolResult("read_parameters", args.model_dump(), ok, summary,
                      {"source": "live", "values": live, "errors": errors},
                      error=None if ok else "; ".join(f"{k}: {v}" for k, v in errors.items()))


def device_history(ctx: ToolContext, args: HistoryArgs) -> ToolResult:
    d = ctx.device
    metrics = args.metrics or list(DEFAULT_METRICS)
    with ctx.runtime.store.read() as s:
        windows = [w.as_dict() for w in history.metric_windows(s, d.id, metrics, hours=args.hours, region=d.region)]
        counts = history.event_counts(s, d.id, hours=args.hours)
        events = [e.as_dict() for e in history.recent_events(s, d.id, hours=args.hours, kinds=args.event_kinds,
                                                              limit=20)]
        past = [p.as_dict() for p in history.device_proposals(s, d.id, limit=10)]
        fleet = history.model_outcomes(s, d.model, d.firmware).as_dict()
    data = {"hours": args.hours, "telemetry": windows, "event_counts": counts, "events": events,
            "proposals": past, "model_outcomes": fleet}
    ev = ", ".join(f"{k}×{v}" for k, v in sorted(counts.items())) or "no events"
    return ToolResult("history", args.model_dump(), True,
                      f"{len(windows)} telemetry series, {ev}, {len(past)} past proposal(s) on this device", data)


def topology_view(ctx: ToolContext, _: NoArgs) -> ToolResult:
    from core import topology

    with ctx.runtime.store.read() as s:
        health = topology.upstream_health(s, ctx.device.id)
    data = health.as_dict()
    ctx.cache["upstream"] = health
    up = health.chain[0].label if health.chain else "unknown upstream"
    flag = " — SUSPECTED UPSTREAM OUTAGE" if health.suspected_outage else ""
    return ToolResult("topology", {}, True,
                      f"{up} ({health.upstream_id}): {len(health.degraded)}/{health.siblings} other gateways "
                      f"degraded{flag}", data)


def wifi_neighbors(ctx: ToolContext, args: NeighbourArgs) -> ToolResult:
    from core import topology

    with ctx.runtime.store.read() as s:
        g = topology.wifi_graph(s, ctx.device.id)
    ctx.cache.setdefault("wifi_graph", g)
    occ = topology.channel_occupancy(g, ctx.device.id, args.band)
    neigh = topology.neighbours(g, ctx.device.id, args.band)
    radio = None
    try:
        radio = next((r for r in ctx.radios() if r.band == args.band), None)
    except ExecutorError:
        radio = None
    current = None
    if radio is not None and radio.channel is not None:
        mw = topology.interference(g, ctx.device.id, args.band, radio.channel, width_mhz(radio.bandwidth))
        current = {"radio": radio.index, "channel": radio.channel, "bandwidth": radio.bandwidth,
                   "interference_dbm": topology.interference_dbm(mw)}
    data = {"band": args.band, "current": current,
            "neighbours": [{"ssid": a.get("ssid", ""), "bssid": a.get("bssid", ""), "channel": a.get("channel"),
                            "rssi_dbm": a.get("rssi_dbm"), "managed": a.get("kind") == "managed"} for a in neigh[:25]],
            "occupancy": [o.as_dict() for o in occ.values()]}
    busiest = max(occ.values(), key=lambda o: o.power_mw, default=None)
    extra = f", loudest on channel {busiest.channel}" if busiest else ""
    return ToolResult("wifi_neighbors", args.model_dump(), True,
                      f"{len(neigh)} neighbour AP(s) on {args.band}{extra}", data)


def compat_lookup(ctx: ToolContext, args: CompatArgs) -> ToolResult:
    d = ctx.device
    status, source = compat_of(ctx, args.workflow)
    return ToolResult("compat_lookup", args.model_dump(), True, f"{args.workflow}: {status} ({source})",
                      {"vendor": d.vendor, "model": d.model, "firmware": d.firmware, "workflow": args.workflow,
                       "status": status, "source": source})


def run_ipping(ctx: ToolContext, args: PingArgs) -> ToolResult:
    try:
        out = ctx.runtime.lifecycle.diagnose(ctx.device.id, "ipping",
                                             {"host": args.host, "repetitions": args.repetitions}, ctx.actor)
    except GatewardError as exc:
        return ToolResult("run_ipping", args.model_dump(), False, f"IPPing not run: {exc.message}", {},
                          error=exc.message)
    except ExecutorError as exc:
        return ToolResult("run_ipping", args.model_dump(), False, f"IPPing failed: {exc.message}", {},
                          error=exc.message)
    res = out.get("output", {})
    ok_n, fail_n = res.get("SuccessCount"), res.get("FailureCount")
    return ToolResult("run_ipping", args.model_dump(), True,
                      f"IPPing {args.host}: {ok_n} ok / {fail_n} lost, avg {res.get('AverageResponseTime')} ms",
                      {"status": out.get("status"), "result": res})


def policy_dry_run(ctx: ToolContext, args: DryRunArgs) -> ToolResult:
    from brain.selfcheck import self_check
    from core.kernel.models import Change, ProposalDraft

    draft = ProposalDraft(intent=args.intent, targets=[ctx.device.id], source="chat",
                          changes=[Change(path=c.path, value=c.value) for c in args.changes])
    check = self_check(ctx.runtime, ctx.device, ctx.actor, draft)
    return ToolResult("policy_dry_run", {"intent": args.intent, "changes": [
        {"path": c.path, "value": MASK if is_secret_path(c.path) else c.value} for c in args.changes]},
        True, check.summary(), check.as_dict())


# ============================================================================ registry


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[BaseModel]
    fn: Callable[[ToolContext, Any], ToolResult]

    def schema(self) -> JsonObject:
        params = self.args.model_json_schema()
        params.pop("title", None)
        params.setdefault("properties", {})
        params.setdefault("type", "object")
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": params}}


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("device_summary", "Identity, presence (live), compatibility status and open proposals of the device.",
         NoArgs, device_summary),
    Tool("read_parameters", "Read TR-181 parameters: live through the device's read path, or the stored snapshot. "
         "Secrets come back masked.", ReadArgs, read_parameters),
    Tool("history", "Telemetry windows, events and past proposals with outcomes on this device and its "
         "model/firmware.", HistoryArgs, device_history),
    Tool("topology", "The upstream chain (OLT/PON port or CMTS) and how many other gateways on it are degraded.",
         NoArgs, topology_view),
    Tool("wifi_neighbors", "Neighbouring access points heard on a band and per-channel occupancy.",
         NeighbourArgs, wifi_neighbors),
    Tool("compat_lookup", "Compatibility-matrix status (green/yellow/red) of this model/firmware for a workflow.",
         CompatArgs, compat_lookup),
    Tool("run_ipping", "Run an IPPing diagnostic from the gateway (read-only; audited).", PingArgs, run_ipping),
    Tool("policy_dry_run", "Validate draft changes against the device's data model and dry-run policy. "
         "Nothing is recorded or applied.", DryRunArgs, policy_dry_run),
)}


def call_tool(ctx: ToolContext, name: str, raw_args: Mapping[str, Json] | None) -> ToolResult:
    """Run a tool by name; every failure becomes an ``ok=False`` result that says what was wrong."""
    tool = TOOLS.get(name)
    if tool is None:
        return ToolResult(name, dict(raw_args or {}), False, f"unknown tool {name!r}",
                          error=f"unknown tool {name!r}; the tools are: {', '.join(TOOLS)}")
    try:
        args = tool.args.model_validate(raw_args or {})
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()[:5])
        return ToolResult(name, dict(raw_args or {}), False, f"invalid arguments for {name}", error=msg)
    try:
        return tool.fn(ctx, args)
    except ToolError as exc:
        return ToolResult(name, args.model_dump(), False, str(exc), error=str(exc))
    except ExecutorError as exc:
        return ToolResult(name, args.model_dump(), False, f"{name}: device read failed: {exc.message}",
                          error=exc.message)
    except GatewardError as exc:
        return ToolResult(name, args.model_dump(), False, f"{name}: {exc.message}", error=exc.message)


def openai_tools(names: list[str] | None = None) -> list[JsonObject]:
    return [TOOLS[n].schema() for n in (names or list(TOOLS))]

