"""A question about the clients of one band is answered for that band (issue 57, round eight).

"how many devices are on the 5 GHz?" was answered with every host, all under "Wi-Fi (band unknown)": the simulated
gateways listed no ``Layer1Interface`` (a real CPE names the SSID a client is associated with), and the answer did not
lead with the band asked. The gateway's tree here is written out, so the band of each client is known."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from brain.answers import Answerer

_AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
_TREE: dict[str, dict[str, Any]] = {
    "Device.WiFi.Radio.": {"Device.WiFi.Radio.1.OperatingFrequencyBand": "2.4GHz",
                           "Device.WiFi.Radio.2.OperatingFrequencyBand": "5GHz"},
    "Device.WiFi.SSID.": {"Device.WiFi.SSID.1.LowerLayers": "Device.WiFi.Radio.1",
                          "Device.WiFi.SSID.2.LowerLayers": "Device.WiFi.Radio.2."},  # a trailing dot, as some send
    "Device.Hosts.": {},
}
_HOSTS = [("tablet", "Device.WiFi.SSID.1", True), ("tv", "Device.WiFi.SSID.2.", True), ("laptop", "Device.WiFi.SSID.2",
          True), ("nas", "", True), ("old-phone", "Device.WiFi.SSID.1", False)]


def _answerer(question: str, hosts: list[tuple[str, str, bool]] = _HOSTS) -> Answerer:
    a = Answerer(None, {}, question, lambda r: None)  # type: ignore[arg-type]  # every read is preset below
    tree = {**_TREE, "Device.Hosts.": {}}
    for i, (name, l1, active) in enumerate(hosts, start=1):
        base = f"Device.Hosts.Host.{i}."
        tree["Device.Hosts."].update({base + "HostName": name, base + "Active": active, base + "Layer1Interface": l1,
                                      base + "InterfaceType": "Wi-Fi" if l1 else "Ethernet"})
    for prefix, vals in tree.items():
        a._reads[prefix] = ({p: {"value": v} for p, v in vals.items()}, _AT, "read live")
    return a


@pytest.mark.parametrize(("question", "band", "on", "names"), [
    ("how many devices are on the 5 GHz?", "5GHz", 2, ('"tv"', '"laptop"')),
    ("wie viele Geräte hängen am 5er?", "5GHz", 2, ('"tv"', '"laptop"')),
    ("qui est connecté sur le 2,4 GHz ?", "2.4GHz", 1, ('"tablet"',)),
    ("¿cuántos equipos hay en la banda de 2,4?", "2.4GHz", 1, ('"tablet"',))])
def test_the_band_asked_leads_and_the_rest_is_counted_beside_it(question: str, band: str, on: int,
                                                                names: tuple[str, ...]) -> None:
    text = _answerer(question).hosts()
    assert text.startswith(f"{on} device(s) on {band} right now"), text
    assert all(n in text.split(";")[0] for n in names), text
    others = 4 - on  # four active, one of them wired; the inactive phone is never counted
    assert f"; {others} more elsewhere" in text and "wired: 1" in text and '"old-phone"' not in text, text


def test_no_band_asked_lists_every_band() -> None:
    text = _answerer("what's connected right now?").hosts()
    assert text.startswith("4 device(s) connected right now"), text
    assert '2.4GHz: 1 — "tablet"' in text and '5GHz: 2 — "tv", "laptop"' in text and 'wired: 1 — "nas"' in text, text


def test_a_band_no_network_is_on_is_no_band_to_lead_with() -> None:
    text = _answerer("how many devices are on the 6 GHz?").hosts()
    assert text.startswith("4 device(s) connected right now"), text


def test_the_band_asked_with_nobody_on_it_says_so() -> None:
    text = _answerer("anyone on the 2.4 GHz?", [("tv", "Device.WiFi.SSID.2", True)]).hosts()
    assert text.startswith("0 device(s) on 2.4GHz right now; 1 more elsewhere (5GHz: 1)"), text


def test_a_simulated_gateway_names_each_wifi_clients_ssid() -> None:
    """The simulator's tree is what the demo and the evals read: a Wi-Fi client's Layer1Interface is the household
    SSID on its band (never the guest one), a wired client's is empty."""
    from executors.sim.catalog import HostEntry, build_factory_tree, default_identity, get_model, models

    hosts = [HostEntry(mac="02:00:00:00:00:01", ip="192.168.1.10", name="a", band="5GHz"),
             HostEntry(mac="02:00:00:00:00:02", ip="192.168.1.11", name="b", band="2.4GHz"),
             HostEntry(mac="02:00:00:00:00:03", ip="192.168.1.12", name="c", wifi=False)]
    checked = 0
    for m in models():
        model = get_model(m.key)
        tree = build_factory_tree(model, "DE", default_identity(model, "SN0001", hosts=hosts))
        if "Device.Hosts.Host.1.Layer1Interface" not in tree:
            continue  # a TR-098 model, or one whose firmware lists no Layer1Interface
        for n, band in ((1, "5GHz"), (2, "2.4GHz")):
            l1 = str(tree[f"Device.Hosts.Host.{n}.Layer1Interface"])
            radio = str(tree[f"{l1}.LowerLayers"])
            assert tree[f"{radio}.OperatingFrequencyBand"] == band, (m.key, n, l1)
            assert not str(tree[f"{l1}.SSID"]).endswith("-Guest"), (m.key, l1)
        assert tree["Device.Hosts.Host.3.Layer1Interface"] == ""
        checked += 1
    assert checked >= 3  # the TR-181 models
