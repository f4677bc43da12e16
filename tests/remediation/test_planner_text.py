"""A remediation case's planner text must not contradict its evidence (issue 16). A DFS radio
with radar is moved off its channel *because of the radar*; the planner said "channel 36 has the
least neighbour energy on 5GHz (-48.4 dBm vs none on channel 52)" — naming the new channel the
quietest while its own numbers said the old one was quieter. The reason now says why the old
channel is left instead of comparing it."""

from __future__ import annotations

import networkx as nx

from brain.channels import choose_channel, rules_for
from brain.knowledge import policy_data
from core.topology import dbm_to_mw

POSSIBLE = [36, 40, 44, 48, 52, 56, 60, 64, 100, 149, 153, 157, 161, 165]


def _graph(neighbours: list[tuple[str, int, float]]) -> nx.Graph:
    g = nx.Graph()
    g.add_node("me", kind="self")
    for i, (ssid, ch, rssi) in enumerate(neighbours):
        n = f"bss:{i}"
        g.add_node(n, kind="foreign", ssid=ssid, band="5GHz", channel=ch, rssi_dbm=rssi,
                   bssid=f"02:00:00:00:00:{i:02x}")
        g.add_edge("me", n, weight=dbm_to_mw(rssi), rssi_dbm=rssi)
    return g


def test_radar_move_does_not_claim_the_new_channel_is_quieter_than_a_clean_old_one() -> None:
    rules = rules_for(policy_data(None), "GB", "5GHz")
    assert rules is not None
    g = _graph([("a", 36, -60), ("b", 149, -70)])  # nobody near 52: the old channel is the quietest
    choice = choose_channel(g, "me", "5GHz", rules, possible=POSSIBLE, current=52, width=20, avoid=[52])
    assert choice.is_change and choice.channel != 52
    assert "vs none on channel 52" not in choice.reason, choice.reason
    assert choice.reason.endswith("channel 52 is to be left"), choice.reason
    wide = choose_channel(g, "me", "5GHz", rules, possible=POSSIBLE, current=52, width=80, avoid=[52])
    assert "vs none on channel 52" not in wide.reason and "channel 52 is to be left" in wide.reason, wide.reason


def test_an_ordinary_move_still_compares_the_two_channels() -> None:
    rules = rules_for(policy_data(None), "GB", "5GHz")
    assert rules is not None
    g = _graph([("a", 36, -45), ("b", 149, -80)])
    choice = choose_channel(g, "me", "5GHz", rules, possible=POSSIBLE, current=36, width=20)
    assert choice.is_change and " vs -45.0 dBm on channel 36)" in choice.reason, choice.reason
