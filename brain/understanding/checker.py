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

from brain.understanding.reconcile import reconcile as _reconcile
from brain.understanding.request import Condition, Request

_ACTION_WORDS = {
    "channel": "change the channel", "width": "change the channel width", "power": "change the transmit power",
    "band_enable": "turn a band on or off", "dns": "set the DNS servers",
    "inform_interval": "change the inform interval", "dhcp_lease": "change the DHCP lease time",
    "reboot": "reboot the gateway", "ping": "run a ping", "factory_reset": "factory reset the gateway",
    "traceroute": "run a traceroute", "speedtest": "run a speed test", "ssid": "rename the Wi-Fi network",
    "passphrase": "change the Wi-Fi passphrase", "ssid_enable": "turn a Wi-Fi network on or off",
    "ssid_hide": "hide a Wi-Fi network's name or show it again",
}
# A request with no single action, in words: readback() is what an approver reads ("asked: …").
_ACT_WORDS = {
    "diagnose": "find out what is wrong with the gateway and fix it", "change": "make a change to the gateway",
    "question": "answer a question about the gateway", "acknowledge": "carry on as agreed",
    "reference": "act on an earlier message", "empty": "nothing yet",
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
    if c.fact == "power" and c.expect in ("gt", "lt", "eq", "ne"):
        how = {"gt": "above", "lt": "below", "eq": "at", "ne": "not at"}[c.expect]
        return f"only if the transmit power is {how} {c.value} %" + (f" ({c.band})" if c.band else "")
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
    parts = [*_what(req), *_where(req)]
    if req.schedule is not None:
        shown = zone or ZoneInfo(req.schedule.zone)  # a time is labelled with the zone it is shown in
        at = req.schedule.not_before.astimezone(shown)
        parts.append(f"not before {at:%a %d %b %H:%M} ({shown.key})"
                     + (f" — {req.schedule.assumed}" if req.schedule.assumed else ""))
    # each condition once, as "only if …" — after "… only" a comma and "if …" (never "only only if")
    for c in req.conditions:
        cond = condition_text(c)
        parts.append(f", {cond.removeprefix('only ')}" if parts[-1].endswith(" only") else cond)
    if req.exclusions:
        parts.append("leaving " + ", ".join(req.exclusions) + " untouched")
    return " ".join(parts).replace(" , ", ", ").strip()


def _switched(req: Request, value: bool) -> str:
    """A radio or a network turned on or off, or a network's name hidden or shown, in words."""
    if req.action == "ssid_hide":
        what = "guest network" if req.target.ssid_role == "guest" else "network"
        on = " on " + " and ".join(req.target.bands) if req.target.bands else ""
        return f"{'hide' if value else 'show'} the {what}'s name{on}"
    if req.action == "ssid_enable":
        return f"turn the {req.target.ssid_role or 'guest'} network {'on' if value else 'off'}"
    if not req.target.bands:  # every radio
        return f"turn the Wi-Fi {'on' if value else 'off'} (every radio)"
    return f"turn the {' and '.join(req.target.bands)} radio {'on' if value else 'off'}"


def _what(req: Request) -> list[str]:
    """The action and what it sets, in words ("turn the 5GHz radio off", never "… to False")."""
    value = req.values.get("value")
    if req.action in ("band_enable", "ssid_enable", "ssid_hide") and isinstance(value, bool):
        return [_switched(req, value)]
    parts = [_ACTION_WORDS.get(req.action or "", req.action or _ACT_WORDS.get(req.act, req.act))]
    if value is not None:
        parts.append(f"to {value}")
    step = req.values.get("step")
    if isinstance(step, int) and not isinstance(step, bool) and step:
        parts.append(f"{abs(step)} level{'s' if abs(step) > 1 else ''} {'down' if step < 0 else 'up'}")
    if req.values.get("ssid"):
        parts.append(f"to \u201c{req.values['ssid']}\u201d")
    if req.servers:
        parts.append("to " + ", ".join(req.servers))
    return parts


def _where(req: Request) -> list[str]:
    """The network, bands and gateways the request is limited to, where the action's words did not say."""
    said = _what(req)[0]
    parts = []
    if req.target.ssid_role and req.target.ssid_role not in said:
        parts.append(f"on the {req.target.ssid_role} network")
    if req.target.bands and not all(b in said for b in req.target.bands):
        parts.append("on " + " and ".join(req.target.bands) + " only")
    if req.scope.kind != "this_device":
        parts.append(f"for {req.scope.words or req.scope.kind}")
    return parts


def render(req: Request) -> str:
    """The request as the one plain command the planner's matchers read (English, canonical). Used
    when a correction amended an earlier request: what is planned is the amended request, not the
    correction's own words ("make that 44 instead")."""
    v = req.values.get("value")
    band = " and ".join(req.target.bands)
    on_band = f" {band}" if band else ""
    a = req.action
    if a == "power":
        return _render_power(req, on_band)
    fixed = _FIXED.get(a or "")
    if fixed is not None:
        return fixed
    if a in ("ping", "traceroute"):
        return f"{a} {v}" if v else a
    simple = _render_setting(a or "", v, band, on_band, req)
    if simple is not None:
        return simple
    parts = []
    if req.values.get("ssid"):
        parts.append(f"rename the wifi network to \"{req.values['ssid']}\"")
    if req.values.get("passphrase"):
        parts.append(f"set the wifi password to {req.values['passphrase']}")
    return " and ".join(parts)


_FIXED = {"reboot": "please reboot the gateway", "factory_reset": "please factory reset the gateway",
          "speedtest": "run a speed test"}


def _render_setting(a: str, v: object, band: str, on_band: str, req: Request) -> str | None:
    """One setting's command (channel, width, a radio or the guest network on or off, DNS, the inform
    interval), or None for another action."""
    if a == "channel":
        return f"set the{on_band} channel to {v}"
    if a == "width":
        return f"set the{on_band} channel width to {v}"
    if a == "band_enable":
        return f"turn the {band or 'wifi'} {'on' if v else 'off'}"
    if a == "ssid_enable":
        return f"turn the guest network{on_band} {'on' if v else 'off'}"
    if a == "ssid_hide":
        what = "guest network" if req.target.ssid_role == "guest" else "network"
        return f"hide the {what}{on_band}" if v else f"make the {what}{on_band} visible again"
    if a == "dns":
        if req.values.get("dns_slot") == 2:
            return "set the secondary dns server to " + " ".join(req.servers)
        return "set the dns servers to " + " ".join(req.servers)
    if a == "dhcp_lease":
        return f"set the dhcp lease time to {v} seconds"
    if a == "inform_interval":
        return f"set the inform interval to {v} seconds"
    return None


def _render_power(req: Request, on_band: str) -> str:
    """The transmit power asked: a value, or a step up or down (never "to None%")."""
    v = req.values.get("value")
    step = req.values.get("step")
    if v is None and isinstance(step, int) and step:
        way = "lower" if step < 0 else "higher"
        return f"set the{on_band} transmit power " + (f"a notch {way}" if abs(step) == 1 else
                                                       f"{abs(step)} steps {'down' if step < 0 else 'up'}")
    return f"set the{on_band} transmit power to {v}%"


def reconcile(offline: Request | None, model: Request | None, message: str = "") -> Request | None:
    """One request from two readings of ``message`` (the offline parser's and a model's): what either
    found is kept, and where both found a qualifier and disagree the agent is asked, naming both
    (``brain.understanding.reconcile``)."""
    return _reconcile(offline, model, message)
