"""One checker for every understander: every part placed, or a question naming the part.

Why one: the offline parser and a model (through the same JSON schema as a tool) both produce a
:class:`Request`; whichever produced it, the same code decides whether the planner may act on it.
A change is acted on only when nothing is unplaced; otherwise the agent is asked, with the words it
could not place quoted back and the reason, and nothing is drafted. :func:`readback` says the
request in plain words — with its schedule, its conditions, its scope and its targets — for the
agent's confirmation and the approver's card.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from brain.understanding.request import Condition, Request, Unplaced

_ACTION_WORDS = {
    "channel": "change the channel", "width": "change the channel width", "power": "change the transmit power",
    "band_enable": "turn a band on or off", "dns": "set the DNS servers",
    "inform_interval": "change the inform interval",
    "reboot": "reboot the gateway", "ping": "run a ping", "factory_reset": "factory reset the gateway",
    "traceroute": "run a traceroute", "speedtest": "run a speed test", "ssid": "rename the Wi-Fi network",
    "passphrase": "change the Wi-Fi passphrase", "ssid_enable": "turn a Wi-Fi network on or off",
}


def question(req: Request) -> str | None:
    """The question to ask instead of acting, or ``None`` when the request may be planned."""
    if not req.unplaced or req.act not in ("change", "diagnose"):
        return None
    what = _ACTION_WORDS.get(req.action or "", "act on this")
    parts = "; ".join(f"\u201c{u.words}\u201d ({u.why})" if u.why else f"\u201c{u.words}\u201d" for u in req.unplaced)
    return (f"Before I draft anything: I understood that you want me to {what}, but I could not place "
            f"{parts}. Tell me how that part should be handled (or say to leave it out) — I will not act on "
            "only part of the request.")


def condition_text(c: Condition) -> str:
    band = f" on {c.band}" if c.band else ""
    return {
        ("dns_servers", "empty"): "only if no DNS server is set",
        ("dns_servers", "nonempty"): "only if a DNS server is set",
        ("neighbour_on_channel", "empty"): f"only if no neighbouring network is on channel {c.value}{band}",
        ("neighbour_on_channel", "nonempty"): f"only if a neighbouring network is on channel {c.value}{band}",
        ("hosts_connected", "empty"): "only if no device is connected",
        ("hosts_connected", "nonempty"): "only if a device is connected",
        ("dns_servers", "eq"): f"only if a DNS server is {c.value}",
        ("dns_servers", "ne"): f"only if no DNS server is {c.value}",
    }.get((c.fact, c.expect)) or _measured(c) or _generic(c)


def _measured(c: Condition) -> str | None:
    if c.fact == "uptime" and isinstance(c.value, (int, float)):
        days = c.value / 86400
        span = f"{days:g} days" if days >= 1 else f"{c.value / 3600:g} hours"
        return f"only if it has been up {'longer' if c.expect == 'gt' else 'less'} than {span}"
    if c.fact == "power" and c.expect in ("gt", "lt"):
        return f"only if the transmit power is {'above' if c.expect == 'gt' else 'below'} {c.value} %" + (
            f" ({c.band})" if c.band else "")
    return None


def _generic(c: Condition) -> str:
    label = {"online": "the gateway is online", "firmware": "the firmware is", "channel": "the channel is",
             "band_enabled": "the radio is on", "ssid_enabled": "the network is on"}.get(c.fact, c.fact)
    if c.fact in ("online", "band_enabled", "ssid_enabled"):
        on = bool(c.value) == (c.expect == "eq")
        negated = {"online": "the gateway is offline", "band_enabled": "the radio is off",
                   "ssid_enabled": "the network is off"}[c.fact]
        return f"only if {label if on else negated}" + (f" ({c.band})" if c.band else "")
    return f"only if {label} {'' if c.expect == 'eq' else 'not '}{c.value}" + (f" ({c.band})" if c.band else "")


def readback(req: Request, zone: ZoneInfo | None = None) -> str:
    """The request in plain words: action, value, targets, scope, time, conditions, exclusions."""
    parts = [_ACTION_WORDS.get(req.action or "", req.action or req.act)]
    value = req.values.get("value")
    if value is not None:
        parts.append(f"to {value}")
    if req.values.get("ssid"):
        parts.append(f"to \u201c{req.values['ssid']}\u201d")
    if req.servers:
        parts.append("to " + ", ".join(req.servers))
    if req.target.ssid_role:
        parts.append(f"on the {req.target.ssid_role} network")
    if req.target.bands:
        parts.append("on " + " and ".join(req.target.bands) + " only")
    if req.scope.kind != "this_device":
        parts.append(f"for {req.scope.words or req.scope.kind}")
    if req.schedule is not None:
        at = req.schedule.not_before.astimezone(zone or ZoneInfo(req.schedule.zone))
        parts.append(f"not before {at:%a %d %b %H:%M} ({req.schedule.zone})"
                     + (f" — {req.schedule.assumed}" if req.schedule.assumed else ""))
    parts += [condition_text(c) for c in req.conditions]
    if req.exclusions:
        parts.append("leaving " + ", ".join(req.exclusions) + " untouched")
    return " ".join(parts).strip()


def render(req: Request) -> str:
    """The request as the one plain command the planner's matchers read (English, canonical). Used
    when a correction amended an earlier request: what is planned is the amended request, not the
    correction's own words ("make that 44 instead")."""
    v = req.values.get("value")
    band = " and ".join(req.target.bands)
    on_band = f" {band}" if band else ""
    a = req.action
    if a == "channel":
        return f"set the{on_band} channel to {v}"
    if a == "width":
        return f"set the{on_band} channel width to {v}"
    if a == "power":
        return f"set the{on_band} transmit power to {v}%"
    if a == "band_enable":
        return f"turn the {band or 'radio'} {'on' if v else 'off'}"
    if a == "ssid_enable":
        return f"turn the guest network{on_band} {'on' if v else 'off'}"
    if a == "dns":
        return "set the dns servers to " + " ".join(req.servers)
    if a == "inform_interval":
        return f"set the inform interval to {v} seconds"
    if a in ("reboot", "factory_reset", "speedtest"):
        return {"reboot": "please reboot the gateway", "factory_reset": "please factory reset the gateway",
                "speedtest": "run a speed test"}[a]
    if a in ("ping", "traceroute"):
        return f"{a} {v}" if v else a
    parts = []
    if req.values.get("ssid"):
        parts.append(f"rename the wifi network to \"{req.values['ssid']}\"")
    if req.values.get("passphrase"):
        parts.append(f"set the wifi password to {req.values['passphrase']}")
    return " and ".join(parts)


def reconcile(offline: Request | None, model: Request | None) -> Request | None:
    """One request from two readings of the same message (the offline parser's and a model's), the
    stricter of the two: the model's reading, with every qualifier either found — a time, a condition, a
    band or network limit, an exclusion, other gateways, an unplaced part — so a model that reads less
    than the parser can never drop what the parser saw. Two different values for the same action are a
    disagreement: an unplaced part the agent is asked about."""
    if model is None or offline is None:
        return model or offline
    if offline.act in ("reference", "empty") or offline.action is None:
        merged = model.model_copy(update={"source": "model"})
    else:
        merged = model.model_copy(update={"source": "model", "action": model.action or offline.action})
    update: dict[str, object] = {}
    if merged.schedule is None and offline.schedule is not None:
        update["schedule"] = offline.schedule
    seen = {(c.fact, c.expect, str(c.value)) for c in merged.conditions}
    extra = [c for c in offline.conditions if (c.fact, c.expect, str(c.value)) not in seen]
    if extra:
        update["conditions"] = [*merged.conditions, *extra]
    if not merged.target.bands and offline.target.bands:
        update["target"] = merged.target.model_copy(update={"bands": offline.target.bands,
                                                            "ssid_role": merged.target.ssid_role
                                                            or offline.target.ssid_role})
    elif merged.target.ssid_role is None and offline.target.ssid_role is not None:
        update["target"] = merged.target.model_copy(update={"ssid_role": offline.target.ssid_role})
    if offline.exclusions:
        update["exclusions"] = list(dict.fromkeys([*merged.exclusions, *offline.exclusions]))
    if merged.scope.kind == "this_device" and offline.scope.kind != "this_device":
        update["scope"] = offline.scope
    unplaced = [*merged.unplaced, *(u for u in offline.unplaced if u.words not in {x.words for x in merged.unplaced})]
    for key, value in offline.values.items():
        if key in merged.values and str(merged.values[key]) != str(value) and offline.action == merged.action:
            unplaced.append(Unplaced(words=f"{key} {value} / {merged.values[key]}", kind="value",
                                     why="two readings of the value disagree"))
    if unplaced != merged.unplaced:
        update["unplaced"] = unplaced
    return merged.model_copy(update=update) if update else merged
