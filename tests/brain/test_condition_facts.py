"""Each kind of condition the reader checks before a write, read to its fact, comparison, value and band.

The reader's conditions were tested through whole messages, mostly for whether a condition was found at all; a
sampled mutation run of ``brain/understanding`` (docs/decisions/0031, fifth round) found ``conditions.py`` the weakest
of its modules — a comparison turned round, a unit's seconds, a band dropped went unnoticed. Every phrasing is this
file's own; each expectation is what must hold for the write to go ahead."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding.conditions import find

DAY, HOUR, WEEK = 86400, 3600, 7 * 86400


def _one(text: str, action: str | None, value: Any = None, band: str | None = None) -> tuple[Any, ...]:
    found = find(text, action=action, value=value, band=band)  # type: ignore[arg-type]
    assert len(found.conditions) == 1 and not found.unplaced, (found.conditions, found.unplaced)
    c = found.conditions[0]
    return c.fact, c.expect, c.value, c.band


@pytest.mark.parametrize(("text", "value", "want"), [
    ("if the power is below 50 %, set it to 100%", 100, ("power", "lt", 50, None)),
    ("unless the transmit power is already above 75 %", 100, ("power", "lt", 75, None)),
    ("only if the tx power is over 60 percent", 25, ("power", "gt", 60, None)),
    ("if the 5 GHz power is under 25 percent", 100, ("power", "lt", 25, "5GHz")),
    ("only if the power is at full", 50, ("power", "eq", 100, None)),
    ("unless it's already at half power", 100, ("power", "ne", 50, None)),
    ("wenn die Sendeleistung unter 50 Prozent liegt", 100, ("power", "lt", 50, None)),
    ("sofern die Leistung über 80 Prozent ist", 50, ("power", "gt", 80, None)),
    ("si la puissance est inférieure à 50 %", 100, ("power", "lt", 50, None)),
    ("siempre que la potencia esté por debajo del 50 %", 100, ("power", "lt", 50, None)),
    ("si la potencia está por encima del 90 %", 50, ("power", "gt", 90, None))])
def test_a_power_condition(text: str, value: int, want: tuple[Any, ...]) -> None:
    assert _one(text, "power", value) == want


def test_a_power_condition_takes_the_band_of_the_change() -> None:
    assert _one("if the power is below 50 %", "power", 100, "2.4GHz") == ("power", "lt", 50, "2.4GHz")


@pytest.mark.parametrize(("text", "want"), [
    ("if it's been running for over a month", ("uptime", "gt", 30 * DAY)),
    ("if it has been up for more than 2 weeks", ("uptime", "gt", 2 * WEEK)),
    ("unless it was restarted within the last day", ("uptime", "gt", DAY)),
    ("if it hasn't been restarted in 3 days", ("uptime", "gt", 3 * DAY)),
    ("if uptime is less than 10 minutes", ("uptime", "lt", 600)),
    ("unless it has been up for more than 6 hours", ("uptime", "lt", 6 * HOUR)),
    ("wenn er seit über einer Woche läuft", ("uptime", "gt", WEEK)),
    ("si elle tourne depuis plus de 2 jours", ("uptime", "gt", 2 * DAY)),
    ("if it's been up for a couple of hours", ("uptime", "gt", 2 * HOUR)),
    ("if it's been up for an hour", ("uptime", "gt", HOUR)),
    ("if it's been up for 45 min", ("uptime", "gt", 45 * 60))])
def test_an_uptime_condition_in_seconds(text: str, want: tuple[Any, ...]) -> None:
    assert _one(text, "reboot")[:3] == want


@pytest.mark.parametrize(("text", "value", "want"), [
    ("unless a neighbour is already on 11", 11, ("neighbour_on_channel", "empty", 11, None)),
    ("if 11 is free", 11, ("neighbour_on_channel", "empty", 11, None)),
    ("as long as nobody else sits on 13", 13, ("neighbour_on_channel", "empty", 13, None)),
    ("unless channel 6 is occupied", 1, ("neighbour_on_channel", "empty", 6, None)),
    ("if no neighbour uses channel 36", 36, ("neighbour_on_channel", "empty", 36, None)),
    ("if the channel is crowded", 6, ("neighbour_on_channel", "nonempty", 6, None)),
    ("only if a neighbour sits on 1", 6, ("neighbour_on_channel", "nonempty", 1, None)),
    ("unless 44 is free", 44, ("neighbour_on_channel", "nonempty", 44, None)),
    ("wenn Kanal 11 frei ist", 11, ("neighbour_on_channel", "empty", 11, None)),
    ("sauf si un voisin est déjà sur le 6", 6, ("neighbour_on_channel", "empty", 6, None)),
    ("si el canal 1 está libre", 1, ("neighbour_on_channel", "empty", 1, None))])
def test_a_neighbour_on_the_channel(text: str, value: int, want: tuple[Any, ...]) -> None:
    assert _one(text, "channel", value) == want


def test_a_neighbour_condition_takes_the_band_of_the_change() -> None:
    assert _one("unless a neighbour is already on 11", "channel", 11, "2.4GHz") == (
        "neighbour_on_channel", "empty", 11, "2.4GHz")


@pytest.mark.parametrize(("text", "expect"), [
    ("if nobody is connected", "empty"), ("unless someone is connected", "empty"),
    ("if there are no devices connected", "empty"), ("if anyone is online", "nonempty"),
    ("only if somebody is using it", "nonempty"), ("unless nobody is online", "nonempty"),
    ("sofern keiner verbunden ist", "empty"), ("sauf si quelqu'un est connecté", "empty"),
    ("si no hay ningún dispositivo conectado", "empty")])
def test_connected_hosts(text: str, expect: str) -> None:
    assert _one(text, "reboot") == ("hosts_connected", expect, None, None)


@pytest.mark.parametrize(("text", "want"), [
    ("if the DNS is empty", ("dns_servers", "empty", None)),
    ("unless a DNS server is already set", ("dns_servers", "empty", None)),
    ("if the resolver is not configured", ("dns_servers", "empty", None)),
    ("only if it has a nameserver set", ("dns_servers", "nonempty", None)),
    ("unless it already points at 192.0.2.53", ("dns_servers", "ne", "192.0.2.53")),
    ("if the dns is 9.9.9.9", ("dns_servers", "eq", "9.9.9.9")),
    ("if the DNS isn't 1.1.1.1", ("dns_servers", "ne", "1.1.1.1"))])
def test_a_dns_condition(text: str, want: tuple[Any, ...]) -> None:
    assert _one(text, "dns")[:3] == want


@pytest.mark.parametrize(("text", "action", "value", "want"), [
    ("if it's on firmware 7.2.6", "reboot", None, ("firmware", "eq", "7.2.6", None)),
    ("unless it already runs 2.0.1", "reboot", None, ("firmware", "ne", "2.0.1", None)),
    ("if the version is not 3.1", "reboot", None, ("firmware", "ne", "3.1", None)),
    ("if it's still on 149", "channel", 36, ("channel", "eq", 149, None)),
    ("unless it's already on 11", "channel", 11, ("channel", "ne", 11, None)),
    ("if it's on channel 6", "channel", 1, ("channel", "eq", 6, None)),
    ("if the 5 GHz is on channel 52", "channel", 36, ("channel", "eq", 52, "5GHz")),
    ("unless it's not on channel 6", "channel", 1, ("channel", "eq", 6, None))])
def test_the_firmware_or_the_channel(text: str, action: str, value: Any, want: tuple[Any, ...]) -> None:
    assert _one(text, action, value) == want


@pytest.mark.parametrize(("text", "action", "value", "band", "want"), [
    ("if the guest network is off", "ssid_enable", True, None, ("ssid_enabled", "eq", False, None)),
    ("unless it is already on", "ssid_enable", True, None, ("ssid_enabled", "eq", False, None)),
    ("unless the 5 GHz is already on", "band_enable", True, "5GHz", ("band_enabled", "eq", False, "5GHz")),
    ("if it's still on", "band_enable", False, "2.4GHz", ("band_enabled", "eq", True, "2.4GHz")),
    ("unless it's already off", "ssid_enable", False, None, ("ssid_enabled", "eq", True, None))])
def test_a_network_or_band_already_as_asked(text: str, action: str, value: Any, band: str | None,
                                            want: tuple[Any, ...]) -> None:
    assert _one(text, action, value, band) == want


@pytest.mark.parametrize(("text", "want"), [
    ("if it's been up for 45 min", ("uptime", "gt", 45 * 60)),
    ("if it's been up for 3 hrs", ("uptime", "gt", 3 * HOUR)),
    ("wenn er seit 2 Std läuft", ("uptime", "gt", 2 * HOUR))])
def test_an_uptime_said_with_a_short_unit(text: str, want: tuple[Any, ...]) -> None:
    """"45 min" was no length: the condition became "the gateway is online" — a reboot gated on nothing asked."""
    assert _one(text, "reboot")[:3] == want


@pytest.mark.parametrize(("text", "want"), [
    ("si no hay ningún dispositivo conectado", ("hosts_connected", "empty", None)),
    ("si no hay ningún equipo conectado", ("hosts_connected", "empty", None)),
    ("wenn keine Geräte online sind", ("hosts_connected", "empty", None)),
    ("if the gateway is online", ("online", "eq", True)), ("si el router está conectado", ("online", "eq", True)),
    ("if it is not online", ("online", "eq", False))])
def test_hosts_online_and_the_gateway_online_are_told_apart(text: str, want: tuple[Any, ...]) -> None:
    """"conectado" said of the hosts was the gateway's presence ("si no hay ningún dispositivo conectado" gated the
    write on the gateway being *offline*), and "if the gateway is online" was a condition on connected hosts."""
    assert _one(text, "reboot")[:3] == want


@pytest.mark.parametrize(("text", "action", "value", "want"), [
    ("unless it's already there", "channel", 11, ("channel", "ne", 11, None)),
    ("if it isn't there yet", "channel", 11, ("channel", "ne", 11, None)),
    ("if it's under half", "power", 100, ("power", "lt", 50, None)),
    ("unless it is already at the maximum", "power", 100, ("power", "ne", 100, None)),
    ("wenn ein Nachbar auf Kanal 6 funkt", "channel", 6, ("neighbour_on_channel", "nonempty", 6, None)),
    ("if the devices aren't connected", "reboot", None, ("hosts_connected", "empty", None, None))])
def test_a_condition_on_the_changes_own_object(text: str, action: str, value: Any, want: tuple[Any, ...]) -> None:
    """Said of the object the change names ("there", "half"), or with the noun capitalised as German writes it."""
    assert _one(text, action, value) == want


@pytest.mark.parametrize("text", ["es sei denn, ein Nachbar sitzt schon auf 11",
                                  "es sei denn, auf Kanal 11 funkt schon ein Nachbar"])
def test_a_german_es_sei_denn_with_its_comma(text: str) -> None:
    """"es sei denn," is written with its comma: the comma ended the condition before its first word, so the change
    went ahead with no condition at all."""
    assert _one(text, "channel", 11) == ("neighbour_on_channel", "empty", 11, None)


@pytest.mark.parametrize("text", ["c'est si lent le soir", "va si lento por la noche", "el wifi va si mal"])
def test_si_as_so_opens_no_condition(text: str) -> None:
    found = find(text, action=None, value=None, band=None)
    assert not found.conditions and not found.unplaced


@pytest.mark.parametrize("text", ["if nothing is connected to it", "unless something is still connected to it"])
def test_nothing_connected_to_it_is_the_hosts_not_the_gateway(text: str) -> None:
    """"it" names the gateway, but what is connected to it is the hosts (the gateway check must not take these)."""
    assert _one(text, "reboot") == ("hosts_connected", "empty", None, None)
