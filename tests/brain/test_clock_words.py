"""A clock said in words is the minute it names (issue 57, round eight).

"starte ihn morgen um viertel vor 8 neu" was scheduled for 08:00 — a quarter of an hour *after* the time agreed with
the customer, and "viertel nach 8" for 08:00, a quarter before it; "a las 8 y cuarto" was 08:00 too (the matching text
writes the ordinal "cuarto" as "4º"), and "menos cuarto", "moins le quart", "dreiviertel" were not read. Every phrasing
is this file's own."""

from __future__ import annotations

import pytest

from brain.understanding.offline import Context, understand
from tests.brain.test_nothing_dropped import BERLIN, NOW


def _local(text: str) -> str:
    r = understand(text, Context(now=NOW, zone=BERLIN)).request
    assert r.action == "reboot" and r.schedule is not None and r.schedule.not_before is not None, r
    return r.schedule.not_before.astimezone(BERLIN).strftime("%H:%M")


@pytest.mark.parametrize(("text", "local"), [
    ("reboot it tomorrow at quarter to 8", "07:45"), ("reboot it tomorrow at quarter past 8", "08:15"),
    ("reboot it tomorrow at half past 8", "08:30"),
    ("starte ihn morgen um viertel nach 8 neu", "08:15"), ("starte ihn morgen um viertel vor 8 neu", "07:45"),
    ("starte ihn morgen um dreiviertel 8 neu", "07:45"), ("starte ihn morgen um halb 8 neu", "07:30"),
    ("reinícialo mañana a las 8 y cuarto", "08:15"), ("reinícialo mañana a las 8 menos cuarto", "07:45"),
    ("reinícialo mañana a las 8 y media", "08:30"),
    ("redémarre-la demain à 8 heures et quart", "08:15"), ("redémarre-la demain à 8 heures moins le quart", "07:45"),
    ("redémarre-la demain à 8 heures et demie", "08:30"), ("redémarre-la demain à 20 heures moins le quart", "19:45")])
def test_a_clock_in_words(text: str, local: str) -> None:
    assert _local(text) == local


@pytest.mark.parametrize(("text", "local"), [
    ("reboot it tonight at 11", "23:00"), ("reboot it tonight at 9", "21:00"), ("reboot it tomorrow at 7", "07:00"),
    ("reboot it tomorrow at 11", "11:00"), ("reboot it tomorrow at 12", "12:00"),
    ("reinícialo mañana a las 8", "08:00")])
def test_a_bare_hour_is_read_in_its_part_of_the_day(text: str, local: str) -> None:
    assert _local(text) == local


def test_a_quarter_of_the_power_is_still_a_quarter() -> None:
    """"cuarto" as a share of power (written "4º" by the matching text) is untouched by the clock's quarter."""
    r = understand("pon la potencia a un cuarto", Context(now=NOW, zone=BERLIN)).request
    assert (r.action, r.values.get("value")) == ("power", 25), r


def _when(text: str) -> tuple[str, str | None]:
    r = understand(text, Context(now=NOW, zone=BERLIN)).request
    assert r.action == "reboot" and r.schedule is not None, r
    return r.schedule.not_before.astimezone(BERLIN).strftime("%a %d %H:%M"), r.schedule.assumed


@pytest.mark.parametrize("text", ["reboot it tonight at 12", "starte ihn heute Nacht um 12 neu",
                                  "reboot it tonight at midnight", "reboot it at midnight",
                                  "starte ihn um Mitternacht neu", "redémarre-la à minuit", "reinícialo a medianoche"])
def test_midnight_tonight_is_midnight(text: str) -> None:
    """"tonight at 12" was scheduled for 12:00 the next day — a reboot at noon, in the customer's day; "tonight at
    midnight" for 02:00, with "no hour was given". Said on Thursday afternoon, each is the midnight that starts
    Friday."""
    assert _when(text) == ("Fri 27 00:00", None)


def test_a_dated_midnight_says_which_one_it_is() -> None:
    assert _when("reboot it tomorrow at midnight") == (
        "Sat 28 00:00", "00:00 at the end of the day named (say if you meant the night before)")
    assert _when("reboot it on saturday at midnight") == (
        "Sat 28 00:00", "00:00 at the start of the day named (say if you meant the night after)")


@pytest.mark.parametrize(("text", "want"), [
    ("reboot it tomorrow at noon", ("Fri 27 12:00", None)), ("reboot it tonight at 2", ("Fri 27 02:00", None)),
    ("reboot it tonight", ("Fri 27 02:00", "no hour was given: 02:00 local")),
    ("reboot it tomorrow at 7", ("Fri 27 07:00", "07:00 (morning; say if you meant 19:00)")),
    ("reboot it tomorrow at 11", ("Fri 27 11:00", "11:00 (morning; say if you meant 23:00)")),
    ("reboot it tomorrow at 6", ("Fri 27 06:00", None)), ("reboot it tomorrow at 12", ("Fri 27 12:00", None)),
    ("reboot it tonight at 7", ("Thu 26 19:00", None)), ("reboot it tonight at 6", ("Fri 27 06:00", None))])
def test_the_hour_and_what_was_assumed_to_get_it(text: str, want: tuple[str, str | None]) -> None:
    assert _when(text) == want


@pytest.mark.parametrize("text", ["reboot it at one am", "reboot it at one in the morning",
                                  "redémarre-la à une heure du matin", "redémarre-la à une heure",
                                  "starte ihn um ein Uhr früh neu", "reboot it tonight at one",
                                  "redémarre-la vers une heure"])
def test_one_oclock_in_words(text: str) -> None:
    """"at one am" and "à une heure" were drafted with no time at all (so the reboot would have run at once), and
    "à une heure du matin" / "um ein Uhr früh" at the morning's 08:00 / 05:00: "one" stayed a word."""
    assert _when(text) == ("Fri 27 01:00", None)


@pytest.mark.parametrize(("text", "local"), [("redémarre-la dans 1 heure", "Thu 26 16:20"),
                                             ("redémarre-la dans une heure", "Thu 26 16:20"),
                                             ("reboot it in 2 hours", "Thu 26 17:20")])
def test_in_an_hour_is_relative(text: str, local: str) -> None:
    """"dans 1 heure" was 01:00 the next night: the hour was read before the relative time."""
    assert _when(text) == (local, None)


@pytest.mark.parametrize("text", ["reboot it between 1 and 3", "starte ihn zwischen eins und drei neu"])
def test_a_time_the_reader_cannot_place_is_asked_about_never_dropped(text: str) -> None:
    """Drafted with no time and nothing asked: the reboot would have run at once."""
    r = understand(text, Context(now=NOW, zone=BERLIN)).request
    assert r.action == "reboot" and r.schedule is None and [u for u in r.unplaced if u.kind == "time"], r


@pytest.mark.parametrize(("text", "value"), [("set power at 50%", 50), ("reboot it, he has 3 devices", None),
                                             ("starte ihn neu, das geht seit 3 Tagen so", None),
                                             ("deja la concesión DHCP en 6 horas", 6 * 3600),
                                             ("mets l'inform périodique à 2 heures", 7200)])
def test_a_number_that_is_no_hour_is_not_asked_about_as_one(text: str, value: int | None) -> None:
    r = understand(text, Context(now=NOW, zone=BERLIN)).request
    assert r.act == "change" and r.values.get("value") == value and r.schedule is None, r
    assert not [u for u in r.unplaced if u.kind == "time"], r.unplaced
