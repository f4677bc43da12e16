"""Which network is the guest one is read from its access point's isolation flag (``brain.roles``), and
an access point belongs to the SSID its ``SSIDReference`` names: a gateway may number its access points
otherwise than its SSIDs. Paired by index, the guest flag landed on the household's network — a guest
rename would then have been drafted onto the home network, and qualify would have accepted it."""

from __future__ import annotations

from brain import roles
from brain.roles import RadioInfo

RADIOS = [RadioInfo(index=1, band="2.4GHz", channel=6, auto_channel=False, bandwidth="20MHz", possible=[1, 6, 11],
                    tx_power=100, tx_supported=[25, 50, 100]),
          RadioInfo(index=2, band="5GHz", channel=36, auto_channel=False, bandwidth="80MHz", possible=[36, 44],
                    tx_power=100, tx_supported=[25, 50, 100])]


def tree(*, refs: bool = True) -> dict[str, dict[str, object]]:
    """SSID 1 the household's (2.4 GHz), SSID 2 the guests' (2.4 GHz), SSID 3 the household's 5 GHz; the
    access points are numbered the other way round: AccessPoint.1 serves SSID 3, .2 SSID 2, .3 SSID 1."""
    out: dict[str, dict[str, object]] = {}
    for i, (name, radio) in enumerate([("Linde", 1), ("Linde-Besuch", 1), ("Linde-5", 2)], 1):
        out |= {f"Device.WiFi.SSID.{i}.SSID": {"value": name},
                f"Device.WiFi.SSID.{i}.LowerLayers": {"value": f"Device.WiFi.Radio.{radio}."}}
    for ap, (ssid, isolated) in enumerate([(3, False), (2, True), (1, False)], 1):
        out[f"Device.WiFi.AccessPoint.{ap}.IsolationEnable"] = {"value": isolated}
        if refs:
            out[f"Device.WiFi.AccessPoint.{ap}.SSIDReference"] = {"value": f"Device.WiFi.SSID.{ssid}."}
    return out


def test_an_access_point_belongs_to_the_ssid_it_references() -> None:
    got = {s.index: (s.name, s.band, s.role) for s in roles.ssids(tree(), RADIOS)}
    assert got == {1: ("Linde", "2.4GHz", "primary"), 2: ("Linde-Besuch", "2.4GHz", "guest"),
                   3: ("Linde-5", "5GHz", "primary")}
    assert [s.index for s in roles.pick(roles.ssids(tree(), RADIOS), "guest", [])] == [2]


def test_the_guest_flag_moves_with_the_reference() -> None:
    """The same networks with the guest access point pointing at SSID 1 instead: SSID 1 is the guests'."""
    t = tree()
    t["Device.WiFi.AccessPoint.2.IsolationEnable"] = {"value": False}
    t["Device.WiFi.AccessPoint.3.IsolationEnable"] = {"value": True}
    assert [s.index for s in roles.pick(roles.ssids(t, RADIOS), "guest", [])] == [1]


def test_without_a_reference_an_access_point_pairs_by_index() -> None:
    """A tree that does not say (a partial read): the access point of the same number, as before."""
    got = {s.index: s.role for s in roles.ssids(tree(refs=False), RADIOS)}
    assert got == {1: "primary", 2: "guest", 3: "primary"}
