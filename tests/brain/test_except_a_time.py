""""Except at night" is no schedule: an exception in time is asked about (issue 57: "a write that was not asked").

Found trying requests of my own: "set the 5 GHz power to 100 except at night" was drafted to run *at night* —
the exception connector was read past, and its time became the change's schedule, the opposite of what was
asked. A change that must not run at some time is not something the planner schedules (a window is a policy's);
the turn names the words and asks when the change should run. Phrasings written for these tests (EN/DE/FR/ES);
beside them, exceptions of a band or network and plain schedules, which read as before.
"""

from __future__ import annotations

import pytest

from tests.brain.test_exclusion_forms import read


@pytest.mark.parametrize("text", [
    "set the 5 GHz power to 100 except at night",
    "reboot it every day except on weekends",
    "move the 2.4 GHz to channel 6, but not during the evening",
    "stell den Kanal im 5-GHz-Band auf 44, außer nachts",
    "mets le canal 5 GHz sur 44 sauf la nuit",
    "pon el canal de 5 GHz en el 44 excepto por la noche",
])
def test_an_exception_in_time_is_asked_never_scheduled(text: str) -> None:
    req = read(text)
    assert req.schedule is None, req.schedule
    assert any(u.kind == "time" for u in req.unplaced), req.unplaced


@pytest.mark.parametrize(("text", "words"), [
    ("set the 5 GHz channel to 44 at night", "at night"),
    ("stell den Kanal im 5-GHz-Band heute Nacht auf 44", "heute Nacht"),
])
def test_a_plain_schedule_is_still_read(text: str, words: str) -> None:
    req = read(text)
    assert req.schedule is not None and words in req.schedule.words, req


def test_an_excepted_band_is_no_time() -> None:
    req = read("set the width to 40 MHz except on the 2.4 GHz band")
    assert not [u for u in req.unplaced if u.kind == "time"] and any("2.4GHz" in x for x in req.exclusions)


def test_an_exception_beside_a_time_of_its_own_keeps_that_time() -> None:
    """"… tomorrow at 21:00, not during business hours": the time given is the schedule, nothing asked."""
    req = read("reboot it tomorrow at 21:00, not during business hours")
    assert req.schedule is not None and "21:00" in req.schedule.words and not req.unplaced, req


@pytest.mark.parametrize("text", [
    "the wifi drops at night, not in the morning",
    "internet is slow every evening but not on weekends",
    "le wifi coupe le soir sauf le week-end",
])
def test_a_symptom_s_exception_in_time_describes_and_is_not_asked(text: str) -> None:
    """A symptom report's "… but not on weekends" says when it happens; nothing is scheduled, nothing asked."""
    req = read(text)
    assert req.action is None and not [u for u in req.unplaced if u.kind == "time"], req
