"""A message's speech act (brain.understanding.clauses.act_of): an imperative that opens with "do" is a
request, a question that opens with it is a question — the mood decides whether a turn may draft at all
(a question is never a write, issue 54), so a request read as a question is a request refused."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text", [
    "do a full factory reset on the router",
    "do one quick reboot tonight",
    "do the reboot after lunch",
    "do a proper speed test from the gateway",
])
def test_do_with_an_operation_is_an_imperative(text: str) -> None:
    from brain.understanding.clauses import act_of

    assert act_of(text) != "question"


@pytest.mark.parametrize("text", [
    "do the other boxes reboot at night?",
    "do you know which channel it is on?",
    "do they have a guest network",
])
def test_do_asking_about_something_is_a_question(text: str) -> None:
    from brain.understanding.clauses import act_of

    assert act_of(text) == "question"


def test_a_usp_agent_asked_about_its_acs_is_told_it_has_none(world: object, svc: object, actor: object) -> None:
    """A USP agent has no ACS and no periodic inform: the answer says so instead of 'found no value'."""
    from typing import Any, cast

    from core.store import repo

    w, s, who = cast(Any, world), cast(Any, svc), cast(Any, actor)("alice")
    with w.runtime.store.read() as db:
        usp = [d for d in w.conditions["healthy"] if repo.get_device(db, d).protocol == "usp"]
    if not usp:
        pytest.skip("the seeded fleet has no healthy USP agent")
    tid = s.start(usp[0], who)
    events = list(s.send(tid, "is this box checking in with the ACS?", who))
    answers = [e.text for e in events if e.kind == "answer"]
    assert answers and "USP" in answers[-1] and "no periodic inform" in answers[-1], [e.text for e in events]
    assert not [e for e in events if e.kind == "proposal"]
