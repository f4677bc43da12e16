"""Reader round eleven (docs/decisions/0032): faults found by phrasings of our own, written before they
were run. Each test was seen failing on the code before its fix."""

from __future__ import annotations

import pytest

from tests.brain.test_nothing_dropped import read


@pytest.mark.parametrize(("text", "words"), [
    # a range said for a setting that takes one value: one end was drafted as if the other was not said
    ("set the power between 50 and 75 percent", "between 50 and 75"),
    ("put the 5 GHz power somewhere between 25 and 50%", "between 25 and 50"),
    ("Sendeleistung zwischen 50 und 75 Prozent", "zwischen 50 und 75"),
    ("stell die Leistung auf 25-50 %", "25-50 %"),
    ("mets la puissance entre 50 et 75 %", "entre 50 et 75"),
    ("pon la potencia entre el 50 y el 75 %", "entre el 50 y el 75"),
    ("channel between 1 and 6 on the 2.4 please", "between 1 and 6"),
])
def test_a_range_for_one_value_is_asked_about(text: str, words: str) -> None:
    r = read(text).request
    assert r.act == "change"
    assert [(u.kind, u.words) for u in r.unplaced] == [("value", words)]
    assert "range" in r.unplaced[0].why


@pytest.mark.parametrize(("text", "value"), [
    # "from X to Y" is where the setting comes from and goes to, not a range; hours are a window, not a value
    ("change the power from 50 to 75 percent", 75),
    ("move the 2.4 from channel 1 to 6", 6),
    ("set channel 11 between 2 and 4 am", 11),
])
def test_from_to_and_a_window_of_hours_are_no_range(text: str, value: int) -> None:
    r = read(text).request
    assert r.values.get("value") == value
    assert [u for u in r.unplaced if u.kind == "value"] == []


@pytest.mark.parametrize(("text", "value"), [
    # what a band is on now, said as the reason: "at 6" was asked about as a time the change should run at
    ("the 2.4 is at 6, put it on channel 11", 11),
    ("the 2.4's at 6, move it to 1", 1),
    ("the 5 GHz is currently on 36, move it to 44", 44),
    ("das 2,4er steht gerade auf 6, stell es auf 11", 11),
    ("le 2,4 est sur le 6, mets-le sur 11", 11),
    ("el 2,4 está en el 6, ponlo en el 11", 11),
])
def test_what_a_band_is_on_now_is_no_time(text: str, value: int) -> None:
    r = read(text).request
    assert r.values.get("value") == value
    assert r.schedule is None and r.unplaced == []


@pytest.mark.parametrize("text", ["the reboot is at 6, reboot it", "reboot it at 6", "it is at 6, reboot it"])
def test_an_hour_said_of_anything_else_is_still_a_time(text: str) -> None:
    r = read(text).request
    assert r.schedule is not None or [u for u in r.unplaced if u.kind == "time"]


@pytest.mark.parametrize(("text", "words", "why"), [
    ("set the channel to 6 or 11", "6 or 11", "two values for one setting: say which one"),
    ("set the power between 50 and 75 percent", "between 50 and 75",
     "a range for one setting, which takes one value: say which"),
    # a condition's own values stay the condition's; the change's range beside it is still asked about
    ("if the neighbours are on 1 and 6, set the power between 50 and 75 percent", "between 50 and 75",
     "a range for one setting, which takes one value: say which"),
])
def test_what_is_asked_about_a_value_says_why(text: str, words: str, why: str) -> None:
    r = read(text).request
    assert [(u.kind, u.words, u.why) for u in r.unplaced if u.kind == "value"] == [("value", words, why)]


@pytest.mark.parametrize("text", [
    # a band taken out of service, said with its own verb: read as nothing to do ("nimm das 5er vom Netz" was a
    # diagnosis of the 5 GHz)
    "nimm das 5er vom Netz", "das 5er bitte vom Netz nehmen", "take the 5 GHz offline",
    "mets le 5 GHz hors service", "pon el 5 GHz fuera de servicio"])
def test_a_band_taken_out_of_service_is_switched_off(text: str) -> None:
    r = read(text).request
    assert (r.act, r.action, r.values.get("value"), r.target.bands) == ("change", "band_enable", False, ["5GHz"]), r


@pytest.mark.parametrize("text", ["the 5 GHz is offline", "le 5 GHz est hors service",
                                  "el 5 GHz está fuera de servicio", "das 5er ist vom Netz"])
def test_a_band_out_of_service_said_as_what_is_is_no_request(text: str) -> None:
    assert read(text).request.act != "change"
