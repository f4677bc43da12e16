"""Bad input to the planner (issue 13): a very long message, a mixed-language request, other
devices' ids (existing, unknown) named in a chat, a person whose role may not propose, and a
negated request. Each gets a clear answer or error, nothing outside policy is drafted, and
nothing already in the thread is lost."""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.errors import Invalid
from tests.brain.conftest import kinds, run_turn


def _proposals(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "proposal"]


def _channel(rt: Any, device_id: str) -> Any:
    from core.store import repo

    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
    return rt.router.reader(d).read(d, ["Device.WiFi.Radio.1.Channel"])["Device.WiFi.Radio.1.Channel"].value


def test_a_100_kb_message_is_refused_naming_the_limit_and_the_thread_keeps_working(
        svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 3), alice)
    first = run_turn(svc, tid, "wifi slow", alice)
    before = len(svc.history(tid))
    with pytest.raises(Invalid, match="4000 characters"):
        svc.send(tid, "set channel 6 " + "x" * 100_000, alice)
    assert len(svc.history(tid)) == before  # nothing recorded, nothing lost
    again = run_turn(svc, tid, "wifi slow", alice)
    assert kinds(again)[-1] == kinds(first)[-1]


def test_a_mixed_language_request_is_drafted_with_the_exact_value(rt: Any, svc: Any, device: Any,
                                                                  actor: Any) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(device("healthy", 3), alice), "Bitte mettez le canal 11 on 2,4 GHz por favor",
                      alice)
    (prop,) = _proposals(events)
    changes = {c.path: c.value for c in rt.lifecycle.get(prop.data["proposal_id"]).changes}
    assert changes.get("Device.WiFi.Radio.1.Channel") == 11


def test_another_gateways_id_is_answered_and_neither_device_changes(
        rt: Any, svc: Any, device: Any, actor: Any) -> None:
    here, there = device("healthy", 3), device("healthy", 4)
    before = (_channel(rt, here), _channel(rt, there))
    alice = actor("alice")
    events = run_turn(svc, svc.start(here, alice), f"set channel 6 on {there} please", alice)
    assert not _proposals(events) and events[-1].kind == "answer"
    assert there in events[-1].text and "another gateway" in events[-1].text
    assert (_channel(rt, here), _channel(rt, there)) == before


def test_an_unknown_device_id_is_named_as_unknown(svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    here = device("healthy", 3)
    ghost = here.rsplit("-", 1)[0] + "-ZZ99999999"
    events = run_turn(svc, svc.start(here, alice), f"reboot {ghost}", alice)
    assert not _proposals(events) and "not a registered device" in events[-1].text and ghost in events[-1].text


def test_the_chats_own_id_in_the_message_is_fine(svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    here = device("healthy", 3)
    events = run_turn(svc, svc.start(here, alice), f"set channel 6 on {here}", alice)
    assert _proposals(events)


def test_a_role_that_may_not_propose_gets_the_rule_not_a_proposal(svc: Any, device: Any, actor: Any) -> None:
    erin = actor("erin")  # auditor
    events = run_turn(svc, svc.start(device("healthy", 3), erin), "set channel 6 on 2.4 GHz", erin)
    assert not _proposals(events) and events[-1].kind == "escalation"
    assert "may not propose" in events[-1].text


@pytest.mark.parametrize("text", [
    "don't reboot it, the customer is on a call",
    "la box ne redémarre pas",
    "der Router startet nicht mehr neu",
    "el router no se reinicia",
])
def test_a_negated_or_described_reboot_is_not_drafted(svc: Any, device: Any, actor: Any, text: str) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(device("healthy", 3), alice), text, alice)
    assert not [e for e in _proposals(events) if "Reboot" in e.text]
