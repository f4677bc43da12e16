"""Times and scopes the seventh sampled mutation run of ``brain/understanding`` (``when.py`` and
``scope.py``, function by function, issue 61 item 9) left unjudged: no test decided them. Phrasings of
our own; each asserts what the reader must make of the words (docs/decisions/0031)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from brain.understanding import scope, when

BERLIN = ZoneInfo("Europe/Berlin")
THURSDAY_AFTERNOON = datetime(2026, 11, 26, 15, 20, tzinfo=BERLIN)
THURSDAY_MORNING = datetime(2026, 11, 26, 6, 0, tzinfo=BERLIN)


def _at(text: str, now: datetime, lang: str = "en") -> str | None:
    w = when.find(text, now, BERLIN, lang)  # type: ignore[arg-type]
    return w.schedule.not_before.astimezone(BERLIN).strftime("%a %d %H:%M") if w.schedule else None


def _why(text: str, now: datetime, lang: str = "en") -> list[str]:
    return [u.why for u in when.find(text, now, BERLIN, lang).unplaced]  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "now", "expected"), [
    # the weekday it is today: later today, or next week once its hour has passed
    ("reboot it on Thursday at 9", THURSDAY_AFTERNOON, "Thu 03 09:00"),
    ("reboot it on Thursday at 9", THURSDAY_MORNING, "Thu 26 09:00"),
    ("starte ihn am Donnerstag um 9 neu", THURSDAY_AFTERNOON, "Thu 03 09:00"),
    # "tomorrow night" at an hour after midnight is the night after tomorrow; at 23:00 it is tomorrow
    ("reboot it tomorrow night at 2", THURSDAY_AFTERNOON, "Sat 28 02:00"),
    ("reboot it tomorrow night at 23:00", THURSDAY_AFTERNOON, "Fri 27 23:00"),
    ("reboot it tomorrow at midnight", THURSDAY_AFTERNOON, "Sat 28 00:00"),
    ("reboot it tonight at 2", THURSDAY_AFTERNOON, "Fri 27 02:00"),
    # "por la mañana", "heute Morgen": a part of the day, never "tomorrow"
    ("reinícialo por la mañana a las 9", THURSDAY_MORNING, "Thu 26 09:00"),
    ("reinícialo a las 9 de la mañana", THURSDAY_MORNING, "Thu 26 09:00"),
    ("reinícialo esta mañana a las 9", THURSDAY_MORNING, "Thu 26 09:00"),
    ("reinícialo mañana por la mañana a las 9", THURSDAY_MORNING, "Fri 27 09:00"),
    ("starte ihn heute Morgen um 10 neu", THURSDAY_MORNING, "Thu 26 10:00"),
    # a night hour asked while ruling out the day is kept
    ("reboot it at 23:00, not during the day", THURSDAY_AFTERNOON, "Thu 26 23:00"),
])
def test_the_day_an_hour_falls_on(text: str, now: datetime, expected: str) -> None:
    lang = "es" if "reinícialo" in text else "de" if "starte" in text else "en"
    assert _at(text, now, lang) == expected


@pytest.mark.parametrize(("text", "lang"), [
    ("reboot it before 10 pm", "en"),
    ("redémarre-la avant 22h", "fr"),
    ("starte ihn vor 22 Uhr neu", "de"),
])
def test_a_deadline_is_asked_about_never_taken_as_the_start(text: str, lang: str) -> None:
    assert _at(text, THURSDAY_AFTERNOON, lang) is None
    assert any("a deadline, not a start time" in why for why in _why(text, THURSDAY_AFTERNOON, lang))


def test_a_day_hour_asked_with_the_day_ruled_out_is_asked_about() -> None:
    assert _at("reboot it at 15:00, just not during the day", THURSDAY_MORNING) is None
    assert _why("reboot it at 15:00, just not during the day", THURSDAY_MORNING) == \
        ["15:00 is during the day, which you asked to avoid"]


def test_this_morning_said_in_the_afternoon_has_passed_it_is_not_tomorrow() -> None:
    assert _at("reinicia el router esta mañana a las 11", THURSDAY_AFTERNOON, "es") is None
    assert any("has already passed" in why for why in _why("reinicia el router esta mañana a las 11",
                                                           THURSDAY_AFTERNOON, "es"))


def test_a_fleet_slice_keeps_its_model_firmware_place_and_words() -> None:
    s = scope.find("reboot every PX-7000 in Lyon on 1.4.2")
    assert (s.kind, s.model, s.firmware, s.place, s.all_devices) == ("fleet", "PX-7000", "1.4.2", "Lyon", False)
    assert "every PX-7000" in s.words.split("; ")
    s = scope.find("restart every router in Lyon")
    assert (s.kind, s.model, s.place, s.all_devices, s.words) == ("fleet", None, "Lyon", True, "every router")


def test_a_count_of_a_model_is_about_the_fleet() -> None:
    s = scope.find("how many PX-7000 are there?")
    assert (s.kind, s.model, s.words) == ("fleet", "PX-7000", "how many … PX-7000")


@pytest.mark.parametrize("text", [
    "this PX-7000 does not connect AT ALL",
    "the old key's been shared round the whole building. reboot it please",
    "check all devices in the house",
    "can you check all devices on the wifi",
])
def test_this_gateway_when_no_others_are_asked_about(text: str) -> None:
    assert scope.find(text).kind == "this_device"
