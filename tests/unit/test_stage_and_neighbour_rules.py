"""The pure rules under the one gate's staging and the live neighbour condition, each boundary pinned:
what a decision's coded obligations demand (``core.staging``), how a device's own scan is read and
corrected by what Gateward wrote (``core.preconditions.heard_now``), and where "nearby" ends."""

from __future__ import annotations

import pytest

from core import preconditions
from core.kernel.models import PolicyItem, Precondition
from core.staging import REHEARSAL, STAGE, StageDemand

SCAN = preconditions.SCAN


def _item(code: str) -> PolicyItem:
    return PolicyItem(code=code, message="for people", params={})


@pytest.mark.parametrize("codes, stages, rehearsal", [
    ([], False, False),
    ([STAGE], True, False),
    ([REHEARSAL], False, True),
    ([STAGE, REHEARSAL, "obligation.window"], True, True),
    (["obligation.window", "obligation.halt"], False, False),
])
def test_a_decision_demands_rings_or_a_rehearsal_by_its_codes_only(codes: list[str], stages: bool,
                                                                   rehearsal: bool) -> None:
    demand = StageDemand.of(_item(c) for c in codes)
    assert (demand.stages, demand.rehearsal, demand.any) == (stages, rehearsal, stages or rehearsal)


def test_the_demand_in_words_names_each_obligation() -> None:
    assert StageDemand(stages=True).words() == "a staged rollout in rings"
    assert StageDemand(rehearsal=True).words() == "a clean rehearsal of this exact content"
    assert StageDemand(stages=True, rehearsal=True).words() == \
        "a staged rollout in rings and a clean rehearsal of this exact content"
    assert StageDemand().words() == ""


def _row(n: int, **leaves: object) -> dict[str, object]:
    return {f"{SCAN}{n}.{k}": v for k, v in leaves.items()}


def test_a_scan_reads_as_neighbours_in_row_order() -> None:
    values = {**_row(2, SSID="b", BSSID="AA:00:00:00:00:02", Channel=44, SignalStrength=-61,
                     OperatingFrequencyBand="5GHz"),
              **_row(10, SSID="c", BSSID="AA:00:00:00:00:10", Channel="6", SignalStrength="-70",
                     OperatingFrequencyBand="2.4GHz"),
              **_row(1, SSID="a", BSSID="AA:00:00:00:00:01", Channel=36, SignalStrength=-80),
              "Device.WiFi.Radio.1.Channel": 1}
    heard = preconditions.heard_now(values, {})
    assert [(n["ssid"], n["bssid"], n["band"], n["channel"], n["rssi_dbm"]) for n in heard] == [
        ("a", "aa:00:00:00:00:01", None, 36, -80.0),
        ("b", "aa:00:00:00:00:02", "5GHz", 44, -61.0),
        ("c", "aa:00:00:00:00:10", "2.4GHz", 6, -70.0)]


def test_a_row_without_a_number_is_left_out() -> None:
    values = {**_row(1, BSSID="x", Channel="auto", SignalStrength=-50),
              **_row(2, BSSID="y", Channel=36, SignalStrength=""),
              **_row(3, BSSID="z", Channel=40, SignalStrength=-55)}
    assert [n["bssid"] for n in preconditions.heard_now(values, {})] == ["z"]


def test_a_gateway_of_ours_is_put_on_the_channel_gateward_wrote_on_its_band_only() -> None:
    values = {**_row(1, BSSID="AA:00:00:00:00:01", Channel=36, SignalStrength=-60, OperatingFrequencyBand="5GHz"),
              **_row(2, BSSID="AA:00:00:00:00:02", Channel=1, SignalStrength=-60, OperatingFrequencyBand="2.4GHz"),
              **_row(3, BSSID="AA:00:00:00:00:03", Channel=40, SignalStrength=-60)}
    managed = {"aa:00:00:00:00:01": ("5GHz", 149), "aa:00:00:00:00:02": ("5GHz", 100),
               "aa:00:00:00:00:03": ("5GHz", 44)}
    heard = {n["bssid"]: n["channel"] for n in preconditions.heard_now(values, managed)}
    assert heard == {"aa:00:00:00:00:01": 149,  # moved since the scan
                     "aa:00:00:00:00:02": 1,  # another band of that gateway: the scan stands
                     "aa:00:00:00:00:03": 44}  # the scan did not say the band: ours is known


@pytest.mark.parametrize("rssi, counts", [(-79.9, True), (-80.0, True), (-80.1, False), (-95, False)])
def test_nearby_is_minus_80_dbm_or_louder(rssi: float, counts: bool) -> None:
    c = Precondition(fact="neighbour_on_channel", expect="empty", value=36, band="5GHz", text="unless 36 is used")
    ok, fact = preconditions.holds(c, {}, None, [{"ssid": "n", "band": "5GHz", "channel": 36, "rssi_dbm": rssi}])
    assert ok is (not counts)
    assert ("n (" in fact) is counts and "-80 dBm or louder on channel 36" in fact


def test_a_neighbour_on_another_band_or_channel_is_not_counted() -> None:
    c = Precondition(fact="neighbour_on_channel", expect="empty", value=36, band="5GHz", text="unless 36 is used")
    heard = [{"ssid": "a", "band": "2.4GHz", "channel": 36, "rssi_dbm": -40},
             {"ssid": "b", "band": "5GHz", "channel": 40, "rssi_dbm": -40},
             {"ssid": "c", "band": None, "channel": 36, "rssi_dbm": -40}]  # a band not said: taken as the asked one
    ok, fact = preconditions.holds(c, {}, None, heard)
    assert not ok and "c (-40 dBm)" in fact and "a (" not in fact and "b (" not in fact


def test_a_condition_signs_at_write_only_when_it_is_set() -> None:
    now = Precondition(fact="online", expect="eq", value=True, text="online")
    later = now.model_copy(update={"at_write": True})
    assert "at_write" not in now.signed() and later.signed()["at_write"] is True
    assert {k: v for k, v in later.signed().items() if k != "at_write"} == now.signed()
