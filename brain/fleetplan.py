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
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from brain import charts
from brain.channels import ChannelRules, rules_for, width_mhz
from brain.plan import Plan
from brain.tools import radios_from_values
from brain.understanding.actions import _WIDE_SCOPE, ExplicitRequest, parse
from brain.understanding.durations import unit_seconds
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, Change, Device, Operation, ProposalDraft
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
                            r"(this|that|her|his|their|our) street|nachbarschaft|viertel|ganzen straße|"
                            r"(der|die|dieser|diese) straße|quartier|voisinage|toute la rue|(la|cette) rue|barrio|"
                            r"vecindario|toda la calle|(la|esta) calle)\b", _I)
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
# A foreign (unmanaged) access point heard at or above this is loud enough that a home should not be
# planned onto its channel when a free one exists.
LOUD_FOREIGN_DBM = -70.0
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
    width: str | None = Field(None, description="the new OperatingChannelBandwidth when the plan narrows it")
    current_width: str | None = None
    note: str | None = Field(None, description="why the channel is kept although a loud foreign AP uses it")


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
    narrowed_from: int | None = Field(None, description="the width before the plan narrowed it to stay off DFS")
    stored: list[str] = Field(default_factory=list, description="homes not readable live: planned from stored values")

    @property
    def conflicts(self) -> int:
        return sum(len(a.conflicts) for a in self.assignments) // 2

    @property
    def moves(self) -> list[Assignment]:
        """The homes whose channel changes (the proposal's targets)."""
        return [a for a in self.assignments if a.current != a.channel or a.width is not None]

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
                 + (" (DFS)" if a.dfs else "") + (f", width {a.current_width} → {a.width}" if a.width else "")
                 + (f" — {a.note}" if a.note else "") for a in moves[:20]]
        head = (f"Joint {self.band} channel plan for {self.scope} {self.scope_id}: {len(self.homes)} homes, "
                f"{len(self.edges)} pairs that hear each other, {self.colours} channel(s) needed; "
                f"{len(moves)} home(s) change channel, resolving {self.conflicts_resolved} clash(es) "
                "between adjacent homes")
        clash = (f"; {self.conflicts} adjacent pair(s) must still share a channel (the band has too few)"
                 if self.conflicts else "; no two adjacent homes share a channel")
        live = (f"Planned from the channels the homes use now (read live){self._stored_note()}. "
                if self.assignments else "")
        narrow = (f" Narrowed from {self.narrowed_from} to {self.width_mhz} MHz so that every home gets a "
                  "non-DFS channel (no radar moves) while no two adjacent homes share one."
                  if self.narrowed_from else "")
        dfs = sum(1 for a in moves if a.dfs)
        dfs_note = (f" {dfs} home(s) need a DFS channel: the band has too few non-DFS channels for this building "
                    "even at 20 MHz; radar can force those off again." if dfs else "")
        issues = ("\nBefore submitting, these homes cannot take the plan as drafted: " + "; ".join(self.problems[:3])
                  if self.problems else "")
        return (live + head + clash + "." + narrow + dfs_note + (":\n" + "\n".join(lines) if lines else "")
                + issues)

    def _stored_note(self) -> str:
        if not self.stored:
            return ""
        return (f"; {len(self.stored)} home(s) could not be read live and are planned from stored values: "
                + ", ".join(self.stored[:5]))


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


def _block(band: str, primary: int, width: int) -> set[int]:
    """The 20 MHz channels a home on ``primary`` at ``width`` occupies (2.4 GHz: those within 4)."""
    if band == "2.4GHz":
        return set(range(primary - 4, primary + 5))
    return {primary + 4 * i for i in range(max(1, width // 20))}


def _radios_now(s: Session, rows: Sequence[DeviceRow], band: str,
                runtime: CoreServices | None) -> tuple[dict[str, Any], list[str]]:
    """Each home's radio on ``band`` as it is NOW: read live through the executor (the stored
    snapshot may be days old — a plan from it counts the wrong clashes and moves the wrong homes);
    a home that cannot be read live is planned from its stored values and named."""
    from core.kernel.ports.executor import ExecutorError

    snaps = repo.latest_snapshots(s, [r.id for r in rows])
    out: JsonObject = {}
    stored: list[str] = []
    devices = repo.get_devices(s, [r.id for r in rows]) if runtime is not None else {}
    for r in rows:
        values: JsonObject | None = None
        dev = devices.get(r.id)
        if runtime is not None and dev is not None:
            try:
                read = runtime.router.reader(dev).read(dev, ["Device.WiFi.Radio."])
                values = {p: {"value": pv.value} for p, pv in read.items()}
            except ExecutorError:
                values = None
        if values is None or _radio(values, band) is None:
            if runtime is not None:
                stored.append(r.id)
            values = snaps.get(r.id) or {}
        out[r.id] = _radio(values, band)
    return out, stored


def _foreign(s: Session, homes: Sequence[str], band: str) -> dict[str, list[tuple[int, float, str]]]:
    """Loud access points each home hears that are not one of the planned homes (channel, dBm, SSID)."""
    ids = set(homes)
    out: dict[str, list[tuple[int, float, str]]] = {h: [] for h in homes}
    rows = s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.device_id.in_(list(ids)),
                                                   WifiNeighborRow.band == band))
    for r in rows:
        if r.neighbor_device_id in ids or r.channel is None or float(r.rssi_dbm) < LOUD_FOREIGN_DBM:
            continue
        out[r.device_id].append((int(r.channel), float(r.rssi_dbm), str(r.ssid or "hidden")))
    return out


Heard = tuple[int, float, str]


def _loud_on(foreign: list[Heard], band: str, channel: int, width: int) -> list[Heard]:
    block = _block(band, channel, width)
    return sorted((f for f in foreign if f[0] in block), key=lambda f: -f[1])


def _narrow_for_non_dfs(band: str, width: int, colours: int, rules: ChannelRules | None,
                        possible: set[int]) -> int:
    """The widest width (not above the current one) at which the band's non-DFS channels cover every
    colour, so a building is planned without radar-prone channels; the current width when none does."""
    if band != "5GHz" or rules is None:
        return width
    for w in (w for w in (80, 40, 20) if w <= width):
        if sum(1 for c in _palette(band, w, rules, possible) if not rules.is_dfs(c)) >= colours:
            return w
    return width


def joint_channel_plan(s: Session, device_id: str, scope: Scope, band: Band, policy_data: dict[str, Any],
                       runtime: CoreServices | None = None) -> JointPlan:
    """Colour the homes' interference graph (DSATUR) and give each colour a channel, from the
    homes' live channels: non-DFS first (narrowing the width when that keeps every home off DFS),
    and away from a loud foreign access point where a free channel allows (else the reply says so)."""
    scope_id, rows = homes_in_scope(s, device_id, scope)
    radios, stored = _radios_now(s, rows, band, runtime)
    homes = [r.id for r in rows if radios[r.id] is not None]
    region = next((r.region for r in rows if r.id == device_id), rows[0].region if rows else "EU")
    width = max((width_mhz(radios[h].bandwidth) for h in homes), default=20) if band == "5GHz" else 20
    possible: set[int] = set()
    for chans in (set(radios[h].possible) for h in homes if radios[h].possible):
        possible = chans if not possible else possible & chans
    rules = rules_for(policy_data, region, band)
    g = interference_graph(s, homes, band)
    colouring = nx.greedy_color(g, strategy="saturation_largest_first") if homes else {}
    colours = max(colouring.values(), default=-1) + 1
    planned_width = _narrow_for_non_dfs(band, width, colours, rules, possible)
    palette = _palette(band, planned_width, rules, possible)
    foreign = _foreign(s, homes, band)
    by_colour = _colour_channels(band, planned_width, colouring, colours, palette, foreign, rules)
    chosen: dict[str, int] = {}
    assignments = []
    for h in sorted(homes, key=lambda x: (colouring[x], x)):
        colour = colouring[h]
        channel = by_colour.get(colour) or _channel_for(g, h, colour, palette, chosen, radios[h].channel)
        channel, note = _away_from_foreign(g, h, channel, palette, chosen, foreign[h], band, planned_width, rules)
        chosen[h] = channel
        narrowed = planned_width < width_mhz(radios[h].bandwidth) and band == "5GHz"
        assignments.append(Assignment(device_id=h, radio=radios[h].index, current=radios[h].channel, channel=channel,
                                      dfs=bool(rules is not None and rules.is_dfs(channel)), colour=colour,
                                      width=f"{planned_width}MHz" if narrowed else None,
                                      current_width=radios[h].bandwidth if narrowed else None, note=note))
    assignments.sort(key=lambda a: a.device_id)
    by_id = {a.device_id: a for a in assignments}
    for a, b in g.edges():
        if by_id[a].channel == by_id[b].channel:
            by_id[a].conflicts.append(b)
            by_id[b].conflicts.append(a)
    plan = JointPlan(scope=scope, scope_id=scope_id or device_id, band=band, width_mhz=planned_width, homes=homes,
                     edges=sorted(tuple(sorted(e)) for e in g.edges()),
                     assignments=assignments, colours=colours,
                     narrowed_from=width if planned_width < width else None, stored=stored)
    plan.drafts = _drafts(plan)
    plan.problems = _validate(s, plan.drafts)
    return plan


def _colour_channels(band: str, width: int, colouring: dict[str, int], colours: int, palette: Sequence[int],
                     foreign: dict[str, list[tuple[int, float, str]]], rules: ChannelRules | None) -> dict[int, int]:
    """One palette channel per colour (while the palette lasts), non-DFS first, each colour class
    on the channel where its homes hear the fewest loud foreign access points."""
    free = list(palette)
    out: dict[int, int] = {}
    for colour in range(min(colours, len(palette))):
        members = [h for h, c in colouring.items() if c == colour]

        def cost(ch: int, members: list[str] = members) -> tuple[bool, int, int]:
            loud = sum(len(_loud_on(foreign.get(h, []), band, ch, width)) for h in members)
            return (bool(rules is not None and rules.is_dfs(ch)), loud, palette.index(ch))
        best = min(free, key=cost)
        out[colour] = best
        free.remove(best)
    return out


def _away_from_foreign(g: nx.Graph, home: str, channel: int, palette: Sequence[int], chosen: dict[str, int],
                       foreign: list[tuple[int, float, str]], band: str, width: int,
                       rules: ChannelRules | None) -> tuple[int, str | None]:
    """Keep ``channel`` unless a loud foreign AP uses it; then a palette channel no adjacent home
    has and no loud AP uses (non-DFS first, and no DFS in place of a non-DFS one); when there is
    none, keep it and say why."""
    loud = _loud_on(foreign, band, channel, width)
    if not loud:
        return channel, None
    taken = {chosen[n] for n in g.neighbors(home) if n in chosen}
    dfs_ok = bool(rules is not None and rules.is_dfs(channel))
    for ch in palette:
        if ch in taken or (rules is not None and rules.is_dfs(ch) and not dfs_ok):
            continue
        if not _loud_on(foreign, band, ch, width):
            return ch, None
    ch_, dbm, ssid = loud[0]
    return channel, (f"a foreign AP '{ssid}' is on {ch_} at {dbm:g} dBm here; no free channel avoids it "
                     "without a clash with an adjacent home or a DFS channel")


def _channel_for(g: nx.Graph, home: str, colour: int, palette: Sequence[int], chosen: dict[str, int],
                 current: int | None) -> int:
    """Beyond the palette (a dense building on 2.4 GHz has only 1/6/11), the palette channel where
    the already-planned adjacent homes are quietest, so the unavoidable sharing lands on the
    faintest pairs."""
    if not palette:
        return int(current or 0)
    if colour < len(palette):
        return palette[colour]

    def load(ch: int) -> float:
        return sum(10 ** (float(g.edges[home, n]["rssi_dbm"]) / 10) for n in g.neighbors(home) if chosen.get(n) == ch)
    return min(palette, key=lambda ch: (load(ch), palette.index(ch)))


def _validate(s: Session, drafts: Sequence[ProposalDraft]) -> list[str]:
    """Each draft against each target's data model now, so the plan never lists a change a home
    cannot take (the lifecycle validates again on submit)."""
    from core.kernel.models import changes_for
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
        if a.width is not None:
            changes.append(Change(path=f"Device.WiFi.Radio.{a.radio}.OperatingChannelBandwidth", value=a.width,
                                  target=a.device_id))
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
    region: str | None = None
    devices: int
    unknown_place: str | None = None  # a place named that is no region the inventory has ("Portugal")
    action: ExplicitRequest | None = None
    topic: str | None = Field(None, description="the action named without a value (a later message gives it)")
    upgrade: bool = False

    def describe(self) -> str:
        return (f"every {self.model}" + (f" on firmware {self.firmware}" if self.firmware else "")
                + (f" in region {self.region}" if self.region else ""))


# Region names as agents write them (EN/DE/FR/ES), mapped to the fleet's region codes; a bare code
# ("in DE", "en FR") counts only after a preposition, so "de" the Spanish word is never Germany.
_REGION_WORDS = {
    "DE": r"germany|deutschland|allemagne|alemania",
    "GB": r"uk|u\.k\.|united kingdom|great britain|britain|england|großbritannien|grossbritannien|vereinigten "
          r"königreich|england|royaume[- ]uni|angleterre|reino unido|inglaterra|gran bretaña",
    "FR": r"france|frankreich|francia",
    "US": r"usa|u\.s\.|united states|america|vereinigten staaten|états[- ]unis|etats[- ]unis|estados unidos",
}
_PREP = r"(in|im|en|au|aux|on|auf|de|del)\s+(the\s+|der\s+|la\s+|le\s+)?"
# "all of them", "them all", "sie alle", "tous", "mets-les", "todos", "ponlos": the slice the thread is about
_THEM = re.compile(r"\b(all of them|them all|each of them|every one of them|those|these|sie alle|alle davon|"
                   r"die alle|alle auf|-les|les tous|tous|toutes|todos|todas|\w+los\b|\w+las\b)", _I)


_INFORM_TOPIC = re.compile(r"inform", _I)
_VALUE = re.compile(r"\b(\d{2,6})\s*(s|secs?|seconds?|sekunden|secondes|segundos|min\w*|h|hours?|stunden?|heures?|"
                    r"horas?)?\b", _I)


# A place as agents write it after a preposition: a capitalised name ("in Portugal", "en Belgique", "up in
# Scotland", "aus Österreich") — not a model, a firmware, a weekday or a month.
_PLACE = re.compile(r"\b(?:in|im|en|au|aux|à|a|near|bei|around|across|aus|de|del)\s+(?:the\s+|der\s+|la\s+|le\s+)?"
                    r"(?P<p>[A-ZÄÖÜÉÈ][a-zäöüßéèêàçñíóú'-]{2,}(?:[ -][A-Z][a-zäöüßéèêàçñíóú'-]+)?)")
_NOT_PLACE = re.compile(r"^(monday|tuesday|wednesday|thursday|friday|saturday|sunday|montag|dienstag|mittwoch|"
                        r"donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
                        r"lunes|martes|miércoles|jueves|viernes|sábado|domingo|january|february|march|april|may|june|"
                        r"july|august|september|october|november|december|januar|februar|märz|mai|juni|juli|oktober|"
                        r"dezember|the|der|die|das|le|la|les|el|los|las|wi-?fi|wlan|guest|gast)$", _I)


# An area written in lower case ("in the north region", "in rural areas", "dans le sud", "en la zona rural"):
# a compass point or a kind of area, or a word before "region"/"area"/"district" — read past, the slice was the
# model in every region.
_AREA = re.compile(
    r"\b(?:in|im|en|dans|au|aux)\s+(?:the\s+|der\s+|dem\s+|le\s+|la\s+|el\s+|les\s+|los\s+|las\s+)?(?P<p>"
    r"(?:(?:north|south|east|west)(?:ern)?|central|rural|urban|coastal|norden|süden|osten|westen|nord|sud|ouest|"
    r"norte|sur|oeste|centro)(?:\s+(?:regions?|areas?|zones?|parts?|districts?))?"
    r"|(?:zona|región|region|région|zone|gebiet)\s+(?:rural|urbana?|urbaine?|norte|sur|nord|sud|ländlich\w*)"
    r"|[a-zäöüéèñ][\w-]{2,}\s+(?:regions?|areas?|zones?|districts?|count(?:y|ies)|provinces?|bezirk|kreis|"
    r"départements?|provincias?))\b", _I)


def _unknown_place(text: str) -> str | None:
    """A place named after a preposition that is none of the region names the planner knows, or an area
    written in lower case."""
    for m in _PLACE.finditer(text):
        p = m.group("p")
        if _NOT_PLACE.match(p) or any(re.fullmatch(words, p, _I) for words in _REGION_WORDS.values()):
            continue
        return p
    area = _AREA.search(text)
    return area.group("p") if area else None


def _regions_named(text: str, regions: set[str]) -> list[str]:
    """Every region the request names: by name in any of the four languages (whether or not the fleet
    has it), or by a code of the fleet's after a preposition."""
    named = [code for code, words in _REGION_WORDS.items() if re.search(rf"\b({words})\b", text, _I)]
    named += [code for code in sorted(regions) if code not in named
              and re.search(rf"\b{_PREP}{re.escape(code)}\b", text)]  # the code itself, upper-case
    return named


def _region_in(text: str, regions: set[str]) -> str | None:
    """The region the request limits itself to, when the fleet has it."""
    return next((code for code in _regions_named(text, regions) if code in regions), None)


def _firmware_in(text: str, firmwares: set[str]) -> str | None:
    """The firmware the request names (see :func:`_firmware_part`)."""
    found = _firmware_part(text, firmwares)
    return found[0] if found else None


def _firmware_part(text: str, firmwares: set[str]) -> tuple[str, str] | None:
    """(firmware, the words that named it): the whole version, or a part an agent says for it — its
    leading version ("firmware 2.1" for 2.1.0.88, "7.2.6") or its suffix ("S105" for V3R017C10S105,
    "beta3") — when that part picks exactly one of the model's firmwares."""
    low = text.lower()
    whole = sorted((f for f in firmwares if f.lower() in low), key=len, reverse=True)
    if whole:
        return whole[0], whole[0]
    for tok in re.findall(r"[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]", text):
        t = tok.lower()
        if len(t) < 2 or not any(ch.isdigit() for ch in t):
            continue
        hits = {f for f in firmwares
                if re.match(rf"{re.escape(t)}(?![0-9])", f.lower())  # a leading version: 2.1 → 2.1.0.88, not 2.10
                or (f.lower().endswith(t) and len(f) > len(t)
                    and not (t[0].isdigit() and f.lower()[-len(t) - 1].isdigit()))}  # S105, not 05
        if len(hits) == 1:
            return hits.pop(), tok
    return None


def _slice_rows(s: Session, model: str, firmware: str | None, region: str | None) -> int:
    conds = [DeviceRow.status == "active", DeviceRow.model == model]
    if firmware:
        conds.append(DeviceRow.firmware == firmware)
    if region:
        conds.append(DeviceRow.region == region)
    return sum(1 for _ in s.scalars(select(DeviceRow.id).where(*conds)))


def fleet_slice(s: Session, text: str, previous: Mapping[str, Json] | None = None) -> SliceRequest | None:
    """"All of model X (on firmware Y) (in region Z)" in any of the four languages: a model the fleet
    has, named after a quantifier, optionally one of its firmware versions (whole, leading version
    or suffix) and a region. With ``previous`` (the slice the thread last drafted), "set all of them
    to 1800" is that slice with the new value."""
    rows = s.execute(select(DeviceRow.model, DeviceRow.firmware, DeviceRow.region)
                     .where(DeviceRow.status == "active")).all()
    low = text.lower()
    models = sorted({m for m, _, _ in rows if m and m.lower() in low}, key=len, reverse=True)
    if not models:
        return _followup(s, text, previous)
    if not _QUANT.search(text):
        return None
    model = models[0]
    rest = re.sub(re.escape(model), " ", text, flags=_I)
    part = _firmware_part(rest, {f for m, f, _ in rows if m == model and f})
    firmware = part[0] if part else None
    where = {r for m, f, r in rows if m == model and r and (firmware is None or f == firmware)}
    asked = _regions_named(rest, where)
    region = next((code for code in asked if code in where), None)
    place = None if asked else _unknown_place(rest)
    if place is not None:
        # "every PX-7000 in Portugal": a place the inventory has no region for is asked about, never dropped
        return SliceRequest(model=model, firmware=None, region=None, devices=_slice_rows(s, model, None, None),
                            unknown_place=place, topic=None)
    if asked and region is None:
        # a region where the model (on that firmware) has no gateway: the slice is empty, never the whole model
        return SliceRequest(model=model, firmware=firmware, region=asked[0], devices=0, topic=None)
    if len(asked) > 1 and where <= set(asked):
        region = None  # "egal ob UK oder Deutschland", "in the UK and Germany": every region the model is in
    named = _NAMED_FIRMWARE.search(rest)
    if part is None and named is not None:
        # a firmware the model does not run: the slice is empty, never silently the whole model
        return SliceRequest(model=model, firmware=named.group("v"), region=region, devices=0, topic=None)
    n = _slice_rows(s, model, firmware, region)
    if part:
        rest = re.sub(rf"(\b(firmware|fw|version|versión)\s+)?(?<![\w.]){re.escape(part[1])}(?![\w.])", " ", rest,
                      flags=_I)
    rest = _strip_qualifiers(rest)
    return SliceRequest(model=model, firmware=firmware, region=region, devices=n,
                        action=parse(rest) or _bare_inform(rest),
                        topic="inform_interval" if _INFORM_TOPIC.search(rest) else None,
                        upgrade=bool(_UPGRADE.search(rest)))


# A firmware named in a slice ("still on firmware 1.9", "con la 3.4", "auf 7.2"): a version-like token
# after a firmware word or a preposition.
_NAMED_FIRMWARE = re.compile(r"\b(?:firmware|fw|version|versión|software|build|on|auf|mit|sur|avec|en|con|la|die|"
                             r"der)\s+"
                             r"(?:firmware\s+|fw\s+|version\s+|v)?(?P<v>\d+(?:\.\d+)+[\w.-]*)", _I)


def _bare_inform(text: str) -> ExplicitRequest | None:
    """"the inform interval to 1800" with no unit: seconds, the parameter's own unit."""
    if not _INFORM_TOPIC.search(text):
        return None
    m = _VALUE.search(text)
    if m is None:
        return None
    return ExplicitRequest(action="inform_interval", value=int(m.group(1)) * unit_seconds(m.group(2) or "s"))


def _strip_qualifiers(rest: str) -> str:
    """The request without its scope words, so the action parser sees only the action: the
    quantifier phrase and a region (the firmware words are taken out where they are found)."""
    rest = _WIDE_SCOPE.sub(" ", rest)  # "todos los", "all devices": the scope, not the action ("report every 60 s")
    for words in _REGION_WORDS.values():
        rest = re.sub(rf"\b({words})\b", " ", rest, flags=_I)
    return re.sub(rf"\b{_PREP}[A-Z]{{2}}\b", " ", rest)


def _followup(s: Session, text: str, previous: Mapping[str, Json] | None) -> SliceRequest | None:
    """A message after a slice that refers back to it ("set all of them to 1800", "stell sie alle auf
    1800", "mets-les tous à 1800", "ponlos todos a 1800") with a value: the same slice, every
    qualifier kept, with the value put into the slice's action (or the message's own action)."""
    if not previous or not _THEM.search(text):
        return None
    try:
        prev = SliceRequest.model_validate(previous)
    except ValueError:
        return None
    req = parse(_WIDE_SCOPE.sub(" ", text))
    kind = prev.action.action if prev.action is not None else prev.topic
    if req is None or (req.value is None and not req.servers):
        num = _VALUE.search(text)
        if kind is None or num is None:
            return None
        if kind == "inform_interval":
            value: int = int(num.group(1)) * unit_seconds(num.group(2) or "s")
        elif kind in ("channel", "power"):
            value = int(num.group(1))
        else:
            return None
        band = prev.action.band if prev.action is not None else None
        req = ExplicitRequest.model_validate({"action": kind, "band": band, "value": value})
    elif prev.action is not None and req.band is None:
        req = req.model_copy(update={"band": prev.action.band})
    return prev.model_copy(update={"action": req, "devices": _slice_rows(s, prev.model, prev.firmware, prev.region)})


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


def campaign_draft(s: Session, sl: SliceRequest) -> JsonObject | None:
    """A validated :class:`campaigns.spec.CampaignSpec` (as JSON) for the slice, or None when the
    request names no action Gateward can roll out."""
    from campaigns.spec import parse_spec

    built = _slice_changes(s, sl)
    if built is None:
        return None
    changes, operations = built
    what = (f"model={sl.model}" + (f", firmware={sl.firmware}" if sl.firmware else "")
            + (f", region={sl.region}" if sl.region else ""))
    spec = parse_spec({
        "name": f"chat: {sl.action.action if sl.action else 'change'} on {what}"[:120],
        "intent": f"{sl.action.action if sl.action else 'change'} on every {what} (drafted in chat)"[:300],
        "target": {"model": sl.model, "firmware": sl.firmware, "region": sl.region},
        "changes": [c.model_dump(mode="json", exclude_none=True) for c in changes],
        "operations": [o.model_dump(mode="json") for o in operations],
        "canary_pct": CANARY_PCT, "rings": RINGS,
    })
    return spec.model_dump(mode="json", exclude_defaults=False)


# ============================================================================ the planner's entry


def plan_for(s: Session, device: Device, text: str, policy_data: dict[str, Any],
             previous: dict[str, Any] | None = None, runtime: CoreServices | None = None,
             asked: str | None = None) -> Plan | None:
    """The plan for a request beyond this gateway, or None when the request is about this gateway.
    A fleet slice is checked first ("all PX-7000 in the building" is still a slice of the fleet);
    ``previous`` is the slice the thread drafted last, so a follow-up value lands in its campaign.
    ``asked``: the building or neighbourhood the typed request names — a change that is not about the air
    (DNS, inform interval, a reboot) for every home there is a campaign over exactly those gateways."""
    sl = fleet_slice(s, text, previous)
    if sl is not None:
        return _slice_plan(s, sl)
    scope = scope_of(text)
    if scope is None and asked in ("building", "neighbourhood"):
        return group_change(s, device, "building" if asked == "building" else "neighbourhood", text)
    if scope is None or _names_a_value(text):
        return None
    plans = [joint_channel_plan(s, device.id, scope, band, policy_data, runtime) for band in band_of(text)]
    plans = [p for p in plans if p.homes]
    if not plans or max(len(p.homes) for p in plans) < 2:
        where = "building" if scope == "building" else "upstream (neighbourhood)"
        return Plan(outcome="answer", finding="joint_plan_alone", text=(
            f"I know of no other gateway of ours in this {where}, so there is nothing to plan jointly; "
            "ask about this gateway's Wi-Fi and I will diagnose it."))
    text_out = "\n\n".join(p.summary() for p in plans)
    draft = joint_draft(plans)
    data: JsonObject = {"joint_plan": [p.model_dump(mode="json") for p in plans]}
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


def group_change(s: Session, device: Device, scope: Scope, text: str) -> Plan | None:
    """One change for every gateway of the building (its ``building:`` tag) or of the street (behind the
    same upstream), this one among them — DNS servers, an inform interval, a reboot: a campaign draft
    listing exactly those gateways, or, when its value cannot be read or there is no other gateway, a
    question. Never that change on this gateway alone. None for anything else (the planner's usual way:
    an escalation for a factory reset, a diagnosis for a symptom)."""
    from campaigns.spec import parse_spec

    action = parse(_strip_group(text)) or _bare_inform(_strip_group(text))
    groupable = action is not None and action.action in ("dns", "inform_interval", "reboot")
    if not groupable and (action is not None or not _GROUP_TOPIC.search(text)):
        return None
    where, rows = homes_in_scope(s, device.id, scope)
    place = f"this building ({where})" if scope == "building" else f"this street (behind {where})"
    if len(rows) < 2:
        return Plan(outcome="question", finding="group_alone", text=(
            f"I know of no other gateway of ours in {place if where else 'this ' + scope}, so I drafted nothing. "
            "Should the change go on this gateway alone? Say so and I will draft it here."))
    built = _slice_changes(s, SliceRequest(model=str(device.model), devices=len(rows), action=action, topic=None)) \
        if groupable else None
    ids = [r.id for r in rows]
    if built is None:
        return Plan(outcome="question", finding="group_change", data={"devices": ids}, text=(
            f"That is every gateway in {place}: {len(ids)} of ours. It becomes a campaign over them, never a change "
            "on this gateway alone — which change should they get (DNS servers, an inform interval, a reboot)?"))
    changes, operations = built
    what = action.action if action is not None else "change"
    spec = parse_spec({
        "name": f"chat: {what} on every gateway in {place}"[:120],
        "intent": f"{what} on the {len(ids)} gateways in {place} (drafted in chat)"[:300],
        "target": {"devices": ids},
        "changes": [c.model_dump(mode="json", exclude_none=True) for c in changes],
        "operations": [o.model_dump(mode="json") for o in operations],
        "canary_pct": CANARY_PCT, "rings": RINGS,
    })
    stages = " → ".join([f"canary {CANARY_PCT:g}%", *(f"{r:g}%" for r in RINGS)])
    return Plan(outcome="answer", finding="campaign_draft", data={"campaign_draft": spec.model_dump(mode="json")},
                text=(f"Every gateway in {place} is {len(ids)} of ours: that is a rollout, not a chat change. I "
                      f"drafted a campaign over exactly those gateways ({stages}) — nothing was changed. It needs "
                      "approval: create it with `gateward campaign create`."))


_GROUP_TOPIC = re.compile(r"\b(dns|name ?servers?|nameserver\w*|inform\w*|meldeintervall|reboot\w*|restart\w*|"
                          r"neu ?start\w*|red[ée]marr\w*|reinici\w*)\b", _I)


def _strip_group(text: str) -> str:
    """The request without the words that say whose gateways (the street, the building, "every box")."""
    return _WIDE.sub(" ", _BUILDING.sub(" ", _NEIGHBOURHOOD.sub(" ", _WIDE_SCOPE.sub(" ", text))))


def submit_joint_plan(runtime: CoreServices, device: Device, text: str, actor: Actor) -> Plan:
    """The agent confirmed a joint plan: re-plan from the current state (the air may have changed
    since it was shown) and submit every draft through the lifecycle — validation, preview and
    policy; nothing is applied here."""
    from brain.knowledge import policy_data
    from core.kernel.errors import GatewardError

    with runtime.store.read() as s:
        plan = plan_for(s, device, text, policy_data(runtime.policy), runtime=runtime)
        joint = [JointPlan.model_validate(jp) for jp in ((plan.data.get("joint_plan") if plan is not None else None)
                                                         or [])]
        d = joint_draft(joint)
        if d is None:
            return Plan(outcome="answer", finding="joint_plan_unchanged",
                        text="Re-planned from the current state: every home is already on its planned channel.")
        d = d.model_copy(update={"evidence": [*d.evidence, *charts.joint_evidence(s, joint)]})
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
    what = sl.describe()
    if sl.unknown_place:
        return Plan(outcome="question", finding="fleet_place_unknown", data={"slice": sl.model_dump(mode="json")},
                    text=(f"The inventory has no region \u201c{sl.unknown_place}\u201d, so I drafted nothing. "
                          f"{inventory_of(s, sl.model)} Which region do you mean (or all of them)?"))
    if sl.devices == 0:
        return Plan(outcome="answer", finding="fleet_slice_empty", text=(
            f"No active gateway matches {what}, so nothing was drafted. {inventory_of(s, sl.model)}"))
    spec = campaign_draft(s, sl)
    if spec is None:
        need = ("the approved firmware image (URL and version) for a firmware campaign" if sl.upgrade
                else "the inform interval to roll out (e.g. 3600 s)" if sl.topic == "inform_interval"
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


# ============================================================================ slices the fleet does not have


def inventory_of(s: Session, model: str | None = None) -> str:
    """What the fleet has, in one sentence: a model's firmware versions and regions (with counts), or the
    models it has — what an agent needs to restate a slice that matched nothing."""
    rows = s.execute(select(DeviceRow.model, DeviceRow.firmware, DeviceRow.region)
                     .where(DeviceRow.status == "active")).all()
    if model and any(m == model for m, _, _ in rows):
        fws: dict[str, int] = {}
        regions: dict[str, int] = {}
        for m, f, r in rows:
            if m == model:
                fws[str(f)] = fws.get(str(f), 0) + 1
                regions[str(r)] = regions.get(str(r), 0) + 1
        return (f"The fleet's {model} gateways run " + ", ".join(f"{f} ({n})" for f, n in sorted(fws.items()))
                + " in " + ", ".join(f"{r} ({n})" for r, n in sorted(regions.items())) + ".")
    models: dict[str, int] = {}
    for m, _, _ in rows:
        models[str(m)] = models.get(str(m), 0) + 1
    head = f"The fleet has no model {model}. " if model else ""
    return head + "Its models: " + ", ".join(f"{m} ({n})" for m, n in sorted(models.items())) + "."


_COUNT = re.compile(r"\b(how many|number of|count|wie viele|anzahl|combien|nombre de|cuánt[oa]s|cuant[oa]s|"
                    r"número de)\b", _I)


def _fleet_count(rows: Sequence[Any], scope: Any, model: str | None, region: str | None, fw: str | None) -> Plan:
    """How many active gateways of ``model``, ``region`` and firmware the inventory has: ``fw`` as the
    fleet names one, else the scope's leading version (``7.2.6`` counts every build of it)."""
    named_fw = getattr(scope, "firmware", None)

    def fw_ok(f: Any) -> bool:
        if fw is not None:
            return bool(f == fw)
        return named_fw is None or str(f).startswith(str(named_fw))
    n = sum(1 for m, f, r in rows if (model is None or m == model) and (region is None or r == region) and fw_ok(f))
    fw_words = fw or named_fw
    what = " ".join(x for x in (model or "active gateways", f"on firmware {fw_words}" if fw_words else "",
                                f"in {region}" if region else "") if x)
    extra = "" if model or not getattr(scope, "model", None) else f" (the fleet has no model {scope.model})"
    return Plan(outcome="answer", finding="fleet_count", data={"facts": [{"count": n, "of": what}]},
                text=f"The inventory has {n} {what}{extra} (active devices).")


def unmatched(s: Session, scope: Any, text: str, question: bool = False) -> Plan:
    """A request the words say is about other gateways, when no slice or joint plan could be drafted
    from it: a count from inventory, or what the fleet has — never a change on this gateway. A question
    about them (``question``) is said to be one: this chat reads this gateway only."""
    rows = s.execute(select(DeviceRow.model, DeviceRow.firmware, DeviceRow.region)
                     .where(DeviceRow.status == "active")).all()
    low = text.lower()
    model = next((m for m in sorted({str(r[0]) for r in rows}, key=len, reverse=True) if m.lower() in low), None)
    region = _region_in(text, {str(r[2]) for r in rows if r[2]})
    fw_part = _firmware_part(text, {str(r[1]) for r in rows if (model is None or r[0] == model) and r[1]})
    if _COUNT.search(text):
        return _fleet_count(rows, scope, model, region, fw_part[0] if fw_part else None)
    if question:
        return Plan(outcome="answer", finding="fleet_question", text=(
            f"That asks about other gateways ({getattr(scope, 'words', '') or 'a fleet slice'}); this chat reads "
            "only this gateway, so I did not answer it from this one's facts. Ask in a chat on each of them — or "
            "name a model, firmware or region for a count from the inventory."))
    named = model or getattr(scope, "model", None)
    place = getattr(scope, "place", None)
    where = f" The inventory knows regions ({', '.join(sorted({str(r[2]) for r in rows if r[2]}))}), not places " \
            f"like {place}." if place and region is None else ""
    return Plan(outcome="answer", finding="fleet_slice_unmatched", text=(
        f"That is about other gateways ({getattr(scope, 'words', '') or 'a fleet slice'}), so I will not change this "
        f"one — and I could not draft a campaign from it. {inventory_of(s, named)}{where} Name the model, firmware "
        "and region as the fleet has them and the change, and I will draft a campaign."))
