"""What the agent is told about the requests read in round three of "nothing asked is dropped": a change taken back
inside the message, a setting asked without a value, another gateway, the change deferred and asked for next, a band
kept at a value, and the time words found on the whole message. Found by the mutation helper (``make mutate``) on
``brain.understanding.offline`` (``_retracted``, ``_value_unread``, ``_settings_unread``, ``_other_gateways``,
``_asks_operation``, ``_deferred_taken``, ``_kept_at_a_value``, ``_qualifiers``): each case is a line no test would
have noticed going wrong.

Every case is a support agent's message read whole (``understand``), the way ``tests/brain/test_nothing_dropped.py``
reads them; what is asserted is what would be drafted, deferred or asked, and in what words.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from brain.understanding.offline import Context, Understood, understand
from brain.understanding.request import Request, Unplaced
from tests.brain.test_nothing_dropped import BERLIN, NOW, read

ELSEWHERE = "another gateway: this chat changes only the gateway it is about — open a chat on that one"
NO_VALUE = ("a setting to change without a value I can read: say the exact value (a channel number, a width in MHz, a "
            "share of full power, the DNS server addresses)")
NOT_HERE = "not something I can do on the gateway"


def asked(req: Request) -> list[tuple[str, str]]:
    return [(u.kind, u.words) for u in req.unplaced]


def deferred(u: Understood) -> list[str]:
    return list(u.heard.deferred) if u.heard else []


def next_turn(first: str, then: str) -> Request:
    """``then`` read after ``first`` was drafted, with what ``first`` deferred."""
    u = read(first)
    ctx = Context(now=NOW, zone=BERLIN, after_draft=True, previous=u.request, deferred=tuple(deferred(u)))
    return understand(then, ctx).request


# ---------------------------------------------------------------------------- a change taken back inside the message
@pytest.mark.parametrize(("text", "action", "value", "bands"), [
    # "no wait" followed by another operation: the operation before it is withdrawn, the one after it is the request
    ("reboot it, no wait, change the 5 GHz channel to 44", "channel", 44, ["5GHz"]),
    ("stell den Kanal auf 6, nein warte, starte ihn einfach neu", "reboot", None, []),
    ("redémarre la box, non attends, mets le 5 GHz sur le canal 36", "channel", 36, ["5GHz"]),
])
def test_no_wait_before_another_operation_keeps_only_that_operation(text: str, action: str, value: object,
                                                                    bands: list[str]) -> None:
    u = read(text)
    req = u.request
    assert (req.action, req.values.get("value"), req.target.bands) == (action, value, bands), req
    assert deferred(u) == [] and req.unplaced == [], (deferred(u), req.unplaced)


def test_no_wait_with_nothing_after_it_to_tell_takes_nothing_back() -> None:
    req = read("reboot the gateway tonight — no wait, sorry").request
    assert (req.act, req.action) == ("change", "reboot"), req
    assert req.schedule is not None and req.schedule.words == "tonight", req.schedule


# ---------------------------------------------------------------------------- a setting asked without a value
@pytest.mark.parametrize(("text", "words"), [
    ("stell den Kanal auf den freiesten", "stell den Kanal auf den freiesten"),
    ("mets la puissance du 5 GHz au minimum", "mets la puissance du 5GHz au minimum"),
    ("pon el ancho de canal al máximo", "pon el ancho de canal al máximo"),
    ("set the dns back to automatic", "set the dns back to automatic"),
])
def test_a_setting_without_a_value_is_asked_for_its_value_and_only_that(text: str, words: str) -> None:
    req = read(text).request
    assert req.action is None, req
    # the value question replaces "not something I can do" for the same words: asked once, saying what to give
    assert req.unplaced == [Unplaced(words=words, kind="value", why=NO_VALUE)], req.unplaced


def test_beside_a_change_a_setting_without_a_value_is_named_back_as_a_request() -> None:
    req = read("set channel 36 on the 5 GHz, then set the width to the maximum").request
    assert (req.action, req.values.get("value")) == ("channel", 36), req
    assert req.unplaced == [Unplaced(words="set the width to the maximum", kind="request", why=NOT_HERE)], req.unplaced


@pytest.mark.parametrize(("text", "words", "why"), [
    ("set the dns back to automatic on Sunday, same time", "Sunday same time",
     "the same time as what? No time was given"),
    ("set the dns back to automatic now, or tomorrow at 3", "at 3 tomorrow", "both 'now' and a later time were said"),
])
def test_a_time_asked_about_is_asked_first_without_the_value_question(text: str, words: str, why: str) -> None:
    assert read(text).request.unplaced == [Unplaced(words=words, kind="time", why=why)]


def test_a_setting_without_a_value_for_other_gateways_is_left_to_the_fleet_planner() -> None:
    req = read("set the dns back to automatic on every gateway in Lyon").request
    assert req.scope.kind == "fleet" and req.unplaced == [], (req.scope, req.unplaced)


# ---------------------------------------------------------------------------- another gateway
@pytest.mark.parametrize(("text", "words"), [
    # a statement whose operation's own words name a rename or a password: asked about
    ("the neighbour's router needs its wifi renamed to Linden too", "neighbour's router"),
    ("the neighbour's router should change its wifi password", "neighbour's router"),
    # a wish, with an operation's verb the parser cannot place
    ("the customer wants to reset her mother's box", "mother's box"),
])
def test_another_gateway_asked_for_is_asked_about_saying_why(text: str, words: str) -> None:
    req = read(text).request
    assert Unplaced(words=words, kind="target", why=ELSEWHERE) in req.unplaced, req.unplaced


# ---------------------------------------------------------------------------- the deferred change asked for next
WIDTHS = "set the width to 20 MHz on 2.4 GHz and 40 MHz on 5 GHz"


@pytest.mark.parametrize("then", ["go ahead with the 5 GHz one", "then do the 5 GHz one please"])
def test_the_deferred_change_asked_for_by_its_band_is_a_request_of_its_own(then: str) -> None:
    req = next_turn(WIDTHS, then)
    assert (req.action, req.values, req.target.bands) == ("width", {"value": "40MHz"}, ["5GHz"]), req
    # the words asking for it are the request, not a further one; it corrects nothing drafted before it
    assert req.unplaced == [] and req.refers_to is None, req


def test_the_deferred_change_asked_for_in_a_correction_supersedes_nothing() -> None:
    req = next_turn(WIDTHS, "make it the 5 GHz instead")
    assert (req.action, req.values, req.target.bands) == ("width", {"value": "40MHz"}, ["5GHz"]), req
    assert req.refers_to is None and req.unplaced == [], req


def test_a_value_said_for_the_deferred_band_is_that_value_not_the_deferred_one() -> None:
    req = next_turn(WIDTHS, "no, make it 80 MHz on the 5 GHz")
    assert (req.action, req.values, req.target.bands) == ("width", {"value": "80MHz"}, ["5GHz"]), req
    assert req.refers_to is not None and req.refers_to.kind == "correct", req.refers_to


def test_the_deferred_change_keeps_a_time_it_is_given() -> None:
    req = next_turn(WIDTHS, "now the 5 GHz one, tomorrow at 3")
    assert (req.action, req.values.get("value"), req.target.bands) == ("width", "40MHz", ["5GHz"]), req
    assert req.schedule is not None, req
    assert req.schedule.not_before.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 11, 27, 3, 0), req.schedule


def test_the_deferred_change_with_a_time_that_cannot_be_placed_asks_about_the_time() -> None:
    req = next_turn(WIDTHS, "now the 5 GHz one, Sunday same time")
    assert req.values.get("value") == "40MHz", req
    assert asked(req) == [("time", "Sunday same time")], req.unplaced


def test_a_remark_after_a_deferral_is_no_request_and_takes_nothing_deferred() -> None:
    req = next_turn(WIDTHS, "the customer is thinking about it")
    assert req.action is None and req.values == {} and req.act != "change", req


# ---------------------------------------------------------------------------- kept at a value, or kept out
@pytest.mark.parametrize(("text", "band", "value"), [
    ("leave the 5 GHz on channel 36", "5GHz", 36),
    ("laisse le 5 GHz sur le canal 36", "5GHz", 36),
    ("laisse la bande 2,4 GHz sur le canal 6", "2.4GHz", 6),
    # "as it is on channel 6": the channel it is to stay on, never the band kept out of a channel request
    ("keep the 2.4 GHz as it is on channel 6", "2.4GHz", 6),
])
def test_a_band_kept_at_a_channel_is_that_channel_on_that_band(text: str, band: str, value: int) -> None:
    req = read(text).request
    assert (req.action, req.values.get("value"), req.target.bands) == ("channel", value, [band]), req
    assert req.exclusions == [], req.exclusions


def test_a_network_said_not_to_be_touched_stays_kept_out_even_before_a_band() -> None:
    req = read("turn off the 5 GHz, not the guest network on 2.4 GHz").request
    assert (req.action, req.values.get("value"), req.target.bands) == ("band_enable", False, ["5GHz"]), req
    assert req.exclusions == ["guest network on 2.4GHz"], req.exclusions  # the band is the network's, not a target


def test_exclusions_are_listed_in_the_order_said() -> None:
    req = read("not the guest network, turn off all bands except the 2.4 GHz").request
    assert req.exclusions == ["guest network", "2.4GHz"], req.exclusions


# ---------------------------------------------------------------------------- times found on the whole message
def test_now_is_read_as_at_once() -> None:
    req = read("reboot it now").request
    assert req.immediate and req.schedule is None and req.unplaced == [], req


def test_now_and_a_later_time_are_asked_about() -> None:
    req = read("reboot it now, or tomorrow at 3").request
    assert req.unplaced == [Unplaced(words="at 3 tomorrow", kind="time", why="both 'now' and a later time were said")]


def test_now_at_the_end_of_a_condition_describes_the_device() -> None:
    req = read("move the 5 GHz to 44 if it is on channel 6 now").request
    assert (req.action, req.values.get("value")) == ("channel", 44) and not req.immediate, req
    assert req.conditions, req


@pytest.mark.parametrize(("text", "words"), [
    ("reboot it except at night", ["except at night"]),
    # an event's time and a time it must not run at: both asked about, neither dropped
    ("reboot it once her meeting is over, but not during business hours",
     ["but not during business hours", "once her meeting is over"]),
])
def test_a_time_the_change_must_not_run_at_is_asked_about(text: str, words: list[str]) -> None:
    req = read(text).request
    assert req.action == "reboot" and req.schedule is None, req
    assert [u.words for u in req.unplaced if u.kind == "time"] == words, req.unplaced


def test_an_exception_beside_a_time_of_its_own_is_that_times() -> None:
    req = read("reboot it tomorrow at 3 except at night").request
    assert req.schedule is not None and req.unplaced == [], req


def test_a_repeating_schedule_is_asked_about() -> None:
    req = read("restart it every night at 3").request
    assert req.action == "reboot" and req.schedule is None, req
    assert req.unplaced == [Unplaced(words="at 3 night", kind="time",
                                     why="a repeating schedule: I can schedule one change, not a series")]


@pytest.mark.parametrize(("text", "words"), [
    ("starte den Router in 2 Stunden neu", "in 2 Stunden"),
    ("redémarre la box dans 20 minutes", "dans 20 minutes"),
])
def test_a_time_from_now_is_read_in_the_messages_language(text: str, words: str) -> None:
    req = read(text).request
    assert req.action == "reboot" and req.schedule is not None and req.schedule.words == words, req
    assert req.schedule.not_before > NOW, req.schedule


def test_a_german_request_in_a_list_of_infinitives_is_named_back() -> None:
    req = read("starte den Router neu und die Rufnummer sperren lassen").request
    assert req.action == "reboot", req
    assert req.unplaced == [Unplaced(words="die Rufnummer sperren lassen", kind="request", why=NOT_HERE)]


def test_a_channel_described_before_a_make_sure_is_never_drafted() -> None:
    u = read("the neighbour's router is on channel 6, make sure the 5 GHz is on channel 36")
    req = u.request
    assert not (req.action == "channel" and req.values.get("value") == 6), req
    assert not any("(36 on 5GHz)" in d for d in deferred(u)), deferred(u)


# ---------------------------------------------------------------------------- a deferred value, for its own setting
def test_a_value_deferred_for_another_setting_is_never_taken_for_the_one_drafted() -> None:
    # the power was drafted; the channel pairs beside it were deferred: their 36 is never the power's
    req = next_turn("set the power to 50%, the 2.4 GHz on 1 and the 5 GHz on 36", "now the 5 GHz one")
    assert req.target.bands == ["5GHz"], req
    assert not (req.action == "power" and req.values.get("value") == 36), req


def test_a_band_asked_for_after_a_reboot_with_a_deferral_is_read_for_that_band() -> None:
    # a reboot has no setting whose value could have been deferred (how it is read is reported as a question)
    req = next_turn("reboot it and set the 5 GHz to channel 44", "now the 5 GHz one")
    assert req.target.bands == ["5GHz"], req
