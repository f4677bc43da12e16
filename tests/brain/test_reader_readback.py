"""What the agent and the approver read back, word for word (issue 55.13, 57.5): every condition said once
and in words, every part of a request in its place, the canonical command a correction is planned as —
and the values in words and corrections they come from. Pure functions: no fleet needed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from brain.understanding import checker, values
from brain.understanding.request import Condition, Request, Schedule, Scope, Target, Unplaced

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("fact", "expect", "value", "band", "said"), [
    ("dns_servers", "empty", None, None, "only if no DNS server is set"),
    ("dns_servers", "nonempty", None, None, "only if a DNS server is set"),
    ("dns_servers", "eq", "192.0.2.53", None, "only if a DNS server is 192.0.2.53"),
    ("dns_servers", "ne", "192.0.2.53", None, "only if no DNS server is 192.0.2.53"),
    ("neighbour_on_channel", "empty", 13, "2.4GHz", "only if no neighbouring network is on channel 13 on 2.4GHz"),
    ("neighbour_on_channel", "nonempty", 36, None, "only if a neighbouring network is on channel 36"),
    ("hosts_connected", "empty", None, None, "only if no device is connected"),
    ("hosts_connected", "nonempty", None, None, "only if a device is connected"),
    ("uptime", "gt", 7 * 86400, None, "only if it has been up longer than 7 days"),
    ("uptime", "lt", 12 * 3600, None, "only if it has been up less than 12 hours"),
    ("power", "lt", 50, "2.4GHz", "only if the transmit power is below 50 % (2.4GHz)"),
    ("power", "gt", 75, None, "only if the transmit power is above 75 %"),
    ("power", "eq", 100, None, "only if the transmit power is at 100 %"),
    ("power", "ne", 100, None, "only if the transmit power is not at 100 %"),
    ("online", "eq", True, None, "only if the gateway is online"),
    ("online", "eq", False, None, "only if the gateway is offline"),
    ("band_enabled", "eq", False, "5GHz", "only if the radio is off (5GHz)"),
    ("band_enabled", "ne", False, None, "only if the radio is on"),
    ("ssid_enabled", "eq", True, None, "only if the network is on"),
    ("firmware", "eq", "7.2.6", None, "only if the firmware is 7.2.6"),
    ("firmware", "ne", "7.2.6", None, "only if the firmware is not 7.2.6"),
    ("channel", "eq", 11, "2.4GHz", "only if the channel is 11 (2.4GHz)"),
])
def test_each_condition_is_said_in_words(fact: str, expect: str, value: object, band: str | None,
                                         said: str) -> None:
    c = Condition.model_validate({"fact": fact, "expect": expect, "value": value, "band": band, "words": "…"})
    assert checker.condition_text(c) == said


def test_a_whole_request_reads_back_in_order_and_only_once() -> None:
    at = datetime(2026, 11, 28, 2, tzinfo=UTC)
    req = Request(act="change", action="channel", values={"value": 13}, target=Target(bands=["2.4GHz"]),
                  schedule=Schedule(not_before=at, zone="Europe/Berlin", words="tonight at 3", assumed=None),
                  conditions=[Condition(fact="neighbour_on_channel", expect="empty", value=13, band="2.4GHz",
                                        words="if free")], exclusions=["5GHz"])
    assert checker.readback(req, BERLIN) == (
        "change the channel to 13 on 2.4GHz only not before Sat 28 Nov 03:00 (Europe/Berlin) only if no "
        "neighbouring network is on channel 13 on 2.4GHz leaving 5GHz untouched")
    req = req.model_copy(update={"schedule": None})  # "… only" then a condition: said once
    assert checker.readback(req, BERLIN) == ("change the channel to 13 on 2.4GHz only, if no neighbouring network "
                                             "is on channel 13 on 2.4GHz leaving 5GHz untouched")


@pytest.mark.parametrize(("req", "said"), [
    (Request(act="change", action="band_enable", values={"value": False}, target=Target(bands=["5GHz"])),
     "turn the 5GHz radio off"),
    (Request(act="change", action="band_enable", values={"value": True}), "turn the Wi-Fi on (every radio)"),
    (Request(act="change", action="ssid_enable", values={"value": True}, target=Target(ssid_role="guest")),
     "turn the guest network on"),
    (Request(act="change", action="power", values={"step": -2}, target=Target(bands=["5GHz"])),
     "change the transmit power 2 levels down on 5GHz only"),
    (Request(act="change", action="power", values={"step": 1}), "change the transmit power 1 level up"),
    (Request(act="change", action="ssid", values={"ssid": "Linden Court"},
             target=Target(bands=["2.4GHz", "5GHz"], ssid_role="primary")),
     "rename the Wi-Fi network to \u201cLinden Court\u201d on the primary network on 2.4GHz and 5GHz only"),
    (Request(act="change", action="dns", servers=["9.9.9.9", "1.1.1.1"],
             scope=Scope(kind="neighbourhood", words="this street")),
     "set the DNS servers to 9.9.9.9, 1.1.1.1 for this street"),
    (Request(act="diagnose"), "find out what is wrong with the gateway and fix it"),
])
def test_read_backs_say_the_action_in_words(req: Request, said: str) -> None:
    assert checker.readback(req) == said


def test_the_question_names_every_unplaced_part_and_the_action() -> None:
    req = Request(act="change", action="reboot", unplaced=[
        Unplaced(words="sometime", kind="time", why="a time I cannot turn into a clock time"),
        Unplaced(words="and text her", kind="request")])
    assert checker.question(req) == (
        "Before I draft anything: I understood that you want me to reboot the gateway, but I could not place "
        "\u201csometime\u201d (a time I cannot turn into a clock time); \u201cand text her\u201d. Tell me how that "
        "part should be handled (or say to leave it out) — I will not act on only part of the request.")
    assert checker.question(req.model_copy(update={"act": "question"})) is None
    assert checker.question(req.model_copy(update={"unplaced": []})) is None


@pytest.mark.parametrize(("req", "command"), [
    (Request(act="change", action="channel", values={"value": 44}, target=Target(bands=["5GHz"])),
     "set the 5GHz channel to 44"),
    (Request(act="change", action="width", values={"value": "40MHz"}), "set the channel width to 40MHz"),
    (Request(act="change", action="power", values={"value": 50}, target=Target(bands=["2.4GHz"])),
     "set the 2.4GHz transmit power to 50%"),
    (Request(act="change", action="power", values={"step": -1}, target=Target(bands=["5GHz"])),
     "set the 5GHz transmit power a notch lower"),
    (Request(act="change", action="power", values={"step": 2}), "set the transmit power 2 steps up"),
    (Request(act="change", action="band_enable", values={"value": False}, target=Target(bands=["2.4GHz"])),
     "turn the 2.4GHz off"),
    (Request(act="change", action="ssid_enable", values={"value": True}), "turn the guest network on"),
    (Request(act="change", action="dns", servers=["9.9.9.9"]), "set the dns servers to 9.9.9.9"),
    (Request(act="change", action="inform_interval", values={"value": 1800}),
     "set the inform interval to 1800 seconds"),
    (Request(act="change", action="reboot"), "please reboot the gateway"),
    (Request(act="change", action="ping", values={"value": "example.com"}), "ping example.com"),
    (Request(act="change", action="ssid", values={"ssid": "Kaiser-Netz"}),
     "rename the wifi network to \"Kaiser-Netz\""),
])
def test_a_corrected_request_is_planned_as_one_canonical_command(req: Request, command: str) -> None:
    assert checker.render(req) == command


def test_a_rendered_step_reads_back_as_the_same_step() -> None:
    from brain.understanding.actions import parse

    for step in (-1, 1, -2, 3):
        again = parse(checker.render(Request(act="change", action="power", values={"step": step},
                                             target=Target(bands=["5GHz"]))))
        assert again is not None and (again.action, again.step, again.band) == ("power", step, "5GHz")


# ---------------------------------------------------------------------------- values in words
@pytest.mark.parametrize(("text", "pct"), [
    ("half power on the 5", 50), ("Sendeleistung auf halb", 50), ("puissance à moitié", 50),
    ("potencia a la mitad", 50), ("quarter power", 25), ("Leistung ein Viertel", 25),
    ("puissance au quart", 25), ("potencia a un cuarto", 25), ("three quarters power", 75),
    ("Sendeleistung dreiviertel", 75), ("puissance trois quarts", 75), ("potencia tres cuartos", 75),
    ("full power please", 100), ("Sendeleistung auf volle Leistung", 100), ("puissance à fond", 100),
    ("potencia al máximo", 100),
])
def test_a_share_of_full_power_in_words(text: str, pct: int) -> None:
    assert values.power_fraction(text) == pct


@pytest.mark.parametrize("text", ["half the neighbours are loud", "power to 50 %", "set the power to 75 percent"])
def test_no_share_without_a_power_word_or_beside_a_number(text: str) -> None:
    assert values.power_fraction(text) is None


@pytest.mark.parametrize(("text", "step"), [
    ("power a notch lower", -1), ("transmit power up a bit", 1), ("Sendeleistung ein bisschen runter", -1),
    ("Sendeleistung etwas höher", 1), ("puissance un cran plus bas", -1), ("potencia un poco más alta", 1),
    ("power two steps down", -2), ("Sendeleistung drei Stufen hoch", 3), ("potencia dos niveles menos", -2),
    ("puissance deux crans moins", -2),
])
def test_a_step_and_its_direction(text: str, step: int) -> None:
    assert values.power_step(text) == step


@pytest.mark.parametrize("text", ["power a notch", "power lower", "the power a bit up and down",
                                  "a notch lower on the channel", "power a bit lower to 50 %"])
def test_no_step_without_a_power_word_a_step_and_one_direction(text: str) -> None:
    assert values.power_step(text) is None


def test_a_percent_beside_a_power_word() -> None:
    assert values.percent("raise the power to 75 percent") == 75
    assert values.percent("Leistung 20 Prozent") == 20
    assert values.percent("75 percent of the users") is None


@pytest.mark.parametrize(("text", "read"), [
    ("set it to 36... sorry, 44", "set it to 44"),
    ("at 2 — no wait, make that 3 am", "at 3 am"),
    ("canal 11, non, le 6", "canal 6"),
    ("Kanal 40, nein, lieber 48", "Kanal 48"),
    ("canal 6, perdón, el 1", "canal 1"),
    ("set channel 6, no 11 is busy", "set channel 6, no 11 is busy"),  # a reason, not a value
    ("no wait, 44", "no wait, 44"),  # nothing earlier to correct
    ("the box is slow, sorry", "the box is slow, sorry"),
])
def test_a_value_corrected_inside_a_message(text: str, read: str) -> None:
    assert values.inline_correction(text) == read


def test_a_long_message_or_one_without_numbers_is_read_as_it_is() -> None:
    long = "channel 36, sorry, 44 " + "and so on " * 80
    assert values.inline_correction(long) == long
    assert values.inline_correction("channel thirty-six, sorry, forty-four") == "channel thirty-six, sorry, forty-four"
