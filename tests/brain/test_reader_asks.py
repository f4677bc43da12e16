"""A question is never a write (issue 54), and the chat's defects of issue 55 that the offline reader owns.

Every test here drives ``ChatService`` on the seeded simulated fleet, as a support agent would, and
reads what was proposed from the lifecycle — never the planner's own account of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.brain.conftest import kinds, radio_index, run_turn


def _tri_band(world: Any, device: Any) -> str:
    """A healthy gateway with a 6 GHz radio (whichever the seed made first)."""
    from evals import checks

    for i, dev in enumerate(world.conditions["healthy"]):
        with world.runtime.store.read() as s:
            from core.store import repo

            d = repo.get_device(s, dev)
        if d.root != "InternetGatewayDevice." and any(r.band == "6GHz" for r in checks.read_radios(world.runtime, d)):
            return str(device("healthy", i))
    pytest.skip("the seeded fleet has no healthy tri-band gateway")


def _proposals(rt: Any, events: list[Any]) -> list[Any]:
    return [rt.lifecycle.get(e.data["proposal_id"]) for e in events if e.kind == "proposal"]


@pytest.mark.parametrize("question", [
    "is the 6 GHz radio switched on?",
    "is the 6 GHz radio on right now?",
    "Ist das 6-GHz-Funkmodul gerade eingeschaltet?",
    "¿está encendida la radio de 6 GHz?",
])
def test_a_yes_no_question_about_a_radio_is_answered_from_a_live_read_never_drafted(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any, question: str) -> None:
    dev = _tri_band(world, device)
    index = radio_index(rt, dev, "6GHz")
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, question, alice)
    assert _proposals(rt, events) == [], [e.text for e in events]
    answer = [e for e in events if e.kind == "answer"]
    assert answer, kinds(events)
    assert f"Device.WiFi.Radio.{index}.Enable" in answer[-1].text, answer[-1].text
    assert svc.awaiting(tid) is None


def test_a_question_is_not_drafted_whatever_the_model_proposes(
        rt: Any, world: Any, llm_svc: Any, server: Any, device: Any, actor: Any) -> None:
    """The one point where a turn becomes a draft refuses a question, whichever reader or later stage
    produced the draft: here the model answers the question with ``propose_change``."""
    dev = _tri_band(world, device)
    index = radio_index(rt, dev, "6GHz")
    change = {"path": f"Device.WiFi.Radio.{index}.Enable", "value": True}
    server.load([{"tool_calls": [{"name": "propose_change", "arguments": {
        "intent": "Enable the 6 GHz radio", "changes": [change]}}]}])
    alice = actor("alice")
    tid = llm_svc.start(dev, alice)
    events = run_turn(llm_svc, tid, "is the 6 GHz radio switched on?", alice)
    assert _proposals(rt, events) == [], [e.text for e in events]
    assert llm_svc.awaiting(tid) is None


def test_a_question_whose_only_operation_is_in_its_condition_never_offers_it() -> None:
    """"what would they lose if I switched the 5 GHz off?": the operation is in the "if" — the message
    still only asks, so the graph's one point refuses to draft it (and to offer it)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from brain.understanding import offline

    ctx = offline.Context(now=datetime(2026, 11, 27, 14, tzinfo=UTC), zone=ZoneInfo("Europe/Berlin"))
    u = offline.understand("what would the customer lose if I switched the 5 GHz off?", ctx)
    assert u.heard is not None and u.heard.read_only, u.heard
    assert u.request.act != "change", u.request


def test_a_list_value_is_read_back_with_its_commas() -> None:
    from brain.answers import _said

    assert _said("Device.WiFi.Radio.1.OperatingStandards", "g,n,ax") == '"g,n,ax"'
    assert _said("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "hunter22-secret") == '"********"'
