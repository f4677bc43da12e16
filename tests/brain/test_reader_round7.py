"""Reader round seven (issue 57): after a draft, a number that names or counts something else is no value for it.

Round six left it: "the wifi is better in room 2 now", said after a channel was drafted, was read as a bare value
and the draft amended to channel 2 (a story with a number in it, taken for "make it 2"). Every phrasing here is
this file's own; each was seen amending the draft before the fix."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding.offline import Context, understand
from tests.brain.conftest import run_turn
from tests.brain.test_nothing_dropped import BERLIN, NOW


def _after(first: str, then: str) -> Any:
    drafted = understand(first, Context(now=NOW, zone=BERLIN)).request
    assert drafted.action is not None and drafted.values, drafted
    return drafted, understand(then, Context(now=NOW, zone=BERLIN, after_draft=True, previous=drafted)).request


@pytest.mark.parametrize("first", ["set the 5GHz channel to 44", "put the 2.4 GHz on channel 6",
                                   "set 2.4 power to 50%", "set the 5GHz width to 80MHz"])
@pytest.mark.parametrize("then", [
    "the wifi is better in room 2 now", "the tablet on floor 3 still drops", "she says 3 devices still drop",
    "it's been 2 days like that", "wait 5 minutes", "2 rooms away it's bad", "speedtest says 40 mbps",
    "ok, in Zimmer 2 ist es jetzt besser", "seit 3 Tagen geht das so", "im 1. Stock ist es gut, Zimmer 4 nicht",
    "dans la chambre 2 ça marche maintenant", "ça fait 3 jours que ça coupe",
    "en la habitación 3 ya va bien", "lleva 2 días así"])
def test_a_number_that_names_or_counts_something_else_is_no_value_for_the_draft(first: str, then: str) -> None:
    drafted, r = _after(first, then)
    assert r.values.get("value") in (None, drafted.values["value"]), r


@pytest.mark.parametrize(("first", "then", "value"), [
    ("set the 5GHz channel to 44", "actually 36", 36), ("set the 5GHz channel to 44", "11, not 44", 11),
    ("set the 5GHz channel to 44", "no, 36 not 44", 36), ("set the 5GHz channel to 44", "hmm, try 40 then", 40),
    ("put the 2.4 GHz on channel 6", "nimm lieber 11", 11), ("put the 2.4 GHz on channel 6", "plutôt le 1", 1),
    ("put the 2.4 GHz on channel 6", "mejor el 11", 11), ("set 2.4 power to 50%", "no, 75", 75),
    ("set 2.4 power to 50%", "75%", 75), ("set the 5GHz width to 80MHz", "40 then", "40MHz"),
    ("set the 5GHz channel to 44", "make it 48 on room 2's box, I mean this one", 48)])
def test_a_bare_value_still_amends_the_draft(first: str, then: str, value: Any) -> None:
    _, r = _after(first, then)
    assert r.values.get("value") == value, r


@pytest.mark.parametrize("story", ["the tablet on floor 3 still drops", "she says 3 devices still drop",
                                   "it's been 3 days like that", "the laptop is in room 3"])
def test_a_story_after_a_draft_leaves_the_draft_as_it_was(svc: Any, device: Any, actor: Any, story: str) -> None:
    """Through the chat: each of these drafted "Set 2.4GHz channel to 3" in place of the channel 6 asked for."""
    dev = device("healthy", 4)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    drafted = [e for e in run_turn(svc, tid, "put the 2.4 GHz radio on channel 6", alice) if e.kind == "proposal"]
    assert drafted, "the first request drafts"
    later = run_turn(svc, tid, story, alice)
    assert not [e for e in later if e.kind == "proposal"], [(e.kind, e.text) for e in later]
    assert svc.awaiting(tid) == {"kind": "confirm", "proposal_id": drafted[0].data["proposal_id"]}
