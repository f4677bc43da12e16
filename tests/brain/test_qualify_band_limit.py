"""``brain.qualify``: a request limited to a band writes nothing on another band — not a radio, and not a network.

Found reviewing ``qualify`` (the last stop's note, "left"): a 5 GHz channel request whose draft also renamed
a 2.4 GHz network passed, because the band limit was checked against radio settings only, and an SSID or
access point setting was judged (by role) only for network requests. A network lives on its radio's band
(TR-181 ``SSID.{i}.LowerLayers``; an access point on its ``SSIDReference``'s SSID), so a band limit holds
for it as for the radio; where a written network's band cannot be told, nothing is drafted (a limit is the
agent's word that nothing else is written: stricter, never looser).

Phrasings written for these tests (EN/DE/FR/ES); the gateways are those of
``tests/brain/test_qualify_excluded_band`` (three layouts, no index assumed). Nothing waits or needs a service.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.brain.test_qualify_excluded_band import OTHER, Gateway, accepted, drafted, gateway, read, refused, run

RADIO_LIMITED = [
    pytest.param("set the 5 GHz channel to 44", "5GHz", "Channel", 44, id="en-channel-5"),
    pytest.param("stell den Kanal im 5-GHz-Band auf 44", "5GHz", "Channel", 44, id="de-channel-5"),
    pytest.param("mets le canal 5 GHz sur 44", "5GHz", "Channel", 44, id="fr-channel-5"),
    pytest.param("pon el canal de 5 GHz en el 44", "5GHz", "Channel", 44, id="es-channel-5"),
    pytest.param("move the 2.4 GHz radio to channel 1", "2.4GHz", "Channel", 1, id="en-channel-24"),
    pytest.param("cambia el canal del 2,4 GHz al 6", "2.4GHz", "Channel", 6, id="es-channel-24"),
    pytest.param("lower the transmit power on the 2.4 GHz radio to 50", "2.4GHz", "TransmitPower", 50,
                 id="en-power-24"),
    pytest.param("setz die Sendeleistung im 5-GHz-Band auf 50 Prozent", "5GHz", "TransmitPower", 50,
                 id="de-power-5"),
]

# What a draft may add on a network beside the radio setting: a rename, a network switched off, a passphrase
NETWORK_WRITES = [
    pytest.param("SSID.{ssid}.SSID", "Lindenhof", id="rename"),
    pytest.param("SSID.{ssid}.Enable", False, id="off"),
    pytest.param("AccessPoint.{ap}.Security.KeyPassphrase", "[secret:1]", id="passphrase"),
]


def _radio(gw: Gateway, band: str, leaf: str, value: Any) -> tuple[str, Any]:
    return f"Device.WiFi.Radio.{gw.radio(band)}.{leaf}", value


@pytest.mark.parametrize("layout", ["dual", "tri", "crossed"])
@pytest.mark.parametrize(("net_leaf", "net_value"), NETWORK_WRITES)
@pytest.mark.parametrize(("text", "band", "leaf", "value"), RADIO_LIMITED)
def test_a_network_on_another_band_is_refused_beside_the_radio_asked_for(
        text: str, band: str, leaf: str, value: Any, net_leaf: str, net_value: Any, layout: str) -> None:
    """The radio asked for, plus a network on the other band: refused, naming the band; the radio alone, or
    with a network on its own band, is drafted as it is."""
    gw, req = gateway(layout), read(text)
    assert req.target.bands == [band], req
    other = OTHER[band]
    stray = [n for n in gw.nets if gw.radios[n.radio] == other]
    here = [n for n in gw.nets if gw.radios[n.radio] == band]
    assert stray and here

    def net(n: Any) -> tuple[str, Any]:
        return "Device.WiFi." + net_leaf.format(ssid=n.ssid, ap=n.ap), net_value

    out = run(gw, req, drafted(_radio(gw, band, leaf, value), net(stray[0])))
    said = refused(out, req)
    assert other in said and band in said, said
    alone = drafted(_radio(gw, band, leaf, value))
    accepted(run(gw, req, alone), alone)
    beside = drafted(_radio(gw, band, leaf, value), net(here[0]))
    accepted(run(gw, req, beside), beside)


@pytest.mark.parametrize(("text", "band", "leaf", "value"), RADIO_LIMITED[:4])
def test_a_network_whose_band_cannot_be_told_is_refused_under_a_band_limit(text: str, band: str, leaf: str,
                                                                           value: Any) -> None:
    """No ``LowerLayers`` in the tree: the band of a network cannot be told, so a write to one is not drafted
    under a band limit, and the refusal names its object; the radio alone still is."""
    gw, req = gateway("dual", lower_layers=False), read(text)
    n = gw.nets[0]
    said = refused(run(gw, req, drafted(_radio(gw, band, leaf, value), (f"Device.WiFi.SSID.{n.ssid}.SSID", "X"))),
                   req)
    assert f"Device.WiFi.SSID.{n.ssid}." in said and "cannot tell" in said, said
    alone = drafted(_radio(gw, band, leaf, value))
    accepted(run(gw, req, alone), alone)


def test_an_access_point_is_judged_by_the_network_it_serves_not_its_number() -> None:
    """On the crossed layout ``AccessPoint.1`` serves the 5 GHz network: under a 5 GHz limit its passphrase is
    drafted, and ``AccessPoint.2`` (the 2.4 GHz network's) is refused."""
    gw, req = gateway("crossed"), read("set the 5 GHz channel to 44")
    radio = _radio(gw, "5GHz", "Channel", 44)
    good = drafted(radio, ("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "[secret:1]"))
    accepted(run(gw, req, good), good)
    said = refused(run(gw, req, drafted(radio, ("Device.WiFi.AccessPoint.2.Security.KeyPassphrase", "[secret:1]"))),
                   req)
    assert "2.4GHz" in said, said


def test_a_request_with_no_band_limit_lets_networks_of_every_band_pass() -> None:
    """No band named: the limit does not apply (the role and value checks still do)."""
    gw, req = gateway("dual"), read("set the channel to 44")
    assert not req.target.bands, req
    plan = drafted(("Device.WiFi.Radio.2.Channel", 44), ("Device.WiFi.SSID.1.Enable", True))
    accepted(run(gw, req, plan), plan)


def test_a_limit_to_two_bands_names_both_and_refuses_the_third() -> None:
    """Tri-band, the width asked for on 2.4 and 5 GHz: a 6 GHz network beside it is refused, the refusal naming
    the band written and both bands of the limit; a network on either band of the limit is drafted."""
    gw, req = gateway("tri"), read("set the width to 40 MHz on the 2.4 and 5 GHz radios")
    assert req.target.bands == ["2.4GHz", "5GHz"], req
    radios = [(f"Device.WiFi.Radio.{gw.radio(b)}.OperatingChannelBandwidth", "40MHz") for b in ("2.4GHz", "5GHz")]
    six = next(n for n in gw.nets if gw.radios[n.radio] == "6GHz")
    said = refused(run(gw, req, drafted(*radios, (f"Device.WiFi.SSID.{six.ssid}.SSID", "X"))), req)
    assert said == "it would change a network on the 6GHz band, and you limited the request to 2.4GHz, 5GHz"
    for band in ("2.4GHz", "5GHz"):
        n = next(n for n in gw.nets if gw.radios[n.radio] == band)
        ok = drafted(*radios, (f"Device.WiFi.SSID.{n.ssid}.Enable", True))
        accepted(run(gw, req, ok), ok)


def test_the_refusal_for_a_network_of_unknown_band_says_so_in_full() -> None:
    gw, req = gateway("dual", lower_layers=False), read("set the 5 GHz channel to 44")
    said = refused(run(gw, req, drafted(("Device.WiFi.Radio.2.Channel", 44), ("Device.WiFi.SSID.3.SSID", "X"))), req)
    assert said == ("it would change Device.WiFi.SSID.3. and I cannot tell whether that is on 5GHz, which you "
                    "limited the request to")
