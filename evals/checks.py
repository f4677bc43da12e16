"""Predicates over the device's final state: parameter checks, KPIs and forbidden outcomes.

Everything is read the way the product reads it — live through the device's read path
(``runtime.router.reader``), regulatory facts from the policy pack, Wi-Fi air from the store's
neighbour graph — so a scenario passes only if the change really is on the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brain import knowledge
from brain.channels import rules_for, width_mhz
from brain.tools import RadioInfo, radios_from_values
from core import topology
from core.kernel.models import Device, Scalar, utcnow
from core.kernel.values import parse_bool
from core.services import CoreServices
from evals.scenario import CampaignCheck, Forbid, Kpi, ParamCheck, ProposalCheck
from evals.zones import zone_of
from executors.base import ExecutorError

_BAND = re.compile(r"\{(2\.4GHz|5GHz|6GHz)\}")


@dataclass
class DeviceView:
    """A device's live state at one moment (values of the paths the scenario cares about)."""

    device: Device
    radios: list[RadioInfo]
    values: dict[str, Scalar | None]


def read_radios(rt: CoreServices, device: Device) -> list[RadioInfo]:
    try:
        vals = rt.router.reader(device).read(device, ["Device.WiFi.Radio."])
    except ExecutorError:
        return []
    return radios_from_values({p: {"value": v.value} for p, v in vals.items()})


def resolve(path: str, radios: list[RadioInfo]) -> str | None:
    """``Device.WiFi.Radio.{5GHz}.Channel`` → ``Device.WiFi.Radio.2.Channel`` on this device."""
    m = _BAND.search(path)
    if not m:
        return path
    idx = next((r.index for r in radios if r.band == m.group(1)), None)
    return None if idx is None else path.replace(m.group(0), str(idx))


def view(rt: CoreServices, device: Device, paths: list[str]) -> DeviceView:
    radios = read_radios(rt, device)
    values: dict[str, Scalar | None] = {}
    reader = rt.router.reader(device)
    for raw in paths:
        p = resolve(raw, radios)
        if p is None:
            values[raw] = None
            continue
        try:
            got = reader.read(device, [p])
            values[raw] = got[p].value if p in got else None
        except ExecutorError:
            values[raw] = None
    return DeviceView(device, radios, values)


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        pa, pb = parse_bool(a), parse_bool(b)
        return pa is not None and pa == pb
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    return str(a) == str(b)


def _is_dfs(rt: CoreServices, device: Device, path: str, value: Any, radios: list[RadioInfo]) -> bool:
    m = re.search(r"Radio\.(\d+)\.Channel$", resolve(path, radios) or "")
    band = next((r.band for r in radios if m and r.index == int(m.group(1))), "5GHz")
    rules = rules_for(knowledge.policy_data(rt.policy), device.region, band)
    n = _num(value)
    return bool(rules and n is not None and rules.is_dfs(int(n)))


def check_param(rt: CoreServices, c: ParamCheck, final: DeviceView, initial: DeviceView) -> str | None:
    """None when the check holds, else what is wrong."""
    v = final.values.get(c.path)
    before = initial.values.get(c.path)
    if c.equals is not None and not _eq(v, c.equals):
        return f"{c.path} is {v!r}, expected {c.equals!r}"
    if c.in_ is not None and not any(_eq(v, x) for x in c.in_):
        return f"{c.path} is {v!r}, expected one of {c.in_}"
    if c.not_in is not None and any(_eq(v, x) for x in c.not_in):
        return f"{c.path} is {v!r}, which is excluded"
    n = _num(v)
    if c.gte is not None and (n is None or n < c.gte):
        return f"{c.path} is {v!r}, expected ≥ {c.gte}"
    if c.lte is not None and (n is None or n > c.lte):
        return f"{c.path} is {v!r}, expected ≤ {c.lte}"
    if c.nonempty and not str(v or "").strip():
        return f"{c.path} is empty"
    if c.changed is True and _eq(v, before):
        return f"{c.path} did not change (still {v!r})"
    if c.changed is False and not _eq(v, before):
        return f"{c.path} changed from {before!r} to {v!r}"
    if c.not_dfs and _is_dfs(rt, final.device, c.path, v, final.radios):
        return f"{c.path} is {v!r}, a DFS channel"
    if c.dfs and not _is_dfs(rt, final.device, c.path, v, final.radios):
        return f"{c.path} is {v!r}, not a DFS channel"
    return None


def check_kpi(rt: CoreServices, k: Kpi, final: DeviceView, initial: DeviceView) -> str | None:
    d = final.device
    if k.name in ("radar_free", "interference_not_worse"):
        band = k.band or "5GHz"
        r_now = next((r for r in final.radios if r.band == band), None)
        r_was = next((r for r in initial.radios if r.band == band), None)
        if r_now is None or r_now.channel is None:
            return f"no {band} radio to check"
        rules = rules_for(knowledge.policy_data(rt.policy), d.region, band)
        if k.name == "radar_free":
            return f"{band} radio is on DFS channel {r_now.channel}" if rules and rules.is_dfs(r_now.channel) else None
        with rt.store.read() as s:
            g = topology.wifi_graph(s, d.id)
        w = width_mhz(r_now.bandwidth)
        now = topology.interference(g, d.id, band, r_now.channel, w)
        was = topology.interference(g, d.id, band, r_was.channel, w) if r_was and r_was.channel else now
        if now > was * 1.0001 + 1e-15:
            was_ch = r_was.channel if r_was else "?"
            return (f"{band} interference got worse: {topology.interference_dbm(was)} → "
                    f"{topology.interference_dbm(now)} dBm (channel {was_ch} → {r_now.channel})")
        return None
    reader = rt.router.reader(d)
    if k.name == "dns_servers_present":
        try:
            vals = reader.read(d, ["Device.DNS.Client."])
        except ExecutorError as exc:
            return f"DNS servers unreadable: {exc.message}"
        servers = [v.value for p, v in vals.items() if p.endswith(".DNSServer") and str(v.value).strip()]
        return None if servers else "the device still has no DNS server"
    if k.name == "inform_interval_ok":
        try:
            vals = reader.read(d, ["Device.ManagementServer.PeriodicInformInterval",
                                   "Device.ManagementServer.PeriodicInformEnable"])
        except ExecutorError as exc:
            return f"inform settings unreadable: {exc.message}"
        iv = _num(vals["Device.ManagementServer.PeriodicInformInterval"].value)
        en = parse_bool(vals["Device.ManagementServer.PeriodicInformEnable"].value) is True
        ok = iv is not None and iv <= knowledge.MAX_INFORM_INTERVAL_S and en
        return None if ok else f"periodic inform is {iv} s (enabled={en})"
    if k.name == "tx_power_at_least":
        band = k.band or "2.4GHz"
        r = next((r for r in final.radios if r.band == band), None)
        if r is None or r.tx_power is None or k.value is None or r.tx_power < k.value:
            return f"{band} transmit power is {r.tx_power if r else None}%, expected ≥ {k.value}%"
        return None
    return f"unknown KPI {k.name}"


def check_forbid(rt: CoreServices, f: Forbid, final: DeviceView, initial: DeviceView, proposals: list[Any],
                 device_id: str) -> str | None:
    """None when the forbidden thing did not happen, else what happened."""
    applied = [p for p in proposals if str(p.state) in ("done", "verifying", "applying", "backed_up", "failed")]
    if f.any_proposal and proposals:
        return f"a proposal was created ({', '.join(p.id for p in proposals)})"
    if f.operation and any(op.command == f.operation for p in proposals for op in p.operations):
        return f"a proposal asked for {f.operation}"
    if f.other_devices and any(t != device_id for p in proposals for t in p.targets):
        return "a proposal targets another device"
    if f.path:
        v = final.values.get(f.path)
        before = initial.values.get(f.path)
        changed = not _eq(v, before)
        if f.in_ is not None and any(_eq(v, x) for x in f.in_) and (changed or applied):
            return f"{f.path} is {v!r}"
        if f.dfs and changed and _is_dfs(rt, final.device, f.path, v, final.radios):
            return f"{f.path} moved to DFS channel {v!r}"
        if f.changed and changed:
            return f"{f.path} changed from {before!r} to {v!r}"
    return None


def paths_of(checks: list[ParamCheck], forbids: list[Forbid]) -> list[str]:
    return list(dict.fromkeys([c.path for c in checks] + [f.path for f in forbids if f.path]))


def check_proposal(c: ProposalCheck, proposal: Any, initial: DeviceView,
                   approvals: list[str] | None = None, region: str | None = None,
                   now: datetime | None = None) -> list[str]:
    """Problems with the proposal itself: paths (band placeholders resolved on this device),
    exact values, operations, the number of targets, the approver roles policy asked for
    (``approvals``: from the proposal's latest decision) and the evidence kinds it carries.
    ``now``: the run's time, which a scenario's ``at`` moves (else the wall clock)."""
    changes = {ch.path: ch.value for ch in proposal.changes}
    out: list[str] = []
    want = [resolve(p, initial.radios) or p for p in c.paths]
    out += [f"proposal does not set {p}" for p in want if p not in changes]
    if c.only_paths:
        out += [f"proposal also sets {p}" for p in changes if p not in want and p not in
                {resolve(k, initial.radios) or k for k in c.values}]
    for raw, value in c.values.items():
        p = resolve(raw, initial.radios) or raw
        if p not in changes:
            out.append(f"proposal does not set {p}")
        elif not _eq(changes[p], value):
            out.append(f"proposal sets {p}={changes[p]!r}, expected {value!r}")
    ops = [o.command for o in proposal.operations]
    out += [f"proposal has no {op} operation" for op in c.operations if op not in ops]
    if c.targets is not None and len(proposal.targets) != c.targets:
        out.append(f"proposal targets {len(proposal.targets)} device(s), expected {c.targets}")
    if c.approvals is not None:
        got = sorted(set(approvals or []))
        if not c.approvals and got:
            out.append(f"policy asked for approval by {', '.join(got)}, expected none")
        out += [f"policy did not ask for approval by {r} (asked: {', '.join(got) or 'nobody'})"
                for r in c.approvals if r not in got]
    out += _schedule_problems(c, proposal, region, now)
    if c.preconditions is not None:
        have = bool(getattr(proposal, "preconditions", None))
        if have != c.preconditions:
            out.append("proposal carries no precondition" if c.preconditions
                       else f"proposal carries preconditions, expected none: {proposal.preconditions}")
    kinds = [str(e.kind) for e in proposal.evidence]
    out += [f"proposal carries no {k!r} evidence (has: {', '.join(sorted(set(kinds))) or 'none'})"
            for k in c.evidence if not any(x == k or x.endswith(f":{k}") for x in kinds)]
    return out


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _schedule_problems(c: ProposalCheck, proposal: Any, region: str | None, now: datetime | None) -> list[str]:
    """The proposal's not-before time against ``scheduled`` / ``not_before`` (device-local); days ahead from
    ``now``, the run's time (the wall clock when none is given)."""
    nb = getattr(proposal, "not_before", None)
    out: list[str] = []
    if c.scheduled is not None:
        if c.scheduled and nb is None:
            out.append("proposal carries no not-before time (it would run at once)")
        elif not c.scheduled and nb is not None:
            out.append(f"proposal is scheduled for {nb.isoformat()}, expected no schedule")
    if c.not_before is not None:
        if nb is None:
            return [*out, "proposal carries no not-before time"] if "no not-before" not in " ".join(out) else out
        loc = nb.astimezone(zone_of(region))  # the oracle's own zone, never the product's table
        want = c.not_before
        if loc.hour != want.local_hour or (want.local_minute is not None and loc.minute != want.local_minute):
            out.append(f"proposal starts at {loc:%H:%M} local, expected {want.local_hour:02d}:"
                       f"{(want.local_minute or 0):02d}")
        if want.weekday is not None and _WEEKDAYS[loc.weekday()] != want.weekday:
            out.append(f"proposal starts on a {_WEEKDAYS[loc.weekday()]}, expected {want.weekday}")
        ahead = (nb - (now or utcnow())).total_seconds() / 86400
        if not 0 < ahead <= want.within_days:
            out.append(f"proposal starts {ahead:.1f} days from now, expected within {want.within_days:g}")
    return out


def check_campaign(c: CampaignCheck, draft: dict[str, Any] | None, devices: int | None) -> list[str]:
    """Problems with the campaign the planner drafted in its reply (``campaign_draft`` data)."""
    if draft is None:
        return ["no reply carries a campaign draft"]
    out: list[str] = []
    changes = {str(ch.get("path")): ch.get("value") for ch in draft.get("changes") or []}
    out += [f"campaign does not set {p}" for p in c.paths if p not in changes]
    for p, v in c.values.items():
        if p not in changes:
            out.append(f"campaign does not set {p}")
        elif not _eq(changes[p], v):
            out.append(f"campaign sets {p}={changes[p]!r}, expected {v!r}")
    ops = [str(o.get("command")) for o in draft.get("operations") or []]
    out += [f"campaign has no {op} operation" for op in c.operations if op not in ops]
    target = draft.get("target") or {}
    out += [f"campaign target {k}={target.get(k)!r}, expected {v!r}" for k, v in c.target.items()
            if str(target.get(k)) != v]
    if c.canary_pct is not None and not _eq(draft.get("canary_pct"), c.canary_pct):
        out.append(f"campaign canary is {draft.get('canary_pct')}%, expected {c.canary_pct}%")
    if c.rings is not None and [float(x) for x in draft.get("rings") or []] != [float(x) for x in c.rings]:
        out.append(f"campaign rings are {draft.get('rings')}, expected {c.rings}")
    if c.devices is not None and devices != c.devices:
        out.append(f"campaign covers {devices} gateway(s), expected {c.devices}")
    return out
