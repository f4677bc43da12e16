"""What the survivors of the sixth sampled mutation run of ``brain/understanding`` (seed 2611, docs/decisions/0031)
showed no test judged: a radio's band at full power, a traceroute's host, a time's meridiem and weekday, a correction's
punctuation, quotes that hold a point, a conjunction that opens the message, a condition's capital letter, a bare value
after a draft.

Every phrasing is this file's own."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding import clauses
from brain.understanding.actions import parse
from brain.understanding.offline import Context, understand
from brain.understanding.values import inline_correction
from tests.brain.test_nothing_dropped import BERLIN, NOW


def _read(text: str) -> Any:
    return understand(text, Context(now=NOW, zone=BERLIN)).request


@pytest.mark.parametrize(("text", "band"), [("mets la 5GHz au max", "5GHz"), ("la 2.4GHz à fond", "2.4GHz")])
def test_a_radio_at_full_power_keeps_its_band(text: str, band: str) -> None:
    req = parse(text)
    assert req is not None and (req.action, req.band, req.value) == ("power", band, 100), req


@pytest.mark.parametrize(("text", "action", "value"), [
    ("traceroute example.com", "traceroute", "example.com"), ("run a tracert example.net please", "traceroute",
                                                              "example.net"),
    ("trace the route to example.org", "traceroute", "example.org"), ("ping example.com", "ping", "example.com")])
def test_a_traceroute_takes_its_host_and_a_ping_stays_a_ping(text: str, action: str, value: str) -> None:
    """"traceroute example.com" drafted a traceroute to no host."""
    req = parse(text)
    assert req is not None and (req.action, req.value) == (action, value), req


@pytest.mark.parametrize(("text", "local"), [("reboot it at 9 pm", (26, 21)), ("reboot it at 7 am tomorrow", (27, 7)),
                                             ("reboot it on Wednesday at 9", (2, 9)),
                                             ("reboot it on Friday at 8", (27, 8))])
def test_a_time_keeps_its_meridiem_and_its_weekday(text: str, local: tuple[int, int]) -> None:
    r = _read(text)
    assert r.schedule is not None, r
    at = r.schedule.not_before.astimezone(BERLIN)
    assert (at.day, at.hour) == local, r.schedule


@pytest.mark.parametrize(("text", "out"), [("set channel 36... sorry, 44!", "set channel 44"),
                                           ("put it on 36, sorry, 44.", "put it on 44")])
def test_a_correction_in_the_message_drops_its_own_punctuation(text: str, out: str) -> None:
    assert inline_correction(text) == out


@pytest.mark.parametrize("text", ["rename it to “Casa. Lopez” please", "rename it to 'Casa. Lopez' please",
                                  "nenn es „Casa. Lopez“ bitte", "renomme-le en «Casa. Lopez» stp"])
def test_a_point_inside_quotes_ends_no_clause(text: str) -> None:
    assert len(clauses.split_clauses(text)) == 1


def test_an_apostrophe_inside_a_word_opens_no_quote() -> None:
    parts = clauses.split_clauses("l'invité est déconnecté. redémarre la box")
    assert parts == ["l'invité est déconnecté.", "redémarre la box"]


def test_a_conjunction_that_opens_the_message_splits_nothing_off() -> None:
    assert clauses.split_clauses("but reboot it, then set channel 6") == ["but reboot it,", "then set channel 6"]


@pytest.mark.parametrize(("text", "expect"), [("If Nobody is online, reboot it", "empty"),
                                              ("reboot it unless Someone is still online", "empty"),
                                              ("reboot it unless someone is still online", "empty"),
                                              ("only reboot it if somebody is already online", "nonempty"),
                                              ("starte ihn neu, außer wenn noch jemand online ist", "empty")])
def test_a_condition_on_the_clients_online_is_on_the_clients(text: str, expect: str) -> None:
    """"unless someone is still online" gated the reboot on the gateway being offline: "still" between "is" and
    "online" made it the gateway's presence (as did German "online ist")."""
    r = _read(text)
    assert [(c.fact, c.expect) for c in r.conditions] == [("hosts_connected", expect)], r


def test_a_precaution_is_no_condition() -> None:
    r = _read("reboot it tonight, just in case")
    assert r.action == "reboot" and r.conditions == [] and not [u for u in r.unplaced if u.kind == "condition"], r


@pytest.mark.parametrize("then", ["11", "11 please", "ok 11"])
def test_a_bare_value_after_a_draft_corrects_it(then: str) -> None:
    first = understand("put the 2.4 on channel 6", Context(now=NOW, zone=BERLIN)).request
    r = understand(then, Context(now=NOW, zone=BERLIN, after_draft=True, previous=first)).request
    assert r.values.get("value") == 11 and r.refers_to is not None and r.refers_to.kind == "correct", r


def test_the_read_back_says_what_was_assumed_and_each_state_asked() -> None:
    from brain.understanding import checker

    r = _read("reboot it tonight")
    assert r.schedule is not None and r.schedule.assumed
    assert r.schedule.assumed in checker.readback(r, BERLIN)
    off = _read("switch the 5 GHz on, but only if the guest network is off")
    assert "only if the network is off" in checker.readback(off, BERLIN), checker.readback(off, BERLIN)


@pytest.mark.parametrize(("text", "rendered"), [("drop the 5 GHz power a notch", "set the 5GHz transmit power a notch "
                                                                                   "lower"),
                                                ("raise the 2.4 power two steps", "set the 2.4GHz transmit power 2 "
                                                                                  "steps up"),
                                                ("set the 5 GHz power to 50%", "set the 5GHz transmit power to 50%")])
def test_a_power_is_rendered_as_a_step_or_a_level(text: str, rendered: str) -> None:
    from brain.understanding import checker

    assert checker.render(_read(text)) == rendered
