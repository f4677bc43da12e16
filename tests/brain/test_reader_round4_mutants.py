"""Reader round four, held to what it does by the mutation helper (``make mutate``): what the tests beside it
(tests/brain/test_reader_round4.py, test_nothing_dropped.py, test_pairs_mutants.py) let a mutant of the code added
that round change without a failing test. Each case is a support agent's message (EN/DE/FR/ES) read through
``understand``, or a draft judged by ``qualify``, and says what the agent or the approver would be told."""

from __future__ import annotations

from datetime import date

import pytest

from brain.understanding.offline import Context, understand
from brain.understanding.request import Request
from tests.brain.test_nothing_dropped import BERLIN, NOW, read
from tests.brain.test_qualify_excluded_band import accepted, drafted, gateway, refused, run
from tests.brain.test_reader_round4 import _change, _then

TODAY = NOW.astimezone(BERLIN).date()  # Thursday 26 Nov 2026, 15:20 in Berlin


def _local(req: Request) -> tuple[date, int] | None:
    """The day and the hour (Berlin) a request is scheduled for, or None."""
    if req.schedule is None:
        return None
    at = req.schedule.not_before.astimezone(BERLIN)
    return at.date(), at.hour


# ---------------------------------------------------------------------------- follow_up: the setting asked about
@pytest.mark.parametrize(("question", "then", "drafted_"), [
    # "channel width" names the channel too: the width is what was asked
    ("what's the channel width on the 5 GHz?", "make it 40", ("width", "40MHz", ["5GHz"])),
    ("quelle est la largeur de canal du 5 GHz ?", "passe-la à 80", ("width", "80MHz", ["5GHz"])),
    ("¿qué potencia tiene el 5 GHz?", "bájala a 50", ("power", 50, ["5GHz"])),
    ("which channel is the 6 GHz on?", "bump it to 37", ("channel", 37, ["6GHz"])),
    ("what channel is the 5 GHz on?", "ok so move it to 44 then, thanks", ("channel", 44, ["5GHz"])),
])
def test_the_setting_a_question_named_is_the_one_the_value_is_for(question: str, then: str,
                                                                   drafted_: tuple[object, ...]) -> None:
    req = _then(question, then)
    assert _change(req) == drafted_, req
    assert req.target.words == drafted_[2][0] and req.unplaced == [], req


def test_a_question_without_a_band_lends_the_setting_alone() -> None:
    req = _then("which channel is it on?", "move it to 6")
    assert _change(req) == ("channel", 6, []) and req.unplaced == [], req


@pytest.mark.parametrize("question", [
    "which channel are the 2.4 and the 5 GHz on?",   # two bands asked: which one is not said
    "what's the channel on the 2.4 and on the 5?",
])
def test_a_question_about_two_bands_lends_no_band(question: str) -> None:
    req = _then(question, "move it to 6")
    assert req.action is None and [u.kind for u in req.unplaced] == ["request"], req


def test_what_was_passed_as_asked_but_is_no_question_lends_nothing() -> None:
    """The thread's last message, passed as the question asked, that reads as a statement: nothing is lent."""
    ctx = Context(now=NOW, zone=BERLIN, asked="the 2.4 GHz is on channel 1.")
    req = understand("move it to 6", ctx).request
    assert req.action is None and [u.kind for u in req.unplaced] == ["request"], req


@pytest.mark.parametrize(("question", "then", "kind"), [
    # a setting of its own, though no action is read from it: asked, never the channel asked about
    ("what channel is the 5 GHz on?", "ok, change the dns to 1 then", "value"),
    # two numbers: which one is not said
    ("what channel is the 5 GHz on?", "move it to 36 or 40", "request"),
])
def test_a_message_with_a_setting_or_two_values_of_its_own_is_read_as_it_stands(question: str, then: str,
                                                                                 kind: str) -> None:
    req = _then(question, then)
    assert req.action is None and [u.kind for u in req.unplaced] == [kind], req
    assert read(then).request.unplaced == req.unplaced


@pytest.mark.parametrize(("then", "hour"), [
    ("ok put it on 44 at 23:00", 23),
    ("ok put it on 44 um 23 Uhr", 23),
    ("ok put it on 44 tomorrow at 3", 3),
])
def test_the_clock_said_with_the_value_is_its_time_not_a_second_value(then: str, hour: int) -> None:
    req = _then("what channel is the 5 GHz on?", then)
    assert _change(req) == ("channel", 44, ["5GHz"]), req
    assert _local(req) is not None and _local(req)[1] == hour, req  # type: ignore[index]


# ---------------------------------------------------------------------------- the deferred change asked for next
FIRST = "set the 2.4 width to 20 MHz and the 5 GHz to 40 MHz"


@pytest.mark.parametrize("then", ["now the 5 GHz one, tonight at 23:00", "the 5 GHz one please, at 23:00"])
def test_the_deferred_change_runs_at_the_time_this_message_says(then: str) -> None:
    req = _then(FIRST, then, deferred=True)
    assert _change(req) == ("width", "40MHz", ["5GHz"]) and _local(req) == (TODAY, 23), req
    assert req.unplaced == [] and req.refers_to is None, req


def test_the_deferred_change_keeps_the_time_said_for_both() -> None:
    req = _then(FIRST + " tonight at 23:00", "now the 5 GHz one", deferred=True)
    assert _change(req) == ("width", "40MHz", ["5GHz"]) and _local(req) == (TODAY, 23), req


@pytest.mark.parametrize("then", ["now the 5 GHz one, at 8 this morning",
                                  "now the 5 GHz one when the customer is gone"])
def test_a_time_the_deferred_change_cannot_run_at_is_asked_once(then: str) -> None:
    req = _then(FIRST, then, deferred=True)
    assert _change(req) == ("width", "40MHz", ["5GHz"]) and req.schedule is None, req
    assert [u.kind for u in req.unplaced] == ["time"], req.unplaced


@pytest.mark.parametrize("then", ["now the 5 GHz one please", "jetzt noch das 5er bitte", "no, the 5 GHz one"])
def test_the_words_asking_for_the_deferred_change_are_no_request_left_unread(then: str) -> None:
    req = _then(FIRST, then, deferred=True)
    assert _change(req) == ("width", "40MHz", ["5GHz"]) and req.unplaced == [] and req.refers_to is None, req


def test_a_value_said_with_the_band_is_that_value_not_the_one_deferred() -> None:
    req = _then(FIRST, "now the 5 GHz one, 80 MHz", deferred=True)
    assert _change(req) == ("width", "80MHz", ["5GHz"]), req


def test_a_thanks_after_a_deferred_change_takes_nothing() -> None:
    req = _then(FIRST, "ok thanks", deferred=True)
    assert req.action is None and req.act == "reference", req


# ---------------------------------------------------------------------------- pairs: a band another setting's
def test_the_band_given_another_settings_value_leaves_the_request_and_its_words() -> None:
    req = read("2,4 auf Kanal 1 und beim 5er die Breite auf 40 MHz, danke dir").request
    assert _change(req) == ("channel", 1, ["2.4GHz"]) and req.target.words == "2.4GHz", req


# ---------------------------------------------------------------------------- when: a day word that is no day
@pytest.mark.parametrize(("text", "when_"), [
    ("starte ihn morgen um 3 neu", (date(2026, 11, 27), 3)),
    ("starte ihn morgen um 23 Uhr neu", (date(2026, 11, 27), 23)),
    ("reinícialo a las 10 de la noche, no por la mañana", (TODAY, 22)),  # the morning ruled out is no day
    ("Reinícialo esta noche a las 10. Por la mañana no, que trabaja", (TODAY, 22)),
    ("reinícialo esta noche a las 10, esta mañana no se pudo", (TODAY, 22)),  # this morning: no tomorrow
    ("Reinícialo esta noche a las 10. Esta mañana no se pudo", (TODAY, 22)),
    ("reinícialo mañana a las 3", (date(2026, 11, 27), 3)),
])
def test_a_morning_or_a_greeting_is_no_tomorrow(text: str, when_: tuple[date, int]) -> None:
    req = read(text).request
    assert req.action == "reboot" and _local(req) == when_, req


@pytest.mark.parametrize("text", ["Starte ihn jeden Morgen um 5 neu", "Jeden Morgen um 5 neu starten, bitte"])
def test_every_morning_is_no_tomorrow(text: str) -> None:
    req = read(text).request
    assert req.schedule is None and [(u.words, u.kind) for u in req.unplaced] == [("um 5", "time")], req


# ---------------------------------------------------------------------------- qualify: a network kept on its band
def _kept_off(band: str, word: str) -> str:
    return (f"it would switch off the {band} radio, which carries the {word} you asked me to keep — a network goes "
            "off with its radio")


def test_a_radio_of_another_band_than_the_network_kept_may_go_off() -> None:
    assert read("turn off the 5 GHz, not the guest network on 2.4 GHz").request.exclusions == [
        "guest network on 2.4GHz"]
    gw = gateway("dual")  # every radio asked off, the 2.4 GHz guest network kept: only the 5 GHz radio may go
    req = Request(act="change", action="band_enable", values={"value": False},
                  exclusions=["guest network on 2.4GHz"], source="model")
    five = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Enable", False))
    accepted(run(gw, req, five), five)


def test_a_radio_that_carries_none_of_the_networks_kept_may_go_off() -> None:
    """Tri-band: the 6 GHz radio carries the main network alone, the 5 GHz radio a guest network too."""
    gw = gateway("tri")
    req = Request(act="change", action="band_enable", values={"value": False}, exclusions=["guest network"],
                  source="model")
    six = drafted((f"Device.WiFi.Radio.{gw.radio('6GHz')}.Enable", False))
    accepted(run(gw, req, six), six)
    five = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Enable", False))
    assert refused(run(gw, req, five), req) == _kept_off("5GHz", "guest network")


def test_each_network_kept_is_checked_after_one_on_another_band() -> None:
    gw = gateway("dual")
    req = Request(act="change", action="band_enable", values={"value": False},
                  exclusions=["guest network on 2.4GHz", "main network"], source="model")
    five = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Enable", False))
    assert refused(run(gw, req, five), req) == _kept_off("5GHz", "main network")


def test_a_radio_switched_on_beside_a_network_kept_reads_no_network() -> None:
    gw = gateway("dual")
    req = Request(act="change", action="band_enable", values={"value": True}, exclusions=["guest network"],
                  source="model")
    on = drafted((f"Device.WiFi.Radio.{gw.radio('5GHz')}.Enable", True))
    accepted(run(gw, req, on), on)
    assert ["Device.WiFi.SSID."] not in gw.asked


@pytest.mark.parametrize("then", ["one sec", "moment"])
def test_a_word_while_the_agent_looks_takes_no_deferred_change(then: str) -> None:
    req = _then(FIRST, then, deferred=True)
    assert (req.act, req.action, req.values) == ("diagnose", None, {}), req


@pytest.mark.parametrize(("text", "when_"), [
    ("reboot it not tomorrow but on Saturday at 8", (date(2026, 11, 28), 8)),
    ("nicht morgen, sondern Samstag um 8 neu starten", (date(2026, 11, 28), 8)),
])
def test_a_day_ruled_out_is_not_the_day(text: str, when_: tuple[date, int]) -> None:
    req = read(text).request
    assert req.action == "reboot" and _local(req) == when_, req


def test_a_negated_operation_is_not_drafted() -> None:
    req = read("don't reboot it, the customer is on a call").request
    assert req.action != "reboot" and req.act != "change", req


def test_a_message_with_an_action_of_its_own_is_not_read_as_the_setting_asked() -> None:
    req = _then("what's the transmit power on the 5 GHz?", "ok put the 2.4 on 6")
    assert _change(req) == ("channel", 6, ["2.4GHz"]), req
