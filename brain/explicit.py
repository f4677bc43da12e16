"""Drafting an explicit request (``brain.understanding.actions``) against the evidence bundle.

Why a question rather than a substitute: a support agent who asked for channel 13 on a radio
that only lists 1–11 must hear that, not find channel 11 applied. So every check here either
lets the exact value through to the gates (self-check → lifecycle → policy, which name their rule
when they refuse) or asks, naming what would break: the device's own supported-value lists
(``core.validation``), the hosts connected on a band being turned off, a missing band.
"""

from __future__ import annotations

import re
from typing import Any

from brain import qualify
from brain.charts import change_measure
from brain.plan import Finding, Plan
from brain.roles import SsidInfo, pick
from brain.tools import PingArgs, RadioInfo, ReadArgs, ToolContext, call_tool, radios_from_values
from brain.understanding import targets
from brain.understanding.actions import ExplicitRequest
from brain.understanding.request import Request
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Change, Evidence, Operation, ProposalDraft, Scalar
from core.kernel.values import parse_bool
from core.validation import device_listed_issues, validate_changes

CONFIRMED = "[confirmed]"
Evidence_ = dict[str, dict[str, Any]]


def finding(req: ExplicitRequest, text: str) -> Finding:
    what = req.action.replace("_", " ") + (f" {req.value}" if req.value is not None else "") + (
        f" on {req.band}" if req.band else "") + (f" ({', '.join(req.servers)})" if req.servers else "")
    return Finding(kind="explicit_request", band=req.band, summary=f"the agent asks for: {what}",
                   data={"request": req.model_dump(mode="json"), "confirmed": CONFIRMED in text})


def _values(ev: Evidence_, key: str) -> JsonObject:
    return dict(((ev.get(key) or {}).get("data") or {}).get("values", {}))


def _ask(f: Finding, text: str, missing: str, would_write: list[Change] | None = None) -> Plan:
    """A question instead of a draft; a confirmation carries what it would write, so the request's own limits
    (``brain.qualify``) are judged before the agent is asked to confirm a write they would refuse."""
    data: JsonObject = {"pending": f.kind, "missing": [missing]}
    if would_write:
        data["would_write"] = [c.model_dump(mode="json") for c in would_write]
    return Plan(outcome="question", finding=f.kind, text=text, data=data)


def _band_for(req: ExplicitRequest, radios: list[RadioInfo]) -> str | None:
    if req.band:
        return req.band
    if req.action == "channel" and isinstance(req.value, int):
        return "2.4GHz" if req.value <= 14 else "5GHz"
    if req.action == "width" and req.value in ("80MHz", "160MHz"):
        return "5GHz"
    bands = {r.band for r in radios} - set(req.excluded)  # "every band but the 2.4" on a dual-band box: the 5 GHz
    return next(iter(bands)) if len(bands) == 1 else None


def draft(ctx: ToolContext, f: Finding, ev: Evidence_) -> Plan:
    """The request as a draft for the gates, or the question/answer that replaces it."""
    req = ExplicitRequest.model_validate(f.data["request"])
    if req.action == "ping":
        return _ping(ctx, f, req)
    if req.action == "reboot":
        return _draft(ctx, f, ev, [], "Reboot the gateway (agent request)", ops=[Operation(command="reboot")])
    if req.action == "factory_reset":
        # Drafted like any operation: policy decides who may propose it and which approval it needs
        # (the strongest its rules ask for); the planner never decides that on its own.
        return _draft(ctx, f, ev, [], "Factory reset the gateway (agent request): every setting returns to the "
                      "firmware defaults, including the subscriber's SSID and passphrase",
                      ops=[Operation(command="factory_reset")])
    if req.action in ("traceroute", "speedtest"):
        return _diagnostic(ctx, f, ev, req)
    if req.action == "dns":
        changes = [Change(path=f"Device.DNS.Client.Server.{i}.DNSServer", value=s)
                   for i, s in enumerate(req.servers, start=req.first_server)]
        what = "the secondary WAN DNS server" if req.first_server == 2 else "WAN DNS servers"
        return _draft(ctx, f, ev, changes, f"Set {what} to {', '.join(req.servers)} (agent request)")
    if req.action == "ssid_enable":
        return _ssid_enable(ctx, f, ev, req)
    if req.action == "ssid_hide":
        return _ssid_hide(ctx, f, ev, req)
    if req.action == "dhcp_lease" and req.value is not None:
        return _dhcp_lease(ctx, f, ev, req.value)
    if req.action == "power" and req.value is None and req.step:
        resolved = _resolve_step(f, req, radios_from_values(_values(ev, "radios")))
        if isinstance(resolved, Plan):
            return resolved
        req = resolved
    if req.value is None and req.action != "band_enable":
        return _ask(f, f"What value should the {req.action.replace('_', ' ')} be?", "value")
    value = req.value if req.value is not None else True
    if req.action == "inform_interval":
        changes = [Change(path="Device.ManagementServer.PeriodicInformInterval", value=value)]
        return _draft(ctx, f, ev, changes, f"Set the periodic inform interval to {req.value} s (agent request)")
    return _radio_draft(ctx, f, ev, req, value)


def _radio_draft(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest, value: Scalar) -> Plan:
    """A radio setting (channel, width, transmit power, on/off) on the radio of the band asked — or on every
    radio named for the Wi-Fi on or off."""
    radios = radios_from_values(_values(ev, "radios"))
    several = _several_radios(ctx, f, ev, req, value, radios)
    if several is not None:
        return several
    band = _band_for(req, radios)
    if band is None:
        return _no_band(ctx, f, ev, req, value, radios)
    radio = next((r for r in radios if r.band == band), None)
    if radio is None:
        return Plan(outcome="answer", finding=f.kind, text=f"This gateway has no {band} radio I could read; "
                    "nothing to change.")
    if req.action == "band_enable":
        return _band_enable(ctx, f, ev, req, radio)
    path, label = {"channel": (f"Device.WiFi.Radio.{radio.index}.Channel", "channel"),
                   "width": (f"Device.WiFi.Radio.{radio.index}.OperatingChannelBandwidth", "width"),
                   "power": (f"Device.WiFi.Radio.{radio.index}.TransmitPower", "transmit power")}[req.action]
    unsupported = _unsupported(f, req, radio)
    if unsupported is not None:
        return unsupported
    changes = [Change(path=path, value=value)]
    if req.action == "channel" and radio.auto_channel:
        changes.append(Change(path=f"Device.WiFi.Radio.{radio.index}.AutoChannelEnable", value=False))
    plan = _draft(ctx, f, ev, changes, f"Set {band} {label} to {req.value} on radio {radio.index} (agent request)")
    return plan.model_copy(update={"measure": change_measure(changes)}) if plan.draft else plan


def _several_radios(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest, value: Scalar,
                    radios: list[RadioInfo]) -> Plan | None:
    """The draft on several radios when no one band is asked: every radio named for the Wi-Fi on or off, each band
    named for a width or a power — None when the request is one radio's."""
    if req.band is not None:
        return None
    if req.action == "band_enable":
        # every radio named, less those left out ("coupe tous les wifi sauf le 5 GHz")
        chosen = [r for r in radios if (not req.bands or r.band in req.bands) and r.band not in req.excluded]
        if len(chosen) > 1:  # "turn off the wifi", "both bands off": every radio named (all when none is)
            return _radios_enable(ctx, f, ev, req, chosen)
    if req.action in ("width", "power") and len(req.bands) > 1:
        # "the power to 50 % on both bands", "… and the 2.4 too": each band named (it asked "which band?")
        named = [r for r in radios if r.band in req.bands and r.band not in req.excluded]
        if {r.band for r in named} == set(req.bands) - set(req.excluded):
            return _radios_set(ctx, f, ev, req, value, named)
    return None


def _no_band(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest, value: Scalar,
             radios: list[RadioInfo]) -> Plan:
    """No one band asked: every radio but those left out ("every radio but the 6 GHz to 20 MHz"), or the question
    among the radios it has, less those said to be left alone."""
    rest = [r for r in radios if r.band not in req.excluded]
    if req.excluded and req.action in ("width", "power") and len(rest) > 1:
        return _radios_set(ctx, f, ev, req, value, rest)
    left = [b.replace("GHz", " GHz") for b in dict.fromkeys(r.band for r in rest)]
    left = left if len(left) > 1 else ["2.4 GHz", "5 GHz"]
    return _ask(f, f"Which band should the {req.action.replace('_', ' ')} change apply to: "
                f"{', '.join(left[:-1])} or {left[-1]}?", "band")


def _radios_set(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest, value: Scalar,
                radios: list[RadioInfo]) -> Plan:
    """A width or a transmit power on every radio but those left out: one value each radio takes as it is (a channel
    is one band's number, never set on several). A radio that cannot take it asks, and nothing is drafted."""
    changes: list[Change] = []
    for radio in radios:
        unsupported = _unsupported(f, req, radio)
        if unsupported is not None:
            return unsupported
        leaf = "OperatingChannelBandwidth" if req.action == "width" else "TransmitPower"
        changes.append(Change(path=f"Device.WiFi.Radio.{radio.index}.{leaf}", value=value))
    label = "channel width" if req.action == "width" else "transmit power"
    bands = ", ".join(r.band for r in radios)
    left_out = f", not on {', '.join(req.excluded)}" if req.excluded else ""
    plan = _draft(ctx, f, ev, changes, f"Set the {label} to {value} on {bands}{left_out} (agent request)")
    return plan.model_copy(update={"measure": change_measure(changes)}) if plan.draft else plan


def _unsupported(f: Finding, req: ExplicitRequest, radio: RadioInfo) -> Plan | None:
    """The question when the radio's own lists (PossibleChannels, TransmitPowerSupported) lack the value."""
    if req.action == "channel" and radio.possible and req.value not in radio.possible:
        return _ask(f, f"Channel {req.value} is not one the {radio.band} radio supports (PossibleChannels: "
                       f"{', '.join(map(str, radio.possible))}). Which of those should I use?", "value")
    if req.action == "power" and radio.tx_supported and req.value not in radio.tx_supported:
        return _ask(f, f"Transmit power {req.value}% is not a level the {radio.band} radio supports "
                       f"(TransmitPowerSupported: {', '.join(map(str, radio.tx_supported))}). Which should I use?",
                    "value")
    return None


def _resolve_step(f: Finding, req: ExplicitRequest, radios: list[RadioInfo]) -> ExplicitRequest | Plan:
    """"A notch lower", "two steps up": the radio's next level in its own ``TransmitPowerSupported``
    from the level it is on now — or a question when the band is not named, the radio is on automatic
    power, or there is no level further that way."""
    band = _band_for(req, radios)
    radio = next((r for r in radios if r.band == band), None)
    if radio is None:
        return _ask(f, "Which band's transmit power should change: " + " or ".join(r.band for r in radios) + "?",
                    "band")
    levels = sorted(x for x in radio.tx_supported if x > 0)
    if radio.tx_power not in levels:
        return _ask(f, f"The {radio.band} radio's transmit power is {radio.tx_power} (automatic or not a listed "
                       f"level), so a step has no start. Which level should it be: {', '.join(map(str, levels))}?",
                    "value")
    assert req.step is not None and radio.tx_power is not None
    at = levels.index(radio.tx_power) + req.step
    if not 0 <= at < len(levels):
        edge = "lowest" if req.step < 0 else "highest"
        return Plan(outcome="answer", finding=f.kind, text=(
            f"The {radio.band} radio is already at its {edge} listed transmit power ({radio.tx_power} %; levels "
            f"{', '.join(map(str, levels))}), so there is no step further that way. Nothing was drafted."))
    return req.model_copy(update={"value": levels[at], "step": None, "band": radio.band})


def from_request(req: Request) -> ExplicitRequest | None:
    """The typed request's action as the explicit drafter takes it — the request read as data, never its
    words parsed again (a correction's amended request, a condition's band, a step)."""
    if req.action is None or req.action == "ssid" or req.action == "passphrase":
        return None
    step = req.values.get("step")
    band = req.target.bands[0] if len(req.target.bands) == 1 else None
    several = (list(req.target.bands) if len(req.target.bands) > 1 and req.action in ("band_enable", "width", "power")
               else [])
    excluded = [b for b in targets.bands_in(targets.normalise_bands(" ".join(req.exclusions)))
                if b not in req.target.bands]
    return ExplicitRequest.model_validate({
        "action": req.action, "band": band, "value": req.values.get("value"), "servers": list(req.servers),
        "step": step if isinstance(step, int) and not isinstance(step, bool) else None, "bands": several,
        "excluded": excluded, "role": req.target.ssid_role if req.target.ssid_role in ("primary", "guest") else None,
        "first_server": 2 if req.values.get("dns_slot") == 2 else 1})


def _ssid_enable(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest) -> Plan:
    """Turn the guest network on or off: the SSIDs the device marks as guest (``brain.roles``), on the
    band asked for; a band where it has none is said, with the guest network it does have."""
    from brain import qualify, roles

    on = bool(req.value if req.value is not None else True)
    known = qualify.ssid_facts(ctx, ev)
    guests = roles.pick(known, "guest", [])
    if not guests:
        return Plan(outcome="answer", finding=f.kind, text="This gateway has no guest network (no SSID is isolated or "
                    "named as one); nothing to turn on or off.")
    chosen = [g for g in guests if req.band is None or g.band == req.band]
    if not chosen:
        have = "; ".join(f'"{g.name}" on {g.band or "?"}' for g in guests)
        return Plan(outcome="answer", finding=f.kind, text=(
            f"This gateway has no guest network on {req.band}: its guest network is {have}. Nothing was drafted — "
            f"say if you want that one {'on' if on else 'off'} instead."))
    todo = [g for g in chosen if g.enabled is not on]
    if not todo:
        names = ", ".join(f'"{g.name}" ({g.band})' for g in chosen)
        state = "on" if on else "off"
        return Plan(outcome="answer", finding=f.kind, text=f"The guest network {names} is already {state}; nothing to "
                    "change.")
    changes = [Change(path=f"Device.WiFi.SSID.{g.index}.Enable", value=on) for g in todo]
    names = ", ".join(f'"{g.name}" ({g.band})' for g in todo)
    return _draft(ctx, f, ev, changes, f"Turn the guest network {names} {'on' if on else 'off'} (agent request)")


def _ssid_hide(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest) -> Plan:
    """A network's name hidden or shown again (its access point's ``SSIDAdvertisementEnabled``): the guest network
    when named, else the subscriber's own, on the band asked for (every band when none is) — never a backhaul."""
    hide = bool(req.value if req.value is not None else True)
    what = "guest network" if req.role == "guest" else "Wi-Fi network"
    known = [s for s in pick(qualify.ssid_facts(ctx, ev), req.role or "primary", []) if s.point is not None]
    chosen = [s for s in known if req.band is None or s.band == req.band]
    if not chosen:
        return Plan(outcome="answer", finding=f.kind, text=_no_such_network(what, req.band, known))
    todo = [s for s in chosen if s.advertised is not (not hide)]
    if not todo:
        return Plan(outcome="answer", finding=f.kind, text=_already(what, chosen, "hidden" if hide else "shown"))
    changes = [Change(path=f"Device.WiFi.AccessPoint.{s.point}.SSIDAdvertisementEnabled", value=not hide)
               for s in todo]
    return _draft(ctx, f, ev, changes, f"{'Hide' if hide else 'Show'} the name of the {what} {_names(todo)} "
                  "(agent request)")


def _dhcp_lease(ctx: ToolContext, f: Finding, ev: Evidence_, seconds: Scalar) -> Plan:
    """The lease time of the LAN's DHCP server pool (the first the gateway lists: a guest network's pool, where it
    has one, comes after it), in seconds as asked."""
    r = call_tool(ctx, "read_parameters", ReadArgs(paths=["Device.DHCPv4.Server.Pool."]).model_dump())
    pools = sorted({int(m.group(1)) for p in (r.data.get("values") or {}) if r.ok
                    and (m := re.match(r"Device\.DHCPv4\.Server\.Pool\.(\d+)\.", p))})
    if not pools:
        return Plan(outcome="answer", finding=f.kind, text="I could not read a DHCP server pool on this gateway, so "
                    "there is no lease time to change. Nothing was drafted.")
    changes = [Change(path=f"Device.DHCPv4.Server.Pool.{pools[0]}.LeaseTime", value=seconds)]
    return _draft(ctx, f, ev, changes, f"Set the DHCP lease time to {seconds} s (agent request)")


def _names(networks: list[SsidInfo]) -> str:
    return ", ".join(f'"{s.name}" ({s.band or "?"})' for s in networks)


def _no_such_network(what: str, band: str | None, known: list[SsidInfo]) -> str:
    have = "; ".join(f'"{s.name}" on {s.band or "?"}' for s in known) or "none I could read"
    return (f"This gateway has no {what} {'on ' + band + ' ' if band else ''}whose name I can hide or show "
            f"(its {what}s: {have}). Nothing was drafted.")


def _already(what: str, networks: list[SsidInfo], state: str) -> str:
    several = len(networks) > 1
    return (f"The {what}{'s' if several else ''} {_names(networks)} {'are' if several else 'is'} already {state}; "
            "nothing to change.")


def _problems(ctx: ToolContext, ev: Evidence_, changes: list[Change]) -> list[str]:
    """What the device's own data model and supported-value lists say against the exact values."""
    issues = [i.message for i in validate_changes(ctx.device, changes)]
    known = {**_values(ev, "radios"), **_values(ev, "dns")}
    issues += [i.message for i in device_listed_issues(ctx.device, changes, known)]
    return issues


def _draft(ctx: ToolContext, f: Finding, ev: Evidence_, changes: list[Change], intent: str,
           ops: list[Operation] | None = None) -> Plan:
    problems = _problems(ctx, ev, changes) if changes else []
    if problems:
        return _ask(f, "The device would not take that as asked: " + "; ".join(problems[:3])
                    + ". Which value should I use instead?", "value")
    d = ProposalDraft(intent=intent[:300], targets=[ctx.device.id], changes=changes, operations=ops or [],
                      source="chat", rationale=f"Explicit request from the support agent: {f.summary}.",
                      evidence=[Evidence(kind="chat", summary="explicit request by the support agent", untrusted=True)])
    return Plan(outcome="change", finding=f.kind, draft=d, text=d.intent)


def _band_enable(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest, radio: RadioInfo) -> Plan:
    on = bool(req.value)
    changes = [Change(path=f"Device.WiFi.Radio.{radio.index}.Enable", value=on)]
    if not on and not f.data.get("confirmed"):
        hosts, known, names = _hosts_on_radio(ctx, radio.index)
        if hosts:
            where = f"on {radio.band}" if known else "to this gateway's Wi-Fi (I cannot tell which band they use)"
            return _ask(f, f"{hosts} device(s) are connected {where} right now{_named(hosts, names)} and may lose "
                           f"Wi-Fi if I turn {radio.band} off (devices that only support {radio.band} cannot move to "
                           "the other band). Reply 'yes' to turn it off anyway, or 'no'.", "confirm", changes)
    verb = "Enable" if on else "Disable"
    return _draft(ctx, f, ev, changes, f"{verb} the {radio.band} radio {radio.index} (agent request)")


def _radios_enable(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest,
                   chosen: list[RadioInfo]) -> Plan:
    """The Wi-Fi on or off on several radios at once; switching off first names who would lose Wi-Fi, as for
    one radio (``_band_enable``)."""
    on = bool(req.value)
    bands = " and ".join(r.band for r in chosen)
    changes = [Change(path=f"Device.WiFi.Radio.{r.index}.Enable", value=on) for r in chosen]
    if not on and not f.data.get("confirmed"):
        counted = [_hosts_on_radio(ctx, r.index) for r in chosen]
        # without the SSID→radio mapping each radio counts every access point: count them once
        hosts = sum(c[0] for c in counted) if all(c[1] for c in counted) else max(c[0] for c in counted)
        names = [n for c in counted for n in c[2]]
        if hosts:
            return _ask(f, f"{hosts} device(s) are connected to this gateway's Wi-Fi right now{_named(hosts, names)} "
                           f"and will lose Wi-Fi if I turn the {bands} radios off (the guest network on them goes off "
                           "too). Reply 'yes' to turn the Wi-Fi off anyway, or 'no'.", "confirm", changes)
    verb = "Enable" if on else "Disable"
    return _draft(ctx, f, ev, changes, f"{verb} the Wi-Fi: the {bands} radios (agent request)")


def _named(hosts: int, names: list[str]) -> str:
    """Who would lose Wi-Fi, for a confirmation: up to eight names and how many more (empty when none is known)."""
    if not names:
        return ""
    more = hosts - len(names[:8])  # the names not shown count too
    return " — " + ", ".join(f'"{n}"' for n in names[:8]) + (f" and {more} more" if more > 0 else "") + " —"


_PRINTABLE = re.compile(r"[^\w .\-'()]", re.UNICODE)


def _host_label(name: Any) -> str:
    """A LAN host's name as a short, printable label for the agent (device-supplied text: quoted,
    cut to 32 characters, never interpreted)."""
    text = _PRINTABLE.sub("", str(name or "")).strip()[:32]
    return text or "an unnamed device"


def _hosts_on_radio(ctx: ToolContext, radio_index: int) -> tuple[int, bool, list[str]]:
    """Wi-Fi clients on this radio right now: their number (the associated-device counts of the
    access points whose SSID sits on the radio), whether the SSID→radio mapping was known (without
    it every access point counts: ask rather than cut hosts off), and the names of the active
    hosts whose ``Layer1Interface`` is one of those SSIDs — so the agent hears who would lose
    Wi-Fi, not just how many."""
    r = call_tool(ctx, "read_parameters", ReadArgs(paths=["Device.WiFi.SSID.", "Device.WiFi.AccessPoint.",
                                                          "Device.Hosts."]).model_dump())
    values = (r.data or {}).get("values", {})
    ssids = {p.split(".")[3] for p, v in values.items() if p.startswith("Device.WiFi.SSID.") and
             p.endswith(".LowerLayers") and str(v.get("value")).rstrip(".") == f"Device.WiFi.Radio.{radio_index}"}
    known = bool(ssids)
    if not known:
        ssids = {p.split(".")[3] for p in values if p.startswith("Device.WiFi.AccessPoint.")
                 and p.endswith(".AssociatedDeviceNumberOfEntries")}
    total = 0
    for k in ssids:
        item = values.get(f"Device.WiFi.AccessPoint.{k}.AssociatedDeviceNumberOfEntries") or {}
        try:
            total += int(item.get("value") or 0)
        except (TypeError, ValueError):
            continue
    layer1 = {f"Device.WiFi.SSID.{k}" for k in ssids}
    names: list[str] = []
    for p, v in sorted(values.items(), key=lambda kv: _host_index(kv[0])):
        if not (p.startswith("Device.Hosts.Host.") and p.endswith(".Layer1Interface")) or not known:
            continue
        base = p[: -len("Layer1Interface")]
        active = parse_bool((values.get(base + "Active") or {}).get("value")) is True
        if active and str(v.get("value") or "").rstrip(".") in layer1:
            names.append(_host_label((values.get(base + "HostName") or {}).get("value")))
    return max(total, len(names)), known, names


def _host_index(path: str) -> int:
    parts = path.split(".")
    return int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0


# TR-069 diagnostics are a Set of the object's inputs plus DiagnosticsState=Requested (TR-181
# Device.IP.Diagnostics.*; TR-143 for throughput). Whether the device has them is its data model's
# answer (core.validation), not the planner's guess.
DIAG = {
    "traceroute": ("Device.IP.Diagnostics.TraceRoute.", "Host", "a traceroute"),
    "speedtest": ("Device.IP.Diagnostics.DownloadDiagnostics.", "DownloadURL", "a speed test"),
}
UPLOAD = "Device.IP.Diagnostics.UploadDiagnostics."
MISSING_RULES = frozenset({"unknown_path", "untranslatable", "root"})


def _diagnostic(ctx: ToolContext, f: Finding, ev: Evidence_, req: ExplicitRequest) -> Plan:
    """A traceroute or a speed test as a proposal through the same gates, where the device's
    data model has the diagnostic object; otherwise an answer naming the object it lacks (and
    the IPPing it does have)."""
    obj, arg, what = DIAG[req.action]
    probe = str(req.value) if req.value else ("192.0.2.1" if req.action == "traceroute" else "http://192.0.2.1/f")
    changes = [Change(path=obj + arg, value=probe), Change(path=obj + "DiagnosticsState", value="Requested")]
    missing = any(i.rule in MISSING_RULES for i in validate_changes(ctx.device, changes))
    if not missing:  # the standard has it; does this device's own tree? (a live read of the object)
        r = call_tool(ctx, "read_parameters", ReadArgs(paths=[obj]).model_dump())
        missing = not (r.data or {}).get("values")
    if missing or str(ctx.device.protocol) == "usp":
        objs = obj if req.action == "traceroute" else f"{obj} / {UPLOAD}"
        why = (f"its data model has no {objs} object" if missing else
               f"it is a USP agent and the {obj.rstrip('.')}() operate command is not one the lifecycle runs")
        return Plan(outcome="answer", finding=f.kind, text=(
            f"I can't run {what} on this gateway ({ctx.device.vendor} {ctx.device.model} {ctx.device.firmware}): "
            f"{why}. An IPPing is available (ask e.g. 'ping example.com'); for more, escalate to line support."),
            data={"missing": objs})
    if not req.value:
        ask = ("Which host should the traceroute go to?" if req.action == "traceroute" else
               "Which test server URL should the speed test download from (the operator's TR-143 server)?")
        return _ask(f, ask, "value")
    return _draft(ctx, f, ev, changes, f"Run {what} from the gateway to {req.value} (agent request)")


def _ping(ctx: ToolContext, f: Finding, req: ExplicitRequest) -> Plan:
    try:
        args = PingArgs(host=str(req.value)).model_dump()
    except ValueError as exc:
        return Plan(outcome="question", finding=f.kind, text=f"I can't ping {req.value!r}: {exc}")
    r = call_tool(ctx, "run_ipping", args)
    if not r.ok:
        return Plan(outcome="answer", finding=f.kind, text=f"The ping from the gateway failed: {r.error}.")
    return Plan(outcome="answer", finding=f.kind, text=f"Ping from the gateway to {req.value}: {r.summary}.")
