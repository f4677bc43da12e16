"""Dense air: whether a radio's band is congested, judged from the access points it hears — how
many, how loud, on how many channels — together with its channel utilisation.

Why a module of its own: utilisation alone misleads both ways. A radio at 85 % among two dozen loud
neighbours on every 5 GHz channel is congested, and saying "no congestion" because only the 2.4 GHz
radio was checked (or because a daily average hides the evening) sends the agent the wrong way; a
busy channel with no loud neighbour is the home's own traffic, not the air. What to do differs
too: a wide radio is narrowed (each 20 MHz sub-channel it spans is another neighbour to collide
with), a narrow one moves to its least crowded channel — and when every channel is loud, the reply
says that no channel escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.kernel.jsontypes import JsonObject

# A neighbour this loud or louder decodes at the radio: it defers to it and collides with it.
LOUD_DBM = -67.0
# This many loud neighbours on the band is dense air whatever the utilisation says.
DENSE_LOUD_APS = 8
# With a busy channel, this many loud neighbours make it the air's doing, not the home's own traffic.
BUSY_LOUD_APS = 3
# The channel is busy NOW at this utilisation (a 24 h average hides an afternoon at 85 %).
BUSY_NOW_PCT = 70.0


@dataclass
class Air:
    """The verdict for one radio: congested or not, and the words and numbers behind it."""

    congested: bool
    loud: int
    channels: list[int]
    utilisation: float | None
    summary: str
    data: JsonObject = field(default_factory=dict)


def judge(band: str, channel: int | None, width: int, neighbours: list[dict[str, Any]],
          utilisation: dict[str, Any] | None, busy: bool) -> Air:
    """``neighbours``: the ``wifi_neighbors`` tool's rows; ``utilisation``: the radio's
    ``wifi.channel_utilization_pct`` window (or None); ``busy``: that window is congested by the
    detectors' rule."""
    loud = [n for n in neighbours if n.get("rssi_dbm") is not None and float(n["rssi_dbm"]) >= LOUD_DBM]
    chans = sorted({int(n["channel"]) for n in loud if n.get("channel") is not None})
    util = float(utilisation["mean"]) if utilisation and utilisation.get("mean") is not None else None
    last = float(utilisation["last"]) if utilisation and utilisation.get("last") is not None else None
    busy = busy or (last is not None and last >= BUSY_NOW_PCT)
    congested = len(loud) >= DENSE_LOUD_APS or (busy and len(loud) >= BUSY_LOUD_APS)
    where = f"{band} channel {channel}" if channel is not None else band
    busy_txt = ((f", the channel averages {util:g}% busy" if util is not None else "")
                + (f" and is {last:g}% busy now" if last is not None and busy else ""))
    if not congested:
        return Air(False, len(loud), chans, util, f"{where}: {len(loud)} loud neighbour AP(s){busy_txt}")
    every = len(chans) >= 4
    summary = (f"the {band} air is congested: {len(loud)} loud neighbour APs (at {LOUD_DBM:g} dBm or louder) on "
               f"{len(chans)} channel(s) ({', '.join(map(str, chans[:12]))}){busy_txt}"
               + (f"; at {width} MHz the radio spans {max(1, width // 20)} of those 20 MHz channels" if width >= 40
                  else "")
               + ("; no channel is free of loud neighbours, so a channel change alone cannot escape it" if every
                  else ""))
    return Air(True, len(loud), chans, util, summary,
               {"width": width, "loud_neighbours": len(loud), "loud_channels": chans, "utilisation": utilisation,
                "channel": channel, "band": band, "per_channel": per_channel(loud)})


def per_channel(loud: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many loud neighbours each channel carries and the loudest of them: the facts an answer
    about the air cites (a count alone hides whether they are at -50 or -66 dBm)."""
    by: dict[int, list[float]] = {}
    for n in loud:
        if n.get("channel") is not None:
            by.setdefault(int(n["channel"]), []).append(float(n["rssi_dbm"]))
    return [{"channel": c, "loud": len(v), "loudest_dbm": max(v)} for c, v in sorted(by.items())]
