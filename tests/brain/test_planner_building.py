"""Beyond one device (issue 13, deliverable 4): a building or neighbourhood request plans the homes
together by colouring their interference graph, and a fleet-slice request becomes a campaign draft
(canary → rings) — never a one-shot bulk Set. In English, German, French and Spanish.

At HEAD these requests were either ignored ("I'm not sure what the problem is") or diagnosed as a
single-gateway fault on the device the chat was opened for."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from brain import fleetplan
from brain.knowledge import policy_data
from campaigns.spec import check_stages, parse_spec
from core.store import repo
from tests.brain.conftest import run_turn

DEV = "A4C3F0-G240W-LMNT00000001"  # building bld-00001: 8 of our homes that hear each other


def _plan(rt: Any, scope: fleetplan.Scope, band: fleetplan.Band, *, live: bool = False) -> fleetplan.JointPlan:
    """The joint plan from the stored snapshots, or (``live``) from the radios read now, as the chat plans."""
    with rt.store.read() as s:
        return fleetplan.joint_channel_plan(s, DEV, scope, band, policy_data(rt.policy), rt if live else None)


def test_5ghz_plan_gives_adjacent_homes_different_channels_non_dfs_first(rt: Any) -> None:
    plan = _plan(rt, "building", "5GHz")
    assert plan.scope_id == "bld-00001" and len(plan.homes) == 8 and plan.edges
    chans = {a.device_id: a.channel for a in plan.assignments}
    assert all(chans[a] != chans[b] for a, b in plan.edges) and plan.conflicts == 0
    # Non-DFS first: a DFS channel is only used once every non-DFS block is taken by some home.
    used = set(chans.values())
    if any(a.dfs for a in plan.assignments):
        non_dfs = [c for c in fleetplan._PRIMARIES_5[plan.width_mhz] if c in (36, 40, 44, 48, 149, 153, 157, 161)]
        assert set(non_dfs) <= used
    # One plan over all homes, ONE draft: each moving home its own channel, each with AutoChannel off.
    assert len(plan.drafts) == 1
    (draft,) = plan.drafts
    # (a home whose width the plan narrows to stay off DFS moves too, issue 38)
    assert len(draft.targets) == len(set(draft.targets)) == sum(a.current != a.channel or a.width is not None
                                                                for a in plan.assignments)
    own = {t: {c.path.rsplit(".", 1)[1]: c.value for c in draft.changes if c.target == t} for t in draft.targets}
    widths = {a.device_id: a.width for a in plan.assignments}
    assert all(v == {"Channel": chans[t], "AutoChannelEnable": False,
                     **({"OperatingChannelBandwidth": widths[t]} if widths[t] else {})} for t, v in own.items())
    assert plan.problems == []


def test_dense_24ghz_stays_on_1_6_11_and_shares_only_where_it_must(rt: Any) -> None:
    plan = _plan(rt, "building", "2.4GHz")
    assert {a.channel for a in plan.assignments} <= {1, 6, 11}
    g = nx.Graph(plan.edges)
    # The colouring is a proper DSATUR colouring; sharing is only forced by the band's three channels.
    assert plan.colours == max(nx.greedy_color(g, strategy="saturation_largest_first").values()) + 1
    # With three channels each channel class is a set of homes; sharing is a minority of the pairs,
    # and every shared pair is a real edge, counted once on each side.
    assert 0 < plan.conflicts < g.number_of_edges() // 2
    shared = {tuple(sorted((a.device_id, c))) for a in plan.assignments for c in a.conflicts}
    assert len(shared) == plan.conflicts and all(g.has_edge(*e) for e in shared)


def test_beyond_the_palette_the_quietest_channel_is_shared() -> None:
    g = nx.Graph()
    g.add_node("x")
    assert fleetplan._channel_for(g, "x", 0, [1, 6, 11], {}, 11) == 1
    # beyond the palette: the channel where the planned neighbours are quietest
    g.add_edge("x", "a", rssi_dbm=-40.0)
    g.add_edge("x", "b", rssi_dbm=-80.0)
    assert fleetplan._channel_for(g, "x", 3, [1, 6], {"a": 1, "b": 6}, None) == 6


@pytest.mark.parametrize("text,scope", [
    ("Several flats in this building complain about Wi-Fi, plan the channels together", "building"),
    ("Im ganzen Gebäude stören sich die WLANs gegenseitig", "building"),
    ("Dans tout l'immeuble le wifi des voisins se chevauche", "building"),
    ("En todo el edificio las redes inalámbricas se interfieren", "building"),
    ("the whole neighbourhood has channel interference", "neighbourhood"),
    ("In der Nachbarschaft überlappen die WLAN Kanäle", "neighbourhood"),
    ("tout le quartier a du mal avec le wifi", "neighbourhood"),
    ("en el barrio la red wifi va fatal", "neighbourhood"),
    ("the wifi drops all evening", None),
    ("the building's fibre is down", None),
])
def test_scope_in_four_languages(text: str, scope: str | None) -> None:
    assert fleetplan.scope_of(text) == scope


def test_building_request_in_chat_is_one_plan_and_changes_nothing(rt: Any, svc: Any, actor: Any) -> None:
    alice = actor("alice")
    with rt.store.read() as s:
        before = {d: (repo.latest_snapshot(s, d) or {}).get("Device.WiFi.Radio.1.Channel")
                  for d in _plan(rt, "building", "2.4GHz").homes}
    tid = svc.start(DEV, alice)
    events = run_turn(svc, tid, "Bitte einen gemeinsamen Kanalplan für das ganze Gebäude, 2,4 GHz", alice)
    answer = next(e for e in events if e.kind == "question")  # "submit these drafts?"
    assert answer.data["finding"] == "joint_channel_plan" and len(answer.data["joint_plan"]) == 1
    jp = answer.data["joint_plan"][0]
    assert jp["band"] == "2.4GHz" and len(jp["homes"]) == 8 and jp["drafts"]
    assert not [e for e in events if e.kind == "proposal"]
    with rt.store.read() as s:
        assert not repo.live_proposals_touching(s, jp["homes"], exclude="")
        after = {d: (repo.latest_snapshot(s, d) or {}).get("Device.WiFi.Radio.1.Channel") for d in before}
    assert after == before


@pytest.mark.parametrize("text,model,firmware,action,n", [
    ("Set the inform interval to 3600 s on all PX-7000 on firmware prplOS-3.1.0", "PX-7000", "prplOS-3.1.0",
     "inform_interval", 15),
    ("Setze das Inform-Intervall auf 1 h bei allen HG8020-L mit Firmware V3R017C10S105", "HG8020-L",
     "V3R017C10S105", "inform_interval", 10),
    ("Redémarre tous les ONT-G240W en 3.2.1-1412", "ONT-G240W", "3.2.1-1412", "reboot", 13),
    ("Reinicia todos los CGW-3400 con firmware 7.2.6-CGW3400", "CGW-3400", "7.2.6-CGW3400", "reboot", 6),
])
def test_fleet_slice_becomes_a_campaign_draft(rt: Any, text: str, model: str, firmware: str, action: str,
                                              n: int) -> None:
    with rt.store.read() as s:
        sl = fleetplan.fleet_slice(s, text)
        assert sl is not None and (sl.model, sl.firmware, sl.devices) == (model, firmware, n)
        assert sl.action is not None and sl.action.action == action
        spec = fleetplan.campaign_draft(s, sl)
    assert spec is not None
    parsed = parse_spec(spec)  # a valid campaign definition, ready for `gateward campaign create`
    assert parsed.target.model == model and parsed.target.firmware == firmware
    assert check_stages(parsed.canary_pct, parsed.rings or []) == [1.0, 10.0, 50.0, 100.0]
    assert parsed.kind == ("operation" if action == "reboot" else "config")


def test_slice_in_chat_is_a_draft_not_a_bulk_set(rt: Any, svc: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(DEV, alice)
    events = run_turn(svc, tid, "reboot every PX-7000 on prplOS-3.1.0 tonight", alice)
    answer = next(e for e in events if e.kind == "answer")
    assert answer.data["finding"] == "campaign_draft" and answer.data["campaign_draft"]["operations"]
    assert "needs approval" in answer.text and not [e for e in events if e.kind == "proposal"]
    with rt.store.read() as s:
        assert not repo.live_proposals_touching(s, [DEV], exclude="")
    # An unknown model is not a slice; a known one without an action is a question, not a guess.
    with rt.store.read() as s:
        assert fleetplan.fleet_slice(s, "reboot all XZ-9999 boxes") is None
    events = run_turn(svc, svc.start(DEV, alice), "what about all the AW-1200 units?", alice)
    assert next(e for e in events if e.kind in ("question", "answer")).kind == "question"


def test_single_home_wording_with_all_is_not_a_slice(rt: Any) -> None:
    with rt.store.read() as s:
        assert fleetplan.fleet_slice(s, "the wifi drops all evening") is None
        assert fleetplan.fleet_slice(s, "all devices in the flat lose wifi") is None


def test_a_confirmed_joint_plan_is_submitted_through_the_gates_and_applies_nothing(rt: Any, svc: Any,
                                                                                   actor: Any) -> None:
    from core.kernel.models import TERMINAL_STATES

    alice = actor("alice")
    with rt.store.read() as s:
        before = {d: repo.latest_snapshot(s, d) for d in _plan(rt, "building", "5GHz").homes}
    tid = svc.start(DEV, alice)
    run_turn(svc, tid, "Dans tout l'immeuble le wifi 5 GHz des voisins se chevauche", alice)
    events = run_turn(svc, tid, "yes", alice)
    answer = next(e for e in events if e.kind == "answer")
    assert answer.data["finding"] in ("joint_plan_submitted", "joint_plan_denied")  # denied: with the rule and a way
    submitted = answer.data["proposals"]
    try:
        assert len(submitted) == 1 and all(o["proposal_id"] for o in submitted)  # ONE proposal
        # The chat plans from the radios as they are now; the shared world's earlier tests may have
        # left a home's live channel ahead of its stored snapshot, so compare against a live re-plan.
        assert sorted(t for o in submitted for t in o["targets"]) == sorted(
            a.device_id for a in _plan(rt, "building", "5GHz", live=True).moves)  # channel or width (issue 38)
        for o in submitted:  # submitted, decided by policy, not applied
            p = rt.lifecycle.get(o["proposal_id"])
            assert str(p.state) in ("approved", "awaiting_approval", "denied") and p.source == "chat"
            assert p.author == alice.id and len(p.targets) >= 1
        with rt.store.read() as s:
            assert {d: repo.latest_snapshot(s, d) for d in before} == before
    finally:
        for o in submitted:
            p = rt.lifecycle.get(o["proposal_id"])
            if p.state not in TERMINAL_STATES:
                rt.lifecycle.cancel(p.id, alice, reason="test cleanup")
    # Anything but a yes is a new request, not a confirmation.
    tid = svc.start(DEV, alice)
    run_turn(svc, tid, "Dans tout l'immeuble le wifi 5 GHz des voisins se chevauche", alice)
    events = run_turn(svc, tid, "what is the status of this gateway?", alice)
    assert not [e for e in events if e.data.get("finding") in ("joint_plan_submitted", "joint_plan_denied")]
