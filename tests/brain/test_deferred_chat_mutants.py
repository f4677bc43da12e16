"""The change deferred beside a waiting draft, asked for in the chat while that draft waits
(``brain.graph.PlannerGraph._settle_first`` / ``_deferred_asked``): found by the mutation helper (``make mutate``).

"set the width to 20 MHz on 2.4 GHz and 40 MHz on 5 GHz" drafts the 2.4 GHz and defers "(40MHz on 5GHz)". While that
draft waits, "now the 5 GHz one" is the deferred change: the agent is told, in these words, to settle the waiting draft
first — it is never withdrawn for it. Any other message is read as before: a new request or a correction supersedes the
draft, and a draft that no longer waits is never said to be waiting.
"""

from __future__ import annotations

from typing import Any

from tests.brain.conftest import run_turn
from tests.brain.test_reader_chat import _dual_band, _proposals, _replies

WIDTHS = "set the width to 20 MHz on 2.4 GHz and 40 MHz on 5 GHz"
DEFERRED = "a channel-width change (40MHz on 5GHz)"


def _first(rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> tuple[str, Any, Any]:
    """A thread whose first draft (20 MHz on 2.4 GHz) waits for the agent's word, with the 5 GHz one deferred."""
    alice = actor("alice")
    tid = svc.start(_dual_band(world, device), alice)
    (first,) = _proposals(rt, run_turn(svc, tid, WIDTHS, alice))
    assert DEFERRED in svc.state(tid).get("deferred", []), svc.state(tid).get("deferred")
    return tid, alice, first


def test_the_deferred_change_asked_for_while_the_draft_waits_is_told_in_full(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    waiting = svc.awaiting(tid)
    events = run_turn(svc, tid, "now the 5 GHz one", alice)
    (q,) = [e for e in events if e.kind == "question"]
    assert q.text == (
        f"That is the change I deferred — {DEFERRED}. Proposal {first.id}, drafted before it, still waits: reply "
        "'apply' to apply it (or 'cancel' to withdraw it), then ask for the deferred change again — I draft one "
        "change at a time."), q.text
    assert q.data.get("proposal_id") == first.id, q.data
    assert _proposals(rt, events) == [] and rt.lifecycle.get(first.id).state.value != "cancelled"
    assert svc.awaiting(tid) == waiting, (svc.awaiting(tid), waiting)


def test_a_draft_cancelled_elsewhere_is_never_said_to_wait_for_the_deferred_change(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    rt.lifecycle.cancel(first.id, alice, reason="withdrawn in the console")
    said = _replies(run_turn(svc, tid, "now the 5 GHz one", alice))
    assert "still waits" not in said and "That is the change I deferred" not in said, said


def test_a_correction_to_the_deferred_value_while_the_draft_waits_supersedes_it(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    events = run_turn(svc, tid, "no, make it 40 MHz on the 5 GHz", alice)
    assert "That is the change I deferred" not in _replies(events), _replies(events)
    assert rt.lifecycle.get(first.id).state.value == "cancelled"


def test_another_value_for_the_deferred_band_is_a_new_request_not_the_deferred_one(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    events = run_turn(svc, tid, "set the 5 GHz width to 80 MHz", alice)
    assert "That is the change I deferred" not in _replies(events), _replies(events)
    assert rt.lifecycle.get(first.id).state.value == "cancelled"


def test_another_setting_without_a_band_while_the_draft_waits_is_read_as_a_new_request(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    events = run_turn(svc, tid, "set the channel to 6", alice)
    assert "That is the change I deferred" not in _replies(events), _replies(events)
    assert rt.lifecycle.get(first.id).state.value == "cancelled"


def test_a_band_switched_off_while_the_draft_waits_is_read_as_a_new_request(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    tid, alice, first = _first(rt, world, svc, device, actor)
    events = run_turn(svc, tid, "turn off the 5 GHz", alice)
    assert "That is the change I deferred" not in _replies(events), _replies(events)
    assert rt.lifecycle.get(first.id).state.value == "cancelled"
