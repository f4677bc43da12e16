"""Reader round ten (docs/decisions/0032): faults found by phrasings of our own, written before they
were run. Each test was seen failing on the code before its fix."""

from __future__ import annotations

import pytest

from tests.brain.test_nothing_dropped import BERLIN, read


def _local(text: str) -> str | None:
    s = read(text).request.schedule
    return None if s is None else s.not_before.astimezone(BERLIN).strftime("%a %d %H:%M")


@pytest.mark.parametrize(("text", "expected"), [
    # minutes to or past an hour: the hour alone was taken ("at ten to 11 tonight" ran at 22:00,
    # "à 23 heures moins 10" at 23:00, "a las 9 y 10" at 9:00 with the minutes dropped unsaid)
    ("reboot it at ten to 11 tonight", "Thu 26 22:50"),
    ("reboot it at 20 past 11 tonight", "Thu 26 23:20"),
    ("reboot it at 5 past 2", "Fri 27 02:05"),
    ("starte ihn um 10 vor 11 neu", "Fri 27 10:50"),
    ("starte ihn heute um 10 nach 23 neu", "Thu 26 23:10"),
    ("redémarre la box à 23 heures moins 10", "Thu 26 22:50"),
    ("redémarre la box ce soir à 22h moins 5", "Thu 26 21:55"),
    ("reinicia el router a las 9 y 10", "Fri 27 09:10"),
    ("cambia el canal del 2,4 al 6 a las 23 y 10", "Thu 26 23:10"),
    ("reinicia el router esta noche a las 11 menos 20", "Thu 26 22:40"),
])
def test_minutes_to_or_past_an_hour_are_the_time(text: str, expected: str) -> None:
    assert _local(text) == expected


@pytest.mark.parametrize(("text", "value"), [
    ("change the 2.4 from channel 6 to 11", 11),
    ("the 2.4 is on 6 right now, move it to 11", 11),
    ("reinicia el router y pon los canales 1 y 6", None),
])
def test_a_range_of_values_is_no_clock(text: str, value: int | None) -> None:
    r = read(text).request
    assert r.schedule is None and r.values.get("value") == value
