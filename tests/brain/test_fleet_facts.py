"""Live facts and fleet scope (issue 38 items 3, 4).

A building plan starts from the channels the homes use NOW (the stored snapshot may be days old:
at HEAD a plan counted 2 clashes where there were 15 and moved the wrong homes), keeps every home
off DFS by narrowing the width when that is enough, and does not hand a home the channel a loud
foreign access point uses when a free one exists. A fleet slice keeps every qualifier the agent
gave (model, firmware as a leading version or a suffix, region), and "set all of them to 1800"
after a slice redrafts that slice's campaign."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from brain import fleetplan
from brain.knowledge import policy_data
from core.store.schema import WifiNeighborRow
from tests.brain.conftest import run_turn

DEV = "A4C3F0-G240W-LMNT00000001"  # building bld-00001: 8 of our homes that hear each other


@pytest.fixture
def live(world: Any) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """``set(device, values)``: device-side values (the stored snapshot is not touched), undone after."""
    taken: dict[str, Any] = {}

    def put(device_id: str, values: dict[str, Any]) -> None:
        taken.setdefault(device_id, world.snapshot(device_id))
        world.set_params(device_id, values)

    yield put
    for d, snap in taken.items():
        world.restore(d, snap)


def _plan(rt: Any, band: fleetplan.Band, *, live: bool = True) -> fleetplan.JointPlan:
    with rt.store.read() as s:
        return fleetplan.joint_channel_plan(s, DEV, "building", band, policy_data(rt.policy),
                                            rt if live else None)


def _radio_path(rt: Any, device_id: str, band: str, leaf: str) -> str:
    from brain.tools import radios_from_values
    from core.store import repo

    with rt.store.read() as s:
        snap = repo.latest_snapshot(s, device_id) or {}
    radio = next(r for r in radios_from_values(snap) if r.band == band)
    return f"Device.WiFi.Radio.{radio.index}.{leaf}"


def test_joint_plan_counts_clashes_from_live_channels_not_stored_ones(rt: Any, live: Any) -> None:
    stale = _plan(rt, "5GHz")
    for h in stale.homes:
        live(h, {_radio_path(rt, h, "5GHz", "Channel"): 36})
    plan = _plan(rt, "5GHz")
    assert {a.current for a in plan.assignments} == {36}
    # every pair that hears each other is a clash now, and the plan resolves all of them
    assert plan.conflicts_resolved == len(plan.edges) > 0 and plan.conflicts == 0
    assert "read live" in plan.summary() and f"resolving {len(plan.edges)} clash" in plan.summary()
    # the stored snapshot still says otherwise: planning from it would count other clashes
    assert {a.current for a in _plan(rt, "5GHz", live=False).assignments} != {36}


def test_joint_plan_narrows_the_width_rather_than_using_dfs(rt: Any) -> None:
    plan = _plan(rt, "5GHz")
    assert plan.colours > 2  # two non-DFS 80 MHz blocks (36, 149) are not enough for this building
    assert plan.narrowed_from is not None and plan.width_mhz < plan.narrowed_from
    assert not any(a.dfs for a in plan.assignments) and plan.conflicts == 0
    (draft,) = plan.drafts
    widths = {c.target for c in draft.changes if c.path.endswith("OperatingChannelBandwidth")}
    assert widths and all(c.value == f"{plan.width_mhz}MHz" for c in draft.changes
                          if c.path.endswith("OperatingChannelBandwidth"))
    assert "so that every home gets a non-DFS channel" in plan.summary()
    assert plan.problems == []


def test_joint_plan_avoids_a_channel_a_loud_foreign_ap_uses(rt: Any) -> None:
    before = next(a for a in _plan(rt, "5GHz").assignments if a.device_id == DEV)
    with rt.store.write() as s:
        s.add(WifiNeighborRow(device_id=DEV, ssid="CafeHotspot", bssid="02:00:00:00:00:99", band="5GHz",
                              channel=before.channel, rssi_dbm=-42))
    try:
        after = next(a for a in _plan(rt, "5GHz").assignments if a.device_id == DEV)
    finally:
        with rt.store.write() as s:
            s.execute(delete(WifiNeighborRow).where(WifiNeighborRow.ssid == "CafeHotspot"))
    assert after.channel != before.channel or (after.note and "CafeHotspot" in after.note)


@pytest.mark.parametrize("text,model,firmware,region,n", [
    ("Set the inform interval to 1800 on all AW-1200 on firmware 2.1 in the UK", "AW-1200", "2.1.0.88", "GB", 6),
    ("Starte alle HG8020-L auf S105 in Deutschland neu", "HG8020-L", "V3R017C10S105", "DE", 7),
    ("Passe l'intervalle d'inform à 900 secondes sur tous les PX-7000 en France", "PX-7000", None, "FR", 2),
    ("Pon los DNS 9.9.9.9 y 1.1.1.1 en todos los HG8020-L con firmware S120 en Alemania", "HG8020-L",
     "V3R017C10S120", "DE", 4),
    ("Reinicia todos los CGW-3400 con firmware 7.2.6-CGW3400", "CGW-3400", "7.2.6-CGW3400", None, 6),
])
def test_slice_keeps_every_qualifier(rt: Any, text: str, model: str, firmware: str | None, region: str | None,
                                     n: int) -> None:
    with rt.store.read() as s:
        sl = fleetplan.fleet_slice(s, text)
        assert sl is not None and (sl.model, sl.firmware, sl.region, sl.devices) == (model, firmware, region, n)
        spec = fleetplan.campaign_draft(s, sl)
    assert spec is not None and spec["target"]["region"] == region and spec["target"]["firmware"] == firmware


def test_firmware_part_must_pick_one_version() -> None:
    fws = {"V3R017C10S105", "V3R017C10S120", "2.1.0.88", "2.10.1"}
    assert fleetplan._firmware_in("on S105", fws) == "V3R017C10S105"
    assert fleetplan._firmware_in("firmware 2.1", fws) == "2.1.0.88"  # not 2.10.1
    assert fleetplan._firmware_in("on V3R017", fws) is None  # two versions start so: not a qualifier
    assert fleetplan._firmware_in("on 05", fws) is None


def test_follow_up_value_after_a_slice_lands_in_the_campaign(rt: Any, svc: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(DEV, alice)
    run_turn(svc, tid, "Set the inform interval to 3600 s on all PX-7000 in Germany", alice)
    events = run_turn(svc, tid, "actually, set all of them to 1800", alice)
    answer = next(e for e in events if e.kind == "answer")
    draft = answer.data["campaign_draft"]
    assert draft["target"]["model"] == "PX-7000" and draft["target"]["region"] == "DE"
    assert [c["value"] for c in draft["changes"]] == [1800] and answer.data["slice"]["devices"] == 12
    assert not [e for e in events if e.kind == "proposal"]
    # without a slice before it, the same words are not a fleet request
    with rt.store.read() as s:
        assert fleetplan.fleet_slice(s, "actually, set all of them to 1800") is None
