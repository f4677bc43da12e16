"""Each band keeps its own value, and every other pair or setting is deferred by name or asked about
(``brain.understanding.pairs``), read on the message's core as the understander hands it over: bands already
normalised ("2.4GHz", "5GHz", "6GHz").

What the agent and the approver are told is the point of each test: which band is drafted with which value, which
pair or setting is deferred and in what words, in what order, and what is asked when no pair is the value drafted.
"""

from __future__ import annotations

import pytest

from brain.understanding.pairs import band_values, settings_beside, settle
from brain.understanding.request import Action, Band, Request, Target, Unplaced
from core.kernel.models import Scalar

ASK_WHY = "a value for each band, and I could not tell which the request is: ask for one band's at a time"


def change(action: Action, value: Scalar, bands: list[Band] | None = None, words: str = "",
           unplaced: list[Unplaced] | None = None) -> Request:
    return Request(act="change", action=action, values={"value": value},
                   target=Target(bands=bands or [], words=words), unplaced=unplaced or [])


# ---------------------------------------------------------------------------- band_values: each band, its own value
@pytest.mark.parametrize(("core", "action", "pairs"), [
    # the band first, its value after it
    ("set 2.4GHz on 1 and the 5GHz on 44", "channel", [("2.4GHz", 1), ("5GHz", 44)]),
    ("stell das 2.4GHz auf 6 und das 5GHz auf 44", "channel", [("2.4GHz", 6), ("5GHz", 44)]),
    ("mets le 2.4GHz sur 11 et le 5GHz sur 48", "channel", [("2.4GHz", 11), ("5GHz", 48)]),
    ("pon el 2.4GHz en el 1 y el 5GHz en el 36", "channel", [("2.4GHz", 1), ("5GHz", 36)]),
    ("set the width to 20 MHz on 2.4GHz and 80 MHz on 5GHz", "width", [("2.4GHz", "20MHz"), ("5GHz", "80MHz")]),
    ("transmit power 50% on the 2.4GHz and 100% on the 5GHz", "power", [("2.4GHz", 50), ("5GHz", 100)]),
    # in the order said, whichever band comes first; the 6 GHz band by its own name
    ("das 6GHz auf 37 und das 5GHz auf 44", "channel", [("6GHz", 37), ("5GHz", 44)]),
    ("set 2.4GHz on 1 and the 5GHz on 44 and the 6GHz on 37", "channel",
     [("2.4GHz", 1), ("5GHz", 44), ("6GHz", 37)]),
    ("set 2.4GHz to 20 MHz, 5GHz to 80 MHz and 6GHz to 160 MHz", "width",
     [("2.4GHz", "20MHz"), ("5GHz", "80MHz"), ("6GHz", "160MHz")]),
    # the value first, its band after it — the message may begin with the value itself
    ("channel 6 for 2.4GHz and 149 for 5GHz", "channel", [("2.4GHz", 6), ("5GHz", 149)]),
    ("Kanal 1 für 2.4GHz und Kanal 36 für 5GHz bitte", "channel", [("2.4GHz", 1), ("5GHz", 36)]),
    ("canal 11 en 2.4GHz y canal 40 en 5GHz", "channel", [("2.4GHz", 11), ("5GHz", 40)]),
    ("11 for the 2.4GHz and 36 for the 5GHz", "channel", [("2.4GHz", 11), ("5GHz", 36)]),
    ("11 für das 2.4GHz und 36 für das 5GHz", "channel", [("2.4GHz", 11), ("5GHz", 36)]),
    ("36 pour le 5GHz et 11 pour le 2.4GHz", "channel", [("5GHz", 36), ("2.4GHz", 11)]),
])
def test_each_band_named_is_read_with_the_value_said_beside_it(core: str, action: str,
                                                                pairs: list[tuple[str, object]]) -> None:
    assert band_values(core, action) == pairs


@pytest.mark.parametrize(("core", "action", "pairs"), [
    # the first band has no value of its own: the bands after it still keep theirs, never the first band's
    ("2.4GHz stays, 5GHz on 44 and 6GHz on 37", "channel", [("5GHz", 44), ("6GHz", 37)]),
    ("transmit power: 2.4GHz unchanged, 5GHz at 50% and 6GHz at 100%", "power", [("5GHz", 50), ("6GHz", 100)]),
    # a band in the middle without a value is left out; it never borrows the next band's
    ("2.4GHz on 1, 5GHz stays and 6GHz on 37", "channel", [("2.4GHz", 1), ("6GHz", 37)]),
    ("2.4GHz at 50%, 5GHz unchanged and 6GHz at 100%", "power", [("2.4GHz", 50), ("6GHz", 100)]),
])
def test_a_band_named_without_a_value_of_its_own_is_left_out_and_lends_nothing(
        core: str, action: str, pairs: list[tuple[str, object]]) -> None:
    assert band_values(core, action) == pairs


def test_a_band_said_with_another_setting_is_no_pair_of_the_drafted_action() -> None:
    # "the 5GHz power to 50%" is a power setting, not the 5 GHz's channel: no channel 50 on the 5 GHz
    core = "set 2.4GHz on 1 and 5GHz power to 50%"
    assert band_values(core, "channel") == [("2.4GHz", 1)]
    assert settings_beside(core, "channel") == [("power", 50, "5GHz")]


@pytest.mark.parametrize(("core", "action"), [
    ("set 5GHz on 44", "channel"),  # one band: the drafted value is its own
    ("stell das 5GHz auf Kanal 36", "channel"),
    ("set 2.4GHz on 1 and the 5GHz on 44", "reboot"),  # an action without a value per band
    ("set 2.4GHz on 1 and the 5GHz on 44", "dns"),
])
def test_no_pairs_without_two_bands_or_for_an_action_without_a_band_value(core: str, action: str) -> None:
    assert band_values(core, action) == []


# ---------------------------------------------------------------------------- settings_beside: another setting
@pytest.mark.parametrize(("core", "action", "beside"), [
    ("change the width on 5GHz to 80 and the channel to 36", "width", [("channel", 36, None)]),
    ("stell die Kanalbreite auf 80 MHz und den Kanal auf 36", "width", [("channel", 36, None)]),
    ("mets la largeur à 40 MHz et le canal à 44", "width", [("channel", 44, None)]),
    ("pon el ancho de canal a 80 MHz y el canal en 36", "width", [("channel", 36, None)]),
    ("set the 5GHz channel to 44 and the width to 40 MHz", "channel", [("width", "40MHz", None)]),
    ("lower the 2.4GHz power to 50% and the channel to 6", "power", [("channel", 6, None)]),
    # the band said in the conjunct stays with its setting
    ("change the channel to 44 and the 5GHz width to 40 MHz", "channel", [("width", "40MHz", "5GHz")]),
])
def test_a_second_setting_in_a_conjunct_of_its_own_is_read_with_its_value(
        core: str, action: str, beside: list[tuple[str, object, str | None]]) -> None:
    assert settings_beside(core, action) == beside


@pytest.mark.parametrize(("core", "action"), [
    ("set the 5GHz channel to 44", "width"),  # one clause: it is the request itself, nothing beside it
    ("stell die Kanalbreite auf 80 MHz", "channel"),
    ("set the 5GHz channel to 44 and the 2.4GHz channel to 1", "channel"),  # the same setting: a pair, not beside
])
def test_nothing_is_beside_a_request_of_one_clause_or_of_the_same_setting(core: str, action: str) -> None:
    assert settings_beside(core, action) == []


# ---------------------------------------------------------------------------- settle: drafted, deferred, asked
@pytest.mark.parametrize(("core", "value", "drafted", "deferred"), [
    ("set 2.4GHz on 1 and the 5GHz on 44", 1, ["2.4GHz"], ["a channel change (44 on 5GHz)"]),
    ("set 2.4GHz on 1 and the 5GHz on 44", 44, ["5GHz"], ["a channel change (1 on 2.4GHz)"]),
    ("stell das 2.4GHz auf 6 und das 5GHz auf 44", 6, ["2.4GHz"], ["a channel change (44 on 5GHz)"]),
    ("mets le 2.4GHz sur 11 et le 5GHz sur 48", 11, ["2.4GHz"], ["a channel change (48 on 5GHz)"]),
    ("pon el 2.4GHz en el 1 y el 5GHz en el 36", 1, ["2.4GHz"], ["a channel change (36 on 5GHz)"]),
    ("das 6GHz auf 37 und das 5GHz auf 44", 37, ["6GHz"], ["a channel change (44 on 5GHz)"]),
    ("set 2.4GHz on 1 and the 5GHz on 44 and the 6GHz on 37", 44, ["5GHz"],
     ["a channel change (1 on 2.4GHz)", "a channel change (37 on 6GHz)"]),
    # two bands given the drafted value are both drafted; the other is deferred
    ("set 2.4GHz on 1, 5GHz on 44 and 6GHz on 1", 1, ["2.4GHz", "6GHz"], ["a channel change (44 on 5GHz)"]),
])
def test_the_drafted_value_reaches_only_its_bands_and_every_other_pair_is_deferred_by_name(
        core: str, value: int, drafted: list[str], deferred: list[str]) -> None:
    req = change("channel", value, ["2.4GHz", "5GHz"], "2.4GHz and 5GHz")
    said = settle(req, core, [])
    assert said.request.target.bands == drafted
    assert said.request.target.words == " ".join(drafted)  # what the read-back names
    assert said.request.values == {"value": value} and said.request.unplaced == []
    assert said.deferred == deferred


@pytest.mark.parametrize(("core", "action", "value", "deferred"), [
    ("set the width to 20 MHz on 2.4GHz and 80 MHz on 5GHz", "width", "80MHz",
     ["a channel-width change (20MHz on 2.4GHz)"]),
    ("transmit power 50% on the 2.4GHz and 100% on the 5GHz", "power", 50,
     ["a transmit-power change (100 on 5GHz)"]),
])
def test_a_pair_of_width_or_power_is_deferred_in_its_own_words(core: str, action: Action, value: Scalar,
                                                              deferred: list[str]) -> None:
    assert settle(change(action, value), core, []).deferred == deferred


@pytest.mark.parametrize(("core", "action", "value", "deferred"), [
    ("change the width on 5GHz to 80 and the channel to 36", "width", "80MHz", ["a channel change (36)"]),
    ("stell die Kanalbreite auf 80 MHz und den Kanal auf 36", "width", "80MHz", ["a channel change (36)"]),
    ("mets la largeur à 40 MHz et le canal à 44", "width", "40MHz", ["a channel change (44)"]),
    ("set the 5GHz channel to 44 and the width to 40 MHz", "channel", 44, ["a channel-width change (40MHz)"]),
    ("lower the 2.4GHz power to 50% and the channel to 6", "power", 50, ["a channel change (6)"]),
    ("change the channel to 44 and the 5GHz width to 40 MHz", "channel", 44,
     ["a channel-width change (40MHz on 5GHz)"]),
])
def test_a_second_setting_is_deferred_by_name_with_its_value_and_band(core: str, action: Action, value: Scalar,
                                                                      deferred: list[str]) -> None:
    req = change(action, value)
    said = settle(req, core, [])
    assert said.deferred == deferred
    assert said.request == req  # one value for the request: nothing narrowed, nothing asked


def test_what_was_deferred_before_comes_first_then_the_settings_then_the_other_bands() -> None:
    core = "set 2.4GHz on 1 and the 5GHz on 44 and the 6GHz power to 50%"
    said = settle(change("channel", 1), core, ["a reboot (tonight)"])
    assert said.deferred == ["a reboot (tonight)", "a transmit-power change (50 on 6GHz)",
                             "a channel change (44 on 5GHz)"]
    assert said.request.target.bands == ["2.4GHz"]


def test_a_value_already_deferred_is_not_named_twice() -> None:
    # the clause reader already deferred the channel said beside the width, and the 44 of the 5 GHz
    said = settle(change("width", "80MHz"), "change the width on 5GHz to 80 and the channel to 36",
                  ["a channel change (36)"])
    assert said.deferred == ["a channel change (36)"]
    said = settle(change("channel", 1), "set 2.4GHz on 1 and the 5GHz on 44", ["a channel change (44)"])
    assert said.deferred == ["a channel change (44)"]
    assert said.request.target.bands == ["2.4GHz"]


def test_a_value_named_only_as_part_of_a_longer_number_is_still_deferred() -> None:
    # "(4" in "(44 …)" is not the 4: the 4 on the 5 GHz is named in its own right
    said = settle(change("channel", 1), "set 2.4GHz on 1 and the 5GHz on 4", ["a channel change (44 on 6GHz)"])
    assert said.deferred == ["a channel change (44 on 6GHz)", "a channel change (4 on 5GHz)"]


@pytest.mark.parametrize(("core", "words"), [
    ("set 2.4GHz on 1 and the 5GHz on 44", "1 on 2.4GHz and 44 on 5GHz"),
    ("stell das 2.4GHz auf 6 und das 5GHz auf 44", "6 on 2.4GHz and 44 on 5GHz"),
    ("36 pour le 5GHz et 11 pour le 2.4GHz", "36 on 5GHz and 11 on 2.4GHz"),
    ("pon el 2.4GHz en el 1 y el 5GHz en el 36", "1 on 2.4GHz and 36 on 5GHz"),
])
def test_when_no_pair_is_the_drafted_value_the_agent_is_asked_and_nothing_is_narrowed(core: str,
                                                                                    words: str) -> None:
    earlier = Unplaced(words="after the meeting", kind="time")
    req = change("channel", 3, ["2.4GHz", "5GHz"], "both", unplaced=[earlier])
    said = settle(req, core, ["a reboot (tonight)"])
    assert said.request.unplaced == [earlier, Unplaced(words=words, kind="value", why=ASK_WHY)]
    assert said.request.target == req.target and said.request.values == {"value": 3}
    assert said.deferred == ["a reboot (tonight)"]  # no pair deferred: the question is about all of them


@pytest.mark.parametrize(("core", "value"), [
    ("set the 2.4GHz and the 5GHz on channel 6", 6),  # one value for both bands
    ("set 2.4GHz on 1 and 5GHz on 1", 1),  # the same value paired with each
    ("set 5GHz on 44", 44),
])
def test_one_value_for_every_band_named_leaves_the_request_as_drafted(core: str, value: int) -> None:
    req = change("channel", value, ["2.4GHz", "5GHz"], "2.4GHz and 5GHz")
    said = settle(req, core, ["a reboot (tonight)"])
    assert said.request == req and said.deferred == ["a reboot (tonight)"]


@pytest.mark.parametrize("req", [
    Request(act="question", action="channel", values={"value": 1}, target=Target(bands=["2.4GHz", "5GHz"])),
    Request(act="diagnose", action="channel", values={"value": 44}),
    Request(act="change", action="reboot"),
    Request(act="change", action="dns", servers=["1.1.1.1"]),
])
def test_a_request_that_is_no_radio_value_change_is_left_as_it_is(req: Request) -> None:
    core = "set 2.4GHz on 1 and the 5GHz on 44, and the width to 40 MHz"
    said = settle(req, core, ["a reboot (tonight)"])
    assert said.request == req and said.request.unplaced == []
    assert said.deferred == ["a reboot (tonight)"]


# ---------------------------------------------------------------------------- the rewrite's own cases
def test_a_value_first_pair_without_a_conjunction_is_its_own_band_s() -> None:
    assert band_values("channel 6 for 2.4GHz 149 for 5GHz", "channel") == [("2.4GHz", 6), ("5GHz", 149)]


def test_a_segment_read_as_another_setting_gives_no_pair() -> None:
    # "the 5GHz transmit power to 50" is the power's, not a channel 50 for the 5 GHz
    assert band_values("2.4GHz on 1 and the 5GHz transmit power to 50", "channel") == [("2.4GHz", 1)]


def test_a_setting_beside_on_another_band_than_one_deferred_is_deferred_too() -> None:
    said = settle(change("width", "40MHz"), "set the width to 40 MHz and the 5GHz channel to 36",
                  ["a channel change (36 on 2.4GHz)"])
    assert said.deferred == ["a channel change (36 on 2.4GHz)", "a channel change (36 on 5GHz)"]


def test_another_setting_s_pairs_are_each_deferred_once_on_their_own_band() -> None:
    core = "set 2.4GHz on 1 and 5GHz on 44 and the width to 40 MHz"
    said = settle(change("width", "40MHz"), core, ["a channel change (44 on 6GHz)"])
    assert said.deferred == ["a channel change (44 on 6GHz)", "a channel change (1 on 2.4GHz)",
                             "a channel change (44 on 5GHz)"]
    said = settle(change("width", "40MHz"), core, ["a channel change (44 on 5GHz)"])
    assert said.deferred == ["a channel change (44 on 5GHz)", "a channel change (1 on 2.4GHz)"]


def test_the_same_value_for_two_bands_of_another_setting_is_deferred_for_each() -> None:
    said = settle(change("width", "40MHz"), "set 2.4GHz on 6 and 5GHz on 6 and the width to 40 MHz", [])
    assert said.deferred == ["a channel change (6 on 2.4GHz)", "a channel change (6 on 5GHz)"]


def test_a_deferred_value_is_taken_only_for_its_setting_and_one_band() -> None:
    from brain.understanding.pairs import deferred_value

    deferred = ("a channel change (44 on 5GHz)",)
    five = change("channel", 1, ["5GHz"])
    assert deferred_value(five, deferred).values == {"value": 44}
    # the one change deferred for the band is the one asked for, whatever the last request's setting was
    # ("switch off the 2.4 GHz, and the 5 GHz on channel 44", then "now the 5 GHz one": channel 44)
    other = deferred_value(change("width", "20MHz", ["5GHz"]), deferred)
    assert (other.action, other.values) == ("channel", {"value": 44})
    assert deferred_value(change("channel", 1, ["2.4GHz", "5GHz"]), deferred).values == {"value": 1}
    assert deferred_value(change("channel", 1, ["2.4GHz"]), deferred).values == {"value": 1}
    ssid = Request(act="change", action="ssid", values={"ssid": "Linden"}, target=Target(bands=["5GHz"]))
    renamed = deferred_value(ssid, deferred)
    assert (renamed.action, renamed.values, renamed.intent) == ("channel", {"value": 44}, "explicit_request")
    # two other settings deferred for the band: which one is not said — unchanged
    two = ("a channel change (44 on 5GHz)", "a transmit-power change (50 on 5GHz)")
    assert deferred_value(ssid, two) is ssid
    # … but the last request's own setting among them is taken
    assert deferred_value(change("power", 25, ["5GHz"]), two).values == {"value": 50}
    assert deferred_value(five, ("a channel change (36)",)).values == {"value": 1}
    assert deferred_value(change("width", "20MHz", ["5GHz"]), ("a channel-width change (80MHz on 5GHz)",)).values \
        == {"value": "80MHz"}
