"""The agent is told (issue 55 item 10): the chat stream shows a proposal's time and condition where
it is made, never offers "apply it as it is" for a scheduled change, and hears what the scheduler did
with the change afterwards — started, finished, refused — and that an approved scheduled change
nobody confirmed has not run. The lifecycle's clock is moved by the test (not the wall clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.kernel.models import ProposalState
from tests.brain.conftest import run_turn


@pytest.fixture
def clock(rt: Any) -> Iterator[Any]:
    """Move the lifecycle's time: ``clock(at)``; put back after the test."""
    before = rt.lifecycle.clock

    def move(at: Any) -> None:
        rt.lifecycle.clock = lambda: at

    yield move
    rt.lifecycle.clock = before


def _proposed(rt: Any, svc: Any, tid: str, message: str, who: Any, approver: Any) -> tuple[list[Any], Any]:
    """The turn's events (and an approver's approval, resumed, when policy asks for one) and the proposal."""
    events = run_turn(svc, tid, message, who)
    proposal = next(e for e in events if e.kind == "proposal")
    p = rt.lifecycle.get(proposal.data["proposal_id"])
    if p.state is ProposalState.AWAITING_APPROVAL:
        rt.lifecycle.approve(p.id, approver)
        events += list(svc.resume(tid))
        p = rt.lifecycle.get(p.id)
    return events, p


def test_a_scheduled_change_is_told_with_its_time_and_condition_and_apply_confirms_the_schedule(
        rt: Any, svc: Any, device: Any, actor: Any) -> None:
    """At the start the stream said only "Proposal p-…: Set … — approved" and offered "reply 'apply' to
    apply it as it is"."""
    alice, bob = actor("alice"), actor("bob")
    tid = svc.start(device("healthy", 3), alice)
    events, p = _proposed(rt, svc, tid, "set the 2.4 GHz channel to 6 tonight at 2, only if it is still on channel 1",
                          alice, bob)
    assert p.not_before is not None and p.preconditions
    proposal = next(e for e in events if e.kind == "proposal")
    assert "not before" in proposal.text and "02:00" in proposal.text and "channel is 1" in proposal.text
    assert proposal.data["not_before_local"] and proposal.data["conditions"]
    said = " ".join(e.text for e in events if e.kind in ("question", "notice", "outcome"))
    assert "as it is" not in said and "confirm the schedule" in said
    reply = run_turn(svc, tid, "hmm, let me think", alice)  # not a yes: asked again
    again = " ".join(e.text for e in reply if e.kind == "question")
    assert "as it is" not in again and "02:00" in again
    run_turn(svc, tid, "apply", alice)
    assert rt.lifecycle.get(p.id).start_requested_by == "alice"


def test_the_thread_hears_the_scheduler_start_and_finish_the_change(
        rt: Any, svc: Any, device: Any, actor: Any, clock: Any) -> None:
    alice, bob = actor("alice"), actor("bob")
    tid = svc.start(device("healthy", 3), alice)
    _, p = _proposed(rt, svc, tid, "set the 2.4 GHz channel to 6 tonight at 2", alice, bob)
    run_turn(svc, tid, "apply", alice)
    clock(p.not_before + timedelta(minutes=1))
    started = rt.lifecycle.start_due()
    assert dict(started).get(p.id) == "done", started
    told = [e for e in svc.history(tid) if e.data.get("scheduler")]
    texts = " ".join(e.text for e in told)
    assert "The scheduler started proposal" in texts and "held on the device" in texts
    assert len([e for e in svc.history(tid) if e.data.get("scheduler")]) == len(told)  # told once


def test_the_thread_hears_a_condition_that_no_longer_holds_when_the_scheduler_starts(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any, clock: Any) -> None:
    alice, bob = actor("alice"), actor("bob")
    dev = device("healthy", 3)
    tid = svc.start(dev, alice)
    _, p = _proposed(rt, svc, tid, "set the 5 GHz channel to 40 tonight at 3, only if it is still on channel 44",
                     alice, bob)
    assert p.preconditions
    run_turn(svc, tid, "apply", alice)
    world.set_params(dev, {"Device.WiFi.Radio.2.Channel": 48})  # someone moved it meanwhile
    clock(p.not_before + timedelta(minutes=1))
    rt.lifecycle.start_due()
    assert rt.lifecycle.get(p.id).state is ProposalState.CANCELLED
    events = run_turn(svc, tid, "so did it happen?", alice)  # the news comes first on the next turn
    outcome = next(e for e in events if e.data.get("scheduler") and e.kind == "outcome")
    assert "was not run" in outcome.text and "nothing was written" in outcome.text


def test_an_approved_scheduled_change_nobody_confirmed_is_visible(
        rt: Any, svc: Any, device: Any, actor: Any, clock: Any) -> None:
    alice, bob = actor("alice"), actor("bob")
    tid = svc.start(device("healthy", 3), alice)
    _, p = _proposed(rt, svc, tid, "set the 2.4 GHz channel to 11 tonight at 2", alice, bob)
    assert p.state is ProposalState.APPROVED and not p.start_requested_by
    assert not [e for e in svc.history(tid) if e.data.get("unconfirmed")]  # its time has not come
    clock(p.not_before + timedelta(minutes=5))
    assert rt.lifecycle.start_due() == []  # nobody asked: the scheduler never starts it
    told = [e for e in svc.history(tid) if e.data.get("unconfirmed")]
    assert len(told) == 1 and "nobody confirmed it" in told[0].text and told[0].kind == "question"
    assert len([e for e in svc.history(tid) if e.data.get("unconfirmed")]) == 1
