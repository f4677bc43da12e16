"""Choosing a Wi-Fi channel: greedy colouring of the interference graph within the rules.

Why here and why this way: a channel change is the most common Wi-Fi fix and the easiest to get
subtly wrong. The candidate set comes from the *policy pack's* regulatory table
(``policies/data/regulatory.json``: non-DFS channels per domain and band, DFS only where the
region allows it) intersected with what the radio itself reports in ``PossibleChannels`` — never
from a table of our own that could drift from what policy enforces. Among the candidates we
colour our node of the interference graph (``core.topology.wifi_graph``) greedily: the
neighbours keep the colours (channels) they have, and we take the one with the least
overlap-weighted received power, preferring non-DFS channels even where DFS is allowed (radar
events are why many tickets exist), the classic non-overlapping 1/6/11 on 2.4 GHz, and staying
put when the current channel is already within 1 dB of the best.

Neighbour SSIDs play no part in the choice: an SSID that says "set channel 165" is just a
neighbour on channel 165, and makes that channel *less* attractive, not more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # networkx and the topology module load only when a channel is chosen
    import networkx as nx

NON_OVERLAPPING_24 = (1, 6, 11)
# Neighbour energy in the chosen wide block below which narrowing is not worth the lost width
# (around the 20 MHz preamble-detect level: such a neighbour barely defers our transmissions).
NARROW_ABOVE_DBM = -82.0


@dataclass(frozen=True)
class ChannelRules:
    """What policy permits on one band in one region."""

    region: str
    band: str
    channels: tuple[int, ...]
    dfs: tuple[int, ...]
    dfs_allowed: bool

    def permitted(self, channel: int) -> bool:
        return channel in self.channels or (self.dfs_allowed and channel in self.dfs)

    def is_dfs(self, channel: int) -> bool:
        return channel in self.dfs


def rules_for(policy_data: dict[str, Any], region: str, band: str) -> ChannelRules | None:
    """The regulatory entry for ``region``/``band`` from the policy data, or None (then no
    channel change may be proposed there — policy would deny it anyway)."""
    reg = policy_data.get("regulatory") or {}
    region_entry = (reg.get("regions") or {}).get(region)
    if not region_entry:
        return None
    domain = (reg.get("domains") or {}).get(region_entry.get("domain"), {})
    table = domain.get(band)
    if not table:
        return None
    return ChannelRules(region=region, band=band, channels=tuple(int(c) for c in table.get("channels", [])),
                        dfs=tuple(int(c) for c in table.get("dfs", [])),
                        dfs_allowed=bool(region_entry.get("dfs_allowed", False)))


def parse_channel_list(text: Any) -> list[int]:
    """``"1-11,36,40"`` → ``[1, …, 11, 36, 40]`` (the TR-181 PossibleChannels form)."""
    out: list[int] = []
    for item in str(text or "").split(","):
        item = item.strip()
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            continue
    return out


def width_mhz(bandwidth: Any) -> int:
    text = str(bandwidth or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 20


@dataclass
class ChannelChoice:
    channel: int | None
    current: int | None
    current_dbm: float | None
    chosen_dbm: float | None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    width: int | None = None  # a narrower width to use with ``channel`` (None: keep the radio's)

    @property
    def is_change(self) -> bool:
        return self.channel is not None and self.channel != self.current


def candidate_channels(rules: ChannelRules, possible: Sequence[int], *, allow_dfs: bool = False) -> list[int]:
    """Permitted channels the radio supports. DFS only when the region allows it *and* the
    caller asked (the planner asks only when no non-DFS channel exists)."""
    have = set(possible) if possible else set(rules.channels) | set(rules.dfs)
    out = [c for c in rules.channels if c in have]
    if allow_dfs and rules.dfs_allowed:
        out += [c for c in rules.dfs if c in have]
    return out


def choose_channel(g: nx.Graph, device_id: str, band: str, rules: ChannelRules, *, possible: Sequence[int],
                   current: int | None, width: int = 20, avoid: Iterable[int] = (),
                   stay_margin_db: float = 1.0, narrow: bool = True) -> ChannelChoice:
    """The channel to use, never inside a neighbour's channel or our bonded block's neighbours
    when a free one exists: at 40/80/160 MHz on 5 GHz, when every usable block holds a neighbour
    but a narrower width has a free permitted channel, that narrower width and channel are
    returned (``ChannelChoice.width``) instead of a block shared with a neighbour."""
    choice = _choose(g, device_id, band, rules, possible=possible, current=current, width=width, avoid=avoid,
                     stay_margin_db=stay_margin_db)
    if not narrow or band != "5GHz" or width < 40 or choice.chosen_dbm is None \
            or choice.chosen_dbm < NARROW_ABOVE_DBM:
        return choice
    for w in (x for x in (80, 40, 20) if x < width):
        alt = _choose(g, device_id, band, rules, possible=possible, current=current, width=w, avoid=avoid,
                      stay_margin_db=stay_margin_db)
        if alt.channel is not None and alt.chosen_dbm is None and not rules.is_dfs(alt.channel):
            alt.width = w
            alt.reason = (f"every usable {width} MHz block on {band} holds a neighbour ({choice.reason}); at {w} MHz "
                          f"channel {alt.channel} is free of neighbours")
            return alt
    return choice


def _choose(g: nx.Graph, device_id: str, band: str, rules: ChannelRules, *, possible: Sequence[int],
            current: int | None, width: int, avoid: Iterable[int], stay_margin_db: float) -> ChannelChoice:
    """Greedy colouring step for our node: the permitted channel with the least weighted
    interference (see module doc). ``avoid`` removes channels (e.g. the one with radar)."""
    from core.topology import block_of, interference, interference_dbm

    avoid_set = set(avoid)
    cands = [c for c in candidate_channels(rules, possible) if c not in avoid_set]
    if not cands:
        cands = [c for c in candidate_channels(rules, possible, allow_dfs=True) if c not in avoid_set]
    if band == "2.4GHz":
        trio = [c for c in cands if c in NON_OVERLAPPING_24]
        cands = trio or cands
    elif band == "5GHz" and width >= 40:
        # A wide radio needs its whole bonded block clear to use: 165 (no 40/80 MHz block) or a
        # block that reaches into DFS would silently narrow the radio or bring radar back.
        usable = set(cands)
        whole = [c for c in cands if block_of(c, width) and all(x in usable for x in block_of(c, width))]
        cands = whole or cands
    scored = []
    for c in cands:
        mw = interference(g, device_id, band, c, width)
        # Tie-break: non-DFS first, then the lower channel (deterministic).
        scored.append((mw, 1 if rules.is_dfs(c) else 0, c))
    scored.sort(key=lambda t: (t[1], t[0], t[2]))
    table = [{"channel": c, "interference_dbm": interference_dbm(mw), "dfs": bool(dfs)} for mw, dfs, c in scored]
    cur_mw = interference(g, device_id, band, current, width) if current is not None else None
    if not scored:
        return ChannelChoice(None, current, interference_dbm(cur_mw or 0.0), None, table,
                             f"no permitted channel on {band} in {rules.region} that the radio supports")
    best_mw, _, best = scored[0]
    if current is not None and current in cands and current not in avoid_set and cur_mw is not None:
        cur_ok = not rules.is_dfs(current) or rules.is_dfs(best)
        if cur_ok and _db(cur_mw) - _db(best_mw) <= stay_margin_db:
            return ChannelChoice(current, current, interference_dbm(cur_mw), interference_dbm(cur_mw), table,
                                 f"channel {current} is already among the cleanest on {band}")
    if current is not None and (current in avoid_set or current not in cands):
        # The current channel is left for another reason (radar, not permitted): comparing its
        # energy would claim the new channel is quieter when the old one may hold no neighbour.
        why = "is to be left" if current in avoid_set else "is not a permitted choice here"
        reason = (f"channel {best} has the least neighbour energy on {band} of the usable channels "
                  f"({_fmt_dbm(best_mw)}); channel {current} {why}")
    else:
        reason = (f"channel {best} has the least neighbour energy on {band} "
                  f"({_fmt_dbm(best_mw)} vs {_fmt_dbm(cur_mw)} on channel {current})")
    return ChannelChoice(best, current, interference_dbm(cur_mw or 0.0), interference_dbm(best_mw), table, reason)


def _db(mw: float) -> float:
    import math

    return 10 * math.log10(mw) if mw > 0 else -120.0


def _fmt_dbm(mw: float | None) -> str:
    if mw is None:
        return "n/a"
    return "none" if mw <= 0 else f"{_db(mw):.1f} dBm"
