"""Reconcile's edges, where the sampled mutation run of ``brain/understanding`` found them unjudged (issue 61 item 9):
the words the agent is shown when the two readers disagree, a correction said after the value appears twice, a
model's condition that shares half its words with the parser's. The model's readings are written out, as a model's
tool call would carry them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from brain.understanding import checker, offline
from brain.understanding.reconcile import _overlap, _taken_back
from brain.understanding.request import Condition, Request, Schedule

ZONE = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 10, 14, 0, tzinfo=ZONE)


def _merged(message: str, model: Request) -> Request:
    out = checker.reconcile(offline.understand(message, offline.Context(now=NOW, zone=ZONE)).request, model, message)
    assert out is not None
    return out


def test_a_condition_only_the_model_read_and_the_message_does_not_say_is_asked_about() -> None:
    model = Request(act="change", action="reboot", conditions=[
        Condition(fact="uptime", expect="gt", value=86400, words="if it has been up for a day")])
    r = _merged("please reboot the gateway", model)
    assert [(u.kind, u.why) for u in r.unplaced] == [
        ("condition", "the model read a condition the message does not say")], r.unplaced
    assert checker.question(r) is not None


def test_a_time_only_the_model_read_and_the_message_does_not_say_is_asked_about() -> None:
    when = datetime(2026, 3, 11, 2, 0, tzinfo=ZONE)
    model = Request(act="change", action="reboot",
                    schedule=Schedule(not_before=when, zone="Europe/Paris", words="tomorrow at 2"))
    r = _merged("please reboot the gateway", model)
    assert ("time", "the model read a time the message does not say") in [(u.kind, u.why) for u in r.unplaced]


def test_one_clause_read_as_two_checks_names_both() -> None:
    message = "reboot it if nobody is connected"
    model = Request(act="change", action="reboot", conditions=[
        Condition(fact="online", expect="eq", value=False, words="if nobody is connected")])
    r = _merged(message, model)
    whys = [u.why for u in r.unplaced if u.kind == "condition"]
    assert len(whys) == 1 and "hosts_connected (empty)" in whys[0] and "online (eq)" in whys[0], whys


def test_a_correction_after_the_second_mention_of_the_value() -> None:
    """The value said twice: the first mention is no correction, the second is — the number after it is what the
    message asks."""
    message = "channel 40 is what the neighbour across the street is on, so 40 it is... sorry, 44"
    assert _taken_back(message, 40) == "44"
    assert _taken_back("set it to 40, the neighbour is far away on 1", 40) is None
    assert _taken_back("set it to 40 — sorry, 40", 40) is None  # the same value said again is no correction


def test_half_the_words_is_not_the_same_clause() -> None:
    assert _overlap("alpha beta", "alpha beta gamma") is True
    assert _overlap("alpha beta", "alpha gamma") is False
    assert _overlap("", "alpha") is False


def test_two_readings_of_the_servers_are_asked_about() -> None:
    r = _merged("set the DNS to 9.9.9.9", Request(act="change", action="dns", servers=["1.1.1.1"]))
    assert [(u.kind, u.words, u.why) for u in r.unplaced] == [
        ("value", "9.9.9.9 or 1.1.1.1", "the DNS servers were read two ways — which one is meant?")], r.unplaced
    same = _merged("set the DNS to 9.9.9.9", Request(act="change", action="dns", servers=[" 9.9.9.9"]))
    assert same.servers == ["9.9.9.9"] and not same.unplaced


def test_a_change_beside_the_draft_stands_only_where_neither_reading_calls_it_a_correction() -> None:
    """"beside" keeps the waiting draft and drafts another; a correction amends the draft. Where one reading says
    correction, the draft is amended — never a second change made from one reader's guess."""
    from brain.understanding.reconcile import reconcile
    from brain.understanding.request import Reference

    beside, correct = Reference(kind="beside", words="as well"), Reference(kind="correct", words="instead")
    base = Request(act="change", action="channel", values={"value": 6})

    def refers(offline_ref: Reference | None, model_ref: Reference | None) -> str | None:
        out = reconcile(base.model_copy(update={"refers_to": offline_ref}),
                        base.model_copy(update={"refers_to": model_ref}), "and the 2.4 to 6")
        assert out is not None
        return out.refers_to.kind if out.refers_to is not None else None

    assert refers(beside, None) == "beside" and refers(None, beside) == "beside" and refers(beside, beside) == "beside"
    assert refers(correct, beside) == "correct" and refers(beside, correct) == "correct"
    assert refers(None, correct) == "correct" and refers(None, None) is None
