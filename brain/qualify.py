"""A draft measured against the request it came from: the right thing, conditional, at its time.

Why a gate in the planner: policy and approval judge whether a change is *allowed*; nothing judged
whether it is *what was asked*. A rename asked for "the 5 GHz one" that renames every band, a
channel asked for "the 2.4" drafted on the 5 GHz radio, a reboot asked for "at 4 in the morning"
drafted to run now — each passes every gate. Here the draft is compared with the typed request
(:class:`brain.understanding.request.Request`) before it is shown:

* **conformance** — the draft touches only the bands and the SSID role asked for, sets the value
  asked for, and nothing the agent excluded; otherwise a question, nothing drafted;
* **conditions** — each is read now (the device's values, its neighbours as stored, its presence):
  false → an answer that says why nothing is needed, with the fact; true → the draft carries it as a
  :class:`core.kernel.models.Precondition`, which the lifecycle reads again when the write starts;
* **schedule** — the draft carries ``not_before``; the read-back names it; the worker starts it.
"""

from __future__ import annotations

import re
from typing import Any

from brain import roles
from brain.plan import Plan
from brain.tools import RadioInfo, ReadArgs, ToolContext, call_tool, radios_from_values
from brain.understanding import checker, targets, when
from brain.understanding.request import Condition, Request, SsidRole
from core import localtime, preconditions
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Change, Precondition, ProposalDraft
from core.kernel.ports.errors import ExecutorError, InvalidParameterName

Evidence_ = dict[str, dict[str, Any]]
_RADIO = re.compile(r"^Device\.WiFi\.Radio\.(\d+)\.")
_SSID = re.compile(r"^Device\.WiFi\.(?:SSID|AccessPoint)\.(\d+)\.")
_SSID_PATH = re.compile(r"^Device\.WiFi\.(SSID|AccessPoint)\.(\d+)\.")
# The network role an exclusion names, in the agent's words or a model's ("Gästenetz", "réseau invités", "Hauptnetz").
_GUEST_WORD = re.compile(r"guest|gast|gäste|gaeste|invit|visit|besucher", re.I)
_PRIMARY_WORD = re.compile(r"\b(main|primary|haupt|heimnetz|principal)", re.I)
_LEAF = {"channel": "Channel", "width": "OperatingChannelBandwidth", "power": "TransmitPower", "band_enable": "Enable"}


def _values(ev: Evidence_, key: str) -> JsonObject:
    return dict(((ev.get(key) or {}).get("data") or {}).get("values", {}))


def apply(ctx: ToolContext, req: Request | None, plan: Plan, ev: Evidence_) -> Plan:
    """``plan`` with the request's qualifiers applied, or the question/answer that replaces it."""
    would = (plan.data or {}).get("would_write") if plan.outcome == "question" else None
    if req is not None and isinstance(would, list) and would:  # a confirmation asked before a draft
        asked = ProposalDraft(intent="a confirmation's write", changes=[Change.model_validate(c) for c in would])
        return _not_as_asked(ctx, req, asked, ev) or plan
    if req is None or plan.outcome != "change" or plan.draft is None:
        return plan
    refused = _not_as_asked(ctx, req, plan.draft, ev)
    if refused is not None:
        return refused
    pre = _preconditions(ctx, req, plan.draft, ev)
    if isinstance(pre, Plan):
        return pre
    return _qualified(ctx, req, plan, pre)


def _preconditions(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> list[Precondition] | Plan:
    """The request's conditions as the draft's preconditions — or the answer (false now) or question (the device
    cannot report the fact) that replaces the draft."""
    zone = localtime.zone(ctx.device.region)
    pre: list[Precondition] = []
    # A change for later is conditional on the facts *then* ("restart it at 2 if nobody is online
    # then"): judged only when the write starts, never refused now on what is true this afternoon.
    later = req.schedule is not None
    for c in req.conditions:
        precondition = to_precondition(ctx, c, d, ev).model_copy(update={"at_write": later})
        if not later:
            ok, fact = evaluate(ctx, precondition)
            if not ok:
                return Plan(outcome="answer", finding="condition_false", text=(
                    f"Nothing to do: you asked to {checker.readback(req, zone)}, and that condition does not hold "
                    f"now — {fact}. Nothing was drafted."), data={"facts": [fact]})
        unreadable = cannot_report(ctx, precondition)
        if unreadable is not None:
            # The write re-reads the fact and refuses when it cannot: a draft the device can never
            # pass is not offered (a TR-098 gateway has no neighbour scan table to read).
            return Plan(outcome="question", finding="condition_unreadable", text=(
                f"I will not draft that with its condition: you asked to {checker.readback(req, zone)}, and "
                f"{ctx.device.id} cannot report {preconditions.label(precondition)} ({unreadable}), so "
                f"“{precondition.text}” could not be checked when the write starts. Ask for the change without "
                "the condition, or with one this gateway can report."), data={"suggested": None})
        pre.append(precondition)
    return pre


def _qualified(ctx: ToolContext, req: Request, plan: Plan, pre: list[Precondition]) -> Plan:
    """The draft with its schedule, preconditions and read-back, and the text that says them."""
    assert plan.draft is not None
    zone = localtime.zone(ctx.device.region)
    draft = plan.draft.model_copy(update={
        "not_before": req.schedule.not_before if req.schedule is not None else None,
        "not_after": when.latest_start(req.schedule.words, req.schedule.not_before, zone)
        if req.schedule is not None else None,
        "preconditions": pre, "readback": checker.readback(req, zone)[:2000]})
    text = plan.text
    if req.schedule is not None:
        at = req.schedule.not_before.astimezone(zone)
        text += f" — scheduled: not before {at:%a %d %b %H:%M} local ({zone.key})"
        if req.schedule.assumed:
            text += f"; {req.schedule.assumed}"
    if pre:
        checked = (f"checked at {req.schedule.not_before.astimezone(zone):%H:%M} local, when the write starts"
                   if req.schedule is not None else "checked now, and again when the write starts")
        text += " — " + "; ".join(c.text for c in pre) + f" ({checked})"
    return plan.model_copy(update={"draft": draft, "text": text})


def _not_as_asked(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> Plan | None:
    """The question that replaces a draft (or a confirmation of one) that is not what was asked."""
    problem = conform(ctx, req, d, ev)
    if problem is None:
        return None
    return Plan(outcome="question", finding="not_as_asked", text=(
        f"I will not draft that: {problem}. You asked to {checker.readback(req, localtime.zone(ctx.device.region))}. "
        "Say how you want it and I will draft exactly that."), data={"suggested": None})


# ---------------------------------------------------------------------------- conformance
def conform(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    """Why ``d`` is not what ``req`` asks for, or None."""
    problem = _conform_bands(req, d, ev) or _conform_value(req, d)
    if problem is None and (req.action in ("ssid", "passphrase", "ssid_enable", "ssid_hide") or req.target.ssid_role):
        problem = _conform_ssids(ctx, req, d, ev)  # a network request: the networks asked for, by name
    return (problem or _network_off_band(ctx, req, d, ev) or _excluded_network(ctx, req, d, ev)
            or _excluded_network_off(ctx, req, d, ev) or _conform_kind(req, d))


def _conform_bands(req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    """A radio of another band than the request is limited to, or one it keeps as it is (or whose band cannot
    be told while it keeps one)."""
    radios = {r.index: r.band for r in radios_from_values(_values(ev, "radios"))}
    touched_bands = {radios.get(int(m.group(1))) for c in d.changes if (m := _RADIO.match(c.path))}
    touched_bands.discard(None)
    if req.target.bands and touched_bands - set(req.target.bands):
        return (f"it would change the {', '.join(sorted(b for b in touched_bands if b))} radio, and you limited the "
                f"request to {', '.join(req.target.bands)}")
    for word, bands, _ in _exclusions(req):
        for c in d.changes:
            m = _RADIO.match(c.path)
            band = (radios.get(int(m.group(1))) or None) if m else None
            if m and bands and (band is None or band in bands):
                return _touches(word, f"Device.WiFi.Radio.{m.group(1)}.", band)
    return None


def _network_off_band(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    """A network or access point written on another band than the request is limited to, or one whose band
    cannot be told while it is limited.

    Why: a band limit was held against radio settings only, so "set the 5 GHz channel to 44" drafted with a
    rename of the 2.4 GHz network passed. A network is on its radio's band (``SSID.{i}.LowerLayers``; an
    access point on its ``SSIDReference``'s SSID), and the limit is the agent's word that nothing else is
    written."""
    if not req.target.bands:
        return None
    limit = ", ".join(req.target.bands)
    for n, s in _networks_written(ctx, d, ev):
        if s is None or s.band is None:
            return (f"it would change Device.WiFi.SSID.{n}. and I cannot tell whether that is on {limit}, which you "
                    "limited the request to")
        if s.band not in req.target.bands:
            return f"it would change a network on the {s.band} band, and you limited the request to {limit}"
    return None


def _excluded_network(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    """A network or access point the agent asked to leave alone: one on a band excluded, or of a role excluded —
    or one whose band or role cannot be told while an exclusion names one.

    Why the networks too: a band is a radio, and every SSID on that radio (TR-181 ``SSID.{i}.LowerLayers``)
    and its access point (``AccessPoint.{i}.SSIDReference``) are on that band; "rename the guest wifi but not
    the 2.4 GHz band" drafted as a rename of both bands' guest networks writes to the band excluded, and
    judging only the radios let it pass. Why refuse what cannot be told: an exclusion is the agent's word that
    nothing there is written; a write that may land there is not drafted (stricter, never looser)."""
    excluded = _exclusions(req)
    if not excluded:
        return None
    for n, s in _networks_written(ctx, d, ev):
        for word, bands, role in excluded:
            on_band = not bands or s is None or s.band is None or s.band in bands
            in_role = role is None or s is None or s.role == role
            if on_band and in_role:
                return _touches(word, f"Device.WiFi.SSID.{n}.", None if s is None else s.band)
    return None


def _networks_written(ctx: ToolContext, d: ProposalDraft, ev: Evidence_) -> list[tuple[int, roles.SsidInfo | None]]:
    """Each ``SSID.{i}`` the draft writes to (an access point's by its ``SSIDReference``), with what the gateway
    says of it (None: not listed); read only when the draft writes a network."""
    written = [m for c in d.changes if (m := _SSID_PATH.match(c.path))]
    if not written:
        return []
    known = {s.index: s for s in ssid_facts(ctx, ev)}
    table = _values(ev, "ssid_roles")
    return [(n, known.get(n)) for n in sorted({_network(m, table) for m in written})]


_RADIO_ENABLE = re.compile(r"^Device\.WiFi\.Radio\.(\d+)\.Enable$")


def _excluded_network_off(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    """A radio switched off that carries a network of a role the agent asked to keep ("turn off the wifi except
    the guest network": every SSID on a radio goes off with it, TR-181 ``SSID.{i}.LowerLayers``) — or one whose
    networks cannot be told while such an exclusion stands."""
    kept = [(word, bands, role) for word, bands, role in _exclusions(req) if role is not None]
    off = [int(m.group(1)) for c in d.changes if (m := _RADIO_ENABLE.match(c.path)) and c.value is False]
    if not kept or not off:
        return None
    bands = {r.index: r.band for r in radios_from_values(_values(ev, "radios"))}
    networks = ssid_facts(ctx, ev)
    for index in off:
        band = bands.get(index)
        for word, on, role in kept:  # "not the guest network on 2.4 GHz" keeps that band's alone
            if bands_apart(band, on):
                continue
            if band is None or any(s.role == role and s.band in (band, None) for s in networks):
                return (f"it would switch off the {band or f'radio {index}'} radio, which carries the {word} you "
                        "asked me to keep — a network goes off with its radio")
    return None


def _exclusions(req: Request) -> list[tuple[str, list[str], SsidRole | None]]:
    """The request's exclusions that name a band or a network role: the words, the bands, the role."""
    named = [(word, _excluded_bands(word), _excluded_role(word)) for word in req.exclusions]
    return [(word, bands, role) for word, bands, role in named if bands or role]


def _touches(word: str, obj: str, band: str | None) -> str:
    """What a refusal says: the words excluded — and the object, where its band or role cannot be told."""
    if band is None:
        return f"it would change {obj} and I cannot tell whether that is {word}, which you asked me to leave alone"
    return f"it would touch {word}, which you asked me to leave alone"


def bands_apart(band: str | None, kept_on: list[str]) -> bool:
    """A radio of a known band that is not among the bands an exclusion names (none named: every band)."""
    return band is not None and bool(kept_on) and band not in kept_on


def _excluded_bands(word: str) -> list[str]:
    """The bands an exclusion names, however written ("the 2.4 GHz band", "2,4er", "THE 5GHZ BAND")."""
    return list(targets.bands_in(targets.normalise_bands(word)))


def _excluded_role(word: str) -> SsidRole | None:
    """The network role an exclusion names: guest ("réseau invités", "Gästenetz"), or primary ("main network",
    "Hauptnetz", "principal")."""
    if _GUEST_WORD.search(word):
        return "guest"
    return "primary" if _PRIMARY_WORD.search(word) else None


def _network(path: re.Match[str], table: JsonObject) -> int:
    """The ``SSID.{i}`` a network or access point path writes to: its own index, or for ``AccessPoint.{i}`` the
    SSID its ``SSIDReference`` names in the SSID and access point tables (the same index where it names none)."""
    kind, index = path.groups()
    ref = table.get(f"Device.WiFi.AccessPoint.{index}.SSIDReference")
    named = re.match(r"Device\.WiFi\.SSID\.(\d+)", str(ref.get("value") if isinstance(ref, dict) else ref))
    return int(named.group(1)) if named and kind == "AccessPoint" else int(index)


# The parameters each kind of request writes (TR-181, as drafted): a draft that writes anything else is not what was
# asked, whatever its read-back says — "Gäste-WLAN einschalten und das Haupt-WLAN … umbenennen" read as the guest
# network on, read back so, and drafted as a rename of the guest network.
_KIND_WRITES = {
    "channel": re.compile(r"Device\.WiFi\.Radio\.\d+\.(Channel|AutoChannelEnable)$"),
    "width": re.compile(r"Device\.WiFi\.Radio\.\d+\.OperatingChannelBandwidth$"),
    "power": re.compile(r"Device\.WiFi\.Radio\.\d+\.TransmitPower$"),
    "band_enable": re.compile(r"Device\.WiFi\.Radio\.\d+\.Enable$"),
    "ssid_enable": re.compile(r"Device\.WiFi\.(SSID|AccessPoint)\.\d+\.Enable$"),
    "dhcp_lease": re.compile(r"Device\.DHCPv4\.Server\.Pool\.\d+\.LeaseTime$"),
    "ssid_hide": re.compile(r"Device\.WiFi\.AccessPoint\.\d+\.SSIDAdvertisementEnabled$"),
    "ssid": re.compile(r"Device\.WiFi\.SSID\.\d+\.SSID$"),
}


def _conform_kind(req: Request, d: ProposalDraft) -> str | None:
    """A draft none of whose changes is of the request's kind (what is written beside the asked change is held by
    the band, network and exclusion rules above)."""
    allowed = _KIND_WRITES.get(str(req.action)) if req.act == "change" else None
    if allowed is None or not d.changes or any(allowed.match(c.path) for c in d.changes):
        return None
    return f"it would change {d.changes[0].path}, which is not what you asked for"


def _conform_value(req: Request, d: ProposalDraft) -> str | None:
    """A radio value other than the one asked for."""
    if req.action not in _LEAF or "value" not in req.values:
        return None
    leaf = _LEAF[req.action]
    hit = [c for c in d.changes if c.path.endswith("." + leaf) and _RADIO.match(c.path)]
    if hit and all(str(c.value) != str(req.values["value"]) for c in hit):
        return f"it sets {hit[0].path} to {hit[0].value}, not the {req.values['value']} you asked for"
    return None


def _conform_ssids(ctx: ToolContext, req: Request, d: ProposalDraft, ev: Evidence_) -> str | None:
    indices = {int(m.group(1)) for c in d.changes if (m := _SSID.match(c.path))}
    if not indices:
        return None
    known = ssid_facts(ctx, ev)
    if not known:
        return None
    wanted = {s.index for s in roles.pick(known, req.target.ssid_role, list(req.target.bands))}
    extra = indices - wanted
    if extra:
        # an SSID without a name, or one the gateway does not list, is named by its object
        listed = {s.index for s in known}
        names = ", ".join([f"\u201c{s.name}\u201d" if s.name else f"Device.WiFi.SSID.{s.index}."
                           for s in known if s.index in extra]
                          + [f"Device.WiFi.SSID.{i}." for i in sorted(extra - listed)])
        return f"it would change {names}, which is not the {req.target.ssid_role or 'primary'} network asked for"
    return None


def ssid_facts(ctx: ToolContext, ev: Evidence_) -> list[roles.SsidInfo]:
    """The gateway's SSIDs with band and role, read once per turn into the evidence."""
    if "ssid_roles" not in ev:
        r = call_tool(ctx, "read_parameters", ReadArgs(paths=["Device.WiFi.SSID.", "Device.WiFi.AccessPoint."])
                      .model_dump())
        ev["ssid_roles"] = {"name": r.name, "ok": r.ok, "summary": r.summary, "data": r.data}
    radios = radios_from_values(_values(ev, "radios"))
    return roles.ssids(_values(ev, "ssid_roles"), radios)


# ---------------------------------------------------------------------------- conditions
def to_precondition(ctx: ToolContext, c: Condition, d: ProposalDraft, ev: Evidence_) -> Precondition:
    text = checker.condition_text(c)
    radios = radios_from_values(_values(ev, "radios"))
    band: str | None = c.band or _draft_band(d, radios)
    paths: list[str] = list(preconditions.PATHS.get(c.fact, []))
    if c.fact in ("channel", "band_enabled", "power"):
        radio = next((r for r in radios if r.band == band), None)
        leaf = {"channel": "Channel", "band_enabled": "Enable", "power": "TransmitPower"}[c.fact]
        if radio is not None:
            paths = [f"Device.WiFi.Radio.{radio.index}.{leaf}"]
    elif c.fact == "ssid_enabled":
        guest = roles.pick(ssid_facts(ctx, ev), "guest", [band] if c.band and band else [])
        paths = [f"Device.WiFi.SSID.{s.index}.Enable" for s in guest[:1]]
    return Precondition(fact=c.fact, expect=c.expect, value=c.value,
                        band=band if c.fact == "neighbour_on_channel" else None, paths=paths, text=text[:300])


def _draft_band(d: ProposalDraft, radios: list[RadioInfo]) -> str | None:
    """The band of the first radio the draft changes."""
    for ch in d.changes:
        m = _RADIO.match(ch.path)
        if m is not None:
            found = next((r.band for r in radios if r.index == int(m.group(1))), None)
            if found:
                return found
    return None


def evaluate(ctx: ToolContext, c: Precondition) -> tuple[bool, str]:
    """Whether ``c`` holds now, read as the lifecycle will read it when the write starts."""
    values: dict[str, Any] = {}
    online: bool | None = None
    heard: list[dict[str, Any]] = []
    if c.fact == "online":
        pres = ctx.reader.presence(ctx.device)
        online = bool(pres.online and pres.reachable)
    elif c.fact == "neighbour_on_channel":
        # every neighbour the stored scans heard, not only the few loudest a device's own table lists
        # (the write reads that table again, and refuses what it no longer allows)
        with ctx.runtime.store.read() as s:
            heard = preconditions.stored_neighbours(s, ctx.device.id)
    else:
        paths = preconditions.read_paths(c)
        if paths:
            r = call_tool(ctx, "read_parameters", ReadArgs(paths=paths).model_dump())
            values = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in
                      ((r.data or {}).get("values") or {}).items()}
    return preconditions.holds(c, values, online, heard)


def _scan(ctx: ToolContext) -> JsonObject:
    """The device's own latest neighbour scan, read live (never triggered) as the write reads it;
    raises ``ExecutorError``."""
    return ctx.live_read([preconditions.SCAN])


def cannot_report(ctx: ToolContext, c: Precondition) -> str | None:
    """Why the device cannot report ``c``'s fact at all (its data model has no such parameter), or
    None. A device only unreachable now can report it later: that is judged at the write."""
    if c.fact != "neighbour_on_channel":
        return None
    try:
        _scan(ctx)
    except InvalidParameterName as exc:
        return exc.message[:200]
    except ExecutorError:
        return None
    return None
