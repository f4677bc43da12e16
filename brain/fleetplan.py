"""Requests beyond one gateway: a building's or a neighbourhood's joint channel plan, and fleet slices.

Why a module of its own: a chat thread is about one gateway, but "the Wi-Fi is bad all over the
building" is not a single-home fault — re-channelling one flat only moves the clash to the flat
next door. The homes are planned together: their interference graph (an edge where one of our
gateways hears another of ours, read from ``wifi_neighbors``; the same rows ``core.topology``
builds its air graph from) is coloured with DSATUR (``networkx.greedy_color``,
``saturation_largest_first``), and the colours become channels — non-DFS first, the 1/6/11 trio
on 2.4 GHz, whole bonded blocks at 40/80 MHz — so adjacent homes get different channels wherever
the band has enough of them. A request about a fleet slice ("all PX-7000 on prplOS-3.1.0") is
never a one-shot bulk Set: it becomes a campaign draft (canary, then rings) that must be created,
approved and promoted through the campaign service's gates.

Everything here reads. A joint plan is one multi-device plan with its per-home channels, drafted as
ONE proposal whose changes carry their own target (``Change.target``): home A gets channel 1 and
home B channel 6 under one hash, one policy decision and one approval; preview, backup, verify and
rollback run per device with its own values. When a request covers both bands, both plans go into
that one proposal (each home's 2.4 and 5 GHz radios are different paths).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from brain.channels import ChannelRules, rules_for, width_mhz
from brain.plan import Plan
from brain.requests import _WIDE_SCOPE, ExplicitRequest, parse
from brain.tools import radios_from_values
from core.models import Actor, Change, Device, Operation, ProposalDraft
from core.services import CoreServices
from core.store import repo
from core.store.schema import DeviceRow, WifiNeighborRow

Scope = Literal["building", "neighbourhood"]
Band = Literal["2.4GHz", "5GHz"]

_I = re.IGNORECASE
# Where the request reaches: the building (EN/DE/FR/ES) or the neighbourhood (the same upstream).
_BUILDING = re.compile(r"\b(building|block of flats|apartment block|(the|this|whole) block|all (the )?flats|"
                       r"gebäude\w*|wohnblock|mehrfamilienhaus|ganzen haus|immeuble|bâtiment|batiment|résidence|"
                       r"edificio|bloque)\b", _I)
_NEIGHBOURHOOD = re.compile(r"\b(neighbou?rhood|neighbou?ring (homes|houses|flats)|whole street|the street|"
                            r"nachbarschaft|viertel|ganzen straße|quartier|voisinage|toute la rue|barrio|"
                            r"vecindario|toda la calle)\b", _I)
# A joint plan is about the air: channels, interference, the Wi-Fi itself.
_AIR = re.compile(r"channel|kanal|canal|canaux|interf[eé]r|st[öo]r|wi-?fi|wlan|wireless|funk|sans[- ]fil|r[ée]seau|"
                  r"inal[áa]mbric|red\b|overlap|überlapp|chevauch|solap", _I)
_QUANT = re.compile(r"\b(all|every|each|alle[nms]?|sämtliche\w*|jede[mnrs]?|tou(te)?s|chaque|todos|todas|cada)\b", _I)
_WIDE = re.compile(r"\b(on |auf |sur |en )?(all|every|each|alle[nms]?|tou(te)?s les|todos los|todas las)\b[^.?!]{0,25}?"
                   r"\b(devices?|gateways?|routers?|boxes|homes?|flats?|geräte\w*|boxen|appareils|box|equipos|"
                   r"dispositivos|routeurs?)\b", _I)
_UPGRADE = re.compile(r"firmware[- ]?(upgrade|update)|upgrade|update|aktualisier|mise à jour|mettre à jour|"
                      r"actualiz", _I)
_5G_SIGNS = re.compile(r"\b5\s*-?\s*(ghz|g)\b", _I)
_24_SIGNS = re.compile(r"\b2[.,]4\s*-?\s*(ghz|g)\b", _I)

# 5 GHz primaries by width, one per bonded block, non-DFS blocks first (the DFS ones follow in order).
_PRIMARIES_5 = {20: (36, 40, 44, 48, 149, 153, 157, 161, 165, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124,
                     128, 132, 136, 140, 144),
                40: (36, 44, 149, 157, 52, 60, 100, 108, 116, 124, 132, 140),
                80: (36, 149, 52, 100, 116, 132)}
# A managed neighbour heard below this is too faint to constrain the plan (around preamble detect).
EDGE_MIN_DBM = -82.0
# Canary, then cumulative rings: the shape every chat-drafted campaign starts from (policy may ask for stricter).
CANARY_PCT = 1.0
RINGS = [10.0, 50.0, 100.0]


def scope_of(text: str) -> Scope | None:
    """The building or the neighbourhood, when the request is about the air they share."""
    if not _AIR.search(text):
        return None
    if _BUILDING.search(text):
        return "building"
    if _NEIGHBOURHOOD.search(text):
        return "neighbourhood"
    return None


# ============================================================================ the joint channel plan


class Assignment(BaseModel):
    device_id: str
    radio: int
    current: int | None
    channel: int
    dfs: bool
    colour: int
    conflicts: list[str] = Field(default_factory=list, description="adjacent homes left on the same channel")


class JointPlan(BaseModel):
    """One plan for the homes together: who hears whom, and which channel each one gets."""

    scope: Scope
    scope_id: str
    band: Band
    width_mhz: int
    homes: list[str]
    edges: list[tuple[str, str]]
    assignments: list[Assignment]
    colours: int
    drafts: list[ProposalDraft] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="data-model issues found while drafting")

    @property
    def conflicts(self) -> int:
        return sum(len(a.conflicts) for a in self.assignments) // 2

    @property
    def moves(self) -> list[Assignment]:
        """The homes whose channel changes (the proposal's targets)."""
        return [a for a in self.assignments if a.current != a.channel]

    @property
    def conflicts_resolved(self) -> int:
        """Adjacent pairs on the same channel now that the plan puts on different channels."""
        by_id = {a.device_id: a for a in self.assignments}
        return sum(1 for a, b in self.edges
                   if by_id[a].current is not None and by_id[a].current == by_id[b].current
                   and by_id[a].channel != by_id[b].channel)

    def summary(self) -> str:
        moves = self.moves
        lines = [f"{a.device_id}: {a.current if a.current is not None else '?'} → {a.channel}"
                 + (" (DFS)" if a.dfs else "") for a in moves[:20]]
        head = (f"Joint {self.band} channel plan for {self.scope} {self.scope_id}: {len(self.homes)} homes, "
                f"{len(self.edges)} pairs that hear each other, {self.colours} channel(s) needed; "
                f"{len(moves)} home(s) change channel, resolving {self.conflicts_resolved} clash(es) "
                "between adjacent homes")
        clash = (f"; {self.conflicts} adjacent pair(s) must still share a channel (the band has too few)"
                 if self.conflicts else "; no two adjacent homes share a channel")
        issues = ("\nBefore submitting, these homes cannot take the plan as drafted: " + "; ".join(self.problems[:3])
                  if self.problems else "")
        return head + clash + (":\n" + "\n".join(lines) if lines else ".") + issues


def _tag(dev: DeviceRow, prefix: str) -> str | None:
    return next((t.split(":", 1)[1] for t in (dev.tags or []) if str(t).startswith(prefix)), None)


def homes_in_scope(s: Session, device_id: str, scope: Scope) -> tuple[str, list[DeviceRow]]:
    """The device's building (its ``building:`` tag) or neighbourhood (its upstream), active devices only."""
    dev = s.get(DeviceRow, device_id)
    if dev is None:
        raise LookupError(f"unknown device {device_id!r}")
    rows = [r for r in s.scalars(select(DeviceRow).where(DeviceRow.status == "active"))]
    if scope == "building":
        bld = _tag(dev, "building:")
        if bld is None:
            return "", [dev]
        return bld, sorted((r for r in rows if _tag(r, "building:") == bld), key=lambda r: r.id)
    if dev.upstream_id is None:
        return "", [dev]
    return dev.upstream_id, sorted((r for r in rows if r.upstream_id == dev.upstream_id), key=lambda r: r.id)


def interference_graph(s: Session, homes: Sequence[str], band: str, *, min_dbm: float = EDGE_MIN_DBM) -> nx.Graph:
    """Homes as nodes; an edge where one hears the other on ``band`` at or above ``min_dbm``
    (weight: the louder of the two directions)."""
    g: nx.Graph = nx.Graph()
    g.add_nodes_from(homes)
    ids = set(homes)
    rows = s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.device_id.in_(list(ids)),
                                                   WifiNeighborRow.neighbor_device_id.in_(list(ids)),
                                                   WifiNeighborRow.band == band))
    for r in rows:
        if r.neighbor_device_id is None or r.neighbor_device_id == r.device_id or float(r.rssi_dbm) < min_dbm:
            continue
        prev = g.get_edge_data(r.device_id, r.neighbor_device_id, {}).get("rssi_dbm", -200.0)
        g.add_edge(r.device_id, r.neighbor_device_id, rssi_dbm=max(prev, float(r.rssi_dbm)))
    return g


def _radio(params: dict[str, Any], band: str) -> Any:
    return next((r for r in radios_from_values(params) if r.band == band), None)


def _palette(band: str, width: int, rules: ChannelRules | None, possible: set[int]) -> list[int]:
    """Channels in preference order: permitted by policy for the region and supported by every
    home's radio, non-DFS first; DFS only where the region allows it."""
    base = (1, 6, 11) if band == "2.4GHz" else _PRIMARIES_5[80 if width >= 80 else 40 if width >= 40 else 20]
    out = [c for c in base if (not possible or c in possible)]
    if rules is not None:
        out = [c for c in out if rules.permitted(c)]
    return sorted(out, key=lambda c: bool(rules is not None and rules.is_dfs(c)))  # stable: non-DFS first


def joint_channel_plan(s: Session, device_id: str, scope: Scope, band: Band, policy_data: dict[str, Any]) -> JointPlan:
    """Colour the homes' interference graph (DSATUR) and give each colour a channel."""
    scope_id, rows = homes_in_scope(s, device_id, scope)
    snaps = repo.latest_snapshots(s, [r.id for r in rows])
    radios = {r.id: _radio(snaps.get(r.id) or {}, band) for r in rows}
    homes = [r.id for r in rows if radios[r.id] is not None]
    region = next((r.region for r in rows if r.id == device_id), rows[0].region if rows else "EU")
    width = max((width_mhz(radios[h].bandwidth) for h in homes), default=20) if band == "5GHz" else 20
    possible: set[int] = set()
    for chans in (set(radios[h].possible) for h in homes if radios[h].possible):
        possible = chans if not possible else possible & chans
    rules = rules_for(policy_data, region, band)
    palette = _palette(band, width, rules, possible)
    g = interference_graph(s, homes, band)
    colouring = nx.greedy_color(g, strategy="saturation_largest_first") if homes else {}
    colours = max(colouring.values(), default=-1) + 1
    chosen: dict[str, int] = {}
    assignments = []
    for h in sorted(homes, key=lambda x: (colouring[x], x)):
        colour = colouring[h]
        channel = _channel_for(g, h, colour, palette, chosen, radios[h].channel)
        chosen[h] = channel
        assignments.append(Assignment(device_id=h, radio=radios[h].index, current=radios[h].channel, channel=channel,
                                      dfs=bool(rules is not None and rules.is_dfs(channel)), colour=colour))
    assignments.sort(key=lambda a: a.device_id)
    by_id = {a.device_id: a for a in assignments}
    for a, b in g.edges():
        if by_id[a].channel == by_id[b].channel:
            by_id[a].conflicts.append(b)
            by_id[b].conflicts.append(a)
    plan = JointPlan(scope=scope, scope_id=scope_id or device_id, band=band, width_mhz=width, homes=homes,
                     edges=sorted(tuple(sorted(e)) for e in g.edges()),
                     assignments=assignments, colours=colours)
    plan.drafts = _drafts(plan)
    plan.problems = _validate(s, plan.drafts)
    return plan


def _validate(s: Session, drafts: Sequence[ProposalDraft]) -> list[str]:
    """Each draft against each target's data model now, so the plan never lists a change a home
    cannot take (the lifecycle validates again on submit)."""
    from core.models import changes_for
    from core.validation import validate_changes

    ids = sorted({t for d in drafts for t in d.targets})
    devices = repo.get_devices(s, ids) if ids else {}
    out: list[str] = []
    for d in drafts:
        for t in d.targets:
            dev = devices.get(t)
            if dev is None:
                out.append(f"{t}: unknown device")
                continue
            out += [f"{t}: {i.message}" for i in validate_changes(dev, changes_for(d.changes, t))]
    return out


def _channel_for(g: nx.Graph, home: str, colour: int, palette: Sequence[int], chosen: dict[str, int],
                 current: int | None) -> int:
    """The colour's channel while the band has one per colour; beyond that (a dense building on
    2.4 GHz has only 1/6/11), the palette channel where the already-planned adjacent homes are
    quietest, so the unavoidable sharing lands on the faintest pairs."""
    if not palette:
        return int(current or 0)
    if colour < len(palette):
        return palette[colour]

    def load(ch: int) -> float:
        return sum(10 ** (float(g.edges[home, n]["rssi_dbm"]) / 10) for n in g.neighbors(home) if chosen.get(n) == ch)
    return min(palette, key=lambda ch: (load(ch), palette.index(ch)))


def _drafts(plan: JointPlan) -> list[ProposalDraft]:
    """The plan as ONE multi-device draft: every moving home gets its own channel (and its
    AutoChannelEnable off) as changes targeted at it; an empty list when no home moves."""
    moves = plan.moves
    if not moves:
        return []
    changes: list[Change] = []
    for a in moves:
        changes += [Change(path=f"Device.WiFi.Radio.{a.radio}.Channel", value=a.channel, target=a.device_id),
                    Change(path=f"Device.WiFi.Radio.{a.radio}.AutoChannelEnable", value=False, target=a.device_id)]
    return [ProposalDraft(
        intent=(f"joint {plan.band} channel plan for {plan.scope} {plan.scope_id}: {len(moves)} device(s), "
                f"{plan.conflicts_resolved} conflict(s) resolved")[:300],
        targets=[a.device_id for a in moves], source="chat", changes=changes,
        rationale=(f"DSATUR colouring of the {len(plan.homes)}-home interference graph "
                   f"({len(plan.edges)} edges, {plan.colours} colours); non-DFS channels first; "
                   f"{len(moves)} device(s) change channel, each to its own; {plan.conflicts_resolved} adjacent "
                   f"pair(s) no longer share a channel, {plan.conflicts} still must"))]


def joint_draft(plans: Sequence[JointPlan]) -> ProposalDraft | None:
    """Every band's plan for the same homes as ONE proposal draft (targets: every home that moves
    on any band, each with its own values); None when no home moves."""
    drafts = [d for p in plans for d in p.drafts]
    if not drafts:
        return None
    if len(drafts) == 1:
        return drafts[0]
    targets = list(dict.fromkeys(t for d in drafts for t in d.targets))
    resolved = sum(p.conflicts_resolved for p in plans)
    scope = plans[0]
    return ProposalDraft(
        intent=(f"joint channel plan ({', '.join(p.band for p in plans)}) for {scope.scope} {scope.scope_id}: "
                f"{len(targets)} device(s), {resolved} conflict(s) resolved")[:300],
        targets=targets, source="chat", changes=[c for d in drafts for c in d.changes],
        rationale="\n".join(f"{p.band}: {d.rationale}" for p in plans for d in p.drafts))


def band_of(text: str) -> list[Band]:
    """Bands the request names; both when it names none."""
    bands: list[Band] = []
    if _24_SIGNS.search(text):
        bands.append("2.4GHz")
    if _5G_SIGNS.search(text):
        bands.append("5GHz")
    return bands or ["2.4GHz", "5GHz"]


# ============================================================================ fleet slices → campaign drafts


class SliceRequest(BaseModel):
    model: str
    firmware: str | None = None
    devices: int
    action: ExplicitRequest | None = None
    upgrade: bool = False


def fleet_slice(s: Session, text: str) -> SliceRequest | None:
    """"All of model X (on firmware Y)" in any of the four languages: a model the fleet has, named
    after a quantifier, and optionally one of its firmware versions."""
    if not _QUANT.search(text):
        return None
    pairs = {(m, f) for m, f in s.execute(select(DeviceRow.model, DeviceRow.firmware)
                                          .where(DeviceRow.status == "active")).all()}
    low = text.lower()
    models = sorted({m for m, _ in pairs if m and m.lower() in low}, key=len, reverse=True)
    if not models:
        return None
    model = models[0]
    firmwares = sorted({f for m, f in pairs if m == model and f and f.lower() in low}, key=len, reverse=True)
    firmware = firmwares[0] if firmwares else None
    n = sum(1 for _ in s.scalars(select(DeviceRow.id).where(DeviceRow.status == "active", DeviceRow.model == model,
                                                           *([DeviceRow.firmware == firmware] if firmware else []))))
    rest = re.sub(re.escape(model), " ", text, flags=_I)
    if firmware:
        rest = re.sub(re.escape(firmware), " ", rest, flags=_I)
    rest = _WIDE_SCOPE.sub(" ", rest)  # "todos los", "all devices": the scope, not the action ("report every 60 s")
    return SliceRequest(model=model, firmware=firmware, devices=n, action=parse(rest),
                        upgrade=bool(_UPGRADE.search(rest)))


def _slice_changes(s: Session, sl: SliceRequest) -> tuple[list[Change], list[Operation]] | None:
    """The change set for the whole slice; radio indices from a sample device of that model."""
    req = sl.action
    if req is None:
        return None
    if req.action == "reboot":
        return [], [Operation(command="reboot")]
    if req.action == "inform_interval":
        return [Change(path="Device.ManagementServer.PeriodicInformInterval", value=req.value or 0)], []
    if req.action == "dns":
        return [Change(path=f"Device.DNS.Client.Server.{i}.DNSServer", value=v)
                for i, v in enumerate(req.servers, start=1)], []
    if req.action in ("channel", "width", "power", "band_enable") and req.band is not None:
        sample = s.scalar(select(DeviceRow.id).where(DeviceRow.model == sl.model).limit(1))
        radio = _radio(repo.latest_snapshot(s, sample) or {}, req.band) if sample else None
        if radio is None:
            return None
        leaf = {"channel": "Channel", "width": "OperatingChannelBandwidth", "power": "TransmitPower",
                "band_enable": "Enable"}[req.action]
        changes = [Change(path=f"Device.WiFi.Radio.{radio.index}.{leaf}", value=req.value if req.value is not None
                          else True)]
        if req.action == "channel":
            changes.append(Change(path=f"Device.WiFi.Radio.{radio.index}.AutoChannelEnable", value=False))
        return changes, []
    return None


def campaign_draft(s: Session, sl: SliceRequest) -> dict[str, Any] | None:
    """A validated :class:`campaigns.spec.CampaignSpec` (as JSON) for the slice, or None when the
    request names no action Gateward can roll out."""
    from campaigns.spec import parse_spec

    built = _slice_changes(s, sl)
    if built is None:
        return None
    changes, operations = built
    what = f"model={sl.model}" + (f", firmware={sl.firmware}" if sl.firmware else "")
    spec = parse_spec({
        "name": f"chat: {sl.action.action if sl.action else 'change'} on {what}"[:120],
        "intent": f"{sl.action.action if sl.action else 'change'} on every {what} (drafted in chat)"[:300],
        "target": {"model": sl.model, "firmware": sl.firmware},
        "changes": [c.model_dump(mode="json", exclude_none=True) for c in changes],
        "operations": [o.model_dump(mode="json") for o in operations],
        "canary_pct": CANARY_PCT, "rings": RINGS,
    })
    return spec.model_dump(mode="json", exclude_defaults=False)


# ============================================================================ the planner's entry


def plan_for(s: Session, device: Device, text: str, policy_data: dict[str, Any]) -> Plan | None:
    """The plan for a request beyond this gateway, or None when the request is about this gateway.
    A fleet slice is checked first ("all PX-7000 in the building" is still a slice of the fleet)."""
    sl = fleet_slice(s, text)
    if sl is not None:
        return _slice_plan(s, sl)
    scope = scope_of(text)
    if scope is None or _names_a_value(text):
        return None
    plans = [joint_channel_plan(s, device.id, scope, band, policy_data) for band in band_of(text)]
    plans = [p for p in plans if p.homes]
    if not plans or max(len(p.homes) for p in plans) < 2:
        where = "building" if scope == "building" else "upstream (neighbourhood)"
        return Plan(outcome="answer", finding="joint_plan_alone", text=(
            f"I know of no other gateway of ours in this {where}, so there is nothing to plan jointly; "
            "ask about this gateway's Wi-Fi and I will diagnose it."))
    text_out = "\n\n".join(p.summary() for p in plans)
    draft = joint_draft(plans)
    data: dict[str, Any] = {"joint_plan": [p.model_dump(mode="json") for p in plans]}
    if draft is None:
        return Plan(outcome="answer", finding="joint_channel_plan", data=data,
                    text=text_out + "\nEvery home is already on its planned channel; nothing to change.")
    tail = ("\nNothing was changed. Together this is one plan over "
            f"{len({h for p in plans for h in p.homes})} homes, drafted as ONE proposal in which each of the "
            f"{len(draft.targets)} moving home(s) gets its own channel. Reply 'yes' to submit it: it is then "
            "validated, previewed and decided by policy as a whole, and applied only with its confirmation or "
            "approval.")
    return Plan(outcome="question", finding="joint_channel_plan", text=text_out + tail,
                data={**data, "pending": "joint_plan", "missing": ["confirm"]})


def submit_joint_plan(runtime: CoreServices, device: Device, text: str, actor: Actor) -> Plan:
    """The agent confirmed a joint plan: re-plan from the current state (the air may have changed
    since it was shown) and submit every draft through the lifecycle — validation, preview and
    policy; nothing is applied here."""
    from brain.knowledge import policy_data
    from core.errors import GatewardError

    with runtime.store.read() as s:
        plan = plan_for(s, device, text, policy_data(runtime.policy))
    joint = [JointPlan.model_validate(jp) for jp in ((plan.data.get("joint_plan") if plan is not None else None)
                                                     or [])]
    d = joint_draft(joint)
    if d is None:
        return Plan(outcome="answer", finding="joint_plan_unchanged",
                    text="Re-planned from the current state: every home is already on its planned channel.")
    try:
        p = runtime.lifecycle.submit(d, actor)
        out: dict[str, Any] = {"proposal_id": p.id, "state": str(p.state), "targets": list(p.targets), "error": p.error}
    except GatewardError as exc:
        out = {"proposal_id": None, "state": "refused", "targets": list(d.targets), "error": exc.message}
    resolved = sum(jp.conflicts_resolved for jp in joint)
    line = (f"{out['proposal_id'] or '—'}: {out['state']} ({len(out['targets'])} device(s), {resolved} "
            "conflict(s) resolved)" + (f" — {out['error']}" if out["error"] else ""))
    advice = _denial_advice(runtime, out["proposal_id"], joint) if out["state"] == "denied" else None
    if advice is not None:
        return Plan(outcome="answer", finding="joint_plan_denied", data={"proposals": [out]},
                    text=advice + "\n" + line)
    return Plan(outcome="answer", finding="joint_plan_submitted", data={"proposals": [out]}, text=(
        "Submitted the joint plan as ONE proposal, each home with its own channel; nothing is applied until it "
        "is confirmed or approved (`gateward show` / `gateward apply`):\n" + line))


def _denial_advice(runtime: CoreServices, pid: str | None, joint: Sequence[JointPlan]) -> str | None:
    """Which rule denied the submitted plan and what to do instead (``brain.denials``), read from
    the stored decision's deny codes; None for a denial it has no advice for."""
    from brain import denials
    from brain.knowledge import policy_data

    if pid is None:
        return None
    with runtime.store.read() as s:
        row = repo.latest_decision(s, pid)
    if row is None:
        return None
    deny = repo.decision_from_row(row).decision.deny_items
    roles = (policy_data(runtime.policy).get("roles") or {}).get("roles") or {}
    return denials.explain(deny, joint, roles)


def _names_a_value(text: str) -> bool:
    """"Set channel 165 on all devices in the building" names one value for every home: that is not
    a plan to colour (it would put every adjacent home on the same channel, or silently rewrite the
    value); it goes the single-gateway way, where the requested value is checked and never rewritten."""
    req = parse(_BUILDING.sub(" ", _NEIGHBOURHOOD.sub(" ", _WIDE.sub(" ", text))))
    return req is not None and req.value is not None


def _slice_plan(s: Session, sl: SliceRequest) -> Plan:
    what = f"every {sl.model}" + (f" on firmware {sl.firmware}" if sl.firmware else "")
    if sl.devices == 0:
        return Plan(outcome="answer", finding="fleet_slice_empty",
                    text=f"No active gateway matches {what}; check the model and firmware with `gateward devices`.")
    spec = campaign_draft(s, sl)
    if spec is None:
        need = ("the approved firmware image (URL and version) for a firmware campaign" if sl.upgrade
                else "which change to roll out (e.g. an inform interval, DNS servers, a channel or a reboot)")
        return Plan(outcome="question", finding="fleet_slice", text=(
            f"That is {sl.devices} gateway(s) ({what}): it becomes a campaign, never a bulk change from chat. "
            f"Tell me {need}."), data={"slice": sl.model_dump(mode="json")})
    stages = " → ".join([f"canary {CANARY_PCT:g}%", *(f"{r:g}%" for r in RINGS)])
    return Plan(outcome="answer", finding="campaign_draft", text=(
        f"{what} is {sl.devices} gateway(s): that is a fleet rollout, not a chat change. I drafted a campaign "
        f"({stages}, each ring gated on failures before the next) — nothing was changed. It needs approval: "
        "create it with `gateward campaign create`, where policy decides the approvers and may ask for a "
        "stricter plan."), data={"campaign_draft": spec, "slice": sl.model_dump(mode="json")})
